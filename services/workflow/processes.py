"""The registry of workflow's processes: one entry per process, one interface for the service.

Each entry says what the service needs to know about a process: its names (Chinese first, from
the contract's vocabulary), the article it comes from, the prefix of the numbers people read out
(DY-2026-00001), and — for the processes that go through an approval chain — its form, its
request class, how its chain is derived and how it is opened, its one-line title, the actions
it takes after approval, its paper form, and the events and inbox notices its transitions bring
beside their own. The service (app.py) and the store dispatch through this table only: adding a
process is its module plus one entry here (ADR 0018).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from pydantic import BaseModel, ValidationError

from cctv.contract import CameraRecord, Event
from cctv.contract import rpcmodels as m
from cctv.contract.workflow import PROCESSES as VOCABULARY

from . import forms, notices
from . import refusals as r
from .access import AccessApplication, AccessRequest
from .approval import Step
from .base import ApprovalRequest
from .dutylog import HANDOVER_PROCESS, LOG_PROCESS
from .exam import ExamSupportApplication, ExamSupportRequest, check_notice
from .inventory import Inventory
from .newpoint import NewPointApplication, NewPointRequest, SurveyRow
from .notices import Notice
from .org import Actor
from .publishing import to_event
from .responsible import PROCESS as RESPONSIBLE_PROCESS
from .stopmove import StopMoveApplication, StopMoveRequest
from .transitions import Transition
from .workcalendar import ARTICLE as CALENDAR_ARTICLE
from .workcalendar import WorkCalendar

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Context:
    """What deriving a chain or opening a request may read: the inventory view, the official
    calendar (with NIC's notices) and the time of the request."""

    inventory: Inventory
    calendar: WorkCalendar
    now: datetime


def valid(model: type[M], value: Any, article: str) -> M:
    """Validate one part of an action's arguments; a bad field is named with the article."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        where, msg = r.first_error(exc, model.__name__)
        raise r.invalid_args(model.__name__, where, msg, article) from None


@dataclass(frozen=True)
class Action:
    """An action on an accepted request (retrieve, plan, complete…): its typed arguments from
    the contract, the article a bad argument names, and the domain call."""

    args: type[m.ActArgs]
    article: str
    run: Callable[[Any, Actor, datetime, Any], list[Transition]]

    def __call__(
        self, req: ApprovalRequest, actor: Actor, now: datetime, raw: Any
    ) -> list[Transition]:
        return self.run(req, actor, now, valid(self.args, raw, self.article))


def _published(t: Transition) -> list[Event]:
    return [to_event(t)]


def _no_notices(_t: Transition) -> list[Notice]:
    return []


@dataclass(frozen=True, kw_only=True)
class Process:
    """A process of the regulation whose transitions workflow publishes."""

    name: str
    zh: str
    en: str
    article: str
    prefix: str | None = None  # numbers people read out; None: keyed by its own id
    events: Callable[[Transition], list[Event]] = _published  # what a transition publishes
    notices: Callable[[Transition], list[Notice]] = _no_notices  # inbox lines beside it


@dataclass(frozen=True, kw_only=True)
class ApprovalProcess(Process):
    """A process that starts with a form and goes through an approval chain."""

    form: type[BaseModel]
    request: type[ApprovalRequest]
    chain: Callable[[Any, Context], list[Step]]  # shown before submitting (or refused)
    open: Callable[[str, Any, Actor, Context], tuple[ApprovalRequest, list[Transition]]]
    title: Callable[[Any], str]  # the one line a person recognises in an inbox
    actions: Mapping[str, Action] = field(default_factory=dict)
    paper: Callable[[Any, Inventory | None], forms.FormDoc] | None = None  # Annex 2/3/4

    def parse(self, form: dict[str, Any]) -> Any:
        """Validate the form; a bad field is named together with the form's article."""
        try:
            return self.form.model_validate(form)
        except ValidationError as exc:
            raise r.invalid_form(*r.first_error(exc, "form"), self.article) from None

    def refused(
        self, request_id: str, actor: Actor, now: datetime, exc: r.Refusal, form: BaseModel
    ) -> Transition:
        """不予受理 is itself on the record, with the number it was given and the form."""
        return Transition(
            process=self.name,
            name="refused",
            key=request_id,
            actor=actor.person_id,
            time=now,
            data={
                "request_id": request_id,
                "state": "refused",
                "refusal": exc.to_dict(),
                "form": form.model_dump(mode="json"),
            },
        )

    def action(self, name: str) -> Action:
        try:
            return self.actions[name]
        except KeyError:
            raise r.unknown_action(self.name, name, self.article) from None


class _Names(TypedDict):
    name: str
    zh: str
    en: str


def _names(name: str) -> _Names:
    """A process's names as the contract's vocabulary has them (the console shows the same)."""
    zh, en, _annex = VOCABULARY[name]
    return {"name": name, "zh": zh, "en": en}


def _access_events(t: Transition) -> list[Event]:
    """A retrieval is also an access to footage, on the audited access record (Art. 16)."""
    return [to_event(t), *notices.access_recorded(t)]


def _exam_chain(form: ExamSupportApplication, ctx: Context) -> list[Step]:
    check_notice(ctx.now, form.starts_at, ctx.calendar)
    return ExamSupportRequest.preview(form)


def _survey(req: NewPointRequest, a: Actor, now: datetime, x: m.SurveyArgs) -> list[Transition]:
    return req.file_survey(a, now, [valid(SurveyRow, row, "Annex 2") for row in x.rows])


def _implement(
    req: NewPointRequest, a: Actor, now: datetime, x: m.ImplementArgs
) -> list[Transition]:
    return req.implement(a, now, [valid(CameraRecord, c, "Art. 6") for c in x.cameras])


ACCESS = ApprovalProcess(
    **_names("access"),
    article="Art. 16, Annex 4",
    prefix="DY",  # 调阅
    form=AccessApplication,
    request=AccessRequest,
    chain=lambda form, ctx: AccessRequest.preview(form, ctx.inventory),
    open=lambda rid, form, who, ctx: AccessRequest.submit(rid, form, who, ctx.inventory, ctx.now),
    title=notices.access_title,
    actions={
        "retrieve": Action(
            m.RetrieveArgs,
            "Art. 16(1)3",
            lambda req, a, now, x: req.retrieve(
                a,
                now,
                purpose=x.purpose,
                destination=x.destination,
                cameras=x.cameras,
                footage_from=x.footage_from,
                footage_until=x.footage_until,
                export_sha256=x.export_sha256,
            ),
        ),
        "revoke": Action(
            m.RevokeArgs, "Art. 16", lambda req, a, now, x: req.revoke(a, now, x.reason)
        ),
        "extend_hold": Action(
            m.ExtendHoldArgs,
            "Art. 18",
            lambda req, a, now, x: req.extend_hold(a, now, x.hold_id, x.until, x.authority_ref),
        ),
    },
    paper=forms.annex4,
    events=_access_events,
)

STOPMOVE = ApprovalProcess(
    **_names("stopmove"),
    article="Art. 8, Annex 3",
    prefix="TY",  # 停用挪移
    form=StopMoveApplication,
    request=StopMoveRequest,
    chain=lambda form, ctx: StopMoveRequest.preview(form, ctx.inventory),
    open=lambda rid, form, who, ctx: StopMoveRequest.submit(rid, form, who, ctx.inventory, ctx.now),
    title=notices.stopmove_title,
    actions={
        "complete": Action(
            m.CompleteArgs, "Art. 8", lambda req, a, now, x: req.complete(a, now, x.note)
        ),
    },
    paper=lambda req, _inv: forms.annex3(req),
)

NEWPOINT = ApprovalProcess(
    **_names("newpoint"),
    article="Art. 6, Annex 2",
    prefix="XZ",  # 新增点位
    form=NewPointApplication,
    request=NewPointRequest,
    chain=lambda form, _ctx: NewPointRequest.preview(form),
    open=lambda rid, form, who, ctx: NewPointRequest.submit(rid, form, who, ctx.now),
    title=notices.newpoint_title,
    actions={
        "plan": Action(
            m.PlanArgs, "Art. 6", lambda req, a, now, x: req.make_plan(a, now, x.text, x.points)
        ),
        "survey": Action(m.SurveyArgs, "Annex 2", _survey),
        "implement": Action(m.ImplementArgs, "Art. 6", _implement),
    },
    paper=lambda req, _inv: forms.annex2(req),
)

EXAM = ApprovalProcess(
    **_names("exam"),
    article="Art. 10",
    prefix="KS",  # 考试
    form=ExamSupportApplication,
    request=ExamSupportRequest,
    chain=_exam_chain,
    open=lambda rid, form, who, ctx: ExamSupportRequest.submit(
        rid, form, who, ctx.inventory, ctx.now, ctx.calendar
    ),
    title=notices.exam_title,
)

# Records kept beside the approvals: their transitions are published the same way.
DUTYLOG = Process(
    name=LOG_PROCESS, zh="值班日志", en="duty logbook", article="Art. 14", prefix="RZ"
)
HANDOVER = Process(
    name=HANDOVER_PROCESS, zh="交接班", en="shift handover", article="Art. 14(3)", prefix="JB"
)
RESPONSIBLE = Process(
    name=RESPONSIBLE_PROCESS,
    zh="责任人与布防计划",
    en="responsible persons and arming schedules",
    article="Art. 9",
    notices=notices.on_file_changed,  # 后勤处 and NIC are told at once (Art. 9)
)
CALENDAR = Process(
    name="calendar", zh="节假日安排", en="official calendar", article=CALENDAR_ARTICLE
)

REGISTRY: dict[str, Process] = {
    p.name: p for p in (ACCESS, STOPMOVE, NEWPOINT, EXAM, DUTYLOG, HANDOVER, RESPONSIBLE, CALENDAR)
}
# The processes that start with a form, in the order people see them.
APPROVALS: dict[str, ApprovalProcess] = {
    k: p for k, p in REGISTRY.items() if isinstance(p, ApprovalProcess)
}


def process(name: str) -> Process:
    """Any process by name (a transition's), e.g. to find its event and notice hooks."""
    return REGISTRY[name]


def approval(name: str) -> ApprovalProcess:
    """The approval process a requester names; an unknown one is refused, listing the rest."""
    try:
        return APPROVALS[name]
    except KeyError:
        raise r.unknown_process(name, list(APPROVALS)) from None


def of(req: ApprovalRequest) -> ApprovalProcess:
    """The process a stored request belongs to."""
    return APPROVALS[req.PROCESS]


def prefix(name: str) -> str:
    """The number prefix of a process that numbers its records."""
    p = REGISTRY[name].prefix
    if p is None:
        raise KeyError(f"process {name} does not number its records")
    return p
