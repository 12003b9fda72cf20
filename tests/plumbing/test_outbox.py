"""Outbox and migrations against the session's real PostgreSQL and NATS JetStream."""

from __future__ import annotations

import uuid
from pathlib import Path

import nats
import pytest

from cctv.contract.events import CameraRemoved
from cctv.plumbing.db import apply_migrations, create_pool, pending_migrations
from cctv.plumbing.outbox import OutboxRelay, first_delivery, stage
from tests.support.events import EventLog


@pytest.fixture
async def pool(database_url: str):  # type: ignore[no-untyped-def]
    pool = await create_pool(database_url)
    yield pool
    await pool.close()


async def test_migrations_apply_once_in_order(pool, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    schema = f"m_{uuid.uuid4().hex[:8]}"
    (tmp_path / "001_a.sql").write_text("CREATE TABLE {schema}.a (x int);")
    (tmp_path / "002_b.sql").write_text("INSERT INTO {schema}.a VALUES (1);")
    assert await pending_migrations(pool, schema, tmp_path) == ["001_a", "002_b"]
    assert await apply_migrations(pool, schema, tmp_path) == ["001_a", "002_b"]
    assert await apply_migrations(pool, schema, tmp_path) == []
    assert await pending_migrations(pool, schema, tmp_path) == []
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.a") == 1


async def test_a_failing_migration_leaves_nothing_half_applied(pool, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    schema = f"m_{uuid.uuid4().hex[:8]}"
    (tmp_path / "001_bad.sql").write_text(
        "CREATE TABLE {schema}.a (x int); INSERT INTO {schema}.nope VALUES (1);"
    )
    with pytest.raises(Exception, match="nope"):
        await apply_migrations(pool, schema, tmp_path)
    assert await pending_migrations(pool, schema, tmp_path) == ["001_bad"]
    assert await pool.fetchval("SELECT to_regclass($1)", f"{schema}.a") is None


async def test_crash_between_publish_and_commit_neither_loses_nor_duplicates(
    pool,
    nats_url: str,  # type: ignore[no-untyped-def]
) -> None:
    schema = f"o_{uuid.uuid4().hex[:8]}"
    await apply_migrations(pool, schema, None)
    key = f"cam{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn, conn.transaction():
        env = await stage(
            conn, schema, CameraRemoved(camera_id=key, reason="test"), source="test", key=key
        )
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    log = await EventLog().start(nats_url, (f"cctv.camera.removed.{key}",))
    crashes = 0

    async def publish_then_crash(subject: str, payload: bytes, msg_id: str) -> None:
        nonlocal crashes
        await js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
        if crashes == 0:
            crashes += 1
            raise ConnectionError("process died after publishing, before marking the row")

    relay = OutboxRelay(pool, schema, "test", publish_then_crash)
    with pytest.raises(ConnectionError):
        await relay.drain()
    assert (
        await pool.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL") == 1
    )
    assert await relay.drain() == 1  # the retry publishes the same id again
    assert await relay.drain() == 0
    # a later event proves the stream has moved on; the duplicate was dropped by JetStream
    async with pool.acquire() as conn, conn.transaction():
        await stage(
            conn, schema, CameraRemoved(camera_id=key, reason="later"), source="test", key=key
        )
    await relay.drain()
    seen = await log.wait_for("camera.removed", count=2)
    assert seen[0]["id"] == env.id
    assert [e["data"]["reason"] for e in log.matching("camera.removed")] == ["test", "later"]
    await log.close()
    await nc.close()


async def test_inbox_takes_each_event_once_per_consumer(pool) -> None:  # type: ignore[no-untyped-def]
    schema = f"i_{uuid.uuid4().hex[:8]}"
    await apply_migrations(pool, schema, None)
    async with pool.acquire() as conn:
        assert await first_delivery(conn, schema, "e1", "a")
        assert not await first_delivery(conn, schema, "e1", "a")
        assert await first_delivery(conn, schema, "e1", "b")


async def test_the_backlog_is_measured_for_the_outbox_alert(pool) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client import REGISTRY

    schema = f"o_{uuid.uuid4().hex[:8]}"
    service = f"svc_{schema}"
    await apply_migrations(pool, schema, None)

    async def never(_subject: str, _payload: bytes, _msg_id: str) -> None:
        raise AssertionError("not published in this test")

    relay = OutboxRelay(pool, schema, service, never)
    await relay.measure_backlog()
    assert REGISTRY.get_sample_value("cctv_outbox_pending", {"service": service}) == 0
    assert REGISTRY.get_sample_value("cctv_outbox_oldest_seconds", {"service": service}) == 0
    async with pool.acquire() as conn, conn.transaction():
        for i in range(3):
            await stage(conn, schema, CameraRemoved(camera_id=f"c{i}"), source="test", key=f"c{i}")
    await pool.execute(f"UPDATE {schema}.outbox SET created_at = now() - interval '90 seconds'")
    await relay.measure_backlog()
    assert REGISTRY.get_sample_value("cctv_outbox_pending", {"service": service}) == 3
    oldest = REGISTRY.get_sample_value("cctv_outbox_oldest_seconds", {"service": service})
    assert oldest is not None and oldest >= 90


async def test_the_relay_listens_again_after_a_database_outage(
    database_url: str, nats_url: str
) -> None:
    """PostgreSQL drops the relay's LISTEN connection in an outage; once it is back, a staged
    event is still published on its NOTIFY (polling is set to an hour here, so nothing else
    would publish it). Before, the relay kept the dead connection and only polled."""
    import asyncpg

    from tests.support.proxy import CuttableProxy, pg_through, pg_unix_socket
    from tests.support.waiting import ChangeFeed, eventually

    proxy = await CuttableProxy(unix_path=pg_unix_socket(database_url)).start()
    pool = await create_pool(pg_through(proxy))
    schema = f"o_{uuid.uuid4().hex[:8]}"
    await apply_migrations(pool, schema, None)
    published: list[str] = []
    feed = ChangeFeed()

    async def publish(_subject: str, _payload: bytes, msg_id: str) -> None:
        published.append(msg_id)
        feed.bump()

    async def sent() -> list[str]:
        return published

    relay = OutboxRelay(pool, schema, "test", publish, poll_s=3600.0)
    await relay.start()
    direct = await asyncpg.connect(database_url)
    try:
        for when in ("before", "after"):
            async with direct.transaction():
                env = await stage(
                    direct, schema, CameraRemoved(camera_id="c1", reason=when), source="ingest",
                    key="c1",
                )  # fmt: skip

            def out(p: list[str], i: str = env.id) -> bool:
                return i in p

            await eventually(sent, out, changes=feed, timeout=20,
                             what=f"the event staged {when} the outage published")  # fmt: skip
            if when == "before":
                await proxy.cut()
                await proxy.restore()
    finally:
        await relay.stop()
        await direct.close()
        await pool.close()
        await proxy.close()
