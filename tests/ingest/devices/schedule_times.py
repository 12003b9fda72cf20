"""Instants and weekly schedules the arming-schedule tests of both vendors share."""

from datetime import UTC, datetime

# 2026-12-05 is a Saturday. Campus time is UTC+8: the campus day turns at 16:00 UTC.
TUE_1000 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 campus
SAT_2300 = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)  # Saturday 23:00 campus
SUN_0130 = datetime(2026, 12, 5, 17, 30, tzinfo=UTC)  # Sunday 01:30 campus, Saturday in UTC
SUN_0700 = datetime(2026, 12, 5, 23, 0, tzinfo=UTC)  # Sunday 07:00 campus
OFFICE = tuple((d, "08:00:00", "18:00:00") for d in range(1, 6))  # Monday-Friday
NIGHT = ((6, "22:00:00", "24:00:00"), (0, "00:00:00", "06:00:00"))  # Sat night over midnight
