"""cctv/rtsp.py, the one RTSP message module the simulator's servers, media's client and
ingest's probe share."""

from __future__ import annotations

import asyncio
import base64
import hashlib
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


# ---- what ingest's probe needed (it kept its own parser and digest until these existed) ----


async def test_replies_cut_short_or_with_odd_status_lines_are_named_not_crashes() -> None:
    """EOF inside a reply, and a status code in non-ASCII digits ("²" passes str.isdigit and
    then int() raised a bare ValueError), are RtspErrors naming the fault."""
    cases = [
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n", "middle of a message header"),
        (b"RTSP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc", "body cut short: 3 of 10"),
        (b"RTSP/1.0 \xc2\xb200 OK\r\n\r\n", "bad status line"),
        (b"RTSP/1.0 20 OK\r\n\r\n", "bad status line"),
        (b"RTS", "middle of a message header"),
    ]
    for raw, message in cases:
        with pytest.raises(rtsp.RtspError, match=message):
            await rtsp.read_response(reader_of(raw))


async def test_garbage_is_refused_at_its_first_bytes_not_waited_on() -> None:
    """A device sending junk that never holds a blank line is named at once (the connection
    stays open, so waiting for the header's end would only time out)."""
    junk = asyncio.StreamReader()
    junk.feed_data(b"\x16\x03\x01\x02\x00 not rtsp and no header end")
    with pytest.raises(rtsp.RtspError, match=r"RTSP reply: it starts b'\\x16', not b'RTSP/'"):
        await asyncio.wait_for(rtsp.read_response(junk), 2)
    # a client that never asked for media takes a `$` as junk, not as a frame to skip
    frame = asyncio.StreamReader()
    frame.feed_data(b"$\x00\xff\xff")
    with pytest.raises(rtsp.RtspError, match="not an RTSP reply"):
        await asyncio.wait_for(rtsp.read_response(frame, skip_interleaved=False), 2)


async def test_every_challenge_of_a_reply_is_kept() -> None:
    raw = (
        b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n"
        b'WWW-Authenticate: Digest realm="IP Camera", nonce="n1", algorithm=SHA-256\r\n'
        b'WWW-Authenticate: Digest realm="IP Camera", nonce="n2"\r\n'
        b'WWW-Authenticate: Basic realm="IP Camera"\r\n\r\n'
    )
    reply = await rtsp.read_response(reader_of(raw))
    assert reply.status == 401 and len(reply.challenges) == 3
    assert reply.headers["www-authenticate"] == 'Basic realm="IP Camera"'  # last, as before
    chosen = rtsp.digest_challenge(reply.challenges)
    assert chosen is not None and chosen["nonce"] == "n2"  # SHA-256 cannot be answered


def test_strongest_challenge_is_answered_digest_then_basic() -> None:
    sha = 'Digest realm="r", nonce="x", algorithm="SHA-256"'
    md5 = 'Digest realm="r", nonce="y"'
    basic = 'Basic realm="r"'
    got = rtsp.answer("admin", "pw", [basic, sha, md5], "DESCRIBE", "rtsp://h/1")
    assert got is not None and rtsp.parse_digest(got)["nonce"] == "y"
    guard = rtsp.DigestGuard("admin", "pw", "r", nonce="y")
    assert guard.check("DESCRIBE", got)
    assert rtsp.answer("ad", "pw", [sha, basic], "GET", "/") == "Basic " + base64.b64encode(
        b"ad:pw"
    ).decode("ascii")
    assert rtsp.answer("ad", "pw", ['Bearer realm="x"', sha], "GET", "/") is None
    with pytest.raises(rtsp.RtspError, match="unsupported digest algorithm 'SHA-256'"):
        rtsp.authorization("ad", "pw", rtsp.parse_digest(sha), "GET", "/")


def test_qop_auth_answer_matches_rfc_2617_example_and_echoes_opaque() -> None:
    """RFC 2617 §3.5: the challenge offers qop="auth,auth-int"; the answer uses auth, counts
    nc and echoes the opaque."""
    challenge = rtsp.parse_digest(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    header = rtsp.authorization(
        "Mufasa", "Circle Of Life", challenge, "GET", "/dir/index.html", cnonce="0a4f113b"
    )
    d = rtsp.parse_digest(header)
    assert d["response"] == "6629fae49393a05397450978507c4ef1"
    assert (d["qop"], d["nc"], d["cnonce"]) == ("auth", "00000001", "0a4f113b")
    assert d["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41" and "algorithm" not in d
    second = rtsp.parse_digest(
        rtsp.authorization("Mufasa", "Circle Of Life", challenge, "GET", "/", nc=2)
    )
    assert second["nc"] == "00000002" and second["cnonce"] != "0a4f113b"  # fresh cnonce


def test_md5_sess_answer() -> None:
    challenge = {"realm": "r", "nonce": "n", "algorithm": "MD5-sess", "qop": "auth"}
    d = rtsp.parse_digest(rtsp.authorization("u", "p", challenge, "DESCRIBE", "/x", cnonce="c"))

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    ha1 = md5(f"{md5('u:r:p')}:n:c")
    assert d["response"] == md5(f"{ha1}:n:00000001:c:auth:{md5('DESCRIBE:/x')}")
    assert d["algorithm"] == "MD5-sess"


def test_escaped_quotes_in_a_realm_round_trip() -> None:
    """A quoted-string may hold `\\"`: the value is unescaped for the arithmetic and escaped
    again in the answer, so the device's check and ours agree."""
    assert rtsp.parse_digest(r'Digest realm="say \"hi\", ok", nonce=n')["realm"] == 'say "hi", ok'
    guard = rtsp.DigestGuard("admin", "pw", 'say "hi", ok')
    challenge = rtsp.parse_digest(guard.challenge())
    assert challenge["realm"] == 'say "hi", ok'
    assert guard.check("DESCRIBE", rtsp.authorization("admin", "pw", challenge, "DESCRIBE", "u"))
