"""bench_campus's outages run side by side and end with the window: the summary always
prints, with what was measured and how many outages were left unfinished (issue 9's bench)."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

import httpx
import nats
import pytest

from bench.bench_campus import Bus, Outage, finish, latencies, outage, pick_singles
from cctv.devstack.embedded import free_port
from demo.campus import generate
from demo.simulator.fleet import Fleet, serve


def test_outage_cameras_are_distinct_and_never_half_a_recorder() -> None:
    """Outages now overlap: each must be a camera of its own, and those running at once never
    half of a recorder's cameras, or health rightly sees the recorder down, not the cameras."""
    campus = generate(cameras=300)
    nvr = "NVR-教学楼104室-EXAM"  # the recorder the bench takes down at 55 %
    broken = {c.camera_id for c in campus[:5]}
    picked = pick_singles(campus, broken, nvr, 60, concurrent=5)
    assert len(picked) == len(set(picked)) == 60
    by_id = {c.camera_id: c for c in campus}
    assert not set(picked) & broken
    size = Counter(c.nvr_id for c in campus)
    assert all(by_id[c].nvr_id != nvr and size[by_id[c].nvr_id] > 10 for c in picked)
    assert len({by_id[c].zone for c in picked[:3]}) == 3  # one zone after another
    assert len(pick_singles(campus, broken, nvr, 10_000, concurrent=5)) == len(
        [c for c in campus if c.camera_id not in broken and c.nvr_id not in (None, nvr)
         and size[c.nvr_id] > 10]
    )  # fmt: skip
    small = pick_singles(campus, broken, nvr, 60, concurrent=60)
    assert small == []  # no recorder has 121 cameras: none rather than a recorder outage


async def test_window_end_cancels_outages_and_mends_their_cameras(nats_url: str) -> None:
    """A fault that has not opened when the window ends no longer holds the bench (it waited
    up to (DOWN_AFTER + 3) periods + 90 s per outage, one after another): the running outage
    is cancelled with its camera mended, the one waiting for a slot never breaks its own."""
    cams = [c for c in generate(cameras=40) if c.nvr_id][:2]
    fleet = Fleet(cams)
    changes: list[tuple[str, frozenset[str]]] = []
    broken = asyncio.Event()

    def seen(camera_id: str, faults: set[str]) -> None:
        changes.append((camera_id, frozenset(faults)))
        if faults:
            broken.set()

    fleet.listeners.append(seen)
    port = free_port()
    runner = await serve(fleet, "127.0.0.1", port)
    nc = await nats.connect(nats_url)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            now = time.monotonic()
            outs = [Outage(c.camera_id, now) for c in cams]
            args = argparse.Namespace(down_after=3, period=30.0)
            slots = asyncio.Semaphore(1)
            sim = f"http://127.0.0.1:{port}"
            tasks = [
                asyncio.create_task(outage(o, Bus(), nc, http, sim, args, slots)) for o in outs
            ]
            await asyncio.wait_for(broken.wait(), 10)
            t0 = time.monotonic()
            failed = await asyncio.wait_for(finish(tasks, time.monotonic()), 15)
            assert time.monotonic() - t0 < 15
    finally:
        await nc.close()
        await runner.cleanup()
    assert failed == []
    first, second = outs
    assert first.broke is not None and not first.finished
    assert second.broke is None and not second.finished
    assert changes == [
        (first.cam, frozenset({"offline"})),
        (first.cam, frozenset()),
    ]
    assert all(not fleet.get(c.camera_id).faults for c in cams)


async def test_finish_reports_an_outage_that_failed() -> None:
    async def boom() -> None:
        raise RuntimeError("simulator said 404 for CAM-X")

    task = asyncio.create_task(boom())
    assert await finish([task], time.monotonic() + 5) == [
        "   outage failed: RuntimeError('simulator said 404 for CAM-X')"
    ]
    assert await finish([], time.monotonic()) == []


def test_latencies_count_what_each_outage_reached() -> None:
    """Figures come from the bus for every outage that got that far, finished or not."""
    bus = Bus()
    done = Outage("CAM-A", 0.0, broke=100.0, finished=True)
    halfway = Outage("CAM-B", 0.0, broke=110.0)  # fault opened, window ended before an alert
    waiting = Outage("CAM-C", 0.0)  # never started
    bus.failed["CAM-A"] += [99.0, 105.0, 135.0, 165.0]  # the first is before the break
    bus.failed["CAM-B"] += [140.0, 170.0]  # short of DOWN_AFTER on the bus
    bus.events["fault.opened"] += [
        (165.1, {"camera_id": "CAM-A", "fault_id": "f-a"}),
        (200.0, {"camera_id": "CAM-B", "fault_id": "f-b"}),
    ]
    bus.events["alert.raised"] += [(165.2, {"alert_id": "a-a", "fault_id": "f-a"})]
    bus.events["alert.delivered"] += [(165.4, {"alert_id": "a-a"}), (165.9, {"alert_id": "a-a"})]
    lat = latencies(bus, [done, halfway, waiting], 3)
    assert lat.detected == pytest.approx([65.1, 90.0])
    assert lat.fault_to_alert == pytest.approx([0.3])
    assert lat.to_fault == pytest.approx([0.1])
    assert lat.to_alert == pytest.approx([0.4])
