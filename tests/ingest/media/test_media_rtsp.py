"""The RTSP probe and frame grab against the simulator's RTSP server, over real sockets."""

from __future__ import annotations

import asyncio
import shutil
import time

import av
import numpy as np
import pytest
import pytest_asyncio

from cctv.plumbing.urls import without_login
from demo.simulator.media import Picture, clip_for
from demo.simulator.rtsp_server import MediaFault, RtspServer, camera_id_from_url, rtp_packets
from services.ingest.adapters.rtsp_probe import (
    RtspCredentials,
    RtspProbe,
    RtspStatus,
    sdp_video_codec,
)
from services.ingest.frames import FrameSampler, url_with_credentials
from services.ingest.tamper import TamperKind, assess, confirm_reference

TIMEOUT = 0.6  # the probe's request timeout in these tests
CREDS = RtspCredentials("admin", "Hik12345!")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server():
    srv = RtspServer()
    for cid in ("c-ok", "c-ok2", "c-covered", "c-moved", "c-blur"):
        srv.add_camera(cid, variant=4)
    srv.add_camera("c-auth", username=CREDS.username, password=CREDS.password, variant=4)
    for fault in MediaFault:
        srv.add_camera(f"f-{fault.value}", variant=4).faults.add(fault)
    srv.cameras["f-slow"].slow_delay_s = 0.2
    srv.set_faults("c-covered", ["covered"])
    srv.set_faults("c-moved", ["moved"])
    srv.set_faults("c-blur", ["blur"])
    await srv.start()
    await srv.prewarm(tuple(Picture))  # encoding is not what these tests measure
    yield srv
    await srv.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def probe():
    # generous for pictures that do come (the machine is shared); video loss has its own
    sampler = FrameSampler(max_concurrency=3, open_timeout=5.0, read_timeout=4.0)
    p = RtspProbe(connect_timeout=TIMEOUT, request_timeout=TIMEOUT, sampler=sampler)
    yield p
    p.close()


# ---- OPTIONS / DESCRIBE ---------------------------------------------------------------
async def test_options_and_describe_measure_a_healthy_camera(server, probe):
    r = await probe.probe("c-ok", server.url_for("c-ok"))
    assert r.status is RtspStatus.OK and r.error is None
    assert r.tcp_connected and r.reachable and r.describe_ok and r.auth_ok is True
    assert r.codec == "H264"
    assert r.latency_ms is not None and 0 < r.latency_ms < TIMEOUT * 1000
    assert r.streaming is None and r.frame is None  # no frame asked for: not measured


async def test_digest_auth_is_answered_and_wrong_password_is_named(server, probe):
    url = server.url_for("c-auth")
    ok = await probe.probe("c-auth", url, CREDS)
    assert ok.status is RtspStatus.OK and ok.auth_ok is True
    bad = await probe.probe("c-auth", url, RtspCredentials("admin", "guess"))
    assert bad.status is RtspStatus.AUTH_FAILED and bad.auth_ok is False and bad.reachable
    assert "认证失败" in (bad.error or "") and "rejected" in (bad.error or "")
    none = await probe.probe("c-auth", url, None)
    assert none.status is RtspStatus.AUTH_FAILED and "none are held" in (none.error or "")
    changed = await probe.probe("f-wrong_password", server.url_for("f-wrong_password"), CREDS)
    assert changed.status is RtspStatus.AUTH_FAILED


async def test_unknown_stream_is_not_found(server, probe):
    r = await probe.probe("c-nope", server.url_for("c-nope"))
    assert r.status is RtspStatus.NOT_FOUND and r.reachable and not r.describe_ok


async def test_garbage_on_the_socket_is_a_protocol_error_within_the_timeout(server, probe):
    started = time.monotonic()
    r = await probe.probe("f-garbage", server.url_for("f-garbage"))
    assert time.monotonic() - started < TIMEOUT
    assert r.status is RtspStatus.PROTOCOL_ERROR and r.tcp_connected and not r.reachable
    assert "RTSP" in (r.error or "")


async def test_silent_device_times_out_with_a_clear_status(server, probe):
    started = time.monotonic()
    r = await probe.probe("f-silent", server.url_for("f-silent"))
    elapsed = time.monotonic() - started
    assert TIMEOUT * 0.9 < elapsed < TIMEOUT + 0.5
    assert r.status is RtspStatus.TIMEOUT and r.tcp_connected and not r.reachable
    assert "OPTIONS" in (r.error or "") and "超时" in (r.error or "")


async def test_dropped_connection_and_closed_port_are_unreachable(server, probe):
    r = await probe.probe("f-offline", server.url_for("f-offline"))
    assert r.status is RtspStatus.UNREACHABLE and not r.reachable
    # a port nobody listens on: bind one, close it, probe it
    holder = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = holder.sockets[0].getsockname()[1]
    holder.close()
    await holder.wait_closed()
    closed = await probe.probe("c-gone", f"rtsp://127.0.0.1:{port}/cam/c-gone")
    assert closed.status is RtspStatus.UNREACHABLE and not closed.tcp_connected


async def test_refusing_device_is_refused(server, probe):
    r = await probe.probe("f-refuse", server.url_for("f-refuse"))
    assert r.status is RtspStatus.REFUSED and "503" in (r.error or "")


async def test_a_slow_device_within_the_timeout_is_ok_and_its_latency_shows(server, probe):
    r = await probe.probe("f-slow", server.url_for("f-slow"))
    assert r.status is RtspStatus.OK
    assert r.latency_ms is not None and r.latency_ms >= 190


async def test_bad_url_is_named(probe):
    r = await probe.probe("c-x", "http://127.0.0.1:1/cam/x")
    assert r.status is RtspStatus.PROTOCOL_ERROR and "rtsp://" in (r.error or "")


# ---- one decoded frame ---------------------------------------------------------------
async def test_one_frame_is_decoded_small_and_grey(server, probe):
    r = await probe.probe("c-ok", server.url_for("c-ok"), grab_frame=True)
    assert r.status is RtspStatus.OK and r.streaming is True
    assert r.frame is not None
    assert r.frame.pixels.shape == (120, 160) and r.frame.pixels.dtype == np.uint8
    assert (r.frame.source_width, r.frame.source_height) == (320, 240)
    assert r.frame.codec == "h264" and r.frame.key_frame
    assert 40 < float(r.frame.pixels.mean()) < 200 and float(r.frame.pixels.std()) > 20


async def test_frame_through_digest_auth(server, probe):
    r = await probe.probe("c-auth", server.url_for("c-auth"), CREDS, grab_frame=True)
    assert r.status is RtspStatus.OK and r.frame is not None
    assert "Hik12345" not in r.url and "Hik12345" not in repr(r)


async def test_video_loss_is_no_video_not_a_hang(server, probe):
    impatient = RtspProbe(
        connect_timeout=TIMEOUT,
        request_timeout=TIMEOUT,
        sampler=FrameSampler(max_concurrency=1, open_timeout=1.0, read_timeout=0.8),
    )
    started = time.monotonic()
    r = await impatient.probe("f-video_loss", server.url_for("f-video_loss"), grab_frame=True)
    impatient.close()
    assert time.monotonic() - started < 3.0
    assert r.describe_ok and r.streaming is False and r.status is RtspStatus.NO_VIDEO
    assert "视频丢失" in (r.error or "")


async def test_tamper_findings_from_frames_taken_over_rtsp(server, probe):
    """The end-to-end Art. 12 path: RTSP → PyAV frame → tamper check against the reference."""
    first = await probe.probe("c-ok", server.url_for("c-ok"), grab_frame=True)
    assert first.frame is not None
    ref = confirm_reference("c-x", first.frame.pixels, "duty-operator")
    expected = {
        "c-ok2": set(),
        "c-covered": {TamperKind.COVERED},
        "c-moved": {TamperKind.MOVED},
        "c-blur": {TamperKind.BLURRED},
    }
    results = await asyncio.gather(
        *(probe.probe(cid, server.url_for(cid), grab_frame=True) for cid in expected)
    )
    for cid, r in zip(expected, results, strict=True):
        assert r.frame is not None, (cid, r.error)
        assert set(assess("c-x", r.frame.pixels, ref).kinds) == expected[cid], cid


async def test_fault_cleared_at_run_time_is_seen_on_the_next_probe(server, probe):
    server.add_camera("c-toggle", variant=4)
    server.add_fault("c-toggle", "covered")
    r1 = await probe.probe("c-toggle", server.url_for("c-toggle"), grab_frame=True)
    server.clear_fault("c-toggle")
    r2 = await probe.probe("c-toggle", server.url_for("c-toggle"), grab_frame=True)
    assert r1.frame is not None and r2.frame is not None
    assert float(r1.frame.pixels.mean()) < 20 < float(r2.frame.pixels.mean())
    with pytest.raises(ValueError):
        server.add_fault("c-toggle", "on-fire")


# ---- many cameras ---------------------------------------------------------------------
async def test_a_silent_camera_does_not_stall_the_others(server, probe):
    for i in range(40):
        server.add_camera(f"c-many-{i}", variant=4)
    patient = RtspProbe(connect_timeout=1.5, request_timeout=1.5, sampler=probe.sampler)
    silent = asyncio.create_task(patient.probe("f-silent", server.url_for("f-silent")))
    results = await asyncio.gather(
        *(probe.probe(f"c-many-{i}", server.url_for(f"c-many-{i}")) for i in range(40))
    )
    assert all(r.status is RtspStatus.OK for r in results)
    assert not silent.done()  # the 40 finished while the silent one still waits
    assert (await silent).status is RtspStatus.TIMEOUT


# ---- real clients: ffprobe / PyAV open the stream -------------------------------------
async def test_ffprobe_or_pyav_opens_the_stream(server):
    url = server.url_for("c-ok")
    ffprobe = shutil.which("ffprobe")
    if ffprobe is not None:
        proc = await asyncio.create_subprocess_exec(
            ffprobe, "-v", "error", "-rtsp_transport", "tcp", "-analyzeduration", "0",
            "-probesize", "32", "-select_streams", "v:0",
            "-show_entries", "stream=codec_name,width,height,profile", "-of", "csv=p=0", url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == "h264,Constrained Baseline,320,240"
    else:  # the product does not need ffmpeg: PyAV (bundled libav) must open it
        c = await asyncio.to_thread(av.open, url, options={"rtsp_transport": "tcp"}, timeout=5)
        stream = c.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.width) == ("h264", 320)
        c.close()


async def test_pyav_default_transport_falls_back_to_tcp(server):
    """No transport given: the client asks for UDP, gets 461 and retries over TCP."""

    def first_frame_shape() -> tuple[int, int]:
        with av.open(server.url_for("c-ok"), timeout=5, options={"probesize": "32"}) as c:
            for frame in c.decode(video=0):
                return frame.width, frame.height
        raise AssertionError("no frame")

    assert await asyncio.to_thread(first_frame_shape) == (320, 240)


# ---- pieces ---------------------------------------------------------------------------
def test_fu_a_packetisation_reassembles_to_the_same_nal_units():
    clip = clip_for(4, Picture.NORMAL)
    idr_au = clip.access_units[0]
    packets, seq = rtp_packets(idr_au, 65530, 1234, 0xABCDEF01)
    assert seq == (65530 + len(packets)) & 0xFFFF  # wraps
    assert sum(1 for p in packets if p[1] & 0x80) == 1 and packets[-1][1] & 0x80  # marker last
    nals, current = [], b""
    for p in packets:
        payload = p[12:]
        if payload[0] & 0x1F == 28:
            if payload[1] & 0x80:
                current = bytes(((payload[0] & 0xE0) | (payload[1] & 0x1F),))
            current += payload[2:]
            if payload[1] & 0x40:
                nals.append(current)
        else:
            nals.append(payload)
    assert nals == list(idr_au)
    assert max(len(p) for p in packets) <= 1412


def test_url_helpers_keep_credentials_out_of_sight():
    url = url_with_credentials("rtsp://10.1.2.3:554/Streaming/Channels/101", "ad@min", "p:w/d")
    assert url == "rtsp://ad%40min:p%3Aw%2Fd@10.1.2.3:554/Streaming/Channels/101"
    assert without_login(url) == "rtsp://…@10.1.2.3:554/Streaming/Channels/101"
    v6 = url_with_credentials("rtsp://[2001:db8::7]:8554/live", "admin", "pw")
    assert v6 == "rtsp://admin:pw@[2001:db8::7]:8554/live"  # before: brackets lost
    assert camera_id_from_url("rtsp://h:1/cam/A-01/trackID=0") == "A-01"
    assert camera_id_from_url("rtsp://h:1/Streaming/Channels/101") is None


@pytest_asyncio.fixture(loop_scope="session")
async def picky_device():
    """A stand-in camera answering DESCRIBE with three challenges: Digest SHA-256 (which we
    cannot answer), Digest MD5-sess with qop=auth and an opaque, and Basic. Only a correct
    MD5-sess answer gets the SDP; the Authorization values it saw are kept."""
    from cctv import rtsp

    seen: list[str] = []
    realm, nonce, opaque = "IPC 摄像机", "5e1f", "op-7"
    challenges = [
        f'Digest realm="{realm}", nonce="{nonce}", algorithm=SHA-256, qop="auth"',
        f'Digest realm="{realm}", nonce="{nonce}", algorithm=MD5-sess, qop="auth", '
        f'opaque="{opaque}"',
        f'Basic realm="{realm}"',
    ]

    def good(value: str, method: str) -> bool:
        d = rtsp.parse_digest(value)
        return d.get("opaque") == opaque and d.get("response") == rtsp.digest_response(
            CREDS.username, CREDS.password, realm, nonce, method, d.get("uri", ""),
            qop=d.get("qop"), nc=d.get("nc"), cnonce=d.get("cnonce"),
            algorithm=d.get("algorithm"),
        )  # fmt: skip

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (req := await rtsp.read_request(reader)) is not None:
            auth = req.headers.get("authorization")
            if req.method == "OPTIONS":
                writer.write(rtsp.format_response(req.cseq, 200, "OK", {"Public": "DESCRIBE"}))
            elif auth is not None and good(auth, req.method):
                seen.append(auth)
                sdp = b"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                writer.write(rtsp.format_response(req.cseq, 200, "OK", {}, sdp))
            else:
                seen.extend([auth] if auth else [])
                head = rtsp.format_response(req.cseq, 401, "Unauthorized")[:-2]
                extra = "".join(f"WWW-Authenticate: {c}\r\n" for c in challenges)
                writer.write(head + extra.encode() + b"\r\n")
            await writer.drain()
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield f"rtsp://127.0.0.1:{srv.sockets[0].getsockname()[1]}/Streaming/Channels/101", seen
    srv.close()
    await srv.wait_closed()


async def test_the_strongest_challenge_a_device_offers_is_answered(picky_device, probe):
    """Several WWW-Authenticate headers (common on Hikvision/Dahua): the probe skips the
    digest it cannot compute, answers MD5-sess with qop=auth and the opaque, never Basic."""
    url, seen = picky_device
    r = await probe.probe("c-picky", url, CREDS)
    assert r.status is RtspStatus.OK and r.auth_ok is True and r.codec == "H264", r.error
    assert len(seen) == 1 and seen[0].startswith("Digest ") and "algorithm=MD5-sess" in seen[0]
    wrong = await probe.probe("c-picky", url, RtspCredentials("admin", "guess"))
    assert wrong.status is RtspStatus.AUTH_FAILED and "rejected" in (wrong.error or "")


def test_sdp_codec_parsing():
    sdp = "v=0\r\nm=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n"
    assert sdp_video_codec(sdp) == "H265"
    assert sdp_video_codec("v=0\r\nm=audio 0 RTP/AVP 0\r\n") is None
    assert sdp_video_codec("m=video 0 RTP/AVP 26\r\n") == "UNKNOWN"


# ---- behind ingest's one adapter interface ------------------------------------------------
async def test_rtsp_adapter_speaks_the_device_adapter_interface(server, probe):
    from datetime import UTC, datetime

    from services.ingest.adapters.base import Credentials, DeviceAdapter, DeviceTarget
    from services.ingest.adapters.rtsp_probe import RtspAdapter

    adapter = RtspAdapter(probe, url_template="rtsp://{host}:{port}/cam/{camera_id}")
    assert isinstance(adapter, DeviceAdapter) and adapter.protocol == "rtsp"

    def target(cid: str, creds: Credentials | None = None) -> DeviceTarget:
        return DeviceTarget(cid, "rtsp", "127.0.0.1", server.port, credentials=creds)

    quick = await adapter.probe(target("c-ok"))
    assert quick.reachable and quick.error is None and quick.streaming is None
    deep = await adapter.probe(
        target("c-auth", Credentials(CREDS.username, CREDS.password)), deep=True
    )
    assert deep.healthy and deep.streaming is True and deep.auth_ok is True
    garbage = await adapter.probe(target("f-garbage"))
    assert not garbage.reachable and (garbage.error or "").startswith("protocol_error")
    refused = await adapter.probe(target("f-refuse"), deep=True)
    # a stream the device refuses cannot be used: down after DOWN_AFTER (issue 16 item 3)
    assert not refused.reachable and (refused.error or "").startswith("refused")
    now = datetime.now(UTC)
    listing = await adapter.list_segments(target("c-ok"), now, now)
    assert listing.segments == [] and "NVR" in (listing.error or "")


@pytest.mark.parametrize(
    "junk",
    [
        b"\x16\x03\x01\x02\x00 a TLS hello, not RTSP\r\n\r\n",
        b"DESCRIBE rtsp://x/cam/c-ok RTSP/1.0\r\nCSeq: 1\r\nContent-Length: lots\r\n\r\n",
        b"OPTIONS rtsp://x/cam/c-ok RTSP/1.0\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n",
    ],
    ids=["not-rtsp", "bad-content-length", "oversized-header"],
)
async def test_the_simulator_drops_a_client_that_sends_junk(server, probe, junk):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(junk)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 2) == b""  # closed, nothing answered
    writer.close()
    assert (await probe.probe("c-ok", server.url_for("c-ok"))).status is RtspStatus.OK
    assert server.stats.errors == 0, server.last_error  # refused as junk, not by accident
