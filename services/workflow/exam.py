"""Exam monitoring support (Art. 10): a written request to 教务处 at least 7 working days ahead.

    (late → refused, naming the earliest admissible exam date and the latest submission date)
    pending ──教务处 approves──▶ approved: a NIC support task + the exam rooms' cameras under
                                closer watch for the exam's duration
       └─reject / withdraw

"7 working days ahead" (Decision): at least 7 working days lie strictly between the day of
submission and the first exam day, by the official calendar (holidays and 调休 included).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from . import refusals as r
from .approval import Step
from .base import ApprovalRequest, RequestState
from .inventory import Inventory
from .org import ACADEMIC, NIC, Actor, Role
from .transitions import Transition, aware
from .workcalendar import DEFAULT_CALENDAR, WorkCalendar

PROCESS = "exam"
NOTICE_WORKDAYS = 7
ONE_DAY = timedelta(days=1)


class ExamSupportApplication(BaseModel):
    organiser: str = Field(min_length=1)  # 组织单位 (department key)
    exam_name: str = Field(min_length=1)
    national_exam: bool = False  # 国家教育考试
    building: str = Field(min_length=1)
    rooms: list[str] = Field(min_length=1)
    cameras: list[str] = Field(default_factory=list)  # extra cameras beyond the rooms'
    starts_at: datetime
    ends_at: datetime
    contact: str = ""
    notes: str = ""

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return aware(v, "exam time")

    @model_validator(mode="after")
    def _order(self) -> ExamSupportApplication:
        if self.starts_at >= self.ends_at:
            raise ValueError("starts_at must be before ends_at (考试时间有误)")
        return self


def check_notice(
    submitted: datetime, exam_start: datetime, cal: WorkCalendar = DEFAULT_CALENDAR
) -> None:
    """Refuse a late request, naming the dates that would have been admissible.

    Counting stops at the seventh working day: days of a year whose official arrangement is not
    on file matter only when the answer depends on them (then CalendarUnknown, Art. 10).
    """
    d = cal.local(submitted).date()
    e = cal.local(exam_start).date()
    have, unknown = cal.count_workdays(d, e, NOTICE_WORKDAYS)
    if have >= NOTICE_WORKDAYS:
        return
    if have + len(unknown) >= NOTICE_WORKDAYS:  # enough or not: it depends on unknown days
        raise r.calendar_unknown(unknown[0].year)
    # Too late whatever the unknown days are; name the admissible dates where they are known.
    earliest = _known(lambda: cal.nth_workday_after(d, NOTICE_WORKDAYS) + ONE_DAY)
    latest = _known(lambda: cal.nth_workday_before(e, NOTICE_WORKDAYS) - ONE_DAY)
    raise r.exam_notice_too_late(have, len(unknown), earliest, latest)


def _known(fn: Callable[[], date]) -> str | None:
    """An ISO date, or None when it lies beyond the calendar on file."""
    try:
        return fn().isoformat()
    except r.CalendarUnknown:
        return None


def earliest_exam_date(submitted: datetime, cal: WorkCalendar = DEFAULT_CALENDAR) -> date:
    return cal.nth_workday_after(cal.local(submitted).date(), NOTICE_WORKDAYS) + ONE_DAY


class SupportTask(BaseModel):
    """NIC's technical support for the exam (Art. 10)."""

    task_id: str
    assignee_department: str = NIC
    exam_name: str
    starts_at: datetime
    ends_at: datetime
    building: str
    rooms: list[str]
    cameras: list[str]


class ExamSupportRequest(ApprovalRequest):
    PROCESS = PROCESS

    form: ExamSupportApplication
    watched_cameras: list[str] = Field(default_factory=list)
    task: SupportTask | None = None

    @staticmethod
    def preview(form: ExamSupportApplication) -> list[Step]:
        return [
            Step(
                key="academic",
                stage=1,
                role=Role.HEAD,
                department=ACADEMIC,
                title_zh="教务处意见",
                title_en="Academic Affairs Office",
                why="重大考试全程视频监控保障须书面报告教务处 (Art. 10)",
            )
        ]

    @classmethod
    def submit(
        cls,
        request_id: str,
        form: ExamSupportApplication,
        requester: Actor,
        inventory: Inventory,
        now: datetime,
        cal: WorkCalendar = DEFAULT_CALENDAR,
    ) -> tuple[ExamSupportRequest, list[Transition]]:
        now = aware(now)
        check_notice(now, form.starts_at, cal)
        cams = [c.camera_id for c in inventory.in_rooms(form.building, form.rooms)]
        for cid in form.cameras:
            inventory.get(cid, "Art. 10")
            if cid not in cams:
                cams.append(cid)
        if not cams:
            raise r.no_exam_cameras(form.building, form.rooms)
        return cls._open(request_id, form, requester, now, cls.preview(form), watched_cameras=cams)

    def _data(self) -> dict[str, Any]:
        d = super()._data()
        d.update(
            exam_name=self.form.exam_name,
            organiser=self.form.organiser,
            starts_at=self.form.starts_at.isoformat(),
            ends_at=self.form.ends_at.isoformat(),
            cameras=list(self.watched_cameras),
        )
        return d

    def _on_approved(self, actor: Actor, now: datetime, **kw: Any) -> list[Transition]:
        f = self.form
        self.task = SupportTask(
            task_id=f"{self.request_id}-T",
            exam_name=f.exam_name,
            starts_at=f.starts_at,
            ends_at=f.ends_at,
            building=f.building,
            rooms=list(f.rooms),
            cameras=list(self.watched_cameras),
        )
        return [
            self._t("approved", actor, now, task=self.task.model_dump(mode="json")),
            # Health and notify watch these cameras more closely while the exam runs.
            self._t(
                "watch",
                actor,
                now,
                watch={
                    "cameras": list(self.watched_cameras),
                    "from": f.starts_at.isoformat(),
                    "until": f.ends_at.isoformat(),
                    "reason": f"考试保障 / exam: {f.exam_name}",
                },
            ),
        ]

    def under_watch(self, camera_id: str, at: datetime) -> bool:
        return (
            self.state is RequestState.APPROVED
            and camera_id in self.watched_cameras
            and self.form.starts_at <= at <= self.form.ends_at
        )
