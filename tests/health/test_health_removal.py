"""A camera removed from the inventory gets no fault, no repair ticket and no state from a
sample, in whichever order the removal and the sample's transaction meet, and a re-added
camera starts from unknown: no sample of its removed life, nor one taken while it was out of
the inventory, shows through.

Each race goes through the real handlers on the real database: one step is held half-way at
a store call (tests/health/test_health_series.py's `Gate`), the other is sent and let go once
it has finished or asked for the camera's lock (`LockCalls`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from cctv.contract.events import CameraRemoved, CameraUpserted, HealthSample
from services.health import store
from services.health.app import HealthService
from tests.health.harness import down_in_window, feed, open_faults, state, window_done
from tests.health.test_health_series import (
    Gate,
    LockCalls,
    a_known_camera,
    ask_held,
    assert_series_follow_the_view,
    at,
    failing,
    record,
    series,
    shown_state,
)


def held_after(gate: Gate, fn: Callable[..., Awaitable[Any]], camera_id: str) -> Any:
    """`fn` done, then its first call for the camera held until the gate opens (the step's
    statement ran; its transaction is still open)."""

    async def held(*args: Any, **kwargs: Any) -> Any:
        result = await fn(*args, **kwargs)
        if camera_id in args and not gate.held:
            gate.held = True
            gate.reached.bump()
            await gate.opened.wait()
        return result

    return held


async def ticketed(h: HealthService, camera_id: str) -> list[dict[str, Any]]:
    """The camera's faults that wait for a repair ticket or have one (Art. 4)."""
    rows = await h.pool.fetch(
        f"SELECT fault_id, kind, status, ticket_state FROM {store.SCHEMA}.faults "
        "WHERE camera_id=$1 AND ticket_state IN ('pending', 'opened')",
        camera_id,
    )
    return [dict(r) for r in rows]


async def assert_nothing_left(h: HealthService, camera_id: str, after: str) -> None:
    """A removed camera: no open fault, no ticket asked for, no health row, nothing shown."""
    assert await open_faults(h, camera_id) == [], f"open faults after {after}"
    assert await ticketed(h, camera_id) == [], f"a repair ticket asked for after {after}"
    assert await store.shown_state(h.pool, camera_id) is None, f"camera_health after {after}"
    assert not any(s["camera_id"] == camera_id for s in await store.states(h.pool))
    assert camera_id not in h.shown and camera_id not in h.cache, f"memory after {after}"
    assert not h.conditions.get(camera_id), f"conditions after {after}"


async def test_a_removal_while_a_samples_fault_is_half_way_leaves_nothing_open(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tamper-plus-ingest order: a covered camera the inventory had not described yet; its
    tamper fault is written and ingest asked for its zone when the upsert and the removal
    land. The removal waits for the sample's transaction, then resolves the fault (no ticket)
    and deletes the state the rest of the sample wrote — or the rest is dropped."""
    p = f"RA{uuid.uuid4().hex[:6]}"
    cam = f"{p}-1"
    gate, asked = ask_held(health, monkeypatch)
    locks = LockCalls(monkeypatch, cam)
    covered = HealthSample(camera_id=cam, sampled_at=at(1), reachable=True, tamper=["covered"])
    sampled = asyncio.ensure_future(feed(health, covered))
    await gate.wait_reached()
    await feed(health, CameraUpserted(camera=record(cam)), at(2))
    removing = asyncio.ensure_future(
        feed(health, CameraRemoved(camera_id=cam, reason="拆除"), at(3))
    )
    await locks.arrived(removing, calls=2)  # the sample's lock, then the removal's
    gate.open()
    await asyncio.gather(sampled, removing)
    assert asked == [cam]
    await assert_nothing_left(health, cam, "a removal racing a tamper sample")
    resolved = [f for f in await store.faults(health.pool, 1000) if f["camera_id"] == cam]
    assert [(f["kind"], f["closed_by"], f["ticket_state"]) for f in resolved] == [
        ("tamper", "inventory", "none")
    ]
    assert series(p) == {}


@pytest.mark.parametrize("tamper", [["covered"], []], ids=["covered", "plain"])
async def test_a_sample_while_the_camera_is_being_removed_is_dropped(
    health: HealthService, monkeypatch: pytest.MonkeyPatch, tamper: list[str]
) -> None:
    """The other order: the removal has tombstoned the camera and resolved its faults, not yet
    committed, when a sample comes (covered: a fault to open first; plain: only its state);
    it waits, then finds the camera removed as of its time and leaves no fault and no
    camera_health row (counted, not an error)."""
    p = f"RB{uuid.uuid4().hex[:6]}"
    cam = f"{p}-1"
    await feed(health, CameraUpserted(camera=record(cam)), at(1))  # described, never sampled
    gate = Gate()
    monkeypatch.setattr(store, "resolve_faults", held_after(gate, store.resolve_faults, cam))
    locks = LockCalls(monkeypatch, cam)
    removing = asyncio.ensure_future(feed(health, CameraRemoved(camera_id=cam), at(3)))
    await gate.wait_reached()
    before = REGISTRY.get_sample_value("cctv_health_samples_removed_total") or 0.0
    sample = HealthSample(camera_id=cam, sampled_at=at(2), reachable=True, tamper=tamper)
    sampled = asyncio.ensure_future(feed(health, sample))
    await locks.arrived(sampled, calls=2)  # the removal's lock, then the sample's
    gate.open()
    await asyncio.gather(removing, sampled)
    await assert_nothing_left(health, cam, "a sample racing the removal")
    assert (REGISTRY.get_sample_value("cctv_health_samples_removed_total") or 0.0) == before + 1
    assert series(p) == {}
    # and a last sample in flight after it all: dropped at once
    await feed(health, HealthSample(camera_id=cam, sampled_at=at(4), reachable=False))
    await assert_nothing_left(health, cam, "a sample after the removal")


async def test_a_sample_taken_before_a_re_add_shows_nothing_after_it(
    health: HealthService,
) -> None:
    """Removed and re-added; a sample taken before the re-add (covered, and reachable: from
    unknown it would be up at once) arrives after it. It belongs to the camera's removed life:
    the re-added camera stays unknown, with no fault, until a sample of its own."""
    p = f"RC{uuid.uuid4().hex[:6]}"
    cam = await a_known_camera(health, p)
    assert shown_state(cam) == "up"
    await feed(health, CameraRemoved(camera_id=cam, reason="更换"), at(11))
    await feed(health, CameraUpserted(camera=record(cam, "图书馆", "教学区")), at(13))
    assert shown_state(cam) == "unknown"
    late = HealthSample(camera_id=cam, sampled_at=at(12), reachable=True, tamper=["covered"])
    await feed(health, late)
    assert shown_state(cam) == "unknown", "a sample from before the re-add shown"
    await assert_nothing_left(health, cam, "a sample from before the re-add")
    await failing(health, cam, 14, ok=True)  # its own first sample
    assert shown_state(cam) == "up"
    assert await store.shown_state(health.pool, cam) == "up"
    assert_series_follow_the_view(health, p, "the re-added camera's first sample")


async def test_a_late_state_after_the_views_removal_is_not_shown_on_a_quick_re_add(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera going down is held half-way when the view hears of its removal, and of its
    re-add right after, both before the durable consumer: the re-added camera is shown
    unknown, not the removed camera's down, at every step until its own first sample."""
    p = f"RD{uuid.uuid4().hex[:6]}"
    cam = await a_known_camera(health, p, failed=2)
    gate = Gate()
    monkeypatch.setattr(store, "set_shown", gate.around(store.set_shown, cam))
    going_down = asyncio.ensure_future(failing(health, cam, 10))
    await gate.wait_reached()
    await health.view.apply(CameraRemoved(camera_id=cam), at(11))  # the view's own consumer
    gate.open()
    await going_down
    await health.view.apply(CameraUpserted(camera=record(cam)), at(12))  # a quick re-add
    assert_series_follow_the_view(health, p, "the view's re-add")
    assert shown_state(cam) == "unknown", "the removed camera's late state shown on a re-add"
    # the durable consumer catches up: the late down's fault is resolved, its ticket never asked
    await feed(health, CameraRemoved(camera_id=cam), at(11))
    assert shown_state(cam) == "unknown"
    await feed(health, CameraUpserted(camera=record(cam)), at(12))
    assert shown_state(cam) == "unknown"
    await assert_nothing_left(health, cam, "the durable removal and re-add")
    await failing(health, cam, 13, ok=True)
    assert shown_state(cam) == "up"
    assert_series_follow_the_view(health, p, "the re-added camera's first sample")


async def test_a_window_that_ends_while_the_camera_is_being_removed_opens_no_fault(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Art. 8's expiry meets a removal: the camera is down in an approved stop/move window that
    has been reported done, and is being removed (its faults resolved, not yet committed) when
    housekeeping reads the cameras in maintenance. The expiry waits for the removal and opens
    no fault for a camera that has left the inventory."""
    now = datetime.now(UTC)
    starts, done = now - timedelta(hours=1), now - timedelta(minutes=5)
    cam, rid = await down_in_window(health, starts, now + timedelta(hours=5))
    assert await state(health, cam) == "maintenance"
    await window_done(health, rid, starts, done)
    gate = Gate()
    monkeypatch.setattr(store, "resolve_faults", held_after(gate, store.resolve_faults, cam))
    locks = LockCalls(monkeypatch, cam)
    removing = asyncio.ensure_future(feed(health, CameraRemoved(camera_id=cam)))
    await gate.wait_reached()
    expiring = asyncio.ensure_future(health.expire_windows())
    await locks.arrived(expiring, calls=2)  # the removal's lock, then the expiry's
    gate.open()
    await asyncio.gather(removing, expiring)
    await assert_nothing_left(health, cam, "a window expiring during the removal")
