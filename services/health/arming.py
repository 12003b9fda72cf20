"""Art. 12: not arming on schedule is detected.

Each system's responsible person files an arming schedule (布防/撤防, Art. 9) with workflow,
which publishes it as `workflow.responsible.schedule_set`. The recorder says on every deep
probe whether the camera's channel is armed (ONVIF recording job Mode Active, Hikvision
record track enabled with its schedule on, Dahua recording on its own schedule now). A
camera not armed while its system's schedule says it must be is a `not_armed` fault; armed
again, or outside the schedule, it resolves.

A system with no schedule on file: the cameras of key places (重点监控部位, the exam-paper
vault, confidential rooms) must be armed always; other cameras owe nothing until one is
filed. Pure: no broker, no database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import chinese_calendar
from pydantic import ValidationError

from cctv.contract import CameraRecord
from cctv.contract.events import ArmingPeriodRecord
from cctv.contract.orgs import CAMPUS_TZ

from .conditions import Condition, Reading

KEY_SENSITIVITY = frozenset({"key_point", "exam_paper_vault"})
KEY_CATEGORY = frozenset({"confidential"})
DAY_ZH = {"daily": "每天", "workday": "工作日", "offday": "节假日"}


def is_workday(d: date) -> bool:
    """The official calendar (调休 included); a year the package does not know yet counts
    Monday-Friday: an arming check a holiday off is a nuisance, none at all is worse."""
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return d.weekday() < 5


@dataclass(frozen=True)
class Period:
    """Armed from `arm_at` to `disarm_at` (campus time) on the given kind of day; a period
    whose end is not after its start crosses midnight."""

    days: str
    arm_at: time
    disarm_at: time

    def __str__(self) -> str:
        return f"{DAY_ZH[self.days]} {self.arm_at:%H:%M}-{self.disarm_at:%H:%M}"


@dataclass(frozen=True)
class Schedule:
    periods: tuple[Period, ...]
    source: str  # whose schedule, as people read it

    def requires(self, at: datetime, workday: Callable[[date], bool] = is_workday) -> bool:
        """Whether the schedule says the system is armed at `at`."""
        local = at.astimezone(CAMPUS_TZ)
        today, t = local.date(), local.time()
        yesterday = today - timedelta(days=1)

        def on(kind: str, d: date) -> bool:
            return kind == "daily" or workday(d) == (kind == "workday")

        for p in self.periods:
            if p.arm_at < p.disarm_at:
                if p.arm_at <= t < p.disarm_at and on(p.days, today):
                    return True
            elif (t >= p.arm_at and on(p.days, today)) or (
                t < p.disarm_at and on(p.days, yesterday)
            ):
                return True
        return False

    def __str__(self) -> str:
        return "、".join(str(p) for p in self.periods) or "无 none"


ALWAYS = Schedule((Period("daily", time(0, 0), time(0, 0)),), "重点部位全天布防 key place, always")


def parse_schedule(system_id: str, periods: Iterable[ArmingPeriodRecord | Any]) -> Schedule:
    """A schedule as workflow files it (the contract's periods, or their JSON as stored)."""
    out = []
    for i, p in enumerate(periods, 1):
        try:
            rec = p if isinstance(p, ArmingPeriodRecord) else ArmingPeriodRecord.model_validate(p)
        except ValidationError as exc:
            why = "; ".join(str(e["msg"]) for e in exc.errors())
            raise ValueError(f"system {system_id} arming period {i}: {why}") from None
        out.append(Period(rec.days, rec.arm_at, rec.disarm_at))
    return Schedule(tuple(out), f"系统 system {system_id}")


def key_place(cam: CameraRecord) -> bool:
    return bool(KEY_SENSITIVITY.intersection(cam.sensitivity)) or cam.category in KEY_CATEGORY


def schedule_for(cam: CameraRecord | None, filed: Mapping[str, Schedule]) -> Schedule | None:
    """The system's filed schedule; without one, always for a key place, else none."""
    if cam is None:
        return None
    found = filed.get(cam.system_id)
    if found is not None:
        return found
    return ALWAYS if key_place(cam) else None


def read_arming(
    armed: bool | None,
    schedule: Schedule | None,
    at: datetime,
    grace: timedelta = timedelta(0),
    workday: Callable[[date], bool] = is_workday,
    reason: str | None = None,
) -> Reading:
    """`not_armed` open (not armed inside the schedule, past the grace after arming time)
    or clean (armed, or not required now); nothing when the device did not say. The
    device's own `reason` (e.g. its schedule excludes now) goes into the fault's detail."""
    if armed is None:
        return {}
    if armed:
        return {"not_armed": None}
    required = (
        schedule is not None
        and schedule.requires(at, workday)
        and schedule.requires(at - grace, workday)
    )
    if not required:
        return {"not_armed": None}
    assert schedule is not None
    return {
        "not_armed": Condition(
            "not_armed",
            "major",
            f"未按布防计划布防 not armed on schedule: {schedule.source} {schedule} (Art. 12)"
            + (f"; 设备 device: {reason}" if reason else ""),
        )
    }
