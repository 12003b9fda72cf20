"""RTSP probe: is the camera's stream there, how fast does it answer, and (on a schedule)
one decoded frame for the tamper checks.

Why a hand-written OPTIONS/DESCRIBE: it is a few hundred bytes each way, every step is under
our own timeout, and a device that sends garbage or never answers is named precisely —
libavformat reports both as "invalid data". Messages and digest come from the shared
`cctv.rtsp` (as for media's recorders and the simulator). Only the frame grab uses PyAV
(frames.py).
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cctv import rtsp
from cctv.plumbing.urls import without_login
from services.ingest.adapters.base import (
    MAX_SEGMENTS_PER_LISTING,
    DeviceTarget,
    ProbeResult,
    SegmentListing,
)
from services.ingest.adapters.streams import vendor_path
from services.ingest.frames import (
    FrameGrabError,
    FrameSampler,
    FrameStatus,
    SampledFrame,
)

MAX_BODY_BYTES = 64 * 1024  # an SDP is a few hundred bytes
USER_AGENT = "campus-cctv-ingest/1.0"


class RtspStatus(enum.StrEnum):
    """The probe's verdict, one word per cause (the health sample's vocabulary)."""

    OK = "ok"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol_error"
    AUTH_FAILED = "auth_failed"
    NOT_FOUND = "not_found"
    REFUSED = "refused"
    NO_VIDEO = "no_video"
    DECODE_ERROR = "decode_error"


STATUS_TEXT: dict[RtspStatus, str] = {
    RtspStatus.OK: "正常 / ok",
    RtspStatus.UNREACHABLE: "无法连接设备 / device unreachable",
    RtspStatus.TIMEOUT: "设备无响应（超时） / device did not answer in time",
    RtspStatus.PROTOCOL_ERROR: "RTSP 协议错误 / malformed RTSP from device",
    RtspStatus.AUTH_FAILED: "认证失败 / authentication failed",
    RtspStatus.NOT_FOUND: "码流不存在 / stream not found",
    RtspStatus.REFUSED: "设备拒绝出流 / device refused the stream",
    RtspStatus.NO_VIDEO: "无视频帧（视频丢失） / no video frame (video loss)",
    RtspStatus.DECODE_ERROR: "无法解码视频 / video could not be decoded",
}


@dataclass(frozen=True)
class RtspCredentials:
    """Device credentials; the password never appears in repr, logs or events."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class RtspProbeResult:
    """What one probe measured. None means "not measured this time"."""

    camera_id: str
    url: str  # without credentials
    measured_at: datetime
    status: RtspStatus
    tcp_connected: bool
    reachable: bool  # a well-formed RTSP answer came back
    latency_ms: float | None  # OPTIONS round trip
    auth_ok: bool | None
    describe_ok: bool
    codec: str | None
    streaming: bool | None  # a frame was decoded (only when a frame was asked for)
    frame: SampledFrame | None = field(default=None, repr=False)
    error: str | None = None

    @property
    def status_text(self) -> str:
        return STATUS_TEXT[self.status]


class ProbeFailure(Exception):
    def __init__(self, status: RtspStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _RtspConnection:
    """A minimal RTSP/1.0 client connection: one request, the bounded read of its answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.cseq = 0

    async def request(
        self, method: str, url: str, headers: dict[str, str] | None = None
    ) -> rtsp.Response:
        self.cseq += 1
        all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self.writer.write(rtsp.format_request(method, url, self.cseq, all_headers))
        await self.writer.drain()
        try:
            # no PLAY is ever sent, so a `$` frame is garbage, not RTP to skip
            return await rtsp.read_response(
                self.reader, max_body=MAX_BODY_BYTES, skip_interleaved=False
            )
        except asyncio.IncompleteReadError as exc:
            raise ProbeFailure(
                RtspStatus.UNREACHABLE, "connection closed by the device before it answered"
            ) from exc
        except rtsp.RtspError as exc:
            raise ProbeFailure(RtspStatus.PROTOCOL_ERROR, str(exc)) from exc


def sdp_video_codec(sdp: str) -> str | None:
    """The encoding name of the first video track of an SDP (e.g. "H264"), or None."""
    in_video = False
    payloads: list[str] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            in_video = line.startswith("m=video")
            payloads = line.split()[3:] if in_video else []
        elif in_video and line.startswith("a=rtpmap:"):
            pt, _, enc = line[len("a=rtpmap:") :].partition(" ")
            if pt in payloads:
                return enc.split("/")[0].upper()
    if in_video or payloads:
        return "UNKNOWN"
    return None


class RtspProbe:
    """Probes many cameras concurrently; every step is bounded by its own timeout."""

    def __init__(
        self,
        *,
        connect_timeout: float = 2.0,
        request_timeout: float = 3.0,
        max_concurrency: int = 256,
        sampler: FrameSampler | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self._sem = asyncio.Semaphore(max_concurrency)
        self.sampler = sampler or FrameSampler()

    def close(self) -> None:
        self.sampler.close()

    async def probe(
        self,
        camera_id: str,
        url: str,
        credentials: RtspCredentials | None = None,
        *,
        grab_frame: bool = False,
    ) -> RtspProbeResult:
        """OPTIONS and DESCRIBE (with digest auth if challenged); optionally one frame."""
        measured_at = datetime.now(UTC)
        state: dict[str, object] = {
            "tcp_connected": False,
            "reachable": False,
            "latency_ms": None,
            "auth_ok": None,
            "describe_ok": False,
            "codec": None,
        }
        public_url = without_login(url)

        def result(
            status: RtspStatus,
            error: str | None = None,
            streaming: bool | None = None,
            frame: SampledFrame | None = None,
        ) -> RtspProbeResult:
            return RtspProbeResult(
                camera_id=camera_id,
                url=public_url,
                measured_at=measured_at,
                status=status,
                error=None if error is None else f"{STATUS_TEXT[status]}: {error}",
                streaming=streaming,
                frame=frame,
                **state,  # type: ignore[arg-type]
            )

        async with self._sem:
            try:
                await self._handshake(public_url, credentials, state)
            except ProbeFailure as exc:
                return result(exc.status, exc.detail)
        if not grab_frame:
            return result(RtspStatus.OK)
        try:
            frame = await self.sampler.sample(
                public_url,
                username=credentials.username if credentials else None,
                password=credentials.password if credentials else None,
            )
        except FrameGrabError as exc:
            # the device described a stream, so a timeout here means no picture is coming
            status = (
                RtspStatus.NO_VIDEO
                if exc.status in {FrameStatus.TIMEOUT, FrameStatus.NO_VIDEO}
                else RtspStatus(exc.status.value)
            )
            return result(status, exc.detail, streaming=False)
        return result(RtspStatus.OK, streaming=True, frame=frame)

    async def _handshake(
        self, url: str, credentials: RtspCredentials | None, state: dict[str, object]
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "rtsp" or not parts.hostname:
            raise ProbeFailure(
                RtspStatus.PROTOCOL_ERROR, f"not an rtsp:// URL: {without_login(url)!r}"
            )
        host, port = parts.hostname, parts.port or 554
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=rtsp.MAX_HEADER_BYTES),
                self.connect_timeout,
            )
        except TimeoutError as exc:
            raise ProbeFailure(
                RtspStatus.TIMEOUT,
                f"TCP connect to {host}:{port} took over {self.connect_timeout}s",
            ) from exc
        except OSError as exc:
            raise ProbeFailure(
                RtspStatus.UNREACHABLE, f"TCP connect to {host}:{port}: {exc.strerror or exc}"
            ) from exc
        state["tcp_connected"] = True
        conn = _RtspConnection(reader, writer)
        step = "OPTIONS"
        try:
            started = time.perf_counter()
            resp = await asyncio.wait_for(conn.request("OPTIONS", url), self.request_timeout)
            state["latency_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
            state["reachable"] = True
            step = "DESCRIBE"
            accept = {"Accept": "application/sdp"}
            resp = await asyncio.wait_for(
                conn.request("DESCRIBE", url, accept), self.request_timeout
            )
            if resp.status == 401:
                challenges = resp.challenges or [""]
                if credentials is None:
                    state["auth_ok"] = False
                    raise ProbeFailure(
                        RtspStatus.AUTH_FAILED, "the device asks for credentials and none are held"
                    )
                header = rtsp.answer(
                    credentials.username, credentials.password, challenges, "DESCRIBE", url
                )
                if header is None:
                    state["auth_ok"] = False
                    raise ProbeFailure(
                        RtspStatus.AUTH_FAILED,
                        f"unsupported authentication challenge {challenges[0][:60]!r}",
                    )
                resp = await asyncio.wait_for(
                    conn.request("DESCRIBE", url, {**accept, "Authorization": header}),
                    self.request_timeout,
                )
                if resp.status == 401:
                    state["auth_ok"] = False
                    raise ProbeFailure(
                        RtspStatus.AUTH_FAILED, "the device rejected the credentials"
                    )
            if resp.status in {403}:
                state["auth_ok"] = False
                raise ProbeFailure(RtspStatus.AUTH_FAILED, f"DESCRIBE answered {resp.status}")
            if resp.status == 404:
                raise ProbeFailure(
                    RtspStatus.NOT_FOUND, f"DESCRIBE answered 404 for {without_login(url)}"
                )
            if resp.status >= 400:
                raise ProbeFailure(
                    RtspStatus.REFUSED, f"DESCRIBE answered {resp.status} {resp.reason}".strip()
                )
            if resp.status != 200:
                raise ProbeFailure(
                    RtspStatus.PROTOCOL_ERROR, f"unexpected DESCRIBE answer {resp.status}"
                )
            state["auth_ok"] = True
            codec = sdp_video_codec(resp.body.decode("utf-8", "replace"))
            if codec is None:
                raise ProbeFailure(RtspStatus.NO_VIDEO, "the SDP describes no video track")
            state["codec"] = codec
            state["describe_ok"] = True
        except TimeoutError as exc:
            raise ProbeFailure(
                RtspStatus.TIMEOUT, f"no answer to {step} within {self.request_timeout}s"
            ) from exc
        except (ConnectionError, OSError) as exc:
            raise ProbeFailure(
                RtspStatus.UNREACHABLE, f"connection lost during {step}: {exc}"
            ) from exc
        finally:
            writer.close()


class RtspAdapter:
    """`DeviceAdapter` for cameras whose inventory protocol is "rtsp" (no vendor API).

    A probe is OPTIONS + DESCRIBE; a deep probe adds one decoded frame, which is what
    `streaming` means here. Such a camera has no recording index of its own: its recorder
    (an NVR, with its own adapter) lists the segments.
    """

    protocol = "rtsp"

    def __init__(self, probe: RtspProbe | None = None, url_template: str | None = None) -> None:
        self._probe = probe or RtspProbe()
        # tests only: placeholders {camera_id} {host} {port} {channel}
        self.url_template = url_template

    def url(self, target: DeviceTarget) -> str:
        """The inventory's stream URL, else the camera's own address and port (never 554 by
        assumption, issue 16 item 7) with its maker's path, "/" for a generic RTSP camera."""
        if self.url_template:
            return self.url_template.format(
                camera_id=target.camera_id,
                host=target.host,
                port=target.port,
                channel=target.channel,
            )
        if target.stream_url:
            return target.stream_url
        host = f"[{target.host}]" if ":" in target.host else target.host
        path = vendor_path(target.brand, target.channel) or "/"
        return f"rtsp://{host}:{target.port}{path}"

    async def probe(
        self, target: DeviceTarget, *, deep: bool = False, facts: bool = True
    ) -> ProbeResult:
        # no device facts over RTSP (no clock, no disks): `facts` changes nothing here
        creds = target.credentials
        r = await self._probe.probe(
            target.camera_id,
            self.url(target),
            RtspCredentials(creds.username, creds.password) if creds else None,
            grab_frame=deep,
        )
        # a stream that is gone (DESCRIBE 404), refused or unreadable is a camera that
        # cannot be used: down after DOWN_AFTER samples, with the reason (issue 16 item 3)
        usable = r.reachable and r.status in (RtspStatus.OK, RtspStatus.AUTH_FAILED)
        return ProbeResult(
            camera_id=target.camera_id,
            sampled_at=r.measured_at,
            reachable=usable,
            latency_ms=r.latency_ms,
            auth_ok=r.auth_ok,
            streaming=r.streaming,
            error=None if r.status is RtspStatus.OK else f"{r.status.value}: {r.error}",
        )

    async def list_segments(
        self,
        target: DeviceTarget,
        start: datetime,
        end: datetime,
        *,
        limit: int = MAX_SEGMENTS_PER_LISTING,
    ) -> SegmentListing:
        return SegmentListing(
            [],
            error="RTSP 摄像机无录像索引，由其录像机列出 / an RTSP-only camera has no recording "
            "index; its NVR lists the segments",
        )

    async def close(self) -> None:
        self._probe.close()
