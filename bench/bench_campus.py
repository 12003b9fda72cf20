"""The whole system at a NIC's scale (issue 9's and 10's figures), as `make run` runs it.

    .venv/bin/python bench/bench_campus.py [--cameras 5000] [--minutes 30] [--hog]
        [--period 30] [--outages 20]

Every service as its own process on embedded NATS and PostgreSQL, the simulator serving the
demo campus grown to `--cameras` (CCTV_DEMO_CAMERAS: ISAPI, Dahua and ONVIF devices, one
loopback address each, RTSP for the tamper checks), one ingest replica sampling every camera
each `--period` seconds. `--hog` runs a process spinning on one core for the whole bench, so
the system has one of the machine's two cores.

1. Soak: `--minutes` with every camera healthy. Printed: faults opened on healthy cameras (the
   target is 0), by kind, and ingest's own load (probe lag, skipped and unmeasured probes,
   event-loop lag).
2. Outages: `--outages` cameras in different zones go offline one after another. For each,
   from the sample that reaches the damping threshold (the DOWN_AFTER-th failed sample) to the
   fault opened and to the first alert delivered to a person: p50/p99 (target p99 <= 2 s).
3. A recorder goes down (every camera on it offline at once): faults, repair tickets and the
   messages each person on duty receives; then it comes back: time until all is resolved.
4. Health restarts: time until every camera has its `cctv_camera_up` series again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import nats  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.machine import describe  # noqa: E402
from cctv.devstack.stack import Stack  # noqa: E402


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Bus:
    """Every event on the bus as it arrives (core subscription: arrival time is ours)."""

    def __init__(self) -> None:
        self.by_type: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
        self.failed_samples: dict[str, list[float]] = defaultdict(list)
        self.waiters: list[tuple[Any, asyncio.Future[tuple[float, dict[str, Any]]]]] = []

    async def start(self, url: str) -> None:
        self.nc = await nats.connect(url)
        await self.nc.subscribe("cctv.>", cb=self._on)

    async def _on(self, msg: Any) -> None:
        now = time.monotonic()
        try:
            env = json.loads(msg.data)
            kind, data = env["type"], env["data"]
        except (ValueError, KeyError, TypeError):
            return
        if kind == "telemetry.sample":
            if data.get("measured", True) and not data.get("reachable", True):
                self.failed_samples[data["camera_id"]].append(now)
            return
        self.by_type[kind].append((now, data))
        for match, fut in list(self.waiters):
            if not fut.done() and match(kind, data):
                fut.set_result((now, data))

    async def wait(self, match: Any, timeout: float) -> tuple[float, dict[str, Any]]:
        fut: asyncio.Future[tuple[float, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        for kind, seen in self.by_type.items():
            for now, data in seen:
                if match(kind, data):
                    return now, data
        self.waiters.append((match, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.waiters.remove((match, fut))

    def since(self, kind: str, t0: float) -> list[dict[str, Any]]:
        return [d for t, d in self.by_type.get(kind, []) if t >= t0]


def metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name] = max(out[s.name], s.value) if "lag" in s.name else out[s.name] + s.value
    return out


async def ingest_load(http: httpx.AsyncClient, stack: Stack) -> dict[str, float]:
    m = metrics((await http.get(f"{stack.url('ingest')}/metrics")).text)
    keys = (
        "cctv_ingest_samples_total",
        "cctv_ingest_probes_skipped_total",
        "cctv_ingest_probes_unmeasured_total",
        "cctv_ingest_samples_dropped_total",
        "cctv_ingest_event_loop_lag_seconds",
    )
    return {k: round(m.get(k, 0.0), 3) for k in keys}


async def camera_series(http: httpx.AsyncClient, stack: Stack) -> int:
    try:
        text = (await http.get(f"{stack.url('health')}/metrics", timeout=5)).text
    except httpx.HTTPError:
        return 0
    return sum(1 for line in text.splitlines() if line.startswith("cctv_camera_up{"))


async def sim(http: httpx.AsyncClient, stack: Stack, camera_id: str, action: str) -> None:
    r = await http.post(f"{stack.url('simulator')}/control/cameras/{camera_id}/{action}", json={})
    r.raise_for_status()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["CCTV_DEMO_CAMERAS"] = str(args.cameras)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from demo.campus import generate

    campus = generate(cameras=args.cameras)
    home = Path(tempfile.mkdtemp(prefix="bench-campus-"))
    stack = Stack.for_tests(
        home,
        SAMPLE_INTERVAL_S=str(args.period),
        DOWN_AFTER=str(args.down_after),
        LOG_LEVEL="WARNING",
    )
    result: dict[str, Any] = {"cameras": args.cameras, "period_s": args.period, "hog": args.hog}
    bus = Bus()
    try:
        t0 = time.monotonic()
        await asyncio.to_thread(stack.start_infra)
        stack.write_endpoints()
        await bus.start(stack.nats_url or "")
        await asyncio.to_thread(stack.start_standins)
        await asyncio.to_thread(stack.start_services, None, 300)
        result["ready_s"] = round(time.monotonic() - t0, 1)
        async with httpx.AsyncClient(timeout=30) as http:
            pre = {
                c["camera_id"]
                for c in (await http.get(f"{stack.url('simulator')}/control/cameras")).json()
                if c["faults"]
            }
            t_series = time.monotonic()
            while await camera_series(http, stack) < args.cameras:
                if time.monotonic() - t_series > 600:
                    break
                await asyncio.sleep(1)
            result["all_series_after_start_s"] = round(time.monotonic() - t_series, 1)

            # 1. soak
            soak_start = time.monotonic()
            print(f"soak {args.minutes} min …", flush=True)
            await asyncio.sleep(args.minutes * 60)
            opened = [d for d in bus.since("fault.opened", soak_start) if d["camera_id"] not in pre]
            result["soak"] = {
                "minutes": args.minutes,
                "faults_on_healthy_cameras": len(opened),
                "by_kind": dict(Counter(d["kind"] for d in opened)),
                "tickets": len(bus.since("fault.ticket_opened", soak_start)),
                "preexisting_simulator_faults": len(pre),
                "ingest": await ingest_load(http, stack),
            }

            # 2. outages, one camera per zone in turn
            by_zone: dict[str, list[str]] = defaultdict(list)
            for c in campus:
                if c.camera_id not in pre and c.nvr_id:
                    by_zone[c.zone].append(c.camera_id)
            picks: list[str] = []
            zones = sorted(by_zone)
            i = 0
            while len(picks) < args.outages:
                z = zones[i % len(zones)]
                picks.append(by_zone[z][(i // len(zones)) * 7 % len(by_zone[z])])
                i += 1
            to_fault: list[float] = []
            to_alert: list[float] = []
            for cid in picks:
                bus.failed_samples.pop(cid, None)
                await sim(http, stack, cid, "break")
                t_open, fault = await bus.wait(
                    lambda k, d, cid=cid: k == "fault.opened" and d["camera_id"] == cid,
                    args.period * (args.down_after + 4),
                )
                fails = bus.failed_samples.get(cid, [])
                threshold = fails[args.down_after - 1] if len(fails) >= args.down_after else t_open
                _, alert = await bus.wait(
                    lambda k, d, f=fault["fault_id"]: (
                        k == "alert.raised" and d.get("fault_id") == f
                    ),
                    60,
                )
                t_deliv, _ = await bus.wait(
                    lambda k, d, a=alert["alert_id"]: k == "alert.delivered" and d["alert_id"] == a,
                    60,
                )
                to_fault.append(t_open - threshold)
                to_alert.append(t_deliv - threshold)
                await sim(http, stack, cid, "mend")
            result["outage_to_fault_s"] = {
                "p50": round(pct(to_fault, 0.5), 2),
                "p99": round(pct(to_fault, 0.99), 2),
            }
            result["outage_to_first_alert_delivered_s"] = {
                "p50": round(pct(to_alert, 0.5), 2),
                "p99": round(pct(to_alert, 0.99), 2),
                "n": len(to_alert),
            }

            # 3. a recorder goes down
            nvrs = Counter(c.nvr_id for c in campus if c.nvr_id and c.camera_id not in pre)
            nvr = min(nvrs, key=lambda n: (abs(nvrs[n] - 64), n))
            on_nvr = [c.camera_id for c in campus if c.nvr_id == nvr]
            t_down = time.monotonic()
            await asyncio.gather(*(sim(http, stack, cid, "break") for cid in on_nvr))
            deadline = t_down + args.period * (args.down_after + 4) + 60
            while time.monotonic() < deadline:
                opened = bus.since("fault.opened", t_down)
                if any(d["kind"] == "recorder_offline" for d in opened):
                    break
                await asyncio.sleep(1)
            await asyncio.sleep(min(args.period, 30))  # let grouping and stragglers settle
            opened = bus.since("fault.opened", t_down)
            raised = bus.since("alert.raised", t_down)
            t_up = time.monotonic()
            await asyncio.gather(*(sim(http, stack, cid, "mend") for cid in on_nvr))
            open_ids = {d["fault_id"] for d in opened}
            resolved_in = None
            while time.monotonic() - t_up < args.period * (args.down_after + 6) + 60:
                done = {d["fault_id"] for d in bus.since("fault.resolved", t_down)}
                if open_ids <= done:
                    resolved_in = round(time.monotonic() - t_up, 1)
                    break
                await asyncio.sleep(1)
            result["recorder_outage"] = {
                "recorder": nvr,
                "cameras": len(on_nvr),
                "faults": len(opened),
                "fault_kinds": dict(Counter(d["kind"] for d in opened)),
                "tickets": sum(
                    1 for d in bus.since("fault.ticket_opened", t_down) if d["fault_id"] in open_ids
                ),
                "messages_per_person": dict(Counter(d["recipient"] for d in raised)),
                "resolved_after_restore_s": resolved_in,
            }

            # 4. health restarts
            await asyncio.to_thread(stack.stop_process, "health")
            t_restart = time.monotonic()
            await asyncio.to_thread(stack.start_service, "health")
            while await camera_series(http, stack) < args.cameras:
                if time.monotonic() - t_restart > 600:
                    break
                await asyncio.sleep(0.5)
            result["health_restart_all_series_s"] = round(time.monotonic() - t_restart, 1)
    finally:
        with contextlib.suppress(Exception):
            await bus.nc.close()
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cameras", type=int, default=5000)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--period", type=float, default=30.0, help="sample interval (s), as deploy/k8s")
    p.add_argument("--down-after", type=int, default=3, help="damping: failed samples to a fault")
    p.add_argument("--outages", type=int, default=20)
    p.add_argument("--hog", action="store_true", help="a process spinning on one core throughout")
    args = p.parse_args()
    print(f"machine: {describe()}", flush=True)
    hog = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if args.hog else None
    try:
        result = asyncio.run(run(args))
    finally:
        if hog is not None:
            hog.kill()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"load average at the end: {load}")


if __name__ == "__main__":
    main()
