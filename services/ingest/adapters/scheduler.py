"""Probe thousands of cameras every period, evenly spread, with bounded concurrency.

Each camera has a fixed phase inside the period (a hash of its id), so 5,000 cameras every
30 s become a steady ~170 probes/s rather than a burst of 5,000 at the top of each period,
and each camera's samples stay one period apart. A probe that overruns `probe_timeout_s` is
cancelled and reported as a timeout; an adapter bug is reported as that camera's error. One
bad device never holds more than one concurrency slot, for at most the probe timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from .base import DeviceAdapter, DeviceTarget, NoAnswer, ProbeResult, failed_result, utcnow

OnResult = Callable[[DeviceTarget, ProbeResult, float], Awaitable[None] | None]


def phase(camera_id: str, period_s: float) -> float:
    h = hashlib.blake2s(camera_id.encode(), digest_size=4).digest()
    return int.from_bytes(h, "big") / 2**32 * period_s


@dataclass
class SchedulerStats:
    probes: int = 0
    timeouts: int = 0
    errors: int = 0
    max_lag_s: float = 0.0  # how late a probe started against its slot


class ProbeScheduler:
    def __init__(
        self,
        adapters: Mapping[str, DeviceAdapter],
        *,
        period_s: float = 30.0,
        concurrency: int = 256,
        probe_timeout_s: float = 10.0,
        deep_every: int = 10,
    ) -> None:
        self.adapters = adapters
        self.period_s = period_s
        self.sem = asyncio.Semaphore(concurrency)
        self.probe_timeout_s = probe_timeout_s
        self.deep_every = deep_every
        self.stats = SchedulerStats()
        self._round = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def probe_one(self, target: DeviceTarget, deep: bool = False) -> ProbeResult:
        adapter = self.adapters.get(target.protocol)
        started = utcnow()
        if adapter is None:
            return failed_result(
                target, started, ValueError(f"no adapter for protocol {target.protocol!r}")
            )
        try:
            async with asyncio.timeout(self.probe_timeout_s):
                return await adapter.probe(target, deep=deep)
        except TimeoutError:
            self.stats.timeouts += 1
            return failed_result(
                target,
                started,
                NoAnswer(
                    f"probe overran {self.probe_timeout_s:g} s (device accepted but did not answer)"
                ),
            )
        except Exception as exc:  # an adapter bug must not take the fleet down
            self.stats.errors += 1
            return failed_result(target, started, exc)

    async def run_round(self, targets: Sequence[DeviceTarget], on_result: OnResult) -> None:
        """One period: every target probed once at its phase."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        deep_slot = self._round % max(1, self.deep_every)
        self._round += 1
        plan = sorted(((phase(t.camera_id, self.period_s), t) for t in targets), key=lambda p: p[0])
        for offset, target in plan:
            delay = t0 + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            deep = int(offset * 1000) % max(1, self.deep_every) == deep_slot
            task = asyncio.create_task(self._run(target, deep, t0 + offset, on_result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        rest = t0 + self.period_s - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)

    async def _run(self, target: DeviceTarget, deep: bool, due: float, on_result: OnResult) -> None:
        loop = asyncio.get_running_loop()
        async with self.sem:
            lag = loop.time() - due
            self.stats.max_lag_s = max(self.stats.max_lag_s, lag)
            result = await self.probe_one(target, deep)
        self.stats.probes += 1
        r = on_result(target, result, lag)
        if r is not None:
            await r

    async def run(
        self,
        targets: Callable[[], Sequence[DeviceTarget] | Awaitable[Sequence[DeviceTarget]]],
        on_result: OnResult,
        rounds: int | None = None,
    ) -> None:
        """Run rounds forever (or `rounds` times); the target list is re-read every round so
        inventory changes and shard reassignments take effect within one period."""
        n = 0
        while rounds is None or n < rounds:
            got = targets()
            current = await got if isinstance(got, Awaitable) else got
            await self.run_round(current, on_result)
            n += 1

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def monotonic() -> float:
    return time.monotonic()
