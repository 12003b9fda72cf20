"""The whole system at a NIC's scale (issue 9's and 10's figures), as `make run` runs it.

    .venv/bin/python bench/bench_campus.py [--cameras 5000] [--minutes 30] [--hog]
        [--period 30] [--outages 20] [--down-after 3] [--keep]

Every service as its own process on embedded NATS (the contract's users) and PostgreSQL
(per-service roles), the simulator serving the demo campus grown to `--cameras`
(CCTV_DEMO_CAMERAS: ISAPI, Dahua and ONVIF devices, one loopback address each, RTSP for the
tamper checks; the demo people's zones, so notify routes alerts to real rosters), one ingest
replica sampling every camera each `--period` seconds. `--hog` runs a process spinning on one
core for the whole bench, so the system has one of the machine's two cores.

Printed with the machine and the load:
0. cold start: ingest's seed until every `camera.upserted` is on the stream; every camera
   with its `cctv_camera_up` series on health; every camera up.
1. over a window of `--minutes` (after every camera is first up): faults and down states on
   cameras nobody touched (target 0), and ingest's own load — probes, skipped and
   unmeasured probes, loop lag, and probes per ingest CPU-second.
2. `--outages` single cameras (one zone after another, spread over recorders, each camera
   once) taken offline at even intervals over the first half, concurrently (at most
   `--concurrent` at once: far below the shares at which health suspects a recorder or the
   network), each until its first alert is delivered or the window ends: outage detection
   (break -> `fault.opened`), `fault.opened` -> first `alert.delivered` (p50/max), and from
   the damping threshold (the DOWN_AFTER-th failed sample seen on the bus) to both, p50/p99
   (target p99 <= 2 s). Outages still running when the window ends are cancelled (their
   cameras mended) and counted as unfinished; the summary prints what was measured.
3. at 55 %, the recorder with the number of cameras nearest 64 goes down: faults by kind,
   repair tickets, alerts raised and messages delivered per person on duty; then it comes
   back: time until its fault is resolved and all its cameras are up, in sample periods.
4. at 75 %, health restarts: time until every camera has its series and its state restored.
5. series health's housekeeping had to repair (`cctv_health_series_repaired_total`), before
   the restart and after it (target 0: anything repaired is a bug, its log names the cameras).

A brief check: `--cameras 500 --minutes 2 --outages 3 --period 5`. Full size (the issue's
figures): `--cameras 5000 --minutes 30 --period 30`, and again with `--hog`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.machine import describe  # noqa: E402
from bench.stats import pct  # noqa: E402
from cctv.devstack.stack import Stack  # noqa: E402


def load() -> str:
    return "load " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


@dataclass
class Bus:
    """What the bench saw on the bus, with when it arrived (monotonic seconds)."""

    events: dict[str, list[tuple[float, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # by type: concurrent outages each look at their own, not the whole bus
    state: dict[str, str] = field(default_factory=dict)
    failed: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    upserted: set[str] = field(default_factory=set)
    last_upsert: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    ups: int = 0  # cameras whose latest state is up

    async def on_event(self, msg: Any) -> None:
        env = json.loads(msg.data)
        data = env.get("data") or {}
        now = time.monotonic()
        if env["type"] == "camera.upserted":
            self.upserted.add(data["camera"]["camera_id"])
            self.last_upsert = now
            self.changed.set()
            return
        self.events[env["type"]].append((now, data))
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
        return [(t, d) for t, d in self.events.get(type_, ()) if t >= since]

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


def metrics(text: str) -> dict[str, float]:
    """Each metric summed over its labels (lags: the largest)."""
    out: dict[str, float] = defaultdict(float)
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name] = max(out[s.name], s.value) if "lag" in s.name else out[s.name] + s.value
    return out


async def scrape(http: httpx.AsyncClient, stack: Stack, service: str) -> str:
    try:
        return (await http.get(f"{stack.url(service)}/metrics", timeout=10)).text
    except httpx.HTTPError:
        return ""


def series(text: str) -> tuple[int, int]:
    """(cameras with a cctv_camera_up series, cameras whose state series is not unknown)."""
    up = len(re.findall(r"^cctv_camera_up\{", text, re.M))
    known = len(re.findall(r'^cctv_camera_state\{[^}]*state="(?!unknown)[a-z]+"[^}]*\} 1\.0$',
                           text, re.M))  # fmt: skip
    return up, known


INGEST_KEYS = (
    "cctv_ingest_samples_total",
    "cctv_ingest_probes_skipped_total",
    "cctv_ingest_probes_unmeasured_total",
    "cctv_ingest_samples_dropped_total",
    "cctv_ingest_event_loop_lag_seconds",
    "process_cpu_seconds_total",
    "cctv_ingest_device_probe_seconds_count",
)
UNMEASURED_WHY = ("behind", "overloaded", "stalled", "skipped")


async def ingest_load(http: httpx.AsyncClient, stack: Stack) -> dict[str, float]:
    text = await scrape(http, stack, "ingest")
    m = metrics(text)
    out = {k: round(m.get(k, 0.0), 3) for k in INGEST_KEYS}
    why = labelled(text, "cctv_ingest_probes_unmeasured_total", "reason")  # sampler.py
    out.update({f"unmeasured:{w}": why.get(w, 0.0) for w in UNMEASURED_WHY})
    return out


def labelled(text: str, name: str, label: str) -> dict[str, float]:
    """One metric's samples by one label's value."""
    return {
        s.labels[label]: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name and label in s.labels
    }


async def sim(http: httpx.AsyncClient, simulator: str, cam: str, action: str) -> None:
    url = f"{simulator}/control/cameras/{cam}/{action}"
    (await http.post(url, json={"fault": "offline"})).raise_for_status()


def first_delivery(bus: Bus, fault_id: str) -> float | None:
    alerts = {d["alert_id"] for _, d in bus.of("alert.raised") if d.get("fault_id") == fault_id}
    times = [t for t, d in bus.of("alert.delivered") if d["alert_id"] in alerts]
    return min(times) if times else None


@dataclass
class Outage:
    """One camera taken offline; `broke` is None until it was (it may wait for a slot)."""

    cam: str
    start_at: float
    broke: float | None = None
    finished: bool = False


def fault_of(bus: Bus, o: Outage) -> tuple[float, dict[str, Any]] | None:
    if o.broke is None:
        return None
    return next(((t, d) for t, d in bus.of("fault.opened", o.broke) if d["camera_id"] == o.cam),
                None)  # fmt: skip


async def outage(
    o: Outage,
    bus: Bus,
    nc: Any,
    http: httpx.AsyncClient,
    simulator: str,
    args: argparse.Namespace,
    slots: asyncio.Semaphore,
) -> None:
    """At its time (and once a slot is free), one camera offline until its fault's first alert
    is delivered (or it gives up); mended also when cancelled at the window's end."""
    await asyncio.sleep(max(0.0, o.start_at - time.monotonic()))
    async with slots:
        sub = await nc.subscribe(f"cctv.telemetry.sample.{o.cam}", cb=bus.on_sample)
        try:
            o.broke = time.monotonic()
            await sim(http, simulator, o.cam, "break")
            ok = await bus.until(lambda: fault_of(bus, o) is not None,
                                 (args.down_after + 3) * args.period + 30)  # fmt: skip
            f = fault_of(bus, o)
            if ok and f is not None:
                fid = f[1]["fault_id"]
                await bus.until(lambda: first_delivery(bus, fid) is not None, 60)
            o.finished = True
        finally:
            await sim(http, simulator, o.cam, "mend")
            await sub.unsubscribe()


@dataclass
class Latencies:
    detected: list[float] = field(default_factory=list)  # break -> fault.opened
    to_fault: list[float] = field(default_factory=list)  # damping threshold -> fault.opened
    fault_to_alert: list[float] = field(default_factory=list)  # fault.opened -> delivered
    to_alert: list[float] = field(default_factory=list)  # damping threshold -> delivered


def latencies(bus: Bus, outages: list[Outage], down_after: int) -> Latencies:
    """From what the bus saw, for every outage that got that far (finished or not)."""
    out = Latencies()
    for o in outages:
        f = fault_of(bus, o)
        if o.broke is None or f is None:
            continue
        opened, fault = f
        delivered = first_delivery(bus, fault["fault_id"])
        out.detected.append(opened - o.broke)
        if delivered is not None:
            out.fault_to_alert.append(delivered - opened)
        fails = [t for t in bus.failed.get(o.cam, []) if t >= o.broke]
        if len(fails) >= down_after:
            threshold = fails[down_after - 1]
            out.to_fault.append(opened - threshold)
            if delivered is not None:
                out.to_alert.append(delivered - threshold)
    return out


def pick_singles(
    campus: list[Any], leave_out: set[str], nvr: str, count: int, concurrent: int
) -> list[str]:
    """`count` distinct cameras, one zone after another, on recorders with more than twice
    `concurrent` cameras besides those broken from the start (the outages running at once are
    never half a recorder: health would rightly see the recorder down), each from the recorder
    least picked for its size."""
    size = Counter(c.nvr_id for c in campus if c.nvr_id)
    down = Counter(c.nvr_id for c in campus if c.nvr_id and c.camera_id in leave_out)
    by_zone: dict[str, list[Any]] = defaultdict(list)
    for c in campus:
        if c.camera_id not in leave_out and c.nvr_id and c.nvr_id != nvr:
            if size[c.nvr_id] > 2 * (concurrent + down[c.nvr_id]):
                by_zone[c.zone].append(c)
    zones = sorted(by_zone)
    used: Counter[str] = Counter()
    chosen: list[str] = []
    while len(chosen) < count and any(by_zone.values()):
        for z in zones:
            pool = by_zone[z]
            if not pool or len(chosen) >= count:
                continue
            i = min(
                range(len(pool)), key=lambda i: (used[pool[i].nvr_id] / size[pool[i].nvr_id], i)
            )
            cam = pool.pop(i)
            used[cam.nvr_id] += 1
            chosen.append(cam.camera_id)
    return chosen


async def finish(tasks: list[asyncio.Task[None]], until: float) -> list[str]:
    """Wait for the outages until `until`, cancel (and so mend) the rest: never hang."""
    pending: set[asyncio.Task[None]] = set(tasks)
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, until - time.monotonic()))
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return [
        f"   outage failed: {t.exception()!r}"
        for t in tasks
        if t not in pending and not t.cancelled() and t.exception() is not None
    ]


async def recorder(
    bus: Bus, http: httpx.AsyncClient, stack: Stack, nvr: str, ids: list[str], period: float
) -> list[str]:
    out = []
    mark = time.monotonic()
    await asyncio.gather(*(sim(http, stack.url("simulator"), c, "break") for c in ids))
    mine = set(ids) | {nvr}
    await bus.until(lambda: any(d["camera_id"] == nvr for _, d in bus.of("fault.opened", mark)),
                    8 * period + 30)  # fmt: skip
    await asyncio.sleep(40)  # notify's grouping window (30 s) and the tickets settle
    opened = [d for _, d in bus.of("fault.opened", mark) if d["camera_id"] in mine]
    ids_f = {d["fault_id"] for d in opened}
    tickets = [d for _, d in bus.of("fault.ticket_opened", mark) if d["fault_id"] in ids_f]
    raised = [d for _, d in bus.of("alert.raised", mark) if d.get("fault_id") in ids_f]
    alert_ids = {d["alert_id"] for d in raised}
    delivered = [d for _, d in bus.of("alert.delivered", mark) if d["alert_id"] in alert_ids]
    per_msg = Counter((d["recipient"], d["channel"]) for d in delivered)
    shown = Counter(bus.state.get(c, "?") for c in ids)
    out.append(
        f"3. recorder {nvr} with {len(ids)} cameras down: {len(opened)} fault(s) "
        f"{dict(Counter(d['kind'] for d in opened))}, {len(tickets)} ticket(s); cameras shown "
        f"{dict(shown)}"
    )
    out.append(f"   alerts raised per person: {dict(Counter(d['recipient'] for d in raised))}")
    out.append(
        "   messages delivered per person (channel): "
        + (", ".join(f"{r} {c} {n}" for (r, c), n in sorted(per_msg.items())) or "-")
    )
    back = time.monotonic()
    await asyncio.gather(*(sim(http, stack.url("simulator"), c, "mend") for c in ids))

    def restored() -> bool:
        resolved = any(d["camera_id"] == nvr for _, d in bus.of("fault.resolved", back))
        return resolved and all(bus.state.get(c) == "up" for c in ids)

    ok = await bus.until(restored, 20 * period + 60)
    took = time.monotonic() - back
    out.append(
        f"   restored: recorder fault resolved and {sum(bus.state.get(c) == 'up' for c in ids)}"
        f"/{len(ids)} up {took:.1f} s after mending ({took / period:.1f} sample periods)"
        f"{'' if ok else ' (timed out)'}"
    )
    return out


async def repaired(http: httpx.AsyncClient, stack: Stack) -> float:
    """Series health's housekeeping put right since its process started."""
    return metrics(await scrape(http, stack, "health")).get("cctv_health_series_repaired_total", 0)


async def restart_health(http: httpx.AsyncClient, stack: Stack, n: int) -> str:
    await asyncio.to_thread(stack.stop_process, "health")
    t0 = time.monotonic()
    await asyncio.to_thread(stack.start_service, "health")
    up = known = 0
    while time.monotonic() - t0 < 600:
        up, known = series(await scrape(http, stack, "health"))
        if up >= n and known >= n:
            break
        await asyncio.sleep(0.5)
    return (
        f"4. health restart: {up}/{n} cameras with cctv_camera_up, {known}/{n} with their state "
        f"restored, {time.monotonic() - t0:.1f} s after the process started"
    )


async def cold_start(bus: Bus, http: httpx.AsyncClient, stack: Stack, n: int, t0: float) -> None:
    await bus.until(lambda: len(bus.upserted) >= n, 600)
    print(f"0. cold start: {len(bus.upserted)}/{n} camera.upserted on the stream "
          f"{bus.last_upsert - t0:.1f} s after the services were started; {load()}")  # fmt: skip
    t_series = time.monotonic()
    up = 0
    while time.monotonic() - t_series < 600:
        up, _ = series(await scrape(http, stack, "health"))
        if up >= n:
            break
        await asyncio.sleep(1.0)
    print(f"   every camera's series: {up}/{n} {time.monotonic() - t0:.1f} s after start")
    await bus.until(lambda: bus.ups >= n, 900)
    print(f"   every camera up: {bus.ups}/{n} {time.monotonic() - t0:.1f} s after start; {load()}")


async def measure(args: argparse.Namespace, stack: Stack) -> None:
    from demo.campus import generate

    n, period = args.cameras, args.period
    campus = generate(cameras=n)
    bus = Bus()
    assert stack.nats_url
    nc = await nats.connect(stack.nats_url)
    for subject in (
        "cctv.fault.>",
        "cctv.alert.>",
        "cctv.camera.state.>",
        "cctv.camera.upserted.>",
    ):
        await nc.subscribe(subject, cb=bus.on_event)
    t_start = time.monotonic()
    await asyncio.to_thread(stack.start_standins)
    await asyncio.to_thread(stack.start_services, None, 300)
    async with httpx.AsyncClient(timeout=10) as http:
        await cold_start(bus, http, stack, n, t_start)
        pre = {
            c["camera_id"]
            for c in (await http.get(f"{stack.url('simulator')}/control/cameras")).json()
            if c.get("faults")
        }
        nvrs = Counter(c.nvr_id for c in campus if c.nvr_id and c.camera_id not in pre)
        nvr = min(nvrs, key=lambda v: (abs(nvrs[v] - 64), v))
        on_nvr = [c.camera_id for c in campus if c.nvr_id == nvr]
        singles = pick_singles(campus, pre, nvr, args.outages, args.concurrent)

        window = args.minutes * 60.0
        t0 = time.monotonic()
        before = await ingest_load(http, stack)
        lines: list[str] = []
        if len(singles) < args.outages:
            lines.append(f"   only {len(singles)} camera(s) to take offline, not {args.outages}")
        gap = window * 0.5 / max(1, len(singles))
        outages = [Outage(cam, t0 + k * gap) for k, cam in enumerate(singles)]
        slots = asyncio.Semaphore(args.concurrent)
        tasks = [
            asyncio.create_task(outage(o, bus, nc, http, stack.url("simulator"), args, slots))
            for o in outages
        ]
        rec_from = rec_to = float("inf")
        fixed: list[float] = []
        try:
            await asyncio.sleep(max(0.0, t0 + window * 0.55 - time.monotonic()))
            rec_from = time.monotonic()
            lines += await recorder(bus, http, stack, nvr, on_nvr, period)
            rec_to = time.monotonic()
            await asyncio.sleep(max(0.0, t0 + window * 0.75 - time.monotonic()))
            fixed.append(await repaired(http, stack))
            lines.append(await restart_health(http, stack, n))
        except Exception as e:  # the summary still prints, with what failed
            lines.append(f"   stopped early: {e!r}")
        lines += await finish(tasks, t0 + window)
        # the whole window counts for the false faults, not only until the outages are done
        await asyncio.sleep(max(0.0, t0 + window - time.monotonic()))
        fixed.append(await repaired(http, stack))
        lines.append(
            "5. series repaired by health's housekeeping (target 0): "
            + (f"{fixed[0]:.0f} before the restart, {fixed[1]:.0f} after it" if len(fixed) == 2
               else f"{fixed[0]:.0f} (no restart)")
        )  # fmt: skip
        after = await ingest_load(http, stack)
        ran = time.monotonic() - t0

    touched = set(pre) | {o.cam for o in outages if o.broke is not None}
    if rec_from < float("inf"):
        touched.update(on_nvr)

    def untouched(d: dict[str, Any], t: float) -> bool:
        cam = d["camera_id"]
        behind = cam == nvr or (cam in on_nvr and rec_from <= t <= rec_to + 60)
        return cam not in touched and not behind

    false_faults = [(t, d) for t, d in bus.of("fault.opened", t0) if untouched(d, t)]
    false_down = [
        (t, d) for t, d in bus.of("camera.state", t0)
        if d["state"] in ("down", "unreachable") and untouched(d, t)
    ]  # fmt: skip
    print(
        f"1. over {ran / 60:.1f} min (window {args.minutes:g} min): {len(false_faults)} "
        f"fault(s) on {len({d['camera_id'] for _, d in false_faults})} camera(s) nobody "
        f"touched, {len(false_down)} down/unreachable state(s) of such cameras (target 0); "
        f"{len(pre)} camera(s) the simulator starts broken left out; {load()}"
    )
    for _, d in false_faults[:5]:
        print(f"   e.g. {d['camera_id']} {d['kind']}: {d.get('detail', '')[:100]}")
    delta = {k: round(after[k] - before[k], 3) for k in after if "lag" not in k}
    cpu = delta["process_cpu_seconds_total"]
    probes = delta["cctv_ingest_samples_total"]
    print(
        f"   ingest over the window: {probes:.0f} samples ({probes / ran:.1f}/s), "
        f"{delta['cctv_ingest_probes_skipped_total']:.0f} skipped, "
        f"{delta['cctv_ingest_probes_unmeasured_total']:.0f} unmeasured, "
        f"{delta['cctv_ingest_samples_dropped_total']:.0f} dropped; CPU {cpu:.1f} s "
        f"({cpu / ran:.0%} of a core), {probes / cpu if cpu else float('nan'):.0f} samples "
        f"per CPU-second; loop lag now {after['cctv_ingest_event_loop_lag_seconds']:.2f} s"
    )
    ran_probes = delta["cctv_ingest_device_probe_seconds_count"]
    why = ", ".join(f"{w} {delta[f'unmeasured:{w}']:.0f}" for w in UNMEASURED_WHY)
    print(
        f"   device probes run: {ran_probes:.0f} ({ran_probes / ran:.1f}/s, "
        f"{ran_probes / cpu if cpu else float('nan'):.0f} per CPU-second); unmeasured by "
        f"reason: {why}"
    )
    lat = latencies(bus, outages, args.down_after)
    started = sum(o.broke is not None for o in outages)
    done = sum(o.finished for o in outages)
    m = len(outages)
    print(
        f"2. {m} outage(s) over the first half, at most {args.concurrent} at once: {done} "
        f"finished, {m - done} unfinished when the window ended ({m - started} never started)"
    )
    print(
        f"   outage detected, break -> fault.opened ({len(lat.detected)}/{m}): p50 "
        f"{pct(lat.detected, 0.5):.2f} s, max {pct(lat.detected, 1.0):.2f} s "
        f"(down after {args.down_after} samples, {args.period:g} s apart)"
    )
    print(
        f"   fault.opened -> first alert delivered ({len(lat.fault_to_alert)}/{m}): p50 "
        f"{pct(lat.fault_to_alert, 0.5):.2f} s, max {pct(lat.fault_to_alert, 1.0):.2f} s"
    )
    print(
        f"   from the damping threshold -> fault.opened ({len(lat.to_fault)}/{m}): p50 "
        f"{pct(lat.to_fault, 0.5):.2f} s, p99 {pct(lat.to_fault, 0.99):.2f} s; -> first alert "
        f"delivered ({len(lat.to_alert)}/{m}): p50 {pct(lat.to_alert, 0.5):.2f} s, "
        f"p99 {pct(lat.to_alert, 0.99):.2f} s (target p99 <= 2 s)"
    )
    for line in lines:
        print(line)
    await nc.close()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cameras", type=int, default=5000)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--period", type=float, default=30.0, help="sample interval (s), as deploy/k8s")
    p.add_argument("--down-after", type=int, default=3, help="damping: failed samples to a fault")
    p.add_argument("--outages", type=int, default=20)
    p.add_argument("--concurrent", type=int, default=5, help="outages running at once, at most")
    p.add_argument("--hog", action="store_true", help="a process spinning on one core throughout")
    p.add_argument("--keep", action="store_true", help="keep the stack's home (logs)")
    args = p.parse_args()
    for name, low in (("cameras", 1), ("concurrent", 1), ("down_after", 1), ("outages", 0)):
        if getattr(args, name) < low:
            p.error(f"--{name.replace('_', '-')} must be at least {low}")
    for name in ("minutes", "period"):
        if getattr(args, name) <= 0:
            p.error(f"--{name} must be more than 0")
    os.environ["CCTV_DEMO_CAMERAS"] = str(args.cameras)
    print(f"machine: {describe()}; {load()}")
    print(f"cameras: {args.cameras} (demo campus) on one ingest replica, sample period "
          f"{args.period:g} s, down after {args.down_after} failed samples; CPU hog: "
          f"{'on' if args.hog else 'off'}")  # fmt: skip
    home = Path(tempfile.mkdtemp(prefix="bench-campus-"))
    stack = Stack.for_tests(
        home, SAMPLE_INTERVAL_S=str(args.period), DOWN_AFTER=str(args.down_after),
        LOG_LEVEL="WARNING", TAMPER_INTERVAL_S="300",
    )  # fmt: skip
    hog = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if args.hog else None
    try:
        stack.start_infra()
        stack.write_endpoints()
        asyncio.run(measure(args, stack))
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
        stack.stop()
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
