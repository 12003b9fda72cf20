"""Campus time for people: every time a person reads is Beijing time with the zone marked.

Services store and exchange instants (UTC, ISO 8601). Whatever shows one to a person — console
pages (the ``campus`` template filter), printed forms, CLI output — goes through
:func:`campus_time`, so a page, its printed form and the command line agree to the minute and
nobody has to guess whether ``02:00`` was UTC (issue 15).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from .orgs import CAMPUS_TZ

ZONE_MARK = "(UTC+8)"  # 北京时间, the campus clock

NaiveTime = Literal["refuse", "utc", "campus"]


class TimeError(ValueError):
    """A time that cannot be read, or has no zone where one is needed; both languages kept
    apart so a service can answer with its bilingual error shape."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} — {en}")
        self.zh, self.en = zh, en


def parse_instant(value: object, what: str = "time", *, naive: NaiveTime = "refuse") -> datetime:
    """ISO 8601 text (``Z`` or ``+08:00``; ``T`` or a space between day and time) or a datetime
    -> the instant as an aware UTC datetime: the one reader of times for the whole tree.

    A time without a zone is ambiguous by eight hours, so what it means is the caller's
    explicit choice: ``"refuse"`` (the default: requests, evidence and recorders must say —
    Art. 16(1)3 asks for an exact footage period), ``"utc"`` (what the system itself wrote, or a
    device's UTC clock) or ``"campus"`` (a person's form field, e.g. ``datetime-local``).
    Anything else raises :class:`TimeError` (a ValueError) naming ``what`` and the value.
    """
    if isinstance(value, datetime):
        t = value
    else:
        try:
            if not isinstance(value, str):
                raise TypeError
            t = datetime.fromisoformat(value.strip())
        except (TypeError, ValueError):
            raise TimeError(
                f"{what} 时间格式有误", f"{what} is not an ISO 8601 time: {value!r}"
            ) from None
    if t.tzinfo is None or t.utcoffset() is None:
        if naive == "refuse":
            raise TimeError(
                f"{what} 须带时区", f"{what} needs a time zone, e.g. Z or +08:00: {value!r}"
            )
        t = t.replace(tzinfo=UTC if naive == "utc" else CAMPUS_TZ)
    return t.astimezone(UTC)


def to_campus(t: datetime | str) -> datetime:
    """An instant (aware datetime or ISO string) as campus time.

    A naive value is taken as UTC: the system stores and exchanges instants in UTC, and a form's
    campus-local input is made aware before it is stored.
    """
    return parse_instant(t, naive="utc").astimezone(CAMPUS_TZ)


def campus_time(t: datetime | date | str | None, *, seconds: bool = False) -> str:
    """``2026-03-02 10:00 (UTC+8)``; a date stays a date; empty for None; text that is not a
    time is returned as it is (a display helper must not break a page)."""
    if t is None or t == "":
        return ""
    if isinstance(t, date) and not isinstance(t, datetime):
        return t.isoformat()
    if isinstance(t, str) and len(t.strip()) == 10:
        return t.strip()  # a plain date, e.g. a preservation hold's last day
    try:
        local = to_campus(t)
    except (TypeError, ValueError):
        return str(t)
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " " + ZONE_MARK


def campus_day_zh(t: datetime | str) -> str:
    """``2026年3月2日``: the day on a paper form, in campus time."""
    local = to_campus(t)
    return f"{local.year}年{local.month}月{local.day}日"
