"""Recorded footage for the simulated recorders: RTSP playback per ONVIF Streaming / Replay.

Why: the media service must fetch *recorded* footage for a camera and a time range the way a
Profile G recorder serves it, and tests must be able to tell exactly which footage arrived.
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
returns for the camera's recording). The recorder keeps `retention_days` (Art. 7: 30); a
range outside what it holds gets 457 Invalid Range.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from urllib.parse import unquote, urlsplit

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from demo.simulator.rtsp_server import _md5, _parse_digest

SERVER_NAME = "campus-cctv-sim-recorder/1.0"
REPLAY_TAG = "onvif-replay"
WIDTH = 320
HEIGHT = 240
FPS = 5
GOP_FRAMES = FPS  # an IDR (clean point) every second, so any second can start a clip
RTP_CLOCK = 90_000
RTP_PAYLOAD_TYPE = 96
RTP_MAX_PAYLOAD = 1400
MAX_HEADER_BYTES = 16 * 1024
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01

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


def ntp_time(at: datetime) -> int:
    """64-bit NTP timestamp (RFC 5905) of a UTC time."""
    ts = at.timestamp() + NTP_EPOCH_OFFSET
    secs = int(ts)
    return (secs << 32) | int((ts - secs) * (1 << 32))


def replay_packets(
    frame: EncodedFrame,
    seq: int,
    rtp_ts: int,
    ssrc: int,
    cseq: int,
    *,
    last: bool = False,
    discontinuity: bool = False,
) -> tuple[list[bytes], int]:
    """RFC 6184 packets (single NAL or FU-A) each with the ONVIF replay header extension."""
    payloads: list[bytes] = []
    for nal in frame.nals:
        if len(nal) <= RTP_MAX_PAYLOAD:
            payloads.append(nal)
            continue
        indicator = (nal[0] & 0xE0) | 28
        nal_type = nal[0] & 0x1F
        body = nal[1:]
        chunk = RTP_MAX_PAYLOAD - 2
        for off in range(0, len(body), chunk):
            start = 0x80 if off == 0 else 0
            end = 0x40 if off + chunk >= len(body) else 0
            payloads.append(bytes((indicator, start | end | nal_type)) + body[off : off + chunk])
    ntp = ntp_time(frame.at)
    packets: list[bytes] = []
    for k, payload in enumerate(payloads):
        final = k == len(payloads) - 1
        marker = 0x80 if final else 0
        flags = (0x80 if frame.idr else 0) | (0x40 if last and final else 0)
        flags |= 0x20 if discontinuity and k == 0 else 0
        header = struct.pack(
            "!BBHII", 0x90, marker | RTP_PAYLOAD_TYPE, seq & 0xFFFF, rtp_ts & 0xFFFFFFFF, ssrc
        )
        ext = struct.pack("!HHQBBH", 0xABAC, 3, ntp, flags, cseq & 0xFF, 0)
        packets.append(header + ext + payload)
        seq = (seq + 1) & 0xFFFF
    return packets, seq


# ---- clock ranges --------------------------------------------------------------------------

_CLOCK = re.compile(r"^(\d{8}T\d{6}(?:\.\d+)?)Z$")


def parse_clock(value: str) -> datetime:
    """`20261201T001500.5Z` → aware UTC datetime (RFC 2326 §3.7 absolute time)."""
    m = _CLOCK.match(value.strip())
    if not m:
        raise ValueError(f"not a clock time: {value!r}")
    text = m.group(1)
    base, _, frac = text.partition(".")
    at = datetime.strptime(base, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return at + timedelta(seconds=float("0." + frac)) if frac else at


def format_clock(at: datetime) -> str:
    at = at.astimezone(UTC)
    frac = f".{at.microsecond:06d}".rstrip("0") if at.microsecond else ""
    return at.strftime("%Y%m%dT%H%M%S") + frac + "Z"


def parse_clock_range(value: str) -> tuple[datetime, datetime | None]:
    """`clock=A-B` or `clock=A-` (open end)."""
    v = value.strip()
    if not v.startswith("clock="):
        raise ValueError(f"only clock ranges are served: {value!r}")
    start, sep, end = v[len("clock=") :].partition("-")
    if not sep:
        raise ValueError(f"a clock range is start-end: {value!r}")
    return parse_clock(start), (parse_clock(end) if end.strip() else None)


# ---- the server ----------------------------------------------------------------------------


@dataclass
class ReplayStats:
    sessions: int = 0
    refused: int = 0
    frames_sent: int = 0
    ranges: list[tuple[str, datetime, datetime]] = field(default_factory=list)


class ReplayServer:
    """Serves every camera's recording on one TCP port (the recorder side of Profile G)."""

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
    ) -> None:
        self.host = host
        self._port = port
        self.cameras = set(cameras)
        self.serve_unknown = serve_unknown
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self.username = username  # digest authentication (RFC 2617) when set, as NVRs do
        self.password = password
        self.realm = "campus-cctv-recorder"
        self.nonce = secrets.token_hex(16)
        # a misbehaving recorder: sends footage this far from the asked time (fault injection)
        self.skew = timedelta(0)
        self.stats = ReplayStats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._conns: set[_ReplayConnection] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("replay server not started")
        return int(self._server.sockets[0].getsockname()[1])

    def url_for(self, camera_id: str) -> str:
        return f"rtsp://{self.host}:{self.port}/replay/{camera_id}"

    def recorded_span(self) -> tuple[datetime, datetime]:
        now = self.clock()
        return now - self.retention, now

    async def start(self) -> ReplayServer:
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self._port, limit=MAX_HEADER_BYTES
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

    def _camera(self, url: str) -> str | None:
        path = urlsplit(url).path if "://" in url else url
        parts = [unquote(p) for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "replay":
            cid = parts[1]
            if cid in self.cameras or self.serve_unknown:
                return cid
        return None

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
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
        self.camera: str | None = None
        self.stream_task: asyncio.Task[None] | None = None
        self.ssrc = secrets.randbits(32)
        self.seq = secrets.randbits(16)
        self.channel = 0

    def stop_streaming(self) -> None:
        if self.stream_task is not None:
            self.stream_task.cancel()
            self.stream_task = None

    async def read_request(self) -> tuple[str, str, dict[str, str]] | None:
        while True:
            first = await self.reader.read(1)
            if not first:
                return None
            if first == b"$":  # interleaved RTCP from the client
                hdr = await self.reader.readexactly(3)
                await self.reader.readexactly(struct.unpack("!H", hdr[1:])[0])
                continue
            if first in b"\r\n":
                continue
            break
        head = first + await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3 or not parts[2].startswith("RTSP/"):
            raise ValueError(f"not an RTSP request line: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await self.reader.readexactly(min(length, MAX_HEADER_BYTES))
        return parts[0].upper(), parts[1], headers

    async def respond(
        self, cseq: str, status: int, reason: str, headers: dict[str, str] | None = None, body=b""
    ) -> None:
        lines = [f"RTSP/1.0 {status} {reason}", f"CSeq: {cseq}", f"Server: {SERVER_NAME}"]
        lines.append("Date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body)
        await self.writer.drain()

    async def run(self) -> None:
        while True:
            req = await self.read_request()
            if req is None:
                return
            method, url, h = req
            cseq = h.get("cseq", "0")
            if method == "OPTIONS":
                await self.respond(
                    cseq, 200, "OK", {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN"}
                )
                continue
            if method == "TEARDOWN":
                self.stop_streaming()
                await self.respond(cseq, 200, "OK")
                return
            if not self._authorised(method, h):
                challenge = f'Digest realm="{self.server.realm}", nonce="{self.server.nonce}"'
                await self.respond(cseq, 401, "Unauthorized", {"WWW-Authenticate": challenge})
                continue
            if REPLAY_TAG not in [t.strip() for t in h.get("require", "").split(",")]:
                self.server.stats.refused += 1
                await self.respond(
                    cseq, 551, "Option not supported", {"Unsupported": h.get("require", "")}
                )
                continue
            cam = self.server._camera(url)
            if cam is None:
                self.server.stats.refused += 1
                await self.respond(cseq, 404, "Not Found")
                continue
            if method == "DESCRIBE":
                await self._describe(cseq, url, cam)
            elif method == "SETUP":
                await self._setup(cseq, cam, h)
            elif method == "PLAY":
                await self._play(cseq, h)
            else:
                await self.respond(cseq, 405, "Method Not Allowed")

    def _authorised(self, method: str, h: dict[str, str]) -> bool:
        srv = self.server
        if srv.username is None:
            return True
        d = _parse_digest(h.get("authorization", ""))
        if d.get("username") != srv.username or d.get("nonce") != srv.nonce:
            return False
        ha1 = _md5(f"{srv.username}:{srv.realm}:{srv.password or ''}")
        ha2 = _md5(f"{method}:{d.get('uri', '')}")
        return d.get("response") == _md5(f"{ha1}:{srv.nonce}:{ha2}")

    async def _describe(self, cseq: str, url: str, cam: str) -> None:
        first, last = self.server.recorded_span()
        sdp = "\r\n".join(
            [
                "v=0",
                f"o=- {secrets.randbits(32)} 1 IN IP4 {self.server.host}",
                f"s=Recording {cam}",
                "t=0 0",
                f"a=range:clock={format_clock(first)}-{format_clock(last)}",
                "m=video 0 RTP/AVP 96",
                "c=IN IP4 0.0.0.0",
                f"a=rtpmap:{RTP_PAYLOAD_TYPE} H264/{RTP_CLOCK}",
                f"a=fmtp:{RTP_PAYLOAD_TYPE} packetization-mode=1",
                "a=control:trackID=0",
                "a=recvonly",
                "",
            ]
        ).encode()
        await self.respond(
            cseq,
            200,
            "OK",
            {"Content-Type": "application/sdp", "Content-Base": url.rstrip("/") + "/"},
            sdp,
        )

    async def _setup(self, cseq: str, cam: str, h: dict[str, str]) -> None:
        transport = h.get("transport", "")
        if "TCP" not in transport.upper():
            await self.respond(cseq, 461, "Unsupported Transport")
            return
        m = re.search(r"interleaved=(\d+)-(\d+)", transport)
        ch = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
        self.channel = ch[0]
        self.camera = cam
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
        if self.session is None or self.camera is None:
            await self.respond(cseq, 455, "Method Not Valid in This State")
            return
        if h.get("session", "").split(";")[0] != self.session:
            await self.respond(cseq, 454, "Session Not Found")
            return
        first, last = self.server.recorded_span()
        try:
            start, end = parse_clock_range(h.get("range", ""))
        except ValueError:
            self.server.stats.refused += 1
            await self.respond(cseq, 457, "Invalid Range")
            return
        end = end or last
        if start < first or end > last or start >= end:
            self.server.stats.refused += 1
            await self.respond(cseq, 457, "Invalid Range")
            return
        realtime = h.get("rate-control", "yes").strip().lower() != "no"
        self.stop_streaming()
        self.server.stats.sessions += 1
        self.server.stats.ranges.append((self.camera, start, end))
        rtp_ts = secrets.randbits(32)
        await self.respond(
            cseq,
            200,
            "OK",
            {
                "Session": self.session,
                "Range": f"clock={format_clock(start)}-{format_clock(end)}",
                "RTP-Info": f"url=trackID=0;seq={self.seq};rtptime={rtp_ts}",
                "Rate-Control": "yes" if realtime else "no",
            },
        )
        self.stream_task = asyncio.create_task(
            self._stream(self.camera, start, end, int(cseq or 0), rtp_ts, realtime)
        )

    async def _stream(
        self, cam: str, start: datetime, end: datetime, cseq: int, rtp_ts: int, realtime: bool
    ) -> None:
        """Send the frames of [start, end) one GOP at a time, encoded off the event loop."""
        step = timedelta(seconds=1 / FPS)
        times: list[datetime] = []
        t = start
        while t < end:
            times.append(t + self.server.skew)
            t += step
        loop = asyncio.get_running_loop()
        began = loop.time()
        for g in range(0, len(times), GOP_FRAMES):
            chunk = times[g : g + GOP_FRAMES]
            frames = await asyncio.to_thread(encode_range, cam, chunk)
            for i, frame in enumerate(frames):
                n = g + i
                if realtime:
                    delay = began + n / FPS - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                last = n == len(times) - 1
                ts = rtp_ts + int((frame.at - start).total_seconds() * RTP_CLOCK)
                pkts, self.seq = replay_packets(frame, self.seq, ts, self.ssrc, cseq, last=last)
                for p in pkts:
                    self.writer.write(b"$" + bytes((self.channel,)) + struct.pack("!H", len(p)) + p)
                self.server.stats.frames_sent += 1
            await self.writer.drain()
        # RTCP BYE: the range is over (RFC 3550 §6.6)
        bye = struct.pack("!BBHI", 0x81, 203, 1, self.ssrc)
        self.writer.write(b"$" + bytes((self.channel + 1,)) + struct.pack("!H", len(bye)) + bye)
        await self.writer.drain()


async def main(argv: list[str] | None = None) -> None:
    """Run a recorder alone: `python -m demo.simulator.replay --port 8556`."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8556)
    args = parser.parse_args(argv)
    server = await ReplayServer(args.host, args.port, serve_unknown=True).start()
    print(f"recorder: ONVIF replay on {server.url_for('<camera_id>')}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
