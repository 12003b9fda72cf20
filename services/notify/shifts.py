"""Who holds the duty at a moment (Art. 13-14): the roster's shifts, and for the duty room
the Art. 14 handover.

Guards and gatekeepers hold a zone by their shift alone. A duty operator's shift ends only
when the incoming operator has taken over through the Art. 14 handover (workflow's
`handover.confirmed`): until then the outgoing one stays responsible and the incoming one is
not yet, for at most `grace`. A handover during a shift gives the incoming operator the rest
of it; one taken up to `early` before their own shift starts counts for it.
When the grace passes with no handover, the incoming operator holds the duty anyway and the
duty room is told (`overdue`). Pure: the caller passes the roster, the confirmed handovers and
the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cctv.contract.orgs import CAMPUS_TZ

from .roster import RosterEntry

HANDED_OVER_ROLES = ("duty_operator",)  # the Art. 14 handover is the duty room's
OVERDUE_PREFIX = "handover:"  # the fault id of a "handover overdue" alert


@dataclass(frozen=True)
class Takeover:
    """A confirmed Art. 14 handover: from `at`, `incoming` holds what `outgoing` held."""

    handover_id: str
    outgoing: str
    incoming: str
    at: datetime


@dataclass(frozen=True)
class HandoverPolicy:
    grace: timedelta = timedelta(minutes=30)
    early: timedelta = timedelta(minutes=60)


@dataclass(frozen=True)
class Overdue:
    """A shift that ended `grace` ago with no handover: the duty room must hear of it."""

    outgoing: RosterEntry
    ended_at: datetime
    incoming: tuple[RosterEntry, ...]

    @property
    def fault_id(self) -> str:
        return f"{OVERDUE_PREFIX}{self.outgoing.account}:{self.ended_at:%Y%m%dT%H%M}"


Shift = tuple[datetime, datetime]


def _instances(p: RosterEntry, local: datetime) -> list[Shift]:
    """The shift's occurrences from the day before to the day after, in campus time."""
    out = []
    for d in (-1, 0, 1):
        day = (local + timedelta(days=d)).date()
        start = datetime.combine(day, p.shift_start, tzinfo=CAMPUS_TZ)
        end = datetime.combine(day, p.shift_end, tzinfo=CAMPUS_TZ)
        if end <= start:
            end += timedelta(days=1)  # overnight
        out.append((start, end))
    return out


def _handed_over(p: RosterEntry) -> bool:
    return p.role in HANDED_OVER_ROLES and p.shift_start != p.shift_end


def current(p: RosterEntry, local: datetime) -> Shift | None:
    return next(((s, e) for s, e in _instances(p, local) if s <= local < e), None)


def last_ended(p: RosterEntry, local: datetime) -> Shift | None:
    ended = [(s, e) for s, e in _instances(p, local) if e <= local]
    return max(ended, key=lambda i: i[1]) if ended else None


def next_start(p: RosterEntry, local: datetime) -> datetime | None:
    starts = [s for s, _ in _instances(p, local) if s > local]
    return min(starts) if starts else None


def successors(roster: Iterable[RosterEntry], p: RosterEntry) -> list[RosterEntry]:
    """The operators whose shift starts when `p`'s ends: who takes over from them."""
    return [
        q
        for q in roster
        if q.account != p.account and _handed_over(q) and q.shift_start == p.shift_end
    ]


def _not_handed_over(
    p: RosterEntry, takeovers: Sequence[Takeover], local: datetime
) -> Shift | None:
    """The duty room shift `p` last ended, when nobody has taken it over yet."""
    if not _handed_over(p) or current(p, local) is not None:
        return None
    last = last_ended(p, local)
    if last is None or any(t.outgoing == p.account and t.at >= last[0] for t in takeovers):
        return None
    return last


def _holds_over(
    p: RosterEntry,
    roster: Sequence[RosterEntry],
    takeovers: Sequence[Takeover],
    local: datetime,
    policy: HandoverPolicy,
) -> datetime | None:
    """When `p`'s shift ended, if they are still responsible for want of a handover."""
    last = _not_handed_over(p, takeovers, local)
    if last is None or local >= last[1] + policy.grace:
        return None
    return last[1] if successors(roster, p) else None


def _covers(
    p: RosterEntry, roster: Sequence[RosterEntry], takeovers: Sequence[Takeover], now: datetime
) -> bool:
    """`p` took over someone's shift through a handover and it has not ended yet: the rest of
    the outgoing one's shift (or, taken over after it ended, until their next one starts)."""
    by_account = {q.account: q for q in roster}
    for t in takeovers:
        q = by_account.get(t.outgoing)
        if t.incoming != p.account or t.at > now or q is None or not _handed_over(q):
            continue
        local = t.at.astimezone(CAMPUS_TZ)
        shift = current(q, local)
        until = shift[1] if shift else next_start(q, local)
        if until is not None and now < until:
            return True
    return False


def on_duty(
    roster: Sequence[RosterEntry],
    takeovers: Sequence[Takeover],
    now: datetime,
    policy: HandoverPolicy,
) -> list[RosterEntry]:
    """Who holds the duty now: alerts raised now go to these people."""
    local = now.astimezone(CAMPUS_TZ)
    holding = {
        p.account: end
        for p in roster
        if (end := _holds_over(p, roster, takeovers, local, policy)) is not None
    }
    out: list[RosterEntry] = []
    for p in roster:
        if not _handed_over(p):
            if p.on_duty(local.time()):
                out.append(p)
            continue
        if p.account in holding:
            out.append(p)  # the outgoing operator, until the handover (or the grace) is over
            continue
        if _covers(p, roster, takeovers, now):
            out.append(p)  # took over through a handover, for the shift they took over
            continue
        shift = current(p, local)
        if shift is None:
            start = next_start(p, local)
            if start is not None and any(
                t.incoming == p.account and start - policy.early <= t.at <= now for t in takeovers
            ):
                out.append(p)  # took over early
            continue
        start = shift[0]
        if any(t.outgoing == p.account and start <= t.at <= now for t in takeovers):
            continue  # handed over during the shift: someone else holds it
        took = any(
            t.incoming == p.account and start - policy.early <= t.at <= now for t in takeovers
        )
        waiting = local < start + policy.grace and start in holding.values()
        if took or not waiting:
            out.append(p)
    return out


def overdue(
    roster: Sequence[RosterEntry],
    takeovers: Sequence[Takeover],
    now: datetime,
    policy: HandoverPolicy,
    within: timedelta = timedelta(hours=1),
) -> list[Overdue]:
    """Shifts that ended more than `grace` ago with no handover; only for `within` after that,
    so a service starting long after a boundary does not raise stale alarms."""
    local = now.astimezone(CAMPUS_TZ)
    out = []
    for p in roster:
        last = _not_handed_over(p, takeovers, local)
        if last is None or not (last[1] + policy.grace <= local < last[1] + policy.grace + within):
            continue
        nxt = successors(roster, p)
        if nxt:
            out.append(Overdue(p, last[1], tuple(nxt)))
    return out
