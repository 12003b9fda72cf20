"""Bench: ingest replicas sampling N simulated cameras every period (default 5,000 / 30 s).

    .venv/bin/python bench/bench_ingest.py [--cameras 5000] [--period 30] [--replicas 3]

The simulator runs as its own process (one loopback address per device, real ISAPI and
Dahua HTTP with digest auth). Each replica here is what `python -m services.ingest` runs for
sampling: the spread sampler (services/ingest/sampler.py) over the protocol adapters
(DeviceProbes, deep probes every 10th sample), every sample published to a real JetStream
(embedded nats-server, the contract's streams) and, when sharing, membership in the KV
bucket (services/ingest/sharding.py).

Part 1: one replica, the whole fleet, two periods: probes/s, the CPU the replica used,
sample-age p99 (how old each camera's latest sample is, observed every second after the first
period), probe lag and latency.
Part 2: `--replicas` replicas share the fleet for 1.5 periods (overlap and gap counted over a
full period), then one is killed without a goodbye (its tasks cancelled, its heartbeat just
stops): how long until every one of its cameras is sampled by a survivor, against the period.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402

from bench.machine import describe  # noqa: E402
from bench.stats import pct  # noqa: E402
from cctv.contract import CameraRecord, ensure_streams  # noqa: E402
from cctv.contract.codec import subject_for, wrap  # noqa: E402
from cctv.contract.events import HealthSample  # noqa: E402
from cctv.devstack.embedded import EmbeddedNats, free_port, wait_for_port  # noqa: E402
from services.ingest.adapters.base import Credentials  # noqa: E402
from services.ingest.adapters.credentials import CredentialResolver  # noqa: E402
from services.ingest.adapters.wiring import DeviceProbes  # noqa: E402
from services.ingest.sampler import SpreadSampler  # noqa: E402
from services.ingest.settings import IngestSettings  # noqa: E402
from services.ingest.sharding import Membership  # noqa: E402

PROTOCOL = {"hikvision": "isapi", "dahua": "dahua"}


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def camera(cid: str, vendor: str, host: str, port: int, channel: int = 1) -> CameraRecord:
    if channel > 1:
        cid = f"{cid}-c{channel}"
    return CameraRecord(
        camera_id=cid, name=cid, system_id="BENCH", department="nic",
        managing_department="logistics", category="public_safety", building="bench",
        position=cid, zone="bench", brand=vendor, protocol=PROTOCOL[vendor],  # type: ignore[arg-type]
        address=f"{host}:{port}", channel=channel, nvr_id=cid.split("-c")[0],
    )  # fmt: skip


@dataclass
class Log:
    """Who sampled which camera when (monotonic seconds)."""

    by_camera: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))
    lags: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)

    def add(self, sample: HealthSample, replica: str) -> None:
        self.by_camera[sample.camera_id].append((time.monotonic(), replica))
        if sample.latency_ms is not None:
            self.latencies.append(sample.latency_ms)
        if sample.error:
            kind = sample.error.split(":", 1)[0]
            self.failures[kind] = self.failures.get(kind, 0) + 1

    def last(self, cid: str) -> float | None:
        seen = self.by_camera.get(cid)
        return seen[-1][0] if seen else None


class Replica:
    """One ingest replica's sampling: the service's sampler, adapters, publishing, sharding."""

    def __init__(self, name: str, nats_url: str, cameras: list[CameraRecord], log: Log,
                 period: float, concurrency: int, shard_ttl_s: float | None) -> None:  # fmt: skip
        self.name, self.nats_url, self.cameras, self.log = name, nats_url, cameras, log
        self.period, self.concurrency, self.shard_ttl_s = period, concurrency, shard_ttl_s
        self.membership: Membership | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self, rounds: int | None = None) -> None:
        self.nc = await nats.connect(self.nats_url)
        js = self.nc.jetstream()
        settings = IngestSettings(
            device_connect_timeout_s=3.0, device_read_timeout_s=5.0,
            device_max_connections=self.concurrency, deep_probe_every=10,
            sample_interval_s=self.period,
        )  # fmt: skip
        self.probes = DeviceProbes(
            settings, CredentialResolver(Path("/nonexistent")), Credentials("admin", "sim-pass"),
            shard=self.name,
        )  # fmt: skip
        if self.shard_ttl_s is not None:
            self.membership = Membership(js, self.name, ttl_s=self.shard_ttl_s,
                                         bucket="bench_ingest_members")  # fmt: skip
            await self.membership.start()

        async def emit(sample: HealthSample) -> None:
            env = wrap(sample, source="ingest", key=sample.camera_id)
            await js.publish(
                subject_for(sample, sample.camera_id), env.to_bytes(),
                headers={"Nats-Msg-Id": env.id}, timeout=10,
            )  # fmt: skip
            self.log.add(sample, self.name)

        self.sampler = SpreadSampler(
            lambda _c: self.probes, emit, period_s=self.period,
            concurrency=self.concurrency, timeout_s=10.0,
        )  # fmt: skip

        async def all_cameras() -> list[CameraRecord]:
            return self.cameras

        m = self.membership
        self.task = asyncio.create_task(
            self.sampler.run(
                all_cameras,
                rounds=rounds,
                mine=m.owns if m is not None else None,
                members=(lambda: tuple(m.live)) if m is not None else None,
            )
        )

    async def kill(self) -> None:
        """Die without a goodbye: sampling stops, the heartbeat stops, the key stays."""
        assert self.task is not None
        self.task.cancel()
        for t in list(self.sampler.running.values()):
            t.cancel()
        if self.membership is not None:
            await self.membership.stop(leave=False)
        await self.nc.close()
        await self.probes.close()

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        await self.sampler.drain()
        if self.membership is not None:
            await self.membership.stop(leave=True)
        await self.nc.close()
        await self.probes.close()


async def one_replica(args: argparse.Namespace, nats_url: str, nats_pid: int, sim_pid: int,
                      cams: list[CameraRecord]) -> dict[str, Any]:  # fmt: skip
    log = Log()
    rep = Replica("replica-1", nats_url, cams, log, args.period, args.concurrency, None)
    ages: list[float] = []
    t0 = time.monotonic()

    async def observe() -> None:
        await asyncio.sleep(args.period)  # every camera has had its first slot
        while True:
            now = time.monotonic()
            ages.extend(now - (log.last(c.camera_id) or t0) for c in cams)
            await asyncio.sleep(1.0)

    gc.collect()
    gc.freeze()  # long-lived inventory objects need no cyclic GC: no gen-2 pauses in probes
    load0 = os.getloadavg()[0]
    cpu0, nats0, sim0 = self_cpu_s(), proc_cpu_s(nats_pid), proc_cpu_s(sim_pid)
    await rep.start(rounds=args.rounds)
    obs = asyncio.create_task(observe())
    assert rep.task is not None
    await rep.task
    obs.cancel()
    wall = time.monotonic() - t0
    cpu = self_cpu_s() - cpu0
    nats_cpu, sim_cpu = proc_cpu_s(nats_pid) - nats0, proc_cpu_s(sim_pid) - sim0
    await rep.stop()
    probes = rep.sampler.stats.probes
    return {
        "cameras": len(cams), "period_s": args.period, "rounds": args.rounds,
        "wall_s": round(wall, 1), "probes": probes, "probes_per_s": round(probes / wall, 1),
        "skipped_still_running": rep.sampler.stats.skipped,
        "replica_cpu_s": round(cpu, 1), "replica_cpu_cores": round(cpu / wall, 2),
        "nats_server_cpu_cores": round(nats_cpu / wall, 2),
        "simulator_cpu_cores": round(sim_cpu / wall, 2),
        "sample_age_p50_s": round(pct(ages, 0.5), 2),
        "sample_age_p99_s": round(pct(ages, 0.99), 2),
        "sample_age_max_s": round(max(ages) if ages else float("nan"), 2),
        "probe_lag_max_s": round(rep.sampler.stats.max_lag_s, 3),
        "latency_p50_ms": round(pct(log.latencies, 0.5), 1),
        "latency_p99_ms": round(pct(log.latencies, 0.99), 1),
        "failures": log.failures,
        "loadavg_1m_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }  # fmt: skip


async def sharing(args: argparse.Namespace, nats_url: str, cams: list[CameraRecord]
                  ) -> dict[str, Any]:  # fmt: skip
    log = Log()
    ttl = args.shard_ttl
    reps = [
        Replica(f"replica-{i + 1}", nats_url, cams, log, args.period, args.concurrency, ttl)
        for i in range(args.replicas)
    ]
    for r in reps:
        await r.start()
    # all members see each other before the steady window starts
    for _ in range(100):
        seen = [len(await r.membership.members()) for r in reps if r.membership is not None]
        if all(n == len(reps) for n in seen):
            break
        await asyncio.sleep(0.2)
    t_steady = time.monotonic() + args.period * 0.25
    t_kill = t_steady + args.period  # one whole period of steady sharing
    await asyncio.sleep(t_kill - time.monotonic())
    victim = reps[-1]
    steady = {
        cid: {rep for t, rep in seen if t_steady <= t < t_kill}
        for cid, seen in log.by_camera.items()
    }
    owned_by_victim = [c.camera_id for c in cams if steady.get(c.camera_id) == {victim.name}]
    last_by_victim = {cid: log.last(cid) or t_kill for cid in owned_by_victim}
    await victim.kill()
    t_settled = t_kill + ttl + args.period * 0.5  # the takeover is over well before this
    t_end = t_settled + args.period + 1.0
    await asyncio.sleep(t_end - time.monotonic())
    survivors = reps[:-1]
    for r in survivors:
        await r.stop()

    overlap = sum(1 for c in cams if len(steady.get(c.camera_id, set())) > 1)
    # a gap: a camera with no sample in the window (+1 s: a probe's own latency varies)
    gap = sum(
        1
        for c in cams
        if not any(t_steady <= t < t_kill + 1.0 for t, _ in log.by_camera.get(c.camera_id, []))
    )
    shares = {r.name: sum(1 for s in steady.values() if s == {r.name}) for r in reps}
    takeover, age_at_takeover, not_taken = [], [], 0
    for cid in owned_by_victim:
        after = [(t, rep) for t, rep in log.by_camera[cid] if t >= t_kill and rep != victim.name]
        if not after:
            not_taken += 1
            continue
        takeover.append(after[0][0] - t_kill)
        age_at_takeover.append(after[0][0] - last_by_victim[cid])
    # after the takeover settles: one period in which no camera has two survivors, none none
    late = {
        cid: {rep for t, rep in seen if t_settled <= t < t_settled + args.period}
        for cid, seen in log.by_camera.items()
    }
    overlap_after = sum(1 for s in late.values() if len(s) > 1)
    gap_after = sum(
        1
        for c in cams
        if not any(
            t_settled <= t < t_settled + args.period + 1.0
            for t, _ in log.by_camera.get(c.camera_id, [])
        )
    )
    # the longest time any camera went without a sample, over the whole sharing run
    intervals = [
        b[0] - a[0] for seen in log.by_camera.values() for a, b in itertools.pairwise(seen)
    ]
    return {
        "replicas": args.replicas, "cameras": len(cams), "period_s": args.period,
        "membership_ttl_s": ttl,
        "steady_window_s": args.period,
        "cameras_sampled_by_two_replicas_in_window": overlap,
        "cameras_not_sampled_in_window_plus_1s": gap,
        "shares": shares,
        "killed": victim.name, "killed_cameras": len(owned_by_victim),
        "killed_cameras_not_taken_over": not_taken,
        "takeover_after_kill_p99_s": round(pct(takeover, 0.99), 1),
        "takeover_after_kill_max_s": round(max(takeover) if takeover else float("nan"), 1),
        "killed_cameras_sample_age_at_takeover_max_s": round(
            max(age_at_takeover) if age_at_takeover else float("nan"), 1),
        "all_taken_over_within_one_period": bool(takeover) and max(takeover) <= args.period,
        "after_takeover_window_s": args.period,
        "after_takeover_sampled_by_two": overlap_after,
        "after_takeover_not_sampled": gap_after,
        "longest_interval_between_samples_s": round(max(intervals) if intervals else 0.0, 1),
        "failures": log.failures,
    }  # fmt: skip


async def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    nats_srv = EmbeddedNats(home / "nats", free_port()).start()
    sim = None
    try:
        wait_for_port("127.0.0.1", nats_srv.port, 20)
        nc = await nats.connect(nats_srv.url)
        await ensure_streams(nc.jetstream())
        await nc.close()
        sim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "demo.simulator.devices",
            "--count", str(-(-args.cameras // args.channels)), "--channels", str(args.channels),
            "--layout", "ip", "--list", cwd=ROOT, stdout=asyncio.subprocess.PIPE, limit=1 << 24,
        )  # fmt: skip
        assert sim.stdout is not None
        ready = json.loads(await asyncio.wait_for(sim.stdout.readline(), 180))
        cams = [
            camera(i, v, h, p, ch)
            for i, v, h, p in ready["devices"]
            for ch in range(1, args.channels + 1)
        ][: args.cameras]
        assert nats_srv.proc is not None
        out: dict[str, Any] = {"machine": describe()}
        out["one_replica"] = await one_replica(args, nats_srv.url, nats_srv.proc.pid, sim.pid, cams)
        if args.replicas > 1:
            out["sharing"] = await sharing(args, nats_srv.url, cams)
        return out
    finally:
        if sim is not None:
            sim.terminate()
            await sim.wait()
        nats_srv.stop()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cameras", type=int, default=5000)
    p.add_argument("--period", type=float, default=30.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument(
        "--channels", type=int, default=1,
        help="cameras per simulated device (recorder channels; 1: every camera its own device)",
    )  # fmt: skip
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--replicas", type=int, default=3, help="part 2; 1 skips it")
    p.add_argument("--shard-ttl", type=float, default=10.0, help="membership key TTL (s)")
    args = p.parse_args()
    print(f"machine: {describe()}", flush=True)
    result = asyncio.run(run(args))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    one = result["one_replica"]
    print(
        f"\none replica: {one['cameras']} cameras every {one['period_s']:g} s -> "
        f"{one['probes_per_s']} probes/s, replica CPU {one['replica_cpu_cores']} cores, "
        f"sample-age p99 {one['sample_age_p99_s']} s"
    )
    if "sharing" in result:
        s = result["sharing"]
        print(
            f"{s['replicas']} replicas: overlap {s['cameras_sampled_by_two_replicas_in_window']}, "
            f"gap {s['cameras_not_sampled_in_window_plus_1s']} in one period; "
            f"{s['killed']} killed -> "
            f"its {s['killed_cameras']} cameras taken over within "
            f"{s['takeover_after_kill_max_s']} s (period {s['period_s']:g} s, "
            f"TTL {s['membership_ttl_s']:g} s)"
        )


if __name__ == "__main__":
    main()
