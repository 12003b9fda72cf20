"""Ingest's tamper watch (Art. 12): on a schedule, one frame per camera over RTSP, checked
against the camera's reference; a finding that starts or stops is an event.

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
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import numpy as np
from prometheus_client import Counter, Histogram

from cctv.contract import CameraRecord, rpc
from cctv.contract import rpcmodels as m
from cctv.contract.events import (
    TamperCleared,
    TamperFinding,
    TamperReferenceConfirmed,
)
from cctv.plumbing.outbox import stage
from cctv.plumbing.service import RpcError
from cctv.plumbing.settings import ServiceSettings

from .adapters.rtsp_probe import RtspCredentials, RtspProbe, RtspProbeResult, RtspStatus
from .adapters.streams import Discovered, stream_url
from .frames import FrameSampler
from .loadwatch import LoopMonitor, calm
from .tamper import (
    ReferenceFrame,
    TamperAssessment,
    TamperKind,
    TamperThresholds,
    assess,
    confirm_reference,
    reference_pixels,
    restore_reference,
)

RPC_TAMPER_CONFIRM = rpc.INGEST_TAMPER_CONFIRM
RPC_TAMPER_STATE = rpc.INGEST_TAMPER_STATE
SYSTEM_ENROLMENT = "system"

CHECKS = Counter("cctv_ingest_tamper_checks_total", "Tamper checks by outcome", ["outcome"])
GRAB_SECONDS = Histogram(
    "cctv_ingest_frame_grab_seconds",
    "RTSP probe plus one decoded frame",
    buckets=(0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)


class MediaSettings(ServiceSettings):
    """Ingest's media settings (environment variables of the same names, upper case)."""

    tamper_watch: bool = True
    # one frame per camera per interval; unset: 300 s, or 120 s on the demo campus so that
    # `cctv sim break CAM --fault covered` shows within two minutes
    tamper_interval_s: float | None = None
    frame_concurrency: int = 4  # decoding threads (each costs ~10 ms CPU per frame)
    rtsp_timeout_s: float = 3.0
    seed_demo: bool = False

    def interval(self) -> float:
        if self.tamper_interval_s is not None:
            return self.tamper_interval_s
        return 120.0 if self.seed_demo else 300.0


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


def _sha256(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def thresholds_from_json(raw: Any) -> TamperThresholds:
    """Per-camera overrides stored as JSON; unknown names are refused by name."""
    if raw is None:
        return TamperThresholds()
    data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    known = {f.name for f in fields(TamperThresholds)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown tamper threshold(s): {', '.join(unknown)}")
    return TamperThresholds(**data)


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
        rows = await self.pool.fetch(
            f"SELECT camera_id, active, checked_at FROM {self.schema}.tamper_state "
            "WHERE checked_at IS NOT NULL AND last_error IS NULL"
        )
        for r in rows:
            known = self.latest.get(r["camera_id"])
            if known is None or known[1] < r["checked_at"]:
                self.latest[r["camera_id"]] = (sorted(r["active"] or []), r["checked_at"])

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

    # ---- the scheduled check ---------------------------------------------------------
    async def check(self, camera: CameraRecord) -> TamperCheck:
        """Take one frame and compare it with the reference; announce what changed."""
        result = await self._grab(camera)
        s = self.schema
        now = datetime.now(UTC)
        if result.frame is None:
            CHECKS.labels("no_frame").inc()
            await self.pool.execute(
                f"INSERT INTO {s}.tamper_state (camera_id, checked_at, last_error) "
                "VALUES ($1, $2, $3) ON CONFLICT (camera_id) DO UPDATE "
                "SET checked_at = EXCLUDED.checked_at, last_error = EXCLUDED.last_error",
                camera.camera_id,
                now,
                result.error,
            )
            return TamperCheck(camera.camera_id, result, None)
        pixels = result.frame.pixels
        observed = result.frame.captured_at
        async with self.pool.acquire() as conn, conn.transaction():
            state = await conn.fetchrow(
                f"SELECT active, thresholds FROM {s}.tamper_state WHERE camera_id=$1 FOR UPDATE",
                camera.camera_id,
            )
            thresholds = thresholds_from_json(state["thresholds"] if state else None)
            reference = await self._load_reference(conn, camera.camera_id)
            if reference is not None and reference.confirmed_at > observed:
                # an operator confirmed a newer picture while this frame was in flight
                CHECKS.labels("stale").inc()
                return TamperCheck(camera.camera_id, result, None, stale=True)
            enrolled = False
            if reference is None:
                try:
                    reference = confirm_reference(
                        camera.camera_id,
                        pixels,
                        SYSTEM_ENROLMENT,
                        at=observed,
                        thresholds=thresholds,
                    )
                except ValueError:
                    reference = None  # looks covered: no reference until a clean frame
                else:
                    await self._store_reference(conn, reference, "首次登记 first enrolment", False)
                    enrolled = True
            # numpy over the picture: in a thread, so the loop keeps answering
            assessment = await asyncio.to_thread(
                assess, camera.camera_id, pixels, reference, thresholds
            )
            before = {TamperKind(k) for k in (state["active"] if state else [])}
            now_active = set(assessment.kinds)
            started = tuple(sorted(now_active - before))
            cleared = tuple(sorted(before - now_active))
            by_kind = {f.kind: f for f in assessment.findings}
            for kind in started:
                f = by_kind[kind]
                await stage(
                    conn,
                    s,
                    TamperFinding(
                        camera_id=camera.camera_id,
                        finding=kind.value,
                        score=f.measured,
                        threshold=f.threshold,
                        observed_at=observed,
                    ),
                    source=self.source,
                    key=camera.camera_id,
                )
            for kind in cleared:
                score, threshold = self._score(assessment, kind, thresholds)
                await stage(
                    conn,
                    s,
                    TamperCleared(
                        camera_id=camera.camera_id,
                        finding=kind.value,
                        score=score,
                        threshold=threshold,
                        observed_at=observed,
                    ),
                    source=self.source,
                    key=camera.camera_id,
                )
            await conn.execute(
                f"INSERT INTO {s}.tamper_state (camera_id, active, checked_at, last_error) "
                "VALUES ($1, $2, $3, NULL) ON CONFLICT (camera_id) DO UPDATE "
                "SET active = EXCLUDED.active, checked_at = EXCLUDED.checked_at, "
                "last_error = NULL",
                camera.camera_id,
                sorted(k.value for k in now_active),
                now,
            )
        CHECKS.labels("finding" if now_active else "clean").inc()
        self.latest[camera.camera_id] = (sorted(k.value for k in now_active), now)
        return TamperCheck(camera.camera_id, result, assessment, started, cleared, enrolled)

    @staticmethod
    def _score(a: TamperAssessment, kind: TamperKind, t: TamperThresholds) -> tuple[float, float]:
        """The measure behind a kind on a frame where it no longer fires."""
        if kind is TamperKind.MOVED and a.similarity is not None:
            return a.similarity, t.moved_min_similarity
        if kind is TamperKind.BLURRED and a.sharpness_ratio is not None:
            return a.sharpness_ratio, t.blur_ratio
        return a.stats.mean, t.dark_mean

    # ---- references ------------------------------------------------------------------
    async def _load_reference(
        self, conn: asyncpg.Connection, camera_id: str
    ) -> ReferenceFrame | None:
        row = await conn.fetchrow(
            f"SELECT pixels, height, width, confirmed_by, confirmed_at "
            f"FROM {self.schema}.tamper_reference WHERE camera_id=$1",
            camera_id,
        )
        if row is None:
            return None
        pixels = np.frombuffer(row["pixels"], dtype=np.uint8).reshape(row["height"], row["width"])
        return restore_reference(camera_id, pixels, row["confirmed_by"], row["confirmed_at"])

    async def _store_reference(
        self, conn: asyncpg.Connection, reference: ReferenceFrame, reason: str, replaced: bool
    ) -> None:
        pixels = reference_pixels(reference)
        digest = _sha256(pixels)
        await conn.execute(
            f"INSERT INTO {self.schema}.tamper_reference (camera_id, pixels, height, width, "
            "pixels_sha256, confirmed_by, confirmed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (camera_id) DO UPDATE SET pixels = EXCLUDED.pixels, "
            "height = EXCLUDED.height, width = EXCLUDED.width, "
            "pixels_sha256 = EXCLUDED.pixels_sha256, confirmed_by = EXCLUDED.confirmed_by, "
            "confirmed_at = EXCLUDED.confirmed_at",
            reference.camera_id,
            pixels.tobytes(),
            pixels.shape[0],
            pixels.shape[1],
            digest,
            reference.confirmed_by,
            reference.confirmed_at,
        )
        await stage(
            conn,
            self.schema,
            TamperReferenceConfirmed(
                camera_id=reference.camera_id,
                confirmed_by=reference.confirmed_by,
                confirmed_at=reference.confirmed_at,
                pixels_sha256=digest,
                mean=round(reference.stats.mean, 2),
                contrast=round(reference.stats.std, 2),
                replaced_previous=replaced,
                reason=reason,
            ),
            source=self.source,
            key=reference.camera_id,
            actor=reference.confirmed_by,
        )

    async def confirm(
        self, camera: CameraRecord, operator: str, reason: str = ""
    ) -> TamperReferenceConfirmed:
        """An operator confirms what the camera shows now as its reference (Art. 12).

        Takes a fresh frame; refuses a covered-looking one. Findings that no longer hold
        against the new reference are cleared in the same transaction.
        """
        if not operator or not operator.strip() or operator.strip() == SYSTEM_ENROLMENT:
            raise ValueError("确认参考画面需要操作员 / a named operator must confirm (Art. 12)")
        result = await self._grab(camera)
        if result.frame is None:
            raise ValueError(f"无法取得画面 / no frame from {camera.camera_id}: {result.error}")
        s = self.schema
        async with self.pool.acquire() as conn, conn.transaction():
            state = await conn.fetchrow(
                f"SELECT active, thresholds FROM {s}.tamper_state WHERE camera_id=$1 FOR UPDATE",
                camera.camera_id,
            )
            thresholds = thresholds_from_json(state["thresholds"] if state else None)
            reference = confirm_reference(
                camera.camera_id, result.frame.pixels, operator, thresholds=thresholds
            )
            had = await conn.fetchval(
                f"SELECT 1 FROM {s}.tamper_reference WHERE camera_id=$1", camera.camera_id
            )
            await self._store_reference(conn, reference, reason, bool(had))
            assessment = assess(camera.camera_id, result.frame.pixels, reference, thresholds)
            before = {TamperKind(k) for k in (state["active"] if state else [])}
            still = before & set(assessment.kinds)
            for kind in sorted(before - still):
                score, threshold = self._score(assessment, kind, thresholds)
                await stage(
                    conn,
                    s,
                    TamperCleared(
                        camera_id=camera.camera_id,
                        finding=kind.value,
                        score=score,
                        threshold=threshold,
                        observed_at=result.frame.captured_at,
                    ),
                    source=self.source,
                    key=camera.camera_id,
                    actor=reference.confirmed_by,
                )
            await conn.execute(
                f"INSERT INTO {s}.tamper_state (camera_id, active, checked_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (camera_id) DO UPDATE SET active = EXCLUDED.active, "
                "checked_at = EXCLUDED.checked_at",
                camera.camera_id,
                sorted(k.value for k in still),
                datetime.now(UTC),
            )
        self.latest[camera.camera_id] = (sorted(k.value for k in still), datetime.now(UTC))
        return TamperReferenceConfirmed(
            camera_id=camera.camera_id,
            confirmed_by=reference.confirmed_by,
            confirmed_at=reference.confirmed_at,
            pixels_sha256=_sha256(reference_pixels(reference)),
            mean=round(reference.stats.mean, 2),
            contrast=round(reference.stats.std, 2),
            replaced_previous=bool(had),
            reason=reason,
        )

    async def set_thresholds(self, camera_id: str, overrides: dict[str, Any]) -> TamperThresholds:
        """Per-camera thresholds (validated: a bad name or value is refused by name)."""
        t = thresholds_from_json(overrides)
        await self.pool.execute(
            f"INSERT INTO {self.schema}.tamper_state (camera_id, thresholds) VALUES ($1, $2) "
            "ON CONFLICT (camera_id) DO UPDATE SET thresholds = EXCLUDED.thresholds",
            camera_id,
            overrides,
        )
        return t

    async def state(self, camera_id: str) -> dict[str, Any]:
        row = await self.pool.fetchrow(
            f"SELECT s.active, s.thresholds, s.checked_at, s.last_error, r.confirmed_by, "
            f"r.confirmed_at, r.pixels_sha256 FROM {self.schema}.tamper_state s "
            f"FULL JOIN {self.schema}.tamper_reference r USING (camera_id) "
            "WHERE s.camera_id=$1 OR r.camera_id=$1",
            camera_id,
        )
        if row is None:
            return {"camera_id": camera_id, "active": [], "reference": None}
        ref = None
        if row["confirmed_by"] is not None:
            ref = {
                "confirmed_by": row["confirmed_by"],
                "confirmed_at": row["confirmed_at"].isoformat(),
                "pixels_sha256": row["pixels_sha256"],
            }
        return {
            "camera_id": camera_id,
            "active": list(row["active"] or []),
            "thresholds": asdict(thresholds_from_json(row["thresholds"])),
            "checked_at": row["checked_at"].isoformat() if row["checked_at"] else None,
            "last_error": row["last_error"],
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


# ---- wiring into the ingest service ------------------------------------------------------
def _secret_credentials() -> CredentialsFor:
    """Device logins from mounted secrets / the vault (as the protocol adapters read them);
    an unreadable secret means no credentials for that camera, not a stopped watch."""
    from .adapters.credentials import CredentialResolver

    resolver = CredentialResolver()

    def lookup(camera: CameraRecord) -> CredentialsLike | None:
        try:
            return resolver.for_camera(camera)
        except Exception:
            return None

    return lookup


def attach_tamper_watch(
    svc: Any,
    cameras: Callable[[], Awaitable[list[CameraRecord]]],
    settings: MediaSettings | None = None,
    credentials_for: CredentialsFor | None = None,
) -> None:
    """Add the tamper loop and its request-reply subjects to ingest's Service."""
    cfg = settings or MediaSettings()
    probes = svc.state.get("device_probes")  # the devices hook: same secrets, same vault
    if credentials_for is None and probes is not None:
        credentials_for = probes.credentials_for
    if credentials_for is None:
        credentials_for = _secret_credentials()
    owned = svc.state.get("owned_cameras")  # the devices hook's sharding, when present

    async def my_cameras() -> list[CameraRecord]:
        cams = await cameras()
        return await owned(cams) if owned is not None else cams

    sampler = FrameSampler(
        max_concurrency=cfg.frame_concurrency,
        open_timeout=cfg.rtsp_timeout_s,
        read_timeout=cfg.rtsp_timeout_s,
    )
    probe = RtspProbe(
        connect_timeout=cfg.rtsp_timeout_s, request_timeout=cfg.rtsp_timeout_s, sampler=sampler
    )
    holder: dict[str, TamperWatch] = {}

    def watch() -> TamperWatch:
        if "w" not in holder:
            assert svc.pool is not None, "the tamper watch starts after the database"
            holder["w"] = TamperWatch(
                svc.pool,
                probe,
                schema=svc.schema,
                credentials_for=credentials_for,
                source=svc.name,
                discovered=getattr(probes, "discovered_stream", None),
                rediscover=getattr(probes, "rediscover_stream", None),
                monitor=svc.state.get("loop_monitor"),
            )
        return holder["w"]

    async def find(camera_id: Any) -> CameraRecord:
        if not isinstance(camera_id, str) or not camera_id:
            raise ValueError("camera_id is required")
        for cam in await cameras():
            if cam.camera_id == camera_id:
                return cam
        raise KeyError(f"unknown camera {camera_id!r}")

    async def tamper_loop() -> None:
        w = watch()
        try:
            await w.load_latest()
        except Exception:  # samples then carry no findings until the first checks
            CHECKS.labels("error").inc()
        await run_rounds(w, my_cameras, cfg.interval(), monitor=svc.state.get("loop_monitor"))

    def findings(camera_id: str) -> tuple[list[str], datetime] | None:
        return holder["w"].latest.get(camera_id) if "w" in holder else None

    def frame_failures(camera_id: str) -> int:
        return holder["w"].failures.get(camera_id, 0) if "w" in holder else 0

    def last_check(camera_id: str) -> dict[str, Any] | None:
        return holder["w"].last_check.get(camera_id) if "w" in holder else None

    svc.state["tamper_findings"] = findings
    svc.state["frame_failures"] = frame_failures
    svc.state["last_frame_check"] = last_check

    async def confirm(q: m.TamperConfirmRequest, _call: Any = None) -> m.TamperConfirmReply:
        cam = await find(q.camera_id)
        try:
            done = await watch().confirm(cam, q.operator, q.reason)
        except ValueError as exc:
            raise RpcError(str(exc), "Art. 12") from exc
        return m.TamperConfirmReply(reference=done.model_dump(mode="json"))

    async def state(q: m.TamperStateRequest, _call: Any = None) -> dict[str, Any]:
        cam = await find(q.camera_id)
        if q.thresholds is not None:
            await watch().set_thresholds(cam.camera_id, q.thresholds)
        return await watch().state(cam.camera_id)

    if cfg.tamper_watch:
        svc.loop("tamper", tamper_loop)
    svc.respond(RPC_TAMPER_CONFIRM, confirm, request=m.TamperConfirmRequest)
    svc.respond(RPC_TAMPER_STATE, state, request=m.TamperStateRequest)
