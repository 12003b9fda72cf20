"""Responsible persons and arming schedules (Art. 9).

Every department's system has a named responsible person, on file with 后勤处 and NIC. A change
(staff moves, duties change) is reported to both *at once*: the transition names them as the
departments to notify, and notify delivers it. Each system has an arming schedule (布防/撤防)
so that not arming on time can be detected (Art. 12(3)).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from . import refusals as r
from .org import LOGISTICS, NIC, Actor, Role
from .transitions import Transition, aware
from .workcalendar import DEFAULT_CALENDAR, WorkCalendar

PROCESS = "responsible"
NOTIFY_ON_CHANGE = (LOGISTICS, NIC)


class DayKind(StrEnum):
    DAILY = "daily"  # 每天
    WORKDAY = "workday"  # 工作日 (official calendar)
    OFFDAY = "offday"  # 节假日及休息日


class ArmingPeriod(BaseModel):
    """Armed from ``arm_at`` to ``disarm_at`` on the given kind of day; may cross midnight."""

    days: DayKind = DayKind.DAILY
    arm_at: time
    disarm_at: time

    @model_validator(mode="after")
    def _distinct(self) -> ArmingPeriod:
        if self.arm_at == self.disarm_at:
            raise ValueError("arm_at and disarm_at must differ (布防与撤防时间相同)")
        return self


class Person(BaseModel):
    person_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    phone: str = ""


class SystemFile(BaseModel):
    """What 后勤处 and NIC have on file for one system (an Annex 1 row)."""

    system_id: str
    department: str
    responsible: Person | None = None
    schedule: list[ArmingPeriod] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)

    def _authorised(self, actor: Actor) -> None:
        if actor.department not in (self.department, NIC, LOGISTICS):
            raise r.not_system_owner()

    def set_responsible(
        self, actor: Actor, now: datetime, person: Person, reason: str
    ) -> list[Transition]:
        now = aware(now)
        self._authorised(actor)
        if not reason.strip():
            raise r.missing_field("reason", "变更原因", "Art. 9")
        before = self.responsible
        if before is not None and before.person_id == person.person_id and before == person:
            return []
        self.responsible = person
        self.history.append(
            {
                "at": now.isoformat(),
                "by": actor.person_id,
                "what": "responsible",
                "from": before.model_dump() if before else None,
                "to": person.model_dump(),
                "reason": reason,
            }
        )
        return [
            Transition(
                process=PROCESS,
                name="changed",
                key=self.system_id,
                actor=actor.person_id,
                time=now,
                data={
                    "system_id": self.system_id,
                    "department": self.department,
                    "previous": before.model_dump() if before else None,
                    "responsible": person.model_dump(),
                    "reason": reason,
                    # Art. 9: reported at once to both; notify routes on this list.
                    "notify_departments": list(NOTIFY_ON_CHANGE),
                },
            )
        ]

    def set_schedule(
        self, actor: Actor, now: datetime, schedule: list[ArmingPeriod]
    ) -> list[Transition]:
        now = aware(now)
        self._authorised(actor)
        if not (actor.has(Role.HEAD) or actor.has(Role.SYSADMIN)):
            raise r.schedule_by_head()
        self.schedule = schedule
        self.history.append(
            {
                "at": now.isoformat(),
                "by": actor.person_id,
                "what": "schedule",
                "to": [p.model_dump(mode="json") for p in schedule],
            }
        )
        return [
            Transition(
                process=PROCESS,
                name="schedule_set",
                key=self.system_id,
                actor=actor.person_id,
                time=now,
                data={
                    "system_id": self.system_id,
                    "schedule": [p.model_dump(mode="json") for p in schedule],
                    "notify_departments": list(NOTIFY_ON_CHANGE),
                },
            )
        ]

    def should_be_armed(self, at: datetime, cal: WorkCalendar = DEFAULT_CALENDAR) -> bool:
        """Whether the schedule says the system is armed at ``at`` (campus local time)."""
        local = cal.local(aware(at))
        today, t = local.date(), local.time()
        yesterday = today - timedelta(days=1)
        for p in self.schedule:
            if p.arm_at < p.disarm_at:
                if _day_matches(p.days, today, cal) and p.arm_at <= t < p.disarm_at:
                    return True
            else:  # crosses midnight: started yesterday evening or starts this evening
                if _day_matches(p.days, today, cal) and t >= p.arm_at:
                    return True
                if _day_matches(p.days, yesterday, cal) and t < p.disarm_at:
                    return True
        return False


def _day_matches(kind: DayKind, d: date, cal: WorkCalendar) -> bool:
    if kind is DayKind.DAILY:
        return True
    work = cal.is_workday(d)
    return work if kind is DayKind.WORKDAY else not work


DAY_WORDS = {
    "daily": DayKind.DAILY,
    "每天": DayKind.DAILY,
    "workday": DayKind.WORKDAY,
    "工作日": DayKind.WORKDAY,
    "offday": DayKind.OFFDAY,
    "节假日": DayKind.OFFDAY,
    "休息日": DayKind.OFFDAY,
}


def parse_period(line: str) -> dict[str, str]:
    """One arming period as people write it: 「工作日 18:00-08:00」 (or daily/workday/offday)."""
    parts = line.split()
    if len(parts) != 2 or "-" not in parts[1] or parts[0] not in DAY_WORDS:
        raise ValueError(
            f"「{line.strip()}」应为「工作日 18:00-08:00」 expected e.g. 'workday 18:00-08:00'"
        )
    arm, disarm = parts[1].split("-", 1)
    return {"days": DAY_WORDS[parts[0]].value, "arm_at": arm, "disarm_at": disarm}
