"""A health service on the session's real PostgreSQL, its handlers driven directly.

Each test file has a database of its own: health's census (a mass failure, a restart's
reconcile) counts every camera in its tables, so the cameras another file left down must not
be counted here, whatever order the test workers run the files in."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

import services.health.app as health_app
from cctv.contract import CameraRecord, Event, wrap
from cctv.contract.events import (
    CameraUpserted,
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


@pytest.fixture(scope="module")
async def health_database(database_url: str) -> AsyncIterator[str]:
    """A fresh database on the session's server, for one test file."""
    name = f"health_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlsplit(database_url)._replace(path=f"/{name}").geturl()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def health(nats_url: str, health_database: str) -> AsyncIterator[health_app.HealthService]:
    settings = HealthSettings(nats_url=nats_url, database_url=health_database)
    svc = Service("health", settings, migrations=Path(health_app.__file__).parent / "migrations")
    svc.pool = await create_pool(health_database)
    await apply_migrations(svc.pool, store.SCHEMA, svc.migrations)
    h = health_app.HealthService(svc, settings, OneCardRepairClient("http://127.0.0.1:9", 1))
    await h.load_conditions()
    h.view.ready.set()  # the view is fed by the handlers here, as if its snapshot were empty
    yield h
    await svc.pool.close()


async def feed(h: health_app.HealthService, event: Event, at: datetime | None = None) -> None:
    """Hand `event` to the handler its subject reaches; `at` is when it was published."""
    env = wrap(event, source="test")
    if at is not None:
        env = env.model_copy(update={"time": at})
    family = event.TYPE.split(".")[0]
    if family == "workflow":
        family = ".".join(event.TYPE.split(".")[:2])
    handler = {
        "camera": h.on_inventory,
        "telemetry": h.on_sample,
        "recording": h.on_recording,
        "workflow.exam": h.on_exam,
        "workflow.stopmove": h.on_stopmove,
        "workflow.newpoint": h.on_newpoint,
        "workflow.responsible": h.on_responsible,
    }[family]
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


async def down_in_window(
    h: health_app.HealthService, starts: datetime, ends: datetime
) -> tuple[str, str]:
    """A camera that went down inside its approved stop/move window (Art. 8): (camera,
    request id). Health shows it in maintenance, with no fault."""
    cam = await a_camera(h)
    rid = f"SM-{cam}"
    await feed(h, StopMoveWindowApproved(
        request_id=rid, camera_ids=[cam], starts_at=starts, ends_at=ends
    ))  # fmt: skip
    await sample(h, cam, starts + timedelta(minutes=1), True)
    for i in range(2, 5):
        await sample(h, cam, starts + timedelta(minutes=i), False)
    return cam, rid


async def window_done(
    h: health_app.HealthService, request_id: str, starts: datetime, done: datetime
) -> None:
    """The stop/move work reported done at `done`: the window ends there."""
    await feed(h, StopMoveCompleted(
        request_id=request_id, process="stopmove", transition="completed", state="completed",
        at=done, summary={"window": {"starts_at": starts.isoformat(), "ends_at": done.isoformat()}},
    ))  # fmt: skip


async def open_faults(h: health_app.HealthService, camera_id: str) -> list[dict]:
    return [
        f
        for f in await store.faults(h.pool)
        if f["camera_id"] == camera_id and f["status"] == "open"
    ]


async def state(h: health_app.HealthService, camera_id: str) -> str:
    return next(s["state"] for s in await store.states(h.pool) if s["camera_id"] == camera_id)
