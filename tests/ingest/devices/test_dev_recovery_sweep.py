"""A recorder comes back: its cameras that were failing are probed at once when the first of
them answers, not each at its own slot up to a period later (issue 9: a 60-camera recorder's
restore took 3.6 sample periods to resolve)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from cctv.contract import CameraRecord
from cctv.contract.events import HealthSample
from services.ingest.sampler import SpreadSampler


def cam(i: int, nvr: str) -> CameraRecord:
    return CameraRecord(
        camera_id=f"rs-{nvr}-{i:02d}", name="x", system_id="A1-06", department="logistics",
        managing_department="logistics", category="public_safety", building="b", position="p",
        zone="z", brand="hikvision", protocol="isapi", address="127.0.0.1:1", channel=1,
        nvr_id=nvr,
    )  # fmt: skip


class Recorder:
    """Stand-in devices: cameras in `down` fail until mended."""

    def __init__(self, down: set[str]) -> None:
        self.down = down

    async def probe(self, camera: CameraRecord) -> HealthSample:
        up = camera.camera_id not in self.down
        return HealthSample(camera_id=camera.camera_id, sampled_at=datetime.now(UTC),
                            reachable=up, error=None if up else "refused")  # fmt: skip


async def test_a_recorders_cameras_come_back_together() -> None:
    period = 4.0
    on_a = [cam(i, "NVR-A") for i in range(30)]
    on_b = [cam(i, "NVR-B") for i in range(10)]
    b_down = on_b[0].camera_id  # failing on another recorder: stays at its own slot
    device = Recorder({c.camera_id for c in on_a} | {b_down})
    failed_once: set[str] = set()
    back: dict[str, float] = {}
    samples: dict[str, int] = {}
    loop = asyncio.get_running_loop()

    async def emit(s: HealthSample) -> None:
        samples[s.camera_id] = samples.get(s.camera_id, 0) + 1
        if not s.reachable:
            failed_once.add(s.camera_id)
            if failed_once >= {c.camera_id for c in on_a}:
                device.down -= {c.camera_id for c in on_a}  # the recorder is mended
        elif s.camera_id not in back:
            back[s.camera_id] = loop.time()

    sampler = SpreadSampler(lambda _c: device, emit, period_s=period, concurrency=8, timeout_s=1)

    async def cameras() -> list[CameraRecord]:
        return on_a + on_b

    await sampler.run(cameras, rounds=2)
    first = min(back[c.camera_id] for c in on_a)
    last = max(back[c.camera_id] for c in on_a)
    # at their own slots the 30 would come back over most of a period; together, within
    # the sweep's spread (period / 10) and a little
    assert last - first < period / 4, sorted(back[c.camera_id] - first for c in on_a)
    assert b_down not in back  # NVR-B's failing camera is not swept by NVR-A's recovery
    assert samples[on_b[1].camera_id] == 2  # a healthy camera: its slots only


async def test_the_sweep_keeps_to_this_replicas_cameras() -> None:
    on_a = [cam(i, "NVR-C") for i in range(6)]
    theirs = {c.camera_id for c in on_a[3:]}
    device = Recorder({c.camera_id for c in on_a})
    seen: list[str] = []

    async def emit(s: HealthSample) -> None:
        seen.append(s.camera_id)
        if len(seen) == 3:
            device.down.clear()

    sampler = SpreadSampler(lambda _c: device, emit, period_s=1.0, concurrency=4, timeout_s=1)

    async def cameras() -> list[CameraRecord]:
        return on_a

    await sampler.run(cameras, rounds=2, mine=lambda cid: cid not in theirs)
    assert not theirs & set(seen)
