"""ingest's FastStream wiring: thin handlers over the inventory store and the sampler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import structlog
from prometheus_client import Counter

from cctv.contract import Envelope, Event, rpc
from cctv.contract.events import (
    CameraRecord,
    HealthSample,
    NewPointImplemented,
    StopMoveCompleted,
)
from cctv.contract.rpcmodels import (
    CameraStatusReply,
    CameraStatusRequest,
    Empty,
    SecretsReloadReply,
)
from cctv.plumbing.service import RpcCall, RpcError, Service

from . import store
from .basic_probe import BasicStatusProbe
from .inventory_io import parse_file
from .loadwatch import LoopMonitor
from .prober import ProberThread, publish_from
from .sampler import SpreadSampler
from .settings import IngestSettings
from .workflow_link import moved_cameras

log = structlog.get_logger("ingest")
SAMPLES = Counter("cctv_ingest_samples_total", "Health samples published", ["reachable"])
FRAME_FAILURES_FAULT = 2  # frame checks failed in a row before samples say "no stream"


def build(settings: IngestSettings | None = None) -> Service:
    settings = settings or IngestSettings()
    svc = Service("ingest", settings, migrations=Path(__file__).parent / "migrations")
    # ingest's own lateness, so that it is never blamed on a camera (issue 9)
    monitor = LoopMonitor(loop="service")
    svc.state["loop_monitor"] = monitor
    svc.loop("loop-monitor", monitor.run)

    async def seed() -> None:
        """An empty inventory is seeded from SEED_INVENTORY (a .csv/.yaml inventory file; the
        demo stack writes one for its simulated campus), validated as any import is."""
        assert svc.pool is not None
        path = settings.seed_inventory
        if path is not None and await store.count_cameras(svc.pool) == 0:
            cams = parse_file(path.name, path.read_text(encoding="utf-8"))
            await store.upsert_cameras(svc.pool, cams, actor="seed")

    async def emit(sample: HealthSample) -> None:
        # the tamper watch's latest findings for this camera (Art. 12), when it has checked one
        findings = svc.state.get("tamper_findings")
        latest = findings(sample.camera_id) if findings is not None else None
        if latest is not None and sample.measured:
            sample = sample.model_copy(update={"tamper": latest[0], "tamper_checked_at": latest[1]})
        failures = svc.state.get("frame_failures")
        if (
            sample.measured
            and sample.reachable
            and failures is not None
            and failures(sample.camera_id) >= FRAME_FAILURES_FAULT
        ):
            # frames that cannot be read round after round are a fault of their own (issue 16)
            sample = sample.model_copy(update={"streaming": False})
        await svc.publish(sample, key=sample.camera_id)
        SAMPLES.labels(str(sample.reachable).lower()).inc()
        last_samples[sample.camera_id] = sample

    last_samples: dict[str, HealthSample] = {}  # what `cctv cameras show` prints

    async def camera_status(req: CameraStatusRequest, _call: RpcCall) -> CameraStatusReply:
        """What ingest last saw of one camera: its last sample and frame check."""
        assert svc.pool is not None
        found = [c for c in await store.list_cameras(svc.pool) if c.camera_id == req.camera_id]
        if not found:
            raise RpcError.bilingual(
                "not_found",
                f"无此摄像机 {req.camera_id}",
                f"no camera {req.camera_id!r} in the inventory",
            )
        probes = svc.state.get("device_probes")
        frame = svc.state.get("last_frame_check")
        sample = last_samples.get(req.camera_id)
        discovered = probes.discovered_stream(req.camera_id) if probes is not None else None
        return CameraStatusReply(
            camera=found[0],
            last_sample=sample.model_dump(mode="json") if sample is not None else None,
            last_frame_check=frame(req.camera_id) if frame is not None else None,
            stream_url=found[0].stream_url or discovered,
        )

    async def secrets_reload(_req: Empty, _call: RpcCall) -> SecretsReloadReply:
        """After an operator fixes a device secret: read them all again now, not in 5 min."""
        probes = svc.state.get("device_probes")
        if probes is not None:
            probes.credentials.reload()
        return SecretsReloadReply(reloaded=True)

    svc.respond(rpc.INGEST_CAMERA_STATUS, camera_status, request=CameraStatusRequest)
    svc.respond(rpc.INGEST_SECRETS_RELOAD, secrets_reload, request=Empty)

    # devices hook (issue #5): ISAPI / Dahua / ONVIF adapters, recording scans, sharding
    from .adapters.wiring import attach_devices

    attach_devices(svc, lambda: store.list_cameras(svc.pool))  # type: ignore[arg-type]
    is_mine = svc.state["is_mine"]  # sharding between replicas, asked at each camera's slot

    async def sampling() -> None:
        """The prober runs on its own loop in a thread (prober.py); this loop keeps the
        camera list fresh for it and publishes what it measured."""
        assert svc.pool is not None
        pool = svc.pool
        main_probes = svc.state.get("device_probes")
        members = svc.state["members"]

        async def probe_main(
            cameras: Callable[[], list[CameraRecord]], hand_back: Callable[[HealthSample], None]
        ) -> None:
            loop_monitor = LoopMonitor(loop="prober")
            watcher = asyncio.create_task(loop_monitor.run())
            probes = main_probes.sibling() if main_probes is not None else None
            client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=settings.probe_concurrency)
            )
            basic = BasicStatusProbe(client, settings.probe_timeout_s)

            prober.context["probes"] = probes

            def probe_for(c: CameraRecord) -> Any:
                return probes if probes is not None and probes.handles(c) else basic

            async def emit_back(sample: HealthSample) -> None:
                hand_back(sample)

            async def current() -> list[CameraRecord]:
                return cameras()

            sampler = SpreadSampler(
                probe_for,
                emit_back,
                period_s=settings.sample_interval_s,
                concurrency=settings.probe_concurrency,
                timeout_s=settings.probe_timeout_s,
                monitor=loop_monitor,
                shed_lag_s=settings.shed_loop_lag_s,
                shard=getattr(main_probes, "shard", None),
            )
            try:
                await sampler.run(current, mine=is_mine, members=members)
            finally:
                watcher.cancel()
                if probes is not None:
                    await probes.close()
                await client.aclose()

        prober = ProberThread(probe_main)
        prober.cameras = await store.list_cameras(pool)
        prober.start()
        svc.state["prober"] = prober  # recording scans run their device I/O there too
        publisher = asyncio.create_task(publish_from(prober, emit))
        ended = asyncio.create_task(prober.wait())
        try:
            while not ended.done():
                try:
                    prober.cameras = await store.list_cameras(pool)
                except Exception as exc:  # a database blip: the prober keeps the last list
                    log.warning("camera list not refreshed", error=repr(exc))
                await asyncio.wait({ended}, timeout=settings.sample_interval_s)
            await ended  # raises what stopped the prober: the service restarts this loop
        finally:
            svc.state.pop("prober", None)
            publisher.cancel()
            ended.cancel()
            await asyncio.to_thread(prober.stop)

    async def on_workflow(env: Envelope, event: Event) -> None:
        """New points enter the inventory; moved cameras get their new position."""
        assert svc.pool is not None
        actor = f"workflow:{getattr(event, 'request_id', '')}"
        if isinstance(event, NewPointImplemented):
            await store.upsert_cameras(svc.pool, event.cameras, actor=actor)
        elif isinstance(event, StopMoveCompleted):
            moved = moved_cameras(
                await store.list_cameras(svc.pool), [m.model_dump() for m in event.moved]
            )
            await store.upsert_cameras(svc.pool, moved, actor=actor)

    for process in ("newpoint", "stopmove"):
        svc.consume(
            f"cctv.workflow.{process}.>",
            stream="CCTV_WORKFLOW",
            durable=f"ingest-{process}-v1",
            handler=on_workflow,
        )
    svc.after_start(seed)
    svc.loop("sampling", sampling)
    # cctv.rpc.ingest.cameras / inventory.*: inventory_io, attached by the devices hook

    # media hook (issue #5): one RTSP frame per camera on a schedule -> tamper findings
    from .tamper_watch import attach_tamper_watch

    attach_tamper_watch(svc, lambda: store.list_cameras(svc.pool))  # type: ignore[arg-type]
    return svc
