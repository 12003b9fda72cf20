"""Both vendors' recorders are armed only where their record schedule covers now, campus
time (Art. 12): the same cases over real sockets against the Dahua and Hikvision stand-ins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.ingest.devices.conftest import Estate
from tests.ingest.devices.schedule_times import (
    NIGHT,
    OFFICE,
    SAT_2300,
    SUN_0130,
    SUN_0700,
    TUE_1000,
)


@dataclass
class Vendor:
    adapter: Any
    device: Any
    recording: str  # the words a reason uses for a schedule that records now
    office_reason: str


@pytest.fixture(params=["dahua", "hikvision"])
def vendor(request: pytest.FixtureRequest, estate: Estate) -> Vendor:
    if request.param == "dahua":
        return Vendor(estate.dh, estate.dahua, "regular recording", "周二 Tue 08:00-18:00")
    return Vendor(estate.isapi, estate.hik, "continuous recording", "周二 Tue 08:00-18:00 CMR")


async def test_a_schedule_covering_now_is_armed(estate: Estate, vendor: Vendor) -> None:
    """The simulated channels record all week (the devices' own 24:00:00 end)."""
    result = await vendor.adapter.probe(estate.target(vendor.device, 1), deep=True)
    assert result.armed is True
    assert result.armed_reason and vendor.recording in result.armed_reason
    assert result.to_sample().armed_reason == result.armed_reason


async def test_an_empty_schedule_is_not_armed_with_the_reason(
    estate: Estate, vendor: Vendor
) -> None:
    """Enabled, and nothing in the week records (Dahua keeps all six sections of a day as
    `0 00:00:00-24:00:00`; Hikvision a block with no action)."""
    vendor.device.chan[2].schedule = ()
    result = await vendor.adapter.probe(estate.target(vendor.device, 2), deep=True)
    assert result.armed is False
    assert result.armed_reason and "empty all week" in result.armed_reason
    assert result.reachable and result.error is None  # not armed is no outage
    sample = result.to_sample()
    assert (sample.armed, sample.armed_reason) == (False, result.armed_reason)


async def test_a_schedule_that_excludes_now_is_not_armed(estate: Estate, vendor: Vendor) -> None:
    vendor.device.chan[3].schedule = OFFICE
    target = estate.target(vendor.device, 3)
    weekend = await vendor.adapter.arming(target, at=SAT_2300)
    office = await vendor.adapter.arming(target, at=TUE_1000)
    assert (weekend.armed, office.armed) == (False, True)
    assert "excludes 周六 Sat 23:00" in weekend.reason and "today: none" in weekend.reason
    assert vendor.office_reason in office.reason


async def test_the_campus_day_decides_across_midnight(estate: Estate, vendor: Vendor) -> None:
    """Saturday 22:00 to Sunday 06:00 is two sections. At 17:30 UTC it is Saturday in UTC but
    Sunday 01:30 on campus: Sunday's section is the one that arms it."""
    channel = vendor.device.chan[4]
    channel.schedule = NIGHT
    target = estate.target(vendor.device, 4)
    night = await vendor.adapter.arming(target, at=SAT_2300)
    after = await vendor.adapter.arming(target, at=SUN_0130)
    morning = await vendor.adapter.arming(target, at=SUN_0700)
    assert (night.armed, after.armed, morning.armed) == (True, True, False)
    channel.schedule = NIGHT[:1]  # Saturday night only: over at midnight, campus time
    assert (await vendor.adapter.arming(target, at=SUN_0130)).armed is False
    assert "周日 Sun 00:00-06:00" in after.reason
    assert "excludes 周日 Sun 07:00" in morning.reason
