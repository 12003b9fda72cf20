"""health's FastStream wiring. Handlers translate events and call the domain and store."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import structlog
from prometheus_client import Counter, Gauge

from cctv.contract import CameraRecord, Envelope, Event, rpc
from cctv.contract.events import (
    CameraRemoved,
    CameraState,
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
    ResponsibleScheduleSet,
    RetentionReport,
    SegmentDeleted,
    Severity,
    StopMoveCompleted,
    StopMoveWindowApproved,
)
from cctv.contract.rpcmodels import Empty, FaultCloseRequest, RpcCall
from cctv.plumbing.identity import require_caller
from cctv.plumbing.inventory import InventoryView
from cctv.plumbing.outbox import stage
from cctv.plumbing.service import RpcError, Service

from . import store
from .arming import Schedule, parse_schedule, read_arming, schedule_for
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
from .outages import Thresholds, damping_for, judge_down, outage_over, suspect, window_over
from .repair import OneCardRepairClient, RepairSystem
from .settings import HealthSettings
from .windows import ExamWatchWindow, StopMoveWindow, Window, covering_window

SCHEMA = store.SCHEMA
CAMERA_UP = Gauge(
    "cctv_camera_up",
    "1 if the camera is up, else 0 (down, unreachable, maintenance or not yet known)",
    ["camera_id", "building", "zone"],
)
CAMERA_STATE = Gauge(
    "cctv_camera_state",
    "1 for the camera's current state (maintenance and unknown are not downtime)",
    ["camera_id", "building", "zone", "state"],
)
CAMERA_STATES: tuple[CameraState, ...] = ("up", "down", "maintenance", "unreachable", "unknown")
FAULTS_OPEN = Gauge("cctv_faults_open", "Open faults, read from the database")
FAULTS_OPEN_BY = Gauge(
    "cctv_faults_open_by_kind", "Open faults by kind and severity", ["kind", "severity"]
)
SAMPLES_CLAMPED = Counter(
    "cctv_health_samples_future_total", "Samples dated ahead of their arrival, taken as arrived"
)
SAMPLES_UNMEASURED = Counter(
    "cctv_health_samples_unmeasured_total", "Rounds ingest could not measure (state kept)"
)
INVENTORY_ASKED = Counter(
    "cctv_health_inventory_asked_total",
    "Cameras ingest was asked about (a fault for a camera the inventory view lacks)",
)
SAMPLES_OF_REMOVED = Counter(
    "cctv_health_samples_removed_total",
    "Samples and recording reports of a camera removed from the inventory as of their time (or "
    "taken before its re-add), dropped: a removed camera has no fault and no state",
)
SERIES_REPAIRED = Counter(
    "cctv_health_series_repaired_total",
    "Camera series found out of step with the inventory view (missing, stale labels, or left "
    "after a removal), then put right: a bug, logged as an error",
)
log = structlog.get_logger()


@dataclass
class Outage:
    """One open fault for a common cause (a recorder, the network, an ingest replica)."""

    fault_id: str
    kind: str
    cause_id: str
    detail: str
    affected: set[str] = field(default_factory=set)


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
        self.future_tolerance = timedelta(seconds=settings.sample_future_tolerance_s)
        self.conditions: dict[str, set[FaultKind]] = {}  # open faults other than offline
        self.repair = repair
        # the last health of each camera; samples that change nothing never touch the database
        self.cache: dict[str, CameraHealth] = {}
        self.installed: dict[str, datetime] = {}  # new points' cameras (Art. 6), for Art. 7
        self.view = InventoryView(self.on_inventory_change)
        self._asking: dict[str, asyncio.Future[CameraRecord | None]] = {}  # ingest asked
        self.shown: dict[str, str] = {}  # the state shown for each camera (metrics, console)
        self.labels: dict[str, tuple[str, str]] = {}  # (building, zone) of its series
        self.failing: set[str] = set()  # cameras whose latest sample failed
        self.shard_of: dict[str, str] = {}  # the ingest replica that probes each camera
        self.outages: dict[tuple[str, str], Outage] = {}  # (kind, cause id): open outage
        self._fault_labels: set[tuple[str, str]] = set()
        self.thresholds = Thresholds(
            settings.recorder_min_cameras,
            settings.recorder_down_share,
            settings.mass_min_cameras,
            settings.mass_down_share,
            settings.shard_down_share,
        )
        self.schedules: dict[str, Schedule] = {}  # system_id -> filed arming schedule (Art. 9)
        self.arming_grace = timedelta(seconds=settings.arming_grace_s)

    @property
    def pool(self) -> asyncpg.Pool:
        assert self.svc.pool is not None
        return self.svc.pool

    def policy_for(self, camera_id: str, at: datetime) -> DampingPolicy:
        # shown unreachable: its cause (open, or resolving as its cameras return) has the fault
        behind = self.shown.get(camera_id) == "unreachable"
        return damping_for(camera_id, at, self.watches, self.policy, self.closer, behind)

    async def load_watches(self) -> None:
        self.watches = await store.windows(self.pool, "exam_watches")

    async def load_conditions(self) -> None:
        self.conditions = await store.open_conditions(self.pool)

    async def _counts(self, conn: asyncpg.Connection, camera_id: str, at: datetime) -> bool:
        """Hold the camera against its removal until the transaction ends, and say whether a
        reading taken at `at` still counts. A removal takes the same lock, so it comes wholly
        before the reading (which is then dropped: removed as of its time, or taken before a
        re-add) or wholly after it (and resolves whatever the reading opened)."""
        if await store.lock_counted(conn, camera_id, at):
            return True
        self._dropped(camera_id, at)
        return False

    @staticmethod
    def _dropped(camera_id: str, at: datetime) -> None:
        SAMPLES_OF_REMOVED.inc()
        log.debug("reading of a removed camera dropped", camera_id=camera_id, at=at.isoformat())

    def _gone(self, camera_id: str) -> bool:
        """The inventory's last word on the camera is its removal (as the view has heard)."""
        return self.view.get(camera_id) is None and camera_id in self.view.removed

    async def _apply_reading(
        self, camera_id: str, reading: Reading, at: datetime, correlation_id: str
    ) -> bool:
        """Open and resolve condition faults; the database is touched only on a change.
        False if the camera was removed as of `at` (nothing done)."""
        to_open, to_resolve = changes(self.conditions.get(camera_id, set()), reading)
        if not to_open and not to_resolve:
            return True
        async with self.pool.acquire() as conn, conn.transaction():
            if not await self._counts(conn, camera_id, at):
                return False
            # what is open now, after any removal the lock waited for
            current = self.conditions.setdefault(camera_id, set())
            to_open, to_resolve = changes(current, reading)
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
            # still under the camera's lock: a removal's forgetting comes after, never before
            current.update(c.kind for c in to_open)
            current.difference_update(to_resolve)
        return True

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

    # --- Art. 12 arming ----------------------------------------------------------------------

    def arming_reading(
        self, camera_id: str, armed: bool | None, at: datetime, reason: str | None = None
    ) -> Reading:
        schedule = schedule_for(self.view.get(camera_id), self.schedules)
        return read_arming(armed, schedule, at, self.arming_grace, reason=reason)

    async def load_schedules(self) -> None:
        found: dict[str, Schedule] = {}
        for system_id, periods in (await store.arming_schedules(self.pool)).items():
            try:
                found[system_id] = parse_schedule(system_id, periods)
            except ValueError as exc:  # stored by an older version: said, not fatal
                log.warning("arming schedule unreadable", system_id=system_id, error=str(exc))
        self.schedules = found

    async def on_responsible(self, env: Envelope, event: Event) -> None:
        """A system's arming schedule filed (Art. 9): the newest filing is the one checked."""
        if not isinstance(event, ResponsibleScheduleSet):
            return
        schedule = parse_schedule(event.system_id, event.schedule)
        periods = [p.model_dump(mode="json") for p in event.schedule]
        if await store.set_arming_schedule(self.pool, event.system_id, periods, event.at):
            self.schedules[event.system_id] = schedule

    async def load_installed(self) -> None:
        self.installed = await store.installed(self.pool)

    async def on_newpoint(self, env: Envelope, event: Event) -> None:
        """A new point's cameras went in now: their recorders owe footage only from now."""
        if isinstance(event, NewPointImplemented):
            ids = [c.camera_id for c in event.cameras]
            await store.record_installed(self.pool, ids, env.time)
            for camera_id in ids:  # the first report counts, as in the table
                self.installed.setdefault(camera_id, env.time)

    def sample_time(self, event: HealthSample) -> datetime:
        """When a sample counts as taken: its own time, unless that lies ahead of its arrival.

        A sample dated in the future (a device or ingest clock far ahead, a forged 2099) would
        otherwise make every honest sample after it look old and blind the camera (issue 17
        item 3): it is taken as of its arrival instead, and counted."""
        arrival = datetime.now(UTC)
        if event.sampled_at > arrival + self.future_tolerance:
            SAMPLES_CLAMPED.inc()
            log.warning(
                "future-dated sample taken as of its arrival",
                camera_id=event.camera_id,
                sampled_at=event.sampled_at.isoformat(),
            )
            return arrival
        return event.sampled_at

    async def on_sample(self, env: Envelope, event: Event) -> None:
        assert isinstance(event, HealthSample)
        if not event.measured:
            # ingest could not measure this round (its own lag): neither failure nor success
            SAMPLES_UNMEASURED.inc()
            return
        camera_id = event.camera_id
        at = self.sample_time(event)
        if self._gone(camera_id):
            self._dropped(camera_id, at)  # its last samples in flight: nothing left to raise
            return
        if event.shard:
            self.shard_of[camera_id] = event.shard
        reading = read_sample(event, self.clock_drift_max_s)
        reading.update(self.arming_reading(camera_id, event.armed, at, event.armed_reason))
        if not await self._apply_reading(camera_id, reading, at, env.correlation_id):
            return
        policy = self.policy_for(camera_id, at)
        cached = self.cache.get(camera_id)
        orphaned = (
            not event.reachable
            and self.shown.get(camera_id) == "unreachable"
            and self.outage_of(camera_id) is None
        )
        if cached is not None and not orphaned:
            new, transition = apply_sample(cached, event.reachable, at, policy)
            if transition is None and same_standing(new, cached):
                self._note(new)
                return
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if not await self._counts(conn, camera_id, at):
                    return  # removed (or re-added) meanwhile: no state, no fault
                health = await store.load_health(conn, camera_id)
                if (
                    cached is not None
                    and cached.last_sample_at
                    and (
                        health.last_sample_at is None
                        or health.last_sample_at < cached.last_sample_at
                    )
                ):
                    health = replace(health, last_sample_at=cached.last_sample_at)
                new, transition = apply_sample(health, event.reachable, at, policy)
                if new.fail_streak > 0:  # counted in its own census
                    self.failing.add(camera_id)
                if not same_standing(new, health):
                    await store.save_health(conn, new)
                if transition:
                    await self._on_transition(conn, new, transition, env, event.error or "")
                elif orphaned and new.state == "down":
                    # still failing after the recorder or network behind it came back: its own
                    await self._camera_down(conn, new, at, env, event.error or "")
                # under the camera's lock, as `show` is: a removal forgets it after, not before
                self._note(new)
        except Exception:
            await self._forget_uncommitted(camera_id)
            raise

    async def _forget_uncommitted(self, camera_id: str) -> None:
        """A transaction that failed must leave no trace in memory either: outages and the
        shown state are read back from the database before the sample is retried."""
        self.cache.pop(camera_id, None)
        self.failing.discard(camera_id)
        with contextlib.suppress(Exception):
            shown = await store.shown_state(self.pool, camera_id)
            self.show(camera_id, shown or "unknown")
            await self.load_outages()

    def _note(self, h: CameraHealth) -> None:
        """Keep the failing set current: the common-cause checks count it. A camera the view
        saw removed keeps nothing: a quick re-add starts from unknown."""
        if self._gone(h.camera_id):
            self.cache.pop(h.camera_id, None)
            self.failing.discard(h.camera_id)
            return
        self.cache[h.camera_id] = h
        if h.fail_streak > 0:
            self.failing.add(h.camera_id)
        else:
            self.failing.discard(h.camera_id)

    async def _on_transition(
        self, conn: asyncpg.Connection, h: CameraHealth, t: Transition, env: Envelope, why: str
    ) -> None:
        if t.state == "down":
            await self._camera_down(conn, h, t.at, env, why, t.previous)
        elif t.state == "up":
            cam = await self.record(conn, h.camera_id)
            await self._resolve(conn, h.camera_id, cam, t.at, env.correlation_id)
            await self._publish_state(conn, h.camera_id, "up", t.at, why, env.correlation_id)
            await self._leave_outage(conn, h.camera_id, t.at, env.correlation_id)

    async def _camera_down(
        self,
        conn: asyncpg.Connection,
        h: CameraHealth,
        at: datetime,
        env: Envelope,
        why: str,
        previous: str | None = None,
    ) -> None:
        """A camera is down: maintenance, its own fault, or one more behind a common cause."""
        camera_id = h.camera_id
        cam = await self.record(conn, camera_id)  # `_open` asks ingest if a fault needs it
        verdict = judge_down(camera_id, at, why, await store.windows(conn), self.watches)
        shown, why = verdict.shown, verdict.why
        cause = await self._common_cause(conn, camera_id, at, env) if verdict.ask_cause else None
        if cause is not None:
            shown = "unreachable"
            why = f"{cause.detail} ({cause.kind} {cause.cause_id})"
        elif verdict.fault is not None:
            await self._open(conn, camera_id, cam, at, why, env.correlation_id, verdict.fault)
        await self._publish_state(conn, camera_id, shown, at, why, env.correlation_id, previous)

    async def _publish_state(
        self,
        conn: asyncpg.Connection,
        camera_id: str,
        state: CameraState,
        at: datetime,
        why: str,
        correlation_id: str,
        previous: str | None = None,
    ) -> None:
        before = previous or self.shown.get(camera_id, "unknown")
        await store.set_shown(conn, camera_id, state)
        await stage(
            conn,
            SCHEMA,
            CameraStateChanged(
                camera_id=camera_id,
                state=state,
                previous=before if before in CAMERA_STATES else "unknown",  # type: ignore[arg-type]
                since=at,
                reason=why,
            ),
            source="health",
            key=camera_id,
            correlation_id=correlation_id,
        )
        self.show(camera_id, state)

    # --- metrics: every inventory camera has its series, from the start -------------------

    def show(self, camera_id: str, state: str | None = None) -> None:
        """Set the camera's series; a move relabels it (the old labels' series goes). A state
        for a camera the view saw removed is not kept (a late sample's): a re-add shows
        unknown until its own first sample."""
        if state is not None and self._gone(camera_id):
            self.shown.pop(camera_id, None)
        elif state is not None:
            self.shown[camera_id] = state
        cam = self.view.get(camera_id)
        if cam is None:
            return
        current = self.shown.get(camera_id, "unknown")
        labels = (cam.building, cam.zone)
        old = self.labels.get(camera_id)
        if old is not None and old != labels:
            self._unlabel(camera_id, old)
        self.labels[camera_id] = labels
        CAMERA_UP.labels(camera_id, *labels).set(1 if current == "up" else 0)
        for st in CAMERA_STATES:
            CAMERA_STATE.labels(camera_id, *labels, st).set(1 if st == current else 0)

    def follow_view(self, camera_id: str) -> None:
        """The camera's series as the inventory view has it: shown under its labels if the
        view holds it, gone if not (a removal may reach health before or after a re-add)."""
        if self.view.get(camera_id) is None:
            self.unshow(camera_id)
        else:
            self.show(camera_id)

    def unshow(self, camera_id: str) -> None:
        old = self.labels.pop(camera_id, None)
        if old is not None:
            self._unlabel(camera_id, old)
        self.shown.pop(camera_id, None)

    @staticmethod
    def _unlabel(camera_id: str, labels: tuple[str, str]) -> None:
        with contextlib.suppress(KeyError):
            CAMERA_UP.remove(camera_id, *labels)
        for st in CAMERA_STATES:
            with contextlib.suppress(KeyError):
                CAMERA_STATE.remove(camera_id, *labels, st)

    async def refresh_gauges(self) -> None:
        """Open-fault gauges read from the database, never counted up and down in memory."""
        counts = await store.open_counts(self.pool)
        FAULTS_OPEN.set(sum(counts.values()))
        seen: set[tuple[str, str]] = set()
        for (kind, severity), n in counts.items():
            FAULTS_OPEN_BY.labels(kind, severity).set(n)
            seen.add((kind, severity))
        for key in self._fault_labels - seen:
            FAULTS_OPEN_BY.labels(*key).set(0)
        self._fault_labels |= seen

    # --- one outage, one fault -------------------------------------------------------------

    def outage_of(self, camera_id: str) -> Outage | None:
        return next((o for o in self.outages.values() if camera_id in o.affected), None)

    def _suspect(self, camera_id: str) -> tuple[str, str, list[str]] | None:
        """(kind, cause id, members) of a common cause now failing, if any (outages.py)."""
        return suspect(
            camera_id,
            self.view.cameras,
            self.shard_of,
            self.cache.keys(),
            self.failing,
            self.outages.keys(),
            self.thresholds,
        )

    async def _common_cause(
        self, conn: asyncpg.Connection, camera_id: str, at: datetime, env: Envelope
    ) -> Outage | None:
        """Join the camera to the open outage of its cause, opening that fault if new."""
        found = self._suspect(camera_id)
        if found is None:
            return None
        kind, cause_id, members = found
        outage = self.outages.get((kind, cause_id))
        if outage is None:
            affected = sorted(c for c in members if c in self.failing)
            cams = [c for c in (self.view.get(m) for m in affected) if c is not None]
            first = cams[0] if cams else None
            buildings = sorted({c.building for c in cams})
            zones = sorted({c.zone for c in cams})
            if kind == "recorder_offline":
                detail = f"录像机离线 recorder {cause_id} down: {len(affected)} 路摄像机 cameras"
                name, severity, tickets = f"录像机 NVR {cause_id}", "major", "pending"
            else:
                detail = (
                    f"疑似网络或本系统故障 suspected network/ingest cause ({cause_id}): "
                    f"{len(affected)} 路摄像机 cameras in {len(buildings)} 栋 buildings; "
                    "未排除前不派摄像机工单 no camera tickets until ruled out"
                )
                name, severity, tickets = f"网络/采集 {cause_id}", "critical", "none"
            fault_id = await store.open_fault(
                conn, cause_id, kind, severity, at, detail, affected, tickets
            )
            if fault_id is None:  # opened by another path meanwhile: take it as it is
                row = await store.open_fault_of(conn, cause_id, kind)
                assert row is not None
                outage = Outage(row["fault_id"], kind, cause_id, detail, set(row["affected"]))
            else:
                outage = Outage(fault_id, kind, cause_id, detail, set(affected))
                await stage(
                    conn,
                    SCHEMA,
                    FaultOpened(
                        fault_id=fault_id,
                        camera_id=cause_id,
                        kind=kind,  # type: ignore[arg-type]
                        severity=severity,  # type: ignore[arg-type]
                        detected_at=at,
                        detail=detail,
                        camera_name=name,
                        building=buildings[0] if len(buildings) == 1 else "多栋 several",
                        zone=zones[0] if len(zones) == 1 else (first.zone if first else ""),
                        affected_camera_ids=affected,
                    ),
                    source="health",
                    key=cause_id,
                    correlation_id=env.correlation_id,
                )
            self.outages[(kind, cause_id)] = outage
            # cameras of the cause that already had their own fault: the cause's fault stands
            # (one statement for all of them, once, when the cause's fault opens)
            await self._absorb(conn, outage, sorted(outage.affected), at, env.correlation_id)
        if camera_id not in outage.affected:
            outage.affected.add(camera_id)
            await store.add_affected(conn, outage.fault_id, camera_id)
            await self._absorb(conn, outage, [camera_id], at, env.correlation_id)
        return outage

    async def _absorb(
        self,
        conn: asyncpg.Connection,
        outage: Outage,
        camera_ids: list[str],
        at: datetime,
        correlation_id: str,
    ) -> None:
        """Resolve the cameras' own offline faults into the cause's; show them unreachable."""
        rows = await store.resolve_offline_of(
            conn, camera_ids, at, f"归入 part of {outage.kind} {outage.cause_id}"
        )
        for row in rows:
            await self._stage_resolved(conn, row, at, correlation_id)
            if self.shown.get(row["camera_id"]) == "down":
                await self._publish_state(
                    conn, row["camera_id"], "unreachable", at, outage.detail, correlation_id
                )

    async def _leave_outage(
        self, conn: asyncpg.Connection, camera_id: str, at: datetime, correlation_id: str
    ) -> None:
        """A camera behind an outage came back; once most have, the outage resolves."""
        outage = self.outage_of(camera_id)
        if outage is None:
            return
        still = [c for c in outage.affected if c in self.failing or self._down(c)]
        if not outage_over(outage.kind, len(outage.affected), len(still), self.thresholds):
            return
        row = await store.resolve_fault(conn, outage.fault_id, at)
        self.outages.pop((outage.kind, outage.cause_id), None)
        if row is not None:
            await self._stage_resolved(conn, row, at, correlation_id)

    def _down(self, camera_id: str) -> bool:
        h = self.cache.get(camera_id)
        return h is not None and h.state == "down"

    async def load_outages(self) -> None:
        self.outages = {
            (r["kind"], r["camera_id"]): Outage(
                r["fault_id"], r["kind"], r["camera_id"], r["detail"], set(r["affected"])
            )
            for r in await store.open_outages(self.pool)
        }

    # --- the inventory ----------------------------------------------------------------------

    async def record(
        self, conn: asyncpg.Connection, camera_id: str, *, ask: bool = False
    ) -> CameraRecord | None:
        """The camera as the inventory says: the view, else health's copy; ingest is asked
        only with `ask` (a fault or alert needs its building and zone), never for an up
        transition, and never before the view holds its snapshot (issue 9: at 5,000 cameras
        asking for every early sample flooded ingest and stalled the sample consumer)."""
        cam = self.view.get(camera_id) or await store.camera(conn, camera_id)
        if cam is None and not self.view.ready.is_set():
            await self.view.ready.wait()  # the snapshot is the cheaper answer
            cam = self.view.get(camera_id)
        if cam is None and ask:
            cam = await self._ask_inventory(conn, camera_id)
        return cam

    async def _ask_inventory(self, conn: asyncpg.Connection, camera_id: str) -> CameraRecord | None:
        """A sample can outrun the inventory event; ask ingest rather than alert without a
        zone. One question per camera at a time: callers meanwhile share its answer."""
        asking = self._asking.get(camera_id)
        if asking is None:
            asking = asyncio.ensure_future(self._ask_ingest(camera_id))
            self._asking[camera_id] = asking
            asking.add_done_callback(lambda _f: self._asking.pop(camera_id, None))
        found = await asyncio.shield(asking)
        if found is None:
            return None
        if not self.view.remember(found):
            # the inventory removed it while ingest answered: its word stands, not ingest's
            return found
        # ingest's answer fills a gap; it never overwrites the inventory's word (a newer
        # record, or a removal) in health's copy
        await store.add_camera(conn, found)
        self.follow_view(camera_id)
        return self.view.get(camera_id) or found

    async def _ask_ingest(self, camera_id: str) -> CameraRecord | None:
        INVENTORY_ASKED.inc()
        try:
            reply = await self.svc.request(rpc.INGEST_CAMERAS, {"camera_id": camera_id}, 2.0)
        except Exception as exc:
            log.warning("ingest not asked about a camera", camera_id=camera_id, error=repr(exc))
            return None
        found = [CameraRecord.model_validate(c) for c in reply.get("cameras", [])]
        return found[0] if found else None

    async def start_inventory(self) -> None:
        """Read the whole inventory, then make health's copy, states and series match it."""
        await self.view.start(self.svc.broker.connection)
        await self.reconcile()  # every camera of the view shown: nothing for `ensure_series`

    async def reconcile(self) -> None:
        """Health's copy from the snapshot; cameras removed while health was away are removed
        now; every known camera gets its series with the state restored from the database."""
        snapshot = [(c, self.view.changed_at.get(i)) for i, c in self.view.cameras.items()]
        for i in range(0, len(snapshot), 500):
            await store.upsert_cameras(self.pool, snapshot[i : i + 500])
        for camera_id, cam in (await store.cameras(self.pool)).items():
            if camera_id in self.view.removed:
                await self.remove(camera_id, self.view.removed[camera_id], "-")
            elif self.view.get(camera_id) is None:  # aged out of the stream: keep our copy
                self.view.remember(cam)
        for camera_id, (h, shown) in (await store.all_health(self.pool)).items():
            if camera_id not in self.cache:  # a sample handled meanwhile is newer
                self._note(h)
            self.shown.setdefault(camera_id, shown)  # set in memory only by a transition
        for camera_id in list(self.view.cameras):
            self.show(camera_id)
        await self.refresh_gauges()

    async def on_inventory_change(
        self, camera_id: str, before: CameraRecord | None, after: CameraRecord | None, at: datetime
    ) -> None:
        """The view heard a change: relabel or drop the camera's series at once; a removal
        also drops what health remembers of it, so a re-add starts from unknown."""
        if after is None:
            self.cache.pop(camera_id, None)
            self.failing.discard(camera_id)
        self.follow_view(camera_id)

    async def on_inventory(self, env: Envelope, event: Event) -> None:
        """Durable side of an inventory change: health's copy, and a removal's faults."""
        if isinstance(event, CameraUpserted):
            camera_id = event.camera.camera_id
            await store.upsert_camera(self.pool, event.camera, env.time)
        elif isinstance(event, CameraRemoved):
            camera_id = event.camera_id
            await self.remove(camera_id, env.time, env.correlation_id, event.reason)
        else:
            return
        await self.view.apply(event, env.time)
        # the view may have taken this news silently (its snapshot, or its own consumer
        # first) or may already hold newer news (a re-add after this removal): the series is
        # the view's, whoever heard first
        self.follow_view(camera_id)

    async def ensure_series(self) -> None:
        """A guard, not a cure: every camera the view holds has its series under the view's
        labels and no other camera has one. Every path keeps that already
        (tests/health/test_health_series.py), so anything found here is a bug: put right,
        counted and logged as an error naming the cameras (issue 9)."""
        missing = [c for c in self.view.cameras if c not in self.labels]
        relabelled = [
            c
            for c, labels in self.labels.items()
            if (cam := self.view.get(c)) is not None and (cam.building, cam.zone) != labels
        ]
        dropped = [c for c in self.labels if self.view.get(c) is None]
        for camera_id in missing + relabelled + dropped:
            self.follow_view(camera_id)
        repaired = len(missing) + len(relabelled) + len(dropped)
        if repaired:
            SERIES_REPAIRED.inc(repaired)
            log.error(
                "series out of step with the inventory view, repaired (a bug: please report)",
                count=repaired,
                missing=missing[:10],
                relabelled=relabelled[:10],
                dropped=dropped[:10],
            )

    async def remove(
        self, camera_id: str, at: datetime, correlation_id: str, reason: str = ""
    ) -> None:
        """A removed camera leaves no open fault, no repair crew and no series behind."""
        why = f"摄像机已从清单移除 camera removed from the inventory {reason}".strip()
        async with self.pool.acquire() as conn, conn.transaction():
            # a sample half-way finishes first (its fault is resolved below); one after waits
            # for this commit and is dropped (`_counts`)
            await store.lock_camera(conn, camera_id)
            cam = await store.camera(conn, camera_id) or self.view.get(camera_id)
            if not await store.remove_camera(conn, camera_id, at):
                return  # a newer upsert is already here: re-added
            for row in await store.resolve_faults(conn, camera_id, None, at, "inventory", why):
                await self._stage_resolved(conn, row, at, correlation_id, cam)
            for outage in self.outages.values():
                if camera_id in outage.affected:
                    outage.affected.discard(camera_id)
                    await store.remove_affected(conn, outage.fault_id, camera_id)
        self.cache.pop(camera_id, None)
        self.failing.discard(camera_id)
        self.conditions.pop(camera_id, None)
        self.shard_of.pop(camera_id, None)
        self.shown.pop(camera_id, None)  # its health starts over (camera_health is gone)
        # the view may already hold a re-add newer than this removal (its own consumer runs
        # ahead of the durable one): then the camera keeps its series, as unknown
        self.follow_view(camera_id)

    # --- faults ---------------------------------------------------------------------------

    async def close_by_hand(self, fault_id: str, reason: str, actor: str) -> dict[str, Any]:
        """NIC closes a fault after investigating it; the close is an audited event."""
        if not reason.strip():
            raise RpcError("关闭故障须写明原因 a reason is required to close a fault by hand")
        if not actor.strip():
            raise RpcError("关闭故障须注明操作人 the actor closing the fault is required")
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.close_fault(conn, fault_id, now, actor, reason.strip())
            if row is None:
                found = await store.fault(conn, fault_id)
                if found is None:
                    raise RpcError(f"没有这个故障 no fault {fault_id!r}")
                raise RpcError(f"故障已关闭 fault {fault_id} is already {found['status']}")
            cam = await self.record(conn, row["camera_id"])
            await self._stage_resolved(conn, row, now, f"close-{fault_id}", cam, actor)
        self.conditions.get(row["camera_id"], set()).discard(row["kind"])
        # an outage closed by hand: its cameras still failing are judged alone at their next
        # failed sample (they are shown unreachable and belong to no open outage)
        self.outages.pop((row["kind"], row["camera_id"]), None)
        await self.refresh_gauges()
        return {"fault": _jsonable([dict(row)])[0]}

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
        if cam is None:
            cam = await self.record(conn, camera_id, ask=True)
        if cam is None:
            log.warning("fault raised for a camera the inventory does not know", camera=camera_id)
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
            await self._stage_resolved(conn, row, at, correlation_id, cam)

    async def _stage_resolved(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        at: datetime,
        correlation_id: str,
        cam: CameraRecord | None = None,
        actor: str = "system",
    ) -> None:
        cam = cam or self.view.get(row["camera_id"])
        await stage(
            conn,
            SCHEMA,
            FaultResolved(
                fault_id=row["fault_id"],
                camera_id=row["camera_id"],
                kind=row["kind"],
                resolved_at=at,
                camera_name=cam.name if cam else "",
                building=cam.building if cam else "",
                zone=cam.zone if cam else "",
                closed_by=row["closed_by"],
                reason=row["close_reason"] or "",
                affected_camera_ids=list(row["affected"] or []),
            ),
            source="health",
            key=row["camera_id"],
            actor=actor,
            correlation_id=correlation_id,
        )

    async def on_stopmove(self, env: Envelope, event: Event) -> None:
        if isinstance(event, StopMoveWindowApproved):
            await store.add_window(self.pool, StopMoveWindow.of(event))
        elif isinstance(event, StopMoveCompleted):
            if event.window_ends_at is not None:
                await store.end_window_early(self.pool, event.request_id, event.window_ends_at)

    async def on_exam(self, env: Envelope, event: Event) -> None:
        if isinstance(event, ExamWatch):
            await store.add_window(self.pool, ExamWatchWindow.of(event), "exam_watches")
            await self.load_watches()

    async def follow_tickets(self) -> None:
        """Open a repair ticket for each new fault and close it when the fault resolves."""
        async with self.pool.acquire() as conn, conn.transaction():
            for row in await store.tickets_to_open(conn):
                cam = CameraRecord.model_validate(row["record"]) if row["record"] else None
                where = f"{cam.building} {cam.position}" if cam else row["camera_id"]
                title = f"视频监控故障 {row['camera_id']} {cam.name if cam else ''}".strip()
                description = f"{row['kind']}: {row['detail']} (Art. 4 自动报修)"
                if row["affected"]:  # one ticket for a recorder: where, and which cameras
                    behind = [c for c in (self.view.get(a) for a in row["affected"]) if c]
                    places = sorted({f"{c.building} {c.position}" for c in behind})
                    where = "; ".join(places[:5]) or row["camera_id"]
                    title = f"录像机故障 recorder {row['camera_id']} ({len(row['affected'])} 路)"
                    description += " 受影响摄像机 cameras: " + ", ".join(sorted(row["affected"]))
                try:
                    ticket = await self.repair.open_ticket(
                        external_ref=row["fault_id"],
                        title=title,
                        location=where,
                        description=description[:4000],
                    )
                except Exception as exc:  # retried next round; the fault says why meanwhile
                    unreachable = isinstance(exc, httpx.TransportError)
                    await store.ticket_error(
                        conn,
                        row["fault_id"],
                        f"报修系统不可用 repair system unavailable: {exc!r}",
                        every_waiting=unreachable,
                    )
                    if unreachable:  # every waiting fault has the same reason; try next round
                        break
                    continue
                await store.ticket_opened(conn, row["fault_id"], ticket.repair_no)
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
            for row in await store.tickets_to_close(conn):
                try:
                    await self.repair.close_ticket(
                        row["ticket_no"], row["close_reason"] or "故障已消除 fault cleared"
                    )
                except Exception as exc:
                    await store.ticket_error(
                        conn, row["fault_id"], f"报修系统不可用 repair system unavailable: {exc}"
                    )
                    continue
                await store.ticket_closed(conn, row["fault_id"])
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

    async def expire_windows(self) -> None:
        """A camera still down when its stop/move window ends becomes a fault (Art. 8)."""
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            wins = await store.windows(conn)
            for camera_id in await store.in_maintenance(conn):
                why = window_over(camera_id, now, wins)
                if why is None:
                    continue
                async with conn.transaction():
                    # a removal half-way when the list was read comes wholly first: no fault
                    # for a camera that has left the inventory
                    if not await store.lock_counted(conn, camera_id, now):
                        continue
                    await self._open(conn, camera_id, None, now, why, "-")
                    await self._publish_state(conn, camera_id, "down", now, why, "-")


def build(settings: HealthSettings | None = None) -> Service:
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
        ("cctv.workflow.responsible.>", "health-responsible-v1", health.on_responsible),
    ):
        svc.consume(subject, durable=durable, handler=handler)
    svc.after_start(health.load_watches)
    svc.after_start(health.load_conditions)
    svc.after_start(health.load_installed)
    svc.after_start(health.load_schedules)
    svc.after_start(health.load_outages)
    svc.after_start(health.start_inventory)
    svc.before_stop(health.view.stop)

    async def housekeeping() -> None:
        """Each step on its own: a repair system that is down must not stop window expiry."""
        steps = (
            health.follow_tickets,
            health.expire_windows,
            health.load_watches,
            health.lapse_deletions,
            health.refresh_gauges,
            health.ensure_series,
        )
        while True:
            for step in steps:
                try:
                    await step()
                except Exception as exc:  # retried next round, never given up
                    log.warning("housekeeping step failed", step=step.__name__, error=repr(exc))
            await asyncio.sleep(settings.ticket_poll_s)

    svc.loop("housekeeping", housekeeping)
    attach_rpc(svc, health)
    return svc


def attach_rpc(svc: Service, health: HealthService) -> None:
    """States, faults, and NIC closing a fault by hand, over request-reply."""

    async def states(_q: Empty, _call: RpcCall) -> dict[str, Any]:
        return {"states": _jsonable(await store.states(health.pool))}

    async def faults(_q: Empty, _call: RpcCall) -> dict[str, Any]:
        return {"faults": _jsonable(await store.faults(health.pool))}

    async def close(q: FaultCloseRequest, _call: RpcCall) -> dict[str, Any]:
        # who closes it is the signed-on NIC administrator or duty operator (issue 11)
        who = require_caller("sysadmin", "duty_operator", what="closing a fault by hand (Art. 4)")
        return await health.close_by_hand(q.fault_id, q.reason, who.account)

    # Requests typed by the contract's models, validated once by the shell.
    svc.respond(rpc.HEALTH_STATES, states, request=Empty)
    svc.respond(rpc.HEALTH_FAULTS, faults, request=Empty)
    svc.respond(rpc.HEALTH_FAULT_CLOSE, close, request=FaultCloseRequest)
