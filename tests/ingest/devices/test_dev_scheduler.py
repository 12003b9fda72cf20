"""The sampling loop keeps the fleet sampled when some devices hang or lie."""

from __future__ import annotations

import time

from demo.simulator.devices import DeviceServer, SimDevice, loopback_hosts
from services.ingest.adapters import build_adapters
from services.ingest.adapters.base import Credentials, DeviceTarget, ProbeResult
from services.ingest.adapters.http import DeviceHttp, HttpSettings
from services.ingest.adapters.scheduler import ProbeScheduler, phase


async def test_one_round_samples_everyone_despite_bad_devices() -> None:
    hosts = loopback_hosts(30)
    devices = [
        SimDevice(f"d{i}", "hikvision" if i % 2 else "dahua", h, 0) for i, h in enumerate(hosts)
    ]
    devices[3].apply_fault("hang")
    devices[4].apply_fault("garbage")
    devices[5].apply_fault("offline")
    async with DeviceServer(devices):
        http = DeviceHttp(HttpSettings(connect_timeout_s=0.5, read_timeout_s=0.5))
        sched = ProbeScheduler(
            build_adapters(http), period_s=1.5, concurrency=8, probe_timeout_s=1.0, deep_every=1
        )
        targets = [
            DeviceTarget(
                d.device_id,
                "isapi" if d.vendor == "hikvision" else "dahua",
                d.host,
                d.port,
                1,
                Credentials("admin", "sim-pass"),
            )
            for d in devices
        ]
        got: dict[str, ProbeResult] = {}

        def on_result(t: DeviceTarget, r: ProbeResult, lag: float) -> None:
            got[t.camera_id] = r

        t0 = time.monotonic()
        await sched.run(lambda: targets, on_result, rounds=1)
        await sched.drain()
        elapsed = time.monotonic() - t0
        await http.close()
    assert set(got) == {d.device_id for d in devices}
    assert got["d3"].error is not None and got["d3"].error.startswith("timeout")
    assert got["d4"].error is not None and got["d4"].error.startswith("bad_response")
    assert got["d5"].reachable is False
    healthy = [r for k, r in got.items() if k not in {"d3", "d4", "d5"}]
    assert all(r.error is None and r.recording is True for r in healthy)
    assert elapsed < 1.5 + 1.0 + 0.5  # one period plus at most one probe timeout
    assert sched.stats.max_lag_s < 0.5


def test_phases_spread_over_the_period() -> None:
    ph = sorted(phase(f"cam-{i}", 30.0) for i in range(3000))
    assert 0 <= ph[0] and ph[-1] < 30.0
    per_second = [sum(1 for p in ph if s <= p < s + 1) for s in range(30)]
    assert min(per_second) > 60 and max(per_second) < 140  # ~100/s, no burst
