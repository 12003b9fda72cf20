"""Working days and working hours by the official Chinese calendar (Art. 10, Decision R7).

Public holidays and make-up working days (调休) come from the ``chinese-calendar`` package,
which carries the State Council's notices. A year the package does not know yet is not guessed:
the State Council publishes each year's arrangement late in the previous year, and a wrong guess
would accept or refuse exam requests wrongly. NIC enters such a year from the notice itself
(:class:`YearNotice`, ``cctv requests calendar import FILE``; stored and published by workflow,
ADR 0009) until the package is upgraded. Counting stops as soon as the answer is known, so a
day of an unknown year matters only when the answer depends on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from cctv.contract.orgs import CAMPUS_TZ

from . import refusals as r
from .org import NIC, Actor, Role
from .transitions import Transition

ARTICLE = "Art. 10"


# The refusal when a year is not on file lives with every other refusal (refusals.py).
CalendarUnknown = r.CalendarUnknown
calendar_unknown = r.calendar_unknown


@lru_cache(maxsize=256)
def package_knows(year: int) -> bool:
    """Whether the installed chinese-calendar carries this year's official arrangement."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _dates(value: Any) -> list[date]:
    """Dates as the notice lists them: a date, or a range ``2027-02-05..2027-02-11``."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[date] = []
    for item in items:
        if isinstance(item, date):
            out.append(item)
            continue
        text = str(item).strip()
        lo, sep, hi = text.partition("..")
        first = date.fromisoformat(lo.strip())
        last = date.fromisoformat(hi.strip()) if sep else first
        if last < first:
            raise ValueError(f"range {text} ends before it starts")
        if (last - first).days > 31:
            raise ValueError(f"range {text} is longer than a month")
        out += [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return out


class YearNotice(BaseModel):
    """The State Council's holiday notice for one year (国务院办公厅关于X年部分节假日安排的通知):
    days off and make-up working days (调休), as NIC enters it for a year the package lacks."""

    year: int = Field(ge=2004, le=2100)
    source: str = Field(min_length=1, max_length=200)  # e.g. 国办发明电〔2026〕7号
    holidays: list[date] = Field(min_length=1)
    workdays: list[date] = Field(default_factory=list)

    @field_validator("holidays", "workdays", mode="before")
    @classmethod
    def _ranges(cls, v: Any) -> list[date]:
        return _dates(v)

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name the State Council notice (通知文号)")
        return v.strip()

    @model_validator(mode="after")
    def _consistent(self) -> YearNotice:
        # A notice covers its year; New Year's Day may reach back into the end of December.
        for d in [*self.holidays, *self.workdays]:
            if not (d.year == self.year or (d.year == self.year - 1 and d.month == 12)):
                raise ValueError(f"{d.isoformat()} is not in {self.year}")
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"{both[0].isoformat()} is listed as holiday and as working day")
        self.holidays = sorted(set(self.holidays))
        self.workdays = sorted(set(self.workdays))
        return self


def parse_notice(data: Any) -> YearNotice:
    """Validate a notice; a bad field is named, with Art. 10."""
    try:
        return YearNotice.model_validate(data)
    except ValidationError as exc:
        raise r.invalid_notice(*r.first_error(exc, "notice")) from None


def package_years() -> str:
    """The years the installed chinese-calendar carries, e.g. ``2004-2026``."""
    first = next(y for y in range(2000, 2100) if package_knows(y))
    last = next(y for y in range(first, 2101) if not package_knows(y)) - 1
    return f"{first}-{last}"


def import_notice(actor: Actor, now: datetime, data: Any) -> tuple[YearNotice, list[Transition]]:
    """NIC enters the State Council notice for a year the package lacks (Art. 10, ADR 0009).

    Only NIC's system administrators or head may; a year the package already carries is
    refused (one source per year). The transition is the audited record of the import.
    """
    if not (actor.has(Role.SYSADMIN, NIC) or actor.has(Role.HEAD, NIC)):
        raise r.calendar_nic_only()
    notice = parse_notice(data)
    if package_knows(notice.year):
        raise r.calendar_on_file(notice.year, package_years())
    t = Transition(
        process="calendar",
        name="imported",
        key=f"calendar-{notice.year}",
        actor=actor.person_id,
        time=now,
        data={"state": "imported", "notice": notice.model_dump(mode="json")},
    )
    return notice, [t]


class WorkCalendar:
    def __init__(
        self,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        *,
        notices: Iterable[YearNotice] = (),
        day_start: time = time(8, 0),
        day_end: time = time(17, 30),
        tz: ZoneInfo = CAMPUS_TZ,
        assume_weekdays: bool = False,
    ) -> None:
        # Reminders only (lenient()): a year not on file counts Monday-Friday rather than stop.
        self.assume_weekdays = assume_weekdays
        off, on = frozenset(extra_holidays), frozenset(extra_workdays)
        self.notices = {n.year: n for n in notices}
        self.extra_holidays = off.union(*(n.holidays for n in self.notices.values()))
        self.extra_workdays = on.union(*(n.workdays for n in self.notices.values()))
        self.day_start = day_start
        self.day_end = day_end
        self.tz = tz
        # Years the supplement fully describes: a notice's year, or any year given dates.
        self._supplied_years = {d.year for d in off | on} | set(self.notices)

    def with_notices(self, notices: Iterable[YearNotice]) -> WorkCalendar:
        """The same calendar with the notices NIC entered (they replace any of the same year)."""
        merged = {**self.notices, **{n.year: n for n in notices}}
        base_off = self.extra_holidays - {d for n in self.notices.values() for d in n.holidays}
        base_on = self.extra_workdays - {d for n in self.notices.values() for d in n.workdays}
        return WorkCalendar(
            base_off,
            base_on,
            notices=merged.values(),
            day_start=self.day_start,
            day_end=self.day_end,
            tz=self.tz,
            assume_weekdays=self.assume_weekdays,
        )

    def lenient(self) -> WorkCalendar:
        """The same calendar, counting Monday-Friday in a year not on file. For reminders: a
        nudge a day early or late is harmless, no nudge for anyone at the year end is not.
        Never for Art. 10 deadlines, which must not be guessed."""
        cal = self.with_notices(())
        cal.assume_weekdays = True
        return cal

    def knows(self, d: date) -> bool:
        """Whether the working-day status of ``d`` is on file."""
        if d in self.extra_workdays or d in self.extra_holidays or d.year in self._supplied_years:
            return True
        return package_knows(d.year)

    def is_workday(self, d: date) -> bool:
        if d in self.extra_workdays:
            return True
        if d in self.extra_holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            if d.year in self._supplied_years or self.assume_weekdays:
                return d.weekday() < 5
            raise calendar_unknown(d.year) from None

    def count_workdays(self, start: date, end: date, enough: int) -> tuple[int, list[date]]:
        """Working days strictly between ``start`` and ``end``, counting no further once
        ``enough`` are found; also the days in between whose status is not on file."""
        n, unknown, d = 0, [], start + timedelta(days=1)
        while d < end and n < enough:
            if self.knows(d):
                n += self.is_workday(d)
            else:
                unknown.append(d)
            d += timedelta(days=1)
        return n, unknown

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
