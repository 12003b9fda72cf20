"""notify's FastStream wiring: faults in, alerts out, deliveries followed until sent."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import structlog
from prometheus_client import Counter, Gauge

from cctv.contract import Envelope, Event, rpc
from cctv.contract import rpcmodels as m
from cctv.contract.events import (
    AlertAcknowledged,
    AlertDelivered,
    AlertEscalated,
    AlertHandedOver,
    AlertRaised,
    AllClear,
    DirectiveIssued,
    FaultOpened,
    FaultResolved,
    HandoverConfirmed,
)
from cctv.contract.orgs import CAMPUS_TZ
from cctv.contract.people import PersonChanged
from cctv.plumbing.identity import require_caller
from cctv.plumbing.outbox import first_delivery, stage
from cctv.plumbing.service import RpcError, Service

from . import directives, escalation, grouping, shifts, store
from .channels import (
    Channel,
    ChannelError,
    DingTalkRobot,
    Outbound,
    SmsGateway,
    SmtpMail,
    WeComRobot,
)
from .messages import alert_title, allclear_title, notices_for
from .roster import FIELD_ROLES, RosterEntry, parse_window
from .settings import NotifySettings

SCHEMA = store.SCHEMA
SENT = Counter("cctv_notify_deliveries_total", "Deliveries", ["channel", "kind", "outcome"])
FAILING = Gauge(
    "cctv_notify_channel_consecutive_failures",
    "Deliveries in a row a channel has failed; 0 = the last one went through",
    ["channel"],
)
HELD_CHANNELS = ("sms", "mail")  # quiet hours hold these for non-critical alerts
log = structlog.get_logger()


class Duty(NamedTuple):
    """Who is on the roster, the recent Art. 14 handovers, and who holds the duty now."""

    roster: list[RosterEntry]
    takeovers: list[shifts.Takeover]
    holding: list[RosterEntry]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


class NotifyService:
    def __init__(self, svc: Service, settings: NotifySettings) -> None:
        self.svc = svc
        self.settings = settings
        self.adapters: dict[str, Channel] = {a.name: a for a in channels_from(settings)}
        self.channels = ["console", *self.adapters]
        self.limits = escalation.Limits(
            critical=settings.escalate_critical_min,
            major=settings.escalate_major_min,
            warning=settings.escalate_warning_min,
            info=settings.escalate_info_min,
        )
        self.policy = shifts.HandoverPolicy(
            grace=timedelta(minutes=settings.handover_grace_min),
            early=timedelta(minutes=settings.handover_early_min),
        )
        for name in self.adapters:
            FAILING.labels(name).set(0)

    @property
    def pool(self) -> asyncpg.Pool:
        assert self.svc.pool is not None
        return self.svc.pool

    async def on_fault(self, env: Envelope, event: Event) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await first_delivery(conn, SCHEMA, env.id, "faults"):
                return
            if isinstance(event, FaultOpened):
                await self._raise(conn, env, event)
            elif isinstance(event, FaultResolved):
                await self._clear(conn, env, event)

    async def duty(
        self, conn: asyncpg.Connection | asyncpg.Pool, now: datetime | None = None
    ) -> Duty:
        """The roster, read once, and who of it holds the duty now: shifts, and for the duty
        room the Art. 14 handovers."""
        now = now or datetime.now(UTC)
        roster = await store.roster(conn)
        taken = await store.takeovers(conn, now - timedelta(days=2))
        return Duty(roster, taken, shifts.on_duty(roster, taken, now, self.policy))

    async def _raise(self, conn: asyncpg.Connection, env: Envelope, f: FaultOpened) -> None:
        level, people = escalation.first_recipients(
            (await self.duty(conn)).holding, f.zone, f.kind, f.severity
        )
        title = alert_title(f.kind, f.camera_name, f.camera_id)
        body = f"{f.building} · {f.zone} · {f.detail}".strip(" ·")
        await self._alert_people(
            conn,
            people,
            level,
            f.fault_id,
            f.camera_id,
            f.zone,
            f.severity,
            title,
            body,
            env.correlation_id,
        )

    async def _alert_people(
        self,
        conn: asyncpg.Connection,
        people: list[RosterEntry],
        level: int,
        fault_id: str,
        camera_id: str | None,
        zone: str,
        severity: str,
        title: str,
        body: str,
        correlation_id: str | None,
        at: datetime | None = None,
    ) -> list[str]:
        """One alert per person (never two for one fault); returns who was newly told."""
        told: list[str] = []
        at = at or datetime.now(UTC)
        for person in people:
            alert_id = str(uuid.uuid4())
            inserted = await store.insert_alert(
                conn,
                store.NewAlert(
                    alert_id, fault_id, camera_id, zone, severity, person.account, title, body
                ),
                level,
                at,
            )
            if not inserted:
                continue
            told.append(person.account)
            await self._queue(conn, alert_id, "alert", severity=severity)
            await stage(
                conn,
                SCHEMA,
                AlertRaised(
                    alert_id=alert_id,
                    fault_id=fault_id,
                    camera_id=camera_id,
                    zone=zone,
                    severity=severity,  # type: ignore[arg-type]
                    recipient=person.account,
                    title=title,
                    body=body,
                ),
                source="notify",
                key=camera_id or fault_id,
                correlation_id=correlation_id,
            )
        return told

    async def _clear(self, conn: asyncpg.Connection, env: Envelope, f: FaultResolved) -> None:
        rows = await store.clear_fault(conn, f.fault_id)
        title = allclear_title(f.camera_name, f.camera_id)
        body = f"{f.building} · {f.zone} · 已恢复正常 recovered".strip(" ·")
        for row in rows:
            await self._all_clear(
                conn,
                row,
                title,
                body,
                key=f.camera_id,
                correlation_id=env.correlation_id,
                fault_id=f.fault_id,
                camera_id=f.camera_id,
            )

    async def _all_clear(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        title: str,
        body: str,
        *,
        key: str,
        correlation_id: str | None,
        fault_id: str,
        camera_id: str | None = None,
    ) -> None:
        """Tell the alert's recipient it is over, on every channel, and record that they were
        told (``alert.allclear``): a fault resolved, a handover that came after all."""
        await self._queue(conn, row["alert_id"], "allclear", title=title, body=body)
        await stage(
            conn,
            SCHEMA,
            AllClear(
                alert_id=row["alert_id"],
                fault_id=fault_id,
                camera_id=camera_id,
                recipient=row["recipient"],
                title=title,
            ),
            source="notify",
            key=key,
            correlation_id=correlation_id,
        )

    async def _queue(
        self,
        conn: asyncpg.Connection,
        alert_id: str,
        kind: str,
        channels: list[str] | None = None,
        *,
        severity: str = "info",
        title: str | None = None,
        body: str | None = None,
    ) -> None:
        """A delivery per channel. Quiet hours hold SMS and mail; a new alert waits the group
        wait on outside channels so what fails together is told together. Critical never waits."""
        now = datetime.now(CAMPUS_TZ)
        urgent = severity == "critical"
        quiet = None if urgent else escalation.quiet_until(now, self.settings.quiet_hours)
        wait = timedelta(seconds=0 if urgent or kind != "alert" else self.settings.group_wait_s)

        def due(channel: str) -> datetime:
            if channel == "console":
                return now  # stored is delivered: the inbox never waits
            if quiet is not None and channel in HELD_CHANNELS:
                return quiet
            return now + wait

        await store.queue_deliveries(
            conn,
            [(alert_id, kind, ch, title, body, due(ch)) for ch in channels or self.channels],
        )

    async def on_workflow(self, env: Envelope, event: Event) -> None:
        """Robot notices; the console inbox already has them (workflow, same transaction)."""
        notices = notices_for(event)
        robots: list[str] = [ch for ch in ("webhook", "dingtalk") if ch in self.adapters]
        if not notices or not robots:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            if not await first_delivery(conn, SCHEMA, env.id, "workflow"):
                return
            for recipient, title, body in notices:
                notice_id = str(uuid.uuid4())
                await store.insert_alert(
                    conn,
                    store.NewAlert(
                        notice_id, f"notice:{env.id}", None, "", "info", recipient, title, body
                    ),
                )
                await self._queue(conn, notice_id, "notice", robots)

    async def deliver_pending(self) -> int:
        """Send what is due, a batch per person and channel; a failure is retried with backoff,
        never dropped."""
        now = datetime.now(UTC)
        window = timedelta(seconds=self.settings.group_window_s)
        group_wait = timedelta(seconds=self.settings.group_wait_s)
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await store.due_deliveries(conn, group_wait)
            for batch in grouping.batches(rows):
                first = batch[0]
                ids = [r["delivery_id"] for r in batch]
                if first["channel"] != "console":
                    last = await store.last_sent(conn, first["channel"], first["recipient"])
                    held = grouping.hold_until(batch, last, now, window) or (
                        grouping.still_arriving(batch, now, group_wait)
                    )
                    if held is not None:
                        await store.hold(conn, ids, held)
                        continue
                try:
                    sent = await self._send(first, *grouping.combined(batch))
                except Exception as exc:
                    SENT.labels(first["channel"], first["kind"], "failed").inc(len(batch))
                    if first["channel"] in self.adapters:
                        FAILING.labels(first["channel"]).inc()
                    await store.failed(
                        conn,
                        ids,
                        repr(exc)[:500],
                        timedelta(seconds=min(60.0, 2.0 ** (first["attempts"] + 1))),
                    )
                    continue
                if not sent:  # the channel has no address for this person
                    SENT.labels(first["channel"], first["kind"], "skipped").inc(len(batch))
                    await store.mark(conn, ids, "skipped")
                    continue
                if first["channel"] in self.adapters:
                    FAILING.labels(first["channel"]).set(0)
                await store.mark(conn, ids, "sent")
                for row in batch:
                    SENT.labels(row["channel"], row["kind"], "sent").inc()
                    await self._delivered(conn, row)
            return len(rows)

    async def _delivered(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        if row["kind"] in ("notice", "alert"):
            await store.delivered(conn, row["alert_id"])
        if row["kind"] == "alert":
            await stage(
                conn,
                SCHEMA,
                AlertDelivered(
                    alert_id=row["alert_id"], recipient=row["recipient"], channel=row["channel"]
                ),
                source="notify",
                key=row["camera_id"],
            )

    async def _send(self, row: asyncpg.Record, title: str, body: str) -> bool:
        """Hand one message to its channel; False when the channel cannot reach the person."""
        if row["channel"] == "console":
            return True  # the console reads the inbox: stored is delivered
        adapter = self.adapters.get(row["channel"])
        if adapter is None:
            raise ChannelError(f"渠道未配置 channel {row['channel']!r} is not configured")
        msg = Outbound(
            kind=row["kind"],
            title=title,
            body=body,
            recipient=row["recipient"],
            severity=row["severity"],
            phone=row["phone"],
            email=row["email"],
        )
        if not adapter.reaches(msg):
            return False
        await adapter.send(msg)
        return True

    async def escalate_due(self, now: datetime | None = None) -> list[str]:
        """Send every alert nobody acknowledged in time one level up the duty chain (Art. 13);
        returns the faults that went up."""
        now = now or datetime.now(UTC)
        async with self.pool.acquire() as conn:
            faults = await store.open_unacknowledged(conn)
            roster = (await self.duty(conn, now)).holding
        done: list[str] = []
        for f in faults:
            if f["level"] >= escalation.TOP or not escalation.due(
                f["last_raised"], f["severity"], self.limits, now
            ):
                continue
            if await self._escalate(f, roster, now):
                done.append(f["fault_id"])
        return done

    async def _escalate(self, f: asyncpg.Record, roster: list[RosterEntry], now: datetime) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            # one replica escalates a fault at a time; re-read under the lock
            level = await store.lock_fault_level(conn, f["fault_id"])
            if level is None or level != f["level"]:
                return False
            step = escalation.next_step(roster, level, f["zone"], set(f["told"]))
            if step is None:
                return False
            new_level, people = step
            waited = escalation.LEVEL_NAMES[level]
            title = f"【升级 escalated】{f['title']}"
            body = f"{f['body']} · {waited} 未在时限内确认 not acknowledged in time".strip(" ·")
            told = await self._alert_people(
                conn,
                people,
                new_level,
                f["fault_id"],
                f["camera_id"],
                f["zone"],
                f["severity"],
                title,
                body,
                None,
                now,
            )
            await stage(
                conn,
                SCHEMA,
                AlertEscalated(
                    fault_id=f["fault_id"],
                    camera_id=f["camera_id"],
                    level=new_level,
                    role=escalation.LEVEL_NAMES[new_level],
                    recipients=told,
                    reason=f"{waited} 未确认 unacknowledged after "
                    f"{self.limits.for_severity(f['severity'])}",
                ),
                source="notify",
                key=f["camera_id"] or f["fault_id"],
            )
            return True

    # ---- shifts and the Art. 14 handover ----

    async def on_handover(self, env: Envelope, event: Event) -> None:
        """Art. 14: the incoming operator took over. From now the duty room's alerts go to them,
        what the outgoing one still had open passes to them, and a 'handover overdue' alert
        about the outgoing one is all clear."""
        if not isinstance(event, HandoverConfirmed) or not (event.outgoing and event.incoming):
            return
        at = event.confirmed_at or event.at
        t = shifts.Takeover(event.request_id, event.outgoing, event.incoming, at)
        items = [i.model_dump() for i in event.items]
        async with self.pool.acquire() as conn, conn.transaction():
            if not await first_delivery(conn, SCHEMA, env.id, "handover"):
                return
            if not await store.save_takeover(conn, t, items):
                return
            for row in await store.clear_overdue(conn, t.outgoing):
                await self._all_clear(
                    conn,
                    row,
                    "交接班已完成 handover confirmed",
                    f"{t.incoming} 已接班 took over",
                    key=t.handover_id,
                    correlation_id=env.correlation_id,
                    fault_id=row["fault_id"],
                )
            roster = {p.account: p for p in await store.roster(conn)}
            incoming = roster.get(t.incoming) or RosterEntry(
                t.incoming, t.incoming, "duty_operator", None
            )
            for row in await store.open_alerts(conn, t.outgoing):
                await self._pass(
                    conn, row, [incoming], t.handover_id, "交接班 Art. 14 handover", env
                )

    async def shift_changes(self, now: datetime | None = None) -> list[str]:
        """At a shift boundary: tell the duty room of a handover overdue, and pass what people
        going off duty still have open to who holds the duty now. Returns the alerts passed."""
        now = now or datetime.now(UTC)
        passed: list[str] = []
        async with self.pool.acquire() as conn, conn.transaction():
            # one replica at a time
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('notify-shifts'))")
            roster, taken, holding = await self.duty(conn, now)
            for late in shifts.overdue(roster, taken, now, self.policy):
                await self._overdue(conn, late, now)
            duty = {p.account for p in holding}
            known = {p.account: p for p in roster}
            for row in await store.open_alerts(conn):
                if row["recipient"] in duty:
                    continue
                targets = _successors(known.get(row["recipient"]), row, holding)
                if targets:
                    await self._pass(conn, row, targets, None, "换班 shift change", None)
                    passed.append(row["alert_id"])
        return passed

    async def _overdue(self, conn: asyncpg.Connection, late: shifts.Overdue, now: datetime) -> None:
        """The duty room hears the handover is overdue (escalating like any alert)."""
        ended = late.ended_at.astimezone(CAMPUS_TZ)
        who = [late.outgoing, *late.incoming]
        names = "、".join(p.name for p in late.incoming)
        await self._alert_people(
            conn,
            who,
            1,
            late.fault_id,
            None,
            "",
            "major",
            f"【交接班超时 handover overdue】{late.outgoing.name} → {names}",
            f"{ended:%H:%M} 班次已结束，未完成交接班 shift ended with no handover "
            f"(Art. 14); {late.outgoing.name} 的未确认告警已转交 open alerts passed on",
            None,
            now,
        )

    async def _pass(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        targets: list[RosterEntry],
        handover_id: str | None,
        reason: str,
        env: Envelope | None,
    ) -> None:
        """An open alert passes from its recipient to `targets`: each gets an alert of their
        own (unless they already have one for it), the first no longer asks to acknowledge."""
        to = [p.account for p in targets if p.account != row["recipient"]]
        if not to or not await store.handed_over(conn, row["alert_id"], to, handover_id):
            return
        await self._alert_people(
            conn,
            [p for p in targets if p.account in to],
            row["level"],
            row["fault_id"],
            row["camera_id"],
            row["zone"],
            row["severity"],
            row["title"],
            f"{row['body']} · 由 {row['recipient']} 转交 handed over ({reason})".strip(" ·"),
            env.correlation_id if env else None,
        )
        await stage(
            conn,
            SCHEMA,
            AlertHandedOver(
                alert_id=row["alert_id"],
                fault_id=row["fault_id"],
                camera_id=row["camera_id"],
                recipient=row["recipient"],
                to=to,
                handover_id=handover_id,
                reason=reason,
            ),
            source="notify",
            key=row["camera_id"] or row["fault_id"],
            correlation_id=env.correlation_id if env else None,
        )

    async def close(self) -> None:
        for adapter in self.adapters.values():
            await adapter.close()

    async def issue_directive(
        self, request: m.DirectiveRequest | dict[str, Any], _call: Any = None
    ) -> dict[str, Any]:
        """The duty room's directive to a zone's guards or named people (Art. 13)."""
        q = m.DirectiveRequest.coerce(request)  # severity checked by the contract model
        d = directives.Directive(
            text=q.text,
            # the duty room's signed-on operator, never a name in the request (issue 11)
            sender=require_caller(what="issuing a directive (Art. 13)").account,
            zone=q.zone or None,
            accounts=tuple(q.accounts),
            severity=q.severity,
        )
        directive_id = f"DIR-{datetime.now(CAMPUS_TZ):%Y%m%d}-{uuid.uuid4().hex[:6].upper()}"
        async with self.pool.acquire() as conn, conn.transaction():
            roster, _taken, holding = await self.duty(conn)
            try:
                people = directives.recipients_of(d, roster, holding)
            except directives.DirectiveRefused as exc:
                raise RpcError(str(exc), "Art. 13") from exc
            title = f"【指令 directive】{d.text.strip()[:40]}"
            body = f"{d.text.strip()} · 发令 from {d.sender} · 编号 {directive_id}"
            told = await self._alert_people(
                conn,
                people,
                0,
                directives.PREFIX + directive_id,
                None,
                d.zone or "",
                d.severity,
                title,
                body,
                None,
            )
            await stage(
                conn,
                SCHEMA,
                DirectiveIssued(
                    directive_id=directive_id,
                    sender=d.sender,
                    zone=d.zone,
                    recipients=told,
                    text=d.text.strip(),
                    severity=d.severity,  # type: ignore[arg-type]
                ),
                source="notify",
                key=directive_id,
                actor=d.sender,
            )
        return {"directive_id": directive_id, "recipients": told}

    async def list_directives(
        self, request: m.LimitRequest | dict[str, Any], _call: Any = None
    ) -> dict[str, Any]:
        """Recent directives and, per recipient, whether and when they acknowledged."""
        rows = await store.directives(self.pool, m.LimitRequest.coerce(request).limit)
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            d = out.setdefault(
                r["fault_id"].removeprefix(directives.PREFIX),
                {
                    "title": r["title"],
                    "body": r["body"],
                    "zone": r["zone"],
                    "raised_at": r["raised_at"].isoformat(),
                    "recipients": [],
                },
            )
            d["recipients"].append(
                {
                    "account": r["recipient"],
                    "level": r["level"],
                    "status": r["status"],
                    "acknowledged_at": r["acknowledged_at"].isoformat()
                    if r["acknowledged_at"]
                    else None,
                }
            )
        return {"directives": [{"directive_id": k, **v} for k, v in out.items()]}

    async def on_person(self, _env: Envelope, event: Event) -> None:
        """Rosters come from the people directory (issue 11): a guard, gatekeeper or duty
        operator who is active is on it with their zone and shift; anyone else is not."""
        if not isinstance(event, PersonChanged):
            return
        p = event.person
        roles = [r for r in ROSTER_ROLES if r in p.roles]
        if p.disabled or not roles:
            await store.remove_from_roster(self.pool, p.account)
            return
        start, end = parse_window(p.shift) if p.shift else (time(0), time(0))
        zone = p.zone if roles[0] in ("guard", "gatekeeper") else None
        await store.put_on_roster(
            self.pool,
            RosterEntry(
                p.account, p.name, roles[0], zone, start, end, p.phone or None, p.email or None
            ),
        )

    async def acknowledge(self, request: m.AckRequest | dict[str, Any], _call: Any = None) -> Any:
        q = m.AckRequest.coerce(request)
        # who acknowledges is the signed-on person, never an account in the request
        who = require_caller(what="acknowledging an alert (Art. 13)")
        alert_id, account = q.alert_id, who.account
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.acknowledge(conn, alert_id, account, now)
            if row is None:
                raise RpcError(
                    f"告警不存在、不属于您或已确认 — no such unacknowledged alert for {account}",
                    "Art. 13",
                )
            await stage(
                conn,
                SCHEMA,
                AlertAcknowledged(alert_id=alert_id, recipient=account, acknowledged_at=now),
                source="notify",
                key=row["camera_id"],
                actor=account,
            )
        return {"alert": _jsonable(dict(row))}


def _successors(
    was: RosterEntry | None, row: asyncpg.Record, holding: list[RosterEntry]
) -> list[RosterEntry]:
    """Who takes over an alert from someone no longer on duty: the same role on duty now —
    for a guard or gatekeeper, in the alert's zone (or theirs)."""
    role = was.role if was else escalation.LEVEL_ROLES[min(row["level"], escalation.TOP)][0]
    if role in FIELD_ROLES:
        zone = row["zone"] or (was.zone if was else None)
        return [p for p in holding if p.role in FIELD_ROLES and p.zone == zone]
    return [p for p in holding if p.role == role]


# who goes on a roster, in the order a person's roster role is chosen
ROSTER_ROLES = ("duty_operator", "security_head", "nic_oncall", "guard", "gatekeeper")


def channels_from(settings: NotifySettings) -> list[Channel]:
    """The outside channels the settings configure; the console inbox is always there."""
    out: list[Channel] = []
    if settings.webhook_url:
        out.append(WeComRobot(settings.webhook_url, settings.webhook_timeout_s))
    if settings.dingtalk_url:
        out.append(
            DingTalkRobot(
                settings.dingtalk_url, settings.dingtalk_secret, settings.webhook_timeout_s
            )
        )
    if settings.smtp_host:
        out.append(
            SmtpMail(
                settings.smtp_host,
                settings.smtp_port,
                settings.smtp_sender,
                settings.smtp_username,
                settings.smtp_password,
                settings.smtp_starttls,
            )
        )
    if settings.sms_gateway_url:
        out.append(SmsGateway(settings.sms_gateway_url, settings.sms_api_key))
    return out


def build(settings: NotifySettings | None = None) -> Service:
    settings = settings or NotifySettings()
    svc = Service("notify", settings, migrations=Path(__file__).parent / "migrations")
    notify = NotifyService(svc, settings)
    svc.consume(
        "cctv.fault.>", stream="CCTV_FAULT", durable="notify-faults-v1", handler=notify.on_fault
    )

    for process in ("responsible", "approval"):
        svc.consume(
            f"cctv.workflow.{process}.>",
            stream="CCTV_WORKFLOW",
            durable=f"notify-{process}-v1",
            handler=notify.on_workflow,
        )

    svc.consume(
        "cctv.workflow.handover.confirmed.>",
        stream="CCTV_WORKFLOW",
        durable="notify-handover-v1",
        handler=notify.on_handover,
    )

    svc.consume(
        "cctv.people.changed.>",
        stream="CCTV_PEOPLE",
        durable="notify-people-v1",
        handler=notify.on_person,
    )

    async def deliveries() -> None:
        while True:
            if not await notify.deliver_pending():
                await asyncio.sleep(settings.delivery_poll_s)

    async def inbox(q: m.AccountRequest, _call: Any = None) -> dict[str, Any]:
        who = require_caller(what="reading an alert inbox")  # one's own, never another's
        rows = await store.inbox(notify.pool, who.account)
        return {"alerts": [_jsonable(r) for r in rows]}

    async def roster(_q: m.Empty, _call: Any = None) -> dict[str, Any]:
        """The roster, each with whether they hold the duty now (shifts and handovers)."""
        entries, _taken, on_duty = await notify.duty(notify.pool)
        holding = {p.account for p in on_duty}
        return {
            "roster": [
                e.__dict__
                | {
                    "shift_start": str(e.shift_start),
                    "shift_end": str(e.shift_end),
                    "on_duty": e.account in holding,
                }
                for e in entries
            ]
        }

    async def escalations() -> None:
        while True:
            await notify.shift_changes()
            await notify.escalate_due()
            await asyncio.sleep(settings.escalation_poll_s)

    svc.before_stop(notify.close)
    svc.loop("deliveries", deliveries)
    svc.loop("escalations", escalations)
    svc.respond(rpc.NOTIFY_INBOX, inbox, request=m.AccountRequest)
    svc.respond(rpc.NOTIFY_ACK, notify.acknowledge, request=m.AckRequest)
    svc.respond(rpc.NOTIFY_ROSTER, roster, request=m.Empty)
    svc.respond(rpc.NOTIFY_DIRECTIVE, notify.issue_directive, request=m.DirectiveRequest)
    svc.respond(rpc.NOTIFY_DIRECTIVES, notify.list_directives, request=m.LimitRequest)
    return svc
