"""Plug the protocol servers into the demo fleet (demo/simulator/fleet.py).

Every demo camera becomes a simulated device on its own loopback address (127.0.10.x and
up, deterministic from the sorted camera ids) at the simulator's port number, speaking its
brand's protocol: Hikvision ISAPI, Dahua HTTP API, or ONVIF for the 竞业达 exam-room
cameras. `with_device_addresses` gives ingest the same addresses for its inventory, so the
adapters reach each camera at host:port like a real one. Faults injected through the
fleet (`cctv sim break/mend`) are mirrored onto the device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from cctv.contract.events import CameraRecord

from .model import SimDevice, Vendor
from .server import DeviceServer, loopback_hosts

DEMO_LOGIN = ("admin", "sim-pass")  # the simulated devices' login (demo only)
# The demo's RTSP: one media gateway address serving every camera by path
# (rtsp://127.0.9.1:<simulator port>/cam/<camera_id>), so ingest derives it from SIM_ADDRESS
# alone and concurrent stacks (tests, `make run`) never share a port.
MEDIA_HOST = "127.0.9.1"
FIRST_HOST = 254 * 10  # loopback_hosts index: 127.0.10.1 and up, clear of 127.0.0.x
VENDOR = {"isapi": "hikvision", "dahua": "dahua", "onvif": "onvif"}
# fleet fault -> device fault; 'covered' also raises the device's own tamper alarm, as
# real cameras do (ISAPI shelteralarm, Dahua VideoBlind, ONVIF TamperDetector).
FAULT_MAP = {
    "offline": "offline",
    "slow": "slow",
    "wrong_password": "wrong_password",
    "disk_error": "disk_error",
    "video_loss": "video_loss",
    "clock_drift": "clock_drift",
    "recording_gap": "recording_gap",
    "early_overwrite": "early_overwrite",
    "deleted_segment": "deleted_segment",
    "covered": "tamper",
    "disarmed": "disarmed",
    "garbage": "garbage",
    "wrong_content_type": "wrong_content_type",
    "hang": "hang",
    "flood": "flood",
}


class _FleetLike(Protocol):
    @property
    def cameras(self) -> Mapping[str, Any]: ...

    @property
    def listeners(self) -> list[Any]: ...


def device_hosts(camera_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(camera_ids))
    return dict(zip(ids, loopback_hosts(len(ids), start=FIRST_HOST), strict=True))


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def rtsp_template(sim_address: str) -> str:
    """Where the demo simulator serves each camera's live stream (see MEDIA_HOST)."""
    return f"rtsp://{MEDIA_HOST}:{port_of(sim_address)}/cam/{{camera_id}}"


def with_device_addresses(cameras: list[CameraRecord], port: int) -> list[CameraRecord]:
    """The inventory as ingest should hold it: each camera at its simulated device."""
    hosts = device_hosts(c.camera_id for c in cameras if c.protocol in VENDOR)
    return [
        c.model_copy(update={"address": f"{hosts[c.camera_id]}:{port}"})
        if c.camera_id in hosts
        else c
        for c in cameras
    ]


def build_devices(cameras: list[CameraRecord], port: int) -> dict[str, SimDevice]:
    """camera_id -> its device; the device answers on the camera's channel number."""
    hosts = device_hosts(c.camera_id for c in cameras if c.protocol in VENDOR)
    out: dict[str, SimDevice] = {}
    for cam in cameras:
        if cam.camera_id not in hosts:
            continue
        vendor: Vendor = VENDOR[cam.protocol]  # type: ignore[assignment]
        dev = SimDevice(
            cam.camera_id,
            vendor,
            hosts[cam.camera_id],
            port,
            username=DEMO_LOGIN[0],
            password=DEMO_LOGIN[1],
            stream_uri=f"rtsp://{MEDIA_HOST}:{port}/cam/{cam.camera_id}",
        )
        ch = cam.channel or 1
        dev.chan = {ch: dev.chan[1]}
        out[cam.camera_id] = dev
    return out


class FaultMirror:
    """Keeps each device's faults equal to its camera's faults in the fleet."""

    def __init__(self, devices: dict[str, SimDevice]) -> None:
        self.devices = devices
        self.applied: dict[str, set[str]] = {}

    def __call__(self, camera_id: str, faults: set[str]) -> None:
        dev = self.devices.get(camera_id)
        if dev is None:
            return
        wanted = {FAULT_MAP[f] for f in faults if f in FAULT_MAP}
        before = self.applied.get(camera_id, set())
        for name in before - wanted:
            dev.apply_fault(name, False)
        for name in wanted - before:
            dev.apply_fault(name, True)
        self.applied[camera_id] = wanted


async def serve_fleet_devices(fleet: _FleetLike, port: int) -> DeviceServer:
    """Start the protocol servers for every fleet camera and follow its faults."""
    records = [getattr(c, "record") for c in fleet.cameras.values()]  # noqa: B009
    devices = build_devices(records, port)
    server = DeviceServer(devices.values())
    await server.start()
    mirror = FaultMirror(devices)
    for cid, cam in fleet.cameras.items():
        faults: set[str] = set(getattr(cam, "faults", ()))
        if faults:
            mirror(cid, set(faults))
    fleet.listeners.append(mirror)
    return server
