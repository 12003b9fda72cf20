"""The device adapters as ingest uses them: probes and one recorder scan of a camera.

- `DeviceProbes`: the adapter-backed probe for ISAPI / Dahua / ONVIF / RTSP cameras (the
  sampler asks it first, and falls back to the basic probe for other protocols), with the
  device logins (mounted secrets or the vault) and the streams ONVIF devices announced;
- `scan_camera`: one recorder listing of one camera -> the `recording.segment` (new, closed
  segments, with SHA-256 where the file can be fetched), `recording.retention` and
  `recording.deleted` events to publish. The tracker plans the listing: the last 32 days
  (full: retention, deletions anywhere) or only the recent past (incremental; ADR 0031).
The service (app.py) runs them: sampling on the prober's loop, scans on a schedule.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter, Histogram

from cctv.contract.events import CameraRecord, Event, HealthSample

from ..segments import PreservationHold, SegmentTracker
from ..settings import IngestSettings
from .base import Credentials, DeviceAdapter, DeviceTarget, Segment, utcnow
from .credentials import CredentialResolver, FernetVault
from .http import DeviceHttp, HttpSettings
from .onvif import OnvifAdapter
from .scheduler import phase

log = structlog.get_logger("ingest.devices")
PROBES = Histogram("cctv_ingest_device_probe_seconds", "Adapter probe duration", ["protocol"])
SCANS = Counter(
    "cctv_ingest_recording_scans_total", "Recorder listings by kind (full, incremental)", ["kind"]
)


class DeviceProbes:
    """Adapter-backed probes with the `probe(camera) -> HealthSample` shape ingest samples."""

    def __init__(
        self,
        settings: IngestSettings,
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
                # kept from one sample to the next (a period apart), with room for lateness
                keepalive_s=max(15.0, 2 * settings.sample_interval_s + 5),
                # within half a period: each camera still sees its recorder's disks as of
                # its own period, read by one of its siblings
                device_share_s=min(settings.sample_interval_s / 2, 15.0),
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

    def tier(self, camera_id: str) -> tuple[bool, bool]:
        """(deep, facts) of the camera's next probe (ADR 0032): every `deep_probe_every`th is
        deep (recording, arming, and the facts) and every `device_facts_every`th reads the
        device's facts (clock, disks), the first one too; the rest are one request: answers,
        takes our credentials, latency, video present. Each camera's rotation is shifted by
        its id, so a period holds a steady share of each tier — the first period too: at a
        cold start of 5,000 cameras, every first probe deep made that period cost three
        times the others."""
        n = self._count.get(camera_id, 0)
        self._count[camera_id] = n + 1
        deep_every = max(1, self.settings.deep_probe_every)
        facts_every = max(1, self.settings.device_facts_every)
        k = n + int(phase(camera_id, deep_every * facts_every))
        deep = k % deep_every == 0
        return deep, deep or n == 0 or k % facts_every == 0

    async def probe(self, camera: CameraRecord) -> HealthSample:
        deep, facts = self.tier(camera.camera_id)
        adapter = self.adapters[camera.protocol]
        with PROBES.labels(camera.protocol).time():
            try:
                result = await adapter.probe(self.target(camera), deep=deep, facts=facts)
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


def resolver_from(settings: IngestSettings) -> CredentialResolver:
    vault = None
    if settings.device_vault_key_file is not None:
        vault = FernetVault.from_files(settings.device_vault_key_file, settings.device_vault_file)
    return CredentialResolver(settings.device_secrets_dir, vault)


async def scan_camera(
    adapter: Any,
    target: DeviceTarget,
    tracker: SegmentTracker,
    holds: list[PreservationHold],
    settings: IngestSettings,
    now: datetime,
) -> list[Event]:
    """One recorder scan of one camera -> the events to publish (pure but for device I/O).

    Full or incremental as the tracker plans it; only a full scan's retention is reported."""
    plan = tracker.plan(target.camera_id, now, holds)
    SCANS.labels("full" if plan.full else "incremental").inc()
    start = plan.start
    listing = await adapter.list_segments(target, start, now)
    # Only closed segments: the one being written has no final end, size or hash yet.
    closed = [s for s in listing.segments if s.end <= now - timedelta(seconds=60)]
    listing.segments = closed
    out = tracker.observe(target.camera_id, listing, start, now, now, holds, full=plan.full)
    by_start: dict[datetime, Segment] = {s.start: s for s in closed}
    events: list[Event] = []
    # history from before ingest knew the camera (its first scan, short or whole, or the
    # first whole one later) is summarised by the retention, not published file by file;
    # footage under a preservation hold is published (Art. 18: what is held, with its hash)
    known_since = tracker.first_scanned(target.camera_id) or now
    backfill = known_since - timedelta(hours=settings.segment_backfill_h)
    for ev in out.segments:
        if ev.end < backfill and not any(
            h.covers(target.camera_id, ev.start, ev.end, now) for h in holds
        ):
            continue
        seg = by_start.get(ev.start)
        digest = None
        if seg is not None and hasattr(adapter, "segment_sha256"):
            try:
                digest = await adapter.segment_sha256(target, seg, settings.segment_hash_max_bytes)
            except Exception as exc:  # the file may be unreachable; the segment still counts
                log.info("segment not hashed", camera_id=target.camera_id, error=str(exc))
        events.append(ev.model_copy(update={"sha256": digest}) if digest else ev)
    events.extend(out.deleted)
    if plan.full and out.retention is not None and not listing.error:
        events.append(out.retention)
    if out.note:
        log.info("recording scan", camera_id=target.camera_id, note=out.note)
    return events
