"""health's own tables: camera copy, damped state, faults with their repair tickets, windows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from cctv.contract import CameraRecord
from cctv.contract.events import FaultKind

from .damping import CameraHealth
from .windows import Window

SCHEMA = "health"


async def load_health(conn: asyncpg.Connection, camera_id: str) -> CameraHealth:
    row = await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.camera_health WHERE camera_id=$1 FOR UPDATE", camera_id
    )
    if row is None:
        return CameraHealth(camera_id)
    return CameraHealth(
        camera_id,
        row["state"],
        row["fail_streak"],
        row["ok_streak"],
        row["last_sample_at"],
        row["since"],
    )


async def save_health(conn: asyncpg.Connection, h: CameraHealth) -> None:
    await conn.execute(
        f"INSERT INTO {SCHEMA}.camera_health VALUES ($1,$2,$3,$4,$5,$6) "
        "ON CONFLICT (camera_id) DO UPDATE SET state=$2, fail_streak=$3, ok_streak=$4, "
        "last_sample_at=$5, since=$6",
        h.camera_id,
        h.state,
        h.fail_streak,
        h.ok_streak,
        h.last_sample_at,
        h.since,
    )


async def camera(conn: asyncpg.Connection | asyncpg.Pool, camera_id: str) -> CameraRecord | None:
    rec = await conn.fetchval(
        f"SELECT record FROM {SCHEMA}.cameras WHERE camera_id=$1 AND NOT removed", camera_id
    )
    return CameraRecord.model_validate(rec) if rec else None


async def cameras(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, CameraRecord]:
    rows = await conn.fetch(f"SELECT camera_id, record FROM {SCHEMA}.cameras WHERE NOT removed")
    return {r["camera_id"]: CameraRecord.model_validate(r["record"]) for r in rows}


# a re-add (an upsert over a removal) counts samples only from its own time
_UPSERT_SET = (
    "record=$2, updated_at=$3, removed=false, "
    "counted_from = CASE WHEN c.removed THEN $3::timestamptz ELSE c.counted_from END"
)


async def lock_camera(conn: asyncpg.Connection, camera_id: str) -> None:
    """The camera's lock until the transaction ends: a removal and a sample (or report) of the
    camera take it, so one is applied wholly before the other. An advisory lock, as a camera
    health has not heard of yet has no row to lock (two keys: not the one-key space other
    services lock in)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('health.camera'), hashtext($1))", camera_id
    )


async def lock_counted(conn: asyncpg.Connection, camera_id: str, at: datetime) -> bool:
    """Take the camera's lock, then say whether something of `at` is of the camera as the
    inventory has it: False if it is removed, or was re-added after `at`. The question is its
    own statement after the lock, so it sees a removal committed while the lock was awaited."""
    await lock_camera(conn, camera_id)
    counts = await conn.fetchval(
        "SELECT NOT removed AND (counted_from IS NULL OR counted_from <= $2) "
        f"FROM {SCHEMA}.cameras WHERE camera_id=$1",
        camera_id,
        at,
    )
    return counts is None or bool(counts)


async def upsert_camera(
    conn: asyncpg.Connection | asyncpg.Pool, cam: CameraRecord, at: datetime | None = None
) -> None:
    """Keep the newest record: an older upsert delivered late changes nothing."""
    await conn.execute(
        f"INSERT INTO {SCHEMA}.cameras AS c (camera_id, record, updated_at) VALUES ($1,$2,$3) "
        f"ON CONFLICT (camera_id) DO UPDATE SET {_UPSERT_SET} "
        "WHERE c.updated_at IS NULL OR $3::timestamptz IS NULL OR c.updated_at <= $3",
        cam.camera_id,
        cam.model_dump(mode="json"),
        at,
    )


async def add_camera(conn: asyncpg.Connection | asyncpg.Pool, cam: CameraRecord) -> None:
    """A record from elsewhere than the inventory (ingest's answer): kept only while health
    has no word of the camera at all, never over a newer record or a removal."""
    await conn.execute(
        f"INSERT INTO {SCHEMA}.cameras (camera_id, record, updated_at) VALUES ($1,$2,NULL) "
        "ON CONFLICT (camera_id) DO NOTHING",
        cam.camera_id,
        cam.model_dump(mode="json"),
    )


async def upsert_cameras(
    conn: asyncpg.Connection | asyncpg.Pool, cams: list[tuple[CameraRecord, datetime | None]]
) -> None:
    """The inventory snapshot in one statement per camera batch (health's start)."""
    await conn.executemany(
        f"INSERT INTO {SCHEMA}.cameras AS c (camera_id, record, updated_at) VALUES ($1,$2,$3) "
        f"ON CONFLICT (camera_id) DO UPDATE SET {_UPSERT_SET} "
        "WHERE c.updated_at IS NULL OR $3::timestamptz IS NULL OR c.updated_at <= $3",
        [(c.camera_id, c.model_dump(mode="json"), at) for c, at in cams],
    )


async def remove_camera(
    conn: asyncpg.Connection | asyncpg.Pool, camera_id: str, at: datetime | None = None
) -> bool:
    """Tombstone the camera unless a newer upsert is already here; True if it was removed."""
    removed = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.cameras AS c (camera_id, record, updated_at, removed) "
        "VALUES ($1, '{}'::jsonb, $2, true) ON CONFLICT (camera_id) DO UPDATE SET removed=true, "
        "updated_at=$2 WHERE c.updated_at IS NULL OR $2::timestamptz IS NULL "
        "OR c.updated_at <= $2 RETURNING camera_id",
        camera_id,
        at,
    )
    if removed:
        await conn.execute(f"DELETE FROM {SCHEMA}.camera_health WHERE camera_id=$1", camera_id)
    return removed is not None


async def all_health(
    conn: asyncpg.Connection | asyncpg.Pool,
) -> dict[str, tuple[CameraHealth, str]]:
    """Every camera's damped health and the state shown for it, for a restart."""
    rows = await conn.fetch(f"SELECT * FROM {SCHEMA}.camera_health")
    return {
        r["camera_id"]: (
            CameraHealth(
                r["camera_id"],
                r["state"],
                r["fail_streak"],
                r["ok_streak"],
                r["last_sample_at"],
                r["since"],
            ),
            r["shown"] or r["state"],
        )
        for r in rows
    }


async def set_shown(conn: asyncpg.Connection, camera_id: str, shown: str) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.camera_health SET shown=$2 WHERE camera_id=$1", camera_id, shown
    )


async def open_fault(
    conn: asyncpg.Connection,
    camera_id: str,
    kind: str,
    severity: str,
    at: datetime,
    detail: str,
    affected: list[str] | None = None,
    ticket_state: str = "pending",
) -> str | None:
    """Open a fault unless one of that kind is already open; return its id if new."""
    fault_id = str(uuid.uuid4())
    inserted = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.faults (fault_id, camera_id, kind, severity, status, detail, "
        "opened_at, affected, ticket_state) VALUES ($1,$2,$3,$4,'open',$5,$6,$7,$8) "
        "ON CONFLICT (camera_id, kind) WHERE status='open' DO NOTHING RETURNING fault_id",
        fault_id,
        camera_id,
        kind,
        severity,
        detail,
        at,
        affected or [],
        ticket_state,
    )
    return str(inserted) if inserted else None


async def add_affected(conn: asyncpg.Connection, fault_id: str, camera_id: str) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.faults SET affected = array_append(affected, $2) "
        "WHERE fault_id=$1 AND NOT ($2 = ANY(affected))",
        fault_id,
        camera_id,
    )


async def open_outages(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT * FROM {SCHEMA}.faults WHERE status='open' "
            "AND kind IN ('recorder_offline', 'suspected_network')"
        )
    )


async def close_fault(
    conn: asyncpg.Connection, fault_id: str, at: datetime, closed_by: str, reason: str
) -> asyncpg.Record | None:
    """Close one open fault by hand; its pending ticket is no longer needed."""
    return await conn.fetchrow(
        f"UPDATE {SCHEMA}.faults SET status='resolved', resolved_at=$2, closed_by=$3, "
        "close_reason=$4, ticket_state = CASE WHEN ticket_state='pending' THEN 'none' "
        "ELSE ticket_state END WHERE fault_id=$1 AND status='open' RETURNING *",
        fault_id,
        at,
        closed_by,
        reason,
    )


async def fault(conn: asyncpg.Connection | asyncpg.Pool, fault_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.faults WHERE fault_id=$1", fault_id)


async def open_counts(conn: asyncpg.Connection | asyncpg.Pool) -> dict[tuple[str, str], int]:
    rows = await conn.fetch(
        f"SELECT kind, severity, count(*) AS n FROM {SCHEMA}.faults WHERE status='open' "
        "GROUP BY kind, severity"
    )
    return {(r["kind"], r["severity"]): int(r["n"]) for r in rows}


async def resolve_faults(
    conn: asyncpg.Connection,
    camera_id: str,
    kinds: list[str] | None,
    at: datetime,
    closed_by: str | None = None,
    reason: str | None = None,
) -> list[asyncpg.Record]:
    """Resolve the camera's open faults of `kinds` (None: every kind, as on removal)."""
    return list(
        await conn.fetch(
            f"UPDATE {SCHEMA}.faults SET status='resolved', resolved_at=$3, closed_by=$4, "
            "close_reason=$5, ticket_state = CASE WHEN $4::text IS NOT NULL AND "
            "ticket_state='pending' THEN 'none' ELSE ticket_state END "
            "WHERE camera_id=$1 AND ($2::text[] IS NULL OR kind = ANY($2::text[])) "
            "AND status='open' RETURNING *",
            camera_id,
            kinds,
            at,
            closed_by,
            reason,
        )
    )


async def resolve_offline_of(
    conn: asyncpg.Connection, camera_ids: list[str], at: datetime, reason: str
) -> list[asyncpg.Record]:
    """The cameras' own offline faults, resolved into a common cause's in one statement."""
    return list(
        await conn.fetch(
            f"UPDATE {SCHEMA}.faults SET status='resolved', resolved_at=$2, close_reason=$3, "
            "ticket_state = CASE WHEN ticket_state='pending' THEN 'none' ELSE ticket_state END "
            "WHERE camera_id = ANY($1::text[]) AND kind='offline' AND status='open' RETURNING *",
            camera_ids,
            at,
            reason,
        )
    )


async def windows(
    conn: asyncpg.Connection | asyncpg.Pool, table: str = "stopmove_windows"
) -> list[Window]:
    rows = await conn.fetch(f"SELECT * FROM {SCHEMA}.{table}")
    return [
        Window(r["request_id"], frozenset(r["camera_ids"]), r["starts_at"], r["ends_at"])
        for r in rows
    ]


async def add_window(
    conn: asyncpg.Connection | asyncpg.Pool, w: Window, table: str = "stopmove_windows"
) -> None:
    await conn.execute(
        f"INSERT INTO {SCHEMA}.{table} VALUES ($1,$2,$3,$4) "
        "ON CONFLICT (request_id) DO UPDATE SET camera_ids=$2, starts_at=$3, ends_at=$4",
        w.request_id,
        sorted(w.camera_ids),
        w.starts_at,
        w.ends_at,
    )


async def end_window_early(
    conn: asyncpg.Connection | asyncpg.Pool, request_id: str, ends_at: datetime
) -> None:
    """The work was reported done before the approved end: outages after it are violations."""
    await conn.execute(
        f"UPDATE {SCHEMA}.stopmove_windows SET ends_at = LEAST(ends_at, $2) WHERE request_id=$1",
        request_id,
        ends_at,
    )


async def states(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """The state shown (maintenance, unreachable behind its recorder) where there is one."""
    rows = await pool.fetch(
        "SELECT h.camera_id, coalesce(h.shown, h.state) AS state, h.since, h.last_sample_at "
        f"FROM {SCHEMA}.camera_health h"
    )
    return [dict(r) for r in rows]


async def faults(pool: asyncpg.Pool, include_resolved: int = 20) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"(SELECT * FROM {SCHEMA}.faults WHERE status='open' ORDER BY opened_at DESC) "
        f"UNION ALL (SELECT * FROM {SCHEMA}.faults WHERE status='resolved' "
        "ORDER BY resolved_at DESC LIMIT $1)",
        include_resolved,
    )
    return [dict(r) for r in rows]


async def installed(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, datetime]:
    rows = await conn.fetch(f"SELECT camera_id, installed_at FROM {SCHEMA}.installed")
    return {r["camera_id"]: r["installed_at"] for r in rows}


async def record_installed(
    conn: asyncpg.Connection | asyncpg.Pool, camera_ids: list[str], at: datetime
) -> None:
    """The first report of a new point's installation counts; a redelivery changes nothing."""
    await conn.execute(
        f"INSERT INTO {SCHEMA}.installed SELECT unnest($1::text[]), $2 "
        "ON CONFLICT (camera_id) DO NOTHING",
        camera_ids,
        at,
    )


async def record_deletion(
    conn: asyncpg.Connection | asyncpg.Pool,
    camera_id: str,
    start: datetime,
    end: datetime,
    observed_at: datetime,
    lapses_at: datetime,
) -> None:
    await conn.execute(
        f"INSERT INTO {SCHEMA}.deletions VALUES ($1,$2,$3,$4,$5) "
        "ON CONFLICT (camera_id, start_at) DO NOTHING",
        camera_id,
        start,
        end,
        observed_at,
        lapses_at,
    )


async def deletions_lapsed(conn: asyncpg.Connection | asyncpg.Pool, now: datetime) -> list[str]:
    """Cameras whose recording_deleted fault is open though every gap it stands for lapsed."""
    rows = await conn.fetch(
        f"SELECT f.camera_id FROM {SCHEMA}.faults f WHERE f.kind='recording_deleted' "
        f"AND f.status='open' AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.deletions d "
        "WHERE d.camera_id=f.camera_id AND d.lapses_at > $1)",
        now,
    )
    return [r["camera_id"] for r in rows]


async def arming_schedules(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, Any]:
    """system_id -> its filed arming periods (Art. 9, 12)."""
    rows = await conn.fetch(f"SELECT system_id, periods FROM {SCHEMA}.arming_schedules")
    return {r["system_id"]: r["periods"] for r in rows}


async def set_arming_schedule(
    conn: asyncpg.Connection | asyncpg.Pool, system_id: str, periods: list[Any], at: datetime
) -> bool:
    """Keep the newest filing; True if this one is it."""
    got = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.arming_schedules AS a VALUES ($1,$2,$3) ON CONFLICT (system_id) "
        "DO UPDATE SET periods=$2, set_at=$3 WHERE a.set_at <= $3 RETURNING system_id",
        system_id,
        periods,
        at,
    )
    return got is not None


async def open_conditions(
    conn: asyncpg.Connection | asyncpg.Pool,
) -> dict[str, set[FaultKind]]:
    """camera_id -> kinds of its open faults other than offline (a restart's memory)."""
    rows = await conn.fetch(
        f"SELECT camera_id, kind FROM {SCHEMA}.faults WHERE status='open' AND kind<>'offline'"
    )
    out: dict[str, set[FaultKind]] = {}
    for r in rows:
        out.setdefault(r["camera_id"], set()).add(r["kind"])
    return out


async def shown_state(conn: asyncpg.Connection | asyncpg.Pool, camera_id: str) -> str | None:
    return await conn.fetchval(
        f"SELECT coalesce(shown, state) FROM {SCHEMA}.camera_health WHERE camera_id=$1",
        camera_id,
    )


async def open_fault_of(
    conn: asyncpg.Connection, camera_id: str, kind: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.faults WHERE camera_id=$1 AND kind=$2 AND status='open'",
        camera_id,
        kind,
    )


async def resolve_fault(
    conn: asyncpg.Connection, fault_id: str, at: datetime
) -> asyncpg.Record | None:
    """Resolve one open fault (a common cause that cleared); None if no longer open."""
    return await conn.fetchrow(
        f"UPDATE {SCHEMA}.faults SET status='resolved', resolved_at=$2 "
        "WHERE fault_id=$1 AND status='open' RETURNING *",
        fault_id,
        at,
    )


async def remove_affected(conn: asyncpg.Connection, fault_id: str, camera_id: str) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.faults SET affected = array_remove(affected, $2) WHERE fault_id=$1",
        fault_id,
        camera_id,
    )


async def tickets_to_open(conn: asyncpg.Connection, limit: int = 20) -> list[asyncpg.Record]:
    """Faults waiting for their repair ticket, with the camera record; locked for this run."""
    return list(
        await conn.fetch(
            f"SELECT f.*, c.record FROM {SCHEMA}.faults f LEFT JOIN {SCHEMA}.cameras c "
            "USING (camera_id) WHERE ticket_state='pending' ORDER BY opened_at LIMIT $1 "
            "FOR UPDATE OF f SKIP LOCKED",
            limit,
        )
    )


async def tickets_to_close(conn: asyncpg.Connection, limit: int = 20) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT * FROM {SCHEMA}.faults WHERE status='resolved' AND ticket_state='opened' "
            "ORDER BY resolved_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
    )


async def ticket_error(
    conn: asyncpg.Connection, fault_id: str, error: str, every_waiting: bool = False
) -> None:
    """Say why the ticket is not there yet; `every_waiting`: the repair system is down, so
    every fault waiting for a ticket has the same reason."""
    await conn.execute(
        f"UPDATE {SCHEMA}.faults SET ticket_error=$2 WHERE fault_id=$1 "
        "OR ($3 AND status='open' AND ticket_state='pending')",
        fault_id,
        error[:500],
        every_waiting,
    )


async def ticket_opened(conn: asyncpg.Connection, fault_id: str, ticket_no: str) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.faults SET ticket_no=$2, ticket_state='opened', ticket_error=NULL "
        "WHERE fault_id=$1",
        fault_id,
        ticket_no,
    )


async def ticket_closed(conn: asyncpg.Connection, fault_id: str) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.faults SET ticket_state='closed', ticket_error=NULL WHERE fault_id=$1",
        fault_id,
    )


async def in_maintenance(conn: asyncpg.Connection) -> list[str]:
    """Cameras down and shown in maintenance (inside, or just past, a stop/move window)."""
    rows = await conn.fetch(
        f"SELECT camera_id FROM {SCHEMA}.camera_health WHERE state='down' AND shown='maintenance'"
    )
    return [r["camera_id"] for r in rows]
