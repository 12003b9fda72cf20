"""Issue 9: the prober protects itself. A round ingest could not measure because ingest was
behind (its loop stalled, too much to do, a probe started far past its slot) is published
"not measured", never as a failed sample of the camera."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from cctv.contract import CameraRecord
from cctv.contract.events import HealthSample
from services.ingest.loadwatch import LoopMonitor, calm
from services.ingest.sampler import SpreadSampler
from tests.ingest.devices.test_dev_spread_sampler import cam


def busy(seconds: float) -> None:
    """Hold the event loop as a CPU-starved ingest does (no sleep: the loop is blocked)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class StallingProbe:
    """The device is fine, but ingest's loop stalls during the probe, which then overruns."""

    def __init__(self) -> None:
        self.calls = 0

    async def probe(self, camera: CameraRecord) -> HealthSample:
        self.calls += 1
        busy(0.6)
        return HealthSample(camera_id=camera.camera_id, sampled_at=datetime.now(UTC),
                            reachable=False, error="timeout: no answer within 0.5 s")  # fmt: skip


async def run_one(sampler: SpreadSampler, camera: CameraRecord, due: float) -> None:
    sampler.running[camera.camera_id] = asyncio.current_task()  # type: ignore[assignment]
    await sampler._one(camera, due)


async def test_a_timeout_while_ingest_stalled_is_not_measured() -> None:
    monitor = LoopMonitor(interval_s=0.02)
    watcher = asyncio.create_task(monitor.run())
    await monitor.measured()
    seen: list[HealthSample] = []

    async def emit(s: HealthSample) -> None:
        seen.append(s)

    probe = StallingProbe()
    sampler = SpreadSampler(lambda _c: probe, emit, period_s=5.0, concurrency=4, timeout_s=2.0,
                            monitor=monitor, shard="r1")  # fmt: skip
    loop = asyncio.get_running_loop()
    try:
        await run_one(sampler, cam(1), loop.time())
    finally:
        watcher.cancel()
    [s] = seen
    assert s.measured is False and s.shard == "r1"
    assert s.unmeasured_reason and "ingest stalled" in s.unmeasured_reason
    assert probe.calls == 1 and sampler.stats.unmeasured == 1


async def test_an_overloaded_loop_sheds_probes_and_says_so() -> None:
    monitor = LoopMonitor(interval_s=0.02)
    watcher = asyncio.create_task(monitor.run())
    await monitor.measured()
    seen: list[HealthSample] = []

    async def emit(s: HealthSample) -> None:
        seen.append(s)

    probe = StallingProbe()
    sampler = SpreadSampler(lambda _c: probe, emit, period_s=5.0, concurrency=4, timeout_s=2.0,
                            monitor=monitor)  # fmt: skip
    loop = asyncio.get_running_loop()
    try:
        # many of our own probes in flight and the loop 0.7 s late (over the shed threshold
        # min(0.5, period/4)): new probes are not started
        sampler.in_flight = sampler.shed_min_in_flight
        busy(0.7)
        await run_one(sampler, cam(2), loop.time())
        # and a probe due long ago (more than a period) measures nothing useful any more
        await calm(monitor, 0.1)
        await run_one(sampler, cam(3), loop.time() - sampler.max_start_lag_s - 1.0)
    finally:
        watcher.cancel()
    assert probe.calls == 0  # shed: the device was never asked
    assert [s.measured for s in seen] == [False, False]
    # but a camera left unmeasured for several periods is probed even now (fair shedding)
    sampler._last_measured[cam(6).camera_id] = loop.time() - 10 * sampler.starve_after_s
    busy(0.7)
    await run_one(sampler, cam(6), loop.time())
    assert probe.calls == 1
    assert "ingest overloaded" in (seen[0].unmeasured_reason or "")
    assert "ingest behind" in (seen[1].unmeasured_reason or "")


async def test_a_loop_late_for_others_reasons_still_probes() -> None:
    """Few probes of ours in flight: the lateness is the machine's, and shedding would only
    leave cameras unmeasured. The probe runs; a refusal is the device's answer even so."""
    monitor = LoopMonitor(interval_s=0.02)
    watcher = asyncio.create_task(monitor.run())
    await monitor.measured()
    seen: list[HealthSample] = []
    calls: list[str] = []

    class Refusing:
        async def probe(self, camera: CameraRecord) -> HealthSample:
            calls.append(camera.camera_id)
            busy(0.6)  # and the loop stalls meanwhile
            return HealthSample(
                camera_id=camera.camera_id,
                sampled_at=datetime.now(UTC),
                reachable=False,
                error="unreachable: connection dropped",
            )

    async def emit(s: HealthSample) -> None:
        seen.append(s)

    sampler = SpreadSampler(lambda _c: Refusing(), emit, period_s=5.0, concurrency=64,
                            timeout_s=2.0, monitor=monitor)  # fmt: skip
    try:
        busy(0.7)
        await run_one(sampler, cam(5), asyncio.get_running_loop().time())
    finally:
        watcher.cancel()
    assert calls == ["sp-005"]
    [s] = seen
    assert s.measured and s.error == "unreachable: connection dropped"


async def test_a_real_device_failure_on_a_calm_loop_is_a_failed_sample() -> None:
    monitor = LoopMonitor(interval_s=0.02)
    watcher = asyncio.create_task(monitor.run())
    await monitor.measured()
    seen: list[HealthSample] = []

    class Dead:
        async def probe(self, camera: CameraRecord) -> HealthSample:
            return HealthSample(camera_id=camera.camera_id, sampled_at=datetime.now(UTC),
                                reachable=False, error="unreachable: refused")  # fmt: skip

    async def emit(s: HealthSample) -> None:
        seen.append(s)

    sampler = SpreadSampler(lambda _c: Dead(), emit, period_s=5.0, concurrency=4, timeout_s=2.0,
                            monitor=monitor)  # fmt: skip
    try:
        await run_one(sampler, cam(4), asyncio.get_running_loop().time())
    finally:
        watcher.cancel()
    [s] = seen
    assert s.measured is True and s.reachable is False and s.error == "unreachable: refused"
