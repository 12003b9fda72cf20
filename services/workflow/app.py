"""workflow's FastStream wiring: request-reply for people, consumers for what it must know.

Each action loads the request under a row lock, runs the domain method, saves the new state,
and stages every resulting event in the outbox and the request's history, all in one
transaction: the audit trail sees each transition exactly once, even across a crash.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import structlog
from pydantic import BaseModel, ValidationError

from cctv.contract import CameraRecord, Envelope, Event, subject_for
from cctv.contract import rpcmodels as m
from cctv.contract.events import (
    AccessRecorded,
    AlertAcknowledged,
    AlertHandedOver,
    AlertRaised,
    AllClear,
    ApprovalNudge,
    CameraRemoved,
    CameraUpserted,
    FaultOpened,
    FaultResolved,
    FootageExported,
)
from cctv.contract.rpcmodels import OPERATIONS, RpcCall, error_reply
from cctv.plumbing.identity import caller_actor
from cctv.plumbing.inventory import InventoryView
from cctv.plumbing.outbox import stage
from cctv.plumbing.service import Service

from . import forms, rpc, store
from . import refusals as r
from .access import AccessApplication, AccessRequest
from .base import STATE_ZH, ApprovalRequest, RequestState
from .dutylog import DutyLog, EntryKind, ShiftHandover
from .exam import ExamSupportApplication, ExamSupportRequest, check_notice
from .newpoint import NewPointApplication, NewPointRequest, SurveyRow
from .org import Actor, Role, department_zh
from .publishing import to_event
from .reminders import Policy, due_nudges
from .responsible import ArmingPeriod, Person, parse_period
from .routing import METHOD_ZH
from .settings import WorkflowSettings
from .stopmove import StopMoveApplication, StopMoveRequest
from .transitions import Transition
from .workcalendar import DEFAULT_CALENDAR, WorkCalendar, import_notice, package_years

log = structlog.get_logger()
Clock = Callable[[], datetime]
Json = dict[str, Any]
Call = RpcCall | None
Handler = Callable[[Any, Call], Awaitable[Json]]

FORMS: dict[str, type[Any]] = {
    "access": AccessApplication,
    "stopmove": StopMoveApplication,
    "newpoint": NewPointApplication,
    "exam": ExamSupportApplication,
}
# The article each form comes from: an invalid form names it like any other refusal.
FORM_ARTICLE = {
    "access": "Art. 16, Annex 4",
    "stopmove": "Art. 8, Annex 3",
    "newpoint": "Art. 6, Annex 2",
    "exam": "Art. 10",
}
PROCESS_ZH = {
    "access": "视频资料调阅",
    "stopmove": "停用、挪移监控点位",
    "newpoint": "新增摄像点",
    "exam": "考试监控保障",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _error(exc: Exception) -> dict[str, Any]:
    """The one error shape of every service (cctv.contract.rpcmodels.ErrorReply); workflow's
    own fields (kind, zh, en, message, detail) stay beside it for older callers."""
    if isinstance(exc, r.WorkflowError):
        return {
            **exc.to_dict(),
            **error_reply(exc.code, exc.zh, exc.en, exc.article),
            "error": exc.message,
        }
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "form"
        return error_reply(
            "invalid_form", "表单有误", f"invalid form: {where}: {err.get('msg')}", kind="invalid"
        )
    raise exc


def title(req: ApprovalRequest) -> str:
    """One line a person recognises in an inbox."""
    if isinstance(req, AccessRequest):
        f = req.form
        unit = department_zh(f.applying_unit)
        return f"{unit} {METHOD_ZH[f.method]} {len(f.cameras)}路视频 — {f.reason[:30]}"
    if isinstance(req, StopMoveRequest):
        return f"{department_zh(req.form.applying_unit)} 停用/挪移 {req.form.count}个点位"
    if isinstance(req, NewPointRequest):
        urgent = "紧急" if req.form.urgent else ""
        return f"{department_zh(req.form.department)} {urgent}新增{len(req.form.positions)}个点位"
    if isinstance(req, ExamSupportRequest):
        return f"{req.form.exam_name} {req.form.building}{'、'.join(req.form.rooms)}"
    return req.request_id


def summary(req: ApprovalRequest) -> dict[str, Any]:
    return {
        "request_id": req.request_id,
        "process": req.PROCESS,
        "process_zh": PROCESS_ZH[req.PROCESS],
        "state": req.state.value,
        "state_zh": STATE_ZH[req.state],
        "title": title(req),
        "requester": req.requester.model_dump(mode="json"),
        "applied_at": req.applied_at.isoformat(),
        "due": [
            {"key": s.key, "title_zh": s.title_zh, "who_zh": s.who_zh} for s in req.flow.due_steps()
        ],
    }


def chain_key(steps: Sequence[Any]) -> list[str]:
    """What identifies a chain as shown: each step's stage, key and the cameras it covers."""
    return [f"{s.stage}:{s.key}:{','.join(s.cameras)}" for s in steps]


def _steps(steps: list[Any]) -> list[dict[str, Any]]:
    return [{**s.model_dump(mode="json"), "who_zh": s.who_zh} for s in steps]


class WorkflowService:
    def __init__(
        self,
        svc: Service,
        settings: WorkflowSettings,
        *,
        clock: Clock = _utcnow,
        cal: WorkCalendar = DEFAULT_CALENDAR,
    ) -> None:
        self.svc = svc
        self.settings = settings
        self.clock = clock
        self.cal = cal
        self.schema = svc.schema

    @property
    def pool(self) -> asyncpg.Pool:
        assert self.svc.pool is not None
        return self.svc.pool

    # ---- committing ----

    async def commit(
        self, conn: asyncpg.Connection, ts: list[Transition], correlation_id: str | None = None
    ) -> list[Envelope]:
        """Stage each transition's event in the outbox and the history (caller's transaction)."""
        out = []
        for t in ts:
            event = to_event(t)
            out.append(await self._stage(conn, t.key, event, t.actor, correlation_id))
            if t.process == "access" and t.name == "retrieved":
                rec = t.data["retrieval"]
                extra = AccessRecorded(
                    action="admin",
                    actor=rec["retrieved_by"],
                    camera_ids=rec["cameras"],
                    footage_from=rec["footage_from"],
                    footage_to=rec["footage_until"],
                    grant_id=f"{t.key}-G",
                    request_no=t.key,
                    detail=f"调取 retrieval: {rec['purpose']} → {rec['destination']} (Art. 16)",
                )
                out.append(await self._stage(conn, t.key, extra, t.actor, correlation_id))
        return out

    async def _stage(
        self,
        conn: asyncpg.Connection,
        key: str,
        event: Event,
        actor: str | None,
        correlation_id: str | None,
    ) -> Envelope:
        env = await stage(
            conn,
            self.schema,
            event,
            source="workflow",
            key=key,
            actor=actor or "system",
            correlation_id=correlation_id,
        )
        await store.add_history(conn, self.schema, key, env, subject_for(event, key))
        return env

    # ---- request-reply ----

    def handlers(self) -> dict[str, Handler]:
        return {
            rpc.PREVIEW: self.preview,
            rpc.SUBMIT: self.submit,
            rpc.APPROVE: self.approve,
            rpc.REJECT: self.reject,
            rpc.WITHDRAW: self.withdraw,
            rpc.ACT: self.act,
            rpc.GET: self.get,
            rpc.PRINT: self.print_form,
            rpc.INBOX: self.inbox,
            rpc.LIST: self.list,
            rpc.CAMERAS: self.cameras,
            rpc.LOG_RECORD: self.log_record,
            rpc.LOG_CLOSE: self.log_close,
            rpc.LOG_LIST: self.log_list,
            rpc.HANDOVER_OFFER: self.handover_offer,
            rpc.HANDOVER_CONFIRM: self.handover_confirm,
            rpc.OPEN_ITEMS: self.open_items,
            rpc.HANDOVERS: self.handovers,
            rpc.RESPONSIBLE_SET: self.responsible_set,
            rpc.SCHEDULE_SET: self.schedule_set,
            rpc.SYSTEMS: self.systems,
            rpc.CALENDAR: self.calendar,
            rpc.CALENDAR_IMPORT: self.calendar_import,
            rpc.REFUSALS: self.refusals,
        }

    @staticmethod
    def guarded(fn: Handler) -> Handler:
        """Workflow's refusals in the one error shape; the shell answers everything else."""

        async def wrapper(req: Any, call: RpcCall | None = None) -> dict[str, Any]:
            try:
                return await fn(req, call)
            except (r.WorkflowError, ValidationError) as exc:
                return _error(exc)
            except (ValueError, TypeError, KeyError) as exc:
                return error_reply("bad_request", "请求有误", f"bad request: {exc}", kind="invalid")

        return wrapper

    @staticmethod
    def _actor(_ignored: Any = None) -> Actor:
        """The person acting is the one the signed identity names (issue 11); an `actor` in
        the request body is what the caller typed, and is ignored."""
        who = caller_actor()
        if who is None:
            raise r.InvalidInput(
                "identity_required",
                "缺少已认证身份，请登录后操作",
                "this request acts for a person: it needs the signed identity of a console "
                "session or of `cctv login` (Cctv-Identity header); a name in the request "
                "is not enough",
                "Art. 15",
            )
        return who

    @staticmethod
    def _process(p: str) -> str:
        if p not in FORMS:
            raise r.InvalidInput(
                "unknown_process",
                f"未知流程「{p}」",
                f"unknown process '{p}' (one of {', '.join(FORMS)})",
                "Art. 6-16",
            )
        return p

    @staticmethod
    def _form(process: str, form: dict[str, Any]) -> Any:
        """Validate the form; a bad field is named together with the form's article."""
        try:
            return FORMS[process].model_validate(form)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "form"
            raise r.InvalidInput(
                "invalid_form",
                f"表单有误：{where}",
                f"invalid form: {where}: {err.get('msg')}",
                FORM_ARTICLE[process],
                field=where,
            ) from None

    async def preview(self, req: m.FormRequest | Json, _call: Call = None) -> Json:
        q = m.FormRequest.coerce(req)
        process = self._process(q.process)
        form = self._form(process, q.form)
        inv = await store.inventory(self.pool, self.schema)
        if process == "access":
            steps = AccessRequest.preview(form, inv)
        elif process == "stopmove":
            steps = StopMoveRequest.preview(form, inv)
        elif process == "newpoint":
            steps = NewPointRequest.preview(form)
        else:
            check_notice(self.clock(), form.starts_at, await self._calendar(self.pool))
            steps = ExamSupportRequest.preview(form)
        return {"steps": _steps(steps), "chain_key": chain_key(steps)}

    async def submit(self, req: m.FormRequest | Json, _call: Call = None) -> Json:
        q = m.FormRequest.coerce(req)
        process = self._process(q.process)
        actor = self._actor()
        form = self._form(process, q.form)
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            inv = await store.inventory(conn, self.schema)
            rid = await store.next_id(conn, process, now, self.schema)
            try:
                created: tuple[ApprovalRequest, list[Transition]]
                if process == "access":
                    created = AccessRequest.submit(rid, form, actor, inv, now)
                elif process == "stopmove":
                    created = StopMoveRequest.submit(rid, form, actor, inv, now)
                elif process == "newpoint":
                    created = NewPointRequest.submit(rid, form, actor, now)
                else:
                    cal = await self._calendar(conn)
                    created = ExamSupportRequest.submit(rid, form, actor, inv, now, cal)
            except r.Refusal as exc:  # 不予受理 is itself on the record, with its number
                await self.commit(conn, [self._refused(process, rid, actor, now, exc, form)])
                reply = _error(exc)
                reply["request_id"] = rid
                return reply
            new, ts = created
            shown = q.expected_chain
            if shown is not None and list(shown) != chain_key(new.flow.steps):
                # The inventory changed since the requester saw the chain: show it again.
                raise r.InvalidInput(
                    "chain_changed",
                    "审批流程已随设备清单变化，请重新查看审批流程后再提交",
                    "the approval chain changed with the inventory since it was shown; "
                    "look at it again before submitting",
                    FORM_ARTICLE[process],
                )
            await store.insert_request(conn, new, self.schema)
            await self.commit(conn, ts)
        return {"request": new.model_dump(mode="json"), "summary": summary(new)}

    @staticmethod
    def _refused(
        process: str, rid: str, actor: Actor, now: datetime, exc: r.Refusal, form: Any
    ) -> Transition:
        return Transition(
            process=process,
            name="refused",
            key=rid,
            actor=actor.person_id,
            time=now,
            data={
                "request_id": rid,
                "state": "refused",
                "refusal": exc.to_dict(),
                "form": form.model_dump(mode="json"),
            },
        )

    async def _change(
        self,
        q: m.DecisionRequest | m.ActRequest,
        fn: Callable[[ApprovalRequest, Actor, datetime], list[Transition]],
    ) -> Json:
        actor = self._actor()
        rid = q.request_id
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            current = await store.load_request(conn, rid, self.schema, lock=True)
            if current is None:
                raise r.NotFound("not_found", f"申请 {rid} 不存在", f"no request {rid}", "-")
            ts = fn(current, actor, now)
            current.check_invariant()
            await store.save_request(conn, current, now, self.schema)
            await self.commit(conn, ts)
        return {
            "request": current.model_dump(mode="json"),
            "summary": summary(current),
            "transitions": [t.subject for t in ts],
        }

    async def approve(self, req: m.DecisionRequest | Json, _call: Call = None) -> Json:
        q = m.DecisionRequest.coerce(req)
        window = {"window_from": q.window_from, "window_until": q.window_until}
        extra = {k: v for k, v in window.items() if v is not None}
        return await self._change(
            q, lambda cur, a, now: cur.approve(a, now, q.text, q.step_key, **extra)
        )

    async def reject(self, req: m.DecisionRequest | Json, _call: Call = None) -> Json:
        q = m.DecisionRequest.coerce(req)
        return await self._change(q, lambda cur, a, now: cur.reject(a, now, q.text, q.step_key))

    async def withdraw(self, req: m.DecisionRequest | Json, _call: Call = None) -> Json:
        q = m.DecisionRequest.coerce(req)
        return await self._change(q, lambda cur, a, now: cur.withdraw(a, now, q.reason))

    async def act(self, req: m.ActRequest | Json, _call: Call = None) -> Json:
        q = m.ActRequest.coerce(req)
        action, args = q.action, q.args

        def run(cur: ApprovalRequest, a: Actor, now: datetime) -> list[Transition]:
            if isinstance(cur, AccessRequest) and action == "retrieve":
                x = _valid(m.RetrieveArgs, args, "Art. 16(1)3")
                return cur.retrieve(
                    a,
                    now,
                    purpose=x.purpose,
                    destination=x.destination,
                    cameras=x.cameras,
                    footage_from=x.footage_from,
                    footage_until=x.footage_until,
                    export_sha256=x.export_sha256,
                )
            if isinstance(cur, AccessRequest) and action == "revoke":
                return cur.revoke(a, now, _valid(m.RevokeArgs, args, "Art. 16").reason)
            if isinstance(cur, AccessRequest) and action == "extend_hold":
                h = _valid(m.ExtendHoldArgs, args, "Art. 18")
                return cur.extend_hold(a, now, h.hold_id, h.until, h.authority_ref)
            if isinstance(cur, StopMoveRequest) and action == "complete":
                return cur.complete(a, now, _valid(m.CompleteArgs, args, "Art. 8").note)
            if isinstance(cur, NewPointRequest) and action == "plan":
                p = _valid(m.PlanArgs, args, "Art. 6")
                return cur.make_plan(a, now, p.text, p.points)
            if isinstance(cur, NewPointRequest) and action == "survey":
                survey = _valid(m.SurveyArgs, args, "Annex 2")
                rows = [_valid(SurveyRow, x, "Annex 2") for x in survey.rows]
                return cur.file_survey(a, now, rows)
            if isinstance(cur, NewPointRequest) and action == "implement":
                done = _valid(m.ImplementArgs, args, "Art. 6")
                cams = [_valid(CameraRecord, x, "Art. 6") for x in done.cameras]
                return cur.implement(a, now, cams)
            raise r.InvalidInput(
                "unknown_action",
                f"「{cur.PROCESS}」没有操作「{action}」",
                f"process {cur.PROCESS} has no action '{action}'",
                FORM_ARTICLE.get(cur.PROCESS, "Art. 6-18"),
            )

        return await self._change(q, run)

    async def get(self, req: m.RequestRef | Json, _call: Call = None) -> Json:
        actor = self._actor()
        rid = m.RequestRef.coerce(req).request_id
        async with self.pool.acquire() as conn:
            cur = await store.load_request(conn, rid, self.schema)
            if cur is None or not visible_to(cur, actor):  # not even whether it exists
                raise r.NotFound("not_found", f"申请 {rid} 不存在", f"no request {rid}", "-")
            hist = await store.history(conn, self.schema, rid)
        return {
            "request": cur.model_dump(mode="json"),
            "summary": summary(cur),
            "steps": _steps(cur.flow.steps),
            "history": hist,
        }

    async def print_form(self, req: m.PrintRequest | Json, _call: Call = None) -> Json:
        """The paper form (Annex 2, 3, 4) of a request, as HTML or PDF: printing is workflow's
        job, so the console and the CLI never render workflow's templates themselves."""
        actor = self._actor()
        q = m.PrintRequest.coerce(req)
        rid, fmt = q.request_id, q.format  # the shell has checked: html or pdf
        async with self.pool.acquire() as conn:
            cur = await store.load_request(conn, rid, self.schema)
            if cur is None or not visible_to(cur, actor):  # a guard may not print it (issue 11)
                raise r.NotFound("not_found", f"申请 {rid} 不存在", f"no request {rid}", "-")
            inv = await store.inventory(conn, self.schema)
        try:
            doc = forms.form_for(cur, inv)
        except ValueError as exc:
            raise r.NotFound(
                "no_paper_form", f"{PROCESS_ZH[cur.PROCESS]}没有纸质表单", str(exc), "Annex 2-4"
            ) from None
        if fmt == "html":
            return {"format": "html", "filename": doc.filename, "html": forms.render_html(doc)}
        pdf = forms.render_pdf(doc)
        if pdf is None:
            raise r.NotFound(
                "no_cjk_font",
                "服务器未安装中文字体，请打印HTML版",
                "no CJK font installed (apt-get install fonts-noto-cjk); print the HTML instead",
                "-",
            )
        return {
            "format": "pdf",
            "filename": doc.filename,
            "pdf_base64": base64.b64encode(pdf).decode(),
        }

    async def inbox(self, req: m.ActorRequest | Json, _call: Call = None) -> Json:
        actor = self._actor()
        pending = await store.list_requests(
            self.pool, self.schema, states=[RequestState.PENDING.value]
        )
        to_act = [summary(x) for x in pending if x.flow.can_act(actor)]
        mine = await store.list_requests(self.pool, self.schema, requester=actor.person_id)
        notices = await store.notices_for(
            self.pool, self.schema, actor.department, [x.value for x in actor.roles]
        )
        return {"to_act": to_act, "mine": [summary(x) for x in mine], "notices": notices}

    async def list(self, req: m.ListRequest | Json, _call: Call = None) -> Json:
        actor = self._actor()
        q = m.ListRequest.coerce(req)
        states = [q.state] if q.state else None
        got = await store.list_requests(
            self.pool, self.schema, process=q.process or None, states=states
        )
        return {"requests": [summary(x) for x in got if visible_to(x, actor)]}

    async def cameras(self, _req: Any = None, _call: Call = None) -> Json:
        return {"cameras": await store.camera_records(self.pool, self.schema)}

    # ---- duty log, handover (Art. 13-14) ----

    async def log_record(self, req: m.LogRecordRequest | Json, _call: Call = None) -> Json:
        q = m.LogRecordRequest.coerce(req)
        actor = self._actor()
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            eid = await store.next_id(conn, "dutylog", now, self.schema)
            entry, ts = DutyLog().record(
                actor,
                now,
                eid,
                EntryKind(q.kind),
                q.text,
                cameras=q.cameras,
                location=q.location,
                reported_to=q.reported_to,
            )
            await store.save_entry(conn, self.schema, entry)
            await self.commit(conn, ts)
        return {"entry": entry.model_dump(mode="json")}

    async def log_close(self, req: m.LogCloseRequest | Json, _call: Call = None) -> Json:
        q = m.LogCloseRequest.coerce(req)
        actor, eid = self._actor(), q.entry_id
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            book = DutyLog(
                entries=[e for e in await store.entries(conn, self.schema) if e.entry_id == eid]
            )
            ts = book.close(actor, now, eid, q.resolution)
            await store.save_entry(conn, self.schema, book.entries[0])
            await self.commit(conn, ts)
        return {"entry": book.entries[0].model_dump(mode="json")}

    async def log_list(self, req: m.LogListRequest | Json, _call: Call = None) -> Json:
        open_only = m.LogListRequest.coerce(req or {}).open_only
        got = await store.entries(self.pool, self.schema, open_only=open_only)
        return {"entries": [e.model_dump(mode="json") for e in got]}

    async def open_items(self, _req: Any = None, _call: Call = None) -> Json:
        items = await store.open_items(self.pool, self.schema)
        return {"items": [i.model_dump() | {"key": i.key} for i in items]}

    async def handovers(self, _req: Any = None, _call: Call = None) -> Json:
        return {"handovers": await store.offered_handovers(self.pool, self.schema)}

    async def handover_offer(self, req: m.HandoverOfferRequest | Json, _call: Call = None) -> Json:
        q = m.HandoverOfferRequest.coerce(req)
        actor = self._actor()
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('workflow-handover'))")
            hid = await store.next_id(conn, "handover", now, self.schema)
            h, ts = ShiftHandover.offer(
                hid,
                actor,
                q.incoming,
                now,
                await store.open_items(conn, self.schema),
                q.notes,
            )
            for old in await store.offered_by(conn, self.schema, actor.person_id):
                ts = old.supersede(actor, now, by=hid) + ts
                await store.save_handover(conn, self.schema, old)
            await store.save_handover(conn, self.schema, h)
            await self.commit(conn, ts)
        return {"handover": h.model_dump(mode="json")}

    async def handover_confirm(
        self, req: m.HandoverConfirmRequest | Json, _call: Call = None
    ) -> Json:
        q = m.HandoverConfirmRequest.coerce(req)
        actor, hid = self._actor(), q.handover_id
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('workflow-handover'))")
            h = await store.load_handover(conn, self.schema, hid)
            if h is None:
                raise r.NotFound("not_found", f"交接 {hid} 不存在", f"no handover {hid}", "-")
            ts = h.confirm(actor, now, q.acknowledged, await store.open_items(conn, self.schema))
            await store.save_handover(conn, self.schema, h)
            await self.commit(conn, ts)
        return {"handover": h.model_dump(mode="json")}

    # ---- responsible persons (Art. 9) ----

    async def responsible_set(
        self, req: m.ResponsibleSetRequest | Json, _call: Call = None
    ) -> Json:
        q = m.ResponsibleSetRequest.coerce(req)
        actor, sid = self._actor(), q.system_id
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            sf = await store.load_system(conn, self.schema, sid, q.department)
            if sf is None:
                raise r.missing_field("department", "系统所属部门", "Art. 9")
            ts = sf.set_responsible(
                actor,
                now,
                Person.model_validate(q.person),
                q.reason,
            )
            await store.save_system(conn, self.schema, sf)
            envs = await self.commit(conn, ts)
            notified = await self._notify_on_file(conn, ts, envs, now)
        return {"system": sf.model_dump(mode="json"), "notified": notified}

    async def _notify_on_file(
        self,
        conn: asyncpg.Connection,
        ts: Sequence[Transition],
        envs: Sequence[Envelope],
        now: datetime,
    ) -> Sequence[str]:
        """Art. 9: what is on file changed; 后勤处 and NIC see it in their inbox at once
        (same transaction as the change, beside the published event)."""
        told: dict[str, None] = {}  # departments told, in order
        for t, env in zip(ts, envs, strict=True):
            d = t.data
            if t.name == "changed":
                p, before = d["responsible"], d.get("previous") or {}
                zh = (
                    f"{department_zh(d['department'])}系统 {d['system_id']} 责任人变更为"
                    f"{p['name']}（{p.get('phone') or '无电话'}），原责任人"
                    f"{before.get('name') or '未备案'}；原因：{d.get('reason', '')}"
                )
                en = (
                    f"system {d['system_id']}: responsible person is now {p['name']} "
                    f"(was {before.get('name') or 'none on file'}) (Art. 9)"
                )
            else:
                zh = f"系统 {d['system_id']} 布防计划已变更"
                en = f"system {d['system_id']}: arming schedule changed (Art. 9)"
            for dept in d.get("notify_departments", []):
                await store.add_notice(
                    conn,
                    self.schema,
                    to_department=dept,
                    to_role=None,
                    kind=f"responsible.{t.name}",
                    ref=d["system_id"],
                    text_zh=zh,
                    text_en=en,
                    event_id=env.id,
                    at=now,
                )
                told[dept] = None
        return [*told]

    async def schedule_set(self, req: m.ScheduleSetRequest | Json, _call: Call = None) -> Json:
        q = m.ScheduleSetRequest.coerce(req)
        actor, sid = self._actor(), q.system_id
        now = self.clock()
        sched = [ArmingPeriod.model_validate(p) for p in q.schedule]
        for line in q.periods:  # as people write them: 「工作日 18:00-08:00」
            try:
                sched.append(ArmingPeriod.model_validate(parse_period(str(line))))
            except ValueError as exc:
                raise r.InvalidInput(
                    "bad_schedule", "布防计划有误", f"bad schedule: {exc}", "Art. 9"
                ) from None
        async with self.pool.acquire() as conn, conn.transaction():
            sf = await store.load_system(conn, self.schema, sid, q.department)
            if sf is None:
                raise r.missing_field("department", "系统所属部门", "Art. 9")
            ts = sf.set_schedule(actor, now, sched)
            await store.save_system(conn, self.schema, sf)
            envs = await self.commit(conn, ts)
            await self._notify_on_file(conn, ts, envs, now)
        return {"system": sf.model_dump(mode="json")}

    async def systems(self, _req: Any = None, _call: Call = None) -> Json:
        return {
            "systems": [
                s.model_dump(mode="json") for s in await store.systems(self.pool, self.schema)
            ]
        }

    # ---- the official calendar (Art. 10) and refusals ----

    async def _calendar(self, conn: asyncpg.Pool | asyncpg.Connection) -> WorkCalendar:
        """The calendar with every notice NIC entered, read fresh (any replica agrees)."""
        return self.cal.with_notices(
            n["notice"] for n in await store.calendar_notices(conn, self.schema)
        )

    async def calendar(self, _req: Any = None, _call: Call = None) -> Json:
        got = await store.calendar_notices(self.pool, self.schema)
        return {
            "notices": [
                {
                    **n["notice"].model_dump(mode="json"),
                    "imported_by": n["imported_by"],
                    "imported_at": n["imported_at"].isoformat(),
                }
                for n in got
            ],
            "package_years": package_years(),
        }

    async def calendar_import(
        self, req: m.CalendarImportRequest | Json, _call: Call = None
    ) -> Json:
        q = m.CalendarImportRequest.coerce(req)
        actor = self._actor()
        now = self.clock()
        notice, ts = import_notice(actor, now, q.notice)
        async with self.pool.acquire() as conn, conn.transaction():
            before = await store.save_notice(conn, self.schema, notice, actor.person_id, now)
            if before is not None:
                ts[0].data["replaced"] = before.model_dump(mode="json")
            await self.commit(conn, ts)
        return {
            "notice": notice.model_dump(mode="json"),
            "replaced": before is not None,
        }

    async def refusals(self, req: m.RefusalsRequest | Json, _call: Call = None) -> Json:
        q = m.RefusalsRequest.coerce(req or {})
        got = await store.refusals(
            self.pool,
            self.schema,
            process=q.process or None,
            request_id=q.request_id or None,
            limit=min(q.limit, 1000),
        )
        return {"refusals": got}

    # ---- consumers ----

    async def on_exported(self, env: Envelope, event: Event) -> None:
        """media carried out a copy grant: record the retrieval and its hold from what it
        fetched and hashed (issue 12). A refusal here is logged, not retried: the same event
        would be refused again (media has already recorded the export on the audited stream)."""
        if not isinstance(event, FootageExported):
            return
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            current = await store.load_request(conn, event.request_id, self.schema, lock=True)
            if not isinstance(current, AccessRequest):
                log.error("export for an unknown access request", request_id=event.request_id)
                return
            try:
                ts = current.record_export(now, event.model_dump(mode="json"))
            except r.WorkflowError as exc:
                log.error("export not recorded", request_id=event.request_id, error=str(exc))
                return
            if not ts:
                return
            current.check_invariant()
            await store.save_request(conn, current, now, self.schema)
            await self.commit(conn, ts, correlation_id=env.correlation_id)

    async def on_camera(self, _env: Envelope, event: Event) -> None:
        if isinstance(event, CameraUpserted):
            await store.upsert_camera(self.pool, self.schema, event.camera.model_dump(mode="json"))
        elif isinstance(event, CameraRemoved):
            await store.remove_camera(self.pool, self.schema, event.camera_id)

    async def on_fault(self, _env: Envelope, event: Event) -> None:
        if isinstance(event, FaultOpened):
            what = f"{event.camera_name or event.camera_id} {event.building} {event.kind}".strip()
            await store.set_open_item(self.pool, self.schema, "fault", event.fault_id, what)
        elif isinstance(event, FaultResolved):
            await store.clear_open_item(self.pool, self.schema, "fault", event.fault_id)

    async def on_alert(self, _env: Envelope, event: Event) -> None:
        if isinstance(event, AlertRaised):
            await store.set_open_item(self.pool, self.schema, "alert", event.alert_id, event.title)
        elif isinstance(event, AlertAcknowledged | AllClear | AlertHandedOver):  # handed over:
            # the incoming person's own alert (alert.raised) is the open item now
            await store.clear_open_item(self.pool, self.schema, "alert", event.alert_id)

    # ---- reminders and escalation ----

    async def nudge_once(self) -> int:
        policy = Policy(
            remind_after=timedelta(hours=self.settings.remind_after_h),
            escalate_after=timedelta(hours=self.settings.escalate_after_h),
        )
        pending = await store.list_requests(
            self.pool, self.schema, states=[RequestState.PENDING.value]
        )
        sent = await store.sent_nudges(self.pool, self.schema)
        by_id = {p.request_id: p for p in pending}
        now = self.clock()
        n = 0
        cal = await self._calendar(self.pool)
        for nudge in due_nudges(pending, now, sent=sent, policy=policy, cal=cal):
            async with self.pool.acquire() as conn, conn.transaction():
                if not await store.mark_nudge(
                    conn, self.schema, nudge.request_id, nudge.step_key, nudge.level
                ):
                    continue
                req = by_id[nudge.request_id]
                step = req.flow.step(nudge.step_key)
                if nudge.level == "remind":
                    zh = f"请审批：{title(req)}（{step.title_zh}），已超过提醒时限"
                    en = f"please decide {nudge.request_id}: '{step.title_en}' is waiting"
                else:
                    zh = f"逾期未审批，已上报：{title(req)}（{step.who_zh}）"
                    en = f"escalated: {nudge.request_id} waits for {step.title_en}, overdue"
                env = await self._stage(
                    conn,
                    nudge.request_id,
                    ApprovalNudge(
                        request_id=nudge.request_id,
                        process=nudge.process,
                        step_key=nudge.step_key,
                        level=nudge.level,  # type: ignore[arg-type]
                        to_role=nudge.to_role.value,
                        to_department=nudge.to_department,
                        due_since=nudge.due_since,
                    ),
                    None,
                    None,
                )
                await store.add_notice(
                    conn,
                    self.schema,
                    to_department=nudge.to_department,
                    to_role=nudge.to_role.value,
                    kind=f"nudge.{nudge.level}",
                    ref=nudge.request_id,
                    text_zh=zh,
                    text_en=en,
                    event_id=env.id,
                    at=now,
                )
                n += 1
        return n

    async def nudge_loop(self) -> None:
        while True:
            try:
                await self.nudge_once()
            except Exception as exc:
                log.warning("reminder pass failed", error=repr(exc))
            await asyncio.sleep(self.settings.remind_poll_s)


def visible_to(req: Any, actor: Actor) -> bool:
    """Who may see a request (issue 11): its applicant, everyone who signs or signed in its
    chain, the managing departments' people with a role beyond filling in forms, and NIC —
    not every signed-in guard."""
    flow = req.flow
    if actor.person_id == req.requester.person_id or actor.department == "nic":
        return True
    if any(actor.has(step.role, step.department) for step in flow.steps):
        return True
    if any(op.approver.person_id == actor.person_id for op in flow.opinions):
        return True
    departments = {step.department for step in flow.steps if step.department}
    officers = {Role.HEAD, Role.LEADER, Role.SYSADMIN, Role.OPERATOR}
    return actor.department in departments and bool(actor.roles & officers)


M = TypeVar("M", bound=BaseModel)


def _valid(model: type[M], value: Any, article: str) -> M:
    """Validate one part of an action's arguments; a bad field is named with the article."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or model.__name__
        raise r.InvalidInput(
            "invalid_form",
            f"表单有误：{where}",
            f"invalid {model.__name__}: {where}: {err.get('msg')}",
            article,
            field=where,
        ) from None


def build(
    settings: WorkflowSettings | None = None,
    *,
    schema: str | None = None,
    clock: Clock = _utcnow,
    cal: WorkCalendar = DEFAULT_CALENDAR,
    durable_suffix: str = "",
    rpc_prefix: str = rpc.PREFIX,
) -> Service:
    """The workflow service. Tests pass their own schema, clock and durable names."""
    settings = settings or WorkflowSettings()
    svc = Service(
        "workflow",
        settings,
        migrations=Path(__file__).parent / "migrations",
        schema=schema or store.SCHEMA,
    )
    wf = WorkflowService(svc, settings, clock=clock, cal=cal)
    svc.state["workflow"] = wf
    sfx = durable_suffix
    svc.consume(
        "cctv.camera.>",
        stream="CCTV_CAMERA",
        durable=f"workflow-inventory-v1{sfx}",
        handler=wf.on_camera,
    )
    svc.consume(
        "cctv.access.exported.>",
        stream="CCTV_ACCESS",
        durable=f"workflow-exports-v1{sfx}",
        handler=wf.on_exported,
    )
    svc.consume(
        "cctv.fault.>", stream="CCTV_FAULT", durable=f"workflow-faults-v1{sfx}", handler=wf.on_fault
    )
    svc.consume(
        "cctv.alert.>", stream="CCTV_ALERT", durable=f"workflow-alerts-v1{sfx}", handler=wf.on_alert
    )
    for subject, handler in wf.handlers().items():  # requests typed by the contract's models
        svc.respond(
            rpc_prefix + subject.removeprefix(rpc.PREFIX),
            wf.guarded(handler),
            request=OPERATIONS[subject][0],
        )
    svc.loop("reminders", wf.nudge_loop)

    async def seed() -> None:
        log.info("inventory snapshot read", added=await seed_inventory(svc))

    svc.after_start(seed)
    return svc


async def seed_inventory(svc: Service) -> int:
    """Every camera of the inventory from the start (issue 9), not one event at a time: the
    snapshot adds the cameras the inventory consumer has not reached yet."""
    view = InventoryView()
    await view.start(svc.broker.connection)
    await view.stop()
    assert svc.pool is not None
    records = [c.model_dump(mode="json") for c in view.cameras.values()]
    return await store.add_missing_cameras(svc.pool, svc.schema, records)
