"""New camera points (Art. 6, Annex 2).

    pending ──(urgent: 分管校领导 | normal: NIC → 分管校领导)──▶ approved
      ──NIC + department: installation plan──▶ planned
      ──department: site-survey record (Annex 2, stamped)──▶ surveyed
      ──NIC carries it out──▶ implemented: each new camera enters the inventory

The regulation details the urgent path (a single point, the school leader in charge
approves). For ordinary new points it refers to the school's other rules; **Decision:** NIC,
which co-ordinates the public system (Art. 4), gives its opinion first, then the school leader.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from cctv.contract import CameraRecord

from . import refusals as r
from .approval import Step
from .base import ApprovalRequest, RequestState
from .org import NIC, Actor, Role
from .transitions import Transition, aware

PROCESS = "newpoint"


class NewPointApplication(BaseModel):
    department: str = Field(min_length=1)  # using department: 谁使用、谁提出
    need: str = Field(min_length=1)
    urgent: bool = False
    positions: list[str] = Field(min_length=1)  # proposed positions (road/building + direction)
    notes: str = ""


class InstallationPlan(BaseModel):
    made_by: str
    made_at: datetime
    text: str = Field(min_length=1)
    points: int = Field(ge=1)


class SurveyRow(BaseModel):
    """One row of Annex 2 (视频监控工勘记录表)."""

    position: str = Field(min_length=1)  # 布点位置（道路名或建筑名+方位）
    camera_count: int = Field(ge=1)  # 摄像头个数
    fibre: bool  # 是否光纤连接
    cable_m: int = Field(ge=0)  # 线路长度，精确到米
    break_road: bool  # 是否破水泥路
    break_m: int = Field(ge=0)  # 破路长度，精确到米
    poles: int = Field(ge=0)  # 立杆个数
    notes: str = ""  # 备注

    @model_validator(mode="after")
    def _break(self) -> SurveyRow:
        if self.break_road and self.break_m <= 0:
            raise ValueError(f"{self.position}: breaking the road needs its length (破路长度)")
        if not self.break_road and self.break_m:
            raise ValueError(f"{self.position}: a break length without breaking the road")
        return self


class SiteSurvey(BaseModel):
    rows: list[SurveyRow] = Field(min_length=1)
    stamped_by: str  # head of the using department (使用部门签章)
    stamped_by_name: str
    stamped_at: datetime


class NewPointRequest(ApprovalRequest):
    PROCESS = PROCESS

    form: NewPointApplication
    plan: InstallationPlan | None = None
    survey: SiteSurvey | None = None
    cameras: list[CameraRecord] = Field(default_factory=list)

    @staticmethod
    def preview(form: NewPointApplication) -> list[Step]:
        leader_why = (
            "紧急新增个别摄像点，报分管校领导批准 (Art. 6)"
            if form.urgent
            else "新增公共视频监控摄像点，报分管校领导批准 (Art. 6, Decision)"
        )
        steps: list[Step] = []
        if not form.urgent:
            steps.append(
                Step(
                    key="nic",
                    stage=1,
                    role=Role.HEAD,
                    department=NIC,
                    title_zh="网络信息中心意见",
                    title_en="Network Information Center",
                    why="网络信息中心统筹公共视频监控系统建设 (Art. 4)",
                )
            )
        steps.append(
            Step(
                key="leader",
                stage=len(steps) + 1,
                role=Role.LEADER,
                title_zh="分管校领导意见",
                title_en="school leader in charge",
                why=leader_why,
            )
        )
        return steps

    @classmethod
    def submit(
        cls, request_id: str, form: NewPointApplication, requester: Actor, now: datetime
    ) -> tuple[NewPointRequest, list[Transition]]:
        now = aware(now)
        if requester.department != form.department:
            raise r.newpoint_not_your_unit()
        if form.urgent and len(form.positions) != 1:
            raise r.urgent_single_point()
        return cls._open(request_id, form, requester, now, cls.preview(form))

    def _data(self) -> dict[str, Any]:
        d = super()._data()
        d.update(department=self.form.department, urgent=self.form.urgent)
        return d

    def _expect(self, state: RequestState, what_zh: str, what_en: str) -> None:
        if self.state is not state:
            raise r.wrong_order(self.state.value, what_zh, what_en)

    def make_plan(self, actor: Actor, now: datetime, text: str, points: int) -> list[Transition]:
        """NIC, with the using department, draws up the installation plan."""
        now = aware(now)
        self._expect(RequestState.APPROVED, "制定安装方案", "make the plan")
        if actor.department != NIC:
            raise r.plan_by_nic()
        self.plan = InstallationPlan(made_by=actor.person_id, made_at=now, text=text, points=points)
        self.state = RequestState.PLANNED
        return [self._t("planned", actor, now, plan=self.plan.model_dump(mode="json"))]

    def file_survey(self, actor: Actor, now: datetime, rows: list[SurveyRow]) -> list[Transition]:
        """The using department fills in Annex 2 and stamps it (its head signs)."""
        now = aware(now)
        self._expect(RequestState.PLANNED, "填写工勘记录", "file the site survey")
        assert self.plan is not None
        if not actor.has(Role.HEAD, self.form.department):
            raise r.survey_by_department()
        if len(rows) != self.plan.points:
            raise r.survey_rows(self.plan.points, len(rows))
        self.survey = SiteSurvey(
            rows=rows, stamped_by=actor.person_id, stamped_by_name=actor.display, stamped_at=now
        )
        self.state = RequestState.SURVEYED
        return [self._t("surveyed", actor, now, survey=self.survey.model_dump(mode="json"))]

    def implement(
        self, actor: Actor, now: datetime, cameras: list[CameraRecord]
    ) -> list[Transition]:
        """NIC carries it out; each new camera enters the inventory (an event for ingest)."""
        now = aware(now)
        self._expect(RequestState.SURVEYED, "实施", "implement")
        assert self.survey is not None
        if actor.department != NIC:
            raise r.implemented_by_nic()
        expected = sum(row.camera_count for row in self.survey.rows)
        if len(cameras) != expected:
            raise r.camera_count(expected, len(cameras))
        self.cameras = cameras
        self.state = RequestState.IMPLEMENTED
        return [
            self._t(
                "implemented",
                actor,
                now,
                cameras=[c.model_dump(mode="json") for c in cameras],
            )
        ]
