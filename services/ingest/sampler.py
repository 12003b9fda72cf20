"""Samples every camera once per period with bounded concurrency, so that one slow or dead
device never holds up the rest of the fleet."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from cctv.contract import CameraRecord
from cctv.contract.events import HealthSample


class Probe(Protocol):
    async def probe(self, camera: CameraRecord) -> HealthSample: ...


async def sample_fleet(
    cameras: list[CameraRecord],
    probe_for: Callable[[CameraRecord], Probe],
    emit: Callable[[HealthSample], Awaitable[None]],
    concurrency: int,
    timeout_s: float,
) -> int:
    """Probe each camera once; a probe that overruns its timeout is reported unreachable."""
    sem = asyncio.Semaphore(concurrency)

    async def one(cam: CameraRecord) -> None:
        async with sem:
            try:
                sample = await asyncio.wait_for(probe_for(cam).probe(cam), timeout_s + 1.0)
            except TimeoutError:
                from datetime import UTC, datetime

                sample = HealthSample(
                    camera_id=cam.camera_id,
                    sampled_at=datetime.now(UTC),
                    reachable=False,
                    error="probe overran its timeout",
                )
        await emit(sample)

    await asyncio.gather(*(one(c) for c in cameras))
    return len(cameras)


async def run_periodically(period_s: float, tick: Callable[[], Awaitable[object]]) -> None:
    """Run `tick` every period, measured start to start; an overrun starts the next at once."""
    while True:
        started = time.monotonic()
        await tick()
        await asyncio.sleep(max(0.0, period_s - (time.monotonic() - started)))
