"""health's FastStream wiring. Handlers translate events and call the domain and store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from prometheus_client import Gauge

from cctv.contract import CameraRecord, Envelope, Event, rpc
from cctv.contract.events import (
    CameraRemoved,
    CameraStateChanged,
    CameraUpserted,
    ExamWatch,
    FaultKind,
    FaultOpened,
    FaultResolved,
    HealthSample,
    NewPointImplemented,
    RepairTicketClosed,
    RepairTicketOpened,
    RetentionReport,
    SegmentDeleted,
    Severity,
    StopMoveCompleted,
    StopMoveWindowApproved,
)
from cctv.plumbing.outbox import stage
from cctv.plumbing.service import Service

from . import store
from .conditions import (
    NEVER_EXCUSED,
    Reading,
    changes,
    deletion_lapses_at,
    read_deletion,
    read_retention,
    read_sample,
)
from .damping import CameraHealth, DampingPolicy, Transition, apply_sample, same_standing
from .repair import OneCardRepairClient, RepairSystem
from .settings import HealthSettings
from .windows import ExamWatchWindow, StopMoveWindow, Window, covering_window

SCHEMA = store.SCHEMA
CAMERA_UP = Gauge("cctv_camera_up", "1 if the camera is up", ["camera_id", "building", "zone"])
FAULTS_OPEN = Gauge("cctv_faults_open", "Open faults")


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()} for r in rows
    ]


class HealthService:
    """Sample -> damped state -> fault -> repair ticket, each step committed with its event."""

    def __init__(self, svc: Service, settings: HealthSettings, repair: RepairSystem) -> None:
        self.svc = svc
        self.policy = DampingPolicy(settings.down_after, settings.up_after)
        # Art. 10: under exam watch a camera is down at its first failed sample
        self.closer = DampingPolicy(1, settings.up_after)
        self.watches: list[Window] = []
        self.clock_drift_max_s = settings.clock_drift_max_s
        self.conditions: dict[str, set[FaultKind]] = {}  # open faults other than offline
        self.repair = repair
        # the last health of each camera; samples that change nothing never touch the database
        self.cache: dict[str, CameraHealth] = {}
        self.installed: dict[str, datetime] = {}  # new points' cameras (Art. 6), for Art. 7

    @property
    def pool(self) -> asyncpg.Pool:
        assert self.svc.pool is not None
        return self.svc.pool

    def policy_for(self, camera_id: str, at: datetime) -> DampingPolicy:
        watched = covering_window(self.watches, camera_id, at)
        return self.policy if watched is None else self.closer

    async def load_watches(self) -> None:
        self.watches = await store.windows(self.pool, "exam_watches")

    async def load_conditions(self) -> None:
        rows = await self.pool.fetch(
            f"SELECT camera_id, kind FROM {SCHEMA}.faults WHERE status='open' AND kind<>'offline'"
        )
        self.conditions = {}
        for r in rows:
            self.conditions.setdefault(r["camera_id"], set()).add(r["kind"])

    async def _apply_reading(
        self, camera_id: str, reading: Reading, at: datetime, correlation_id: str
    ) -> None:
        """Open and resolve condition faults; the database is touched only on a change."""
        current = self.conditions.setdefault(camera_id, set())
        to_open, to_resolve = changes(current, reading)
        if not to_open and not to_resolve:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            cam = await store.camera(conn, camera_id)
            if to_open and covering_window(await store.windows(conn), camera_id, at):
                # approved works (Art. 8): expected, not a fault
                to_open = [c for c in to_open if c.kind in NEVER_EXCUSED]
            for c in to_open:
                await self._open(
                    conn, camera_id, cam, at, c.detail, correlation_id, c.severity, c.kind
                )
            if to_resolve:
                await self._resolve(conn, camera_id, cam, at, correlation_id, to_resolve)
        current.update(c.kind for c in to_open)
        current.difference_update(to_resolve)

    async def on_recording(self, env: Envelope, event: Event) -> None:
        if isinstance(event, RetentionReport):
            installed_at = self.installed.get(event.camera_id)
            reading = read_retention(event, installed_at)
            await self._apply_reading(
                event.camera_id, reading, event.observed_at, env.correlation_id
            )
        elif isinstance(event, SegmentDeleted) and (event.within_retention or event.under_hold):
            lapses = deletion_lapses_at(event, env.time)
            await store.record_deletion(
                self.pool, event.camera_id, event.start, event.end, env.time, lapses
            )
            await self._apply_reading(
                event.camera_id, read_deletion(event), env.time, env.correlation_id
            )

    async def lapse_deletions(self) -> None:
        """Close a recording_deleted fault once every gap it stands for has aged out."""
        now = datetime.now(UTC)
        for camera_id in await store.deletions_lapsed(self.pool, now):
            await self._apply_reading(camera_id, {"recording_deleted": None}, now, "-")

    async def load_installed(self) -> None:
        self.installed = await store.installed(self.pool)

    async def on_newpoint(self, env: Envelope, event: Event) -> None:
        """A new point's cameras went in now: their recorders owe footage only from now."""
        if isinstance(event, NewPointImplemented):
            ids = [c.camera_id for c in event.cameras]
            await store.record_installed(self.pool, ids, env.time)
            for camera_id in ids:  # the first report counts, as in the table
                self.installed.setdefault(camera_id, env.time)

    async def on_sample(self, env: Envelope, event: Event) -> None:
        assert isinstance(event, HealthSample)
        await self._apply_reading(
            event.camera_id,
            read_sample(event, self.clock_drift_max_s),
            event.sampled_at,
            env.correlation_id,
        )
        policy = self.policy_for(event.camera_id, event.sampled_at)
        cached = self.cache.get(event.camera_id)
        if cached is not None:
            new, transition = apply_sample(cached, event.reachable, event.sampled_at, policy)
            if transition is None and same_standing(new, cached):
                self.cache[event.camera_id] = new
                return
        async with self.pool.acquire() as conn, conn.transaction():
            health = await store.load_health(conn, event.camera_id)
            if (
                cached is not None
                and cached.last_sample_at
                and (health.last_sample_at is None or health.last_sample_at < cached.last_sample_at)
            ):
                health = replace(health, last_sample_at=cached.last_sample_at)
            new, transition = apply_sample(health, event.reachable, event.sampled_at, policy)
            if not same_standing(new, health):
                await store.save_health(conn, new)
            if transition:
                await self._on_transition(conn, new, transition, env, event.error or "")
        self.cache[event.camera_id] = new

    async def _on_transition(
        self, conn: asyncpg.Connection, h: CameraHealth, t: Transition, env: Envelope, why: str
    ) -> None:
        cam = await store.camera(conn, h.camera_id) or await self._ask_inventory(conn, h.camera_id)
        published = t.state
        if t.state == "down":
            window = covering_window(await store.windows(conn), h.camera_id, t.at)
            if window is not None:
                published = "maintenance"
                why = f"经批准的停用/移动 approved stop/move {window.request_id} (Art. 8)"
            elif (watch := covering_window(self.watches, h.camera_id, t.at)) is not None:
                why = f"考试保障期间离线 down under exam watch {watch.request_id} (Art. 10): {why}"
                await self._open(conn, h.camera_id, cam, t.at, why, env.correlation_id, "critical")
            else:
                await self._open(conn, h.camera_id, cam, t.at, why, env.correlation_id)
        elif t.state == "up":
            await self._resolve(conn, h.camera_id, cam, t.at, env.correlation_id)
        await stage(
            conn,
            SCHEMA,
            CameraStateChanged(
                camera_id=h.camera_id, state=published, previous=t.previous, since=t.at, reason=why
            ),
            source="health",
            key=h.camera_id,
            correlation_id=env.correlation_id,
        )
        if cam:
            CAMERA_UP.labels(h.camera_id, cam.building, cam.zone).set(1 if t.state == "up" else 0)

    async def _ask_inventory(self, conn: asyncpg.Connection, camera_id: str) -> CameraRecord | None:
        """A sample can outrun the inventory event; ask ingest rather than alert without a zone."""
        try:
            reply = await self.svc.request(rpc.INGEST_CAMERAS, {"camera_id": camera_id}, 2.0)
        except Exception:
            return None
        found = [CameraRecord.model_validate(c) for c in reply.get("cameras", [])]
        if not found:
            return None
        await store.upsert_camera(conn, found[0])
        return found[0]

    async def _open(
        self,
        conn: asyncpg.Connection,
        camera_id: str,
        cam: CameraRecord | None,
        at: datetime,
        detail: str,
        correlation_id: str,
        severity: Severity = "major",
        kind: FaultKind = "offline",
    ) -> None:
        fault_id = await store.open_fault(conn, camera_id, kind, severity, at, detail)
        if fault_id is None:
            return
        FAULTS_OPEN.inc()
        await stage(
            conn,
            SCHEMA,
            FaultOpened(
                fault_id=fault_id,
                camera_id=camera_id,
                kind=kind,
                severity=severity,
                detected_at=at,
                detail=detail,
                camera_name=cam.name if cam else "",
                building=cam.building if cam else "",
                zone=cam.zone if cam else "",
            ),
            source="health",
            key=camera_id,
            correlation_id=correlation_id,
        )

    async def _resolve(
        self,
        conn: asyncpg.Connection,
        camera_id: str,
        cam: CameraRecord | None,
        at: datetime,
        correlation_id: str,
        kinds: list[FaultKind] | None = None,
    ) -> None:
        for row in await store.resolve_faults(conn, camera_id, list(kinds or ["offline"]), at):
            FAULTS_OPEN.dec()
            await stage(
                conn,
                SCHEMA,
                FaultResolved(
                    fault_id=row["fault_id"],
                    camera_id=camera_id,
                    kind=row["kind"],
                    resolved_at=at,
                    camera_name=cam.name if cam else "",
                    building=cam.building if cam else "",
                    zone=cam.zone if cam else "",
                ),
                source="health",
                key=camera_id,
                correlation_id=correlation_id,
            )

    async def on_inventory(self, env: Envelope, event: Event) -> None:
        if isinstance(event, CameraUpserted):
            await store.upsert_camera(self.pool, event.camera)
        elif isinstance(event, CameraRemoved):
            await store.remove_camera(self.pool, event.camera_id)

    async def on_stopmove(self, env: Envelope, event: Event) -> None:
        if isinstance(event, StopMoveWindowApproved):
            await store.add_window(self.pool, StopMoveWindow.of(event))
        elif isinstance(event, StopMoveCompleted):
            ends_at = (event.summary.get("window") or {}).get("ends_at")
            if ends_at:
                await store.end_window_early(
                    self.pool, event.request_id, datetime.fromisoformat(str(ends_at))
                )

    async def on_exam(self, env: Envelope, event: Event) -> None:
        if isinstance(event, ExamWatch):
            await store.add_window(self.pool, ExamWatchWindow.of(event), "exam_watches")
            await self.load_watches()

    async def follow_tickets(self) -> None:
        """Open a repair ticket for each new fault and close it when the fault resolves."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT f.*, c.record FROM {SCHEMA}.faults f LEFT JOIN {SCHEMA}.cameras c "
                "USING (camera_id) WHERE ticket_state='pending' ORDER BY opened_at LIMIT 20 "
                "FOR UPDATE OF f SKIP LOCKED"
            )
            for row in rows:
                cam = CameraRecord.model_validate(row["record"]) if row["record"] else None
                where = f"{cam.building} {cam.position}" if cam else row["camera_id"]
                try:
                    ticket = await self.repair.open_ticket(
                        external_ref=row["fault_id"],
                        title=f"视频监控故障 {row['camera_id']} {cam.name if cam else ''}".strip(),
                        location=where,
                        description=f"{row['kind']}: {row['detail']} (Art. 4 自动报修)",
                    )
                except Exception as exc:  # the repair system is out: say so on the fault
                    await self._ticket_failed(conn, row["fault_id"], "报修失败 open", exc)
                    continue
                await conn.execute(
                    f"UPDATE {SCHEMA}.faults SET ticket_no=$2, ticket_state='opened', "
                    "ticket_error=NULL WHERE fault_id=$1",
                    row["fault_id"],
                    ticket.repair_no,
                )
                await stage(
                    conn,
                    SCHEMA,
                    RepairTicketOpened(
                        fault_id=row["fault_id"],
                        camera_id=row["camera_id"],
                        ticket_no=ticket.repair_no,
                    ),
                    source="health",
                    key=row["camera_id"],
                )
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT * FROM {SCHEMA}.faults WHERE status='resolved' AND ticket_state='opened' "
                "ORDER BY resolved_at LIMIT 20 FOR UPDATE SKIP LOCKED"
            )
            for row in rows:
                try:
                    await self.repair.close_ticket(row["ticket_no"], "故障已消除 fault cleared")
                except Exception as exc:
                    await self._ticket_failed(conn, row["fault_id"], "关单失败 close", exc)
                    continue
                await conn.execute(
                    f"UPDATE {SCHEMA}.faults SET ticket_state='closed' WHERE fault_id=$1",
                    row["fault_id"],
                )
                await stage(
                    conn,
                    SCHEMA,
                    RepairTicketClosed(
                        fault_id=row["fault_id"],
                        camera_id=row["camera_id"],
                        ticket_no=row["ticket_no"],
                    ),
                    source="health",
                    key=row["camera_id"],
                )

    async def _ticket_failed(
        self, conn: asyncpg.Connection, fault_id: str, what: str, exc: Exception
    ) -> None:
        """Keep the reason on the fault (console, API) and try again next round."""
        reason = f"{what}: {type(exc).__name__}: {exc}"[:500]
        structlog.get_logger().warning("repair system call failed", fault_id=fault_id, error=reason)
        await conn.execute(
            f"UPDATE {SCHEMA}.faults SET ticket_error=$2 WHERE fault_id=$1", fault_id, reason
        )

    async def expire_windows(self) -> None:
        """A camera still down when its stop/move window ends becomes a fault (Art. 8)."""
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT h.camera_id FROM {SCHEMA}.camera_health h WHERE h.state='down' AND NOT "
                f"EXISTS (SELECT 1 FROM {SCHEMA}.faults f WHERE f.camera_id=h.camera_id "
                "AND f.status='open')"
            )
            wins = await store.windows(conn)
            for row in rows:
                if covering_window(wins, row["camera_id"], now) is None:
                    cam = await store.camera(conn, row["camera_id"])
                    await self._open(
                        conn,
                        row["camera_id"],
                        cam,
                        now,
                        "停用/移动窗口已结束仍离线 still down after its window (Art. 8)",
                        "-",
                    )


def build(settings: HealthSettings | None = None) -> Service:
    import asyncio

    settings = settings or HealthSettings()
    svc = Service("health", settings, migrations=Path(__file__).parent / "migrations")
    health = HealthService(
        svc, settings, OneCardRepairClient(settings.repair_url, settings.repair_timeout_s)
    )
    svc.consume(
        "cctv.telemetry.sample.>",
        durable="health-samples-v1",
        handler=health.on_sample,
        batch_size=64,
    )
    for subject, durable, handler in (
        ("cctv.camera.>", "health-inventory-v1", health.on_inventory),
        ("cctv.workflow.stopmove.>", "health-stopmove-v1", health.on_stopmove),
        ("cctv.workflow.exam.>", "health-exam-v1", health.on_exam),
        ("cctv.recording.>", "health-recording-v1", health.on_recording),
        ("cctv.workflow.newpoint.>", "health-newpoint-v1", health.on_newpoint),
    ):
        svc.consume(subject, durable=durable, handler=handler)
    svc.after_start(health.load_watches)
    svc.after_start(health.load_conditions)
    svc.after_start(health.load_installed)

    async def housekeeping() -> None:
        """Each step on its own: a repair system that is down must not stop window expiry."""
        import structlog

        steps = (
            health.follow_tickets,
            health.expire_windows,
            health.load_watches,
            health.lapse_deletions,
        )
        while True:
            for step in steps:
                try:
                    await step()
                except Exception as exc:  # retried next round, never given up
                    structlog.get_logger().warning(
                        "housekeeping step failed", step=step.__name__, error=repr(exc)
                    )
            await asyncio.sleep(settings.ticket_poll_s)

    async def states(_req: dict[str, Any]) -> dict[str, Any]:
        return {"states": _jsonable(await store.states(health.pool))}

    async def faults(_req: dict[str, Any]) -> dict[str, Any]:
        return {"faults": _jsonable(await store.faults(health.pool))}

    svc.loop("housekeeping", housekeeping)
    svc.respond(rpc.HEALTH_STATES, states)
    svc.respond(rpc.HEALTH_FAULTS, faults)
    return svc
