"""Workflow knows the whole inventory from its start (issue 9): the snapshot fills in what its
inventory consumer has not reached, and never overwrites what it has (real NATS, PostgreSQL)."""

from __future__ import annotations

import uuid
from pathlib import Path

import nats

from cctv.contract import CameraRecord, Event, subject_for, wrap
from cctv.contract.events import CameraRemoved, CameraUpserted
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings
from services.workflow import store
from services.workflow.app import seed_inventory

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "workflow" / "migrations"


def record(camera_id: str, name: str = "走廊") -> CameraRecord:
    return CameraRecord(
        camera_id=camera_id, name=name, system_id="A1-01", department="security",
        managing_department="logistics", category="public_safety", building="综合楼",
        position="1F", zone="办公区", brand="hikvision", protocol="isapi", address="127.0.0.1:80",
    )  # fmt: skip


async def publish(js: object, event: Event, key: str) -> None:
    await js.publish(subject_for(event, key), wrap(event, source="ingest", key=key).to_bytes())  # type: ignore[attr-defined]


async def test_the_snapshot_adds_missing_cameras_and_keeps_newer_records(
    nats_url: str, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    a, b, c = f"WS{tag}-A", f"WS{tag}-B", f"WS{tag}-C"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for cid in (a, b, c):
        await publish(js, CameraUpserted(camera=record(cid)), cid)
    await publish(js, CameraRemoved(camera_id=b, reason="拆除"), b)
    await nc.close()
    svc = Service(
        "workflow",
        ServiceSettings(nats_url=nats_url, database_url=database_url),
        migrations=MIGRATIONS,
        schema=f"wfs_{tag}",
    )
    async with svc.running():
        assert svc.pool is not None
        newer = record(c, "已由清单更新 newer").model_dump(mode="json")
        await store.upsert_camera(svc.pool, svc.schema, newer)  # the consumer got here first
        added = await seed_inventory(svc)
        assert added >= 1
        mine = {
            r["camera_id"]: r
            for r in await store.camera_records(svc.pool, svc.schema)
            if r["camera_id"].startswith(f"WS{tag}")
        }
        assert set(mine) == {a, c}  # b was removed: not brought back
        assert mine[c]["name"] == "已由清单更新 newer"
        assert await seed_inventory(svc) == 0  # nothing twice
