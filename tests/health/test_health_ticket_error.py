"""A repair-system outage shows on the fault (issue 17): `ticket_error` carries the reason,
the ticket stays pending for the next round, and other faults are still processed."""

from __future__ import annotations

from datetime import timedelta

import services.health.app as health_app
from services.health import store
from tests.health.harness import T0, a_camera, open_faults, sample


async def test_repair_outage_reason_is_kept_on_the_fault(
    health: health_app.HealthService,
) -> None:
    # the harness's repair client points at 127.0.0.1:9, where nothing listens
    cams = [await a_camera(health), await a_camera(health)]
    for cam in cams:
        for i in range(4):
            await sample(health, cam, T0 + timedelta(seconds=10 * i), ok=False)
        assert await open_faults(health, cam)
    await health.follow_tickets()
    faults = [f for f in await store.faults(health.pool) if f["camera_id"] in cams]
    assert len(faults) == 2
    for f in faults:
        assert f["ticket_state"] == "pending"
        assert f["ticket_error"] and "repair system unavailable" in f["ticket_error"], f
