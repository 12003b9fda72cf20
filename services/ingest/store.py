"""The camera inventory in ingest's own schema. Every change is staged as an event."""

from __future__ import annotations

import asyncpg

from cctv.contract import CameraRecord
from cctv.contract.events import CameraUpserted
from cctv.plumbing.outbox import stage

SCHEMA = "ingest"


async def list_cameras(pool: asyncpg.Pool) -> list[CameraRecord]:
    rows = await pool.fetch(f"SELECT record FROM {SCHEMA}.cameras ORDER BY camera_id")
    return [CameraRecord.model_validate(r["record"]) for r in rows]


async def count_cameras(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.cameras"))


async def upsert_cameras(
    pool: asyncpg.Pool, cameras: list[CameraRecord], *, actor: str = "system"
) -> int:
    """Insert or update cameras in one transaction; only real changes become events."""
    changed = 0
    async with pool.acquire() as conn, conn.transaction():
        for cam in cameras:
            record = cam.model_dump(mode="json")
            old = await conn.fetchval(
                f"SELECT record FROM {SCHEMA}.cameras WHERE camera_id=$1 FOR UPDATE", cam.camera_id
            )
            if old == record:
                continue
            await conn.execute(
                f"INSERT INTO {SCHEMA}.cameras (camera_id, record) VALUES ($1, $2) "
                "ON CONFLICT (camera_id) DO UPDATE SET record=EXCLUDED.record, updated_at=now()",
                cam.camera_id,
                record,
            )
            await stage(
                conn,
                SCHEMA,
                CameraUpserted(camera=cam),
                source="ingest",
                key=cam.camera_id,
                actor=actor,
            )
            changed += 1
    return changed
