"""Every fault `cctv sim break` offers, on the demo bridge (each camera its own device over
ISAPI / Dahua HTTP, RTSP with the demo login), shows in what ingest measures — real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio

from cctv.contract import CameraRecord
from demo.simulator.devices import free_port
from demo.simulator.devices.bridge import DEMO_LOGIN, serve_fleet_devices, with_device_addresses
from demo.simulator.devices.server import DeviceServer
from demo.simulator.fleet import FAULTS, Fleet
from demo.simulator.rtsp_server import RtspServer, serve_fleet
from services.ingest.adapters.base import Credentials
from services.ingest.adapters.credentials import CredentialResolver
from services.ingest.adapters.rtsp_probe import RtspCredentials, RtspProbe, RtspStatus
from services.ingest.adapters.wiring import DeviceProbes
from services.ingest.frames import FrameSampler
from services.ingest.settings import IngestSettings
from services.ingest.tamper import TamperKind, assess, confirm_reference

ISSUE_FAULTS = {
    "offline", "slow", "wrong_password", "disk_error", "video_loss", "clock_drift", "covered",
    "moved", "blur", "recording_gap", "early_overwrite", "deleted_segment",
}  # fmt: skip


def camera(cid: str, brand: str, protocol: str) -> CameraRecord:
    return CameraRecord(
        camera_id=cid, name="综合楼走廊", system_id="A1-07", department="logistics",
        managing_department="logistics", category="public_safety", building="综合楼",
        position="3楼走廊东", zone="教学区", brand=brand, protocol=protocol,  # type: ignore[arg-type]
        address="127.0.0.1:1", channel=1,
    )  # fmt: skip


@dataclass
class Demo:
    fleet: Fleet
    at: dict[str, CameraRecord]
    probes: DeviceProbes
    rtsp: RtspServer
    rtsp_probe: RtspProbe
    devices: DeviceServer


@pytest_asyncio.fixture
async def demo() -> AsyncIterator[Demo]:
    cams = [camera("SF-HIK", "hikvision", "isapi"), camera("SF-DH", "dahua", "dahua")]
    fleet = Fleet(cams)
    port = free_port()
    devices = await serve_fleet_devices(fleet, port)
    rtsp = await serve_fleet(fleet, "127.0.0.1", 0, username=DEMO_LOGIN[0], password=DEMO_LOGIN[1])
    settings = IngestSettings(
        deep_probe_every=1, device_connect_timeout_s=1.0, device_read_timeout_s=1.0
    )
    probes = DeviceProbes(settings, CredentialResolver(Path("/none")), Credentials(*DEMO_LOGIN))
    rtsp_probe = RtspProbe(
        connect_timeout=1.0,
        request_timeout=1.0,
        sampler=FrameSampler(open_timeout=4.0, read_timeout=3.0),
    )
    at = {c.camera_id: c for c in with_device_addresses(cams, port)}
    try:
        yield Demo(fleet, at, probes, rtsp, rtsp_probe, devices)
    finally:
        rtsp_probe.close()
        await probes.close()
        await rtsp.stop()
        await devices.stop()


def test_cctv_sim_offers_every_fault_of_the_issue() -> None:
    assert ISSUE_FAULTS <= set(FAULTS)


async def test_device_faults_show_in_the_samples(demo: Demo) -> None:
    hik, dh = demo.at["SF-HIK"], demo.at["SF-DH"]
    for cam in (hik, dh):
        s = await demo.probes.probe(cam)
        assert s.error is None and s.recording is True, s

    async def broken(cam: CameraRecord, fault: str):  # type: ignore[no-untyped-def]
        demo.fleet.break_(cam.camera_id, fault)
        try:
            return await demo.probes.probe(cam)
        finally:
            demo.fleet.mend(cam.camera_id)

    for cam in (hik, dh):
        s = await broken(cam, "offline")
        assert s.reachable is False and s.error and s.error.startswith("unreachable")
        s = await broken(cam, "slow")  # 2 s per answer against a 1 s read timeout
        assert s.reachable is False and s.error and s.error.startswith("timeout")
        s = await broken(cam, "wrong_password")
        assert (s.reachable, s.auth_ok) == (True, False) and s.error and "auth" in s.error
        assert (await broken(cam, "disk_error")).disk_state == "error"
        assert (await broken(cam, "video_loss")).streaming is False
        s = await broken(cam, "clock_drift")
        assert s.clock_offset_s is not None and 295 < s.clock_offset_s < 305
        assert (await broken(cam, "recording_gap")).recording is False
        s = await broken(cam, "garbage")
        assert not s.reachable and s.error and s.error.startswith("bad_response")
        s = await broken(cam, "wrong_content_type")
        assert s.error and "wrong content type" in s.error
        s = await broken(cam, "hang")
        assert s.reachable is False and s.error and s.error.startswith("timeout")
        assert (await demo.probes.probe(cam)).error is None  # mended
    # the Dahua device's own alarms ride on the sample
    assert (await broken(dh, "covered")).device_alarms == ["tamper"]
    assert (await broken(dh, "video_loss")).device_alarms == ["video_loss"]
    assert (await demo.probes.probe(dh)).device_alarms == []


async def test_recorder_faults_show_in_the_listing(demo: Demo) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(days=32)
    for cam in (demo.at["SF-HIK"], demo.at["SF-DH"]):
        adapter = demo.probes.adapters[cam.protocol]
        target = demo.probes.target(cam)
        before = await adapter.list_segments(target, start, now)
        assert before.error is None and before.segments[0].start < now - timedelta(days=30)

        demo.fleet.break_(cam.camera_id, "early_overwrite")  # keeps 7 days only
        short = await adapter.list_segments(target, start, now)
        assert now - timedelta(days=7, hours=1) < short.segments[0].start
        demo.fleet.mend(cam.camera_id)

        demo.fleet.break_(cam.camera_id, "deleted_segment")  # one segment 3 days old
        after = await adapter.list_segments(target, start, now)
        gone = {s.start for s in before.segments} - {s.start for s in after.segments}
        assert len(gone) == 1 and abs((now - gone.pop()) - timedelta(days=3)) < timedelta(hours=1)
        demo.fleet.mend(cam.camera_id)

        demo.fleet.break_(cam.camera_id, "flood")  # one-second segments: millions
        flood = await adapter.list_segments(target, now - timedelta(days=1), now, limit=300)
        assert flood.truncated and len(flood.segments) == 300
        demo.fleet.mend(cam.camera_id)


async def test_picture_and_stream_faults_show_over_rtsp(demo: Demo) -> None:
    cid = "SF-HIK"
    url = demo.rtsp.url_for(cid)
    creds = RtspCredentials(*DEMO_LOGIN)

    async def grab(fault: str | None = None):  # type: ignore[no-untyped-def]
        if fault:
            demo.fleet.break_(cid, fault)
        try:
            return await demo.rtsp_probe.probe(cid, url, creds, grab_frame=True)
        finally:
            if fault:
                demo.fleet.mend(cid)

    clean = await grab()
    assert clean.status is RtspStatus.OK and clean.frame is not None, clean.error
    ref = confirm_reference(cid, clean.frame.pixels, "duty-chen")
    for fault, kind in (("covered", "covered"), ("moved", "moved"), ("blur", "blurred")):
        r = await grab(fault)
        assert r.frame is not None, r.error
        assert assess(cid, r.frame.pixels, ref).kinds == {TamperKind(kind)}
    no_login = await demo.rtsp_probe.probe(cid, url, None)
    assert no_login.status is RtspStatus.AUTH_FAILED  # the demo streams ask for the login
    expected = {
        "offline": RtspStatus.UNREACHABLE,
        "wrong_password": RtspStatus.AUTH_FAILED,
        "video_loss": RtspStatus.NO_VIDEO,
        "garbage": RtspStatus.PROTOCOL_ERROR,
        "hang": RtspStatus.TIMEOUT,
    }
    results = {f: (await grab(f)).status for f in expected}
    assert results == expected
    assert (await asyncio.wait_for(grab(), 10)).status is RtspStatus.OK
