"""What every approval process shares: identity, requester, flow, state and transitions.

Subclasses add their form, their chain (``preview``) and what happens on approval
(``_on_approved``); approve / reject / withdraw and the transition records are written once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel

from cctv.contract.workflow import STATE_ZH, RequestState

from .approval import ApprovalFlow, FlowState, Step
from .org import NIC, Actor, Role
from .transitions import Transition, aware

__all__ = ["STATE_ZH", "ApprovalRequest", "RequestState"]  # the states live in the contract


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

    @classmethod
    def _open(
        cls,
        request_id: str,
        form: BaseModel,
        requester: Actor,
        now: datetime,
        steps: list[Step],
        **fields: Any,
    ) -> tuple[Self, list[Transition]]:
        """The request its process accepted, on its chain, and its 'submitted' record: how
        every process opens one once its own checks passed."""
        flow = ApprovalFlow(requester=requester, steps=steps)
        given: dict[str, Any] = {"form": form, **fields}  # the subclass's own fields
        req = cls(request_id=request_id, requester=requester, applied_at=now, flow=flow, **given)
        return req, req._submitted(now)

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

    def visible_to(self, actor: Actor) -> bool:
        """Who may see a request (issue 11): its applicant, everyone who signs or signed in its
        chain, the managing departments' people with a role beyond filling in forms, and NIC —
        not every signed-in guard."""
        flow = self.flow
        if actor.person_id == self.requester.person_id or actor.department == NIC:
            return True
        if any(actor.has(step.role, step.department) for step in flow.steps):
            return True
        if any(op.approver.person_id == actor.person_id for op in flow.opinions):
            return True
        departments = {step.department for step in flow.steps if step.department}
        officers = {Role.HEAD, Role.LEADER, Role.SYSADMIN, Role.OPERATOR}
        return actor.department in departments and bool(actor.roles & officers)

    def check_invariant(self) -> None:
        self.flow.check_invariant()
        if self.state not in (RequestState.PENDING, RequestState.REJECTED, RequestState.WITHDRAWN):
            assert self.flow.state is FlowState.APPROVED, "past approval without approval"
