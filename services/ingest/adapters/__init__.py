"""Device protocol adapters behind one interface (`DeviceAdapter`).

`build_adapters()` gives ingest one adapter per protocol sharing one HTTP connection pool:
ISAPI, Dahua, ONVIF, and RTSP (OPTIONS + DESCRIBE; a deep probe decodes one frame) for
cameras with no vendor API.
"""

from __future__ import annotations

from .base import (
    Credentials,
    DeviceAdapter,
    DeviceEvent,
    DeviceTarget,
    ProbeResult,
    Segment,
    SegmentListing,
)
from .dahua import DahuaAdapter
from .hikvision import IsapiAdapter
from .http import DeviceHttp, HttpSettings
from .onvif import OnvifAdapter


def build_adapters(
    http: DeviceHttp | None = None,
    settings: HttpSettings | None = None,
) -> dict[str, DeviceAdapter]:
    """protocol -> adapter, for the protocols this package speaks."""
    from .rtsp_probe import RtspAdapter, RtspProbe

    http = http or DeviceHttp(settings)
    timeout = (settings or http.settings).read_timeout_s
    connect = (settings or http.settings).connect_timeout_s
    rtsp = RtspProbe(connect_timeout=connect, request_timeout=timeout)
    return {
        "isapi": IsapiAdapter(http),
        "dahua": DahuaAdapter(http),
        "onvif": OnvifAdapter(timeout_s=timeout, http=http, stream_check=rtsp),
        "rtsp": RtspAdapter(rtsp),
    }


__all__ = [
    "Credentials",
    "DahuaAdapter",
    "DeviceAdapter",
    "DeviceEvent",
    "DeviceHttp",
    "DeviceTarget",
    "HttpSettings",
    "IsapiAdapter",
    "OnvifAdapter",
    "ProbeResult",
    "Segment",
    "SegmentListing",
    "build_adapters",
]
