"""The one interface every device protocol sits behind.

Ingest probes thousands of cameras that speak different protocols (Hikvision ISAPI, Dahua
HTTP API, ONVIF). The sampling loop, the bench and the tests see only `DeviceAdapter`, and
every probe, whatever went wrong, ends as a `ProbeResult` that says what was measured: a
field left as None means "not measured this time", never "fine".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from cctv.contract.events import CameraRecord, HealthSample

DiskState = Literal["ok", "error", "full", "absent", "unformatted"]

# An NVR may hold years of one-second clips; one listing never returns more than this.
MAX_SEGMENTS_PER_LISTING = 5000
# A device response larger than this is refused rather than read into memory.
MAX_RESPONSE_BYTES = 1 << 20


@dataclass(frozen=True)
class Credentials:
    """A device login. The password never appears in repr, logs or events."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


@dataclass(frozen=True)
class DeviceTarget:
    """Where and how to reach one camera: the device at host:port and the camera's channel."""

    camera_id: str
    protocol: str
    host: str
    port: int
    channel: int = 1
    credentials: Credentials | None = field(default=None, repr=False)

    brand: str = ""
    stream_url: str | None = None  # the inventory's explicit stream URL, if any

    @classmethod
    def from_camera(cls, camera: CameraRecord, credentials: Credentials | None) -> DeviceTarget:
        default = 554 if camera.protocol == "rtsp" else 80
        host, port = split_address(camera.address, default_port=default)
        return cls(
            camera_id=camera.camera_id,
            protocol=camera.protocol,
            host=host,
            port=port,
            channel=camera.channel or 1,
            credentials=credentials,
            brand=camera.brand,
            stream_url=camera.stream_url,
        )

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """'host:port' -> (host, port); a bare host gets the protocol's default port."""
    address = address.strip()
    if address.startswith("["):  # [ipv6]:port
        host, _, rest = address[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"device address {address!r}: port must be 1-65535")
    return host, int(port)


@dataclass(frozen=True)
class DeviceEvent:
    """An alarm the device reported (video loss, tamper, scene change), vendor-neutral."""

    kind: Literal["video_loss", "tamper", "scene_change", "heartbeat", "other"]
    channel: int
    active: bool
    at: datetime
    vendor_code: str = ""


@dataclass(frozen=True)
class Arming:
    """A channel's Art. 12 arming and why: True / False, or None where the device's answer
    cannot say (not measured — never read as armed)."""

    armed: bool | None
    reason: str


@dataclass
class ProbeResult:
    """What one probe of one camera measured; None means not measured."""

    camera_id: str
    sampled_at: datetime
    reachable: bool
    latency_ms: float | None = None
    auth_ok: bool | None = None
    streaming: bool | None = None
    recording: bool | None = None
    disk_state: str | None = None
    clock_offset_s: float | None = None
    error: str | None = None
    device_model: str | None = None
    events: list[DeviceEvent] = field(default_factory=list)
    alarms: list[str] | None = None  # device alarms active on this channel; None: not read
    armed: bool | None = None  # Art. 12 arming (record schedule on now, recording job active)
    armed_reason: str | None = None  # why armed is what it is, where the device says

    @property
    def healthy(self) -> bool:
        return self.reachable and self.auth_ok is not False and self.error is None

    def to_sample(self, shard: str | None = None) -> HealthSample:
        from cctv.contract.events import HealthSample

        return HealthSample(
            camera_id=self.camera_id,
            sampled_at=self.sampled_at,
            reachable=self.reachable,
            latency_ms=self.latency_ms,
            auth_ok=self.auth_ok,
            streaming=self.streaming,
            recording=self.recording,
            disk_state=self.disk_state,
            clock_offset_s=self.clock_offset_s,
            error=self.error,
            shard=shard,
            device_alarms=self.alarms,
            armed=self.armed,
            armed_reason=self.armed_reason,
        )


@dataclass(frozen=True)
class Segment:
    """One recorded file/span on the recorder for a camera's channel."""

    start: datetime
    end: datetime
    bytes: int
    sha256: str | None = None
    uri: str | None = None


@dataclass
class SegmentListing:
    """A recorder's answer for a time range; `truncated` when the cap stopped the walk."""

    segments: list[Segment]
    truncated: bool = False
    error: str | None = None


@runtime_checkable
class DeviceAdapter(Protocol):
    """A device protocol: probe a camera, list its recordings."""

    protocol: str

    async def probe(
        self, target: DeviceTarget, *, deep: bool = False, facts: bool = True
    ) -> ProbeResult:
        """Measure one camera. Never raises for device misbehaviour: it says so in the result.

        Every probe says whether the camera answers, takes our credentials, how fast, and
        (where the protocol can say) whether its video is there. `facts` adds the device's
        slower-moving facts (its clock offset, its disks); without them those fields stay
        None (not measured). `deep` adds the costlier checks (recording present in the last
        minutes, Art. 12 arming) and the facts; the sampling loop asks for facts every few
        periods and deep checks every few more (ADR 0032).
        """
        ...

    async def list_segments(
        self,
        target: DeviceTarget,
        start: datetime,
        end: datetime,
        *,
        limit: int = MAX_SEGMENTS_PER_LISTING,
    ) -> SegmentListing:
        """The recorder's segments of the camera's channel overlapping [start, end)."""
        ...

    async def close(self) -> None: ...


class DeviceError(Exception):
    """A device misbehaved; the message is what health and operators will read."""

    kind = "device"


class Unreachable(DeviceError):
    kind = "unreachable"


class NoAnswer(DeviceError):
    kind = "timeout"


class AuthFailed(DeviceError):
    kind = "auth"


class BadResponse(DeviceError):
    kind = "bad_response"


def utcnow() -> datetime:
    return datetime.now(UTC)


def failed_result(
    target: DeviceTarget,
    started: datetime,
    exc: BaseException,
    latency_ms: float | None = None,
    partial: ProbeResult | None = None,
) -> ProbeResult:
    """Map a failure to the sample health reads: which of reachable/auth/response broke.

    `partial` keeps what was measured before the failure (a clock read before a disk query
    failed is still a clock read)."""
    text = str(exc) if isinstance(exc, DeviceError) else f"{type(exc).__name__}: {exc}"
    r = partial or ProbeResult(target.camera_id, started, reachable=False)
    if latency_ms is not None and r.latency_ms is None:
        r.latency_ms = round(latency_ms, 2)
    if isinstance(exc, AuthFailed):
        r.reachable, r.auth_ok, r.error = True, False, f"auth: {text}"
    elif isinstance(exc, BadResponse):
        # it answers, but nothing it says can be read: as good as offline to the school, so
        # health counts it down after DOWN_AFTER samples (issue 16 item 3), with this reason
        r.reachable, r.error = False, f"bad_response: {text}"
    elif isinstance(exc, NoAnswer | TimeoutError):
        r.reachable, r.error = False, f"timeout: {text or 'no answer'}"
    elif isinstance(exc, Unreachable):
        r.reachable, r.error = False, f"unreachable: {text}"
    else:
        r.error = f"error: {text}"
    return r
