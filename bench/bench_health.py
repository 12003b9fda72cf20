"""Health benchmarks (issue 9), on embedded NATS + PostgreSQL started here, free ports; the
real health service (build()) in this process, the repair stand-in on a real socket.

1. Restart: time from health's start until every inventory camera has its series
   (`cctv_camera_up`) and, after a restart, its state restored (`cctv_camera_state`).
2. Outage -> fault: with every camera sampled in the background (period BENCH_HEALTH_PERIOD_S),
   single cameras fail; from the damping threshold's sample published to `fault.opened`
   received on NATS, p50/p99. (The alert after it is notify's; not run here.)
3. A recorder with 64 cameras goes down: faults opened, tickets in the repair system, states;
   then it comes back: time until its fault is resolved and every camera is up.

Sizes: BENCH_HEALTH_CAMERAS (default 2000), BENCH_HEALTH_OUTAGES (default 30).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("LOG_LEVEL", "WARNING")

import nats  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402

from bench.machine import describe  # noqa: E402
from cctv.contract import CameraRecord, ensure_streams, subject_for, wrap  # noqa: E402
from cctv.contract.events import CameraUpserted, HealthSample  # noqa: E402
from cctv.devstack.embedded import EmbeddedNats, EmbeddedPostgres, free_port  # noqa: E402
from demo.repair_system import RepairStore, serve  # noqa: E402
from services.health import app as health_app  # noqa: E402
from services.health.settings import HealthSettings  # noqa: E402

NVR = "NVR-BENCH"
BUILDINGS = ("综合楼", "图书馆", "实验楼", "教学楼", "宿舍1栋", "宿舍2栋", "食堂", "体育馆")


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{describe()}; load average {load}"


def camera(i: int) -> CameraRecord:
    on_nvr = i < 64
    b = BUILDINGS[0] if on_nvr else BUILDINGS[i % len(BUILDINGS)]
    return CameraRecord(
        camera_id=f"B-{i:05d}", name=f"cam {i}", system_id="A1-01", department="security",
        managing_department="logistics", category="public_safety", building=b,
        position=f"{i % 7}F", zone=f"{b}区", brand="hikvision", protocol="isapi",
        address="127.0.0.1:80", nvr_id=NVR if on_nvr else f"NVR-{i // 16:04d}",
        channel=i % 64 + 1,
    )  # fmt: skip


def lag() -> str:
    v = REGISTRY.get_sample_value(
        "cctv_consumer_pending", {"service": "health", "consumer": "health-samples-v1"}
    )
    o = REGISTRY.get_sample_value("cctv_outbox_pending", {"service": "health"})
    behind = f"samples consumer {v:.0f} behind" if v is not None else "consumer lag unknown"
    return f"{behind}, outbox {o or 0:.0f} unpublished"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def series_count(name: str, **match: str) -> int:
    n = 0
    for m in REGISTRY.collect():
        for s in m.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in match.items()):
                n += 1 if name != "cctv_camera_state" or s.value == 1 else 0
    return n


class Sampler:
    """Every camera sampled once per period, like ingest; `broken` ones fail."""

    def __init__(self, nc: nats.NATS, ids: list[str], period: float) -> None:
        self.nc, self.ids, self.period = nc, ids, period
        self.broken: set[str] = set()
        self.failed: dict[str, int] = {}
        self.threshold_at: dict[str, float] = {}  # when a camera's 3rd failed sample went out

    async def publish(self, camera_id: str, ok: bool) -> None:
        s = HealthSample(camera_id=camera_id, sampled_at=datetime.now(UTC), reachable=ok)
        env = wrap(s, source="ingest", key=camera_id)
        await self.nc.publish(subject_for(s, camera_id), env.to_bytes())

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            for n, cid in enumerate(self.ids):
                ok = cid not in self.broken
                await self.publish(cid, ok)
                if not ok:
                    self.failed[cid] = self.failed.get(cid, 0) + 1
                    if self.failed[cid] == 3:
                        self.threshold_at[cid] = time.perf_counter()
                if n % 100 == 99:
                    await asyncio.sleep(self.period * 100 / len(self.ids) * 0.9)
            await asyncio.sleep(max(0.0, self.period - (time.perf_counter() - started)))


async def main() -> None:
    n = int(os.environ.get("BENCH_HEALTH_CAMERAS", "2000"))
    outages = int(os.environ.get("BENCH_HEALTH_OUTAGES", "30"))
    period = float(os.environ.get("BENCH_HEALTH_PERIOD_S", "10"))
    print(f"machine: {machine()}")
    print(f"cameras: {n}, sample period {period:.0f} s, down after 3 failed samples")
    home = Path(tempfile.mkdtemp(prefix="bench-health-"))
    nats_srv = EmbeddedNats(home / "nats", free_port()).start()
    pg = EmbeddedPostgres(home / "pg").start()
    repair_port = free_port()
    repair_store = RepairStore(home / "repair.sqlite")
    runner = await serve(repair_store, "127.0.0.1", repair_port)
    nc = await nats.connect(nats_srv.url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        cams = [camera(i) for i in range(n)]
        for c in cams:
            ev = CameraUpserted(camera=c)
            env = wrap(ev, source="ingest", key=c.camera_id)
            await js.publish(subject_for(ev, c.camera_id), env.to_bytes())
        settings = HealthSettings(
            nats_url=nats_srv.url, database_url=pg.url, ticket_poll_s=0.5,
            repair_url=f"http://127.0.0.1:{repair_port}",
        )  # fmt: skip

        # 1. first start: every camera has a series when start returns
        t0 = time.perf_counter()
        svc = health_app.build(settings)
        async with svc.running():
            first = time.perf_counter() - t0
            have = series_count("cctv_camera_up")
            print(f"1. first start: {have}/{n} cameras have cctv_camera_up after {first:.2f} s")

            faults: list[tuple[float, dict]] = []
            got = asyncio.Event()

            async def on_fault(msg: nats.aio.msg.Msg) -> None:
                faults.append((time.perf_counter(), json.loads(msg.data)))
                got.set()

            listener = await nats.connect(nats_srv.url)  # not behind the sampler's traffic
            await listener.subscribe("cctv.fault.>", cb=on_fault)
            ids = [c.camera_id for c in cams]
            sampler = Sampler(nc, ids, period)
            task = asyncio.create_task(sampler.run())
            up_deadline = time.perf_counter() + 120
            while series_count("cctv_camera_state", state="up") < n:
                if time.perf_counter() > up_deadline:
                    break
                await asyncio.sleep(0.5)
            print(f"   all up after {time.perf_counter() - t0:.1f} s "
                  f"({series_count('cctv_camera_state', state='up')}/{n})")  # fmt: skip

            # 2. single cameras break at random moments over one period; each is sampled at
            # the period like any other; from its 3rd failed sample (the damping threshold)
            # published to fault.opened received
            latencies: list[float] = []
            rnd = random.Random(7)
            singles = rnd.sample(ids[64:], outages)
            for cid in singles:
                sampler.broken.add(cid)
                await asyncio.sleep(period / outages)
            deadline = time.perf_counter() + 4 * period + 10
            while time.perf_counter() < deadline:
                opened = {
                    f["data"]["camera_id"]: t for t, f in faults if f["type"] == "fault.opened"
                }
                if all(c in opened and c in sampler.threshold_at for c in singles):
                    break
                await asyncio.sleep(0.5)
            latencies = [
                opened[c] - sampler.threshold_at[c]
                for c in singles
                if c in opened and c in sampler.threshold_at
            ]
            print(
                f"2. outage -> fault.opened on NATS ({len(latencies)}/{outages} outages, "
                f"background {n / period:.0f} samples/s): p50 {pct(latencies, 0.5) * 1000:.0f} ms"
                f", p99 {pct(latencies, 0.99) * 1000:.0f} ms; {lag()}"
            )
            assert svc.pool is not None
            split = await svc.pool.fetchrow(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "
                "o.created_at - f.opened_at)) AS handled, percentile_cont(0.5) WITHIN GROUP "
                "(ORDER BY extract(epoch FROM o.published_at - o.created_at)) AS relayed "
                "FROM health.faults f JOIN health.outbox o ON o.subject = "
                "'cctv.fault.opened.' || f.camera_id WHERE f.camera_id = ANY($1::text[])",
                singles,
            )
            print(
                f"   of which p50: sample -> fault committed {split['handled'] * 1000:.0f} ms, "
                f"committed -> published {split['relayed'] * 1000:.0f} ms"
            )

            # 3. a recorder with 64 cameras goes down, then comes back
            nvr_ids = ids[:64]
            mark = len(faults)
            sampler.broken.update(nvr_ids)
            for _ in range(3):
                for cid in nvr_ids:
                    await sampler.publish(cid, False)
            await asyncio.sleep(3 + 2 * settings.ticket_poll_s)  # let tickets be opened
            opened = [
                f["data"] for _, f in faults[mark:]
                if f["type"] == "fault.opened"
                and (f["data"]["camera_id"] in nvr_ids or f["data"]["camera_id"] == NVR)
            ]  # fmt: skip
            tickets = [
                t for t in repair_store.all()
                if t.get("external_ref") in {f["fault_id"] for f in opened}
            ]  # fmt: skip
            unreachable = series_count("cctv_camera_state", state="unreachable")
            print(
                f"3. recorder of 64 down: {len(opened)} fault(s) opened "
                f"({', '.join(sorted({f['kind'] for f in opened}))}), {len(tickets)} ticket(s), "
                f"{unreachable} cameras unreachable; {lag()}"
            )
            sampler.broken.difference_update(nvr_ids)
            back = time.perf_counter()
            for _ in range(2):
                for cid in nvr_ids:
                    await sampler.publish(cid, True)
            while time.perf_counter() - back < 120:
                resolved = [
                    f for _, f in faults
                    if f["type"] == "fault.resolved" and f["data"]["camera_id"] == NVR
                ]  # fmt: skip
                up_now = {
                    smp.labels["camera_id"]
                    for m in REGISTRY.collect()
                    if m.name == "cctv_camera_state"
                    for smp in m.samples
                    if smp.labels.get("state") == "up" and smp.value == 1
                }
                ups = len(up_now & set(nvr_ids))
                if resolved and ups == 64:
                    break
                await asyncio.sleep(0.5)
            print(
                f"   restored: recorder fault resolved and {ups}/64 up "
                f"{time.perf_counter() - back:.2f} s after the first good round was published; "
                f"{lag()}"
            )
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await listener.close()

        # 4. restart: a fresh registry view of the series, state restored from the database
        health_app.CAMERA_UP.clear()
        health_app.CAMERA_STATE.clear()
        t1 = time.perf_counter()
        svc = health_app.build(settings)
        async with svc.running():
            took = time.perf_counter() - t1
            print(
                f"4. restart: {series_count('cctv_camera_up')}/{n} series, "
                f"{series_count('cctv_camera_state', state='up')} restored up, "
                f"{series_count('cctv_camera_state', state='down')} down, "
                f"{took:.2f} s after start"
            )
    finally:
        await nc.close()
        await runner.cleanup()
        pg.stop()
        nats_srv.stop()


if __name__ == "__main__":
    asyncio.run(main())
