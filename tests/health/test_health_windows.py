"""Approved windows change what an outage means (Art. 8, Art. 10), on real PostgreSQL.

The handlers are driven directly (no broker): stop/move windows make an outage expected until
the work is reported done; an exam watch makes a camera down at its first failed sample, with
a critical fault.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import services.health.app as health_app
from cctv.contract import CameraRecord, Event, wrap
from cctv.contract.events import (
    CameraUpserted,
    ExamWatch,
    HealthSample,
    StopMoveCompleted,
    StopMoveWindowApproved,
)
from cctv.plumbing.db import apply_migrations, create_pool
from cctv.plumbing.service import Service
from services.health import store
from services.health.repair import OneCardRepairClient
from services.health.settings import HealthSettings

T0 = datetime(2026, 6, 7, 1, 0, tzinfo=UTC)


@pytest.fixture
async def health(nats_url: str, database_url: str) -> AsyncIterator[health_app.HealthService]:
    settings = HealthSettings(nats_url=nats_url, database_url=database_url)
    svc = Service("health", settings, migrations=Path(health_app.__file__).parent / "migrations")
    svc.pool = await create_pool(database_url)
    await apply_migrations(svc.pool, store.SCHEMA, svc.migrations)
    yield health_app.HealthService(svc, settings, OneCardRepairClient("http://127.0.0.1:9", 1))
    await svc.pool.close()


async def feed(h: health_app.HealthService, event: Event) -> None:
    env = wrap(event, source="test")
    handler = {
        "camera": h.on_inventory,
        "telemetry": h.on_sample,
        "workflow": h.on_exam if event.TYPE.startswith("workflow.exam") else h.on_stopmove,
    }[event.TYPE.split(".")[0]]
    await handler(env, event)


async def a_camera(h: health_app.HealthService) -> str:
    camera_id = f"EXAM-{uuid.uuid4().hex[:6]}"
    record = CameraRecord(
        camera_id=camera_id, name="考场摄像机", system_id="A1-03", department="academic",
        managing_department="academic", category="teaching_exam", sensitivity=["national_exam"],
        building="教学楼", position="301考场", zone="教学区", brand="jingyeda", protocol="rtsp",
        address="127.0.0.1:554",
    )  # fmt: skip
    await feed(h, CameraUpserted(camera=record))
    return camera_id


async def sample(h: health_app.HealthService, camera_id: str, at: datetime, ok: bool) -> None:
    await feed(h, HealthSample(camera_id=camera_id, sampled_at=at, reachable=ok))


async def open_faults(h: health_app.HealthService, camera_id: str) -> list[dict]:
    return [
        f
        for f in await store.faults(h.pool)
        if f["camera_id"] == camera_id and f["status"] == "open"
    ]


async def state(h: health_app.HealthService, camera_id: str) -> str:
    return next(s["state"] for s in await store.states(h.pool) if s["camera_id"] == camera_id)


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
    cam = await a_camera(health)
    now = datetime.now(UTC)
    starts, ends = now - timedelta(hours=1), now + timedelta(hours=5)
    await feed(health, StopMoveWindowApproved(
        request_id="SM-1", camera_ids=[cam], starts_at=starts, ends_at=ends
    ))  # fmt: skip
    await sample(health, cam, starts + timedelta(minutes=1), True)
    for i in range(2, 5):
        await sample(health, cam, starts + timedelta(minutes=i), False)
    assert await state(health, cam) == "down"
    assert await open_faults(health, cam) == []  # expected: inside the approved window
    await health.expire_windows()
    assert await open_faults(health, cam) == []  # the window still runs

    done = now - timedelta(minutes=5)
    await feed(health, StopMoveCompleted(
        request_id="SM-1", process="stopmove", transition="completed", state="completed", at=done,
        summary={"window": {"starts_at": starts.isoformat(), "ends_at": done.isoformat()}},
    ))  # fmt: skip
    await health.expire_windows()
    [fault] = await open_faults(health, cam)
    assert "Art. 8" in fault["detail"]
