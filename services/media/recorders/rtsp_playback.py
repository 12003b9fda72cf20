"""One RTSP playback session (RFC 2326, RTP interleaved over TCP, H.264 per RFC 6184) that all
three recorder dialects share; they differ only in the URL, the PLAY headers and where each
frame's recorded time comes from.

Why our own client: ffmpeg's RTSP demuxer cannot send `Require: onvif-replay` nor a
`Range: clock=` and drops the ONVIF replay header extension, which is what tells us the
wall-clock time of each frame we received. Vendor playback (Hikvision, Dahua) has no such
extension: there the time is the asked start plus the RTP clock since `RTP-Info: rtptime`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cctv import rtsp
from cctv.plumbing.urls import without_login

from .base import RecordedFrame, ReplayError

USER_AGENT = "campus-cctv-media/1.0"
RTP_CLOCK = 90_000
REPLAY_EXTENSION = 0xABAC  # ONVIF Streaming Spec, replay header extension
ENDS_EARLY = timedelta(seconds=1)  # a GOP: more missing at the end is missing footage


class PlaybackSession:
    """One RTSP connection to a recorder for one recording URL."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        parts = urlsplit(url)
        if parts.scheme != "rtsp" or not parts.hostname:
            raise ReplayError(f"not an rtsp:// recording URL: {without_login(url)!r}")
        self.host = parts.hostname
        self.port = parts.port or 554
        self.username = username if username is not None else parts.username
        self.password = password if password is not None else parts.password
        self.timeout = timeout
        self.cseq = 0
        self.session: str | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._digest: dict[str, str] | None = None
        self._nc = 0  # requests answered with this nonce: qop=auth counts them (RFC 2617)

    async def __aenter__(self) -> PlaybackSession:
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise ReplayError(f"recorder {self.host}:{self.port} unreachable: {exc!r}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                if self.session:
                    self._send("TEARDOWN", self.url, {"Session": self.session})
                    await self.writer.drain()
                self.writer.close()

    # ---- requests ----------------------------------------------------------------------

    def _send(self, method: str, uri: str, headers: dict[str, str]) -> None:
        assert self.writer is not None
        self.cseq += 1
        all_headers = {"User-Agent": USER_AGENT, **headers}
        if self._digest is not None and self.username is not None:
            self._nc += 1
            all_headers["Authorization"] = rtsp.authorization(
                self.username, self.password or "", self._digest, method, uri, nc=self._nc
            )
        self.writer.write(rtsp.format_request(method, uri, self.cseq, all_headers))

    async def request(
        self, method: str, uri: str, headers: dict[str, str] | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Send one request (answering one digest challenge); raise on a non-2xx reply."""
        assert self.reader is not None
        shown = f"{method} {without_login(uri)}"  # a Content-Base may hold a login
        for _attempt in range(2):
            self._send(method, uri, headers or {})
            try:
                reply = await asyncio.wait_for(rtsp.read_response(self.reader), self.timeout)
            except rtsp.RtspError as exc:
                raise ReplayError(f"{shown}: {exc}") from exc
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
                raise ReplayError(f"{shown}: no answer from the recorder ({exc!r})") from exc
            h = reply.headers
            if reply.status == 401 and self.username is not None:
                if self._digest is not None:
                    break  # we answered the challenge and were refused
                # a recorder may offer several (Digest SHA-256, Digest MD5, Basic): ours is MD5
                self._digest = rtsp.digest_challenge(reply.challenges)
                if self._digest is None:
                    offered = "; ".join(reply.challenges) or "none"
                    raise ReplayError(
                        f"{shown}: recorder offers no digest challenge we can answer "
                        f"(MD5, MD5-sess); it offered: {offered[:120]}"
                    )
                self._nc = 0
                continue
            if reply.status // 100 != 2:
                extra = f" (unsupported: {h['unsupported']})" if "unsupported" in h else ""
                raise ReplayError(f"{shown}: recorder answered {reply.status}{extra}")
            return h, reply.body
        raise ReplayError(f"{shown}: recorder refused our credentials (401)")

    async def open(self, headers: dict[str, str]) -> None:
        """DESCRIBE and SETUP the (only) video track over TCP."""
        h, body = await self.request("DESCRIBE", self.url, {**headers, "Accept": "application/sdp"})
        control = control_url(self.url, h.get("content-base", self.url), body.decode())
        h, _ = await self.request(
            "SETUP", control, {**headers, "Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        )
        self.session = h.get("session", "").split(";")[0]

    async def send_play(self, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        """PLAY; returns the CSeq it went with and the reply's headers."""
        cseq = self.cseq + 1
        h, _ = await self.request("PLAY", self.url, {**headers, "Session": self.session or ""})
        return cseq, h

    # ---- frames ------------------------------------------------------------------------

    async def frames(
        self,
        *,
        replay_cseq: int | None = None,
        origin: datetime | None = None,
        rtptime: int | None = None,
    ) -> AsyncIterator[RecordedFrame]:
        """Access units until RTCP BYE or the replay extension's E bit.

        With `replay_cseq` each packet must carry the ONVIF replay extension (its NTP time is
        the frame's); else a frame's time is `origin` plus its RTP time since `rtptime`."""
        assert self.reader is not None
        depack = rtsp.H264Depacketizer()
        clean = False
        base_ts = rtptime
        unwrapped: int | None = None
        last_ts: int | None = None
        while True:
            try:
                magic = await asyncio.wait_for(self.reader.readexactly(1), self.timeout)
                if magic != b"$":
                    raise ReplayError("recorder sent something other than interleaved RTP")
                frame = await rtsp.read_interleaved(self.reader)
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
                raise ReplayError(f"playback stopped before the range ended ({exc!r})") from exc
            if frame.channel % 2 == 1:  # RTCP
                if len(frame.data) >= 2 and frame.data[1] == 203:  # BYE: the range is over
                    return
                continue
            try:
                pkt = rtsp.parse_rtp(frame.data)
            except rtsp.RtspError as exc:
                raise ReplayError(f"bad RTP from the recorder: {exc}") from exc
            end_bit = False
            if replay_cseq is not None:
                ext = pkt.extension
                if ext is None or ext[0] != REPLAY_EXTENSION or len(ext[1]) < 10:
                    raise ReplayError(
                        "RTP packet without the ONVIF replay extension (not a replay)"
                    )
                ntp, flags, cseq = struct.unpack("!QBB", ext[1][:10])
                if cseq != replay_cseq & 0xFF:
                    continue  # data of an earlier PLAY (ONVIF: CSeq tells them apart)
                at = rtsp.ntp_to_datetime(ntp)
                clean = clean or bool(flags & 0x80)
                end_bit = bool(flags & 0x40)
            else:
                if origin is None:
                    raise ReplayError("vendor playback needs the range start to time frames")
                if base_ts is None:
                    base_ts = pkt.timestamp  # no RTP-Info: the first packet is the start
                # unwrap the 32-bit RTP clock (it wraps every 13.25 h at 90 kHz)
                if last_ts is None:
                    unwrapped = (pkt.timestamp - base_ts) & 0xFFFFFFFF
                else:
                    assert unwrapped is not None
                    unwrapped += ((pkt.timestamp - last_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                last_ts = pkt.timestamp
                assert unwrapped is not None
                at = origin + timedelta(microseconds=round(unwrapped * 1_000_000 / RTP_CLOCK))
                if pkt.payload and (pkt.payload[0] & 0x1F) in (5, 7):
                    clean = True
                elif pkt.payload and (pkt.payload[0] & 0x1F) == 28 and len(pkt.payload) > 1:
                    clean = clean or (pkt.payload[1] & 0x1F) == 5
            try:
                unit = depack.push(pkt.payload, pkt.marker)
            except rtsp.RtspError as exc:
                raise ReplayError(f"bad H.264 payload from the recorder: {exc}") from exc
            if unit is not None:
                yield RecordedFrame(at, unit, clean)
                clean = False
                if end_bit:  # E: last packet of the range
                    return


def control_url(url: str, base: str, sdp: str) -> str:
    """The media-level `a=control` of the SDP, resolved against Content-Base (RFC 2326 C.1.1);
    vendor URLs carry a query, so a relative control goes before it."""
    for line in sdp.splitlines():
        if line.startswith("a=control:"):
            ctl = line[len("a=control:") :].strip()
            if ctl == "*":
                continue
            if ctl.startswith("rtsp://"):
                return ctl
            if "?" in base:
                path, _, query = base.partition("?")
                return path.rstrip("/") + "/" + ctl + "?" + query
            return base.rstrip("/") + "/" + ctl
    return url


def rtp_info_rtptime(value: str) -> int | None:
    m = re.search(r"rtptime=(\d+)", value)
    return int(m.group(1)) if m else None


async def whole_window(
    frames: AsyncIterator[RecordedFrame], start: datetime, end: datetime, what: str
) -> AsyncIterator[RecordedFrame]:
    """Pass the frames on; fail if the recorder stopped well before `end` (vendor playback
    has no end-of-range bit: a stream that stops early is footage the recorder lacks, and a
    shorter copy than was approved must not pass as the whole window)."""
    last: datetime | None = None
    async for frame in frames:
        last = frame.at
        yield frame
    if last is None or last < end - ENDS_EARLY:
        said = "no frame at all" if last is None else f"its last frame is of {last.isoformat()}"
        raise ReplayError(
            f"the recorder's playback of {what} stopped before {end.isoformat()}: {said} "
            f"(asked from {start.isoformat()}); it holds no more of the window"
        )


async def vendor_playback(
    url: str,
    username: str,
    password: str,
    start: datetime,
    end: datetime,
    what: str,
    *,
    timeout: float,
    speed: float,
) -> AsyncIterator[RecordedFrame]:
    """Hikvision's and Dahua's playback once the URL is known: the URL holds the range in
    whole seconds from `whole_seconds(start)`; frames before `start` are dropped here."""
    origin, _ = whole_seconds(start, end)
    async with PlaybackSession(url, username=username, password=password, timeout=timeout) as s:
        await s.open({})
        _cseq, h = await s.send_play({"Range": "npt=0.000-", "Speed": f"{speed:g}"})
        frames = s.frames(origin=origin, rtptime=rtp_info_rtptime(h.get("rtp-info", "")))
        async for frame in whole_window(frames, start, end, what):
            if frame.at >= start:
                yield frame


def whole_seconds(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) widened to whole seconds (vendor URLs have no fractions)."""
    s = start.astimezone(UTC).replace(microsecond=0)
    e = end.astimezone(UTC)
    e = e.replace(microsecond=0) + timedelta(seconds=math.ceil(e.microsecond / 1e6))
    return s, e
