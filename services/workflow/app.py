"""workflow's FastStream wiring: request-reply for people, consumers for what it must know.

Each action loads the request under a row lock, runs the domain method, saves the new state,
and stages every resulting event in the outbox and the request's history, all in one
transaction: the audit trail sees each transition exactly once, even across a crash.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from pydantic import ValidationError

from cctv.contract import Envelope, Event, subject_for
from cctv.contract import rpcmodels as m
from cctv.contract.events import (
    AlertAcknowledged,
    AlertHandedOver,
    AlertRaised,
    AllClear,
    CameraRemoved,
    CameraUpserted,
    FaultOpened,
    FaultResolved,
    FootageExported,
)
from cctv.contract.rpcmodels import OPERATIONS, RpcCall
from cctv.plumbing.identity import caller_actor
from cctv.plumbing.inventory import InventoryView
from cctv.plumbing.outbox import stage
from cctv.plumbing.service import Service

from . import forms, notices, processes, rpc, store
from . import refusals as r
from .access import AccessRequest
from .approval import chain_key
from .base import STATE_ZH, ApprovalRequest, RequestState
from .dutylog import DutyLog, EntryKind, ShiftHandover
from .notices import Notice
from .org import Actor
from .processes import Context
from .publishing import nudge_event
from .reminders import Policy, due_nudges
from .responsible import ArmingPeriod, Person, parse_period
from .settings import WorkflowSettings
from .transitions import Transition
from .workcalendar import DEFAULT_CALENDAR, WorkCalendar, import_notice, package_years

log = structlog.get_logger()
Clock = Callable[[], datetime]
Json = dict[str, Any]
Call = RpcCall | None
Handler = Callable[[Any, Call], Awaitable[Json]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def title(req: ApprovalRequest) -> str:
    """One line a person recognises in an inbox (the process's own wording, notices.py)."""
    return processes.of(req).title(req)


def summary(req: ApprovalRequest) -> dict[str, Any]:
    return {
        "request_id": req.request_id,
        "process": req.PROCESS,
        "process_zh": processes.of(req).zh,
        "state": req.state.value,
        "state_zh": STATE_ZH[req.state],
        "title": title(req),
        "requester": req.requester.model_dump(mode="json"),
        "applied_at": req.applied_at.isoformat(),
        "due": [
            {"key": s.key, "title_zh": s.title_zh, "who_zh": s.who_zh} for s in req.flow.due_steps()
        ],
    }


def _access_view(req: ApprovalRequest) -> Json | None:
    """The typed part of an access request a viewer's check reads (rpcmodels.AccessView)."""
    if not isinstance(req, AccessRequest):
        return None
    return m.AccessView(
        state=req.state.value,
        grant=req.grant,
        requester_id=req.requester.person_id,
        applying_unit=req.form.applying_unit,
    ).model_dump(mode="json")


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
    ) -> list[Notice]:
        """Stage what each transition publishes in the outbox and the history, and the inbox
        notices it brings (its process's hooks), all in the caller's transaction. Returns the
        notices filed."""
        filed: list[Notice] = []
        for t in ts:
            proc = processes.process(t.process)
            envs = [
                await self._stage(conn, t.key, event, t.actor, correlation_id)
                for event in proc.events(t)
            ]
            for n in proc.notices(t):
                await store.add_notice(conn, self.schema, n, event_id=envs[0].id, at=t.time)
                filed.append(n)
        return filed

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
            except r.WorkflowError as exc:
                return exc.reply()
            except ValidationError as exc:
                return r.form_invalid_reply(exc)
            except (ValueError, TypeError, KeyError) as exc:
                return r.bad_request_reply(exc)

        return wrapper

    @staticmethod
    def _actor(_ignored: Any = None) -> Actor:
        """The person acting is the one the signed identity names (issue 11); an `actor` in
        the request body is what the caller typed, and is ignored."""
        who = caller_actor()
        if who is None:
            raise r.identity_required()
        return who

    async def _context(self, conn: asyncpg.Pool | asyncpg.Connection) -> Context:
        """What a process reads to derive its chain: inventory, calendar, the time."""
        inv = await store.inventory(conn, self.schema)
        return Context(inventory=inv, calendar=await self._calendar(conn), now=self.clock())

    async def preview(self, req: m.FormRequest | Json, _call: Call = None) -> Json:
        q = m.FormRequest.coerce(req)
        proc = processes.approval(q.process)
        form = proc.parse(q.form)
        steps = proc.chain(form, await self._context(self.pool))
        return {"steps": _steps(steps), "chain_key": chain_key(steps)}

    async def submit(self, req: m.FormRequest | Json, _call: Call = None) -> Json:
        q = m.FormRequest.coerce(req)
        proc = processes.approval(q.process)
        actor = self._actor()
        form = proc.parse(q.form)
        async with self.pool.acquire() as conn, conn.transaction():
            ctx = await self._context(conn)
            rid = await store.next_id(conn, proc.name, ctx.now, self.schema)
            try:
                new, ts = proc.open(rid, form, actor, ctx)
            except r.Refusal as exc:  # 不予受理 is itself on the record, with its number
                await self.commit(conn, [proc.refused(rid, actor, ctx.now, exc, form)])
                return {**exc.reply(), "request_id": rid}
            shown = q.expected_chain
            if shown is not None and list(shown) != chain_key(new.flow.steps):
                # The inventory changed since the requester saw the chain: show it again.
                raise r.chain_changed(proc.article)
            await store.insert_request(conn, new, self.schema)
            await self.commit(conn, ts)
        return {"request": new.model_dump(mode="json"), "summary": summary(new)}

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
                raise r.request_not_found(rid)
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
            return processes.of(cur).action(action)(cur, a, now, args)

        return await self._change(q, run)

    async def _visible(self, conn: asyncpg.Connection, rid: str, actor: Actor) -> ApprovalRequest:
        """The request, for someone who may see it (issue 11); to anyone else it does not
        exist (not even whether it does)."""
        cur = await store.load_request(conn, rid, self.schema)
        if cur is None or not cur.visible_to(actor):
            raise r.request_not_found(rid)
        return cur

    async def get(self, req: m.RequestRef | Json, _call: Call = None) -> Json:
        actor = self._actor()
        rid = m.RequestRef.coerce(req).request_id
        async with self.pool.acquire() as conn:
            cur = await self._visible(conn, rid, actor)
            hist = await store.history(conn, self.schema, rid)
        return {
            "request": cur.model_dump(mode="json"),
            "summary": summary(cur),
            "steps": _steps(cur.flow.steps),
            "history": hist,
            "access": _access_view(cur),
        }

    async def print_form(self, req: m.PrintRequest | Json, _call: Call = None) -> Json:
        """The paper form (Annex 2, 3, 4) of a request, as HTML or PDF: printing is workflow's
        job, so the console and the CLI never render workflow's templates themselves."""
        actor = self._actor()
        q = m.PrintRequest.coerce(req)
        rid, fmt = q.request_id, q.format  # the shell has checked: html or pdf
        async with self.pool.acquire() as conn:
            cur = await self._visible(conn, rid, actor)  # a guard may not print it (issue 11)
            inv = await store.inventory(conn, self.schema)
        proc = processes.of(cur)
        if proc.paper is None:
            raise r.no_paper_form(proc.name, proc.zh)
        doc = proc.paper(cur, inv)
        if fmt == "html":
            return {"format": "html", "filename": doc.filename, "html": forms.render_html(doc)}
        pdf = forms.render_pdf(doc)
        if pdf is None:
            raise r.no_cjk_font()
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
        return {"requests": [summary(x) for x in got if x.visible_to(actor)]}

    async def cameras(self, _req: Any = None, _call: Call = None) -> Json:
        return {"cameras": await store.camera_records(self.pool, self.schema)}

    # ---- duty log, handover (Art. 13-14) ----

    async def log_record(self, req: m.LogRecordRequest | Json, _call: Call = None) -> Json:
        q = m.LogRecordRequest.coerce(req)
        actor = self._actor()
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            eid = await store.next_id(conn, processes.DUTYLOG.name, now, self.schema)
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
            await store.lock_handovers(conn)
            hid = await store.next_id(conn, processes.HANDOVER.name, now, self.schema)
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
            await store.lock_handovers(conn)
            h = await store.load_handover(conn, self.schema, hid)
            if h is None:
                raise r.handover_not_found(hid)
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
            # Art. 9: 后勤处 and NIC see it in their inbox at once (the process's notice hook).
            filed = await self.commit(conn, ts)
        told = [n.to_department for n in filed if n.to_department]
        return {"system": sf.model_dump(mode="json"), "notified": [*dict.fromkeys(told)]}

    async def schedule_set(self, req: m.ScheduleSetRequest | Json, _call: Call = None) -> Json:
        q = m.ScheduleSetRequest.coerce(req)
        actor, sid = self._actor(), q.system_id
        now = self.clock()
        sched = [ArmingPeriod.model_validate(p) for p in q.schedule]
        for line in q.periods:  # as people write them: 「工作日 18:00-08:00」
            try:
                sched.append(ArmingPeriod.model_validate(parse_period(str(line))))
            except ValueError as exc:
                raise r.bad_schedule(exc) from None
        async with self.pool.acquire() as conn, conn.transaction():
            sf = await store.load_system(conn, self.schema, sid, q.department)
            if sf is None:
                raise r.missing_field("department", "系统所属部门", "Art. 9")
            ts = sf.set_schedule(actor, now, sched)
            await store.save_system(conn, self.schema, sf)
            await self.commit(conn, ts)  # notices to 后勤处 and NIC with it (Art. 9)
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
            what = notices.fault_item(event)
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
                notice = notices.nudge_notice(nudge, title(req), req.flow.step(nudge.step_key))
                event = nudge_event(nudge)
                env = await self._stage(conn, nudge.request_id, event, None, None)
                await store.add_notice(conn, self.schema, notice, event_id=env.id, at=now)
                n += 1
        return n

    async def nudge_loop(self) -> None:
        while True:
            try:
                await self.nudge_once()
            except Exception as exc:
                log.warning("reminder pass failed", error=repr(exc))
            await asyncio.sleep(self.settings.remind_poll_s)


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
