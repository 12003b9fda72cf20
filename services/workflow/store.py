"""The workflow service's tables. Every write takes the caller's connection so that the state
change, its history row and its outbox event commit in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from cctv.contract import Envelope
from cctv.contract.campustime import to_campus

from . import processes
from .base import ApprovalRequest
from .dutylog import LogEntry, OpenItem, ShiftHandover
from .inventory import CameraInfo, Inventory
from .notices import Notice
from .responsible import SystemFile
from .workcalendar import YearNotice

SCHEMA = "workflow"


async def next_id(conn: asyncpg.Connection, process: str, now: datetime, schema: str) -> str:
    """DY-2027-00001: the year people read in the number is the campus year (00:30 on New
    Year's Day in Haikou is still 31 December in UTC)."""
    prefix = processes.prefix(process)  # 调阅 DY, 停用挪移 TY, … (the registry)
    year = to_campus(now).year
    n = await conn.fetchval(
        f"INSERT INTO {schema}.counters (prefix, year, n) VALUES ($1, $2, 1) "
        "ON CONFLICT (prefix, year) DO UPDATE SET n = counters.n + 1 RETURNING n",
        prefix,
        year,
    )
    return f"{prefix}-{year}-{n:05d}"


# ---- requests ----


async def insert_request(conn: asyncpg.Connection, req: ApprovalRequest, schema: str) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.requests (request_id, process, state, requester, applied_at, "
        "updated_at, doc) VALUES ($1, $2, $3, $4, $5, $5, $6)",
        req.request_id,
        req.PROCESS,
        req.state.value,
        req.requester.person_id,
        req.applied_at,
        req.model_dump(mode="json"),
    )


async def save_request(
    conn: asyncpg.Connection, req: ApprovalRequest, now: datetime, schema: str
) -> None:
    await conn.execute(
        f"UPDATE {schema}.requests SET state=$2, doc=$3, updated_at=$4, version=version+1 "
        "WHERE request_id=$1",
        req.request_id,
        req.state.value,
        req.model_dump(mode="json"),
        now,
    )


def _load(process: str, doc: dict[str, Any]) -> ApprovalRequest:
    return processes.APPROVALS[process].request.model_validate(doc)


async def load_request(
    conn: asyncpg.Connection, request_id: str, schema: str, *, lock: bool = False
) -> ApprovalRequest | None:
    row = await conn.fetchrow(
        f"SELECT process, doc FROM {schema}.requests WHERE request_id=$1"
        + (" FOR UPDATE" if lock else ""),
        request_id,
    )
    return _load(row["process"], row["doc"]) if row else None


async def list_requests(
    conn: asyncpg.Connection | asyncpg.Pool,
    schema: str,
    *,
    process: str | None = None,
    states: list[str] | None = None,
    requester: str | None = None,
    limit: int = 500,
) -> list[ApprovalRequest]:
    rows = await conn.fetch(
        f"SELECT process, doc FROM {schema}.requests WHERE ($1::text IS NULL OR process=$1) "
        "AND ($2::text[] IS NULL OR state = ANY($2)) AND ($3::text IS NULL OR requester=$3) "
        "ORDER BY applied_at DESC LIMIT $4",
        process,
        states,
        requester,
        limit,
    )
    return [_load(r["process"], r["doc"]) for r in rows]


async def add_history(
    conn: asyncpg.Connection, schema: str, request_id: str, env: Envelope, subject: str
) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.history (request_id, event_id, subject, actor, at, data) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        request_id,
        env.id,
        subject,
        env.actor,
        env.time,
        env.data,
    )


async def history(
    conn: asyncpg.Connection | asyncpg.Pool, schema: str, request_id: str
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT event_id, subject, actor, at, data FROM {schema}.history "
        "WHERE request_id=$1 ORDER BY seq",
        request_id,
    )
    return [
        {
            "event_id": r["event_id"],
            "subject": r["subject"],
            "actor": r["actor"],
            "at": r["at"].isoformat(),
            "data": r["data"],
        }
        for r in rows
    ]


# ---- inventory view ----


async def upsert_camera(conn: asyncpg.Pool | asyncpg.Connection, schema: str, rec: Any) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.cameras (camera_id, record) VALUES ($1, $2) "
        "ON CONFLICT (camera_id) DO UPDATE SET record = EXCLUDED.record",
        rec["camera_id"],
        rec,
    )


async def add_missing_cameras(
    conn: asyncpg.Pool | asyncpg.Connection, schema: str, records: list[Any]
) -> int:
    """The inventory snapshot at start (issue 9): cameras not yet here are added; a record
    the inventory consumer already wrote is never overwritten. Returns how many were added."""
    rows = await conn.fetch(
        f"INSERT INTO {schema}.cameras (camera_id, record) "
        "SELECT r->>'camera_id', r FROM unnest($1::jsonb[]) AS r "
        "ON CONFLICT (camera_id) DO NOTHING RETURNING camera_id",
        records,
    )
    return len(rows)


async def remove_camera(conn: asyncpg.Pool | asyncpg.Connection, schema: str, cid: str) -> None:
    await conn.execute(f"DELETE FROM {schema}.cameras WHERE camera_id=$1", cid)


async def inventory(conn: asyncpg.Pool | asyncpg.Connection, schema: str) -> Inventory:
    rows = await conn.fetch(f"SELECT record FROM {schema}.cameras")
    return Inventory(CameraInfo.model_validate(r["record"]) for r in rows)


async def camera_records(conn: asyncpg.Pool | asyncpg.Connection, schema: str) -> list[Any]:
    rows = await conn.fetch(f"SELECT record FROM {schema}.cameras ORDER BY camera_id")
    return [r["record"] for r in rows]


# ---- systems (Art. 9) ----


async def load_system(
    conn: asyncpg.Connection, schema: str, system_id: str, department: str | None = None
) -> SystemFile | None:
    row = await conn.fetchrow(
        f"SELECT doc FROM {schema}.systems WHERE system_id=$1 FOR UPDATE", system_id
    )
    if row:
        return SystemFile.model_validate(row["doc"])
    if department is None:
        return None
    return SystemFile(system_id=system_id, department=department)


async def save_system(conn: asyncpg.Connection, schema: str, sf: SystemFile) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.systems (system_id, doc) VALUES ($1, $2) "
        "ON CONFLICT (system_id) DO UPDATE SET doc = EXCLUDED.doc",
        sf.system_id,
        sf.model_dump(mode="json"),
    )


async def systems(conn: asyncpg.Pool | asyncpg.Connection, schema: str) -> list[SystemFile]:
    rows = await conn.fetch(f"SELECT doc FROM {schema}.systems ORDER BY system_id")
    return [SystemFile.model_validate(r["doc"]) for r in rows]


# ---- duty log and handover ----


async def save_entry(conn: asyncpg.Connection, schema: str, e: LogEntry) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.log_entries (entry_id, at, open, doc) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (entry_id) DO UPDATE SET open = EXCLUDED.open, doc = EXCLUDED.doc",
        e.entry_id,
        e.at,
        e.open,
        e.model_dump(mode="json"),
    )


async def entries(
    conn: asyncpg.Pool | asyncpg.Connection, schema: str, *, open_only: bool = False
) -> list[LogEntry]:
    rows = await conn.fetch(
        f"SELECT doc FROM {schema}.log_entries WHERE (NOT $1 OR open) ORDER BY at, entry_id",
        open_only,
    )
    return [LogEntry.model_validate(r["doc"]) for r in rows]


async def open_items(conn: asyncpg.Pool | asyncpg.Connection, schema: str) -> list[OpenItem]:
    rows = await conn.fetch(f"SELECT kind, ref, summary FROM {schema}.open_items ORDER BY 1, 2")
    items = [OpenItem(kind=r["kind"], ref=r["ref"], summary=r["summary"]) for r in rows]
    for e in await entries(conn, schema, open_only=True):
        items.append(OpenItem(kind="log", ref=e.entry_id, summary=e.text))
    return items


async def set_open_item(
    conn: asyncpg.Pool | asyncpg.Connection, schema: str, kind: str, ref: str, summary: str
) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.open_items (kind, ref, summary) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        kind,
        ref,
        summary,
    )


async def clear_open_item(
    conn: asyncpg.Pool | asyncpg.Connection, schema: str, kind: str, ref: str
) -> None:
    await conn.execute(f"DELETE FROM {schema}.open_items WHERE kind=$1 AND ref=$2", kind, ref)


async def lock_handovers(conn: asyncpg.Connection) -> None:
    """One handover offer or confirmation at a time (until the transaction ends): two
    operators offering at once must not both miss each other's items."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('workflow-handover'))")


async def save_handover(conn: asyncpg.Connection, schema: str, h: ShiftHandover) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.handovers (handover_id, state, offered_at, doc) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (handover_id) DO UPDATE "
        "SET state = EXCLUDED.state, doc = EXCLUDED.doc",
        h.handover_id,
        h.state.value,
        h.offered_at,
        h.model_dump(mode="json"),
    )


async def load_handover(
    conn: asyncpg.Connection, schema: str, handover_id: str
) -> ShiftHandover | None:
    row = await conn.fetchrow(
        f"SELECT doc FROM {schema}.handovers WHERE handover_id=$1 FOR UPDATE", handover_id
    )
    return ShiftHandover.model_validate(row["doc"]) if row else None


async def offered_handovers(conn: asyncpg.Pool | asyncpg.Connection, schema: str) -> list[Any]:
    rows = await conn.fetch(
        f"SELECT doc FROM {schema}.handovers WHERE state='offered' ORDER BY offered_at"
    )
    return [r["doc"] for r in rows]


async def offered_by(conn: asyncpg.Connection, schema: str, outgoing: str) -> list[ShiftHandover]:
    """The outgoing operator's offers still waiting for confirmation (locked)."""
    rows = await conn.fetch(f"SELECT doc FROM {schema}.handovers WHERE state='offered' FOR UPDATE")
    found = [ShiftHandover.model_validate(r["doc"]) for r in rows]
    return [h for h in found if h.outgoing == outgoing]


# ---- reminders ----


async def sent_nudges(
    conn: asyncpg.Pool | asyncpg.Connection, schema: str
) -> set[tuple[str, str, str]]:
    rows = await conn.fetch(f"SELECT request_id, step_key, level FROM {schema}.nudges_sent")
    return {(r["request_id"], r["step_key"], r["level"]) for r in rows}


async def mark_nudge(
    conn: asyncpg.Connection, schema: str, request_id: str, step_key: str, level: str
) -> bool:
    row = await conn.fetchval(
        f"INSERT INTO {schema}.nudges_sent (request_id, step_key, level) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        request_id,
        step_key,
        level,
    )
    return row is not None


# ---- notices (inbox messages committed with their cause) ----


async def add_notice(
    conn: asyncpg.Connection, schema: str, n: Notice, *, event_id: str | None, at: datetime
) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.notices (to_department, to_role, kind, ref, text_zh, text_en, "
        "event_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        n.to_department,
        n.to_role,
        n.kind,
        n.ref,
        n.text_zh,
        n.text_en,
        event_id,
        at,
    )


async def notices_for(
    conn: asyncpg.Pool | asyncpg.Connection,
    schema: str,
    department: str | None,
    roles: list[str],
    limit: int = 50,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT notice_id, to_department, to_role, kind, ref, text_zh, text_en, event_id, "
        f"created_at FROM {schema}.notices WHERE (to_department IS NULL OR to_department = $1) "
        "AND (to_role IS NULL OR to_role = ANY($2::text[])) ORDER BY notice_id DESC LIMIT $3",
        department,
        roles,
        limit,
    )
    return [{**dict(r), "created_at": r["created_at"].isoformat()} for r in rows]


# ---- the official calendar: holiday notices NIC entered (Art. 10) ----


async def save_notice(
    conn: asyncpg.Connection, schema: str, notice: YearNotice, by: str, at: datetime
) -> YearNotice | None:
    """Store a year's notice; returns the one it replaces, if any."""
    before = await conn.fetchval(
        f"SELECT doc FROM {schema}.calendar_notices WHERE year=$1 FOR UPDATE", notice.year
    )
    await conn.execute(
        f"INSERT INTO {schema}.calendar_notices (year, doc, imported_by, imported_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (year) DO UPDATE SET doc = EXCLUDED.doc, "
        "imported_by = EXCLUDED.imported_by, imported_at = EXCLUDED.imported_at",
        notice.year,
        notice.model_dump(mode="json"),
        by,
        at,
    )
    return YearNotice.model_validate(before) if before else None


async def calendar_notices(
    conn: asyncpg.Pool | asyncpg.Connection, schema: str
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT year, doc, imported_by, imported_at FROM {schema}.calendar_notices ORDER BY year"
    )
    return [
        {
            "notice": YearNotice.model_validate(r["doc"]),
            "imported_by": r["imported_by"],
            "imported_at": r["imported_at"],
        }
        for r in rows
    ]


# ---- refusals (不予受理): on the record with their numbers, in the request's history ----


async def refusals(
    conn: asyncpg.Pool | asyncpg.Connection,
    schema: str,
    *,
    process: str | None = None,
    request_id: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The latest refusals, newest first: number, process, who, when, code, article, message."""
    rows = await conn.fetch(
        f"SELECT request_id, subject, actor, at, data FROM {schema}.history "
        "WHERE subject LIKE 'cctv.workflow.%.refused.%' "
        "AND ($1::text IS NULL OR split_part(subject, '.', 3) = $1) "
        "AND ($3::text IS NULL OR request_id = $3) ORDER BY seq DESC LIMIT $2",
        process,
        limit,
        request_id,
    )
    out = []
    for r in rows:
        refusal = (r["data"].get("summary") or {}).get("refusal") or {}
        out.append(
            {
                "request_id": r["request_id"],
                "process": r["subject"].split(".")[2],
                "actor": r["actor"],
                "at": r["at"].isoformat(),
                "code": refusal.get("code", ""),
                "article": refusal.get("article", ""),
                "zh": refusal.get("zh", ""),
                "en": refusal.get("en", ""),
            }
        )
    return out
