"""Stopping or moving cameras for building work (Art. 8, Annex 3).

    pending ──using department(s) (in parallel)──▶ NIC ──▶ approved: a published window
       └─reject / withdraw                                     └─complete ──▶ completed

The approved window (cameras, from, until) is published so that health treats outages of those
cameras inside it as expected and outside it as violations (R5). NIC may narrow the window
it approves, never widen it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from . import refusals as r
from .approval import Step
from .base import ApprovalRequest, RequestState
from .inventory import Inventory
from .org import NIC, Actor, Role, department_en, department_zh
from .transitions import Transition, aware

PROCESS = "stopmove"


class PointAction(StrEnum):
    STOP = "stop"  # 停用
    MOVE = "move"  # 挪移


ACTION_ZH = {PointAction.STOP: "停用", PointAction.MOVE: "挪移"}


class StopMovePoint(BaseModel):
    camera_id: str
    action: PointAction
    new_position: str = ""  # where a moved camera goes

    @model_validator(mode="after")
    def _moved_where(self) -> StopMovePoint:
        if self.action is PointAction.MOVE and not self.new_position.strip():
            raise ValueError(f"{self.camera_id}: a moved camera needs its new position (挪移位置)")
        return self


class StopMoveApplication(BaseModel):
    """Annex 3: applying department, points with count and workaround, and the work window."""

    applying_unit: str = Field(min_length=1)
    reason: str = Field(min_length=1)  # the building or renovation work
    points: list[StopMovePoint] = Field(min_length=1)
    count: int = Field(ge=1)  # 停用、挪移点统计
    workaround: str = Field(min_length=1)  # 解决办法
    window_from: datetime
    window_until: datetime
    notes: str = ""

    @field_validator("window_from", "window_until")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return aware(v, "window")

    @model_validator(mode="after")
    def _consistent(self) -> StopMoveApplication:
        if self.count != len(self.points):
            raise ValueError(
                f"count {self.count} does not match the {len(self.points)} points listed "
                "(停用、挪移点统计与所列点位不符)"
            )
        ids = [p.camera_id for p in self.points]
        if len(set(ids)) != len(ids):
            raise ValueError("a camera is listed twice (点位重复)")
        if self.window_from >= self.window_until:
            raise ValueError("window_from must be before window_until (施工时间有误)")
        return self


class Window(BaseModel):
    """An approved outage window: health expects these cameras down between from and until."""

    request_id: str
    cameras: list[str]
    starts_at: datetime
    ends_at: datetime

    def covers(self, camera_id: str, at: datetime) -> bool:
        return camera_id in self.cameras and self.starts_at <= at < self.ends_at


class StopMoveRequest(ApprovalRequest):
    PROCESS = PROCESS

    form: StopMoveApplication
    window: Window | None = None
    completed_at: datetime | None = None

    @staticmethod
    def preview(form: StopMoveApplication, inventory: Inventory) -> list[Step]:
        using: dict[str, list[str]] = {}
        for p in form.points:
            cam = inventory.get(p.camera_id, "Art. 8")
            using.setdefault(cam.approving_department, []).append(cam.camera_id)
        nic_part = using.pop(NIC, [])
        steps = [
            Step(
                key=f"using:{dept}",
                stage=1,
                role=Role.HEAD,
                department=dept,
                title_zh=f"视频使用部门意见（{department_zh(dept)}）",
                title_en=f"using department: {department_en(dept)}",
                why="停用、挪移须经监控使用部门同意 (Art. 8)",
                cameras=ids,
            )
            for dept, ids in sorted(using.items())
        ]
        steps.append(
            Step(
                key="nic",
                stage=2 if steps else 1,
                role=Role.HEAD,
                department=NIC,
                title_zh="网络信息中心意见",
                title_en="Network Information Center",
                why="停用、挪移须经网络信息中心同意 (Art. 8)",
                cameras=nic_part,
            )
        )
        return steps

    @classmethod
    def submit(
        cls,
        request_id: str,
        form: StopMoveApplication,
        requester: Actor,
        inventory: Inventory,
        now: datetime,
    ) -> tuple[StopMoveRequest, list[Transition]]:
        now = aware(now)
        if requester.department != form.applying_unit:
            raise r.stopmove_not_your_unit()
        if form.window_from < now:
            raise r.not_in_advance()
        return cls._open(request_id, form, requester, now, cls.preview(form, inventory))

    def _data(self) -> dict[str, Any]:
        d = super()._data()
        d.update(
            applying_unit=self.form.applying_unit,
            cameras=[p.camera_id for p in self.form.points],
            window_from=self.form.window_from.isoformat(),
            window_until=self.form.window_until.isoformat(),
        )
        return d

    def _check_step_args(self, step_key: str | None, **kw: Any) -> None:
        w_from, w_until = kw.get("window_from"), kw.get("window_until")
        if w_from is None and w_until is None:
            return
        actor = kw.get("actor")
        if not isinstance(actor, Actor) or not actor.has(Role.HEAD, NIC):
            raise r.window_by_nic()
        lo = aware(w_from, "window_from") if w_from else self.form.window_from
        hi = aware(w_until, "window_until") if w_until else self.form.window_until
        if lo < self.form.window_from or hi > self.form.window_until or lo >= hi:
            raise r.window_widened()

    def _on_approved(self, actor: Actor, now: datetime, **kw: Any) -> list[Transition]:
        w_from, w_until = kw.get("window_from"), kw.get("window_until")
        self.window = Window(
            request_id=self.request_id,
            cameras=[p.camera_id for p in self.form.points],
            starts_at=aware(w_from) if w_from else self.form.window_from,
            ends_at=aware(w_until) if w_until else self.form.window_until,
        )
        return [self._t("approved", actor, now, window=self.window.model_dump(mode="json"))]

    def complete(self, actor: Actor, now: datetime, note: str = "") -> list[Transition]:
        """The work is done: the window closes now; moved cameras report their new position."""
        now = aware(now)
        if self.state is not RequestState.APPROVED or self.window is None:
            raise r.not_pending(self.state.value)
        if actor.department not in (NIC, self.form.applying_unit):
            raise r.not_party()
        if now < self.window.ends_at:
            end = max(now, self.window.starts_at)
            self.window = self.window.model_copy(update={"ends_at": end})
        self.state = RequestState.COMPLETED
        self.completed_at = now
        moved = [
            {"camera_id": p.camera_id, "position": p.new_position}
            for p in self.form.points
            if p.action is PointAction.MOVE
        ]
        return [
            self._t(
                "completed",
                actor,
                now,
                window=self.window.model_dump(mode="json"),
                moved=moved,
                note=note,
            )
        ]
