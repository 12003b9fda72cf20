"""notify's FastStream wiring: faults in, alerts out, deliveries followed until sent."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import structlog
from prometheus_client import Counter

from cctv.contract import Envelope, Event, rpc
from cctv.contract.events import (
    AlertAcknowledged,
    AlertDelivered,
    AlertRaised,
    AllClear,
    FaultOpened,
    FaultResolved,
)
from cctv.contract.orgs import CAMPUS_TZ
from cctv.contract.people import PersonChanged
from cctv.plumbing.identity import require_caller
from cctv.plumbing.outbox import first_delivery, stage
from cctv.plumbing.service import RpcError, Service

from . import store
from .messages import alert_title, allclear_title, notices_for, robot_message
from .roster import RosterEntry, recipients
from .settings import NotifySettings

SCHEMA = store.SCHEMA
SENT = Counter("cctv_notify_deliveries_total", "Deliveries", ["channel", "kind", "outcome"])
log = structlog.get_logger()


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


class NotifyService:
    def __init__(self, svc: Service, settings: NotifySettings) -> None:
        self.svc = svc
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=settings.webhook_timeout_s)
        self.channels = ["console"] + (["webhook"] if settings.webhook_url else [])

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

    async def _raise(self, conn: asyncpg.Connection, env: Envelope, f: FaultOpened) -> None:
        people = recipients(await store.roster(conn), f.zone, datetime.now(CAMPUS_TZ).time())
        title = alert_title(f.kind, f.camera_name, f.camera_id)
        body = f"{f.building} · {f.zone} · {f.detail}".strip(" ·")
        for person in people:
            alert_id = str(uuid.uuid4())
            inserted = await conn.fetchval(
                f"INSERT INTO {SCHEMA}.alerts (alert_id, fault_id, camera_id, zone, severity, "
                "recipient, title, body, status) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'raised') "
                "ON CONFLICT (fault_id, recipient) DO NOTHING RETURNING alert_id",
                alert_id,
                f.fault_id,
                f.camera_id,
                f.zone,
                f.severity,
                person.account,
                title,
                body,
            )
            if inserted is None:
                continue
            await self._queue(conn, alert_id, "alert")
            await stage(
                conn,
                SCHEMA,
                AlertRaised(
                    alert_id=alert_id,
                    fault_id=f.fault_id,
                    camera_id=f.camera_id,
                    zone=f.zone,
                    severity=f.severity,
                    recipient=person.account,
                    title=title,
                    body=body,
                ),
                source="notify",
                key=f.camera_id,
                correlation_id=env.correlation_id,
            )

    async def _clear(self, conn: asyncpg.Connection, env: Envelope, f: FaultResolved) -> None:
        rows = await conn.fetch(
            f"UPDATE {SCHEMA}.alerts SET cleared_at=now() WHERE fault_id=$1 AND cleared_at IS NULL "
            "RETURNING alert_id, recipient",
            f.fault_id,
        )
        title = allclear_title(f.camera_name, f.camera_id)
        for row in rows:
            await self._queue(conn, row["alert_id"], "allclear")
            await stage(
                conn,
                SCHEMA,
                AllClear(
                    alert_id=row["alert_id"],
                    fault_id=f.fault_id,
                    camera_id=f.camera_id,
                    recipient=row["recipient"],
                    title=title,
                ),
                source="notify",
                key=f.camera_id,
                correlation_id=env.correlation_id,
            )

    async def _queue(
        self, conn: asyncpg.Connection, alert_id: str, kind: str, channels: list[str] | None = None
    ) -> None:
        await conn.executemany(
            f"INSERT INTO {SCHEMA}.deliveries (alert_id, kind, channel) VALUES ($1,$2,$3)",
            [(alert_id, kind, ch) for ch in channels or self.channels],
        )

    async def on_workflow(self, env: Envelope, event: Event) -> None:
        """Robot notices; the console inbox already has them (workflow, same transaction)."""
        notices = notices_for(event)
        if not notices or "webhook" not in self.channels:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            if not await first_delivery(conn, SCHEMA, env.id, "workflow"):
                return
            for recipient, title, body in notices:
                notice_id = str(uuid.uuid4())
                await conn.execute(
                    f"INSERT INTO {SCHEMA}.alerts (alert_id, fault_id, zone, severity, recipient, "
                    "title, body, status) VALUES ($1,$2,'','info',$3,$4,$5,'raised')",
                    notice_id,
                    f"notice:{env.id}",
                    recipient,
                    title,
                    body,
                )
                await self._queue(conn, notice_id, "notice", ["webhook"])

    async def deliver_pending(self) -> int:
        """Send what is due; a failed webhook is retried with backoff, never dropped."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT d.*, a.title, a.body, a.recipient, a.camera_id FROM {SCHEMA}.deliveries d "
                f"JOIN {SCHEMA}.alerts a USING (alert_id) WHERE d.status='pending' "
                "AND d.next_at <= now() ORDER BY d.delivery_id LIMIT 50 FOR UPDATE OF d SKIP LOCKED"
            )
            for row in rows:
                try:
                    await self._send(row)
                except Exception as exc:
                    SENT.labels(row["channel"], row["kind"], "failed").inc()
                    delay = timedelta(seconds=min(60.0, 2.0 ** (row["attempts"] + 1)))
                    await conn.execute(
                        f"UPDATE {SCHEMA}.deliveries SET attempts=attempts+1, last_error=$2, "
                        "next_at=now()+$3 WHERE delivery_id=$1",
                        row["delivery_id"],
                        repr(exc)[:500],
                        delay,
                    )
                    continue
                SENT.labels(row["channel"], row["kind"], "sent").inc()
                await conn.execute(
                    f"UPDATE {SCHEMA}.deliveries SET status='sent', attempts=attempts+1 "
                    "WHERE delivery_id=$1",
                    row["delivery_id"],
                )
                if row["kind"] == "notice":
                    await conn.execute(
                        f"UPDATE {SCHEMA}.alerts SET status='delivered', delivered_at=now() "
                        "WHERE alert_id=$1",
                        row["alert_id"],
                    )
                if row["kind"] == "alert":
                    await conn.execute(
                        f"UPDATE {SCHEMA}.alerts SET status='delivered', delivered_at=now() "
                        "WHERE alert_id=$1 AND status='raised'",
                        row["alert_id"],
                    )
                    await stage(
                        conn,
                        SCHEMA,
                        AlertDelivered(
                            alert_id=row["alert_id"],
                            recipient=row["recipient"],
                            channel=row["channel"],
                        ),
                        source="notify",
                        key=row["camera_id"],
                    )
            return len(rows)

    async def _send(self, row: asyncpg.Record) -> None:
        if row["channel"] == "console":
            return  # the console reads the inbox: stored is delivered
        if row["channel"] == "webhook":
            resp = await self.http.post(
                self.settings.webhook_url,
                json=robot_message(row["title"], row["body"], row["recipient"]),
            )
            resp.raise_for_status()
            body = resp.json()
            if body.get("errcode", 0) != 0:
                raise RuntimeError(f"robot refused: {body}")
            return
        raise ValueError(f"unknown channel {row['channel']!r}")

    async def on_person(self, _env: Envelope, event: Event) -> None:
        """Rosters come from the people directory (issue 11): a guard, gatekeeper or duty
        operator who is active is on it with their zone and shift; anyone else is not."""
        if not isinstance(event, PersonChanged):
            return
        p = event.person
        roles = [r for r in ("duty_operator", "guard", "gatekeeper") if r in p.roles]
        if p.disabled or not roles:
            await store.remove_from_roster(self.pool, p.account)
            return
        start, end = time(0), time(0)
        if p.shift:
            a, b = p.shift.split("-")
            start, end = time.fromisoformat(a), time.fromisoformat(b)
        zone = p.zone if roles[0] != "duty_operator" else None
        await store.put_on_roster(
            self.pool, RosterEntry(p.account, p.name, roles[0], zone, start, end)
        )

    async def acknowledge(self, request: dict[str, Any]) -> dict[str, Any]:
        # who acknowledges is the signed-on person, never an account in the request
        who = require_caller(what="acknowledging an alert (Art. 13)")
        alert_id, account = str(request["alert_id"]), who.account
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
        "cctv.people.changed.>",
        stream="CCTV_PEOPLE",
        durable="notify-people-v1",
        handler=notify.on_person,
    )

    async def deliveries() -> None:
        while True:
            if not await notify.deliver_pending():
                await asyncio.sleep(settings.delivery_poll_s)

    async def inbox(request: dict[str, Any]) -> dict[str, Any]:
        who = require_caller(what="reading an alert inbox")  # one's own, never another's
        rows = await store.inbox(notify.pool, who.account)
        return {"alerts": [_jsonable(r) for r in rows]}

    async def roster(_request: dict[str, Any]) -> dict[str, Any]:
        return {
            "roster": [
                e.__dict__ | {"shift_start": str(e.shift_start), "shift_end": str(e.shift_end)}
                for e in await store.roster(notify.pool)
            ]
        }

    svc.loop("deliveries", deliveries)
    svc.respond(rpc.NOTIFY_INBOX, inbox)
    svc.respond(rpc.NOTIFY_ACK, notify.acknowledge)
    svc.respond(rpc.NOTIFY_ROSTER, roster)
    return svc
