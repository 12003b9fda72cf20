"""Reminders and escalation of pending approvals, counted in working hours (pure function).

A step that has been due for ``remind_after`` of working time reminds the approver; after
``escalate_after`` it escalates: a department head's step goes up to the school leader in
charge, a school leader's step to 党政办 (which issued the regulation and follows up on it).
Nights, weekends and public holidays do not count (official calendar). The caller passes
what was already sent, so the function stays pure and each level fires exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .approval import Step
from .base import ApprovalRequest
from .org import PARTY_ADMIN, Role
from .workcalendar import DEFAULT_CALENDAR, WorkCalendar


@dataclass(frozen=True)
class Policy:
    remind_after: timedelta = timedelta(hours=4)  # half a working day
    escalate_after: timedelta = timedelta(hours=8)  # a full working day (08:00-17:30 less)


@dataclass(frozen=True)
class Nudge:
    level: str  # "remind" | "escalate"
    process: str
    request_id: str
    step_key: str
    role: Role
    department: str | None  # whose step it is
    to_role: Role  # who gets the message
    to_department: str | None
    due_since: datetime
    fire_at: datetime  # when it became due, by working time

    @property
    def dedupe_key(self) -> tuple[str, str, str]:
        return (self.request_id, self.step_key, self.level)


def escalation_target(step: Step) -> tuple[Role, str | None]:
    if step.role is Role.LEADER:
        return Role.HEAD, PARTY_ADMIN
    return Role.LEADER, None


def due_nudges(
    requests: Iterable[ApprovalRequest],
    now: datetime,
    *,
    sent: set[tuple[str, str, str]] | frozenset[tuple[str, str, str]] = frozenset(),
    policy: Policy = Policy(),
    cal: WorkCalendar = DEFAULT_CALENDAR,
) -> list[Nudge]:
    """Every reminder or escalation due at ``now`` and not yet sent."""
    out: list[Nudge] = []
    cal = cal.lenient()  # a year not on file must not stop every reminder at the year end
    for req in requests:
        steps = req.flow.due_steps()
        if not steps:
            continue
        since = req.flow.waiting_since(req.applied_at)
        remind_at = cal.add_working_time(since, policy.remind_after)
        escalate_at = cal.add_working_time(since, policy.escalate_after)
        for s in steps:
            levels: list[tuple[str, datetime, Role, str | None]] = [
                ("remind", remind_at, s.role, s.department),
                ("escalate", escalate_at, *escalation_target(s)),
            ]
            for level, at, to_role, to_dept in levels:
                if now < at or (req.request_id, s.key, level) in sent:
                    continue
                out.append(
                    Nudge(
                        level=level,
                        process=req.PROCESS,
                        request_id=req.request_id,
                        step_key=s.key,
                        role=s.role,
                        department=s.department,
                        to_role=to_role,
                        to_department=to_dept,
                        due_since=since,
                        fire_at=at,
                    )
                )
    return out
