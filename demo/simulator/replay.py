"""Recorded footage for the simulated recorders: RTSP playback per ONVIF Streaming / Replay,
and in the Hikvision and Dahua dialects (`ReplayServer(brand=...)`; their searches are in
isapi.py and dahua_cgi.py, the demo campus's NVRs in recorders.py).

Why: the media service must fetch *recorded* footage for a camera and a time range the way a
campus recorder serves it, and tests must be able to tell exactly which footage arrived.
So each frame shows the camera id and its wall-clock time as text, and carries both as a
machine-readable strip of black/white blocks (`read_stamp`) that survives H.264 coding.

Protocol (ONVIF Streaming Specification, "Replay control"): the client sends
`Require: onvif-replay` on DESCRIBE/SETUP/PLAY (a server that does not know the tag answers
551 with `Unsupported:`), PLAY carries `Range: clock=YYYYMMDDTHHMMSS[.fff]Z-...` in UTC, and
`Rate-Control: no` asks for the data as fast as it can be sent (export) instead of in real
time (viewing). Every RTP packet carries the replay header extension (profile 0xABAC, three
words): the frame's NTP time, the C (clean point, an IDR), E (last packet of the range) and
D (discontinuity) bits, and the low byte of the PLAY request's CSeq. RTP is interleaved over
the RTSP connection (RFC 2326 §10.12); a UDP transport gets 461.

Recordings are addressed as rtsp://127.0.0.1:PORT/replay/<camera_id> (what GetReplayUri
returns for the camera's recording); vendor dialects by channel and time in the URL (see
`ReplayServer`), with plain RTP (no replay extension) whose clock starts at the asked start.
The recorder keeps `retention_days` (Art. 7: 30); a
range outside what it holds gets 457 Invalid Range.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from fractions import Fraction
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cctv import rtsp
from cctv.rtsp import format_clock, ntp_time, parse_clock_range

SERVER_NAME = "campus-cctv-sim-recorder/1.0"
REPLAY_TAG = "onvif-replay"
WIDTH = 320
HEIGHT = 240
FPS = 5
GOP_FRAMES = FPS  # an IDR (clean point) every second, so any second can start a clip
RTP_CLOCK = 90_000
RTP_PAYLOAD_TYPE = 96
RTP_MAX_PAYLOAD = 1400

# the stamp strip: two rows of 32 blocks, 10x10 pixels each, at the top of the frame
BLOCK = 10
STAMP_BITS = WIDTH // BLOCK  # 32 per row
_TIME_BITS = 48  # deciseconds since 1970 (enough until the year 10 000)
_TAG_BITS = 16


def camera_tag(camera_id: str) -> int:
    """A 16-bit tag of the camera id, drawn into each frame (the full id is in the text)."""
    return int.from_bytes(hashlib.sha256(camera_id.encode("utf-8")).digest()[:2], "big")


def _bits(value: int, n: int) -> list[int]:
    return [(value >> (n - 1 - i)) & 1 for i in range(n)]


def render_frame(camera_id: str, at: datetime) -> np.ndarray:
    """The picture the recorder holds for `camera_id` at `at` (RGB, HEIGHT x WIDTH)."""
    at = at.astimezone(UTC)
    img = Image.new("RGB", (WIDTH, HEIGHT), (40, 60, 80))
    draw = ImageDraw.Draw(img)
    deci = round(at.timestamp() * 10)
    bits = _bits(deci, _TIME_BITS) + _bits(camera_tag(camera_id), _TAG_BITS)
    for i, bit in enumerate(bits):
        row, col = divmod(i, STAMP_BITS)
        x, y = col * BLOCK, row * BLOCK
        draw.rectangle((x, y, x + BLOCK - 1, y + BLOCK - 1), fill=(255, 255, 255) if bit else 0)
    font = ImageFont.load_default()
    draw.text((8, 40), camera_id, fill=(255, 255, 0), font=font)
    draw.text((8, 60), at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-5] + "Z", fill=(255, 255, 255))
    # something that moves, so the codec has real motion to code
    x = int((at.timestamp() * 40) % (WIDTH - 20))
    draw.rectangle((x, 120, x + 20, 140), fill=(200, 80, 60))
    return np.asarray(img)


@dataclass(frozen=True)
class Stamp:
    camera_tag: int
    at: datetime


def read_stamp(rgb: np.ndarray) -> Stamp:
    """Read the camera tag and the time back from a decoded frame (tests use it)."""
    bits: list[int] = []
    for i in range(_TIME_BITS + _TAG_BITS):
        row, col = divmod(i, STAMP_BITS)
        y, x = row * BLOCK + BLOCK // 2, col * BLOCK + BLOCK // 2
        patch = rgb[y - 2 : y + 3, x - 2 : x + 3]
        bits.append(1 if float(patch.mean()) > 127 else 0)
    deci = int("".join(map(str, bits[:_TIME_BITS])), 2)
    tag = int("".join(map(str, bits[_TIME_BITS:])), 2)
    return Stamp(tag, datetime.fromtimestamp(deci / 10, UTC))


# ---- encoding ------------------------------------------------------------------------------


@dataclass
class EncodedFrame:
    at: datetime
    nals: list[bytes]
    idr: bool


def _split_annexb(data: bytes) -> list[bytes]:
    parts = re.split(b"\x00\x00\x00\x01|\x00\x00\x01", data)
    return [p for p in parts if p]


def encode_range(camera_id: str, times: list[datetime]) -> list[EncodedFrame]:
    """Encode the frames at `times` as one closed GOP run (first frame IDR, SPS/PPS in band)."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height = WIDTH, HEIGHT
    codec.pix_fmt = "yuv420p"
    codec.time_base = Fraction(1, FPS)
    codec.framerate = Fraction(FPS, 1)
    codec.gop_size = GOP_FRAMES
    codec.options = {"preset": "ultrafast", "tune": "zerolatency", "repeat-headers": "1"}
    codec.open()
    out: list[EncodedFrame] = []
    packets: list[bytes] = []
    for i, at in enumerate(times):
        frame = av.VideoFrame.from_ndarray(render_frame(camera_id, at), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        frame.pict_type = av.video.frame.PictureType.I if i % GOP_FRAMES == 0 else 0
        packets.extend(bytes(p) for p in codec.encode(frame))
    packets.extend(bytes(p) for p in codec.encode(None))
    for at, data in zip(times, packets, strict=False):
        nals = _split_annexb(data)
        out.append(EncodedFrame(at, nals, any((n[0] & 0x1F) == 5 for n in nals)))
    return out


def replay_packets(
    frame: EncodedFrame,
    seq: int,
    rtp_ts: int,
    ssrc: int,
    cseq: int,
    *,
    last: bool = False,
    discontinuity: bool = False,
    onvif: bool = True,
) -> tuple[list[bytes], int]:
    """RFC 6184 packets (single NAL or FU-A); with `onvif`, each carries the ONVIF replay
    header extension (vendor playback — Hikvision, Dahua — sends plain RTP)."""
    payloads = rtsp.h264_payloads(frame.nals, RTP_MAX_PAYLOAD)
    ntp = ntp_time(frame.at)
    packets: list[bytes] = []
    for k, payload in enumerate(payloads):
        final = k == len(payloads) - 1
        marker = 0x80 if final else 0
        flags = (0x80 if frame.idr else 0) | (0x40 if last and final else 0)
        flags |= 0x20 if discontinuity and k == 0 else 0
        header = struct.pack(
            "!BBHII", 0x90 if onvif else 0x80, marker | RTP_PAYLOAD_TYPE, seq & 0xFFFF,
            rtp_ts & 0xFFFFFFFF, ssrc,
        )  # fmt: skip
        ext = struct.pack("!HHQBBH", 0xABAC, 3, ntp, flags, cseq & 0xFF, 0) if onvif else b""
        packets.append(header + ext + payload)
        seq = (seq + 1) & 0xFFFF
    return packets, seq


# ---- the server ----------------------------------------------------------------------------

Brand = Literal["onvif", "hikvision", "dahua"]
HIK_TIME = re.compile(r"^\d{8}T\d{6}Z$")  # ISAPI playback: 20261201T001500Z, UTC, no fraction
DAHUA_TIME = re.compile(r"^\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}$")  # the recorder's local time


def hik_time(value: str) -> datetime:
    """`20261201T001500Z` exactly (Hikvision's playback and ISAPI compact form), else ValueError."""
    if not HIK_TIME.match(value):
        raise ValueError(f"not a Hikvision time (YYYYMMDDTHHMMSSZ): {value!r}")
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def dahua_time(value: str, tz: tzinfo) -> datetime:
    """`2026_12_01_08_15_00` exactly, in the recorder's own time zone, else ValueError."""
    if not DAHUA_TIME.match(value):
        raise ValueError(f"not a Dahua time (YYYY_MM_DD_HH_MM_SS): {value!r}")
    return datetime.strptime(value, "%Y_%m_%d_%H_%M_%S").replace(tzinfo=tz).astimezone(UTC)


@dataclass
class ReplayStats:
    sessions: int = 0
    refused: int = 0
    frames_sent: int = 0
    ranges: list[tuple[str, datetime, datetime]] = field(default_factory=list)


@dataclass(frozen=True)
class _Asked:
    """What a playback URL names: the camera and, for vendor playback, the time range."""

    camera: str
    start: datetime | None = None
    end: datetime | None = None


class _Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason


class ReplayServer:
    """A recorder serving every camera's recording on one TCP port, in one maker's dialect:

    - `onvif` (Profile G): `rtsp://H:P/replay/<camera_id>`, `Require: onvif-replay`, PLAY with
      `Range: clock=...`, the replay header extension on every RTP packet;
    - `hikvision`: `rtsp://H:P/Streaming/tracks/<channel>01?starttime=YYYYMMDDTHHMMSSZ&endtime=...`
      (what ISAPI ContentMgmt search returns as `playbackURI`, `demo/simulator/isapi.py`);
    - `dahua`: `rtsp://H:P/cam/playback?channel=N&subtype=0&starttime=YYYY_MM_DD_HH_MM_SS&endtime=...`
      in the recorder's local time (`tz`, Asia/Shanghai by default).

    Vendor dialects are stricter than lenient devices: they insist on digest authentication,
    on the exact time format, and refuse a range outside what they hold (457).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        cameras: Iterable[str] = (),
        serve_unknown: bool = False,
        retention_days: int = 30,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        username: str | None = None,
        password: str | None = None,
        brand: Brand = "onvif",
        channels: Mapping[int, str] | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        if brand != "onvif" and (not username or not password):
            raise ValueError(f"a {brand} recorder always asks for a login: give username/password")
        self.host = host
        self._port = port
        self.brand: Brand = brand
        self.channels = dict(channels or {})  # channel number -> camera id (vendor dialects)
        self.cameras = set(cameras) | set(self.channels.values())
        self.serve_unknown = serve_unknown
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self.tz = tz or ZoneInfo("Asia/Shanghai")
        self.username = username  # digest authentication (RFC 2617) when set, as NVRs do
        self.password = password
        self.realm = {"hikvision": "IP Camera", "dahua": "Login to NVR"}.get(
            brand, "campus-cctv-recorder"
        )
        self.guard = (
            None if username is None else rtsp.DigestGuard(username, password or "", self.realm)
        )
        # a misbehaving recorder: sends footage this far from the asked time (fault injection)
        self.skew = timedelta(0)
        # a recorder missing the end of a window: stops this much before it (fault injection)
        self.short_by = timedelta(0)
        self.stats = ReplayStats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._conns: set[_ReplayConnection] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("replay server not started")
        return int(self._server.sockets[0].getsockname()[1])

    def channel_of(self, camera_id: str) -> int:
        for ch, cam in self.channels.items():
            if cam == camera_id:
                return ch
        raise KeyError(f"{camera_id!r} is on no channel of this recorder")

    def url_for(self, camera_id: str) -> str:
        """The ONVIF replay URI (GetReplayUri) of a camera's recording."""
        return f"rtsp://{self.host}:{self.port}/replay/{camera_id}"

    def track_url(self, channel: int, start: datetime, end: datetime) -> str:
        """Hikvision: a track's playback URI for [start, end) (main stream: <channel>01)."""
        return (
            f"rtsp://{self.host}:{self.port}/Streaming/tracks/{channel * 100 + 1}"
            f"?starttime={start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
            f"&endtime={end.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        )

    def dahua_url(self, channel: int, start: datetime, end: datetime) -> str:
        fmt = "%Y_%m_%d_%H_%M_%S"
        return (
            f"rtsp://{self.host}:{self.port}/cam/playback?channel={channel}&subtype=0"
            f"&starttime={start.astimezone(self.tz).strftime(fmt)}"
            f"&endtime={end.astimezone(self.tz).strftime(fmt)}"
        )

    def recorded_span(self) -> tuple[datetime, datetime]:
        now = self.clock()
        return now - self.retention, now

    async def start(self) -> ReplayServer:
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self._port, limit=rtsp.MAX_HEADER_BYTES
        )
        return self

    async def stop(self) -> None:
        """Close every connection (its handler then ends by itself) and the listener."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.stop_streaming()
            conn.writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ReplayServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _known(self, cid: str | None) -> str | None:
        return cid if cid is not None and (cid in self.cameras or self.serve_unknown) else None

    def _camera(self, url: str) -> str | None:
        path = urlsplit(url).path if "://" in url else url
        parts = [unquote(p) for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "replay":
            return self._known(parts[1])
        return None

    def asked(self, url: str) -> _Asked:
        """The camera (and for vendor dialects the range) a URL names; _Refusal if none."""
        if self.brand == "onvif":
            cam = self._camera(url)
            if cam is None:
                raise _Refusal(404, "Not Found")
            return _Asked(cam)
        parts = urlsplit(url)
        q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = [p for p in parts.path.split("/") if p]
        try:
            if self.brand == "hikvision":
                if len(path) < 3 or path[:2] != ["Streaming", "tracks"] or not path[2].isdigit():
                    raise _Refusal(404, "Not Found")
                track = int(path[2])
                channel = track // 100
                start, end = hik_time(q.get("starttime", "")), hik_time(q.get("endtime", ""))
            else:
                if path[:2] != ["cam", "playback"] or not q.get("channel", "").isdigit():
                    raise _Refusal(404, "Not Found")
                channel = int(q["channel"])
                start = dahua_time(q.get("starttime", ""), self.tz)
                end = dahua_time(q.get("endtime", ""), self.tz)
        except ValueError:
            self.stats.refused += 1
            raise _Refusal(400, "Bad Request") from None
        cam = self._known(self.channels.get(channel))
        if cam is None:
            raise _Refusal(404, "Not Found")
        return _Asked(cam, start, end)

    def check_range(self, start: datetime, end: datetime) -> None:
        first, last = self.recorded_span()
        if start < first or end > last or start >= end:
            self.stats.refused += 1
            raise _Refusal(457, "Invalid Range")

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = _ReplayConnection(self, reader, writer)
        self._conns.add(conn)
        try:
            await conn.run()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._conns.discard(conn)
            conn.stop_streaming()
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)


class _ReplayConnection:
    def __init__(self, server: ReplayServer, r: asyncio.StreamReader, w: asyncio.StreamWriter):
        self.server = server
        self.reader = r
        self.writer = w
        self.session: str | None = None
        self.asked: _Asked | None = None
        self.stream_task: asyncio.Task[None] | None = None
        self.ssrc = secrets.randbits(32)
        self.seq = secrets.randbits(16)
        self.channel = 0

    def stop_streaming(self) -> None:
        if self.stream_task is not None:
            self.stream_task.cancel()
            self.stream_task = None

    async def respond(
        self,
        cseq: str,
        status: int,
        reason: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        self.writer.write(
            rtsp.format_response(cseq, status, reason, headers, body, server=SERVER_NAME)
        )
        await self.writer.drain()

    async def run(self) -> None:
        srv = self.server
        while True:
            req = await rtsp.read_request(self.reader)
            if req is None:
                return
            method, url, h, cseq = req.method, req.url, req.headers, req.cseq
            if method == "OPTIONS":
                await self.respond(
                    cseq, 200, "OK", {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN"}
                )
                continue
            if method == "TEARDOWN":
                self.stop_streaming()
                await self.respond(cseq, 200, "OK")
                return
            if srv.guard is not None and not srv.guard.check(method, h.get("authorization", "")):
                challenge = srv.guard.challenge()
                await self.respond(cseq, 401, "Unauthorized", {"WWW-Authenticate": challenge})
                continue
            if srv.brand == "onvif" and REPLAY_TAG not in [
                t.strip() for t in h.get("require", "").split(",")
            ]:
                srv.stats.refused += 1
                await self.respond(
                    cseq, 551, "Option not supported", {"Unsupported": h.get("require", "")}
                )
                continue
            try:
                if method == "DESCRIBE":
                    await self._describe(cseq, url, srv.asked(url))
                elif method == "SETUP":
                    await self._setup(cseq, h)
                elif method == "PLAY":
                    await self._play(cseq, h)
                else:
                    await self.respond(cseq, 405, "Method Not Allowed")
            except _Refusal as r:
                await self.respond(cseq, r.status, r.reason)

    async def _describe(self, cseq: str, url: str, asked: _Asked) -> None:
        if asked.start is not None and asked.end is not None:
            self.server.check_range(asked.start, asked.end)  # vendor: the URL holds the range
        self.asked = asked
        first, last = self.server.recorded_span()
        rng = (
            f"a=range:clock={format_clock(first)}-{format_clock(last)}"
            if asked.start is None
            else f"a=range:npt=0-{(asked.end - asked.start).total_seconds():.3f}"  # type: ignore[operator]
        )
        sdp = "\r\n".join(
            [
                "v=0",
                f"o=- {secrets.randbits(32)} 1 IN IP4 {self.server.host}",
                f"s=Recording {asked.camera}",
                "t=0 0",
                rng,
                "m=video 0 RTP/AVP 96",
                "c=IN IP4 0.0.0.0",
                f"a=rtpmap:{RTP_PAYLOAD_TYPE} H264/{RTP_CLOCK}",
                f"a=fmtp:{RTP_PAYLOAD_TYPE} packetization-mode=1",
                "a=control:trackID=0",
                "a=recvonly",
                "",
            ]
        ).encode()
        base = url if self.server.brand != "onvif" else url.rstrip("/") + "/"
        await self.respond(
            cseq, 200, "OK", {"Content-Type": "application/sdp", "Content-Base": base}, sdp
        )

    async def _setup(self, cseq: str, h: dict[str, str]) -> None:
        if self.asked is None:
            await self.respond(cseq, 455, "Method Not Valid in This State")
            return
        transport = h.get("transport", "")
        if "TCP" not in transport.upper():
            await self.respond(cseq, 461, "Unsupported Transport")
            return
        m = re.search(r"interleaved=(\d+)-(\d+)", transport)
        ch = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
        self.channel = ch[0]
        self.session = self.session or secrets.token_hex(8)
        interleaved = f"interleaved={ch[0]}-{ch[1]}"
        await self.respond(
            cseq,
            200,
            "OK",
            {
                "Transport": f"RTP/AVP/TCP;unicast;{interleaved};ssrc={self.ssrc:08X}",
                "Session": f"{self.session};timeout=60",
            },
        )

    async def _play(self, cseq: str, h: dict[str, str]) -> None:
        asked = self.asked
        if self.session is None or asked is None:
            await self.respond(cseq, 455, "Method Not Valid in This State")
            return
        if h.get("session", "").split(";")[0] != self.session:
            await self.respond(cseq, 454, "Session Not Found")
            return
        onvif = self.server.brand == "onvif"
        if onvif:
            _first, last = self.server.recorded_span()
            try:
                start, end_or_none = parse_clock_range(h.get("range", ""))
            except ValueError:
                self.server.stats.refused += 1
                await self.respond(cseq, 457, "Invalid Range")
                return
            end = end_or_none or last
            self.server.check_range(start, end)
        else:
            assert asked.start is not None and asked.end is not None
            start, end = asked.start, asked.end
        # ONVIF: `Rate-Control: no` = as fast as it can send; vendor playback: RFC 2326 `Speed`
        # (delivery at that multiple of real time), 1x without it
        speed = 1.0
        if onvif and h.get("rate-control", "yes").strip().lower() == "no":
            speed = 0.0
        elif not onvif and "speed" in h:
            try:
                speed = max(float(h["speed"]), 0.0) or 1.0
            except ValueError:
                await self.respond(cseq, 400, "Bad Request")
                return
        self.stop_streaming()
        self.server.stats.sessions += 1
        self.server.stats.ranges.append((asked.camera, start, end))
        rtp_ts = secrets.randbits(32)
        reply_range = (
            f"clock={format_clock(start)}-{format_clock(end)}"
            if onvif
            else f"npt=0.000-{(end - start).total_seconds():.3f}"
        )
        await self.respond(
            cseq,
            200,
            "OK",
            {
                "Session": self.session,
                "Range": reply_range,
                "RTP-Info": f"url=trackID=0;seq={self.seq};rtptime={rtp_ts}",
                **({"Rate-Control": "yes" if speed else "no"} if onvif else {}),
                **({"Speed": f"{speed:g}"} if not onvif and "speed" in h else {}),
            },
        )
        self.stream_task = asyncio.create_task(
            self._stream(asked.camera, start, end, int(cseq or 0), rtp_ts, speed, onvif)
        )

    async def _stream(
        self,
        cam: str,
        start: datetime,
        end: datetime,
        cseq: int,
        rtp_ts: int,
        speed: float,
        onvif: bool,
    ) -> None:
        """Send the frames of [start, end) one GOP at a time, encoded off the event loop."""
        step = timedelta(seconds=1 / FPS)
        times: list[datetime] = []
        t = start
        while t < end - self.server.short_by:
            times.append(t + self.server.skew)
            t += step
        loop = asyncio.get_running_loop()
        began = loop.time()
        for g in range(0, len(times), GOP_FRAMES):
            chunk = times[g : g + GOP_FRAMES]
            frames = await asyncio.to_thread(encode_range, cam, chunk)
            for i, frame in enumerate(frames):
                n = g + i
                if speed:
                    delay = began + n / (FPS * speed) - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                last = n == len(times) - 1
                ts = rtp_ts + round((frame.at - start).total_seconds() * RTP_CLOCK)
                pkts, self.seq = replay_packets(
                    frame, self.seq, ts, self.ssrc, cseq, last=last, onvif=onvif
                )
                for p in pkts:
                    self.writer.write(rtsp.interleave(self.channel, p))
                self.server.stats.frames_sent += 1
            await self.writer.drain()
        # RTCP BYE: the range is over (RFC 3550 §6.6)
        bye = struct.pack("!BBHI", 0x81, 203, 1, self.ssrc)
        self.writer.write(rtsp.interleave(self.channel + 1, bye))
        await self.writer.drain()


async def main(argv: list[str] | None = None) -> None:
    """Run a recorder alone: `python -m demo.simulator.replay --port 8556`; with
    `--campus-recorders FILE` also the demo campus's NVRs in their makers' dialects
    (demo/simulator/recorders.py), described in FILE for media's RECORDERS."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8556)
    parser.add_argument("--campus-recorders", type=Path, help="write the NVRs' RECORDERS here")
    args = parser.parse_args(argv)
    if args.campus_recorders:  # before the ONVIF port opens: whoever waits for it finds the file
        from demo.campus import demo_size, generate
        from demo.simulator.recorders import serve_campus_recorders

        # the same campus the stack's inventory holds (CCTV_DEMO_CAMERAS grows it)
        campus = await serve_campus_recorders(generate(cameras=demo_size()), args.host)
        campus.write(args.campus_recorders)
        print(f"recorder: {len(campus.servers)} campus NVRs in {args.campus_recorders}", flush=True)
    server = await ReplayServer(args.host, args.port, serve_unknown=True).start()
    print(f"recorder: ONVIF replay on {server.url_for('<camera_id>')}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
