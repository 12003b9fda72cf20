"""One decoded frame from a camera's RTSP stream, for the tamper checks (Art. 12).

Why a thread: PyAV (libavformat) blocks while it opens and reads a stream, so each grab runs
in a bounded thread pool and the event loop that samples thousands of cameras never waits on
it. Why these options: TCP interleaved RTP passes campus firewalls and NAT; analyzeduration=0
and a tiny probesize stop libavformat from buffering seconds of video to guess parameters the
SDP already gives; PyAV's own timeouts bound every blocking call, so a device that accepts the
connection and never answers costs one thread for a bounded time, not forever.
"""

from __future__ import annotations

import asyncio
import enum
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit, urlunsplit

import av
import av.error
import numpy as np

from cctv.plumbing.urls import without_login

SAMPLE_WIDTH = 160
SAMPLE_HEIGHT = 120
MAX_PACKETS = 120  # a GOP is far shorter; more means the stream never yields a picture


class FrameStatus(enum.StrEnum):
    """Why no frame could be taken (names are the health sample's vocabulary)."""

    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    AUTH_FAILED = "auth_failed"
    NOT_FOUND = "not_found"
    REFUSED = "refused"
    PROTOCOL_ERROR = "protocol_error"
    NO_VIDEO = "no_video"
    DECODE_ERROR = "decode_error"


FRAME_STATUS_TEXT: dict[FrameStatus, str] = {
    FrameStatus.UNREACHABLE: "无法连接设备 / device unreachable",
    FrameStatus.TIMEOUT: "设备无响应（超时） / device did not answer in time",
    FrameStatus.AUTH_FAILED: "认证失败 / authentication failed",
    FrameStatus.NOT_FOUND: "码流不存在 / stream not found",
    FrameStatus.REFUSED: "设备拒绝出流 / device refused the stream",
    FrameStatus.PROTOCOL_ERROR: "RTSP 协议错误 / malformed RTSP from device",
    FrameStatus.NO_VIDEO: "无视频帧（视频丢失） / no video frame (video loss)",
    FrameStatus.DECODE_ERROR: "无法解码视频 / video could not be decoded",
}


class FrameGrabError(Exception):
    """A frame could not be taken; `status` says why in the health sample's words."""

    def __init__(self, status: FrameStatus, detail: str) -> None:
        super().__init__(f"{FRAME_STATUS_TEXT[status]}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class SampledFrame:
    """A small grayscale picture of what the camera sees, and how it was obtained."""

    pixels: np.ndarray = field(repr=False)  # uint8, SAMPLE_HEIGHT x SAMPLE_WIDTH
    source_width: int
    source_height: int
    codec: str
    key_frame: bool
    captured_at: datetime
    grab_ms: float


def url_with_credentials(url: str, username: str | None, password: str | None) -> str:
    """Put credentials into an rtsp:// URL (percent-encoded) for libavformat."""
    if username is None:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # as written: an IPv6 host keeps its brackets
    userinfo = quote(username, safe="") + ":" + quote(password or "", safe="")
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, ""))


def _classify(exc: BaseException) -> FrameStatus:
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return FrameStatus.AUTH_FAILED
    if isinstance(exc, av.error.HTTPNotFoundError):
        return FrameStatus.NOT_FOUND
    if isinstance(exc, av.error.HTTPServerError):
        return FrameStatus.REFUSED
    if isinstance(exc, av.error.ExitError | av.error.TimeoutError | TimeoutError):
        return FrameStatus.TIMEOUT
    if isinstance(
        exc,
        av.error.ConnectionRefusedError
        | av.error.ConnectionResetError
        | av.error.ConnectionAbortedError
        | av.error.BrokenPipeError
        | ConnectionError,
    ):
        return FrameStatus.UNREACHABLE
    if isinstance(exc, av.error.InvalidDataError):
        return FrameStatus.PROTOCOL_ERROR
    if isinstance(exc, av.error.EOFError | EOFError):
        return FrameStatus.NO_VIDEO
    return FrameStatus.DECODE_ERROR


def grab_frame(
    url: str,
    *,
    open_timeout: float = 5.0,
    read_timeout: float = 5.0,
    width: int = SAMPLE_WIDTH,
    height: int = SAMPLE_HEIGHT,
) -> SampledFrame:
    """Open the stream, decode the first picture, close. Blocking: call it from a thread.

    Raises FrameGrabError with a status; the URL in the message has no credentials.
    """
    started = time.perf_counter()
    options = {
        "rtsp_transport": "tcp",
        "analyzeduration": "0",
        "probesize": "32",
        "timeout": str(int(read_timeout * 1_000_000)),  # socket I/O timeout, microseconds
    }
    try:
        container = av.open(url, options=options, timeout=(open_timeout, read_timeout))
    except av.error.FFmpegError as exc:
        raise FrameGrabError(_classify(exc), f"{without_login(url)}: {exc.strerror}") from None
    except OSError as exc:
        raise FrameGrabError(_classify(exc), f"{without_login(url)}: {exc}") from None
    try:
        if not container.streams.video:
            raise FrameGrabError(FrameStatus.NO_VIDEO, f"{without_login(url)}: no video track")
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # no frame-thread delay for one picture
        packets = 0
        for packet in container.demux(stream):
            packets += 1
            if packets > MAX_PACKETS:
                raise FrameGrabError(
                    FrameStatus.DECODE_ERROR,
                    f"{without_login(url)}: no decodable picture in {MAX_PACKETS} packets",
                )
            for frame in packet.decode():
                pixels = frame.reformat(width=width, height=height, format="gray").to_ndarray()
                return SampledFrame(
                    pixels=np.ascontiguousarray(pixels, dtype=np.uint8),
                    source_width=frame.width,
                    source_height=frame.height,
                    codec=stream.codec_context.name,
                    key_frame=bool(frame.key_frame),
                    captured_at=datetime.now(UTC),
                    grab_ms=(time.perf_counter() - started) * 1000.0,
                )
        raise FrameGrabError(FrameStatus.NO_VIDEO, f"{without_login(url)}: stream ended, no frame")
    except av.error.FFmpegError as exc:
        raise FrameGrabError(_classify(exc), f"{without_login(url)}: {exc.strerror}") from None
    finally:
        container.close()


class FrameSampler:
    """Takes frames off the event loop, at most `max_concurrency` at a time."""

    def __init__(
        self,
        *,
        max_concurrency: int = 4,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
    ) -> None:
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self._executor = ThreadPoolExecutor(max_concurrency, thread_name_prefix="rtsp-frame")
        self._sem = asyncio.Semaphore(max_concurrency)

    async def sample(
        self, url: str, *, username: str | None = None, password: str | None = None
    ) -> SampledFrame:
        full = url_with_credentials(url, username, password)
        async with self._sem:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor,
                lambda: grab_frame(
                    full, open_timeout=self.open_timeout, read_timeout=self.read_timeout
                ),
            )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
