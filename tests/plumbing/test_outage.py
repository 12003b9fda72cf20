"""A PostgreSQL outage is not a bad message (issue 17): a handler that fails because the
database is unreachable holds its message — far past the bad-message retry budget — with
/readyz failing, dead-letters nothing, and handles everything once the database is back."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import nats
import pytest

from cctv.contract import Envelope, Event, subject_for, wrap
from cctv.contract.events import CameraRemoved
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings
from tests.support.proxy import CuttableProxy, pg_through, pg_unix_socket
from tests.support.waiting import ChangeFeed, eventually


async def as_ingest(svc: Service, event: CameraRemoved, key: str) -> Envelope:
    """camera.removed is ingest's to publish (issue 11): the envelope names ingest."""
    env = wrap(event, source="ingest", key=key)
    await svc.publish_raw(subject_for(event, key), env.to_bytes(), env.id)
    return env


@pytest.mark.parametrize(
    ("ack_wait_s", "retries"),
    [
        (5.0, 6),  # past the bad-message budget
        # past ack_wait five times over: in_progress() keeps the message, so a 5-minute
        # outage (ten ack_waits of 30 s) is the same mechanism, only longer
        (1.0, 18),
    ],
)
async def test_handlers_wait_out_a_database_outage_and_lose_nothing(
    nats_url: str, database_url: str, ack_wait_s: float, retries: int
) -> None:
    proxy = await CuttableProxy(unix_path=pg_unix_socket(database_url)).start()
    key = f"o{uuid.uuid4().hex[:8]}"
    name = f"outage{key}"
    settings = ServiceSettings(
        nats_url=nats_url,
        database_url=pg_through(proxy),
        max_deliver=2,
        infra_backoff_max_s=0.3,
        ack_wait_s=ack_wait_s,
        poison_deliveries=2,
    )
    svc = Service(name, settings, schema=f"s_{key}")
    attempts: Counter[str] = Counter()
    changes = ChangeFeed()

    async def handler(env: Envelope, _event: Event) -> None:
        attempts[env.id] += 1
        try:
            assert svc.pool is not None
            await svc.pool.execute(
                f"INSERT INTO s_{key}.seen VALUES ($1) ON CONFLICT DO NOTHING", env.id
            )
        finally:
            changes.bump()

    svc.consume(f"cctv.camera.removed.{key}", durable=f"outage-{key}", handler=handler)
    dead: list[Any] = []
    nc = await nats.connect(nats_url)

    async def on_dead(msg: Any) -> None:
        dead.append(json.loads(msg.data)["data"]["reason"])
        changes.bump()

    await nc.subscribe(f"cctv.dlq.dead_letter.{name}", cb=on_dead)
    direct = None
    try:
        async with svc.running():
            assert svc.pool is not None
            await svc.pool.execute(f"CREATE TABLE s_{key}.seen (id text PRIMARY KEY)")
            direct = await _connect(database_url)

            async def stored() -> int:
                return int(await direct.fetchval(f"SELECT count(*) FROM s_{key}.seen"))

            await as_ingest(svc, CameraRemoved(camera_id="c0", reason="before"), key)
            await eventually(stored, lambda n: n == 1, changes=changes, what="first stored")
            await proxy.cut()
            during = [
                await as_ingest(svc, CameraRemoved(camera_id=f"c{i}", reason="during"), key)
                for i in range(1, 6)
            ]
            # Far past the bad-message budget (max_deliver 2) while the database is away. The
            # consumer pauses: what it fetched is held, the rest waits in the stream.
            await eventually(
                lambda: _get(max(attempts[e.id] for e in during)),
                lambda n: n >= retries,
                changes=changes,
                timeout=60,
                what="held messages retried in place",
            )
            problems = await svc.readiness_problems()
            assert any("waiting for the infrastructure" in p for p in problems), problems
            assert not dead, dead
            await proxy.restore()
            await eventually(stored, lambda n: n == 6, changes=changes, timeout=60,
                             what="all six stored after the outage")  # fmt: skip
            assert not any("waiting" in p for p in await svc.readiness_problems())
            info = await nc.jetstream().consumer_info("CCTV_CAMERA", f"outage-{key}")
            assert info.num_redelivered == 0  # held in place, not redelivered
        assert not dead, dead
    finally:
        if direct is not None:
            await direct.close()
        await nc.close()
        await proxy.close()


def test_a_hold_longer_than_ack_wait_is_refused_at_start() -> None:
    """A pause between keep-alives as long as ack_wait would let JetStream redeliver a held
    message during an outage, each time a delivery toward the poison limit."""
    svc = Service("holds", ServiceSettings(ack_wait_s=4.0, infra_backoff_max_s=5.0))

    async def handler(_env: Envelope, _event: Event) -> None:
        return None

    with pytest.raises(ValueError, match=r"INFRA_BACKOFF_MAX_S \(5.0\).*ACK_WAIT_S \(4.0\)"):
        svc.consume("cctv.camera.removed.holds", durable="holds", handler=handler)


async def _get(value: int) -> int:
    return value


async def _connect(database_url: str) -> Any:
    import asyncpg

    return await asyncio.wait_for(asyncpg.connect(database_url), 10)
