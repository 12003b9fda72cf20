"""Dahua Art. 12 arming is the channel recording on its own schedule now: RecordMode, the
Record time sections (a mask first), and the motion alarm's time sections (a 1/0 switch
first) where motion recording is what covers now — over real sockets against the strict
simulator, and the parsers on answers shaped like the devices'. Day 0 is Sunday; "now" is
the devices' wall clock, campus time (UTC+8)."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.ingest.adapters.base import Arming, BadResponse
from services.ingest.adapters.dahua import (
    CHINA_TZ,
    parse_motion_armed,
    parse_record_mode,
    parse_record_week,
    record_arming,
)
from tests.ingest.devices.conftest import Estate
from tests.ingest.devices.schedule_times import (
    SAT_2300,
    TUE_1000,
)


async def test_an_unreadable_schedule_is_the_third_answer(estate: Estate) -> None:
    """A device that will not give its record schedule (an IPC without storage answers
    `Error`): not measured, with why — neither armed nor a not_armed fault, nor down."""
    estate.dahua.configs_missing = frozenset({"Record"})
    result = await estate.dh.probe(estate.target(estate.dahua, 1), deep=True)
    assert result.armed is None
    assert result.armed_reason and "arming unreadable" in result.armed_reason
    assert "Record" in result.armed_reason
    assert result.reachable and result.error is None
    assert result.to_sample().armed is None


async def test_motion_recording_arms_only_with_the_motion_alarm_armed(estate: Estate) -> None:
    channel, target = estate.dahua.chan[2], estate.target(estate.dahua, 2)
    channel.record_mask = 2  # the sections record on motion only
    on = await estate.dh.arming(target, at=TUE_1000)
    channel.motion_alarm = False
    off = await estate.dh.arming(target, at=TUE_1000)
    channel.record_mask = 4  # alarm inputs only: whether they fire is not in reach
    alarm = await estate.dh.arming(target, at=TUE_1000)
    assert (on.armed, off.armed, alarm.armed) == (True, False, None)
    assert "motion" in on.reason and "motion detection off" in off.reason
    assert "alarm or card events" in alarm.reason


# --- the parsers, on answers shaped like the devices' -------------------------------------


def _week(table: str, sections: dict[int, list[str]], index: int = 0) -> list[str]:
    """Seven days of six sections; unused ones as the devices keep them."""
    key = f"table.{table}[{index}]" + (".EventHandler" if table == "MotionDetect" else "")
    lines = []
    for day in range(7):
        spans = sections.get(day, []) + ["0 00:00:00-24:00:00"] * 6
        lines += [f"{key}.TimeSection[{day}][{n}]={span}" for n, span in enumerate(spans[:6])]
    return lines


def _record(sections: dict[int, list[str]]) -> bytes:
    lines = ["table.Record[0].PreRecord=4", *_week("Record", sections)]
    return "".join(f"{line}\r\n" for line in lines).encode()


def _motion(enable: str, sections: dict[int, list[str]], records: str = "true") -> bytes:
    lines = [
        f"table.MotionDetect[0].Enable={enable}",
        f"table.MotionDetect[0].EventHandler.RecordEnable={records}",
        *_week("MotionDetect", sections),
    ]
    return "".join(f"{line}\r\n" for line in lines).encode()


def _local(t: datetime) -> datetime:
    return t.astimezone(CHINA_TZ)


def test_a_section_switched_off_does_not_arm() -> None:
    """The leading number decides: `0` over the whole day records nothing."""
    every_day = {d: ["0 00:00:00-24:00:00"] for d in range(7)}
    week = parse_record_week(_record(every_day), 1)
    got = record_arming(0, week, _local(TUE_1000), None)
    assert got.armed is False and "empty all week" in got.reason
    tuesday = {2: ["0 00:00:00-24:00:00", "1 09:00:00-11:00:00"]}
    week = parse_record_week(_record(tuesday), 1)
    assert record_arming(0, week, _local(TUE_1000), None).armed is True
    motion = parse_motion_armed(_motion("true", {2: ["0 00:00:00-24:00:00"]}), 1, _local(TUE_1000))
    assert motion.armed is False and "empty all week" in motion.reason


def test_a_day_ending_at_23_59_59_runs_to_midnight() -> None:
    week = parse_record_week(_record({6: ["1 00:00:00-23:59:59"]}), 1)
    last = datetime(2026, 12, 5, 23, 59, 59, 900000, tzinfo=CHINA_TZ)
    assert record_arming(0, week, last, None).armed is True


def test_the_record_mode_decides_before_the_schedule() -> None:
    empty = parse_record_week(_record({}), 1)
    assert record_arming(1, empty, _local(SAT_2300), None).armed is True  # manual: always
    saturday = parse_record_week(_record({6: ["1 00:00:00-24:00:00"]}), 1)
    stop = record_arming(2, saturday, _local(SAT_2300), None)
    assert stop == Arming(False, "录像模式关闭 record mode stop (RecordMode Mode=2)")
    assert record_arming(None, empty, _local(SAT_2300), None).armed is None
    body = b"table.RecordMode[0].Mode=0\r\ntable.RecordMode[0].ModeExtra1=2\r\n"
    assert parse_record_mode(body, 1) == 0
    assert parse_record_mode(body, 2) is None  # not in the table: not measured


def test_a_motion_alarm_enabled_but_off_schedule_is_not_armed() -> None:
    tuesday_night = {2: ["1 20:00:00-24:00:00"]}
    got = parse_motion_armed(_motion("true", tuesday_night), 1, _local(TUE_1000))
    assert got.armed is False and "excludes 周二 Tue 10:00" in got.reason
    assert "周二 Tue 20:00-24:00" in got.reason
    assert parse_motion_armed(_motion("false", tuesday_night), 1, _local(TUE_1000)).armed is False


def test_a_motion_alarm_that_starts_no_recording_does_not_arm_motion_recording() -> None:
    all_tuesday = {2: ["1 00:00:00-24:00:00"]}
    assert parse_motion_armed(_motion("true", all_tuesday), 1, _local(TUE_1000)).armed is True
    got = parse_motion_armed(_motion("true", all_tuesday, "false"), 1, _local(TUE_1000))
    assert got.armed is False and "RecordEnable=false" in got.reason


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (_record({2: ["1 09:00-11:00"]}), r"is not '<flag> HH:MM:SS-HH:MM:SS'"),
        (_record({2: ["1 25:00:00-26:00:00"]}), "impossible time of day"),
        (_record({2: ["1 24:30:00-24:40:00"]}), "impossible time of day"),
        (_record({2: ["1 18:00:00-08:00:00"]}), "ends before it starts"),
        (b"table.Record[0].TimeSection[0][0]=1 00:00:00-24:00:00\r\n", "no sections for 周一"),
        (b"table.Record[0].PreRecord=4\r\n", "no sections for 周日"),
        (b"table.Encode[0].MainFormat[0].VideoEnable=true\r\n", r"no table\.Record"),
        (b"Error\r\nBad Request!\r\n", "device answered Error"),
    ],
)
def test_record_schedules_that_cannot_be_read_are_refused(body: bytes, match: str) -> None:
    with pytest.raises(BadResponse, match=match):
        parse_record_week(body, 1)


def test_motion_answers_that_cannot_be_read_are_refused() -> None:
    with pytest.raises(BadResponse, match="Enable must be true or false, not 'yes'"):
        parse_motion_armed(_motion("yes", {}), 1, _local(TUE_1000))
    with pytest.raises(BadResponse, match="RecordEnable must be true or false, not ''"):
        parse_motion_armed(_motion("true", {}, ""), 1, _local(TUE_1000))
    with pytest.raises(BadResponse, match="switch is 0 or 1, not 2"):
        parse_motion_armed(_motion("true", {2: ["2 00:00:00-24:00:00"]}), 1, _local(TUE_1000))
    with pytest.raises(BadResponse, match="must be 0, 1 or 2"):
        parse_record_mode(b"table.RecordMode[0].Mode=3\r\n", 1)
