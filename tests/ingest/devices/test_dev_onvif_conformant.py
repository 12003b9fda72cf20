"""Issue 16: an ONVIF camera read as the standard says, and devices that cannot be read.

Stand-ins speak over real sockets: a conformant ONVIF device (WS-Security on every call,
its stream at a path and port no vendor guess would find, no event service), a plain RTSP
server behind it, and HTTP endpoints that answer garbage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from demo.simulator.devices import DeviceServer, SimDevice
from demo.simulator.rtsp_server import RtspServer
from services.ingest.adapters.base import Credentials, DeviceTarget
from services.ingest.adapters.onvif import OnvifAdapter
from services.ingest.adapters.rtsp_probe import RtspProbe

CREDS = Credentials("admin", "sim-pass")


@pytest.fixture
async def rtsp() -> AsyncIterator[RtspServer]:
    server = RtspServer()
    await server.start()
    yield server
    await server.stop()


async def test_conformant_onvif_camera_streams_discovered_no_events_assumed(
    rtsp: RtspServer,
) -> None:
    rtsp.add_camera("OV-STD")
    dev = SimDevice("OV-STD", "onvif", "127.0.0.1", 0, channels=2, events=False,
                    wsse_always=True,
                    stream_uri=f"rtsp://127.0.0.1:{rtsp.port}/cam/OV-STD")  # fmt: skip
    async with DeviceServer([dev]):
        adapter = OnvifAdapter(timeout_s=2.0, stream_check=RtspProbe())
        target = DeviceTarget("OV-STD", "onvif", dev.host, dev.port, 2, CREDS, brand="onvif")
        try:
            first = await adapter.probe(target, deep=True)
            again = await adapter.probe(target)
        finally:
            await adapter.close()
    assert first.error is None, first.error
    assert first.reachable and first.auth_ok and first.clock_offset_s is not None
    # the stream the device announced for channel 2 (its second video source), not a guess
    assert adapter.discovered("OV-STD") == f"rtsp://127.0.0.1:{rtsp.port}/cam/OV-STD"
    assert first.streaming is True  # RTSP DESCRIBE at the discovered stream answered
    # no event service advertised: alarms not measured, and no error on every sample
    assert first.alarms is None and again.alarms is None and again.error is None


async def test_wrong_password_on_a_strict_onvif_device_is_an_auth_failure() -> None:
    dev = SimDevice("OV-PW", "onvif", "127.0.0.1", 0, wsse_always=True)
    async with DeviceServer([dev]):
        adapter = OnvifAdapter(timeout_s=2.0)
        try:
            r = await adapter.probe(
                DeviceTarget("OV-PW", "onvif", dev.host, dev.port, 1, Credentials("admin", "x"))
            )
        finally:
            await adapter.close()
    assert r.reachable and r.auth_ok is False and (r.error or "").startswith("auth:")


CLOCK_2099_13 = (
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/'
    'schema"><s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:UTCDateTime>'
    "<tt:Time><tt:Hour>25</tt:Hour><tt:Minute>0</tt:Minute><tt:Second>0</tt:Second></tt:Time>"
    "<tt:Date><tt:Year>2099</tt:Year><tt:Month>13</tt:Month><tt:Day>40</tt:Day></tt:Date>"
    "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></s:Body>"
    "</s:Envelope>"
)
SOAP = "application/soap+xml"
Answer = Callable[[], web.Response]
BAD_DEVICES: dict[str, tuple[Answer, str]] = {
    "random bytes": (
        lambda: web.Response(body=b"\x8f\x00garbage\xff" * 50, content_type=SOAP),
        "malformed XML",
    ),
    "html login": (
        lambda: web.Response(text="<html><body>Login</body></html>", content_type="text/html"),
        "an HTML page",
    ),
    "http 500": (lambda: web.Response(status=500, content_type=SOAP), "HTTP 500"),
    "empty": (lambda: web.Response(body=b"", content_type=SOAP), "empty body"),
    "truncated": (
        lambda: web.Response(text=CLOCK_2099_13[:150], content_type=SOAP),
        "malformed XML",
    ),
    "impossible date": (
        lambda: web.Response(text=CLOCK_2099_13, content_type=SOAP),
        "impossible time",
    ),
    "64 MiB": (
        lambda: web.Response(body=b"<a>" + b" " * (64 << 20), content_type=SOAP),
        "larger than",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_DEVICES))
async def test_unreadable_onvif_devices_are_down_with_a_reason_in_words(kind: str) -> None:
    answer, words = BAD_DEVICES[kind]

    async def handle(_request: web.Request) -> web.Response:
        return answer()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    adapter = OnvifAdapter(timeout_s=15.0)  # the size limit, not the clock, must end 64 MiB
    try:
        r = await adapter.probe(DeviceTarget("OV-BAD", "onvif", "127.0.0.1", port, 1, CREDS))
    finally:
        await adapter.close()
        await runner.cleanup()
    assert r.reachable is False, r  # health counts it down after DOWN_AFTER samples
    assert r.error and r.error.startswith("bad_response:") and words in r.error, r.error
    assert "NoneType" not in r.error and "getroottree" not in r.error


async def test_a_camera_known_by_its_recorders_channel_number_finds_its_stream() -> None:
    """An exam-room camera is channel 29 of its NVR but a single video source on its own
    device (VideoSource_29): its profile is found by the number, and a camera whose stream
    cannot be found is still up (its frame check says why), never an outage."""
    dev = SimDevice("EXAM-029", "onvif", "127.0.0.1", 0)
    dev.chan = {29: dev.chan[1]}  # as the demo bridge builds it
    lonely = SimDevice("EXAM-030", "onvif", "127.0.0.1", 0, channels=2)
    async with DeviceServer([dev, lonely]):
        adapter = OnvifAdapter(timeout_s=2.0)
        try:
            r = await adapter.probe(
                DeviceTarget("EXAM-029", "onvif", dev.host, dev.port, 29, CREDS)
            )
            other = await adapter.probe(
                DeviceTarget("EXAM-030", "onvif", lonely.host, lonely.port, 7, CREDS)
            )
        finally:
            await adapter.close()
    assert r.error is None and r.reachable, r.error
    assert adapter.discovered("EXAM-029") == "rtsp://127.0.0.1:8554/onvif/media/ch29/main"
    assert other.reachable and other.error is None
    assert "no media profile for channel 7" in adapter.discovery_errors["EXAM-030"]
