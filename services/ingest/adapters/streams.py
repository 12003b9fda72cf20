"""Where a camera's live stream is, decided in one place for the probes and the tamper watch.

Why an order: an explicit `stream_url` in the inventory wins (the operator knows best); an
ONVIF camera's stream is what the device itself said in GetStreamUri; a plain RTSP camera is
read at its own inventory address and port; a vendor API camera at its maker's usual path on
the RTSP port. No camera is ever read at another device's address (issue 16 item 1).
"""

from __future__ import annotations

from collections.abc import Callable

from cctv.contract import CameraRecord

from .base import split_address

RTSP_PORT = 554
Discovered = Callable[[str], str | None]  # camera_id -> stream URI the device announced


def vendor_path(brand: str, channel: int) -> str | None:
    """The maker's usual main-stream path; None when the maker has no fixed one."""
    if brand == "dahua":
        return f"/cam/realmonitor?channel={channel}&subtype=0"
    if brand in ("hikvision", "jingyeda"):  # 竞业达 exam rooms run on Hikvision-compatible NVRs
        return f"/Streaming/Channels/{channel}01"
    return None


def stream_url(camera: CameraRecord, discovered: Discovered | None = None) -> str | None:
    """The camera's RTSP URL (without credentials), or None when nothing says where it is."""
    if camera.stream_url:
        return camera.stream_url
    if camera.protocol == "onvif":
        found = discovered(camera.camera_id) if discovered is not None else None
        if found:
            return found
    channel = camera.channel or 1
    if camera.protocol == "rtsp":
        host, port = split_address(camera.address, default_port=RTSP_PORT)
        path = vendor_path(camera.brand, channel) or "/"
        return f"rtsp://{_netloc(host, port)}{path}"
    host, _ = split_address(camera.address, default_port=80)
    vendor = vendor_path(camera.brand, channel)
    return None if vendor is None else f"rtsp://{_netloc(host, RTSP_PORT)}{vendor}"


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
