"""Ingest's tamper watch (Art. 12): on a schedule, one frame per camera over RTSP, checked
against the camera's reference; a finding that starts or stops is an event.

Three parts: the decision (tamper_decision.py: frame and stored state in, findings and
events out, pure), the storage (store.py) and this module, which takes the frame, reads
and locks what is stored, asks the decision and commits its outcome with the events
staged in the outbox in one transaction.

Why findings are state, not telemetry: health turns them into faults and repair tickets, so
only changes are announced (TamperFinding when a check starts failing, TamperCleared when it
stops), committed with the state row through the outbox, and a restart or a replica
takeover does not announce them again. The reference changes only when an operator confirms
the current picture (`confirm`, reached by request-reply); the first reference of a camera
that has none is enrolled from its first clean frame, and says so ("system").
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from prometheus_client import Counter, Histogram

from cctv.contract import CameraRecord
from cctv.contract.events import TamperReferenceConfirmed
from cctv.plumbing.outbox import stage

from . import store
from .adapters.rtsp_probe import RtspCredentials, RtspProbe, RtspProbeResult, RtspStatus
from .adapters.streams import Discovered, stream_url
from .loadwatch import LoopMonitor, calm
from .tamper import TamperAssessment, TamperKind, TamperThresholds
from .tamper_decision import (
    Announcement,
    NewReference,
    Prior,
    active_kinds,
    decide_check,
    decide_confirm,
    require_operator,
    thresholds_from_json,
)

CHECKS = Counter("cctv_ingest_tamper_checks_total", "Tamper checks by outcome", ["outcome"])
GRAB_SECONDS = Histogram(
    "cctv_ingest_frame_grab_seconds",
    "RTSP probe plus one decoded frame",
    buckets=(0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)


def rtsp_url(
    camera: CameraRecord, template: str | None = None, discovered: Discovered | None = None
) -> str:
    """Where a camera's live stream is (see adapters/streams.py); `template` is for tests.

    Raises ValueError, in people's words, when nothing says where the stream is."""
    host, _, port = camera.address.rpartition(":")
    if not host:
        host, port = camera.address, ""
    channel = camera.channel or 1
    if template:
        return template.format(camera_id=camera.camera_id, host=host, port=port, channel=channel)
    url = stream_url(camera, discovered)
    if url is None:
        raise ValueError(
            "码流地址未知 / stream address unknown: the device announced none (ONVIF "
            "GetStreamUri) and the inventory has no stream_url"
        )
    return url


class CredentialsLike(Protocol):
    @property
    def username(self) -> str: ...

    @property
    def password(self) -> str: ...


CredentialsFor = Callable[[CameraRecord], CredentialsLike | None]


@dataclass(frozen=True)
class TamperCheck:
    """One camera's check: what the probe saw and, with a frame, what the checks found."""

    camera_id: str
    probe: RtspProbeResult
    assessment: TamperAssessment | None
    started: tuple[TamperKind, ...] = ()
    cleared: tuple[TamperKind, ...] = ()
    enrolled: bool = False
    stale: bool = False  # taken before the reference was last confirmed: not judged


class TamperWatch:
    """Checks cameras and keeps references and active findings in ingest's schema."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        probe: RtspProbe,
        *,
        schema: str = "ingest",
        url_template: str | None = None,
        credentials_for: CredentialsFor | None = None,
        source: str = "ingest",
        discovered: Discovered | None = None,
        rediscover: Callable[[str], None] | None = None,
        monitor: LoopMonitor | None = None,
    ) -> None:
        if not schema.isidentifier():
            raise ValueError(f"schema name {schema!r} is not an identifier")
        self.pool = pool
        self.probe = probe
        self.schema = schema
        self.url_template = url_template
        self.credentials_for = credentials_for or (lambda _c: None)
        self.source = source
        self.discovered = discovered
        self.rediscover = rediscover
        self.monitor = monitor
        # camera -> frame checks failed in a row (a camera whose frames cannot be read)
        self.failures: dict[str, int] = {}
        # camera -> the last frame check: when, and what came of it (`cctv cameras show`)
        self.last_check: dict[str, dict[str, Any]] = {}
        # camera -> (findings active, when its frame was judged): what health samples carry
        self.latest: dict[str, tuple[list[str], datetime]] = {}

    async def load_latest(self) -> None:
        """The judged state of every camera from the database (after a restart or a takeover,
        before this replica has checked the camera itself)."""
        for camera_id, active, checked_at in await store.tamper_judged(self.pool, self.schema):
            known = self.latest.get(camera_id)
            if known is None or known[1] < checked_at:
                self.latest[camera_id] = (active, checked_at)

    def _creds(self, camera: CameraRecord) -> RtspCredentials | None:
        c = self.credentials_for(camera)
        return None if c is None else RtspCredentials(c.username, c.password)

    async def _grab(self, camera: CameraRecord) -> RtspProbeResult:
        started = time.perf_counter()
        try:
            url = rtsp_url(camera, self.url_template, self.discovered)
        except ValueError as exc:
            return RtspProbeResult(
                camera_id=camera.camera_id,
                url="",
                measured_at=datetime.now(UTC),
                status=RtspStatus.NOT_FOUND,
                tcp_connected=False,
                reachable=False,
                latency_ms=None,
                auth_ok=None,
                describe_ok=False,
                codec=None,
                streaming=None,
                error=str(exc),
            )
        loop_start = asyncio.get_running_loop().time()
        result = await self.probe.probe(camera.camera_id, url, self._creds(camera), grab_frame=True)
        GRAB_SECONDS.observe(time.perf_counter() - started)
        self.last_check[camera.camera_id] = {
            "at": result.measured_at.isoformat(),
            "url": result.url,
            "ok": result.frame is not None,
            "error": result.error,
        }
        if (
            result.frame is None
            and self.monitor is not None
            and self.monitor.since(loop_start) > 0.5
        ):
            return result  # ingest stalled during the grab: not counted against the camera
        if result.frame is None:
            self.failures[camera.camera_id] = self.failures.get(camera.camera_id, 0) + 1
            if self.rediscover is not None:  # the device may have moved its stream
                self.rediscover(camera.camera_id)
        else:
            self.failures.pop(camera.camera_id, None)
        return result

    async def _announce(
        self, conn: asyncpg.Connection, camera_id: str, announcements: Iterable[Announcement]
    ) -> None:
        """Stage the decision's events in the outbox, in the caller's transaction."""
        for a in announcements:
            await stage(
                conn, self.schema, a.event, source=self.source, key=camera_id, actor=a.actor
            )

    async def _store_reference(self, conn: asyncpg.Connection, new: NewReference) -> None:
        ref = new.reference
        await store.save_tamper_reference(
            conn,
            self.schema,
            ref.camera_id,
            new.pixels,
            new.event.pixels_sha256,
            ref.confirmed_by,
            ref.confirmed_at,
        )

    # ---- the scheduled check ---------------------------------------------------------
    async def check(self, camera: CameraRecord) -> TamperCheck:
        """Take one frame and compare it with the reference; announce what changed."""
        result = await self._grab(camera)
        now = datetime.now(UTC)
        if result.frame is None:
            CHECKS.labels("no_frame").inc()
            await store.tamper_no_frame(self.pool, self.schema, camera.camera_id, now, result.error)
            return TamperCheck(camera.camera_id, result, None)
        pixels = result.frame.pixels
        observed = result.frame.captured_at
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.tamper_lock(conn, self.schema, camera.camera_id)
            prior = Prior(
                active=active_kinds(row.active),
                thresholds=thresholds_from_json(row.thresholds),
                reference=await store.tamper_reference(conn, self.schema, camera.camera_id),
            )
            # numpy over the picture: in a thread, so the loop keeps answering
            decision = await asyncio.to_thread(
                decide_check, camera.camera_id, pixels, observed, prior
            )
            if decision.stale:
                CHECKS.labels("stale").inc()
                return TamperCheck(camera.camera_id, result, None, stale=True)
            if decision.enrolled is not None:
                await self._store_reference(conn, decision.enrolled)
            await self._announce(conn, camera.camera_id, decision.announcements)
            active = [k.value for k in decision.active]
            await store.tamper_set_active(
                conn, self.schema, camera.camera_id, active, now, clear_error=True
            )
        CHECKS.labels("finding" if decision.active else "clean").inc()
        self.latest[camera.camera_id] = (active, now)
        return TamperCheck(
            camera.camera_id,
            result,
            decision.assessment,
            decision.started,
            decision.cleared,
            decision.enrolled is not None,
        )

    # ---- references ------------------------------------------------------------------
    async def confirm(
        self, camera: CameraRecord, operator: str, reason: str = ""
    ) -> TamperReferenceConfirmed:
        """An operator confirms what the camera shows now as its reference (Art. 12).

        Takes a fresh frame; refuses a covered-looking one. Findings that no longer hold
        against the new reference are cleared in the same transaction.
        """
        require_operator(operator)
        result = await self._grab(camera)
        if result.frame is None:
            raise ValueError(f"无法取得画面 / no frame from {camera.camera_id}: {result.error}")
        frame = result.frame
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.tamper_lock(conn, self.schema, camera.camera_id)
            prior = Prior(
                active=active_kinds(row.active), thresholds=thresholds_from_json(row.thresholds)
            )
            had = await store.has_tamper_reference(conn, self.schema, camera.camera_id)
            decision = await asyncio.to_thread(
                decide_confirm,
                camera.camera_id,
                frame.pixels,
                frame.captured_at,
                operator,
                reason,
                prior,
                had_reference=had,
            )
            await self._store_reference(conn, decision.reference)
            await self._announce(conn, camera.camera_id, decision.announcements)
            still = [k.value for k in decision.still]
            await store.tamper_set_active(
                conn, self.schema, camera.camera_id, still, datetime.now(UTC), clear_error=False
            )
        self.latest[camera.camera_id] = (still, datetime.now(UTC))
        return decision.reference.event

    async def set_thresholds(self, camera_id: str, overrides: dict[str, Any]) -> TamperThresholds:
        """Per-camera thresholds (validated: a bad name or value is refused by name)."""
        t = thresholds_from_json(overrides)
        await store.tamper_set_thresholds(self.pool, self.schema, camera_id, overrides)
        return t

    async def state(self, camera_id: str) -> dict[str, Any]:
        row = await store.tamper_row(self.pool, self.schema, camera_id)
        if row is None:
            return {"camera_id": camera_id, "active": [], "reference": None}
        ref = None
        if row.confirmed_by is not None:
            assert row.confirmed_at is not None
            ref = {
                "confirmed_by": row.confirmed_by,
                "confirmed_at": row.confirmed_at.isoformat(),
                "pixels_sha256": row.pixels_sha256,
            }
        return {
            "camera_id": camera_id,
            "active": row.active,
            "thresholds": asdict(thresholds_from_json(row.thresholds)),
            "checked_at": row.checked_at.isoformat() if row.checked_at else None,
            "last_error": row.last_error,
            "reference": ref,
        }


# ---- the schedule ------------------------------------------------------------------------
def phase(camera_id: str, period_s: float) -> float:
    """A camera's fixed offset in the period, so checks are spread evenly, not bursty."""
    h = hashlib.blake2s(f"tamper:{camera_id}".encode(), digest_size=4).digest()
    return int.from_bytes(h, "big") / 2**32 * period_s


async def run_rounds(
    watch: TamperWatch,
    cameras: Callable[[], Awaitable[list[CameraRecord]]],
    period_s: float,
    *,
    max_in_flight: int = 16,
    rounds: int | None = None,
    monitor: LoopMonitor | None = None,
) -> None:
    """Check every camera once per period at its phase; the camera list is re-read per round
    (inventory changes and shard moves apply within one period). At most `max_in_flight`
    checks wait at once; a camera whose previous check still runs is skipped this round."""
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(max_in_flight)
    running: dict[str, asyncio.Task[None]] = {}

    async def one(cam: CameraRecord) -> None:
        try:
            async with sem:
                await calm(monitor, 0.5)  # frames wait while probes and request-reply are late
                await watch.check(cam)
        except Exception:  # one camera's trouble never stops the watch
            CHECKS.labels("error").inc()
        finally:
            running.pop(cam.camera_id, None)

    n = 0
    while rounds is None or n < rounds:
        t0 = loop.time()
        plan = sorted(
            ((phase(c.camera_id, period_s), c) for c in await cameras()), key=lambda p: p[0]
        )
        for offset, cam in plan:
            delay = t0 + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if cam.camera_id in running:
                CHECKS.labels("skipped").inc()
                continue
            running[cam.camera_id] = asyncio.create_task(one(cam))
        rest = t0 + period_s - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)
        n += 1
    if running:
        await asyncio.gather(*running.values(), return_exceptions=True)
