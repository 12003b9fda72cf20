"""ingest's service: one class holding its collaborators; handlers are its methods, thin over
the store (store.py), the pure domain modules and the device adapters.

Where things run: request-reply and publishing on the service loop; probes and recording
listings on the prober's own loop in its own thread (prober.py), so a busy fleet never keeps
`cctv cameras list` waiting; frame decoding and tamper measures in worker threads.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import structlog
from prometheus_client import Counter

from cctv.contract import Envelope, Event, rpc
from cctv.contract import rpcmodels as m
from cctv.contract.codec import ContractError
from cctv.contract.events import (
    AccessHeld,
    AccessHoldExtended,
    CameraRecord,
    HealthSample,
    NewPointImplemented,
    StopMoveCompleted,
)
from cctv.plumbing.identity import require_caller
from cctv.plumbing.service import RpcCall, RpcError, Service

from . import store
from .adapters.base import utcnow
from .adapters.rtsp_probe import RtspProbe
from .adapters.wiring import DeviceProbes, resolver_from, scan_camera
from .basic_probe import BasicStatusProbe
from .frames import FrameSampler
from .inventory_io import (
    ImportPlan,
    InventoryRejected,
    export_csv,
    export_yaml,
    parse_file,
    plan_import,
)
from .loadwatch import LoopMonitor, calm
from .prober import ProberThread, publish_from
from .sampler import SpreadSampler
from .segments import PreservationHold, SegmentTracker, holds_of
from .settings import IngestSettings
from .sharding import Shard
from .tamper_watch import CHECKS, TamperWatch, run_rounds
from .workflow_link import moved_cameras

log = structlog.get_logger("ingest")
MIGRATIONS = Path(__file__).parent / "migrations"
SAMPLES = Counter("cctv_ingest_samples_total", "Health samples published", ["reachable"])
SEGMENTS = Counter("cctv_ingest_segments_total", "Recording events published", ["kind"])
FRAME_FAILURES_FAULT = 2  # frame checks failed in a row before samples say "no stream"


def member_id() -> str:
    """This replica's name among the others (the members bucket, each sample's `shard`)."""
    return f"{socket.gethostname()}-{os.getpid()}"


class IngestService:
    """One ingest replica: the camera inventory, sampling, recording scans, preservation
    holds (Art. 18) and the tamper watch (Art. 12)."""

    def __init__(
        self,
        settings: IngestSettings | None = None,
        *,
        schema: str | None = None,
        shard: Shard | None = None,
    ) -> None:
        s = self.settings = settings or IngestSettings()
        self.svc = Service("ingest", s, migrations=MIGRATIONS, schema=schema)
        # ingest's own lateness, so that it is never blamed on a camera (issue 9)
        self.monitor = LoopMonitor(loop="service")
        # this replica's share of the fleet; a test may hand in another replica's view
        self.shard = shard or Shard(member_id(), enabled=s.sharding, ttl_s=s.shard_ttl_s)
        self.probes = DeviceProbes(s, resolver_from(s), shard=self.shard.member_id)
        # what each recorder held at its last scan, and when each camera's next full scan is
        self.tracker = SegmentTracker(
            full_interval_s=s.segment_full_scan_interval_s,
            scan_interval_s=s.segment_scan_interval_s,
            full_at_first=False,  # after a restart: the recent past first, whole at its phase
        )
        self.prober: ProberThread | None = None  # while sampling runs
        self.prober_probes: DeviceProbes | None = None  # the prober loop's own (scans too)
        self.frames = RtspProbe(
            connect_timeout=s.rtsp_timeout_s,
            request_timeout=s.rtsp_timeout_s,
            sampler=FrameSampler(
                max_concurrency=s.frame_concurrency,
                open_timeout=s.rtsp_timeout_s,
                read_timeout=s.rtsp_timeout_s,
            ),
        )
        self._tamper: TamperWatch | None = None
        self.last_samples: dict[str, HealthSample] = {}  # what `cctv cameras show` prints
        self._register()

    def _register(self) -> None:
        svc = self.svc
        svc.loop("loop-monitor", self.monitor.run)
        # Requests typed by the contract's models, validated once by the shell.
        svc.respond(rpc.INGEST_CAMERAS, self.cameras, request=m.CamerasRequest)
        for subject, handler, request in (
            (rpc.INGEST_INVENTORY_IMPORT, self.inventory_import, m.InventoryImportRequest),
            (rpc.INGEST_INVENTORY_REMOVE, self.inventory_remove, m.InventoryRemoveRequest),
            (rpc.INGEST_INVENTORY_EXPORT, self.inventory_export, m.InventoryExportRequest),
        ):
            svc.respond(subject, handler, request=request)
        svc.respond(rpc.INGEST_CAMERA_STATUS, self.camera_status, request=m.CameraStatusRequest)
        svc.respond(rpc.INGEST_SECRETS_RELOAD, self.secrets_reload, request=m.Empty)
        svc.respond(rpc.INGEST_TAMPER_CONFIRM, self.tamper_confirm, request=m.TamperConfirmRequest)
        svc.respond(rpc.INGEST_TAMPER_STATE, self.tamper_state, request=m.TamperStateRequest)
        # one consumer for the access process; only its hold transitions matter here
        svc.consume(
            "cctv.workflow.access.>",
            stream="CCTV_WORKFLOW",
            durable=f"{svc.schema}-holds-v1",
            handler=self.on_hold,
        )
        for process in ("newpoint", "stopmove"):
            svc.consume(
                f"cctv.workflow.{process}.>",
                stream="CCTV_WORKFLOW",
                durable=f"ingest-{process}-v1",
                handler=self.on_workflow,
            )
        svc.before_consuming(self.seed)  # before ingest-newpoint replays an added camera
        svc.after_start(self.join)
        svc.before_stop(self.probes.close)
        svc.before_stop(self.leave)
        svc.loop("recordings", self.recordings)
        svc.loop("sampling", self.sampling)
        if self.settings.tamper_watch:
            svc.loop("tamper", self.tamper_loop)

    # ---- collaborators -------------------------------------------------------------------
    @property
    def pool(self) -> asyncpg.Pool:
        assert self.svc.pool is not None, "ingest's handlers run once the database is up"
        return self.svc.pool

    @property
    def schema(self) -> str:
        return self.svc.schema

    @property
    def tamper(self) -> TamperWatch:
        """The tamper watch (made at first use: it needs the database pool)."""
        if self._tamper is None:
            self._tamper = TamperWatch(
                self.pool,
                self.frames,
                schema=self.schema,
                credentials_for=self.probes.credentials_for,  # same secrets, same vault
                source=self.svc.name,
                discovered=self.probes.discovered_stream,
                rediscover=self.probes.rediscover_stream,
                monitor=self.monitor,
            )
        return self._tamper

    async def list_cameras(self) -> list[CameraRecord]:
        return await store.list_cameras(self.pool, self.schema)

    async def my_cameras(self) -> list[CameraRecord]:
        """This replica's share of the inventory."""
        return await self.shard.owned(await self.list_cameras())

    async def find(self, camera_id: str) -> CameraRecord | None:
        return await store.camera(self.pool, camera_id, self.schema)

    async def find_for_tamper(self, camera_id: str) -> CameraRecord:
        cam = await self.find(camera_id)
        if cam is None:
            raise KeyError(f"unknown camera {camera_id!r}")  # answered as a bad request
        return cam

    # ---- start and stop ------------------------------------------------------------------
    async def join(self) -> None:
        """Membership among the replicas (KV bucket `cctv_ingest_members`)."""
        await self.shard.start(self.svc.broker.connection.jetstream())

    async def leave(self) -> None:
        await self.shard.leave()

    async def seed(self) -> None:
        """An empty inventory is seeded from SEED_INVENTORY (a .csv/.yaml inventory file; the
        demo stack writes one for its simulated campus), validated as any import is."""
        path = self.settings.seed_inventory
        if path is not None and await store.count_cameras(self.pool, self.schema) == 0:
            cams = parse_file(path.name, path.read_text(encoding="utf-8"))
            await store.upsert_cameras(self.pool, cams, actor="seed", schema=self.schema)

    # ---- the inventory over request-reply (`cctv cameras|inventory ...`, the console) ---
    async def cameras(self, q: m.CamerasRequest, _call: RpcCall) -> m.CamerasReply:
        """The inventory, optionally one camera or one building."""
        if q.camera_id:  # one camera: read alone, not picked out of the whole inventory
            cam = await self.find(q.camera_id)
            found = [] if cam is None else [cam]
        else:
            found = await self.list_cameras()
        if q.building:
            found = [c for c in found if c.building == q.building]
        return m.CamerasReply(cameras=found)

    async def inventory_import(
        self, q: m.InventoryImportRequest, _call: RpcCall
    ) -> m.InventoryImportReply:
        """A whole file (or a one-camera edit) validated before anything is written."""
        try:
            incoming = parse_file(q.filename, q.content)
        except InventoryRejected as exc:
            raise RpcError(
                "; ".join(str(e) for e in exc.errors[:20])
                + (f" (+{len(exc.errors) - 20} more)" if len(exc.errors) > 20 else "")
            ) from exc
        plan = plan_import(await self.list_cameras(), incoming, replace=q.replace)
        if not q.dry_run:
            # an inventory change (and so a device ingest will log in to) needs a signed-on
            # system administrator; the actor is who they are, not what the request says
            who = require_caller("sysadmin", what="changing the camera inventory (Art. 3)")
            await self._apply(plan, actor=who.account)
        return m.InventoryImportReply(
            upserted=[c.camera_id for c in plan.upserts],
            unchanged=len(plan.unchanged),
            removed=plan.removals,
            applied=not q.dry_run,
        )

    async def inventory_export(
        self, q: m.InventoryExportRequest, _call: RpcCall
    ) -> m.InventoryExportReply:
        cams = await self.list_cameras()
        content = export_csv(cams) if q.format == "csv" else export_yaml(cams)
        return m.InventoryExportReply(content=content, count=len(cams))

    async def inventory_remove(
        self, q: m.InventoryRemoveRequest, _call: RpcCall
    ) -> m.InventoryRemoveReply:
        cid, reason = q.camera_id, q.reason.strip()
        if await self.find(cid) is None:
            raise RpcError.bilingual(
                "not_found", "无此摄像机", f"no camera {cid!r} in the inventory"
            )
        who = require_caller("sysadmin", what="removing a camera (Art. 3)")
        await self._apply(ImportPlan(removals=[cid]), actor=who.account, reason=reason)
        return m.InventoryRemoveReply(removed=[cid])

    async def _apply(
        self, plan: ImportPlan, *, actor: str, reason: str = "inventory import"
    ) -> int:
        return await store.apply_changes(
            self.pool, self.schema, plan.upserts, plan.removals, actor=actor, reason=reason
        )

    async def camera_status(
        self, req: m.CameraStatusRequest, _call: RpcCall
    ) -> m.CameraStatusReply:
        """What ingest last saw of one camera: its last sample and frame check."""
        cam = await self.find(req.camera_id)
        if cam is None:
            raise RpcError.bilingual(
                "not_found",
                f"无此摄像机 {req.camera_id}",
                f"no camera {req.camera_id!r} in the inventory",
            )
        sample = self.last_samples.get(req.camera_id)
        watch = self._tamper
        return m.CameraStatusReply(
            camera=cam,
            last_sample=sample.model_dump(mode="json") if sample is not None else None,
            last_frame_check=watch.last_check.get(req.camera_id) if watch else None,
            stream_url=cam.stream_url or self.probes.discovered_stream(req.camera_id),
        )

    async def secrets_reload(self, _req: m.Empty, _call: RpcCall) -> m.SecretsReloadReply:
        """After an operator fixes a device secret: read them all again now, not in 5 min."""
        self.probes.credentials.reload()
        return m.SecretsReloadReply(reloaded=True)

    # ---- what the regulation's processes change (Art. 6, 8, 18) --------------------------
    async def on_workflow(self, env: Envelope, event: Event) -> None:
        """New points enter the inventory; moved cameras get their new position."""
        actor = f"workflow:{getattr(event, 'request_id', '')}"
        if isinstance(event, NewPointImplemented):
            await store.upsert_cameras(self.pool, event.cameras, actor=actor, schema=self.schema)
        elif isinstance(event, StopMoveCompleted):
            moved = moved_cameras(
                await self.list_cameras(), [mv.model_dump() for mv in event.moved]
            )
            await store.upsert_cameras(self.pool, moved, actor=actor, schema=self.schema)

    async def on_hold(self, _env: Envelope, event: Event) -> None:
        """A preservation hold (Art. 18): the held footage's deletion is always a finding."""
        if not isinstance(event, AccessHeld | AccessHoldExtended) or event.hold is None:
            return
        await store.add_holds(self.pool, self.schema, event.hold.hold_id, holds_of(event.hold))

    # ---- sampling ------------------------------------------------------------------------
    def annotated(self, sample: HealthSample) -> HealthSample:
        """The sample with what the tamper watch knows of the camera."""
        watch = self._tamper
        # the tamper watch's latest findings for this camera (Art. 12), when it has checked one
        latest = watch.latest.get(sample.camera_id) if watch is not None else None
        if latest is not None and sample.measured:
            sample = sample.model_copy(update={"tamper": latest[0], "tamper_checked_at": latest[1]})
        if (
            sample.measured
            and sample.reachable
            and watch is not None
            and watch.failures.get(sample.camera_id, 0) >= FRAME_FAILURES_FAULT
        ):
            # frames that cannot be read round after round are a fault of their own (issue 16)
            sample = sample.model_copy(update={"streaming": False})
        return sample

    async def emit(self, samples: list[HealthSample]) -> None:
        """Publish samples as they came off the prober, in one round trip."""
        ready = [self.annotated(s) for s in samples]
        await self.svc.publish_many([(s, s.camera_id) for s in ready])
        for s in ready:
            SAMPLES.labels(str(s.reachable).lower()).inc()
            self.last_samples[s.camera_id] = s

    async def sampling(self) -> None:
        """The prober runs on its own loop in a thread (prober.py); this loop keeps the
        camera list fresh for it and publishes what it measured."""
        prober = ProberThread(self.probe_main)
        prober.cameras = await self.list_cameras()
        prober.start()
        self.prober = prober  # recording scans run their device I/O there too
        publisher = asyncio.create_task(publish_from(prober, self.emit))
        ended = asyncio.create_task(prober.wait())
        try:
            while not ended.done():
                try:
                    prober.cameras = await self.list_cameras()
                except Exception as exc:  # a database blip: the prober keeps the last list
                    log.warning("camera list not refreshed", error=repr(exc))
                await asyncio.wait({ended}, timeout=self.settings.sample_interval_s)
            await ended  # raises what stopped the prober: the service restarts this loop
        finally:
            self.prober = None
            self.prober_probes = None
            publisher.cancel()
            ended.cancel()
            await asyncio.to_thread(prober.stop)

    async def probe_main(
        self,
        cameras: Callable[[], list[CameraRecord]],
        hand_back: Callable[[HealthSample], None],
    ) -> None:
        """The prober thread's main, on its own loop: probes of this replica's cameras."""
        s = self.settings
        loop_monitor = LoopMonitor(loop="prober")
        watcher = asyncio.create_task(loop_monitor.run())
        probes = self.probes.sibling()  # their own connection pool, on this loop
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=s.probe_concurrency))
        basic = BasicStatusProbe(client, s.probe_timeout_s)
        self.prober_probes = probes

        def probe_for(c: CameraRecord) -> Any:
            return probes if probes.handles(c) else basic

        async def emit_back(sample: HealthSample) -> None:
            hand_back(sample)

        async def current() -> list[CameraRecord]:
            return cameras()

        sampler = SpreadSampler(
            probe_for,
            emit_back,
            period_s=s.sample_interval_s,
            concurrency=s.probe_concurrency,
            timeout_s=s.probe_timeout_s,
            monitor=loop_monitor,
            shed_lag_s=s.shed_loop_lag_s,
            shard=self.shard.member_id,
        )
        try:
            # sharding between replicas, asked at each camera's slot
            await sampler.run(current, mine=self.shard.owns, members=self.shard.live)
        finally:
            watcher.cancel()
            await probes.close()
            await client.aclose()

    # ---- recording scans (Art. 7, 18) ----------------------------------------------------
    async def recordings(self) -> None:
        """Every SEGMENT_SCAN_INTERVAL_S, each owned ISAPI/Dahua camera's recorder is listed:
        new segments, the retention report, deletions inside 30 days or under a hold. The
        whole window once per SEGMENT_FULL_SCAN_INTERVAL_S (and after a new hold), the
        recent past otherwise (the tracker plans it, ADR 0031)."""
        s = self.settings
        # let sampling settle first: the first scan of a fleet is the heaviest
        await asyncio.sleep(min(30.0, s.segment_scan_interval_s))
        while True:
            cams = [
                c
                for c in await self.my_cameras()
                if c.protocol in ("isapi", "dahua") and self.probes.handles(c)
            ]
            holds = await store.active_holds(self.pool, self.schema)
            sem = asyncio.Semaphore(s.segment_concurrency)
            await asyncio.gather(*(self.scan_one(c, holds, utcnow(), sem) for c in cams))
            await asyncio.sleep(s.segment_scan_interval_s)

    async def scan_one(
        self,
        cam: CameraRecord,
        holds: list[PreservationHold],
        now: datetime,
        sem: asyncio.Semaphore,
    ) -> None:
        async with sem:
            await calm(self.monitor, 0.5)  # probes and replies come first
            # on the prober's loop, with its probes, while it runs: listings are pages of XML
            # to fetch and parse, and the service loop only answers request-reply and
            # publishes (issue 9)
            prober, probes = self.prober, self.prober_probes
            if prober is None or probes is None:
                prober, probes = None, self.probes

            def scan() -> Coroutine[Any, Any, list[Event]]:
                return scan_camera(
                    probes.adapters[cam.protocol],
                    probes.target(cam),
                    self.tracker,
                    holds,
                    self.settings,
                    now,
                )

            try:
                events = await (scan() if prober is None else prober.submit(scan))
            except Exception as exc:
                log.warning("recording scan failed", camera_id=cam.camera_id, error=repr(exc))
                return
        for ev in events:
            await self.publish_recording(ev, cam.camera_id)

    async def publish_recording(self, event: Event, key: str) -> None:
        try:
            await self.svc.publish(event, key=key)
        except ContractError:  # a camera id that is no subject token (issue 16)
            await self.svc.publish(event)
        SEGMENTS.labels(event.TYPE.rsplit(".", 1)[-1]).inc()

    # ---- tamper watch (Art. 12) ----------------------------------------------------------
    async def tamper_loop(self) -> None:
        watch = self.tamper
        try:
            await watch.load_latest()
        except Exception:  # samples then carry no findings until the first checks
            CHECKS.labels("error").inc()
        await run_rounds(
            watch, self.my_cameras, self.settings.tamper_period_s(), monitor=self.monitor
        )

    async def tamper_confirm(
        self, q: m.TamperConfirmRequest, _call: RpcCall
    ) -> m.TamperConfirmReply:
        """An operator makes what the camera shows now its reference (Art. 12)."""
        who = require_caller("duty_operator", "sysadmin", what="confirming a reference (Art. 12)")
        cam = await self.find_for_tamper(q.camera_id)
        try:
            done = await self.tamper.confirm(cam, who.account, q.reason)
        except ValueError as exc:
            raise RpcError(str(exc), "Art. 12") from exc
        return m.TamperConfirmReply(reference=done.model_dump(mode="json"))

    async def tamper_state(self, q: m.TamperStateRequest, _call: RpcCall) -> dict[str, Any]:
        cam = await self.find_for_tamper(q.camera_id)
        if q.thresholds is not None:
            require_caller("sysadmin", what="changing tamper thresholds (Art. 12)")
            await self.tamper.set_thresholds(cam.camera_id, q.thresholds)
        return await self.tamper.state(cam.camera_id)


def build(settings: IngestSettings | None = None, *, schema: str | None = None) -> Service:
    return IngestService(settings, schema=schema).svc
