"""Bench: what one tamper check costs — RTSP OPTIONS/DESCRIBE, one decoded frame (PyAV),
the numpy checks — client CPU and simulator CPU measured separately.

    .venv/bin/python bench/bench_media_frames.py [--grabs 200] [--concurrency 4]

Prints per-check CPU (ms), wall p50/p99, and how many cameras one core could check every
5 minutes at that cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import describe  # noqa: E402
from services.ingest.adapters.rtsp_probe import RtspProbe, RtspStatus  # noqa: E402
from services.ingest.frames import FrameSampler  # noqa: E402
from services.ingest.tamper import assess, confirm_reference  # noqa: E402


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(args: argparse.Namespace, server: subprocess.Popen[str], port: int) -> None:
    sampler = FrameSampler(max_concurrency=args.concurrency, open_timeout=10, read_timeout=10)
    probe = RtspProbe(connect_timeout=5, request_timeout=5, sampler=sampler)
    url = f"rtsp://127.0.0.1:{port}/cam/bench-{{}}"
    # warm up: the simulator encodes each scene variant once
    warm = await probe.probe("w", url.format(0), grab_frame=True)
    assert warm.frame is not None, warm.error
    ref = confirm_reference("w", warm.frame.pixels, "bench")
    await asyncio.gather(*(probe.probe("w", url.format(i), grab_frame=True) for i in range(24)))

    walls: list[float] = []
    sem = asyncio.Semaphore(args.concurrency * 2)

    async def one(i: int) -> None:
        async with sem:
            t = time.perf_counter()
            r = await probe.probe(f"c{i}", url.format(i % args.cameras), grab_frame=True)
            assert r.status is RtspStatus.OK and r.frame is not None, r.error
            assess("w", r.frame.pixels, ref)
            walls.append(time.perf_counter() - t)

    c0, s0, t0 = time.process_time(), cpu_of(server.pid), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(args.grabs)))
    c1, s1, t1 = time.process_time(), cpu_of(server.pid), time.perf_counter()
    probe.close()

    client_ms = (c1 - c0) / args.grabs * 1000
    server_ms = (s1 - s0) / args.grabs * 1000
    walls.sort()
    p99 = walls[min(len(walls) - 1, int(len(walls) * 0.99))]
    rate = args.grabs / (t1 - t0)
    print(f"checks: {args.grabs}, concurrency {args.concurrency}, {t1 - t0:.1f}s, {rate:.1f}/s")
    print(f"ingest CPU per check: {client_ms:.1f} ms (RTSP + decode + tamper checks)")
    print(f"simulator CPU per check: {server_ms:.1f} ms")
    print(f"wall per check: p50 {statistics.median(walls) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    print(f"one core checks {int(300 / (client_ms / 1000)):,} cameras every 5 min at this cost")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grabs", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--cameras", type=int, default=500)
    args = ap.parse_args()
    print(f"machine: {describe()}", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "demo.simulator.rtsp_server", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        m = re.search(r":(\d+)/cam/", line)
        if not m:
            raise SystemExit(f"simulator did not start: {line!r}")
        asyncio.run(bench(args, server, int(m.group(1))))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
