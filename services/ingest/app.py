"""ingest's FastStream wiring: thin handlers over the inventory store and the sampler."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client import Counter

from cctv.contract import Envelope, Event
from cctv.contract.events import (
    CameraRecord,
    HealthSample,
    NewPointImplemented,
    StopMoveCompleted,
)
from cctv.plumbing.service import Service

from . import store
from .basic_probe import BasicStatusProbe
from .sampler import SpreadSampler
from .settings import IngestSettings
from .workflow_link import moved_cameras

SAMPLES = Counter("cctv_ingest_samples_total", "Health samples published", ["reachable"])


def build(settings: IngestSettings | None = None) -> Service:
    settings = settings or IngestSettings()
    svc = Service("ingest", settings, migrations=Path(__file__).parent / "migrations")
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=settings.probe_concurrency))
    basic = BasicStatusProbe(client, settings.probe_timeout_s)

    async def seed() -> None:
        assert svc.pool is not None
        if settings.seed_demo and await store.count_cameras(svc.pool) == 0:
            from demo.campus import generate

            cams = generate(settings.sim_address)
            # devices hook (issue #5): each demo camera at its own simulated device's address
            from demo.simulator.devices.bridge import port_of, with_device_addresses

            cams = with_device_addresses(cams, port_of(settings.sim_address))
            await store.upsert_cameras(svc.pool, cams, actor="seed")

    async def emit(sample: HealthSample) -> None:
        # the tamper watch's latest findings for this camera (Art. 12), when it has checked one
        findings = svc.state.get("tamper_findings")
        latest = findings(sample.camera_id) if findings is not None else None
        if latest is not None:
            sample = sample.model_copy(update={"tamper": latest[0], "tamper_checked_at": latest[1]})
        await svc.publish(sample, key=sample.camera_id)
        SAMPLES.labels(str(sample.reachable).lower()).inc()

    # devices hook (issue #5): ISAPI / Dahua / ONVIF adapters, recording scans, sharding
    from .adapters.wiring import attach_devices

    device_probe_for = attach_devices(svc, lambda: store.list_cameras(svc.pool))  # type: ignore[arg-type]
    is_mine = svc.state["is_mine"]  # sharding between replicas, asked at each camera's slot

    async def sampling() -> None:
        assert svc.pool is not None
        pool = svc.pool

        async def all_cameras() -> list[CameraRecord]:
            return await store.list_cameras(pool)

        sampler = SpreadSampler(
            lambda c: device_probe_for(c) or basic,
            emit,
            period_s=settings.sample_interval_s,
            concurrency=settings.probe_concurrency,
            timeout_s=settings.probe_timeout_s,
        )
        await sampler.run(all_cameras, mine=is_mine, members=svc.state["members"])

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
