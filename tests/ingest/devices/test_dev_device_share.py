"""A recorder's own facts (its disks, its channels with video loss) are read once for all its
cameras within the share window (issue 9: at 5,000 cameras on 64-channel recorders each NVR's
disks were read 64 times a period)."""

from __future__ import annotations

from services.ingest.adapters import DahuaAdapter, IsapiAdapter
from services.ingest.adapters.http import DeviceHttp, HttpSettings
from tests.ingest.devices.conftest import Estate


async def test_a_recorders_disks_are_read_once_for_its_cameras(estate: Estate) -> None:
    shared = DeviceHttp(HttpSettings(connect_timeout_s=1.0, read_timeout_s=1.0,
                                     device_share_s=60.0))  # fmt: skip
    try:
        for adapter, dev in (
            (IsapiAdapter(shared), estate.hik),
            (DahuaAdapter(shared), estate.dahua),
        ):
            assert (await adapter.probe(estate.target(dev, 1))).disk_state == "ok"
            dev.faults.disk_error = True
            # channel 2 within the window: its recorder's disks as channel 1's probe read them
            second = await adapter.probe(estate.target(dev, 2))
            assert second.reachable and second.disk_state == "ok"
            # without sharing (the default) each camera reads them itself: the change shows
            alone = IsapiAdapter(estate.http) if dev is estate.hik else estate.dh
            assert (await alone.probe(estate.target(dev, 3))).disk_state == "error"
            dev.faults.disk_error = False
    finally:
        await shared.close()
