"""Who hears of an unacknowledged alert next, and when (Art. 13: 24-hour duty, a response).

The chain is guard/gatekeeper of the zone → duty operator → NIC on call → security office
head. Each severity has its own time limit per step; a critical tamper starts one level up,
because a covered or turned camera is a security matter before it is a repair.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .roster import FIELD_ROLES, RosterEntry, in_window, parse_window

LEVEL_ROLES: tuple[tuple[str, ...], ...] = (
    FIELD_ROLES,
    ("duty_operator",),
    ("nic_oncall",),
    ("security_head",),
)
LEVEL_NAMES = (
    "巡逻/门卫 guard",
    "监控值班 duty operator",
    "网络信息中心值班 NIC on call",
    "保卫处负责人 security office head",
)
TOP = len(LEVEL_ROLES) - 1


@dataclass(frozen=True)
class Limits:
    """Minutes an alert may wait for an acknowledgement at one level, per severity."""

    critical: float = 2.0
    major: float = 5.0
    warning: float = 15.0
    info: float = 60.0

    def for_severity(self, severity: str) -> timedelta:
        return timedelta(minutes=float(getattr(self, severity, self.warning)))


def start_level(kind: str, severity: str) -> int:
    return 1 if (kind == "tamper" and severity == "critical") else 0


def people_at(holding: Iterable[RosterEntry], level: int, zone: str) -> list[RosterEntry]:
    """Of who holds the duty now (shifts.on_duty, with handovers), those at this level: the
    zone's own guards at level 0, anyone's role above it."""
    roles = LEVEL_ROLES[level]
    return [r for r in holding if r.role in roles and (level > 0 or r.zone == zone)]


def first_recipients(
    holding: list[RosterEntry], zone: str, kind: str, severity: str
) -> tuple[int, list[RosterEntry]]:
    """The level an alert starts at and its people; nobody on duty at a level means the next."""
    level = start_level(kind, severity)
    people: list[RosterEntry] = []
    if level > 0:  # a critical tamper: the zone's guards hear too, the duty room owns it
        people = people_at(holding, 0, zone)
    for lvl in range(level, TOP + 1):
        found = people_at(holding, lvl, zone)
        if found:
            return lvl, _unique(people + found)
    return TOP, people


def next_step(
    holding: list[RosterEntry], level: int, zone: str, told: set[str]
) -> tuple[int, list[RosterEntry]] | None:
    """The next level above `level` with someone on duty not yet told; None at the top."""
    for lvl in range(level + 1, TOP + 1):
        found = [p for p in people_at(holding, lvl, zone) if p.account not in told]
        if found:
            return lvl, found
    return None


def due(last_raised: datetime, severity: str, limits: Limits, now: datetime) -> bool:
    return now - last_raised >= limits.for_severity(severity)


def _unique(people: list[RosterEntry]) -> list[RosterEntry]:
    seen: dict[str, RosterEntry] = {}
    for p in people:
        seen.setdefault(p.account, p)
    return list(seen.values())


def quiet_until(now_local: datetime, quiet: str) -> datetime | None:
    """When quiet hours ("22:00-07:00") end if `now_local` falls inside them, else None."""
    if not quiet:
        return None
    start, end = parse_window(quiet)
    if not in_window(start, end, now_local.time()):
        return None
    end_dt = now_local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return end_dt if end_dt > now_local else end_dt + timedelta(days=1)
