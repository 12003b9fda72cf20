"""How far behind ingest's own event loop is, so that ingest's lateness is never blamed on a
camera (issue 9, "the prober protects itself").

Why a timer: the event loop answers request-reply, runs every probe and publishes every
sample. When it is saturated (too many probes for the CPU it gets, another process taking a
core), a short timer fires late by exactly the time every other callback waits. That lateness
is the loop lag. The sampler sheds probes while it is high, and a probe that timed out while
it was high is reported "not measured", not as a failed sample of the camera.
"""

from __future__ import annotations

import asyncio
from collections import deque

from prometheus_client import Gauge, Histogram

LOOP_LAG = Gauge(
    "cctv_ingest_event_loop_lag_seconds",
    "Event-loop lag (service: request-reply and publishing; prober: probes): the largest "
    "timer lateness over the last few seconds",
    ["loop"],
)
LOOP_LAG_HIST = Histogram(
    "cctv_ingest_event_loop_lag_observed_seconds",
    "Each measured timer lateness of an ingest event loop",
    ["loop"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)


class LoopMonitor:
    """Fires a timer every `interval_s` and keeps how late each firing was."""

    def __init__(
        self, interval_s: float = 0.05, window_s: float = 5.0, loop: str = "prober"
    ) -> None:
        self.loop = loop
        self.interval_s = interval_s
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()  # (loop time fired, lateness)
        self._due: float | None = None
        self._measured = asyncio.Event()  # set at each measurement, for waiters in calm()

    def pending(self) -> float:
        """How overdue the next firing is right now (the loop has not reached it yet)."""
        if self._due is None:
            return 0.0
        return max(0.0, asyncio.get_running_loop().time() - self._due)

    def record(self, at: float, lateness: float) -> None:
        self._samples.append((at, lateness))
        while self._samples and self._samples[0][0] < at - self.window_s:
            self._samples.popleft()
        LOOP_LAG_HIST.labels(self.loop).observe(lateness)
        LOOP_LAG.labels(self.loop).set(self.recent(self.window_s))
        self._measured.set()
        self._measured = asyncio.Event()

    async def measured(self) -> None:
        """Return at the next measurement."""
        await self._measured.wait()

    def recent(self, horizon_s: float = 1.0) -> float:
        """The largest lateness over the last `horizon_s`, or the one pending now if larger."""
        if not self._samples:
            return self.pending()
        return max(self.since(self._samples[-1][0] - horizon_s), self.pending())

    def since(self, start: float) -> float:
        """The largest lateness seen from loop time `start` until now: did the loop stall
        while a probe ran?"""
        worst = max((lag for at, lag in self._samples if at >= start), default=0.0)
        return max(worst, self.pending())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = loop.time()
            self.record(now, max(0.0, now - self._due))


async def calm(monitor: LoopMonitor | None, max_lag_s: float) -> None:
    """Wait until the loop lag is under `max_lag_s`: background work (recording scans,
    tamper checks) yields to request-reply and probes while ingest is behind."""
    if monitor is None:
        return
    while monitor.recent() > max_lag_s:
        await monitor.measured()
