"""Issue 15: one helper turns every instant a person reads into campus time, zone marked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cctv.contract.campustime import TimeError, campus_day_zh, campus_time, parse_instant
from cctv.contract.orgs import CAMPUS_TZ


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (datetime(2026, 3, 2, 2, 0, tzinfo=UTC), "2026-03-02 10:00 (UTC+8)"),
        ("2026-03-02T02:00:00+00:00", "2026-03-02 10:00 (UTC+8)"),
        ("2026-03-02T02:00:00Z", "2026-03-02 10:00 (UTC+8)"),  # audit's recorded_at
        ("2026-03-02T10:00:00+08:00", "2026-03-02 10:00 (UTC+8)"),
        ("2026-03-01T17:30:00", "2026-03-02 01:30 (UTC+8)"),  # naive = stored UTC
        ("2026-12-31T16:00:00+00:00", "2027-01-01 00:00 (UTC+8)"),  # the day changes too
        (date(2035, 12, 31), "2035-12-31"),  # a date is a date: no zone to mark
        ("2035-12-31", "2035-12-31"),
        (None, ""),
        ("", ""),
        ("not a time", "not a time"),  # a page never breaks on a bad value
    ],
)
def test_campus_time(value: object, shown: str) -> None:
    assert campus_time(value) == shown  # type: ignore[arg-type]


def test_seconds_and_paper_day() -> None:
    t = datetime(2026, 2, 9, 23, 30, 5, tzinfo=UTC)
    assert campus_time(t, seconds=True) == "2026-02-10 07:30:05 (UTC+8)"
    assert campus_day_zh(t) == "2026年2月10日"


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-02T02:00:00Z",
        "2026-03-02T02:00:00+00:00",
        "2026-03-02T10:00:00+08:00",
        " 2026-03-02 10:00:00+08:00 ",  # devices write a space; forms leave blanks
        "2026-03-02T02:00:00.000Z",
    ],
)
def test_parse_instant_reads_any_zone_as_utc(text: str) -> None:
    t = parse_instant(text)
    assert t == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert t.utcoffset() == timedelta(0)  # an instant, in UTC whatever zone it came in


def test_parse_instant_takes_an_aware_datetime_and_returns_it_in_utc() -> None:
    t = datetime(2026, 3, 2, 10, 0, tzinfo=CAMPUS_TZ)
    assert parse_instant(t) == t and parse_instant(t).tzinfo == UTC


def test_a_naive_time_means_what_the_caller_says() -> None:
    naive = "2026-03-02T10:00:00"
    with pytest.raises(TimeError, match=r"footage_from needs a time zone.*'2026-03-02T10:00:00'"):
        parse_instant(naive, "footage_from")  # the default: refuse
    with pytest.raises(TimeError, match="needs a time zone"):
        parse_instant(datetime(2026, 3, 2, 10, 0), "position")
    assert parse_instant(naive, naive="utc") == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert parse_instant(naive, naive="campus") == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["garbage", "", "2026-13-01T00:00:00Z", "10:00", None, 5])
def test_what_is_not_a_time_is_a_clear_value_error(value: object) -> None:
    with pytest.raises(ValueError, match=r"^since 时间格式有误 — since is not an ISO 8601 time: "):
        parse_instant(value, "since", naive="utc")
    with pytest.raises(TimeError) as got:  # both languages apart, for a bilingual reply
        parse_instant(value, "since")
    assert got.value.zh == "since 时间格式有误" and got.value.en.endswith(repr(value))
