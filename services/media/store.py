"""Every SQL statement of media, in its own schema (`media`; tests use schemas of their own).

Grants as workflow approved them, the job queue shared by replicas (`FOR UPDATE SKIP
LOCKED`), and the objects kept in the evidence store with their hashes and holds (Art. 18).
Callers decide and hold the transactions (`conn.transaction()` stays where the rule is);
this module only reads and writes. Functions that run inside a caller's transaction take a
connection; the others take the pool (or a connection).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeAlias

import asyncpg

from cctv.contract.events import GrantRecord

SCHEMA = "media"
Db: TypeAlias = asyncpg.Connection | asyncpg.Pool  # a connection, or the pool itself
# one `objects` row as `record_objects` writes it:
# (object_key, kind, camera_id, sha256, bytes, frames, first_frame_at, last_frame_at)
ObjectRow = tuple[str, str, str | None, str, int, int, datetime | None, datetime | None]


# ---- grants (from workflow's events) -------------------------------------------------------
async def save_grant(conn: Db, schema: str, g: GrantRecord) -> None:
    """The grant as workflow approved it; a later approval of the same request replaces it."""
    await conn.execute(
        f"INSERT INTO {schema}.grants (request_id, grant_id, grantee, cameras, "
        "footage_from, footage_until, valid_until, export, watermark) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (request_id) DO UPDATE SET "
        "grant_id = EXCLUDED.grant_id, grantee = EXCLUDED.grantee, cameras = "
        "EXCLUDED.cameras, footage_from = EXCLUDED.footage_from, footage_until = "
        "EXCLUDED.footage_until, valid_until = EXCLUDED.valid_until, export = "
        "EXCLUDED.export, watermark = EXCLUDED.watermark, updated_at = now()",
        g.request_id,
        g.grant_id,
        g.grantee,
        list(g.cameras),
        g.footage_from,
        g.footage_until,
        g.valid_until,
        g.export,
        g.watermark,
    )


async def revoke_grant(conn: Db, schema: str, request_id: str, at: datetime) -> None:
    await conn.execute(
        f"UPDATE {schema}.grants SET revoked_at = $2, closed_reason = 'revoked', "
        "updated_at = now() WHERE request_id = $1",
        request_id,
        at,
    )


# ---- revocations told to every replica (LISTEN/NOTIFY, ADR 0030) ----------------------------
def revoked_channel(schema: str) -> str:
    """The NOTIFY channel of a schema's revocations: replicas of one schema hear each other,
    a test's media on its own schema hears nobody else's."""
    return f"{schema}_grant_revoked"


async def announce_revoked(conn: asyncpg.Connection, schema: str, request_id: str) -> None:
    """Tell every replica listening that this request's grant is revoked. Call it in the
    transaction of `revoke_grant`: PostgreSQL delivers a NOTIFY only when it commits."""
    await conn.execute("SELECT pg_notify($1, $2)", revoked_channel(schema), request_id)


async def listen_revoked(
    conn: asyncpg.Connection, schema: str, heard: Callable[[str], None]
) -> None:
    """LISTEN on `conn` (a connection of its own, held while listening) for revocations:
    `heard(request_id)` for each one any replica commits."""

    def on_notify(_conn: object, _pid: int, _channel: str, request_id: str) -> None:
        heard(request_id)

    await conn.add_listener(revoked_channel(schema), on_notify)


async def ping(conn: asyncpg.Connection) -> None:
    """A round trip: a listening connection that no longer answers is made again."""
    await conn.execute("SELECT 1")


async def grant(conn: Db, schema: str, request_id: str) -> asyncpg.Record | None:
    """The grants row (every column), or None when media knows of no approved grant."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT * FROM {schema}.grants WHERE request_id = $1", request_id
    )
    return row


async def revoked_at(conn: Db, schema: str, request_id: str) -> datetime | None:
    """When the grant was revoked (whichever replica took workflow's event), else None."""
    at: datetime | None = await conn.fetchval(
        f"SELECT revoked_at FROM {schema}.grants WHERE request_id = $1", request_id
    )
    return at


async def revoked_among(conn: Db, schema: str, request_ids: list[str]) -> set[str]:
    """Which of these requests' grants are revoked (the viewer's periodic check)."""
    rows = await conn.fetch(
        f"SELECT request_id FROM {schema}.grants WHERE request_id = ANY($1) "
        "AND revoked_at IS NOT NULL",
        request_ids,
    )
    return {r["request_id"] for r in rows}


# ---- holds on kept objects (Art. 18) -------------------------------------------------------
async def extend_holds(conn: Db, schema: str, request_id: str, until: date) -> None:
    """A hold only ever lengthens what is kept, never shortens it."""
    await conn.execute(
        f"UPDATE {schema}.objects SET hold_until = greatest(hold_until, $2) WHERE request_id = $1",
        request_id,
        until,
    )


# ---- the job queue -------------------------------------------------------------------------
async def queue_preservation(
    conn: Db, schema: str, job_id: str, request_id: str, spec: dict[str, Any]
) -> None:
    """One preservation copy per request (a redelivered approval queues nothing more)."""
    await conn.execute(
        f"INSERT INTO {schema}.jobs (job_id, kind, request_id, spec) "
        "VALUES ($1, 'preserve', $2, $3) ON CONFLICT DO NOTHING",
        job_id,
        request_id,
        json.dumps(spec),
    )


async def count_exports(conn: Db, schema: str, request_id: str) -> int:
    n = await conn.fetchval(
        f"SELECT count(*) FROM {schema}.jobs WHERE request_id = $1 AND kind='export'",
        request_id,
    )
    return int(n)


async def queue_export(
    conn: Db, schema: str, job_id: str, request_id: str, spec: dict[str, Any]
) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.jobs (job_id, kind, request_id, spec) VALUES ($1, 'export', $2, $3)",
        job_id,
        request_id,
        json.dumps(spec),
    )


async def take_queued_job(conn: asyncpg.Connection, schema: str) -> asyncpg.Record | None:
    """The oldest queued job that is due, marked running; replicas skip each other's locked
    rows. Call inside the caller's transaction, so the lock holds until it commits."""
    job: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT * FROM {schema}.jobs WHERE status = 'queued' AND not_before <= now() "
        "ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED"
    )
    if job is None:
        return None
    await conn.execute(
        f"UPDATE {schema}.jobs SET status = 'running', attempts = attempts + 1 WHERE job_id = $1",
        job["job_id"],
    )
    return job


async def fail_job(
    conn: Db, schema: str, job_id: str, error: str, status: str, delay_s: float
) -> None:
    """`status` is 'queued' (tried again after `delay_s`) or 'failed' (for good)."""
    await conn.execute(
        f"UPDATE {schema}.jobs SET status = $3, error = $2, "
        "finished_at = CASE WHEN $3 = 'failed' THEN now() END, "
        "not_before = now() + make_interval(secs => $4) WHERE job_id = $1",
        job_id,
        error,
        status,
        delay_s,
    )


async def jobs(conn: Db, schema: str, request_id: str | None) -> list[asyncpg.Record]:
    """Every job, or one request's, oldest first."""
    where, args = ("WHERE request_id = $1", [request_id]) if request_id else ("", [])
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT job_id, kind, request_id, status, error, created_at, finished_at "
        f"FROM {schema}.jobs {where} ORDER BY created_at",
        *args,
    )
    return rows


async def export_job(conn: Db, schema: str, export_id: str) -> asyncpg.Record | None:
    """An export job with its grant's id (None once the grant is unknown)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT j.*, g.grant_id FROM {schema}.jobs j LEFT JOIN {schema}.grants g "
        "USING (request_id) WHERE j.job_id = $1 AND j.kind = 'export'",
        export_id,
    )
    return row


# ---- kept objects --------------------------------------------------------------------------
async def objects(conn: Db, schema: str, request_id: str | None) -> list[asyncpg.Record]:
    """Every object, or one request's, deleted ones included, by key."""
    where, args = ("WHERE request_id = $1", [request_id]) if request_id else ("", [])
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT * FROM {schema}.objects {where} ORDER BY object_key", *args
    )
    return rows


async def stored_object(conn: Db, schema: str, object_key: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT * FROM {schema}.objects WHERE object_key = $1", object_key
    )
    return row


async def job_objects(conn: Db, schema: str, job_id: str) -> list[asyncpg.Record]:
    """A job's objects that are still kept, by key."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT * FROM {schema}.objects WHERE job_id = $1 AND deleted_at IS NULL "
        "ORDER BY object_key",
        job_id,
    )
    return rows


async def mark_deleted(conn: Db, schema: str, object_key: str, by: str) -> None:
    await conn.execute(
        f"UPDATE {schema}.objects SET deleted_at = now(), deleted_by = $2 WHERE object_key = $1",
        object_key,
        by,
    )


async def record_objects(
    conn: asyncpg.Connection,
    schema: str,
    job_id: str,
    request_id: str,
    rows: list[ObjectRow],
    hold: date,
) -> None:
    """The job's stored objects with their hashes and hold, and the job done — in the
    caller's transaction, with the event that announces them."""
    for key, k, cam, sha, size, frames, first, last in rows:
        await conn.execute(
            f"INSERT INTO {schema}.objects (object_key, job_id, request_id, kind, "
            "camera_id, sha256, bytes, frames, first_frame_at, last_frame_at, hold_until) "
            "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
            key,
            job_id,
            request_id,
            k,
            cam,
            sha,
            size,
            frames,
            first,
            last,
            hold,
        )
    await conn.execute(
        f"UPDATE {schema}.jobs SET status = 'done', finished_at = now(), error = NULL "
        "WHERE job_id = $1",
        job_id,
    )


async def objects_to_check(conn: Db, schema: str) -> list[asyncpg.Record]:
    """Every kept object's key, request and hash as written (the scheduled re-hash)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT object_key, request_id, sha256 FROM {schema}.objects "
        "WHERE deleted_at IS NULL ORDER BY object_key"
    )
    return rows


async def set_check(conn: Db, schema: str, object_key: str, at: datetime, ok: bool) -> None:
    await conn.execute(
        f"UPDATE {schema}.objects SET last_checked_at = $2, last_check_ok = $3 "
        "WHERE object_key = $1",
        object_key,
        at,
        ok,
    )
