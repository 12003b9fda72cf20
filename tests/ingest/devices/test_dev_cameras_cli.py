"""`cctv cameras ...` edits the inventory through ingest (real NATS + PostgreSQL): each change
an event with its actor, a bad value refused by column with nothing changed."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from cctv.cli.main import main as cctv
from cctv.plumbing.identity import HEADER
from services.ingest.app import IngestService
from services.ingest.settings import IngestSettings
from tests.support.events import EventLog
from tests.support.identity import headers_as, identity

FIXTURE = Path(__file__).parent / "fixtures" / "inventory_ok.csv"


async def test_cameras_cli_imports_edits_removes_and_exports(
    nats_url: str, database_url: str, events: EventLog, monkeypatch: Any, tmp_path: Path,
    capsys: Any,
) -> None:  # fmt: skip
    tag = uuid.uuid4().hex[:6]
    dorm, exam = f"stu-dorm-{tag}", f"aca-exam-{tag}"
    text = FIXTURE.read_text("utf-8").replace("stu-dorm-007", dorm).replace("aca-exam-104", exam)
    text = text.replace("log-pub-001", f"log-pub-{tag}")
    (tmp_path / "cams.csv").write_text(text, encoding="utf-8")
    settings = IngestSettings(
        nats_url=nats_url, database_url=database_url, tamper_watch=False, sharding=False
    )
    svc = IngestService(settings, schema=f"cli_{tag}").svc  # the inventory's responders
    monkeypatch.setenv("NATS_URL", nats_url)
    # the CLI acts for a signed-on NIC administrator (issue 11; a service credential here)
    nic = identity("nic-zhao", "sysadmin", department="nic")
    monkeypatch.setenv("CCTV_TOKEN", headers_as(nic)[HEADER])

    async def run(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(cctv, list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    def cam(cid: str):  # type: ignore[no-untyped-def]
        return lambda d: d.get("camera", {}).get("camera_id") == cid or d.get("camera_id") == cid

    async with svc.running():
        assert svc.pool is not None
        code, out, _ = await run("cameras", "import", str(tmp_path / "cams.csv"))
        assert code == 0 and "3 added/changed" in out
        await events.wait_for("camera.upserted", cam(dorm))

        # one field changed: one event, with who did it
        code, out, _ = await run("cameras", "set", dorm, "position=宿舍7栋北侧 朝西", "channel=5")
        assert code == 0 and "已修改 changed channel, position" in out, out
        [changed] = await events.wait_for(
            "camera.upserted", lambda d: cam(dorm)(d) and d["camera"]["channel"] == 5
        )
        assert changed["actor"] == "nic-zhao"
        assert changed["data"]["camera"]["position"] == "宿舍7栋北侧 朝西"

        # a bad value: refused naming the column, the record untouched
        code, _, err = await run("cameras", "set", dorm, "channel=999")
        assert code == 2 and "column channel" in err, err
        code, _, err = await run("cameras", "set", dorm, "protocol=isapi")
        assert code == 2 and "column protocol" in err and "hikvision" in err, err
        record = await svc.pool.fetchval(
            f"SELECT record FROM cli_{tag}.cameras WHERE camera_id=$1", dorm
        )
        assert record["channel"] == 5 and record["protocol"] == "dahua"

        # add: every required column, validated like an import row
        new = f"log-gate-{tag}"
        fields = [
            f"camera_id={new}", "name=南大门朝南", "system_id=A1-06", "department=后勤处",
            "managing_department=logistics", "category=public_safety", "sensitivity=key_point",
            "building=校门", "position=南大门向南", "zone=校门与道路", "brand=海康",
            "protocol=isapi", "address=10.2.9.1:80", "channel=1",
        ]  # fmt: skip
        code, _, err = await run("cameras", "add", *fields[1:])  # no camera_id
        assert code == 2 and "column camera_id" in err, err
        code, out, _ = await run("cameras", "add", *fields)
        assert code == 0 and "已添加 added" in out
        await events.wait_for("camera.upserted", cam(new))
        code, out, _ = await run("cameras", "show", new)
        assert code == 0 and "南大门向南" in out and "key_point" in out

        # remove: needs a reason; the event carries it
        code, _, err = await run("cameras", "remove", exam, "--reason", " ")
        assert code == 2 and "reason" in err
        code, out, _ = await run("cameras", "remove", exam, "--reason", "拆除 removed (NP-7)")
        assert code == 0
        [gone] = await events.wait_for("camera.removed", cam(exam))
        assert gone["data"]["reason"] == "拆除 removed (NP-7)"
        code, _, err = await run("cameras", "remove", exam, "--reason", "again")
        assert code == 2 and "no camera" in err

        code, out, _ = await run("cameras", "export", "--format", "csv")
        assert code == 0 and "宿舍7栋北侧 朝西" in out and new in out and exam not in out
        # nothing in events or exports ever holds a password column
        assert "password" not in out.lower()
