"""What every approval process shares: identity, requester, flow, state and transitions.

Subclasses add their form, their chain (``preview``) and what happens on approval
(``_on_approved``); approve / reject / withdraw and the transition records are written once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel

from .approval import ApprovalFlow, FlowState
from .org import Actor
from .transitions import Transition, aware


class RequestState(StrEnum):
    PENDING = "pending"  # 审批中
    APPROVED = "approved"  # 已批准
    REJECTED = "rejected"  # 未批准
    WITHDRAWN = "withdrawn"  # 已撤回
    RETRIEVED = "retrieved"  # 已调取 (access)
    PLANNED = "planned"  # 已制定安装方案 (new point)
    SURVEYED = "surveyed"  # 已填写工勘记录 (new point)
    IMPLEMENTED = "implemented"  # 已实施 (new point)
    COMPLETED = "completed"  # 已完成 (stop/move: work finished, window closed)


STATE_ZH = {
    RequestState.PENDING: "审批中",
    RequestState.APPROVED: "已批准",
    RequestState.REJECTED: "未批准",
    RequestState.WITHDRAWN: "已撤回",
    RequestState.RETRIEVED: "已调取",
    RequestState.PLANNED: "已制定安装方案",
    RequestState.SURVEYED: "已填写工勘记录",
    RequestState.IMPLEMENTED: "已实施",
    RequestState.COMPLETED: "已完成",
}


class ApprovalRequest(BaseModel):
    PROCESS: ClassVar[str] = ""

    request_id: str
    requester: Actor
    applied_at: datetime
    flow: ApprovalFlow
    state: RequestState = RequestState.PENDING

    def _data(self) -> dict[str, Any]:
        """Fields every event of this process carries (subclasses extend)."""
        return {"request_id": self.request_id, "state": self.state.value}

    def _t(self, name: str, actor: Actor | None, now: datetime, **data: Any) -> Transition:
        base = self._data()
        base.update(data)
        return Transition(
            process=self.PROCESS,
            name=name,
            key=self.request_id,
            actor=actor.person_id if actor else None,
            time=now,
            data=base,
        )

    def _submitted(self, now: datetime) -> list[Transition]:
        chain = [s.model_dump(mode="json") for s in self.flow.steps]
        return [self._t("submitted", self.requester, now, chain=chain)]

    def _on_approved(self, actor: Actor, now: datetime, **kw: Any) -> list[Transition]:
        return [self._t("approved", actor, now)]

    def _check_step_args(self, step_key: str | None, **kw: Any) -> None:
        """Hook: validate per-step extra arguments before anything changes."""

    def approve(
        self,
        actor: Actor,
        now: datetime,
        text: str = "",
        step_key: str | None = None,
        **kw: Any,
    ) -> list[Transition]:
        now = aware(now)
        self._check_step_args(step_key, actor=actor, **kw)
        op = self.flow.approve(actor, now, text, step_key)
        out = [self._t("opinion", actor, now, opinion=op.model_dump(mode="json"))]
        if self.flow.state is FlowState.APPROVED:
            self.state = RequestState.APPROVED
            out.extend(self._on_approved(actor, now, **kw))
        return out

    def reject(
        self, actor: Actor, now: datetime, text: str, step_key: str | None = None
    ) -> list[Transition]:
        now = aware(now)
        op = self.flow.reject(actor, now, text, step_key)
        self.state = RequestState.REJECTED
        return [self._t("rejected", actor, now, opinion=op.model_dump(mode="json"))]

    def withdraw(self, actor: Actor, now: datetime, reason: str = "") -> list[Transition]:
        now = aware(now)
        self.flow.withdraw(actor, now, reason)
        self.state = RequestState.WITHDRAWN
        return [self._t("withdrawn", actor, now, reason=reason)]

    def check_invariant(self) -> None:
        self.flow.check_invariant()
        if self.state not in (RequestState.PENDING, RequestState.REJECTED, RequestState.WITHDRAWN):
            assert self.flow.state is FlowState.APPROVED, "past approval without approval"
