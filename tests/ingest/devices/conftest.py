"""A simulated estate (one Hikvision NVR, one Dahua NVR, one ONVIF camera) on free ports,
and the adapters that talk to it over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from demo.simulator.devices import DeviceServer, SimDevice
from services.ingest.adapters import DahuaAdapter, IsapiAdapter, OnvifAdapter
from services.ingest.adapters.base import Credentials, DeviceTarget
from services.ingest.adapters.http import DeviceHttp, HttpSettings

CREDS = Credentials("admin", "sim-pass")


@dataclass
class Estate:
    server: DeviceServer
    hik: SimDevice
    dahua: SimDevice
    onvif: SimDevice
    http: DeviceHttp
    isapi: IsapiAdapter
    dh: DahuaAdapter
    ov: OnvifAdapter

    def target(
        self, dev: SimDevice, channel: int = 1, creds: Credentials | None = CREDS
    ) -> DeviceTarget:
        proto = {"hikvision": "isapi", "dahua": "dahua", "onvif": "onvif"}[dev.vendor]
        return DeviceTarget(
            f"{dev.device_id}-c{channel}", proto, dev.host, dev.port, channel, creds
        )


@pytest.fixture
async def estate() -> AsyncIterator[Estate]:
    hik = SimDevice("nvr-hik", "hikvision", "127.0.0.1", 0, channels=4)
    dh = SimDevice("nvr-dahua", "dahua", "127.0.0.1", 0, channels=4)
    ov = SimDevice("ipc-onvif", "onvif", "127.0.0.1", 0)
    server = DeviceServer([hik, dh, ov], heartbeat_s=0.5)
    await server.start()
    http = DeviceHttp(HttpSettings(connect_timeout_s=1.0, read_timeout_s=1.0))
    est = Estate(
        server,
        hik,
        dh,
        ov,
        http,
        IsapiAdapter(http),
        DahuaAdapter(http),
        OnvifAdapter(timeout_s=1.0),
    )
    yield est
    await est.ov.close()
    await http.close()
    await server.stop()
