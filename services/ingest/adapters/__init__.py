"""Device protocol adapters behind one interface (`DeviceAdapter`).

`build_adapters()` gives ingest one adapter per protocol sharing one HTTP connection pool.
RTSP lives beside these (adapters/rtsp*.py) and is wired by its own module.
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


def build_adapters(http: DeviceHttp | None = None,
                   settings: HttpSettings | None = None) -> dict[str, DeviceAdapter]:
    """protocol -> adapter, for the protocols this package speaks."""
    http = http or DeviceHttp(settings)
    return {
        "isapi": IsapiAdapter(http),
        "dahua": DahuaAdapter(http),
        "onvif": OnvifAdapter(timeout_s=(settings or http.settings).read_timeout_s),
    }


__all__ = [
    "Credentials", "DahuaAdapter", "DeviceAdapter", "DeviceEvent", "DeviceHttp",
    "DeviceTarget", "HttpSettings", "IsapiAdapter", "OnvifAdapter", "ProbeResult", "Segment",
    "SegmentListing", "build_adapters",
]
