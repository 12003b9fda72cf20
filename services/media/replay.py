"""Adapter: fetch recorded footage from a recorder by RTSP playback (ONVIF Profile G replay).

Why our own client: ffmpeg's RTSP demuxer cannot send `Require: onvif-replay` nor a
`Range: clock=` and drops the replay header extension, which is what tells us the wall-clock
time of each frame we actually received. This client speaks RFC 2326 with interleaved RTP
(TCP), reassembles H.264 (RFC 6184: single NAL units and FU-A) and reads the ONVIF replay
extension (profile 0xABAC: NTP time, C/E/D flags, CSeq) on every packet.

The frames handed back are exactly the ones the recorder sent, stamped with the recorder's
own clock; the export checks them against the grant before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

NTP_EPOCH_OFFSET = 2_208_988_800
REPLAY_TAG = "onvif-replay"
USER_AGENT = "campus-cctv-media/1.0"


class ReplayError(Exception):
    """The recorder refused or broke the playback; the message says what and where."""


@dataclass(frozen=True)
class RecordedFrame:
    """One access unit as the recorder sent it (Annex B), with its recorded wall-clock time."""

    at: datetime
    annexb: bytes
    clean_point: bool  # C bit: an IDR a decoder can start from


def format_clock(at: datetime) -> str:
    at = at.astimezone(UTC)
    frac = f".{at.microsecond:06d}".rstrip("0") if at.microsecond else ""
    return at.strftime("%Y%m%dT%H%M%S") + frac + "Z"


def ntp_to_datetime(ntp: int) -> datetime:
    secs = (ntp >> 32) - NTP_EPOCH_OFFSET
    frac = (ntp & 0xFFFFFFFF) / (1 << 32)
    return datetime.fromtimestamp(secs, UTC) + timedelta(seconds=round(frac, 6))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # RFC 2617 digest mandates MD5


class ReplayClient:
    """One playback session for one recording URL."""

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
            raise ReplayError(f"not an rtsp:// recording URL: {url!r}")
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

    async def __aenter__(self) -> ReplayClient:
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

    def _auth(self, method: str, uri: str) -> dict[str, str]:
        d = self._digest
        if d is None or self.username is None:
            return {}
        ha1 = _md5(f"{self.username}:{d.get('realm', '')}:{self.password or ''}")
        ha2 = _md5(f"{method}:{uri}")
        resp = _md5(f"{ha1}:{d.get('nonce', '')}:{ha2}")
        return {
            "Authorization": f'Digest username="{self.username}", realm="{d.get("realm", "")}", '
            f'nonce="{d.get("nonce", "")}", uri="{uri}", response="{resp}"'
        }

    def _send(self, method: str, uri: str, headers: dict[str, str]) -> None:
        assert self.writer is not None
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        all_headers = {**headers, **self._auth(method, uri)}
        lines += [f"{k}: {v}" for k, v in all_headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def _response(self) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None
        while True:
            first = await self.reader.readexactly(1)
            if first == b"$":  # RTP before the reply: not expected before PLAY; skip
                hdr = await self.reader.readexactly(3)
                await self.reader.readexactly(struct.unpack("!H", hdr[1:])[0])
                continue
            if first in b"\r\n":
                continue
            break
        head = first + await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("RTSP/"):
            raise ReplayError(f"not an RTSP reply from the recorder: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0") or 0)
        body = await self.reader.readexactly(n) if n else b""
        return int(parts[1]), headers, body

    async def request(
        self, method: str, uri: str, headers: dict[str, str] | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Send one request (answering one digest challenge); raise on a non-2xx reply."""
        for _attempt in range(2):
            self._send(method, uri, headers or {})
            try:
                status, h, body = await asyncio.wait_for(self._response(), self.timeout)
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
                raise ReplayError(f"{method} {uri}: no answer from the recorder ({exc!r})") from exc
            if status == 401 and self.username is not None:
                if self._digest is not None:
                    break  # we answered the challenge and were refused
                self._digest = _parse_digest(h.get("www-authenticate", ""))
                continue
            if status // 100 != 2:
                extra = f" (unsupported: {h['unsupported']})" if "unsupported" in h else ""
                raise ReplayError(f"{method} {uri}: recorder answered {status}{extra}")
            return h, body
        raise ReplayError(f"{method} {uri}: recorder refused our credentials (401)")

    # ---- playback ----------------------------------------------------------------------

    async def play(
        self, start: datetime, end: datetime, *, realtime: bool = False
    ) -> AsyncIterator[RecordedFrame]:
        """Yield the recorded frames of [start, end) with their recorded times."""
        require = {"Require": REPLAY_TAG}
        h, body = await self.request("DESCRIBE", self.url, {**require, "Accept": "application/sdp"})
        control = _control_url(self.url, h.get("content-base", self.url), body.decode())
        h, _ = await self.request(
            "SETUP", control, {**require, "Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        )
        self.session = h.get("session", "").split(";")[0]
        play_cseq = self.cseq + 1
        await self.request(
            "PLAY",
            self.url,
            {
                **require,
                "Session": self.session,
                "Range": f"clock={format_clock(start)}-{format_clock(end)}",
                "Rate-Control": "yes" if realtime else "no",
            },
        )
        async for frame in self._frames(play_cseq & 0xFF):
            yield frame

    async def _frames(self, cseq_byte: int) -> AsyncIterator[RecordedFrame]:
        assert self.reader is not None
        nals: list[bytes] = []
        fu: bytearray | None = None
        at: datetime | None = None
        clean = False
        while True:
            try:
                magic = await asyncio.wait_for(self.reader.readexactly(1), self.timeout)
                if magic != b"$":
                    raise ReplayError("recorder sent something other than interleaved RTP")
                hdr = await self.reader.readexactly(3)
                pkt = await self.reader.readexactly(struct.unpack("!H", hdr[1:])[0])
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
                raise ReplayError(f"playback stopped before the range ended ({exc!r})") from exc
            if hdr[0] % 2 == 1:  # RTCP
                if len(pkt) >= 2 and pkt[1] == 203:  # BYE: the range is over
                    return
                continue
            if len(pkt) < 12:
                raise ReplayError("short RTP packet from the recorder")
            cc = pkt[0] & 0x0F
            off = 12 + 4 * cc
            ext: tuple[int, int, int] | None = None
            if pkt[0] & 0x10:
                profile, words = struct.unpack("!HH", pkt[off : off + 4])
                if profile == 0xABAC and words >= 3:
                    ntp, flags, cseq = struct.unpack("!QBB", pkt[off + 4 : off + 14])
                    ext = (ntp, flags, cseq)
                off += 4 + 4 * words
            if ext is None:
                raise ReplayError("RTP packet without the ONVIF replay extension (not a replay)")
            if ext[2] != cseq_byte:
                continue  # data of an earlier PLAY (ONVIF: CSeq tells them apart)
            at = ntp_to_datetime(ext[0])
            clean = clean or bool(ext[1] & 0x80)
            payload = pkt[off:]
            if not payload:
                continue
            kind = payload[0] & 0x1F
            if kind == 28:  # FU-A
                start, stop = payload[1] & 0x80, payload[1] & 0x40
                if start:
                    fu = bytearray(bytes(((payload[0] & 0xE0) | (payload[1] & 0x1F),)))
                if fu is not None:
                    fu += payload[2:]
                    if stop:
                        nals.append(bytes(fu))
                        fu = None
            else:
                nals.append(payload)
            if pkt[1] & 0x80:  # marker: the access unit is complete
                yield RecordedFrame(at, b"".join(b"\x00\x00\x00\x01" + n for n in nals), clean)
                nals, clean = [], False
                if ext[1] & 0x40:  # E: last packet of the range
                    return


def _control_url(url: str, base: str, sdp: str) -> str:
    for line in sdp.splitlines():
        if line.startswith("a=control:"):
            ctl = line[len("a=control:") :].strip()
            if ctl == "*":
                continue
            if ctl.startswith("rtsp://"):
                return ctl
            return base.rstrip("/") + "/" + ctl
    return url


def _parse_digest(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if not value.lower().startswith("digest"):
        return out
    for part in value[6:].split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip().strip('"')
    return out


async def fetch(
    url: str,
    start: datetime,
    end: datetime,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 10.0,
) -> AsyncIterator[RecordedFrame]:
    """Every recorded frame of one camera in [start, end), as fast as the recorder sends."""
    async with ReplayClient(url, username=username, password=password, timeout=timeout) as c:
        async for frame in c.play(start, end):
            yield frame
