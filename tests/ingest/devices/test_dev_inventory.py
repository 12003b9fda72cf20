"""Inventory import/export: all-or-nothing, bad rows named, no credentials in files."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from cctv.contract.events import CameraRecord
from services.ingest.adapters.base import Credentials
from services.ingest.adapters.credentials import CredentialError, CredentialResolver, FernetVault
from services.ingest.inventory_io import (
    COLUMNS,
    InventoryRejected,
    export_csv,
    export_yaml,
    parse_csv,
    parse_file,
    parse_yaml,
    plan_import,
)

GOOD = (Path(__file__).parent / "fixtures" / "inventory_ok.csv").read_text(encoding="utf-8")


def test_good_csv_with_chinese_labels() -> None:
    cams = parse_csv(GOOD)
    assert [c.camera_id for c in cams] == ["log-pub-001", "aca-exam-104", "stu-dorm-007"]
    log, exam, dorm = cams
    assert (log.department, log.brand, log.monitoring_level) == ("logistics", "hikvision", "school")
    assert exam.sensitivity == ["national_exam", "privacy"]
    assert exam.nvr_id is None and exam.channel == 1
    assert (dorm.department, dorm.brand, dorm.channel) == ("student", "dahua", 7)


def test_bad_rows_refuse_the_whole_file_naming_row_column_reason() -> None:
    lines = GOOD.splitlines()
    lines[2] = lines[2].replace("teaching_exam", "canteen")  # row 3: bad category
    lines[3] = lines[3].replace("10.4.0.7:80", "10.4.0.7:99999")  # row 4: bad port
    with pytest.raises(InventoryRejected) as exc:
        parse_csv("\n".join(lines) + "\n")
    errs = {(e.row, e.column) for e in exc.value.errors}
    assert errs == {(3, "category"), (4, "address")}
    assert "第3行" in str(exc.value) and "row 3, column category" in str(exc.value)


def test_duplicate_ids_and_wrong_protocol_for_brand() -> None:
    lines = GOOD.splitlines()
    lines.append(lines[1])  # row 5 duplicates row 2
    lines[3] = lines[3].replace(",dahua,10.4", ",isapi,10.4")  # Dahua NVR over ISAPI
    with pytest.raises(InventoryRejected) as exc:
        parse_csv("\n".join(lines))
    reasons = {(e.row, e.column): e.reason for e in exc.value.errors}
    assert "duplicate of row 2" in reasons[(5, "camera_id")]
    assert "hikvision" in reasons[(4, "protocol")]


@pytest.mark.parametrize("column", ["password", "设备密码", "api_token"])
def test_credential_columns_refused(column: str) -> None:
    lines = GOOD.splitlines()
    lines[0] += f",{column}"
    lines[1] += ",hunter2"
    with pytest.raises(InventoryRejected) as exc:
        parse_csv("\n".join(lines))
    assert exc.value.errors[0].column == column
    assert "secrets" in exc.value.errors[0].reason
    assert "hunter2" not in str(exc.value)


def test_missing_and_unknown_columns() -> None:
    with pytest.raises(InventoryRejected) as exc:
        parse_csv("camera_id,name,colour\nc1,x,red\n")
    cols = {e.column for e in exc.value.errors}
    assert "colour" in cols and "address" in cols and "brand" in cols


def test_export_import_round_trip_csv_and_yaml() -> None:
    cams = parse_csv(GOOD)
    out = export_csv(cams)
    assert out.splitlines()[0] == ",".join(COLUMNS)
    assert sorted(parse_csv(out), key=lambda c: c.camera_id) == sorted(
        cams, key=lambda c: c.camera_id
    )
    y = export_yaml(cams)
    assert "综合楼东门" in y  # Chinese kept readable
    assert sorted(parse_yaml(y), key=lambda c: c.camera_id) == sorted(
        cams, key=lambda c: c.camera_id
    )
    assert parse_file("cams.yml", y) == parse_yaml(y)


def test_yaml_bad_item_named_by_number() -> None:
    y = export_yaml(parse_csv(GOOD)).replace("channel: 7", "channel: seven")
    with pytest.raises(InventoryRejected) as exc:
        parse_yaml(y)
    assert [(e.row, e.column) for e in exc.value.errors] == [(3, "channel")]
    with pytest.raises(InventoryRejected, match="malformed YAML"):
        parse_yaml("cameras: [\n  {camera_id: x,\n")
    with pytest.raises(InventoryRejected, match="unsupported file type"):
        parse_file("cams.xlsx", "")


def test_plan_import_diffs_and_events() -> None:
    cams = parse_csv(GOOD)
    changed = cams[0].model_copy(update={"position": "综合楼东门 朝南"})
    plan = plan_import(cams, [changed, cams[1]], replace=True)
    assert [c.camera_id for c in plan.upserts] == ["log-pub-001"]
    assert plan.unchanged == ["aca-exam-104"] and plan.removals == ["stu-dorm-007"]
    types = [e.TYPE for e in plan.events()]
    assert types == ["camera.upserted", "camera.removed"]


def _cam(**kw: object) -> CameraRecord:
    return parse_csv(GOOD)[0].model_copy(update=kw)


def test_credentials_from_mounted_secrets(tmp_path: Path) -> None:
    (tmp_path / "cctv-device-nvr-nvr-log-1").write_text("admin:nvr-pass\n")
    (tmp_path / "cctv-device-default").write_text("viewer:default-pass")
    r = CredentialResolver(tmp_path)
    assert r.for_camera(_cam()) == Credentials("admin", "nvr-pass")
    assert r.for_camera(_cam(nvr_id=None)) == Credentials("viewer", "default-pass")
    (tmp_path / "cctv-device-log-pub-001").write_text("no-colon-here")
    r.reload()
    with pytest.raises(CredentialError) as exc:
        r.for_camera(_cam())
    assert "no-colon-here" not in str(exc.value)


def test_a_secret_mounted_or_rotated_later_is_found_without_a_restart(tmp_path: Path) -> None:
    now = [0.0]
    r = CredentialResolver(tmp_path, found_ttl_s=300, missing_ttl_s=30, clock=lambda: now[0])
    cam = _cam(nvr_id=None)
    assert r.for_camera(cam) is None
    (tmp_path / "cctv-device-default").write_text("viewer:first")
    now[0] = 10.0
    assert r.for_camera(cam) is None  # a miss is remembered for a while, not forever
    now[0] = 31.0
    assert r.for_camera(cam) == Credentials("viewer", "first")
    (tmp_path / "cctv-device-default").write_text("viewer:rotated")
    now[0] = 200.0
    assert r.for_camera(cam) == Credentials("viewer", "first")
    now[0] = 332.0
    assert r.for_camera(cam) == Credentials("viewer", "rotated")


def test_credentials_from_fernet_vault(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    vault = FernetVault(key)
    token = vault.store("cctv-device-log-pub-001", Credentials("admin", "vault-pass"))
    assert "vault-pass" not in token
    r = CredentialResolver(tmp_path, FernetVault(key, dict(vault.tokens)))
    assert r.for_camera(_cam()) == Credentials("admin", "vault-pass")
    wrong = CredentialResolver(tmp_path, FernetVault(Fernet.generate_key(), dict(vault.tokens)))
    with pytest.raises(CredentialError, match="cannot decrypt"):
        wrong.for_camera(_cam())
