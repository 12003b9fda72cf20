"""Health you can believe, measured on the whole path (issue 9).

    .venv/bin/python bench/bench_health.py [--cameras 5000] [--minutes 30] [--hog]
                                           [--outages 30] [--period 5]

The services run as processes, as `make run` runs them (embedded NATS with the contract's
users, embedded PostgreSQL with per-service roles): ONE ingest replica probing `--cameras`
simulated devices (Hikvision ISAPI, Dahua HTTP, ONVIF, each at its own loopback address, RTSP
frames for the tamper watch) every `--period` s, health, notify and console (the people
directory notify's rosters come from), the repair and robot stand-ins. `--hog` starts a
process spinning on one core (`while 1: pass`) for the whole run.

Over a steady window of `--minutes` (after every camera is first up), printed with the machine:
1. faults and down states on cameras nobody touched (target 0);
2. `--outages` single cameras taken offline at the simulator, spread over the first half:
   from the damping threshold (the DOWN_AFTER-th failed sample seen on the bus) to
   `fault.opened` and to the first `alert.delivered` for that fault (notify's delivery to a
   person), p50/p99 (target p99 <= 2 s);
3. a recorder with 64 cameras goes down (at 55 %): faults opened by kind, repair tickets,
   alerts raised and messages delivered per person on duty; then it comes back: time until
   its fault is resolved and all 64 are up, against the sample period;
4. health restarted (at 75 %): time until every camera has its `cctv_camera_up` series and a
   restored state on /metrics.

A brief check: `--cameras 500 --minutes 2 --outages 5`. Full size (the issue's figures):
`--cameras 5000 --minutes 30 --hog`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LOG_LEVEL", "WARNING")

import httpx  # noqa: E402
import nats  # noqa: E402
import yaml  # noqa: E402

from bench.machine import describe  # noqa: E402
from cctv.contract import CameraRecord  # noqa: E402
from cctv.devstack.stack import Stack  # noqa: E402
from demo.campus import ZONES  # noqa: E402
from demo.simulator.devices.bridge import (  # noqa: E402
    DEMO_LOGIN,
    rtsp_template,
    with_device_addresses,
)

NVR = "NVR-BENCH"
DOWN_AFTER = 3  # health's default
BUILDINGS = (
    ("综合楼", "teaching"), ("教学楼", "teaching"), ("科技楼", "teaching"),
    ("学生公寓1栋", "living"), ("学生公寓2栋", "living"), ("食堂", "living"),
    ("南门", "gate"), ("北门", "gate"),
)  # fmt: skip
KINDS = (("hikvision", "isapi"), ("dahua", "dahua"), ("onvif", "onvif"))


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def load() -> str:
    return "load " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def camera(i: int) -> CameraRecord:
    """The first 64 hang on one recorder in 综合楼 (教学区); the rest spread over the campus."""
    building, zone = BUILDINGS[0] if i < 64 else BUILDINGS[i % len(BUILDINGS)]
    brand, protocol = KINDS[i % len(KINDS)]
    return CameraRecord(
        camera_id=f"B-{i:05d}", name=f"{building}{i}号", system_id="A1-01",
        department="logistics", managing_department="logistics", category="public_safety",
        building=building, position=f"{i % 7 + 1}楼", zone=ZONES[zone], brand=brand,  # type: ignore[arg-type]
        protocol=protocol, address="127.0.0.1:1",  # type: ignore[arg-type]
        nvr_id=NVR if i < 64 else f"NVR-{i // 32:04d}", channel=i % 64 + 1 if i < 64 else 1,
    )  # fmt: skip


def write_inventory(stack: Stack, n: int) -> Path:
    """The bench estate as an inventory file (for the simulator and ingest's seed), each
    camera at its simulated device, and the devices' login as the default device secret."""
    sim = f"127.0.0.1:{stack.ports['simulator']}"
    template = rtsp_template(sim)
    cams = with_device_addresses([camera(i) for i in range(n)], int(stack.ports["simulator"]))
    rows = [
        {**c.model_dump(mode="json"), "stream_url": template.format(camera_id=c.camera_id)}
        for c in cams
    ]
    folder = stack.home / "demo"
    (folder / "secrets").mkdir(parents=True, exist_ok=True)
    path = folder / "bench-inventory.yaml"
    path.write_text(yaml.safe_dump(rows, allow_unicode=True, sort_keys=False), encoding="utf-8")
    secret = folder / "secrets" / "cctv-device-default"
    secret.write_text(f"{DEMO_LOGIN[0]}:{DEMO_LOGIN[1]}\n", encoding="utf-8")
    secret.chmod(0o600)
    return path


def start(stack: Stack, inventory: Path) -> None:
    p = stack.ports
    stack.spawn("simulator", ["-m", "demo.simulator", "--port", str(p["simulator"]),
                              "--inventory", str(inventory)], p["simulator"])  # fmt: skip
    stack.spawn("repair", ["-m", "demo.repair_system", "--port", str(p["repair"]),
                           "--db", str(stack.home / "repairs.sqlite")], p["repair"])  # fmt: skip
    stack.spawn("webhook", ["-m", "demo.webhook_sink", "--port", str(p["webhook"]),
                            "--log", str(stack.home / "webhooks.jsonl")], p["webhook"])  # fmt: skip
    for name in ("simulator", "repair", "webhook"):
        stack._wait_port(name, timeout=120)
    for name in ("console", "notify", "health"):
        stack.start_service(name)
    stack.spawn(
        "ingest", ["-m", "services.ingest"], p["ingest"],
        {**stack.service_env("ingest"), "SEED_INVENTORY": str(inventory)},
    )  # fmt: skip
    for name in ("console", "notify", "health", "ingest"):
        stack.wait_ready(name, timeout=300)


@dataclass
class Bus:
    """What the bench saw on the bus, with when it arrived (monotonic seconds)."""

    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)
    failed: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    ups: int = 0  # cameras whose latest state is up

    async def on_event(self, msg: Any) -> None:
        env = json.loads(msg.data)
        data = env.get("data") or {}
        self.events.append((time.monotonic(), env["type"], data))
        if env["type"] == "camera.state":
            before = self.state.get(data["camera_id"])
            self.state[data["camera_id"]] = data["state"]
            self.ups += (data["state"] == "up") - (before == "up")
        self.changed.set()

    async def on_sample(self, msg: Any) -> None:
        data = json.loads(msg.data)["data"]
        if data.get("measured", True) and not data["reachable"]:
            self.failed[data["camera_id"]].append(time.monotonic())

    def of(self, type_: str, since: float = 0.0) -> list[tuple[float, dict[str, Any]]]:
        return [(t, d) for t, ty, d in self.events if ty == type_ and t >= since]

    async def until(self, check: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not check():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
            except TimeoutError:
                pass
        return True


async def sim(http: httpx.AsyncClient, stack: Stack, cam: str, action: str) -> None:
    url = f"{stack.url('simulator')}/control/cameras/{cam}/{action}"
    (await http.post(url, json={"fault": "offline"})).raise_for_status()


def first_delivery(bus: Bus, fault_id: str) -> float | None:
    alerts = {d["alert_id"] for _, d in bus.of("alert.raised") if d.get("fault_id") == fault_id}
    times = [t for t, d in bus.of("alert.delivered") if d["alert_id"] in alerts]
    return min(times) if times else None


async def outage(
    bus: Bus, nc: Any, http: httpx.AsyncClient, stack: Stack, cam: str, period: float
) -> tuple[float | None, float | None]:
    """One camera offline until its fault's first alert is delivered; (to fault, to alert)
    from the damping threshold."""
    sub = await nc.subscribe(f"cctv.telemetry.sample.{cam}", cb=bus.on_sample)
    broke = time.monotonic()
    await sim(http, stack, cam, "break")

    def fault() -> dict[str, Any] | None:
        return next((d for _, d in bus.of("fault.opened", broke) if d["camera_id"] == cam), None)

    ok = await bus.until(lambda: fault() is not None, 6 * period + 30)
    f = fault()
    if ok and f is not None:
        await bus.until(lambda: first_delivery(bus, f["fault_id"]) is not None, 60)
    await sim(http, stack, cam, "mend")
    await sub.unsubscribe()
    fails = [t for t in bus.failed.get(cam, []) if t >= broke]
    if f is None or len(fails) < DOWN_AFTER:
        return None, None
    threshold = fails[DOWN_AFTER - 1]
    opened = next(t for t, d in bus.of("fault.opened", broke) if d["fault_id"] == f["fault_id"])
    delivered = first_delivery(bus, f["fault_id"])
    return opened - threshold, (delivered - threshold) if delivered is not None else None


async def recorder(
    bus: Bus, http: httpx.AsyncClient, stack: Stack, ids: list[str], period: float
) -> list[str]:
    out = []
    mark = time.monotonic()
    await asyncio.gather(*(sim(http, stack, c, "break") for c in ids))
    mine = set(ids) | {NVR}
    await bus.until(lambda: any(d["camera_id"] == NVR for _, d in bus.of("fault.opened", mark)),
                    8 * period + 30)  # fmt: skip
    await asyncio.sleep(40)  # notify's grouping window (30 s) and the tickets settle
    opened = [d for _, d in bus.of("fault.opened", mark) if d["camera_id"] in mine]
    ids_f = {d["fault_id"] for d in opened}
    tickets = [d for _, d in bus.of("fault.ticket_opened", mark) if d["fault_id"] in ids_f]
    raised = [d for _, d in bus.of("alert.raised", mark) if d.get("fault_id") in ids_f]
    alert_ids = {d["alert_id"] for d in raised}
    delivered = [d for _, d in bus.of("alert.delivered", mark) if d["alert_id"] in alert_ids]
    kinds = Counter(d["kind"] for d in opened)
    per_raised = Counter(d["recipient"] for d in raised)
    per_msg = Counter((d["recipient"], d["channel"]) for d in delivered)
    shown = Counter(bus.state.get(c, "?") for c in ids)
    out.append(
        f"3. recorder of 64 down: {len(opened)} fault(s) {dict(kinds)}, {len(tickets)} "
        f"ticket(s); cameras shown {dict(shown)}"
    )
    out.append(f"   alerts raised per person: {dict(per_raised) or '-'}")
    out.append(
        "   messages delivered per person (channel): "
        + (", ".join(f"{r} {c} {n}" for (r, c), n in sorted(per_msg.items())) or "-")
    )
    back = time.monotonic()
    await asyncio.gather(*(sim(http, stack, c, "mend") for c in ids))

    def restored() -> bool:
        resolved = any(d["camera_id"] == NVR for _, d in bus.of("fault.resolved", back))
        return resolved and all(bus.state.get(c) == "up" for c in ids)

    ok = await bus.until(restored, 20 * period + 60)
    took = time.monotonic() - back
    out.append(
        f"   restored: recorder fault resolved and "
        f"{sum(bus.state.get(c) == 'up' for c in ids)}/64 up {took:.1f} s after mending "
        f"({took / period:.1f} sample periods){'' if ok else ' (timed out)'}"
    )
    return out


def metrics_restored(text: str, n: int) -> tuple[int, int]:
    """(cameras with a cctv_camera_up series, cameras whose state series is not unknown)."""
    up = len(re.findall(r"^cctv_camera_up\{", text, re.M))
    known = len(re.findall(r'^cctv_camera_state\{[^}]*state="(?!unknown)[a-z]+"[^}]*\} 1\.0$',
                           text, re.M))  # fmt: skip
    return up, known


async def restart_health(stack: Stack, n: int) -> str:
    stack.stop_process("health")
    t0 = time.monotonic()
    stack.start_service("health")
    url = f"{stack.url('health')}/metrics"
    up = known = 0
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() - t0 < 300:
            try:
                up, known = metrics_restored((await http.get(url)).text, n)
            except httpx.HTTPError:
                pass
            if up >= n and known >= n:
                break
            await asyncio.sleep(0.2)
    return (
        f"4. health restart: {up}/{n} cameras with cctv_camera_up, {known}/{n} with their state "
        f"restored, {time.monotonic() - t0:.1f} s after the process started"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cameras", type=int, default=5000)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--hog", action="store_true", help="a process spinning on one core")
    p.add_argument("--outages", type=int, default=30)
    p.add_argument("--period", type=float, default=5.0, help="ingest's SAMPLE_INTERVAL_S")
    p.add_argument("--keep", action="store_true", help="keep the stack's home (logs)")
    args = p.parse_args()
    n, period = args.cameras, args.period
    print(f"machine: {describe()}; {load()}")
    print(f"cameras: {n} on one ingest replica, sample period {period:g} s, down after "
          f"{DOWN_AFTER} failed samples; CPU hog: {'on' if args.hog else 'off'}")  # fmt: skip
    home = Path(tempfile.mkdtemp(prefix="bench-health-"))
    # production settings but the period: frames for the tamper watch every 300 s
    stack = Stack.for_tests(
        home, SAMPLE_INTERVAL_S=str(period), LOG_LEVEL="WARNING", TAMPER_INTERVAL_S="300"
    )
    hog: subprocess.Popen[bytes] | None = None
    try:
        stack.start_infra()
        stack.write_endpoints()
        inventory = write_inventory(stack, n)
        if args.hog:
            hog = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
        asyncio.run(measure(args, stack, inventory))
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
        stack.stop()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"kept {home}")


async def measure(args: argparse.Namespace, stack: Stack, inventory: Path) -> None:
    n, period = args.cameras, args.period
    bus = Bus()
    assert stack.nats_url
    nc = await nats.connect(stack.nats_url)
    for subject in ("cctv.fault.>", "cctv.alert.>", "cctv.camera.state.>"):
        await nc.subscribe(subject, cb=bus.on_event)
    t_start = time.monotonic()
    await asyncio.to_thread(start, stack, inventory)  # listening from before the first sample
    await bus.until(lambda: bus.ups >= n, 900)
    ups = bus.ups
    print(f"0. started: {ups}/{n} cameras up {time.monotonic() - t_start:.0f} s after the "
          f"services were started; {load()}")  # fmt: skip

    window = args.minutes * 60.0
    t0 = time.monotonic()
    ids = [camera(i).camera_id for i in range(n)]
    rnd = random.Random(7)
    singles = rnd.sample(ids[64:], min(args.outages, max(0, n - 64)))
    touched: set[str] = set()
    lat_fault: list[float] = []
    lat_alert: list[float] = []
    lines: list[str] = []
    async with httpx.AsyncClient(timeout=10) as http:
        # 2. single outages over the first half, one at a time
        gap = window * 0.5 / max(1, len(singles))
        for k, cam in enumerate(singles):
            await asyncio.sleep(max(0.0, t0 + k * gap - time.monotonic()))
            touched.add(cam)
            to_fault, to_alert = await outage(bus, nc, http, stack, cam, period)
            if to_fault is not None:
                lat_fault.append(to_fault)
            if to_alert is not None:
                lat_alert.append(to_alert)
        # 3. the recorder
        await asyncio.sleep(max(0.0, t0 + window * 0.55 - time.monotonic()))
        touched.update(ids[:64])
        rec_from = time.monotonic()
        lines += await recorder(bus, http, stack, ids[:64], period)
        rec_to = time.monotonic()
        # 4. health restart
        await asyncio.sleep(max(0.0, t0 + window * 0.75 - time.monotonic()))
        lines.append(await restart_health(stack, n))
        await asyncio.sleep(max(0.0, t0 + window - time.monotonic()))

    def untouched(d: dict[str, Any], t: float) -> bool:
        cam = d["camera_id"]
        behind = cam == NVR or (cam in ids[:64] and rec_from <= t <= rec_to + 60)
        return cam not in touched and not behind

    false_faults = [(t, d) for t, d in bus.of("fault.opened", t0) if untouched(d, t)]
    false_down = [
        (t, d) for t, d in bus.of("camera.state", t0)
        if d["state"] in ("down", "unreachable") and untouched(d, t)
    ]  # fmt: skip
    print(
        f"1. over {args.minutes:g} min: {len(false_faults)} fault(s) on "
        f"{len({d['camera_id'] for _, d in false_faults})} camera(s) nobody touched, "
        f"{len(false_down)} down/unreachable state(s) of such cameras (target 0); {load()}"
    )
    for _, d in false_faults[:5]:
        print(f"   e.g. {d['camera_id']} {d['kind']}: {d.get('detail', '')[:100]}")
    print(
        f"2. outage -> fault.opened ({len(lat_fault)}/{len(singles)}): p50 "
        f"{pct(lat_fault, 0.5):.2f} s, p99 {pct(lat_fault, 0.99):.2f} s; -> first alert "
        f"delivered ({len(lat_alert)}/{len(singles)}): p50 {pct(lat_alert, 0.5):.2f} s, "
        f"p99 {pct(lat_alert, 0.99):.2f} s (target p99 <= 2 s), from the damping threshold"
    )
    for line in lines:
        print(line)
    await nc.close()


if __name__ == "__main__":
    main()
