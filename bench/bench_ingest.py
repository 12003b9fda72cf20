"""Bench: one ingest process sampling N simulated cameras every period (default 5,000 / 30 s).

    .venv/bin/python bench/bench_ingest.py [--cameras 5000] [--period 30] [--rounds 2]

The simulator runs as a separate process (one loopback address per device, real HTTP with
digest auth); this process runs the real adapters under the real scheduler. Reported, as
one JSON document: probes/s, CPU used by the ingest process (and by the simulator, which
shares the machine), sample-age p99 (how old each camera's latest sample is, observed once
a second after the first period), probe lag and latency p99, failures, and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.ingest.adapters import build_adapters  # noqa: E402
from services.ingest.adapters.base import Credentials, DeviceTarget, ProbeResult  # noqa: E402
from services.ingest.adapters.http import DeviceHttp, HttpSettings  # noqa: E402
from services.ingest.adapters.scheduler import ProbeScheduler  # noqa: E402


def machine() -> dict[str, object]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(
            next(
                line
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            ).split()[1]
        )
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def run(args: argparse.Namespace) -> dict[str, object]:
    sim = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "demo.simulator.devices",
        "--count",
        str(args.cameras),
        "--layout",
        "ip",
        "--list",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 24,
    )
    try:
        assert sim.stdout is not None
        line = await asyncio.wait_for(sim.stdout.readline(), 120)
        ready = json.loads(line)
        proto = {"hikvision": "isapi", "dahua": "dahua"}
        creds = Credentials("admin", "sim-pass")
        targets = [DeviceTarget(i, proto[v], h, p, 1, creds) for i, v, h, p in ready["devices"]]
        http = DeviceHttp(
            HttpSettings(connect_timeout_s=3, read_timeout_s=5, max_connections=args.concurrency)
        )
        sched = ProbeScheduler(
            build_adapters(http),
            period_s=args.period,
            concurrency=args.concurrency,
            probe_timeout_s=10,
            deep_every=10,
        )
        last: dict[str, float] = {}
        lags: list[float] = []
        lags_steady: list[float] = []
        latencies: list[float] = []
        failures: dict[str, int] = {}

        def on_result(t: DeviceTarget, r: ProbeResult, lag: float) -> None:
            now = time.monotonic()
            last[t.camera_id] = now
            lags.append(lag)
            if now - t_start > args.period:
                lags_steady.append(lag)
            if r.latency_ms is not None:
                latencies.append(r.latency_ms)
            if r.error:
                kind = r.error.split(":", 1)[0]
                failures[kind] = failures.get(kind, 0) + 1

        ages: list[float] = []
        t_start = time.monotonic()

        async def observe() -> None:
            await asyncio.sleep(args.period)  # every camera has had its first slot
            while True:
                now = time.monotonic()
                ages.extend(now - last.get(c.camera_id, t_start) for c in targets)
                await asyncio.sleep(1.0)

        # Long-lived inventory objects need no cyclic GC: keeps gen-2 pauses out of probes.
        gc.collect()
        gc.freeze()
        load0 = os.getloadavg()[0]
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        sim_cpu0 = proc_cpu_s(sim.pid)
        wall0 = time.monotonic()
        obs = asyncio.create_task(observe())
        await sched.run(lambda: targets, on_result, rounds=args.rounds)
        await sched.drain()
        obs.cancel()
        wall = time.monotonic() - wall0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        sim_cpu = proc_cpu_s(sim.pid) - sim_cpu0
        await http.close()
    finally:
        sim.terminate()
        await sim.wait()
    ingest_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "cameras": args.cameras,
        "period_s": args.period,
        "rounds": args.rounds,
        "wall_s": round(wall, 1),
        "probes": sched.stats.probes,
        "probes_per_s": round(sched.stats.probes / wall, 1),
        "ingest_cpu_s": round(ingest_cpu, 1),
        "ingest_cpu_cores": round(ingest_cpu / wall, 2),
        "simulator_cpu_cores": round(sim_cpu / wall, 2),
        "sample_age_p99_s": round(pct(ages, 0.99), 2),
        "sample_age_max_s": round(max(ages) if ages else float("nan"), 2),
        "probe_lag_p50_s": round(pct(lags, 0.5), 3),
        "probe_lag_p99_s": round(pct(lags, 0.99), 3),
        "probe_lag_p99_after_first_period_s": round(pct(lags_steady, 0.99), 3),
        "latency_p50_ms": round(pct(latencies, 0.5), 1),
        "latency_p99_ms": round(pct(latencies, 0.99), 1),
        "failures": failures,
        "timeouts": sched.stats.timeouts,
        "machine": machine(),
        # other work on the machine competes for the same cores: read figures with this
        "loadavg_1m_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cameras", type=int, default=5000)
    p.add_argument("--period", type=float, default=30.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=256)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
