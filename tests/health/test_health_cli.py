"""`cctv faults close` over request-reply to a running health responder (real NATS)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from cctv.cli.main import main as cctv
from cctv.contract.events import SegmentDeleted
from cctv.plumbing.service import Service
from services.health import app as health_app
from services.health.app import HealthService, attach_rpc
from tests.health.harness import T0, a_camera, feed, open_faults


async def test_faults_close_from_the_command_line(
    health: HealthService, nats_url: str, monkeypatch: Any, capsys: Any
) -> None:
    cam = await a_camera(health)
    await feed(health, SegmentDeleted(
        camera_id=cam, start=T0, end=T0 + timedelta(hours=1), within_retention=True
    ))  # fmt: skip
    (fault,) = await open_faults(health, cam)
    tag = uuid.uuid4().hex[:6]
    svc = Service(
        f"health-{tag}",
        health.svc.settings,
        migrations=Path(health_app.__file__).parent / "migrations",
        schema=f"hcli_{tag}",
    )
    responder = HealthService(svc, health.svc.settings, health.repair)  # type: ignore[arg-type]
    attach_rpc(svc, responder)
    monkeypatch.setenv("NATS_URL", nats_url)

    async def run(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(cctv, list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    async with svc.running():
        responder.svc.pool = svc.pool
        code, out, _ = await run("faults", "list")
        assert code == 0 and fault["fault_id"] in out
        code, _, err = await run("faults", "close", fault["fault_id"], "--reason", " ")
        assert code == 2 and "reason" in err
        code, out, _ = await run(
            "faults", "close", fault["fault_id"], "--reason", "已核查 investigated", "--actor",
            "nic-li",
        )  # fmt: skip
        assert code == 0 and "已关闭 closed" in out and "investigated" in out
        code, _, err = await run("faults", "close", fault["fault_id"], "--reason", "again")
        assert code == 2 and "already resolved" in err
    assert await open_faults(health, cam) == []
