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
            await put_camera(conn, SCHEMA, cam, actor=actor)
            changed += 1
    return changed


async def put_camera(
    conn: asyncpg.Connection, schema: str, cam: CameraRecord, *, actor: str
) -> None:
    """Write one camera and stage `camera.upserted`, in the caller's transaction."""
    await conn.execute(
        f"INSERT INTO {schema}.cameras (camera_id, record) VALUES ($1, $2) "
        "ON CONFLICT (camera_id) DO UPDATE SET record=EXCLUDED.record, updated_at=now()",
        cam.camera_id,
        cam.model_dump(mode="json"),
    )
    await stage(
        conn, schema, CameraUpserted(camera=cam), source="ingest", key=cam.camera_id, actor=actor
    )
