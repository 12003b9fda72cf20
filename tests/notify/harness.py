"""A notify service on the session's real PostgreSQL, its handlers driven directly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest

import services.notify.app as notify_app
from cctv.contract import wrap
from cctv.contract.events import FaultOpened, FaultResolved
from cctv.plumbing.db import apply_migrations, create_pool
from cctv.plumbing.service import Service
from services.notify import store
from services.notify.roster import RosterEntry
from services.notify.settings import NotifySettings


async def make_notify(
    nats_url: str, database_url: str, **overrides: Any
) -> notify_app.NotifyService:
    overrides.setdefault("group_wait_s", 0)  # tests that group set it themselves
    settings = NotifySettings(nats_url=nats_url, database_url=database_url, **overrides)
    svc = Service("notify", settings, migrations=Path(notify_app.__file__).parent / "migrations")
    svc.pool = await create_pool(database_url)
    await apply_migrations(svc.pool, store.SCHEMA, svc.migrations)
    return notify_app.NotifyService(svc, settings)


@pytest.fixture
async def notify(nats_url: str, database_url: str) -> AsyncIterator[notify_app.NotifyService]:
    n = await make_notify(nats_url, database_url)
    yield n
    await n.close()
    await n.pool.close()


def a_zone() -> str:
    """A zone of this test's own, so other tests' roster rows never answer for it."""
    return f"区-{uuid.uuid4().hex[:6]}"


async def staff(n: notify_app.NotifyService, zone: str, **extra: Any) -> dict[str, str]:
    """A guard for the zone and, round the clock, one person at every level above it."""
    tag = uuid.uuid4().hex[:6]
    people = {
        "guard": RosterEntry(f"g-{tag}", "张伟", "guard", zone, **extra),
        "duty_operator": RosterEntry(f"d-{tag}", "陈静", "duty_operator", None),
        "nic_oncall": RosterEntry(f"n-{tag}", "赵敏", "nic_oncall", None),
        "security_head": RosterEntry(f"s-{tag}", "钱主任", "security_head", None),
    }
    await store.seed_roster(n.pool, list(people.values()))
    return {role: p.account for role, p in people.items()}


def fault(zone: str, kind: str = "offline", severity: str = "major") -> FaultOpened:
    return FaultOpened.model_validate(
        {
            "fault_id": f"F-{uuid.uuid4().hex[:8]}", "camera_id": f"CAM-{uuid.uuid4().hex[:6]}",
            "kind": kind, "severity": severity, "detected_at": datetime.now(UTC),
            "camera_name": "综合楼走廊", "building": "综合楼", "zone": zone,
            "detail": "3 次探测失败",
        }
    )  # fmt: skip


async def open_fault(n: notify_app.NotifyService, f: FaultOpened) -> None:
    await n.on_fault(wrap(f, source="health"), f)


async def resolve(n: notify_app.NotifyService, f: FaultOpened) -> None:
    r = FaultResolved(
        fault_id=f.fault_id, camera_id=f.camera_id, kind=f.kind,
        resolved_at=f.detected_at, camera_name=f.camera_name, building=f.building, zone=f.zone,
    )  # fmt: skip
    await n.on_fault(wrap(r, source="health"), r)


async def alerts_of(n: notify_app.NotifyService, fault_id: str) -> dict[str, dict[str, Any]]:
    rows = await n.pool.fetch(f"SELECT * FROM {store.SCHEMA}.alerts WHERE fault_id=$1", fault_id)
    return {r["recipient"]: dict(r) for r in rows}


async def staged(n: notify_app.NotifyService, subject_prefix: str) -> list[str]:
    rows = await n.pool.fetch(
        f"SELECT subject FROM {store.SCHEMA}.outbox WHERE subject LIKE $1", subject_prefix + "%"
    )
    return [r["subject"] for r in rows]


__all__ = ["notify", "time"]
