"""Campus time for people: every time a person reads is Beijing time with the zone marked.

Services store and exchange instants (UTC, ISO 8601). Whatever shows one to a person — console
pages (the ``campus`` template filter), printed forms, CLI output — goes through
:func:`campus_time`, so a page, its printed form and the command line agree to the minute and
nobody has to guess whether ``02:00`` was UTC (issue 15).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from .orgs import CAMPUS_TZ

ZONE_MARK = "(UTC+8)"  # 北京时间, the campus clock


def to_campus(t: datetime | str) -> datetime:
    """An instant (aware datetime or ISO string) as campus time.

    A naive value is taken as UTC: the system stores and exchanges instants in UTC, and a form's
    campus-local input is made aware before it is stored.
    """
    if isinstance(t, str):
        t = datetime.fromisoformat(t.strip().replace("Z", "+00:00"))
    if t.tzinfo is None or t.utcoffset() is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(CAMPUS_TZ)


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
