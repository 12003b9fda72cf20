"""Approved windows change what an outage means (Art. 8, Art. 10), on real PostgreSQL.

The handlers are driven directly (no broker): stop/move windows make an outage expected until
the work is reported done; an exam watch makes a camera down at its first failed sample, with
a critical fault.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cctv.contract.events import ExamWatch
from tests.health.harness import (
    T0,
    a_camera,
    down_in_window,
    feed,
    open_faults,
    sample,
    state,
    window_done,
)


async def test_exam_watch_declares_down_at_the_first_failed_sample(health) -> None:  # type: ignore[no-untyped-def]
    watched, ordinary = await a_camera(health), await a_camera(health)
    await feed(health, ExamWatch(
        request_id="EX-1", camera_ids=[watched], starts_at=T0, ends_at=T0 + timedelta(hours=2)
    ))  # fmt: skip
    for cam in (watched, ordinary):
        await sample(health, cam, T0 + timedelta(minutes=1), True)
        await sample(health, cam, T0 + timedelta(minutes=2), False)
    [fault] = await open_faults(health, watched)
    assert fault["severity"] == "critical"
    assert "Art. 10" in fault["detail"] and "EX-1" in fault["detail"]
    assert await open_faults(health, ordinary) == []  # still inside the normal damping
    # after the exam the usual damping applies again
    await sample(health, watched, T0 + timedelta(hours=3), True)
    await sample(health, watched, T0 + timedelta(hours=3, minutes=1), True)
    await sample(health, watched, T0 + timedelta(hours=3, minutes=2), False)
    assert await state(health, watched) == "up"


async def test_stop_move_window_ends_when_the_work_is_reported_done(health) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    starts = now - timedelta(hours=1)
    cam, rid = await down_in_window(health, starts, now + timedelta(hours=5))
    assert await state(health, cam) == "maintenance"  # its own state, not downtime
    assert await open_faults(health, cam) == []  # expected: inside the approved window
    await health.expire_windows()
    assert await open_faults(health, cam) == []  # the window still runs

    await window_done(health, rid, starts, now - timedelta(minutes=5))
    await health.expire_windows()
    [fault] = await open_faults(health, cam)
    assert "Art. 8" in fault["detail"]
    assert await state(health, cam) == "down"  # no longer maintenance
    await health.expire_windows()
    assert len(await open_faults(health, cam)) == 1
