"""Bench: the same outages through notify and through Prometheus Alertmanager (issue 10).

    .venv/bin/python bench/bench_notify.py [--cameras 5000] [--burst 200] [--zones 4]

Two scenarios, each fed to both:
- burst: `--burst` camera faults across `--zones` zones within 10 s, drawn from an estate of
  `--cameras` cameras;
- recorder: a 64-channel recorder goes down: 64 camera faults in one zone at once.
Notify runs its real handlers and delivery loop on an embedded PostgreSQL, delivering to the
WeCom robot stand-in over HTTP. Alertmanager (Debian's `prometheus-alertmanager`) gets the same
alerts on its v2 API, routed per zone to a webhook, `group_by: [zone]`, `group_wait: 1s`,
`group_interval: 30s` — the same shape as notify's grouping window. Printed side by side:
messages each person received, time from the first fault to each person's first message, and
time from each fault to the first message that names it (p50/p99).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.machine import describe  # noqa: E402
from cctv.contract import wrap  # noqa: E402
from cctv.contract.events import FaultOpened  # noqa: E402
from cctv.devstack.embedded import EmbeddedPostgres, free_port, wait_for_port  # noqa: E402
from cctv.plumbing.db import apply_migrations, create_pool  # noqa: E402
from cctv.plumbing.service import Service  # noqa: E402
from demo.channel_standins import ChannelStandins  # noqa: E402
from services.notify import store  # noqa: E402
from services.notify.app import NotifyService  # noqa: E402
from services.notify.roster import RosterEntry  # noqa: E402
from services.notify.settings import NotifySettings  # noqa: E402

WINDOW_S = 30.0
SETTLE_S = WINDOW_S + 8.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def scenarios(cameras: int, burst: int, zones: int) -> dict[str, list[tuple[float, str, str]]]:
    """name → [(offset_s, camera_id, zone)]"""
    rng = random.Random(7)
    estate = [f"CAM-{i:05d}" for i in range(cameras)]
    zone_of = {c: f"Z{i % zones + 1}" for i, c in enumerate(estate)}
    picked = rng.sample(estate, burst)
    return {
        "burst": sorted((rng.uniform(0, 10), c, zone_of[c]) for c in picked),
        "recorder": [(0.0, f"NVR7-CH{ch:02d}", "Z1") for ch in range(1, 65)],
    }


def summarise(
    faults: list[tuple[float, str, str]], t0: float, msgs: list[tuple[float, str, str]]
) -> dict[str, Any]:
    """msgs: (time, person, text)."""
    per_person: dict[str, list[float]] = defaultdict(list)
    for at, person, _ in msgs:
        per_person[person].append(at)
    first_mention = []
    for offset, camera, _zone in faults:
        times = [at for at, _p, text in msgs if camera in text]
        if times:
            first_mention.append(min(times) - (t0 + offset))
    first_per_person = [min(ts) - t0 for ts in per_person.values()]
    return {
        "messages": {p: len(ts) for p, ts in sorted(per_person.items())},
        "first_msg_p50": pct(first_per_person, 50),
        "first_msg_p99": pct(first_per_person, 99),
        "mention_p50": pct(first_mention, 50),
        "mention_p99": pct(first_mention, 99),
        "named": f"{len(first_mention)}/{len(faults)}",
    }


async def run_notify(home: Path, faults: list[tuple[float, str, str]], zones: int) -> dict:
    pg = EmbeddedPostgres(home / f"pg-{uuid.uuid4().hex[:6]}").start()
    robot = await ChannelStandins().start()
    settings = NotifySettings(
        nats_url="nats://127.0.0.1:1", database_url=pg.url, webhook_url=robot.wecom_url,
        group_window_s=WINDOW_S, group_wait_s=1.0,
    )  # fmt: skip
    svc = Service("notify", settings, migrations=ROOT / "services/notify/migrations")
    svc.pool = await create_pool(pg.url)
    await apply_migrations(svc.pool, store.SCHEMA, svc.migrations)
    n = NotifyService(svc, settings)
    guards = [RosterEntry(f"guard-Z{z}", f"g{z}", "guard", f"Z{z}") for z in range(1, zones + 1)]
    await store.seed_roster(svc.pool, guards)
    stop = asyncio.Event()

    async def deliver() -> None:
        while not stop.is_set():
            if not await n.deliver_pending():
                await asyncio.sleep(0.05)

    loop_task = asyncio.create_task(deliver())
    t0 = time.time()
    for offset, camera, zone in faults:
        delay = t0 + offset - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        f = FaultOpened(
            fault_id=f"F-{uuid.uuid4().hex[:8]}", camera_id=camera, kind="offline",
            severity="major", detected_at=datetime.now(UTC), camera_name=camera,
            building="B", zone=zone, detail="bench",
        )  # fmt: skip
        await n.on_fault(wrap(f, source="health"), f)
    await asyncio.sleep(max(0.0, t0 + faults[-1][0] + SETTLE_S - time.time()))
    stop.set()
    await loop_task
    msgs = []
    for r in robot.of("wecom"):
        text = r["body"]["markdown"]["content"]
        person = text.rsplit("recipient: ", 1)[-1].strip()
        msgs.append((r["at"], person, text))
    await n.close()
    await svc.pool.close()
    await robot.stop()
    pg.stop()
    return summarise(faults, t0, msgs)


AM_CONFIG = """
route:
  receiver: nobody
  group_by: [zone]
  group_wait: 1s
  group_interval: 30s
  repeat_interval: 4h
  routes:
{routes}
receivers:
  - name: nobody
{receivers}
"""


async def run_alertmanager(home: Path, faults: list[tuple[float, str, str]], zones: int) -> dict:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        return {"error": "not installed (apt-get install prometheus-alertmanager)"}
    hook_port, am_port = free_port(), free_port()
    got: list[tuple[float, str, str]] = []

    async def hook(req: web.Request) -> web.Response:
        body = await req.json()
        cams = " ".join(a["labels"].get("camera", "") for a in body.get("alerts", []))
        got.append((time.time(), req.match_info["person"], cams))
        return web.json_response({})

    app = web.Application()
    app.add_routes([web.post("/am/{person}", hook)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    zs = [f"Z{z}" for z in range(1, zones + 1)]
    routes = "\n".join(f"    - matchers: ['zone=\"{z}\"']\n      receiver: guard-{z}" for z in zs)
    receivers = "\n".join(
        f"  - name: guard-{z}\n    webhook_configs:\n"
        f"      - url: http://127.0.0.1:{hook_port}/am/guard-{z}\n        send_resolved: true"
        for z in zs
    )
    cfg_dir = home / f"am-{uuid.uuid4().hex[:6]}"
    cfg_dir.mkdir()
    (cfg_dir / "am.yml").write_text(AM_CONFIG.format(routes=routes, receivers=receivers))
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured part
        [binary, f"--config.file={cfg_dir / 'am.yml'}", f"--storage.path={cfg_dir}",
         f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port("127.0.0.1", am_port, 30)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{am_port}") as http:
            t0 = time.time()
            for offset, camera, zone in faults:
                delay = t0 + offset - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                labels = {"alertname": "camera_offline", "camera": camera, "zone": zone,
                          "severity": "major"}  # fmt: skip
                resp = await http.post("/api/v2/alerts", json=[{"labels": labels}])
                resp.raise_for_status()
            await asyncio.sleep(max(0.0, t0 + faults[-1][0] + SETTLE_S - time.time()))
    finally:
        proc.terminate()
        proc.wait(10)
        await runner.cleanup()
    return summarise(faults, t0, got)


def show(name: str, ours: dict, theirs: dict) -> None:
    print(f"\n-- scenario {name}")
    if "error" in theirs:
        print(f"   Alertmanager: {theirs['error']}")
    rows = [
        ("messages per person", "messages"),
        ("first message per person p50 (s)", "first_msg_p50"),
        ("first message per person p99 (s)", "first_msg_p99"),
        ("fault → first message naming it p50 (s)", "mention_p50"),
        ("fault → first message naming it p99 (s)", "mention_p99"),
        ("faults named in some message", "named"),
    ]
    print(f"   {'':42} {'notify':>28} {'Alertmanager':>28}")
    for label, key in rows:
        a, b = ours.get(key, "-"), theirs.get(key, "-")
        fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)  # noqa: E731
        print(f"   {label:42} {fmt(a):>28} {fmt(b):>28}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=5000)
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--zones", type=int, default=4)
    args = ap.parse_args()
    print(f"machine: {describe()}")
    print(f"estate {args.cameras} cameras, burst {args.burst} faults over 10 s in "
          f"{args.zones} zones; grouping window {WINDOW_S:.0f} s both sides")  # fmt: skip
    home = Path(tempfile.mkdtemp(prefix="cctv-bench-notify-"))
    home.chmod(0o755)  # noqa: ASYNC240 - before anything runs
    try:
        for name, faults in scenarios(args.cameras, args.burst, args.zones).items():
            ours = await run_notify(home, faults, args.zones)
            theirs = await run_alertmanager(home, faults, args.zones)
            show(name, ours, theirs)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
