"""Ingest's hook for the device adapters: health probes, recording scans, holds, sharding.

`attach_devices(svc, list_cameras)` adds to the ingest service:
- `probe_for(camera)`: the adapter-backed probe for ISAPI / Dahua / ONVIF cameras (the
  sampling loop asks it first, and falls back to the basic probe for other protocols);
- a `recordings` loop: every `segment_scan_interval_s`, each owned ISAPI/Dahua camera's
  recorder is listed over the last 32 days -> `recording.segment` (new, closed segments,
  with SHA-256 where the file can be fetched), `recording.retention`, `recording.deleted`;
- a consumer of `workflow.access.held` / `hold_extended` (Art. 18) into <schema>.preservation_holds;
- membership in the replicas' KV bucket; `owned(cameras)` keeps this replica's share.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import Counter, Histogram

from cctv.contract.codec import ContractError
from cctv.contract.envelope import Envelope
from cctv.contract.events import (
    AccessHeld,
    AccessHoldExtended,
    CameraRecord,
    Event,
    HealthSample,
    HoldRecord,
)
from cctv.plumbing.settings import ServiceSettings

from ..loadwatch import calm
from ..segments import PreservationHold, SegmentTracker, scan_start
from ..sharding import Membership, mine
from .base import Credentials, DeviceAdapter, DeviceTarget, Segment, utcnow
from .credentials import CredentialResolver, FernetVault
from .http import DeviceHttp, HttpSettings
from .onvif import OnvifAdapter

log = structlog.get_logger("ingest.devices")
PROBES = Histogram("cctv_ingest_device_probe_seconds", "Adapter probe duration", ["protocol"])
SEGMENTS = Counter("cctv_ingest_segments_total", "Recording events published", ["kind"])
ListCameras = Callable[[], Awaitable[list[CameraRecord]]]


class DeviceSettings(ServiceSettings):
    """Environment variables of the same names, upper case."""

    device_adapters: bool = True
    device_connect_timeout_s: float = 2.0
    device_read_timeout_s: float = 3.0
    device_max_connections: int = 256
    deep_probe_every: int = 10  # recording check every N samples of a camera
    device_secrets_dir: Path = Path("/run/secrets")
    device_vault_key_file: Path | None = None  # Fernet key (a mounted secret)
    device_vault_file: Path | None = None  # JSON {secret name: Fernet token}
    segment_scan_interval_s: float = 600.0
    segment_concurrency: int = 8
    segment_backfill_h: float = 2.0  # on a camera's first scan, publish this much history
    segment_hash_max_bytes: int = 64 << 20
    shard_ttl_s: float = 10.0
    sharding: bool = True


class DeviceProbes:
    """Adapter-backed probes with the `probe(camera) -> HealthSample` shape ingest samples."""

    def __init__(
        self,
        settings: DeviceSettings,
        credentials: CredentialResolver,
        fallback: Credentials | None = None,
        shard: str | None = None,
    ) -> None:
        from . import build_adapters

        self.settings = settings
        self.http = DeviceHttp(
            HttpSettings(
                connect_timeout_s=settings.device_connect_timeout_s,
                read_timeout_s=settings.device_read_timeout_s,
                max_connections=settings.device_max_connections,
            )
        )
        self.adapters: dict[str, DeviceAdapter] = build_adapters(self.http)
        self.credentials = credentials
        self.fallback = fallback
        self.shard = shard
        self._count: dict[str, int] = {}

    def sibling(self) -> DeviceProbes:
        """Probes for another event loop (the prober thread): their own connection pool,
        the same secrets, shard and discovered ONVIF streams."""
        other = DeviceProbes(self.settings, self.credentials, self.fallback, self.shard)
        mine, theirs = self.adapters.get("onvif"), other.adapters.get("onvif")
        if isinstance(mine, OnvifAdapter) and isinstance(theirs, OnvifAdapter):
            theirs.streams, theirs._stale = mine.streams, mine._stale
        return other

    def discovered_stream(self, camera_id: str) -> str | None:
        """The stream URI an ONVIF camera announced (GetStreamUri), if known."""
        onvif = self.adapters.get("onvif")
        return onvif.discovered(camera_id) if isinstance(onvif, OnvifAdapter) else None

    def rediscover_stream(self, camera_id: str) -> None:
        onvif = self.adapters.get("onvif")
        if isinstance(onvif, OnvifAdapter):
            onvif.rediscover(camera_id)

    def handles(self, camera: CameraRecord) -> bool:
        return self.settings.device_adapters and camera.protocol in self.adapters

    def credentials_for(self, camera: CameraRecord) -> Credentials | None:
        try:
            return self.credentials.for_camera(camera) or self.fallback
        except Exception as exc:  # a broken secret is that camera's problem, not the fleet's
            log.warning("device credentials unreadable", camera_id=camera.camera_id, error=str(exc))
            return None

    def target(self, camera: CameraRecord) -> DeviceTarget:
        return DeviceTarget.from_camera(camera, self.credentials_for(camera))

    async def probe(self, camera: CameraRecord) -> HealthSample:
        n = self._count.get(camera.camera_id, 0)
        self._count[camera.camera_id] = n + 1
        deep = n % max(1, self.settings.deep_probe_every) == 0
        adapter = self.adapters[camera.protocol]
        with PROBES.labels(camera.protocol).time():
            try:
                result = await adapter.probe(self.target(camera), deep=deep)
            except ValueError as exc:  # e.g. an address that is not host:port
                return HealthSample(
                    camera_id=camera.camera_id,
                    sampled_at=utcnow(),
                    reachable=False,
                    error=f"error: {exc}",
                    shard=self.shard,
                )
        return result.to_sample(self.shard)

    async def close(self) -> None:
        for a in {id(a): a for a in self.adapters.values()}.values():
            await a.close()
        await self.http.close()


def resolver_from(settings: DeviceSettings) -> CredentialResolver:
    vault = None
    if settings.device_vault_key_file is not None:
        vault = FernetVault.from_files(settings.device_vault_key_file, settings.device_vault_file)
    return CredentialResolver(settings.device_secrets_dir, vault)


async def scan_camera(
    adapter: Any,
    target: DeviceTarget,
    tracker: SegmentTracker,
    holds: list[PreservationHold],
    settings: DeviceSettings,
    now: datetime,
) -> list[Event]:
    """One recorder scan of one camera -> the events to publish (pure but for device I/O)."""
    start = scan_start(target.camera_id, now, holds)
    listing = await adapter.list_segments(target, start, now)
    # Only closed segments: the one being written has no final end, size or hash yet.
    closed = [s for s in listing.segments if s.end <= now - timedelta(seconds=60)]
    listing.segments = closed
    first = tracker.known_count(target.camera_id) == 0
    out = tracker.observe(target.camera_id, listing, start, now, now, holds)
    by_start: dict[datetime, Segment] = {s.start: s for s in closed}
    events: list[Event] = []
    backfill = now - timedelta(hours=settings.segment_backfill_h)
    for ev in out.segments:
        if first and ev.end < backfill:
            continue  # history before ingest knew the camera: summarised by the retention
        seg = by_start.get(ev.start)
        digest = None
        if seg is not None and hasattr(adapter, "segment_sha256"):
            try:
                digest = await adapter.segment_sha256(target, seg, settings.segment_hash_max_bytes)
            except Exception as exc:  # the file may be unreachable; the segment still counts
                log.info("segment not hashed", camera_id=target.camera_id, error=str(exc))
        events.append(ev.model_copy(update={"sha256": digest}) if digest else ev)
    events.extend(out.deleted)
    if out.retention is not None and not listing.error:
        events.append(out.retention)
    if out.note:
        log.info("recording scan", camera_id=target.camera_id, note=out.note)
    return events


def _parse_hold(h: HoldRecord | None) -> list[PreservationHold]:
    """The contract's typed hold (AccessHeld.hold) as the scanner's per-camera holds."""
    if h is None:
        return []
    # a date: through that day
    until_dt = datetime.combine(h.until, datetime.min.time(), UTC) + timedelta(days=1)
    return [PreservationHold(c, h.footage_from, h.footage_until, until_dt) for c in h.cameras]


def attach_devices(
    svc: Any, list_cameras: ListCameras, settings: DeviceSettings | None = None
) -> Callable[[CameraRecord], Any]:
    """Wire the adapters into ingest; returns `probe_for(camera)` (None: not ours)."""
    settings = settings or DeviceSettings()
    member_id = f"{socket.gethostname()}-{os.getpid()}"
    probes = DeviceProbes(settings, resolver_from(settings), shard=member_id)
    tracker = SegmentTracker()
    state: dict[str, Any] = {"membership": None}
    svc.state["device_probes"] = probes

    async def start_membership() -> None:
        if not settings.sharding:
            return
        js = svc.broker.connection.jetstream()
        m = Membership(js, member_id, ttl_s=settings.shard_ttl_s)
        await m.start()
        state["membership"] = m

    async def leave_membership() -> None:
        """Delete our key on the way out so the others take our cameras at once, not at TTL."""
        m: Membership | None = state["membership"]
        if m is not None:
            await m.stop(leave=True)

    async def owned(cameras: list[CameraRecord]) -> list[CameraRecord]:
        m: Membership | None = state["membership"]
        if m is None:
            return cameras
        try:
            members = await m.members()
        except Exception as exc:  # NATS blip: keep sampling everything rather than nothing
            log.warning("membership unavailable; sampling all", error=str(exc))
            return cameras
        keep = set(mine([c.camera_id for c in cameras], member_id, members))
        return [c for c in cameras if c.camera_id in keep]

    async def publish(event: Event, key: str) -> None:
        try:
            await svc.publish(event, key=key)
        except ContractError:
            await svc.publish(event)
        SEGMENTS.labels(event.TYPE.rsplit(".", 1)[-1]).inc()

    async def load_holds() -> list[PreservationHold]:
        if svc.pool is None:
            return []
        rows = await svc.pool.fetch(
            "SELECT camera_id, footage_from, footage_until, until "
            f"FROM {svc.schema}.preservation_holds WHERE until > now()"
        )
        return [
            PreservationHold(r["camera_id"], r["footage_from"], r["footage_until"], r["until"])
            for r in rows
        ]

    async def scan_one(
        cam: CameraRecord, holds: list[PreservationHold], now: datetime, sem: asyncio.Semaphore
    ) -> None:
        async with sem:
            await calm(svc.state.get("loop_monitor"), 0.5)  # probes and replies come first
            prober = svc.state.get("prober")
            there = prober.context.get("probes") if prober is not None else None
            try:
                if prober is not None and there is not None:
                    # on the prober's loop: listings are pages of XML to fetch and parse, and
                    # the service loop only answers request-reply and publishes (issue 9)
                    events = await prober.submit(
                        lambda: scan_camera(
                            there.adapters[cam.protocol],
                            there.target(cam),
                            tracker,
                            holds,
                            settings,
                            now,
                        )
                    )
                else:
                    events = await scan_camera(
                        probes.adapters[cam.protocol],
                        probes.target(cam),
                        tracker,
                        holds,
                        settings,
                        now,
                    )
            except Exception as exc:
                log.warning("recording scan failed", camera_id=cam.camera_id, error=repr(exc))
                return
        for ev in events:
            await publish(ev, cam.camera_id)

    async def recordings() -> None:
        # let sampling settle first: the first scan of a fleet is the heaviest
        await asyncio.sleep(min(30.0, settings.segment_scan_interval_s))
        while True:
            cams = [
                c
                for c in await owned(await list_cameras())
                if c.protocol in ("isapi", "dahua") and probes.handles(c)
            ]
            holds = await load_holds()
            sem = asyncio.Semaphore(settings.segment_concurrency)
            await asyncio.gather(*(scan_one(c, holds, utcnow(), sem) for c in cams))
            await asyncio.sleep(settings.segment_scan_interval_s)

    async def on_hold(_env: Envelope, event: Event) -> None:
        if not isinstance(event, AccessHeld | AccessHoldExtended) or event.hold is None:
            return
        assert svc.pool is not None
        for h in _parse_hold(event.hold):
            await svc.pool.execute(
                f"INSERT INTO {svc.schema}.preservation_holds AS h (hold_id, camera_id, "
                "footage_from, footage_until, until) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (hold_id, camera_id) DO UPDATE SET until = "
                "GREATEST(h.until, EXCLUDED.until)",
                event.hold.hold_id,
                h.camera_id,
                h.start,
                h.end,
                h.until,
            )

    from ..inventory_io import attach_inventory_rpc

    attach_inventory_rpc(svc)
    svc.after_start(start_membership)
    svc.before_stop(probes.close)
    svc.before_stop(leave_membership)
    svc.loop("recordings", recordings)
    # one consumer for the access process; only its hold transitions matter here
    svc.consume(
        "cctv.workflow.access.>",
        stream="CCTV_WORKFLOW",
        durable=f"{svc.schema}-holds-v1",
        handler=on_hold,
    )
    svc.state["owned_cameras"] = owned

    def is_mine(camera_id: str) -> bool:
        m: Membership | None = state["membership"]
        return True if m is None else m.owns(camera_id)

    def members() -> object:
        m: Membership | None = state["membership"]
        return None if m is None else tuple(m.live)

    svc.state["is_mine"] = is_mine
    svc.state["members"] = members

    def probe_for(camera: CameraRecord) -> DeviceProbes | None:
        return probes if probes.handles(camera) else None

    return probe_for
