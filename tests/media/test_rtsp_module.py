"""cctv/rtsp.py, the one RTSP message module the simulator's servers and media's client share."""

from __future__ import annotations

import asyncio
import os
import struct
from datetime import UTC, datetime

import pytest

from cctv import rtsp


def reader_of(data: bytes, limit: int = rtsp.MAX_HEADER_BYTES) -> asyncio.StreamReader:
    r = asyncio.StreamReader(limit=limit)
    r.feed_data(data)
    r.feed_eof()
    return r


async def test_request_with_body_after_skipped_interleaved_rtcp() -> None:
    raw = (
        rtsp.interleave(1, b"\x81\xc9\x00\x01rtcp")
        + b"\r\nANNOUNCE rtsp://h/cam/1 RTSP/1.0\r\nCSeq: 7\r\nContent-Length: 3\r\n"
        + b"X-Odd :  spaced \r\n\r\nabcOPTIONS * RTSP/1.0\r\nCSeq: 8\r\n\r\n"
    )
    r = reader_of(raw)
    req = await rtsp.read_request(r)
    assert req is not None
    assert (req.method, req.url, req.cseq, req.body) == ("ANNOUNCE", "rtsp://h/cam/1", "7", b"abc")
    assert req.headers["x-odd"] == "spaced"
    nxt = await rtsp.read_request(r)
    assert nxt is not None and nxt.method == "OPTIONS" and nxt.cseq == "8"
    assert await rtsp.read_request(r) is None  # the client closed


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "not an RTSP request line"),
        (b"PLAY x RTSP/1.0\r\nContent-Length: -4\r\n\r\n", "over the limit"),
        (b"PLAY x RTSP/1.0\r\nContent-Length: 99999\r\n\r\n", "over the limit"),
        (b"PLAY x RTSP/1.0\r\nContent-Length: ten\r\n\r\n", "bad Content-Length"),
        (b"PLAY x RTSP/1.0\r\nX: " + b"a" * 300 + b"\r\n\r\n", "header too long"),
    ],
)
async def test_bad_requests_are_named(raw: bytes, message: str) -> None:
    with pytest.raises(rtsp.RtspError, match=message):
        await rtsp.read_request(reader_of(raw, limit=256))


async def test_response_after_early_rtp_and_formatting_round_trip() -> None:
    sdp = b"v=0\r\n"
    data = rtsp.interleave(0, b"\x80" * 20) + rtsp.format_response(
        "3", 200, "OK", {"Content-Type": "application/sdp"}, sdp, server="sim"
    )
    reply = await rtsp.read_response(reader_of(data))
    assert (reply.status, reply.reason, reply.body) == (200, "OK", sdp)
    assert reply.headers["cseq"] == "3" and reply.headers["server"] == "sim"
    with pytest.raises(rtsp.RtspError, match="not an RTSP reply"):
        await rtsp.read_response(reader_of(b"HTTP/1.1 200 OK\r\n\r\n"))
    with pytest.raises(asyncio.IncompleteReadError):
        await rtsp.read_response(reader_of(b""))
    req = rtsp.format_request("PLAY", "rtsp://h/x", 4, {"Session": "ab"})
    assert req == b"PLAY rtsp://h/x RTSP/1.0\r\nCSeq: 4\r\nSession: ab\r\n\r\n"


def test_digest_matches_rfc_2617_example() -> None:
    """RFC 2617 §3.5: Mufasa / Circle Of Life."""
    got = rtsp.digest_response(
        "Mufasa", "Circle Of Life", "testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "GET", "/dir/index.html", qop="auth", nc="00000001", cnonce="0a4f113b",
    )  # fmt: skip
    assert got == "6629fae49393a05397450978507c4ef1"


def test_digest_parsing_keeps_quoted_commas_and_guard_checks_answers() -> None:
    d = rtsp.parse_digest('Digest realm="a, b", nonce=xyz , qop="auth"')
    assert d == {"realm": "a, b", "nonce": "xyz", "qop": "auth"}
    assert rtsp.parse_digest('Basic realm="x"') == {}
    guard = rtsp.DigestGuard("admin", "pw", "NVR")
    challenge = rtsp.parse_digest(guard.challenge())
    good = rtsp.authorization("admin", "pw", challenge, "DESCRIBE", "rtsp://h/x")
    assert guard.check("DESCRIBE", good)
    assert not guard.check("PLAY", good)  # the answer is bound to the method
    assert not guard.check(
        "DESCRIBE", rtsp.authorization("admin", "no", challenge, "DESCRIBE", "u")
    )
    stale = rtsp.authorization("admin", "pw", {**challenge, "nonce": "old"}, "DESCRIBE", "u")
    assert not guard.check("DESCRIBE", stale)
    assert not guard.check("DESCRIBE", "")


def test_h264_payloads_and_depacketizer_round_trip() -> None:
    sps, idr = b"\x67" + os.urandom(20), b"\x65" + os.urandom(5000)
    payloads = rtsp.h264_payloads([sps, idr])
    assert payloads[0] == sps and all(p[0] & 0x1F == 28 for p in payloads[1:])
    assert payloads[1][1] & 0x80 and payloads[-1][1] & 0x40  # FU-A start and end bits
    dep = rtsp.H264Depacketizer()
    units = [dep.push(p, i == len(payloads) - 1) for i, p in enumerate(payloads)]
    assert units[:-1] == [None] * (len(payloads) - 1)
    assert units[-1] == b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + idr
    with pytest.raises(rtsp.RtspError, match="FU-A"):
        dep.push(b"\x7c", True)


def test_rtp_parsing_with_the_replay_extension() -> None:
    ext = struct.pack("!HHQBBH", 0xABAC, 3, 42, 0x80, 7, 0)
    pkt = struct.pack("!BBHII", 0x90, 0x80 | 96, 65535, 123456, 1) + ext + b"\x65data"
    p = rtsp.parse_rtp(pkt)
    assert p.marker and p.seq == 65535 and p.timestamp == 123456
    assert p.extension is not None and p.extension[0] == 0xABAC and len(p.extension[1]) == 12
    assert p.payload == b"\x65data"
    with pytest.raises(rtsp.RtspError, match="short RTP"):
        rtsp.parse_rtp(b"\x80\x60")


def test_clock_and_ntp_times() -> None:
    at = datetime(2026, 12, 1, 0, 15, 0, 500000, tzinfo=UTC)
    assert rtsp.format_clock(at) == "20261201T001500.5Z"
    assert rtsp.parse_clock("20261201T001500.5Z") == at
    assert rtsp.parse_clock_range("clock=20261201T001500Z-") == (at.replace(microsecond=0), None)
    with pytest.raises(ValueError, match="only clock ranges"):
        rtsp.parse_clock_range("npt=0-")
    with pytest.raises(ValueError, match="not a clock time"):
        rtsp.parse_clock("2026-12-01T00:15:00Z")
    assert rtsp.ntp_to_datetime(rtsp.ntp_time(at)) == at


def test_an_answer_without_its_realm_is_refused() -> None:
    """RFC 2617 §3.2.2: the answer carries the realm; the simulated recorders refuse one that
    leaves it out, as the camera server did before the shared module (stricter, never more
    forgiving than devices)."""
    guard = rtsp.DigestGuard("admin", "pw", "NVR")
    challenge = rtsp.parse_digest(guard.challenge())
    good = rtsp.authorization("admin", "pw", challenge, "DESCRIBE", "rtsp://h/x")
    no_realm = ", ".join(p for p in good.split(", ") if not p.startswith("realm="))
    assert "realm" not in no_realm and guard.check("DESCRIBE", good)
    assert not guard.check("DESCRIBE", no_realm)
