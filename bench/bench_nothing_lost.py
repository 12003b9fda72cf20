"""Nothing-lost benchmarks (issue 17), on embedded NATS + PostgreSQL started here, free ports.

1. Drain: N malformed messages (BENCH_POISON_N, default 10000) wait in a stream; a service's
   consumer (the real shell: pull batches of 32, each message dead-lettered with its reason
   and acked) drains them. Time from consumer start to the last dead letter seen on the bus.
2. Outage: the PostgreSQL connections of a service's consumer and of the audit service go
   through a proxy that is cut for --pg-outage-s seconds (default 20; the issue's figure is
   for 300) while events arrive at 20/s (a camera.removed for the consumer, an
   access.recorded for audit). Reported for each: events stored / published, dead letters
   (must be 0), and the recovery time from the proxy's restore to the last event stored.

    .venv/bin/python bench/bench_nothing_lost.py                      # drain + 20 s outage
    .venv/bin/python bench/bench_nothing_lost.py --skip-drain --pg-outage-s 300
"""

from __future__ import annotations

import argparse
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

from bench.bench_audit import audit_settings  # noqa: E402
from bench.machine import describe  # noqa: E402
from cctv.contract import Envelope, Event, ensure_streams, subject_for, wrap  # noqa: E402
from cctv.contract.events import AccessRecorded, CameraRemoved  # noqa: E402
from cctv.devstack.embedded import EmbeddedNats, EmbeddedPostgres, free_port  # noqa: E402
from cctv.plumbing.service import Service  # noqa: E402
from cctv.plumbing.settings import ServiceSettings  # noqa: E402
from services.audit.app import AuditService  # noqa: E402
from services.audit.app import build as build_audit  # noqa: E402
from tests.support.proxy import CuttableProxy, pg_through  # noqa: E402


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


async def outage(nats_url: str, database_url: str, socket: str, seconds: float, home: Path) -> str:
    proxy = await CuttableProxy(unix_path=socket).start()
    key = f"o{uuid.uuid4().hex[:6]}"
    name = f"outage{key}"
    through = pg_through(proxy)
    settings = ServiceSettings(nats_url=nats_url, database_url=through, log_level="ERROR")
    svc = Service(name, settings, schema=f"s_{key}")
    audit_cfg = audit_settings(nats_url, through, home, tamper=True)
    audit_schema = audit_cfg.audit_schema
    audit_svc = build_audit(audit_cfg)
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

    dead = {"consumer": 0, "audit": 0}
    nc = await nats.connect(nats_url)
    js = nc.jetstream()

    async def on_dead(msg: object) -> None:
        dead["audit" if "audit" in msg.subject else "consumer"] += 1  # type: ignore[attr-defined]

    await nc.subscribe(f"cctv.dlq.dead_letter.{name}", cb=on_dead)
    await nc.subscribe("cctv.dlq.dead_letter.audit", cb=on_dead)
    svc.consume(f"cctv.camera.removed.{key}", durable=f"outage-{key}", handler=store_it)
    published = 0
    access_ids: list[str] = []
    async with svc.running(), audit_svc.running():
        audit: AuditService = audit_svc.state["audit"]
        await asyncio.wait_for(audit.ready.wait(), 30)
        await proxy.cut()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            env = wrap(CameraRemoved(camera_id=f"c{published}", reason="outage"),
                       source="ingest", key=key)  # fmt: skip
            await svc.publish_raw(f"cctv.camera.removed.{key}", env.to_bytes(), env.id)
            ev = AccessRecorded(action="view", actor="bench", camera_ids=[f"c{published}"],
                                request_no=f"DY-{key}", detail="outage bench")  # fmt: skip
            acc = wrap(ev, source="console", key=f"cam-{key}", actor="bench")
            await js.publish(subject_for(ev, f"cam-{key}"), acc.to_bytes(),
                             headers={"Nats-Msg-Id": acc.id})  # fmt: skip
            access_ids.append(acc.id)
            published += 1
            await asyncio.sleep(0.05)
        target["n"] = published
        await proxy.restore()
        restored = time.perf_counter()
        await asyncio.wait_for(all_stored.wait(), 600)
        recovery = time.perf_counter() - restored
        audit_recovery = None
        while time.perf_counter() - restored < 600:
            logged = await direct.fetchval(
                f"SELECT count(*) FROM {audit_schema}.entry WHERE event_id = ANY($1::text[])",
                access_ids,
            )
            if logged >= len(access_ids):
                audit_recovery = time.perf_counter() - restored
                break
            await asyncio.sleep(0.1)
    stored = await direct.fetchval(f"SELECT count(*) FROM s_{key}.seen")
    logged = await direct.fetchval(
        f"SELECT count(DISTINCT event_id) FROM {audit_schema}.entry "
        "WHERE event_id = ANY($1::text[])",
        access_ids,
    )
    await direct.close()
    await nc.close()
    await proxy.close()
    audit_took = "never" if audit_recovery is None else f"{audit_recovery:.1f}s"
    return (
        f"outage {seconds:.0f}s at 20 ev/s:\n"
        f"  consumer: {stored}/{published} events stored, {dead['consumer']} dead letters, "
        f"all stored {recovery:.1f}s after PostgreSQL came back\n"
        f"  audit:    {logged}/{published} events logged, {dead['audit']} dead letters, "
        f"all logged {audit_took} after PostgreSQL came back"
    )


async def main(home: Path, args: argparse.Namespace) -> None:
    nats_server = EmbeddedNats(home / "nats", free_port()).start()
    pg = EmbeddedPostgres(home / "pg").start()
    try:
        nc = await nats.connect(nats_server.url)
        await ensure_streams(nc.jetstream())
        await nc.close()
        print(f"machine: {describe()}")
        if not args.skip_drain:
            n = args.poison_n
            took = await drain(nats_server.url, pg.url, n)
            print(f"drain: {n} malformed messages dead-lettered in {took:.1f}s "
                  f"({n / took:.0f} msg/s)")  # fmt: skip
        socket = f"{home / 'pg'}/.s.PGSQL.5432"
        print(await outage(nats_server.url, pg.url, socket, args.pg_outage_s, home))
    finally:
        pg.stop()
        nats_server.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg-outage-s", type=float,
                   default=float(os.environ.get("BENCH_OUTAGE_S", "20")),
                   help="how long PostgreSQL is cut (the issue's figure: 300)")  # fmt: skip
    p.add_argument("--poison-n", type=int, default=int(os.environ.get("BENCH_POISON_N", "10000")),
                   help="malformed messages to drain")  # fmt: skip
    p.add_argument("--skip-drain", action="store_true", help="only the outage")
    args = p.parse_args(argv)
    if args.pg_outage_s <= 0 or args.poison_n <= 0:
        p.error("--pg-outage-s and --poison-n must be positive")
    return args


if __name__ == "__main__":
    arguments = parse()
    folder = Path(tempfile.mkdtemp(prefix="cctv-bench-lost-"))
    folder.chmod(0o755)  # the pgserver OS user must enter it
    asyncio.run(main(folder, arguments))
