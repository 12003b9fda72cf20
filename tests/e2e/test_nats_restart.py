"""NATS restarts under running services (field note 5): consumers must resume by themselves."""

from __future__ import annotations

import httpx

from cctv.devstack.stack import Stack
from tests.e2e.helpers import cctv
from tests.support.events import EventLog

CAMERA = "LAB-003"  # 实训楼, zone 教学区


async def test_path_still_runs_after_a_nats_restart(system: Stack, http: httpx.AsyncClient) -> None:
    assert system.nats is not None and system.nats_url
    before = await EventLog().start(system.nats_url)
    await before.wait_for("camera.state", lambda d: d["camera_id"] == CAMERA and d["state"] == "up")
    await before.close()

    system.nats.stop()
    system.nats.start()  # same port, same JetStream store

    bus = await EventLog().start(system.nats_url)
    try:
        for name in ("ingest", "health", "notify"):
            system.wait_ready(name, timeout=30)
        assert cctv(system, "sim", "break", CAMERA).returncode == 0
        [fault] = await bus.wait_for("fault.opened", lambda d: d["camera_id"] == CAMERA, timeout=60)
        await bus.wait_for("alert.raised", lambda d: d.get("fault_id") == fault["data"]["fault_id"])
        assert cctv(system, "sim", "mend", CAMERA).returncode == 0
        await bus.wait_for("fault.resolved", lambda d: d["fault_id"] == fault["data"]["fault_id"])
    finally:
        await bus.close()
