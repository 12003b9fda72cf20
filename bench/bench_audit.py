"""Audit log benchmarks (issue 3), on embedded NATS + PostgreSQL started here, free ports.

1. Throughput, JetStream -> committed entry: N access records are published into the
   CCTV_ACCESS stream, then the audit service (in this process, real batch pull consumers,
   real writer) drains them; rate = N / (last commit - first commit), run twice: with hashing
   and the Merkle tree, and with both switched off. The ratio is the cost of tamper evidence.
2. Append latency at 1,000 events/s: paced js.publish -> commit of the entry, p50/p99.
3. `verify` over 1,000,000 entries in PostgreSQL (written by the real writer).
4. Inclusion and consistency proof time on that 1,000,000-entry log, from PostgreSQL.

Sizes: BENCH_AUDIT_N (default 60000), BENCH_AUDIT_VERIFY_N (default 1000000).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("LOG_LEVEL", "WARNING")  # figures, not the services' info logs

import asyncpg  # noqa: E402
import nats  # noqa: E402

from bench.machine import describe  # noqa: E402
from cctv.contract import ensure_streams, subject_for, wrap  # noqa: E402
from cctv.contract.events import AccessRecorded  # noqa: E402
from cctv.devstack.embedded import EmbeddedNats, EmbeddedPostgres, free_port  # noqa: E402
from cctv.evidence import merkle  # noqa: E402
from cctv.evidence.checkpoint import Signer  # noqa: E402
from cctv.evidence.entry import Witnessed  # noqa: E402
from cctv.plumbing.db import apply_migrations, create_pool  # noqa: E402
from services.audit import api, store  # noqa: E402
from services.audit.app import AuditService, build  # noqa: E402
from services.audit.settings import AuditSettings  # noqa: E402
from services.audit.writer import AuditWriter, WriterConfig  # noqa: E402

MIGRATIONS = REPO / "services" / "audit" / "migrations"


def machine() -> str:
    """bench.machine.describe() plus the load average: the machine is often shared."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{describe()}; load average {load}"


def event_bytes(i: int) -> tuple[str, bytes, str]:
    ev = AccessRecorded(
        action="view",
        actor=f"user-{i % 50}",
        camera_ids=[f"cam-{i % 300}"],
        request_no=f"DY-2026-{i % 1000:04d}",
        detail="查阅 routine viewing",
    )
    env = wrap(ev, source="console", key=f"cam-{i % 300}", actor=f"user-{i % 50}")
    return subject_for(ev, f"cam-{i % 300}"), env.to_bytes(), env.id


_TEMPLATE: dict[str, object] = {}


def cheap_event(i: int) -> tuple[str, str, bytes]:
    """The same envelope as event_bytes, without pydantic: a million of them in seconds."""
    if not _TEMPLATE:
        _TEMPLATE.update(json.loads(event_bytes(0)[1]))
    env = dict(_TEMPLATE)
    eid = f"{uuid.UUID(int=i)}"
    cam, actor = f"cam-{i % 300}", f"user-{i % 50}"
    env.update(id=eid, key=cam, actor=actor)
    env["data"] = {
        **_TEMPLATE["data"],  # type: ignore[dict-item]
        "actor": actor,
        "camera_ids": [cam],
        "request_no": f"DY-2026-{i % 1000:04d}",
    }
    return f"cctv.access.recorded.{cam}", eid, json.dumps(env, ensure_ascii=False).encode()


async def preload(nats_url: str, n: int) -> None:
    """Fill the stream first (core publish + flush: JetStream stores without per-message acks)."""
    nc = await nats.connect(nats_url)
    for i in range(n):
        subject, data, eid = event_bytes(i)
        await nc.publish(subject, data, headers={"Nats-Msg-Id": eid})
        if i % 5000 == 4999:
            await nc.flush()
    await nc.flush()
    js = nc.jetstream()
    deadline = time.monotonic() + 120
    while (await js.stream_info("CCTV_ACCESS")).state.messages < n:
        if time.monotonic() > deadline:
            raise RuntimeError("stream did not receive every message")
        await asyncio.sleep(0.1)
    await nc.close()


def audit_settings(nats_url: str, db: str, home: Path, tamper: bool) -> AuditSettings:
    schema = f"audit_{'on' if tamper else 'off'}_{uuid.uuid4().hex[:6]}"
    return AuditSettings(
        nats_url=nats_url,
        database_url=db,
        audit_schema=schema,
        audit_origin=f"bench/{schema}",
        audit_key_name=f"bench/{schema}",
        data_dir=home / schema,
        tamper_evidence=tamper,
        batch_size=4000,
        batch_wait_s=0.02,
        checkpoint_every=10_000,
        checkpoint_interval_s=5.0,
    )


async def drain(nats_url: str, db: str, home: Path, n: int, tamper: bool) -> float:
    s = audit_settings(nats_url, db, home, tamper)
    svc = build(s)
    done = asyncio.Event()
    stamps: list[float] = []
    count = 0

    def on_commit(ids: list[str]) -> None:
        nonlocal count
        count += len(ids)
        stamps.append(time.perf_counter())
        if count >= n:
            done.set()

    async with svc.running():
        audit: AuditService = svc.state["audit"]
        await audit.ready.wait()
        assert audit.writer is not None
        audit.writer.on_commit = on_commit
        start = time.perf_counter()
        await asyncio.wait_for(done.wait(), 600)
        end = stamps[-1]
    return n / (end - start)


async def latency(nats_url: str, db: str, home: Path, rate: int, seconds: float) -> list[float]:
    s = audit_settings(nats_url, db, home, True)
    svc = build(s)
    sent: dict[str, float] = {}
    lat: list[float] = []

    def on_commit(ids: list[str]) -> None:
        now = time.perf_counter()
        for eid in ids:
            t = sent.pop(eid, None)
            if t is not None:
                lat.append(now - t)

    total = int(rate * seconds)
    async with svc.running():
        audit: AuditService = svc.state["audit"]
        await audit.ready.wait()
        assert audit.writer is not None
        # first consume what earlier runs left in the stream, then measure
        backlog = await _stream_size(nats_url)
        caught_up = asyncio.Event()
        audit.writer.on_commit = lambda _ids: (
            caught_up.set() if audit.writer and audit.writer.size >= backlog else None
        )
        if audit.writer.size < backlog:
            await asyncio.wait_for(caught_up.wait(), 600)
        all_in = asyncio.Event()

        def measured(ids: list[str]) -> None:
            on_commit(ids)
            if len(lat) >= total:
                all_in.set()

        audit.writer.on_commit = measured
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        t0 = time.perf_counter()
        for i in range(total):
            target = t0 + i / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            subject, data, eid = event_bytes(10_000_000 + i)
            sent[eid] = time.perf_counter()
            await js.publish(subject, data, headers={"Nats-Msg-Id": eid})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), 30)
        await nc.close()
    return lat


async def _stream_size(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return int((await nc.jetstream().stream_info("CCTV_ACCESS")).state.messages)
    finally:
        await nc.close()


async def big_log(db: str, n: int) -> tuple[str, Signer]:
    schema = f"audit_big_{uuid.uuid4().hex[:6]}"
    admin = await create_pool(db)
    await apply_migrations(admin, schema, MIGRATIONS)
    await admin.close()
    pool = await asyncpg.create_pool(db, user=f"{schema}_writer", min_size=1, max_size=2)
    assert pool is not None
    signer = Signer.generate(f"bench/{schema}")
    w = AuditWriter(pool, schema, signer, WriterConfig(f"bench/{schema}", checkpoint_every=100_000))
    await w.start()
    t0 = time.perf_counter()
    step = 20_000
    for start in range(0, n, step):
        await w.append(
            [Witnessed.event(*cheap_event(i)) for i in range(start, min(n, start + step))]
        )
    await w.checkpoint_if_due(force=True)
    print(
        f"  (wrote {n:,} entries with the writer, no NATS: "
        f"{n / (time.perf_counter() - t0):,.0f} entries/s)"
    )
    await pool.close()
    return schema, signer


async def verify_and_prove(db: str, n: int) -> None:
    schema, signer = await big_log(db, n)
    conn = await asyncpg.connect(db)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        report, problems = await api.verify(conn, schema, signer.verifier)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert report.ok and not problems, (report.findings, problems)
        print(
            f"verify over {report.size:,} entries: {dt:.1f} s "
            f"({cpu:.1f} s CPU in the verifier process; "
            f"{len(report.checkpoints_ok)} signed checkpoints checked)  [target <= 60 s]"
        )
        size = report.size
        rng = random.Random(7)
        incl: list[float] = []
        cons: list[float] = []
        for _ in range(300):
            i = rng.randrange(size)
            t = time.perf_counter()
            proof = await store.resolve(conn, schema, merkle.inclusion_plan(i, size))
            incl.append(time.perf_counter() - t)
            leaf = (await store.get_nodes(conn, schema, [(0, i)]))[(0, i)]
            merkle.verify_inclusion(i, size, leaf, proof, report.root)
            m = rng.randrange(1, size)
            t = time.perf_counter()
            await store.resolve(conn, schema, merkle.consistency_plan(m, size))
            cons.append(time.perf_counter() - t)
        print(
            f"inclusion proof at {size:,} entries (PostgreSQL): "
            f"median {statistics.median(incl) * 1e3:.2f} ms, "
            f"p99 {sorted(incl)[int(len(incl) * 0.99)] * 1e3:.2f} ms  [target <= 5 ms]"
        )
        print(
            f"consistency proof at {size:,} entries (PostgreSQL): "
            f"median {statistics.median(cons) * 1e3:.2f} ms, "
            f"p99 {sorted(cons)[int(len(cons) * 0.99)] * 1e3:.2f} ms  [target <= 5 ms]"
        )
    finally:
        await conn.close()


def memory_proofs(n: int) -> None:
    tree = merkle.MemoryTree()
    for i in range(n):
        tree.append_leaf_hash(merkle.leaf_hash(i.to_bytes(8, "big")))
    rng = random.Random(3)
    t = time.perf_counter()
    for _ in range(1000):
        tree.inclusion_proof(rng.randrange(n))
        tree.consistency_proof(rng.randrange(1, n))
    per = (time.perf_counter() - t) / 2000
    print(f"proof from the in-memory tree at {n:,} entries: {per * 1e3:.3f} ms each")


async def main() -> None:
    n = int(os.environ.get("BENCH_AUDIT_N", "60000"))
    nv = int(os.environ.get("BENCH_AUDIT_VERIFY_N", "1000000"))
    print(f"machine: {machine()}")
    home = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    nats_srv = EmbeddedNats(home / "nats", free_port()).start()
    pg = EmbeddedPostgres(home / "pg").start()
    try:
        nc = await nats.connect(nats_srv.url)
        await ensure_streams(nc.jetstream())
        await nc.close()
        await preload(nats_srv.url, n)
        # Alternate the two modes and keep each one's best run: other load on a shared
        # machine otherwise decides the ratio.
        ons: list[float] = []
        offs: list[float] = []
        for _ in range(int(os.environ.get("BENCH_AUDIT_ROUNDS", "2"))):
            ons.append(await drain(nats_srv.url, pg.url, home, n, True))
            offs.append(await drain(nats_srv.url, pg.url, home, n, False))
        on, off = max(ons), max(offs)
        print(
            f"throughput JetStream -> committed entry, {n:,} events: "
            f"{on:,.0f} ev/s with hash chain + Merkle tree, {off:,.0f} ev/s without; "
            f"ratio {on / off:.2f}  [targets >= 10,000 ev/s, ratio >= 0.8]; runs: "
            f"{', '.join(f'{x:,.0f}' for x in ons)} / {', '.join(f'{x:,.0f}' for x in offs)}"
        )
        nc = await nats.connect(nats_srv.url)
        await nc.jetstream().purge_stream("CCTV_ACCESS")  # the latency run starts from empty
        await nc.close()
        lat = await latency(nats_srv.url, pg.url, home, 1000, 10.0)
        lat.sort()
        print(
            f"append latency at 1,000 ev/s ({len(lat):,} events, js.publish -> commit): "
            f"p50 {lat[len(lat) // 2] * 1e3:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1e3:.1f} ms"
            "  [target p99 <= 50 ms]"
        )
        memory_proofs(min(nv, 1_000_000))
        await verify_and_prove(pg.url, nv)
    finally:
        pg.stop()
        nats_srv.stop()


if __name__ == "__main__":
    asyncio.run(main())
