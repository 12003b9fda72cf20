"""ingest's FastStream wiring: thin handlers over the inventory store and the sampler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client import Counter

from cctv.contract import rpc
from cctv.contract.events import HealthSample
from cctv.plumbing.service import Service

from . import store
from .basic_probe import BasicStatusProbe
from .sampler import run_periodically, sample_fleet
from .settings import IngestSettings

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
        await svc.publish(sample, key=sample.camera_id)
        SAMPLES.labels(str(sample.reachable).lower()).inc()

    # devices hook (issue #5): ISAPI / Dahua / ONVIF adapters, recording scans, sharding
    from .adapters.wiring import attach_devices

    device_probe_for = attach_devices(svc, lambda: store.list_cameras(svc.pool))  # type: ignore[arg-type]
    owned = svc.state["owned_cameras"]

    async def sampling() -> None:
        assert svc.pool is not None
        pool = svc.pool

        async def tick() -> None:
            cameras = await owned(await store.list_cameras(pool))
            await sample_fleet(
                cameras,
                lambda c: device_probe_for(c) or basic,
                emit,
                settings.probe_concurrency,
                settings.probe_timeout_s,
            )

        await run_periodically(settings.sample_interval_s, tick)

    async def cameras(request: dict[str, Any]) -> dict[str, Any]:
        assert svc.pool is not None
        found = await store.list_cameras(svc.pool)
        if camera_id := request.get("camera_id"):
            found = [c for c in found if c.camera_id == camera_id]
        if building := request.get("building"):
            found = [c for c in found if c.building == building]
        return {"cameras": [c.model_dump(mode="json") for c in found]}

    svc.after_start(seed)
    svc.loop("sampling", sampling)
    svc.respond(rpc.INGEST_CAMERAS, cameras)

    # media hook (issue #5): one RTSP frame per camera on a schedule -> tamper findings
    from .tamper_watch import attach_tamper_watch

    attach_tamper_watch(svc, lambda: store.list_cameras(svc.pool))  # type: ignore[arg-type]
    return svc
