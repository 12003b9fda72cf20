"""Issue 15: one helper turns every instant a person reads into campus time, zone marked."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cctv.contract.campustime import campus_day_zh, campus_time


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
