"""Nothing-lost benchmarks (issue 17), on embedded NATS + PostgreSQL started here, free ports.

1. Drain: N malformed messages (BENCH_POISON_N, default 10000) wait in a stream; a service's
   consumer (the real shell: pull batches of 32, each message dead-lettered with its reason
   and acked) drains them. Time from consumer start to the last dead letter seen on the bus.
2. Outage: the service's PostgreSQL connection goes through a proxy that is cut for
   BENCH_OUTAGE_S seconds (default 20; the issue's figure is for 300) while events arrive at
   20/s. Reported: events stored / published, dead letters (must be 0), and the recovery time
   from the proxy's restore to the last event stored.

    .venv/bin/python bench/bench_nothing_lost.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("LOG_LEVEL", "ERROR")

import asyncpg  # noqa: E402
import nats  # noqa: E402

from bench.machine import describe  # noqa: E402
from cctv.contract import Envelope, Event, ensure_streams  # noqa: E402
from cctv.contract.events import CameraRemoved  # noqa: E402
from cctv.devstack.embedded import EmbeddedNats, EmbeddedPostgres, free_port  # noqa: E402
from cctv.plumbing.service import Service  # noqa: E402
from cctv.plumbing.settings import ServiceSettings  # noqa: E402
from tests.support.proxy import CuttableProxy  # noqa: E402


async def drain(nats_url: str, database_url: str, n: int) -> float:
    key = f"b{uuid.uuid4().hex[:6]}"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for i in range(n):
        await js.publish(f"cctv.camera.removed.{key}", b'{"not": "an envelope", "i": %d}' % i)
    seen = 0
    done = asyncio.Event()

    async def on_dead(_msg: object) -> None:
        nonlocal seen
        seen += 1
        if seen >= n:
            done.set()

    name = f"drain{key}"
    await nc.subscribe(f"cctv.dlq.dead_letter.{name}", cb=on_dead)
    svc = Service(name, ServiceSettings(nats_url=nats_url, database_url=database_url,
                                        log_level="ERROR"), schema=f"s_{key}")  # fmt: skip

    async def never(_env: Envelope, _ev: Event) -> None:
        raise AssertionError("a malformed message reached the handler")

    svc.consume(f"cctv.camera.removed.{key}", durable=f"drain-{key}", handler=never)
    async with svc.running():
        started = time.perf_counter()
        await asyncio.wait_for(done.wait(), 600)
        took = time.perf_counter() - started
    await nc.close()
    return took


async def outage(nats_url: str, database_url: str, socket: str, seconds: float) -> str:
    proxy = await CuttableProxy(unix_path=socket).start()
    key = f"o{uuid.uuid4().hex[:6]}"
    name = f"outage{key}"
    settings = ServiceSettings(
        nats_url=nats_url,
        database_url=f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres",
        log_level="ERROR",
    )
    svc = Service(name, settings, schema=f"s_{key}")
    direct = await asyncpg.connect(database_url)
    await direct.execute(f"CREATE SCHEMA IF NOT EXISTS s_{key}")
    await direct.execute(f"CREATE TABLE s_{key}.seen (id text PRIMARY KEY)")

    stored_ids: set[str] = set()
    target = {"n": 1 << 60}
    all_stored = asyncio.Event()

    async def store_it(env: Envelope, _ev: Event) -> None:
        assert svc.pool is not None
        await svc.pool.execute(f"INSERT INTO s_{key}.seen VALUES ($1) ON CONFLICT DO NOTHING",
                               env.id)  # fmt: skip
        stored_ids.add(env.id)
        if len(stored_ids) >= target["n"]:
            all_stored.set()

    dead = 0
    nc = await nats.connect(nats_url)

    async def on_dead(_msg: object) -> None:
        nonlocal dead
        dead += 1

    await nc.subscribe(f"cctv.dlq.dead_letter.{name}", cb=on_dead)
    svc.consume(f"cctv.camera.removed.{key}", durable=f"outage-{key}", handler=store_it)
    published = 0
    async with svc.running():
        await proxy.cut()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await svc.publish(CameraRemoved(camera_id=f"c{published}", reason="outage"), key=key)
            published += 1
            await asyncio.sleep(0.05)
        target["n"] = published
        await proxy.restore()
        restored = time.perf_counter()
        await asyncio.wait_for(all_stored.wait(), 600)
        recovery = time.perf_counter() - restored
    stored = await direct.fetchval(f"SELECT count(*) FROM s_{key}.seen")
    await direct.close()
    await nc.close()
    await proxy.close()
    return (
        f"outage {seconds:.0f}s: {stored}/{published} events stored, {dead} dead letters, "
        f"recovered {recovery:.1f}s after PostgreSQL came back"
    )


async def main(home: Path) -> None:
    n = int(os.environ.get("BENCH_POISON_N", "10000"))
    seconds = float(os.environ.get("BENCH_OUTAGE_S", "20"))
    nats_server = EmbeddedNats(home / "nats", free_port()).start()
    pg = EmbeddedPostgres(home / "pg").start()
    try:
        nc = await nats.connect(nats_server.url)
        await ensure_streams(nc.jetstream())
        await nc.close()
        print(f"machine: {describe()}")
        took = await drain(nats_server.url, pg.url, n)
        print(f"drain: {n} malformed messages dead-lettered in {took:.1f}s ({n / took:.0f} msg/s)")
        print(await outage(nats_server.url, pg.url, f"{home / 'pg'}/.s.PGSQL.5432", seconds))
    finally:
        pg.stop()
        nats_server.stop()


if __name__ == "__main__":
    folder = Path(tempfile.mkdtemp(prefix="cctv-bench-lost-"))
    folder.chmod(0o755)  # the pgserver OS user must enter it
    asyncio.run(main(folder))
