"""`cctv footage export -o pack.zip` end to end: media copies the grant, the CLI fetches the
stored files (media) and the audit log's entries with proofs and a signed checkpoint (audit),
and `cctv audit check` / `cctv footage verify` check the pack offline — real NATS, real
PostgreSQL, the simulated recorder over RTSP, the audit service witnessing the streams."""

from __future__ import annotations

import asyncio
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from cctv.cli.main import main
from cctv.contract import rpc
from cctv.plumbing.identity import HEADER
from demo.simulator.replay import ReplayServer
from services.audit.app import AuditService
from tests.media.conftest import SYSADMIN, TEACHER, Media, request_id, start_media
from tests.support.audit import running, settings
from tests.support.events import EventLog
from tests.support.identity import headers_as, identity


@pytest.fixture
async def audit(nats_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[AuditService]:
    cfg = settings(nats_url, database_url, f"audit_{uuid.uuid4().hex[:8]}", tmp_path / "audit")
    async with running(cfg) as a:
        yield a


@pytest.fixture
async def served_media(
    nats_url: str,
    database_url: str,
    recorder: ReplayServer,
    tmp_path: Path,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Media]:
    """media on the real subjects, and the operator signed on as NIC's administrator."""
    monkeypatch.setenv("NATS_URL", nats_url)
    nic = identity("nic_admin", "sysadmin", department="nic", name="赵敏")
    monkeypatch.setenv("CCTV_TOKEN", headers_as(nic, ttl_s=600)[HEADER])
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "operator"))
    monkeypatch.delenv("AUDIT_PUBLIC_KEY_FILE", raising=False)
    monkeypatch.delenv("AUDIT_KEY_FILE", raising=False)
    async with start_media(nats_url, database_url, recorder, tmp_path, now, rpc_prefix="") as m:
        yield m


async def cli(*args: str) -> int:
    """The CLI in a thread: it runs its own event loop, the services run in ours."""
    return await asyncio.to_thread(main, list(args))


async def test_export_pack_is_made_and_checked_offline(
    served_media: Media,
    audit: AuditService,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    events: EventLog,
) -> None:
    rid = request_id()
    await served_media.announce(rid)
    vkey = audit.vkey
    pack = tmp_path / "pack.zip"
    code = await cli(
        "footage", "export", rid, "--purpose", "案件调查", "--destination", "保卫处",
        "-o", str(pack), "--key", vkey, "--wait", "120",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "evidence pack" in out and "2 file(s)" in out
    with zipfile.ZipFile(pack) as z:
        names = sorted(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
    assert names == ["audit.json", "files/OFF-001.mp4", "files/OFF-002.mp4", "manifest.json",
                     "pack.json"]  # fmt: skip
    assert manifest["request_id"] == rid and manifest["cameras"] == ["OFF-001", "OFF-002"]

    assert await cli("audit", "check", str(pack), "--key", vkey) == 0
    out = capsys.readouterr().out
    assert "核验通过 CHECK PASSED" in out and f"grant {rid}-G" in out
    assert await cli("footage", "verify", str(pack)) == 1  # no key configured: not evidence
    assert "CHECK INCOMPLETE" in capsys.readouterr().out

    # one byte of one file changed: named
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "files/OFF-001.mp4":
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.writestr(info, data)
    assert await cli("footage", "verify", str(tampered), "--key", vkey) == 1
    assert "files/OFF-001.mp4: SHA-256" in capsys.readouterr().out

    # the hand-over itself is on the record
    await events.wait_for(
        "access.recorded", lambda d: d["request_no"] == rid and "证据包交付" in d["detail"]
    )


async def test_files_for_a_pack_only_for_a_system_administrator(
    served_media: Media, audit: AuditService, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = request_id()
    await served_media.announce(rid)
    reply = await served_media.rpc(
        rpc.MEDIA_EXPORT,
        {"actor": SYSADMIN, "request_id": rid, "purpose": "取证", "destination": "保卫处"},
    )
    eid = reply["export_id"]
    got = await served_media.rpc(rpc.MEDIA_FILES, {"actor": TEACHER, "export_id": eid})
    assert not got["ok"] and got["code"] == "not_sysadmin" and got["article"] == "Art. 17"
    missing = await served_media.rpc(rpc.MEDIA_FILES, {"actor": SYSADMIN, "export_id": "nope"})
    assert not missing["ok"] and missing["code"] == "not_found"
    assert await cli("footage", "export", rid) == 2  # a new export needs purpose and destination
    assert "needs --purpose and --destination" in capsys.readouterr().err
    bad = ("footage", "export", rid, "--purpose", "p", "--destination", "d")
    assert await cli(*bad, "--from", "2026-11-30 06:00") == 2
    assert "--from needs a time zone" in capsys.readouterr().err
    assert await cli("footage", "show", rid) == 0
    out = capsys.readouterr().out
    assert eid in out and f"{rid}-P" in out and "2 job(s)" in out  # export, preservation
    assert await cli("footage", "show", rid, "--json") == 0
    assert eid in [j["job_id"] for j in json.loads(capsys.readouterr().out)["jobs"]]
