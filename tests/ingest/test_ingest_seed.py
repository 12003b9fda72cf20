"""Cold start of a 5,000-camera inventory (issue 9): a seed is a handful of statements, and the
outbox relay sends a batch in order without waiting for each acknowledgement."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import services.ingest.app as ingest_app
from cctv.contract import CameraRecord
from cctv.plumbing.db import apply_migrations, create_pool
from cctv.plumbing.outbox import OutboxRelay
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings
from services.ingest import store
from tests.support.events import EventLog

MIGRATIONS = Path(ingest_app.__file__).parent / "migrations"


def camera(camera_id: str, zone: str = "教学区") -> CameraRecord:
    return CameraRecord(
        camera_id=camera_id, name="走廊", system_id="A1-01", department="security",
        managing_department="logistics", category="public_safety", building="综合楼",
        position="1F", zone=zone, brand="hikvision", protocol="isapi", address="127.0.0.1:80",
    )  # fmt: skip


@pytest.fixture
async def schema_pool(database_url: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """Ingest's tables in a schema of this test's own, on a one-connection pool (so the
    statements it runs can be counted)."""
    schema = f"seed_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(database_url, max_size=1)
    await apply_migrations(pool, schema, MIGRATIONS)
    yield schema, pool
    await pool.close()


async def test_a_seed_is_a_few_statements_and_each_change_one_event_in_order(
    schema_pool: tuple[str, asyncpg.Pool],
) -> None:
    schema, pool = schema_pool
    p = f"S{uuid.uuid4().hex[:5]}"
    cams = [camera(f"{p}-{i:04d}") for i in range(1000)]
    statements: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda q: statements.append(q.query))
    assert await store.upsert_cameras(pool, cams, actor="seed", schema=schema) == 1000
    # was 3 statements per camera (read, write, stage) plus a NOTIFY each
    assert len(statements) < 20, len(statements)
    rows = await pool.fetch(f"SELECT subject FROM {schema}.outbox ORDER BY seq")
    assert [r["subject"] for r in rows] == [f"cctv.camera.upserted.{c.camera_id}" for c in cams]
    # unchanged cameras change nothing; a camera listed twice changes twice, in order
    moved = camera(cams[5].camera_id, "宿舍区")
    again = [*cams[:10], moved, camera(cams[5].camera_id, "办公区")]
    assert await store.upsert_cameras(pool, again, schema=schema) == 2
    records = await store.list_cameras(pool, schema)
    assert next(c for c in records if c.camera_id == moved.camera_id).zone == "办公区"
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.outbox") == 1002


async def test_the_relay_sends_a_batch_in_order_with_one_wait(
    schema_pool: tuple[str, asyncpg.Pool], nats_url: str, database_url: str
) -> None:
    schema, pool = schema_pool
    p = f"R{uuid.uuid4().hex[:5]}"
    # few cameras in small batches: these go to the session's shared stream, where every later
    # test's inventory consumer would read them all
    cams = [camera(f"{p}-{i:04d}") for i in range(120)]
    await store.upsert_cameras(pool, cams, actor="seed", schema=schema)
    svc = Service("seedtest", ServiceSettings(nats_url=nats_url, database_url=database_url))
    await svc.broker.connect()
    log = await EventLog().start(nats_url, ("cctv.camera.upserted.*",))
    batches: list[int] = []

    def mine(d: dict[str, Any]) -> bool:
        return str(d["camera"]["camera_id"]).startswith(p)

    async def publish_many(items: list[tuple[str, bytes, str]]) -> None:
        batches.append(len(items))
        await svc.publish_batch(items)

    async def one_by_one(*_args: Any) -> None:
        raise AssertionError("a batch is not published one acknowledgement at a time")

    try:
        relay = OutboxRelay(pool, schema, "seedtest", one_by_one, publish_many)
        assert await relay.drain(batch=50) == 120
        assert batches == [50, 50, 20]
        seen = await log.wait_for("camera.upserted", mine, count=120)
        assert [e["data"]["camera"]["camera_id"] for e in seen] == [c.camera_id for c in cams]
        # published again after a crash before the rows were marked: JetStream drops them
        await pool.execute(f"UPDATE {schema}.outbox SET published_at = NULL")
        assert await relay.drain(batch=50) == 120
        later = camera(f"{p}-later")
        await store.upsert_cameras(pool, [later], schema=schema)
        assert await relay.drain() == 1
        # the stream has moved on past the re-published batch: the duplicates were dropped
        seen = await log.wait_for("camera.upserted", mine, count=121)
        assert seen[-1]["data"]["camera"]["camera_id"] == later.camera_id
        assert len(log.matching("camera.upserted", mine)) == 121
    finally:
        await log.close()
        await svc.broker.stop()
