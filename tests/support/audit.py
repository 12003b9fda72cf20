"""One harness for the audit service's tests (tests/audit): settings of a test's own schema,
the running service, events on subjects of a test's own, and the waits every audit test
needs (all committed, consumers drained). One copy, so a change to the service's consumers
(durable names, ack policy) is made here once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from cctv.contract import AUDITED_STREAMS, subject_for, wrap
from cctv.contract.events import AccessRecorded, CameraStateChanged
from cctv.evidence.chain import VerifyReport
from services.audit import api
from services.audit.app import AuditService, build, durable_name
from services.audit.settings import AuditSettings
from services.audit.writer import Faults
from tests.support.waiting import ChangeFeed, eventually, subject_changes, table_changes

Msg = tuple[str, bytes, str]
"""(subject, raw bytes, event id) of one event to publish."""


def settings(
    nats_url: str, database_url: str, schema: str, home: Path, **overrides: Any
) -> AuditSettings:
    """An audit service of the test's own (schema, origin, key) with quick checkpoints."""
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "database_url": database_url,
        "audit_schema": schema,
        "audit_origin": f"test.campus/{schema}",
        "audit_key_name": f"test.campus/{schema}",
        "data_dir": home,
        "checkpoint_every": 40,
        "checkpoint_interval_s": 0.3,
        "ack_wait_s": 2.0,
        "batch_size": 500,
        **overrides,
    }
    return AuditSettings(**values)


def fresh(nats_url: str, database_url: str, home: Path, **overrides: Any) -> AuditSettings:
    """:func:`settings` on a schema no other test uses."""
    return settings(nats_url, database_url, f"audit_{uuid.uuid4().hex[:8]}", home, **overrides)


@asynccontextmanager
async def running(s: AuditSettings, faults: Faults | None = None) -> AsyncIterator[AuditService]:
    svc = build(s, faults)
    async with svc.running():
        audit: AuditService = svc.state["audit"]
        await asyncio.wait_for(audit.ready.wait(), 20)
        yield audit


def access(i: int, tag: str, actor: str | None = None, key: str | None = None) -> Msg:
    """An access record; ``key`` (the subject's last token) defaults to ``cam-<i % 4>``."""
    who = actor or f"u{i % 3}"
    key = key or f"cam-{i % 4}"
    ev = AccessRecorded(
        action="view",
        actor=who,
        camera_ids=[f"cam-{i % 4}"],
        request_no=f"DY-{tag}",
        detail="查阅 view",
    )
    env = wrap(ev, source="console", key=key, actor=who)
    return subject_for(ev, key), env.to_bytes(), env.id


def state_change(i: int) -> Msg:
    ev = CameraStateChanged(
        camera_id=f"cam-{i}",
        state="down",
        previous="up",
        since="2026-11-25T06:00:00Z",  # type: ignore[arg-type]
        reason="offline",
    )
    env = wrap(ev, source="health", key=f"cam-{i}")
    return subject_for(ev, f"cam-{i}"), env.to_bytes(), env.id


async def publish(js: Any, msgs: list[Msg], *, fresh_ids: bool = False) -> None:
    for subject, data, eid in msgs:
        msg_id = uuid.uuid4().hex if fresh_ids else eid
        await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id})


async def until(
    cond: Callable[[], Any], changes: ChangeFeed, within: float = 20.0, what: str = ""
) -> Any:
    """Wait until a condition on the log or the consumers holds, checking after each change."""
    return await eventually(cond, changes=changes, timeout=within, what=what or str(cond))


def durable(schema: str, stream: str) -> str:
    """The audit consumer of ``stream`` for the audit service on ``schema``."""
    return durable_name(schema, stream)


def delivered_or_acked(msg: Any) -> bool:
    """On an inbox: a message JetStream delivered (its reply is the ack subject), or the
    server's empty confirmation of an ack it has processed (the witness acks with ack_sync)."""
    return str(msg.reply or "").startswith("$JS.ACK.") or (not msg.reply and not msg.data)


@asynccontextmanager
async def progress(cfg: AuditSettings) -> AsyncIterator[ChangeFeed]:
    """What moves an audit test on: entries committed (PostgreSQL), messages JetStream
    (re)delivered, and acks the server has processed."""
    async with (
        table_changes(cfg.database_url, f"{cfg.audit_schema}.entry") as rows,
        subject_changes(cfg.nats_url, "_INBOX.>", delivered_or_acked) as inbox,
    ):
        yield ChangeFeed(rows, inbox)


async def counts(pool: asyncpg.Pool, schema: str, ids: list[str]) -> dict[str, int]:
    """How many entries each of ``ids`` has in the log (absent: none)."""
    rows = await pool.fetch(
        f"SELECT event_id, count(*) AS n FROM {schema}.entry WHERE event_id = ANY($1::text[]) "
        "GROUP BY event_id",
        ids,
    )
    return {r["event_id"]: r["n"] for r in rows}


async def drained(js: Any, schema: str) -> bool:
    """Every audit consumer has nothing pending and nothing awaiting an ack."""
    for spec in AUDITED_STREAMS:
        info = await js.consumer_info(spec.name, durable(schema, spec.name))
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def exactly_once(audit: AuditService, js: Any, ids: list[str], within: float = 20) -> None:
    """Every one of ``ids`` in the log once, and the consumers drained."""
    assert audit.pool is not None

    async def missing() -> list[int]:
        c = await counts(audit.pool, audit.schema, ids)  # type: ignore[arg-type]
        return [n for n, eid in enumerate(ids) if eid not in c]

    async with progress(audit.settings) as changes:
        await eventually(
            missing, lambda m: not m, changes=changes, timeout=within,
            what="all events in the log (last: the positions missing)",
        )  # fmt: skip
        await until(lambda: drained(js, audit.schema), changes, within, what="consumers drained")
    c = await counts(audit.pool, audit.schema, ids)
    assert set(c.values()) == {1}, {k: v for k, v in c.items() if v != 1}


async def verified(audit: AuditService) -> VerifyReport:
    assert audit.pool is not None
    async with audit.pool.acquire() as conn:
        rep, problems = await api.verify(
            conn, audit.schema, audit.signer.verifier, origin=audit.settings.audit_origin
        )
    assert not problems
    assert rep.ok, rep.findings
    return rep
