"""The approval engine every process shares: a chain of stages, opinions, separation of duty.

A chain is a list of steps; each step belongs to a *stage*. All steps of a stage must approve
before any step of the next stage may act (steps cannot be skipped or reordered), while the
steps inside one stage are independent — that is how several managing departments each
approve their own part of one request (spec R13, Decision). Every rule the regulation sets on
approvals is enforced here, once, so each process gets them for free:

- nobody approves their own request, nor approves twice in one request;
- only a holder of the role the step asks for may act on it;
- a rejection ends the request and must give its reason;
- the requester may withdraw while no final decision has been taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from . import refusals as r
from .org import ROLE_NAMES, Actor, Role, department_zh


class Decision(StrEnum):
    APPROVE = "approve"  # 同意
    REJECT = "reject"  # 不同意


class FlowState(StrEnum):
    PENDING = "pending"  # 审批中
    APPROVED = "approved"  # 已批准
    REJECTED = "rejected"  # 未批准
    WITHDRAWN = "withdrawn"  # 已撤回


FLOW_STATE_ZH = {
    FlowState.PENDING: "审批中",
    FlowState.APPROVED: "已批准",
    FlowState.REJECTED: "未批准",
    FlowState.WITHDRAWN: "已撤回",
}


class Step(BaseModel):
    """One signature the chain needs: a role (in a department), at a stage, for some cameras."""

    key: str
    stage: int = Field(ge=1)
    role: Role
    department: str | None = None
    title_zh: str
    title_en: str
    why: str = ""  # the article and reason this step is in the chain
    cameras: list[str] = Field(default_factory=list)  # the part this step approves

    @property
    def who_zh(self) -> str:
        role_zh = ROLE_NAMES[self.role][0]
        if self.department:
            return f"{department_zh(self.department)}{role_zh}"
        return role_zh

    def eligible(self, actor: Actor) -> bool:
        return actor.has(self.role, self.department)


class Opinion(BaseModel):
    """意见: who decided, in which role, when, what, and the text they wrote."""

    step_key: str
    approver: Actor
    role: Role
    department: str | None
    time: datetime
    decision: Decision
    text: str = ""


class ApprovalFlow(BaseModel):
    requester: Actor
    steps: list[Step]
    opinions: list[Opinion] = Field(default_factory=list)
    state: FlowState = FlowState.PENDING
    decided_at: datetime | None = None
    withdrawn_at: datetime | None = None
    withdraw_reason: str = ""

    # ---- queries ----

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.key == key:
                return s
        raise r.unknown_step(key)

    def approved_keys(self) -> set[str]:
        return {o.step_key for o in self.opinions if o.decision is Decision.APPROVE}

    def current_stage(self) -> int | None:
        done = self.approved_keys()
        open_stages = [s.stage for s in self.steps if s.key not in done]
        return min(open_stages) if open_stages else None

    def due_steps(self) -> list[Step]:
        """Steps that may act now (empty once the flow is decided)."""
        if self.state is not FlowState.PENDING:
            return []
        stage = self.current_stage()
        done = self.approved_keys()
        return [s for s in self.steps if s.stage == stage and s.key not in done]

    def waiting_since(self, submitted_at: datetime) -> datetime:
        """When the current stage became due: the last approval so far, or submission."""
        times = [o.time for o in self.opinions if o.decision is Decision.APPROVE]
        return max(times, default=submitted_at)

    def can_act(self, actor: Actor) -> list[Step]:
        """Due steps this actor may sign now (used for inboxes)."""
        if actor.person_id == self.requester.person_id:
            return []
        if any(o.approver.person_id == actor.person_id for o in self.opinions):
            return []
        return [s for s in self.due_steps() if s.eligible(actor)]

    # ---- actions ----

    def _pick(self, actor: Actor, step_key: str | None) -> Step:
        if self.state is not FlowState.PENDING:
            raise r.not_pending(FLOW_STATE_ZH[self.state])
        if actor.person_id == self.requester.person_id:
            raise r.own_request()
        if any(o.approver.person_id == actor.person_id for o in self.opinions):
            raise r.approved_twice()
        due = self.due_steps()
        if step_key is not None:
            step = self.step(step_key)
            if step.key in self.approved_keys():
                raise r.step_decided(step.title_zh)
            if step not in due:
                raise r.out_of_order(step.title_zh)
            if not step.eligible(actor):
                raise r.not_your_step(step.who_zh)
            return step
        mine = [s for s in due if s.eligible(actor)]
        if mine:
            return mine[0]
        later = [s for s in self.steps if s.eligible(actor) and s.key not in self.approved_keys()]
        if later:
            raise r.out_of_order(later[0].title_zh)
        raise r.not_your_step(" / ".join(s.who_zh for s in due))

    def _sign(
        self, actor: Actor, now: datetime, decision: Decision, text: str, step_key: str | None
    ) -> Opinion:
        """The actor's opinion on the step they may sign now (or the refusal), recorded."""
        step = self._pick(actor, step_key)
        op = Opinion(
            step_key=step.key,
            approver=actor,
            role=step.role,
            department=step.department,
            time=now,
            decision=decision,
            text=text,
        )
        self.opinions.append(op)
        return op

    def approve(
        self, actor: Actor, now: datetime, text: str = "", step_key: str | None = None
    ) -> Opinion:
        op = self._sign(actor, now, Decision.APPROVE, text or "同意", step_key)
        if self.current_stage() is None:
            self.state = FlowState.APPROVED
            self.decided_at = now
        return op

    def reject(
        self, actor: Actor, now: datetime, text: str, step_key: str | None = None
    ) -> Opinion:
        if not text.strip():
            raise r.reason_required()
        op = self._sign(actor, now, Decision.REJECT, text.strip(), step_key)
        self.state = FlowState.REJECTED
        self.decided_at = now
        return op

    def withdraw(self, actor: Actor, now: datetime, reason: str = "") -> None:
        if self.state is not FlowState.PENDING:
            raise r.not_pending(FLOW_STATE_ZH[self.state])
        if actor.person_id != self.requester.person_id:
            raise r.only_requester_withdraws()
        self.state = FlowState.WITHDRAWN
        self.withdrawn_at = now
        self.withdraw_reason = reason

    # ---- invariant, used by tests and by the store before it commits ----

    def check_invariant(self) -> None:
        """Raise AssertionError if the flow is approved without every step properly signed."""
        if self.state is not FlowState.APPROVED:
            return
        by_step = {o.step_key: o for o in self.opinions if o.decision is Decision.APPROVE}
        assert set(by_step) == {s.key for s in self.steps}, "a step is unsigned"
        people = [o.approver.person_id for o in self.opinions]
        assert len(people) == len(set(people)), "someone signed twice"
        assert self.requester.person_id not in people, "requester signed"
        order = {o.step_key: i for i, o in enumerate(self.opinions)}
        for s in self.steps:
            assert s.eligible(by_step[s.key].approver), f"{s.key} signed by wrong role"
            for t in self.steps:
                if t.stage < s.stage:
                    assert order[t.key] < order[s.key], "stage order broken"


def chain_key(steps: Sequence[Step]) -> list[str]:
    """What identifies a chain as shown: each step's stage, key and the cameras it covers
    (a submission carrying another key was shown a chain the inventory has since changed)."""
    return [f"{s.stage}:{s.key}:{','.join(s.cameras)}" for s in steps]
