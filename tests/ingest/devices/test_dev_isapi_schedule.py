"""Hikvision Art. 12 arming is the record track enabled, its schedule switched on, and a
schedule action covering now (campus time) that records continuously — over real sockets
against the strict simulator, and the parser on answers shaped like the devices'."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cctv.contract.campustime import to_campus
from services.ingest.adapters.base import BadResponse
from services.ingest.adapters.hikvision import parse_track_armed
from tests.ingest.devices.conftest import Estate
from tests.ingest.devices.schedule_times import (
    NIGHT,
    OFFICE,
    SAT_2300,
    SUN_0130,
    SUN_0700,
    TUE_1000,
)


async def test_a_track_recording_now_is_armed(estate: Estate) -> None:
    result = await estate.isapi.probe(estate.target(estate.hik, 1), deep=True)
    assert result.armed is True
    assert result.armed_reason and "continuous recording" in result.armed_reason
    assert result.to_sample().armed_reason == result.armed_reason


async def test_an_enabled_track_with_an_empty_schedule_is_not_armed(estate: Estate) -> None:
    """Enable and enableSchedule true, and no action: nothing records."""
    estate.hik.chan[2].schedule = ()
    result = await estate.isapi.probe(estate.target(estate.hik, 2), deep=True)
    assert result.armed is False
    assert result.armed_reason and "empty all week" in result.armed_reason
    assert result.reachable and result.error is None


async def test_a_track_schedule_that_excludes_now_is_not_armed(estate: Estate) -> None:
    estate.hik.chan[3].schedule = OFFICE
    target = estate.target(estate.hik, 3)
    weekend = await estate.isapi.arming(target, at=SAT_2300)
    office = await estate.isapi.arming(target, at=TUE_1000)
    assert (weekend.armed, office.armed) == (False, True)
    assert "excludes 周六 Sat 23:00" in weekend.reason
    assert "周二 Tue 08:00-18:00 CMR" in office.reason


async def test_the_campus_day_decides_across_midnight(estate: Estate) -> None:
    channel = estate.hik.chan[4]
    channel.schedule = NIGHT
    target = estate.target(estate.hik, 4)
    night = await estate.isapi.arming(target, at=SAT_2300)
    after = await estate.isapi.arming(target, at=SUN_0130)
    morning = await estate.isapi.arming(target, at=SUN_0700)
    assert (night.armed, after.armed, morning.armed) == (True, True, False)
    channel.schedule = NIGHT[:1]
    assert (await estate.isapi.arming(target, at=SUN_0130)).armed is False
    assert "周日 Sun 00:00-06:00" in after.reason


# --- the parser --------------------------------------------------------------------------


def _action(day: str, start: str, end: str, record: str = "true", mode: str = "CMR") -> str:
    return (
        f"<ScheduleAction><id>1</id><ScheduleActionStartTime><DayOfWeek>{day}</DayOfWeek>"
        f"<TimeOfDay>{start}</TimeOfDay></ScheduleActionStartTime><ScheduleActionEndTime>"
        f"<DayOfWeek>{day}</DayOfWeek><TimeOfDay>{end}</TimeOfDay></ScheduleActionEndTime>"
        f"<Actions><Record>{record}</Record><ActionRecordingMode>{mode}</ActionRecordingMode>"
        "</Actions></ScheduleAction>"
    )


def _track(
    actions: str = _action("Tuesday", "00:00:00", "24:00:00"),
    enable: str = "true",
    schedule: str = "true",
    tid: int = 101,
) -> bytes:
    return (
        f"<Track><id>{tid}</id><Enable>{enable}</Enable><TrackSchedule><ScheduleBlockList>"
        f"<ScheduleBlock>{actions}</ScheduleBlock></ScheduleBlockList></TrackSchedule>"
        "<CustomExtensionList><CustomExtension>"
        f"<enableSchedule>{schedule}</enableSchedule></CustomExtension></CustomExtensionList>"
        "</Track>"
    ).encode()


TUESDAY = to_campus(TUE_1000)


def test_track_armed_needs_enable_schedule_and_an_action_now() -> None:
    assert parse_track_armed(_track(), 101, TUESDAY).armed is True
    off = parse_track_armed(_track(schedule="false"), 101, TUESDAY)
    assert off.armed is False and "enableSchedule=false" in off.reason
    assert parse_track_armed(_track(enable="false"), 101, TUESDAY).armed is False
    empty = parse_track_armed(_track(actions=""), 101, TUESDAY)
    assert empty.armed is False and "empty all week" in empty.reason


def test_an_action_that_does_not_record_does_not_arm() -> None:
    """The record switch of the action decides, not its span."""
    got = parse_track_armed(
        _track(_action("Tuesday", "00:00:00", "24:00:00", "false")), 101, TUESDAY
    )
    assert got.armed is False


def test_event_recording_now_is_not_judged() -> None:
    got = parse_track_armed(
        _track(_action("Tuesday", "00:00:00", "24:00:00", mode="MOTION")), 101, TUESDAY
    )
    assert got.armed is None and "only on events" in got.reason


def test_an_action_over_the_weeks_end_covers_both_sides() -> None:
    span = (
        "<ScheduleAction><id>1</id><ScheduleActionStartTime><DayOfWeek>Sunday</DayOfWeek>"
        "<TimeOfDay>22:00:00</TimeOfDay></ScheduleActionStartTime><ScheduleActionEndTime>"
        "<DayOfWeek>Monday</DayOfWeek><TimeOfDay>06:00:00</TimeOfDay></ScheduleActionEndTime>"
        "<Actions><Record>true</Record><ActionRecordingMode>CMR</ActionRecordingMode>"
        "</Actions></ScheduleAction>"
    )
    sunday_night = datetime(2026, 12, 6, 15, 30, tzinfo=UTC)  # Sunday 23:30 campus
    monday_early = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)  # Monday 04:00 campus
    monday_noon = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # Monday 12:00 campus
    times = (sunday_night, monday_early, monday_noon)
    got = [parse_track_armed(_track(span), 101, to_campus(t)).armed for t in times]
    assert got == [True, True, False]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (_track(enable="yes"), "Enable must be true or false"),
        (_track(tid=201), "answered for track '201'"),
        (_track(_action("Tue", "00:00:00", "24:00:00")), "DayOfWeek 'Tue' is not a day name"),
        (_track(_action("Tuesday", "8:00", "18:00:00")), "is not HH:MM:SS"),
        (_track(_action("Tuesday", "24:30:00", "24:40:00")), "impossible time of day"),
        (_track(_action("Tuesday", "00:00:00", "24:00:00", "yes")), "Record must be true"),
    ],
)
def test_track_answers_that_cannot_be_read_are_refused(body: bytes, match: str) -> None:
    with pytest.raises(BadResponse, match=match):
        parse_track_armed(body, 101, TUESDAY)
