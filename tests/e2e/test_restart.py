"""Crash health and notify in the middle of the path: no event lost, no duplicate ticket."""

from __future__ import annotations

import httpx

from cctv.devstack.stack import Stack
from tests.e2e.helpers import cctv, repairs_for
from tests.support.events import EventLog

CAMERA = "OFF-002"


async def test_crash_mid_path_loses_nothing_and_duplicates_nothing(
    system: Stack, bus: EventLog, http: httpx.AsyncClient
) -> None:
    def mine(d: dict) -> bool:
        return d.get("camera_id") == CAMERA

    await bus.wait_for("camera.state", lambda d: mine(d) and d["state"] == "up")
    assert cctv(system, "sim", "break", CAMERA).returncode == 0
    [fault] = await bus.wait_for("fault.opened", mine)
    fault_id = fault["data"]["fault_id"]
    # SIGKILL: no graceful shutdown, whatever was in flight is cut off
    system.kill_process("health")
    system.kill_process("notify")
    system.start_service("health")
    system.start_service("notify")
    system.wait_ready("health")
    system.wait_ready("notify")

    [alert] = await bus.wait_for("alert.raised", lambda d: d.get("fault_id") == fault_id)
    await bus.wait_for(
        "alert.delivered", lambda d: d["alert_id"] == alert["data"]["alert_id"], count=2
    )
    await bus.wait_for("fault.ticket_opened", lambda d: d["fault_id"] == fault_id)
    assert len(await repairs_for(http, system, fault_id)) == 1

    assert cctv(system, "sim", "mend", CAMERA).returncode == 0
    await bus.wait_for("fault.ticket_closed", lambda d: d["fault_id"] == fault_id)
    await bus.wait_for("alert.allclear", lambda d: d["alert_id"] == alert["data"]["alert_id"])

    # exactly once, counted after the last step so that late duplicates would be visible
    assert len(bus.matching("fault.opened", mine)) == 1
    assert len(bus.matching("fault.ticket_opened", lambda d: d["fault_id"] == fault_id)) == 1
    assert len(bus.matching("alert.raised", lambda d: d.get("fault_id") == fault_id)) == 1
    assert len(await repairs_for(http, system, fault_id)) == 1
    ids = [e["id"] for e in bus.events]
    assert len(ids) == len(set(ids)), "an event id was delivered twice on the streams"
