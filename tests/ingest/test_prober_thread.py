"""The prober thread ends when it is told to, however early (found at session teardown: a
prober stopped before its loop ran was never cancelled, ran on forever, and held an executor
thread waiting for it, so the process could not close its event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from cctv.contract import CameraRecord
from cctv.contract.events import HealthSample
from services.ingest.prober import ProberThread


async def forever(
    _cameras: Callable[[], list[CameraRecord]], _hand_back: Callable[[HealthSample], None]
) -> None:
    await asyncio.Event().wait()


async def test_a_prober_stopped_at_once_ends() -> None:
    for _ in range(20):  # the race is at the thread's start: try it often
        prober = ProberThread(forever)
        prober.start()
        ended = asyncio.create_task(prober.wait())
        await asyncio.to_thread(prober.stop, 5.0)
        assert prober.done.is_set(), "the prober thread still runs after stop()"
        await asyncio.wait_for(ended, 5.0)  # told by the thread, no executor thread held


async def test_a_running_prober_is_cancelled_by_stop() -> None:
    running = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def main(
        _cameras: Callable[[], list[CameraRecord]], _hand_back: Callable[[HealthSample], None]
    ) -> None:
        loop.call_soon_threadsafe(running.set)
        await asyncio.Event().wait()

    prober = ProberThread(main)
    prober.start()
    await asyncio.wait_for(running.wait(), 5.0)
    await asyncio.to_thread(prober.stop, 5.0)
    await asyncio.wait_for(prober.wait(), 5.0)
    assert prober.error is None


async def test_queued_samples_go_out_together_and_a_failure_loses_only_its_batch() -> None:
    """One acknowledgement round trip per batch, not one broker publish per sample (a
    twentieth of ingest's CPU at 5,000 cameras)."""
    from datetime import UTC, datetime

    from services.ingest.prober import publish_from

    prober = ProberThread(forever)
    batches: list[list[str]] = []
    done = asyncio.Event()

    async def emit(batch: list[HealthSample]) -> None:
        batches.append([s.camera_id for s in batch])
        if len(batches) == 1:
            raise ConnectionError("NATS went away")  # this batch is lost, the loop goes on
        if sum(len(b) for b in batches) >= 150:
            done.set()

    for i in range(150):
        prober.queue.put_nowait(
            HealthSample(camera_id=f"Q-{i:03d}", sampled_at=datetime.now(UTC), reachable=True)
        )
    task = asyncio.create_task(publish_from(prober, emit, max_batch=64))
    try:
        await asyncio.wait_for(done.wait(), 5.0)
    finally:
        task.cancel()
    assert [len(b) for b in batches] == [64, 64, 22]
    assert [c for b in batches for c in b] == [f"Q-{i:03d}" for i in range(150)]
