"""The footage evidence pack (Art. 16(2)3, 17) checked offline: the file against the manifest,
the manifest against the audited export and grant, the proofs against the signed checkpoint,
the checkpoint against the published key — and each kind of tampering named."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv.evidence import bundle, merkle
from cctv.evidence.chain import LogState
from cctv.evidence.checkpoint import Checkpoint, Signer
from cctv.evidence.entry import Witnessed
from cctv.evidence.pack import Pack, PackError, build_pack, check_pack, is_pack, read_pack

ORIGIN = "test.campus/pack"
KEY = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
OTHER = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(32)))
FROM, UNTIL = "2026-11-30T06:00:00+00:00", "2026-11-30T06:00:04+00:00"
MP4 = {"OFF-001": b"\x00\x00\x00\x18ftypisom-one", "OFF-002": b"\x00\x00\x00\x18ftypisom-two"}


def _env(i: int, type_: str, data: dict[str, Any]) -> bytes:
    env = {
        "id": f"00000000-0000-4000-8000-{i:012d}", "type": type_,
        "time": "2026-11-30T08:00:00+00:00", "source": "test", "key": "DY-1",
        "actor": "nic_admin", "correlation_id": "-", "schema_version": 1, "data": data,
    }  # fmt: skip
    return json.dumps(env, ensure_ascii=False, sort_keys=True).encode()


def manifest_bytes(cameras: list[str] | None = None, until: str = UNTIL) -> bytes:
    cams = cameras or list(MP4)
    m = {
        "kind": "export", "request_id": "DY-1", "grant_id": "DY-1-G", "export_id": "DY-1-E1",
        "cameras": cams, "footage_from": FROM, "footage_until": until,
        "files": [
            {"camera_id": c, "object_key": f"DY-1/DY-1-E1/{c}.mp4",
             "sha256": hashlib.sha256(MP4.get(c, b"x")).hexdigest()}
            for c in cams
        ],
    }  # fmt: skip
    return json.dumps(m, sort_keys=True, ensure_ascii=False, indent=1).encode()


def make_log(manifest: bytes, signer: Signer = KEY) -> dict[str, Any]:
    """A tiny audit log: the approval that made the grant, one unrelated entry, the export."""
    m = json.loads(manifest)
    grant = {
        "grant_id": "DY-1-G", "request_id": "DY-1", "cameras": ["OFF-001", "OFF-002"],
        "footage_from": FROM, "footage_until": UNTIL, "export": True,
    }  # fmt: skip
    payloads: list[tuple[str, str, dict[str, Any]]] = [
        ("cctv.workflow.access.approved.DY-1", "workflow.access.approved",
         {"request_id": "DY-1", "summary": {"grant": grant}}),
        ("cctv.access.recorded.DY-1", "access.recorded", {"detail": "queued"}),
        ("cctv.access.exported.DY-1", "access.exported", {
            "export_id": "DY-1-E1", "request_id": "DY-1", "grant_id": "DY-1-G",
            "camera_ids": m["cameras"], "footage_from": m["footage_from"],
            "footage_until": m["footage_until"],
            "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
            "files": [{"camera_id": f["camera_id"], "sha256": f["sha256"]} for f in m["files"]],
        }),
    ]  # fmt: skip
    st, tree, datas = LogState(), merkle.MemoryTree(), []
    for i, (subject, type_, data) in enumerate(payloads):
        a = st.append(Witnessed.event(subject, f"e{i}", _env(i, type_, data)))
        tree.append_leaf_hash(a.leaf_hash)
        datas.append(a.data)
    cp = Checkpoint(ORIGIN, len(datas), tree.root())
    return bundle.evidence_from_store(
        tree, [(0, datas[0]), (2, datas[2])], cp, cp.sign(signer), signer.verifier.vkey()
    )


def make_pack(manifest: bytes | None = None, **kw: Any) -> Pack:
    manifest = manifest or manifest_bytes()
    cams = json.loads(manifest)["cameras"]
    data = build_pack(
        export_id="DY-1-E1",
        manifest=manifest,
        files={c: MP4.get(c, b"x") for c in cams},
        audit_bundle=kw.get("audit") or make_log(manifest),
    )
    return unzip(data)


def unzip(data: bytes) -> Pack:
    from io import BytesIO

    with zipfile.ZipFile(BytesIO(data)) as z:
        members = {n: z.read(n) for n in z.namelist()}
    return Pack(
        json.loads(members.pop("pack.json")),
        members.pop("manifest.json"),
        json.loads(members.pop("audit.json")),
        members,
    )


VKEY = KEY.verifier.vkey()


def test_a_sound_pack_checks_and_says_what_it_proves() -> None:
    rep = check_pack(make_pack(), VKEY)
    assert rep.anchored and rep.export_id == "DY-1-E1" and rep.grant_id == "DY-1-G"
    assert rep.cameras == ["OFF-001", "OFF-002"] and len(rep.files) == 2
    assert (rep.grant_entry, rep.exported_entry) == (0, 2)
    assert rep.bundle.checkpoint.size == 3


def test_without_a_trusted_key_it_is_not_anchored() -> None:
    rep = check_pack(make_pack(), None)
    assert not rep.anchored and any("no trusted key" in w for w in rep.bundle.warnings)


def test_pack_round_trips_through_a_zip_file_and_a_directory(tmp_path: Path) -> None:
    manifest = manifest_bytes()
    data = build_pack(
        export_id="DY-1-E1", manifest=manifest, files=MP4, audit_bundle=make_log(manifest)
    )
    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    assert is_pack(path) and check_pack(read_pack(path), VKEY).files
    tree = tmp_path / "unpacked"
    zipfile.ZipFile(path).extractall(tree)
    assert is_pack(tree) and check_pack(read_pack(tree), VKEY).files
    bare = tmp_path / "bundle.json"
    bare.write_text("{}")
    assert not is_pack(bare)


def test_a_changed_file_is_named() -> None:
    p = make_pack()
    p.files["files/OFF-002.mp4"] += b"\x00"
    with pytest.raises(PackError, match=r"files/OFF-002\.mp4: SHA-256 .* the file was changed"):
        check_pack(p, VKEY)


def test_a_changed_manifest_is_named() -> None:
    p = make_pack()
    p.manifest = p.manifest.replace(UNTIL.encode(), b"2026-11-30T06:59:59+00:00")
    with pytest.raises(PackError, match=r"manifest\.json: SHA-256 .* the manifest was changed"):
        check_pack(p, VKEY)


def test_a_changed_audit_entry_is_named() -> None:
    """Forge the export entry to vouch for a forged manifest: its inclusion proof fails."""
    p = make_pack()
    forged = p.manifest.replace(UNTIL.encode(), b"2026-11-30T06:59:59+00:00")
    item = p.audit["entries"][1]
    raw = base64.b64decode(item["entry"])
    old = hashlib.sha256(p.manifest).hexdigest().encode()
    item["entry"] = base64.b64encode(raw.replace(old, hashlib.sha256(forged).hexdigest().encode()))
    item["entry"] = item["entry"].decode()
    p.manifest = forged
    with pytest.raises(PackError, match=r"audit\.json: entry 2: "):
        check_pack(p, VKEY)


def test_a_checkpoint_by_another_key_is_named() -> None:
    manifest = manifest_bytes()
    p = make_pack(manifest, audit=make_log(manifest, OTHER))
    with pytest.raises(PackError, match=r"audit\.json: checkpoint: "):
        check_pack(p, VKEY)


def test_an_audited_export_outside_the_grant_is_named() -> None:
    """Even an export the log recorded must lie inside the audited grant (Art. 16(1)3)."""
    wide = manifest_bytes(until="2026-11-30T07:00:00+00:00")
    with pytest.raises(PackError, match="is outside grant DY-1-G"):
        check_pack(make_pack(wide), VKEY)
    other = manifest_bytes(cameras=["OFF-001", "DORM-007"])
    with pytest.raises(PackError, match=r"camera\(s\) DORM-007 are not in grant DY-1-G"):
        check_pack(make_pack(other), VKEY)


def test_missing_extra_and_unsafe_members_are_named(tmp_path: Path) -> None:
    p = make_pack()
    del p.files["files/OFF-001.mp4"]
    with pytest.raises(PackError, match=r"OFF-001\.mp4, listed in manifest\.json, is missing"):
        check_pack(p, VKEY)
    p = make_pack()
    p.files["files/extra.mp4"] = b"more footage"
    with pytest.raises(PackError, match=r"files/extra\.mp4 is in the pack but not in manifest"):
        check_pack(p, VKEY)
    p = make_pack()
    p.index["export_id"] = "DY-1-E9"
    with pytest.raises(PackError, match=r"0 audited access\.exported entries for export 'DY-1-E9'"):
        check_pack(p, VKEY)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../etc/cron.d/x", b"boom")
    with pytest.raises(PackError, match="unsafe path"):
        read_pack(evil)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(PackError, match="not a readable zip"):
        read_pack(broken)
    nodoc = copy.deepcopy(make_pack())
    nodoc.audit["format"] = "x"
    with pytest.raises(PackError, match=r"audit\.json: not an audit bundle"):
        check_pack(nodoc, VKEY)
