"""Working days and working hours by the official Chinese calendar (Art. 10, Decision R7).

Public holidays and make-up working days (调休) come from the ``chinese-calendar`` package,
which carries the State Council's notices. A year the package does not know yet is refused
with a clear error rather than guessed: the State Council publishes each year's arrangement
late in the previous year, and a wrong guess would accept or refuse exam requests wrongly.
Such a year can be supplied from the notice itself (``extra_holidays`` / ``extra_workdays``)
until the package is upgraded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from cctv.contract.orgs import CAMPUS_TZ

from . import refusals as r


class CalendarUnknown(r.InvalidInput):
    """The official arrangement for this year is not on file."""


class WorkCalendar:
    def __init__(
        self,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        *,
        day_start: time = time(8, 0),
        day_end: time = time(17, 30),
        tz: ZoneInfo = CAMPUS_TZ,
    ) -> None:
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)
        self.day_start = day_start
        self.day_end = day_end
        self.tz = tz
        # Years that the supplement fully describes (any date given for that year).
        self._supplied_years = {d.year for d in self.extra_holidays | self.extra_workdays}

    def is_workday(self, d: date) -> bool:
        if d in self.extra_workdays:
            return True
        if d in self.extra_holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            if d.year in self._supplied_years:
                return d.weekday() < 5
            raise CalendarUnknown(
                "calendar_unknown",
                f"{d.year}年国务院节假日安排尚未收录，无法计算工作日",
                f"the official holiday arrangement for {d.year} is not on file; "
                "upgrade chinese-calendar or supply the State Council notice",
                "Art. 10",
                year=d.year,
            ) from None

    def workdays_between(self, start: date, end: date) -> int:
        """Working days strictly after ``start`` and strictly before ``end``."""
        n, d = 0, start + timedelta(days=1)
        while d < end:
            n += self.is_workday(d)
            d += timedelta(days=1)
        return n

    def nth_workday_after(self, start: date, n: int) -> date:
        d, seen = start, 0
        while seen < n:
            d += timedelta(days=1)
            seen += self.is_workday(d)
        return d

    def nth_workday_before(self, end: date, n: int) -> date:
        d, seen = end, 0
        while seen < n:
            d -= timedelta(days=1)
            seen += self.is_workday(d)
        return d

    # ---- working hours, for reminders and escalation ----

    def local(self, t: datetime) -> datetime:
        return t.astimezone(self.tz)

    def _window(self, d: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(d, self.day_start, self.tz),
            datetime.combine(d, self.day_end, self.tz),
        )

    def working_time_between(self, t0: datetime, t1: datetime) -> timedelta:
        """Working time elapsed from t0 to t1 (zero if t1 <= t0)."""
        if t1 <= t0:
            return timedelta(0)
        total = timedelta(0)
        d = self.local(t0).date()
        last = self.local(t1).date()
        while d <= last:
            if self.is_workday(d):
                a, b = self._window(d)
                lo, hi = max(a, t0), min(b, t1)
                if hi > lo:
                    total += hi - lo
            d += timedelta(days=1)
        return total

    def add_working_time(self, t0: datetime, span: timedelta) -> datetime:
        """The instant when ``span`` of working time has elapsed after t0."""
        left = span
        d = self.local(t0).date()
        for _ in range(3660):  # ten years of days: a span beyond that is a bug
            if self.is_workday(d):
                a, b = self._window(d)
                lo = max(a, t0)
                if b > lo:
                    if lo + left <= b:
                        return lo + left
                    left -= b - lo
            d += timedelta(days=1)
        raise ValueError("working-time span too long")


DEFAULT_CALENDAR = WorkCalendar()
