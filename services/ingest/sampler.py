"""Samples every camera once per period with bounded concurrency, so that one slow or dead
device never holds up the rest of the fleet.

`SpreadSampler` is what ingest runs: each camera has a fixed phase inside the period (a hash
of its id), so 5,000 cameras every 30 s are a steady ~170 probes/s rather than a burst of
5,000 at the top of each period, and each camera's samples stay one period apart. A camera
whose previous probe is still running is skipped for that round (counted), never queued
twice, so an overloaded replica degrades into older samples, not into unbounded backlog.
`sample_fleet` (all at once, wait for all) stays for small fleets and tests.

When a camera that failed answers again, its recorder's other cameras that failed too are
probed at once rather than at their slots: what brings one back (the recorder, its switch,
its power) usually brings them all, and the outage resolves together, within one period.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

from cctv.contract import CameraRecord
from cctv.contract.events import HealthSample

from .adapters.scheduler import phase
from .loadwatch import LoopMonitor

SKIPPED = Counter(
    "cctv_ingest_probes_skipped_total", "Probes skipped: the camera's previous probe still ran"
)
LAG = Histogram(
    "cctv_ingest_probe_lag_seconds",
    "How late a probe started against its camera's slot",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
IN_FLIGHT = Gauge("cctv_ingest_probes_in_flight", "Probes running now")
UNMEASURED = Counter(
    "cctv_ingest_probes_unmeasured_total",
    "Rounds published as not measured because ingest itself was behind",
    ["reason"],
)


class Probe(Protocol):
    async def probe(self, camera: CameraRecord) -> HealthSample: ...


Emit = Callable[[HealthSample], Awaitable[None]]


def unmeasured(cam: CameraRecord, reason: str, shard: str | None = None) -> HealthSample:
    """A round ingest could not measure: not a failed sample of the camera (issue 9)."""
    return HealthSample(
        camera_id=cam.camera_id,
        sampled_at=datetime.now(UTC),
        reachable=False,
        measured=False,
        unmeasured_reason=reason,
        shard=shard,
    )


def _timed_out(sample: HealthSample) -> bool:
    """Only a probe that ran out of time can be ingest's fault; a refused or dropped
    connection, a wrong password or garbage is the device's answer whatever our lag."""
    return (sample.error or "").startswith("timeout")


async def probe_bounded(probe: Probe, cam: CameraRecord, timeout_s: float) -> HealthSample:
    """One probe under a hard deadline; an overrun or an adapter bug is that camera's sample."""
    try:
        return await asyncio.wait_for(probe.probe(cam), timeout_s + 1.0)
    except TimeoutError:
        error = "timeout: probe overran its timeout"
    except Exception as exc:  # an adapter bug must not take the fleet down
        error = f"error: {type(exc).__name__}: {exc}"
    return HealthSample(
        camera_id=cam.camera_id, sampled_at=datetime.now(UTC), reachable=False, error=error
    )


async def sample_fleet(
    cameras: list[CameraRecord],
    probe_for: Callable[[CameraRecord], Probe],
    emit: Emit,
    concurrency: int,
    timeout_s: float,
) -> int:
    """Probe each camera once; a probe that overruns its timeout is reported unreachable."""
    sem = asyncio.Semaphore(concurrency)

    async def one(cam: CameraRecord) -> None:
        async with sem:
            sample = await probe_bounded(probe_for(cam), cam, timeout_s)
        await emit(sample)

    await asyncio.gather(*(one(c) for c in cameras))
    return len(cameras)


async def run_periodically(period_s: float, tick: Callable[[], Awaitable[object]]) -> None:
    """Run `tick` every period, measured start to start; an overrun starts the next at once."""
    while True:
        started = time.monotonic()
        await tick()
        await asyncio.sleep(max(0.0, period_s - (time.monotonic() - started)))


@dataclass
class SamplerStats:
    probes: int = 0
    skipped: int = 0
    unmeasured: int = 0
    max_lag_s: float = 0.0


class SpreadSampler:
    """Every camera once per period at its own phase, at most `concurrency` probes at once."""

    def __init__(
        self,
        probe_for: Callable[[CameraRecord], Probe],
        emit: Emit,
        *,
        period_s: float,
        concurrency: int,
        timeout_s: float,
        monitor: LoopMonitor | None = None,
        shed_lag_s: float | None = None,
        max_start_lag_s: float | None = None,
        shard: str | None = None,
    ) -> None:
        self.probe_for = probe_for
        self.emit = emit
        self.period_s = period_s
        self.timeout_s = timeout_s
        self.sem = asyncio.Semaphore(concurrency)
        self.stats = SamplerStats()
        self.monitor = monitor
        # loop lag above which new probes are not started (shed), and above which a probe
        # that failed by timing out is ingest's fault, not the camera's
        self.shed_lag_s = shed_lag_s if shed_lag_s is not None else min(0.5, period_s / 4)
        # a probe this late (its next slots passed meanwhile) is dropped as "ingest behind"; a
        # little late is still a true measurement of the device
        self.max_start_lag_s = (
            max_start_lag_s if max_start_lag_s is not None else max(2 * period_s, 5.0)
        )
        self.shard = shard
        # shed only while our own probes are many: a loop late for other reasons (the machine
        # is busy) gains nothing from probing less, and the cameras would go unmeasured
        self.in_flight = 0
        self.shed_min_in_flight = max(4, concurrency // 8)
        self.note_every_s = max(5.0, 3 * period_s)
        self.starve_after_s = max(4.0, 4 * period_s)
        self._last_measured: dict[str, float] = {}
        self._last_note: dict[str, float] = {}
        self.running: dict[str, asyncio.Task[None]] = {}
        self.last_probe: dict[str, float] = {}  # camera -> loop time this replica last probed it
        self.catchup_spread_s = min(5.0, period_s / 6)
        self._notes: set[asyncio.Task[None]] = set()
        self.failing: set[str] = set()  # cameras whose last measured sample was a failure
        self.by_recorder: dict[str, list[CameraRecord]] = {}  # nvr_id -> its cameras
        self.recovery_spread_s = min(2.0, period_s / 10)
        self.mine: Callable[[str], bool] | None = None  # this replica's cameras (sharding)

    def _blame(self, loop_start: float) -> float | None:
        """The loop lag that made this probe ingest's failure, or None if the loop kept up."""
        if self.monitor is None:
            return None
        lag = self.monitor.since(loop_start)
        return lag if lag > self.shed_lag_s else None

    async def _one(self, cam: CameraRecord, due: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            delay = due - loop.time()
            if delay > 0:  # a catch-up probe, spread over a few seconds
                await asyncio.sleep(delay)
            async with self.sem:
                self.last_probe[cam.camera_id] = loop.time()
                lag = loop.time() - due
                LAG.observe(max(0.0, lag))
                self.stats.max_lag_s = max(self.stats.max_lag_s, lag)
                loop_lag = self.monitor.recent() if self.monitor is not None else 0.0
                # a camera not measured for a while is probed even now: shedding spreads the
                # shortfall over the fleet instead of leaving some cameras blind
                since = self._last_measured.setdefault(cam.camera_id, loop.time())
                starving = loop.time() - since > self.starve_after_s
                sample: HealthSample | None = None
                if starving:
                    pass
                elif lag > self.max_start_lag_s:
                    sample = self._unmeasured(
                        cam, "behind", f"ingest behind: probe due {lag:.1f} s ago not started"
                    )
                elif loop_lag > self.shed_lag_s and self.in_flight >= self.shed_min_in_flight:
                    sample = self._unmeasured(
                        cam, "overloaded", f"ingest overloaded: event loop {loop_lag:.2f} s late"
                    )
                if sample is None:
                    started = loop.time()
                    IN_FLIGHT.inc()
                    self.in_flight += 1
                    try:
                        sample = await probe_bounded(self.probe_for(cam), cam, self.timeout_s)
                    finally:
                        IN_FLIGHT.dec()
                        self.in_flight -= 1
                    blamed = self._blame(started) if _timed_out(sample) else None
                    if blamed is not None:
                        sample = self._unmeasured(
                            cam,
                            "stalled",
                            f"ingest stalled {blamed:.2f} s during the probe ({sample.error})",
                        )
                    else:
                        self.stats.probes += 1
                        self._last_measured[cam.camera_id] = loop.time()
                        self._follow(cam, sample)
            if not sample.measured and not self._note_due(cam.camera_id):
                return  # said "not measured" a moment ago: no need to load the bus again
            if sample.shard is None and self.shard is not None:
                sample = sample.model_copy(update={"shard": self.shard})
            await self.emit(sample)
        except Exception:  # a failed publish loses one sample, never the loop
            pass
        finally:
            self.running.pop(cam.camera_id, None)

    def _follow(self, cam: CameraRecord, sample: HealthSample) -> None:
        """Keep who is failing; a recorder's camera back up sends for its failing siblings."""
        if not sample.reachable:
            self.failing.add(cam.camera_id)
            return
        if cam.camera_id not in self.failing:
            return
        self.failing.discard(cam.camera_id)
        if cam.nvr_id is None:
            return
        siblings = [
            c
            for c in self.by_recorder.get(cam.nvr_id, [])
            if c.camera_id in self.failing
            and c.camera_id not in self.running
            and (self.mine is None or self.mine(c.camera_id))
        ]
        now = asyncio.get_running_loop().time()
        for i, sib in enumerate(siblings):
            due = now + i * self.recovery_spread_s / len(siblings)
            self.running[sib.camera_id] = asyncio.create_task(self._one(sib, due))

    def _index(self, cameras: list[CameraRecord]) -> None:
        by: dict[str, list[CameraRecord]] = {}
        for c in cameras:
            if c.nvr_id:
                by.setdefault(c.nvr_id, []).append(c)
        self.by_recorder = by
        known = {c.camera_id for c in cameras}
        self.failing &= known

    def _note_due(self, camera_id: str) -> bool:
        """At most one "not measured" per camera every `note_every_s`: an overloaded ingest
        must not spend what it lacks on saying so for every slot."""
        now = time.monotonic()
        if now - self._last_note.get(camera_id, -1e18) < self.note_every_s:
            return False
        self._last_note[camera_id] = now
        return True

    def _unmeasured(self, cam: CameraRecord, why: str, reason: str) -> HealthSample:
        self.stats.unmeasured += 1
        UNMEASURED.labels(why).inc()
        return unmeasured(cam, reason, self.shard)

    async def _emit_quietly(self, sample: HealthSample) -> None:
        try:
            await self.emit(sample)
        except Exception:  # a failed publish loses one sample, never the loop
            pass

    async def run_round(
        self,
        cameras: list[CameraRecord],
        mine: Callable[[str], bool] | None = None,
        t0: float | None = None,
    ) -> None:
        """One period from `t0` (default now): each camera at its phase, if `mine` (asked at
        the slot) says so."""
        loop = asyncio.get_running_loop()
        t0 = loop.time() if t0 is None else t0
        plan = sorted(((phase(c.camera_id, self.period_s), c) for c in cameras), key=lambda p: p[0])
        for offset, cam in plan:
            delay = t0 + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if mine is not None and not mine(cam.camera_id):
                continue  # another replica's camera (now)
            if cam.camera_id in self.running:
                self.stats.skipped += 1
                SKIPPED.inc()
                note = self._unmeasured(
                    cam, "skipped", "slot skipped: the previous probe of this camera still runs"
                )
                if not self._note_due(cam.camera_id):
                    continue
                task = asyncio.create_task(self._emit_quietly(note))
                self._notes.add(task)
                task.add_done_callback(self._notes.discard)
                continue
            self.running[cam.camera_id] = asyncio.create_task(self._one(cam, t0 + offset))
        rest = t0 + self.period_s - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)

    async def _take_over(
        self,
        current: list[list[CameraRecord]],
        mine: Callable[[str], bool],
        members: Callable[[], object],
    ) -> None:
        """When the member list changes, cameras that just became ours (a replica died or
        left) are probed at once, spread over a few seconds, instead of waiting up to a
        period for their slots: the takeover is within one period of the death."""
        loop = asyncio.get_running_loop()
        seen = members()
        owned = {c.camera_id for c in current[0] if mine(c.camera_id)}
        while True:
            await asyncio.sleep(0.5)
            now_members = members()
            if now_members == seen:
                continue
            seen = now_members
            now_owned = {c.camera_id for c in current[0] if mine(c.camera_id)}
            gained, owned = now_owned - owned, now_owned
            now = loop.time()
            stale = [
                c
                for c in current[0]
                if c.camera_id in gained
                and c.camera_id not in self.running
                and now - self.last_probe.get(c.camera_id, -1e18) > self.period_s
            ]
            for i, cam in enumerate(stale):
                due = now + i * self.catchup_spread_s / len(stale)
                self.running[cam.camera_id] = asyncio.create_task(self._one(cam, due))

    async def run(
        self,
        cameras: Callable[[], Awaitable[list[CameraRecord]]],
        rounds: int | None = None,
        mine: Callable[[str], bool] | None = None,
        members: Callable[[], object] | None = None,
    ) -> None:
        """Rounds forever (or `rounds`); the camera list is re-read each round, so inventory
        changes apply within one period, and `mine` is asked at each camera's slot, so a
        shard move applies at the camera's next slot. With `members` (the live member list,
        compared for change), cameras gained from a dead replica are probed at once."""
        n = 0
        self.mine = mine
        current: list[list[CameraRecord]] = [[]]
        watcher: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        t0 = loop.time()  # rounds are anchored: a camera's samples stay exactly one period apart
        try:
            while rounds is None or n < rounds:
                try:
                    current_list = await cameras()
                except Exception:  # database or NATS blip: try again next period
                    await asyncio.sleep(self.period_s)
                    t0 = loop.time()
                    continue
                current[0] = current_list
                self._index(current_list)
                if watcher is None and mine is not None and members is not None:
                    watcher = asyncio.create_task(self._take_over(current, mine, members))
                await self.run_round(current_list, mine, t0)
                n += 1
                t0 += self.period_s
                if t0 < loop.time() - self.period_s:  # fell a whole period behind: re-anchor
                    t0 = loop.time()
        finally:
            if watcher is not None:
                watcher.cancel()
            if rounds is not None:
                await self.drain()

    async def drain(self) -> None:
        if self.running:
            await asyncio.gather(*list(self.running.values()), return_exceptions=True)
