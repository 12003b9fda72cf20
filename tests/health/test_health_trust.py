"""Signals health must not get wrong (issues 9, 17): a round ingest could not measure, a sample
from the future, a repair system that is down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cctv.contract.events import HealthSample
from services.health import store
from services.health.app import HealthService
from tests.health.harness import T0, a_camera, feed, open_faults, sample, state


async def test_an_unmeasured_round_leaves_the_state_as_it_was(health: HealthService) -> None:
    cam = await a_camera(health)
    await sample(health, cam, T0, True)
    for i in range(1, 6):  # ingest was behind five rounds in a row: not the camera's failure
        await feed(
            health,
            HealthSample(
                camera_id=cam,
                sampled_at=T0 + timedelta(seconds=10 * i),
                reachable=False,
                measured=False,
                unmeasured_reason="probe lag 8.3 s",
            ),
        )
    assert await state(health, cam) == "up"
    assert await open_faults(health, cam) == []
    # nor a success: a down camera stays down through unmeasured rounds
    for i in range(6, 9):
        await sample(health, cam, T0 + timedelta(seconds=10 * i), False)
    assert await state(health, cam) == "down"
    await feed(
        health,
        HealthSample(
            camera_id=cam, sampled_at=T0 + timedelta(seconds=100), reachable=True, measured=False
        ),
    )
    await feed(
        health,
        HealthSample(
            camera_id=cam, sampled_at=T0 + timedelta(seconds=110), reachable=True, measured=False
        ),
    )
    assert await state(health, cam) == "down"
    assert [f["kind"] for f in await open_faults(health, cam)] == ["offline"]


async def test_one_future_dated_sample_does_not_blind_a_camera(health: HealthService) -> None:
    cam = await a_camera(health)
    now = datetime.now(UTC)
    await sample(health, cam, datetime(2099, 1, 1, tzinfo=UTC), True)  # a clock far ahead
    assert await state(health, cam) == "up"
    for i in range(1, 4):  # honest samples after it still count
        await sample(health, cam, now + timedelta(seconds=i), False)
    assert await state(health, cam) == "down"
    assert [f["kind"] for f in await open_faults(health, cam)] == ["offline"]
    rows = [s for s in await store.states(health.pool) if s["camera_id"] == cam]
    assert rows[0]["last_sample_at"] < now + timedelta(minutes=1)


async def test_a_repair_system_that_is_down_is_named_on_the_fault(health: HealthService) -> None:
    cam = await a_camera(health)  # the harness's repair system is a closed port
    await sample(health, cam, T0, True)
    for i in range(1, 4):
        await sample(health, cam, T0 + timedelta(seconds=i), False)
    await health.follow_tickets()
    (fault,) = await open_faults(health, cam)
    assert fault["ticket_state"] == "pending"
    assert "repair system unavailable" in (fault["ticket_error"] or "")
