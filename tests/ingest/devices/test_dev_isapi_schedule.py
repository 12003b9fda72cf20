"""Hikvision Art. 12 arming is the record track enabled, its schedule switched on, and a
schedule action covering now (campus time) that records continuously — over real sockets
against the strict simulator, and the parser on answers shaped like the devices'."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cctv.contract.campustime import to_campus
from services.ingest.adapters.base import BadResponse
from services.ingest.adapters.hikvision import parse_track_armed
from tests.ingest.devices.schedule_times import (
    TUE_1000,
)

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
