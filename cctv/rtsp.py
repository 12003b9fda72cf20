"""RTSP messages (RFC 2326), digest authentication (RFC 2617) and H.264 over RTP (RFC 6184):
the one place both sides of our RTSP read and write them.

Why one module: the simulator's camera server, the simulator's recorders, media's playback
client and ingest's probe each parsed requests, replies, digest challenges and interleaved
frames by hand, four slightly different times (one tolerated a quoted comma in a digest,
another did not; only the probe answered qop=auth, MD5-sess or several challenges). This is
a small shared library: no I/O policy, only `asyncio.StreamReader`/`bytes` in and out, so
services, the simulator and tests use the same parsing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

MAX_HEADER_BYTES = 16 * 1024
RTP_MAX_PAYLOAD = 1400
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


class RtspError(ValueError):
    """A malformed message: the text says which part."""


@dataclass
class Request:
    method: str
    url: str
    version: str
    headers: dict[str, str]  # lower-case names; a repeated header: its last value
    body: bytes = b""

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "0")


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; a repeated header: its last value
    body: bytes = b""
    fields: list[tuple[str, str]] = field(default_factory=list)  # every header line, in order

    @property
    def challenges(self) -> list[str]:
        """Every `WWW-Authenticate` value: devices often send Digest and Basic as two headers."""
        return [v for k, v in self.fields if k == "www-authenticate"]


@dataclass
class Interleaved:
    """One `$`-framed packet on the RTSP connection (RFC 2326 §10.12)."""

    channel: int
    data: bytes


def _fields(lines: Iterable[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for line in lines:
        if ":" in line:
            k, v = line.split(":", 1)
            out.append((k.strip().lower(), v.strip()))
    return out


async def read_interleaved(reader: asyncio.StreamReader) -> Interleaved:
    """The rest of a `$` frame whose `$` has been read."""
    hdr = await reader.readexactly(3)
    return Interleaved(hdr[0], await reader.readexactly(struct.unpack("!H", hdr[1:])[0]))


async def _head(
    reader: asyncio.StreamReader, *, skip_interleaved: bool, magic: bytes = b""
) -> bytes | None:
    """The header block of the next message (None at EOF), skipping blank lines and, when
    asked, interleaved frames (RTCP from a client, RTP that raced a reply). With `magic`, a
    message that does not start with it is refused at once: a device sending garbage is
    named, not waited on until a header end that never comes."""
    while True:
        first = await reader.read(1)
        if not first:
            return None
        if first == b"$" and skip_interleaved:
            await read_interleaved(reader)
            continue
        if first in b"\r\n":
            continue
        break
    try:
        while magic.startswith(first) and len(first) < len(magic):  # refused at a wrong byte
            first += await reader.readexactly(1)
        if magic and first != magic:
            raise RtspError(f"not an RTSP reply: it starts {first!r}, not {magic!r}")
        return first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise RtspError("connection closed in the middle of a message header") from exc
    except asyncio.LimitOverrunError as exc:
        raise RtspError("message header too long") from exc


async def _body(reader: asyncio.StreamReader, headers: dict[str, str], limit: int) -> bytes:
    try:
        length = int(headers.get("content-length", "0") or 0)
    except ValueError as exc:
        raise RtspError(f"bad Content-Length: {headers.get('content-length')!r}") from exc
    if length < 0 or length > limit:
        raise RtspError(f"body of {length} bytes is over the limit of {limit}")
    try:
        return await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError as exc:
        raise RtspError(f"body cut short: {len(exc.partial)} of {length} bytes") from exc


async def read_request(
    reader: asyncio.StreamReader, *, max_body: int = MAX_HEADER_BYTES
) -> Request | None:
    """The next request on a server's connection; None when the client closed it."""
    head = await _head(reader, skip_interleaved=True)
    if head is None:
        return None
    lines = head.decode("utf-8", "replace").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3 or not parts[2].startswith("RTSP/"):
        raise RtspError(f"not an RTSP request line: {lines[0][:80]!r}")
    headers = dict(_fields(lines[1:]))
    body = await _body(reader, headers, max_body)
    return Request(parts[0].upper(), parts[1], parts[2], headers, body)


# ASCII digits only: str.isdigit() also takes "²", which int() then refuses
_STATUS_LINE = re.compile(r"RTSP/[0-9]\.[0-9] ([0-9]{3})(?: (.*))?")


async def read_response(
    reader: asyncio.StreamReader, *, max_body: int = 1 << 20, skip_interleaved: bool = True
) -> Response:
    """The next reply on a client's connection; interleaved data before it is skipped unless
    the client never asked for any (then a `$` is garbage). EOF before a reply raises
    `asyncio.IncompleteReadError`; anything malformed, `RtspError`."""
    head = await _head(reader, skip_interleaved=skip_interleaved, magic=b"RTSP/")
    if head is None:
        raise asyncio.IncompleteReadError(b"", None)
    lines = head.decode("utf-8", "replace").split("\r\n")
    m = _STATUS_LINE.fullmatch(lines[0])
    if m is None:
        raise RtspError(f"not an RTSP reply: bad status line {lines[0][:80]!r}")
    fields = _fields(lines[1:])
    headers = dict(fields)
    body = await _body(reader, headers, max_body)
    return Response(int(m.group(1)), m.group(2) or "", headers, body, fields)


def format_request(method: str, url: str, cseq: int, headers: Mapping[str, str]) -> bytes:
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def format_response(
    cseq: str,
    status: int,
    reason: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    *,
    server: str = "",
) -> bytes:
    lines = [f"RTSP/1.0 {status} {reason}", f"CSeq: {cseq}"]
    if server:
        lines.append(f"Server: {server}")
    lines.append("Date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def interleave(channel: int, data: bytes) -> bytes:
    return b"$" + bytes((channel,)) + struct.pack("!H", len(data)) + data


# ---- digest authentication (RFC 2617) ---------------------------------------------------

_PARAM = re.compile(r'([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
DIGEST_ALGORITHMS = frozenset({"MD5", "MD5-SESS"})  # what we can answer


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """`Digest realm="x", nonce="y"` → ("digest", {...}) with lower-case keys; a quoted value
    may hold commas and backslash-escaped quotes (unescaped here)."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        quoted = m.group(2)
        params[m.group(1).lower()] = (
            re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else m.group(3)
        )
    return scheme.lower(), params


def parse_digest(value: str) -> dict[str, str]:
    """The parameters of a `Digest ...` challenge or answer; {} for another scheme."""
    scheme, params = parse_challenge(value)
    return params if scheme == "digest" else {}


def digest_challenge(values: Iterable[str]) -> dict[str, str] | None:
    """The first Digest challenge among several `WWW-Authenticate` values whose algorithm we
    can answer (MD5, MD5-sess), or None."""
    for value in values:
        scheme, params = parse_challenge(value)
        if scheme == "digest" and params.get("algorithm", "MD5").upper() in DIGEST_ALGORITHMS:
            return params
    return None


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # RFC 2617 mandates MD5


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def digest_response(
    username: str,
    password: str,
    realm: str,
    nonce: str,
    method: str,
    uri: str,
    *,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    algorithm: str | None = None,
) -> str:
    ha1 = md5_hex(f"{username}:{realm}:{password}")
    if (algorithm or "").upper() == "MD5-SESS":
        ha1 = md5_hex(f"{ha1}:{nonce}:{cnonce}")
    ha2 = md5_hex(f"{method}:{uri}")
    if qop:
        return md5_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return md5_hex(f"{ha1}:{nonce}:{ha2}")


def authorization(
    username: str,
    password: str,
    challenge: Mapping[str, str],
    method: str,
    uri: str,
    *,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The `Authorization` value answering a parsed `WWW-Authenticate: Digest` challenge:
    qop=auth when offered (RFC 2617 §3.2.2 says the client then must use it), MD5-sess, the
    opaque echoed. `nc` counts the requests made with this nonce (1, 2, …)."""
    algorithm = challenge.get("algorithm")
    if algorithm is not None and algorithm.upper() not in DIGEST_ALGORITHMS:
        raise RtspError(f"unsupported digest algorithm {algorithm!r} (MD5, MD5-sess)")
    realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
    qops = [q.strip() for q in challenge.get("qop", "").split(",")]
    qop = "auth" if "auth" in qops else None
    if qop or (algorithm or "").upper() == "MD5-SESS":
        cnonce = cnonce or secrets.token_hex(8)
    ncs = f"{nc:08x}" if qop else None
    resp = digest_response(
        username, password, realm, nonce, method, uri,
        qop=qop, nc=ncs, cnonce=cnonce, algorithm=algorithm,
    )  # fmt: skip
    fields = [
        f"username={_quote(username)}",
        f"realm={_quote(realm)}",
        f"nonce={_quote(nonce)}",
        f"uri={_quote(uri)}",
        f'response="{resp}"',
    ]
    if qop:
        fields += ["qop=auth", f"nc={ncs}", f"cnonce={_quote(cnonce or '')}"]
    if "opaque" in challenge:
        fields.append(f"opaque={_quote(challenge['opaque'])}")
    if algorithm is not None:
        fields.append(f"algorithm={algorithm}")
    return "Digest " + ", ".join(fields)


def answer(
    username: str, password: str, challenges: Iterable[str], method: str, uri: str
) -> str | None:
    """The `Authorization` value for the strongest of several challenges we can answer
    (Digest, else Basic), or None when none can be. Basic sends the password merely encoded:
    it is answered only because a device offering nothing else is otherwise unusable."""
    values = list(challenges)
    digest = digest_challenge(values)
    if digest is not None:
        return authorization(username, password, digest, method, uri)
    if any(parse_challenge(v)[0] == "basic" for v in values):
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return f"Basic {token}"
    return None


@dataclass
class DigestGuard:
    """A server's side of digest authentication: the challenge, and checking an answer."""

    username: str
    password: str
    realm: str
    nonce: str = field(default_factory=lambda: secrets.token_hex(16))

    def challenge(self) -> str:
        return f"Digest realm={_quote(self.realm)}, nonce={_quote(self.nonce)}"

    def check(self, method: str, authorization_value: str) -> bool:
        d = parse_digest(authorization_value)
        if d.get("username") != self.username or d.get("nonce") != self.nonce:
            return False
        if d.get("realm") != self.realm:  # RFC 2617 §3.2.2: the answer names its realm
            return False
        expected = digest_response(
            self.username, self.password, self.realm, self.nonce, method, d.get("uri", ""),
            qop=d.get("qop"), nc=d.get("nc"), cnonce=d.get("cnonce"),
        )  # fmt: skip
        return secrets.compare_digest(expected, d.get("response", ""))


# ---- absolute times (RFC 2326 §3.7) ----------------------------------------------------

_CLOCK = re.compile(r"^(\d{8}T\d{6}(?:\.\d+)?)Z$")


def format_clock(at: datetime) -> str:
    """`20261201T001500.5Z` (UTC; fraction only when there is one)."""
    at = at.astimezone(UTC)
    frac = f".{at.microsecond:06d}".rstrip("0") if at.microsecond else ""
    return at.strftime("%Y%m%dT%H%M%S") + frac + "Z"


def parse_clock(value: str) -> datetime:
    """`20261201T001500.5Z` → aware UTC datetime."""
    m = _CLOCK.match(value.strip())
    if not m:
        raise ValueError(f"not a clock time: {value!r}")
    base, _, frac = m.group(1).partition(".")
    at = datetime.strptime(base, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return at + timedelta(seconds=float("0." + frac)) if frac else at


def parse_clock_range(value: str) -> tuple[datetime, datetime | None]:
    """`clock=A-B` or `clock=A-` (open end)."""
    v = value.strip()
    if not v.startswith("clock="):
        raise ValueError(f"only clock ranges are served: {value!r}")
    start, sep, end = v[len("clock=") :].partition("-")
    if not sep:
        raise ValueError(f"a clock range is start-end: {value!r}")
    return parse_clock(start), (parse_clock(end) if end.strip() else None)


def ntp_time(at: datetime) -> int:
    """64-bit NTP timestamp (RFC 5905) of a time."""
    ts = at.timestamp() + NTP_EPOCH_OFFSET
    secs = int(ts)
    return (secs << 32) | int((ts - secs) * (1 << 32))


def ntp_to_datetime(ntp: int) -> datetime:
    secs = (ntp >> 32) - NTP_EPOCH_OFFSET
    frac = (ntp & 0xFFFFFFFF) / (1 << 32)
    return datetime.fromtimestamp(secs, UTC) + timedelta(seconds=round(frac, 6))


# ---- H.264 over RTP (RFC 6184) -----------------------------------------------------------


def h264_payloads(nals: Iterable[bytes], max_payload: int = RTP_MAX_PAYLOAD) -> list[bytes]:
    """One access unit's NAL units as RTP payloads: single NAL units, or FU-A fragments."""
    payloads: list[bytes] = []
    for nal in nals:
        if len(nal) <= max_payload:
            payloads.append(nal)
            continue
        indicator = (nal[0] & 0xE0) | 28
        nal_type = nal[0] & 0x1F
        body = nal[1:]
        chunk = max_payload - 2
        for off in range(0, len(body), chunk):
            start = 0x80 if off == 0 else 0
            end = 0x40 if off + chunk >= len(body) else 0
            payloads.append(bytes((indicator, start | end | nal_type)) + body[off : off + chunk])
    return payloads


@dataclass
class RtpPacket:
    marker: bool
    seq: int
    timestamp: int
    extension: tuple[int, bytes] | None  # (profile, data)
    payload: bytes


def parse_rtp(pkt: bytes) -> RtpPacket:
    if len(pkt) < 12:
        raise RtspError("short RTP packet")
    cc = pkt[0] & 0x0F
    off = 12 + 4 * cc
    ext: tuple[int, bytes] | None = None
    if pkt[0] & 0x10:
        if len(pkt) < off + 4:
            raise RtspError("RTP header extension cut short")
        profile, words = struct.unpack("!HH", pkt[off : off + 4])
        ext = (profile, pkt[off + 4 : off + 4 + 4 * words])
        off += 4 + 4 * words
    seq, ts = struct.unpack("!HI", pkt[2:8])
    return RtpPacket(bool(pkt[1] & 0x80), seq, ts, ext, pkt[off:])


class H264Depacketizer:
    """Reassembles access units from RTP payloads (single NAL units and FU-A)."""

    def __init__(self) -> None:
        self.nals: list[bytes] = []
        self._fu: bytearray | None = None

    def push(self, payload: bytes, marker: bool) -> bytes | None:
        """Add one payload; at the marker, the whole access unit in Annex B form."""
        if payload:
            kind = payload[0] & 0x1F
            if kind == 28:  # FU-A
                if len(payload) < 2:
                    raise RtspError("FU-A packet without its header")
                if payload[1] & 0x80:
                    self._fu = bytearray(((payload[0] & 0xE0) | (payload[1] & 0x1F),))
                if self._fu is not None:
                    self._fu += payload[2:]
                    if payload[1] & 0x40:
                        self.nals.append(bytes(self._fu))
                        self._fu = None
            else:
                self.nals.append(payload)
        if not marker:
            return None
        unit = b"".join(b"\x00\x00\x00\x01" + n for n in self.nals)
        self.nals = []
        return unit
