"""Bench: does ingest answer request-reply while it probes the whole demo campus (issue 9)?

    .venv/bin/python bench/bench_ingest_rpc.py [--seconds 20] [--no-hog]

Starts the whole system as the e2e tests do (embedded NATS and PostgreSQL, the simulator,
every service; 322 cameras sampled every second), then asks `cctv.rpc.ingest.cameras` (what
`cctv cameras list --building 实训楼` asks) twice a second for `--seconds`, first alone, then
with a CPU hog (`while 1: pass`, nice 0) taking a core. Prints p50 / p95 / max reply time (a
request unanswered in 10 s counts as 99 s), ingest's CPU share, and its load metrics
(event-loop lag per loop, probes skipped / not measured by reason).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import nats

from bench.machine import describe
from cctv.devstack.stack import Stack
from tests.e2e.conftest import whole_system


async def replies(url: str, seconds: float) -> list[float]:
    nc = await nats.connect(url)
    took: list[float] = []
    end = time.monotonic() + seconds
    payload = json.dumps({"building": "实训楼"}).encode()
    try:
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                await nc.request("cctv.rpc.ingest.cameras", payload, timeout=10)
                took.append(time.monotonic() - t0)
            except Exception:
                took.append(99.0)
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
    return sorted(took)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase(stack: Stack, name: str, seconds: float) -> None:
    pid = stack.procs["ingest"].popen.pid
    c0, t0 = cpu_seconds(pid), time.monotonic()
    took = asyncio.run(replies(str(stack.nats_url), seconds))
    cpu = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    p = lambda q: took[min(len(took) - 1, int(len(took) * q))]  # noqa: E731
    print(
        f"{name:<8} replies={len(took):3d} p50={p(0.5):.3f}s p95={p(0.95):.3f}s "
        f"max={took[-1]:.3f}s ingest_cpu={cpu:.2f} core"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--no-hog", action="store_true")
    args = ap.parse_args()
    print(describe())
    with whole_system("bench-rpc") as stack:
        phase(stack, "alone", args.seconds)
        if not args.no_hog:
            hog = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
            try:
                phase(stack, "cpu hog", args.seconds)
            finally:
                hog.kill()
        metrics = httpx.get(f"{stack.url('ingest')}/metrics", timeout=10).text
        for line in metrics.splitlines():
            if line.startswith(
                ("cctv_ingest_event_loop_lag_seconds", "cctv_ingest_probes_unmeasured_total{",
                 "cctv_ingest_probes_skipped_total ")
            ):  # fmt: skip
                print(line)


if __name__ == "__main__":
    main()
