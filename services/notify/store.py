"""notify's tables: roster, alerts and their deliveries per channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from .roster import RosterEntry

SCHEMA = "notify"


async def roster(conn: asyncpg.Connection | asyncpg.Pool) -> list[RosterEntry]:
    rows = await conn.fetch(f"SELECT * FROM {SCHEMA}.roster ORDER BY account")
    return [
        RosterEntry(
            r["account"],
            r["name"],
            r["role"],
            r["zone"],
            r["shift_start"],
            r["shift_end"],
            r["phone"],
            r["email"],
        )
        for r in rows
    ]


async def seed_roster(pool: asyncpg.Pool, entries: list[RosterEntry]) -> None:
    await pool.executemany(
        f"INSERT INTO {SCHEMA}.roster (account, name, role, zone, shift_start, shift_end, phone, "
        "email) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING",
        [
            (e.account, e.name, e.role, e.zone, e.shift_start, e.shift_end, e.phone, e.email)
            for e in entries
        ],
    )


async def inbox(pool: asyncpg.Pool, account: str, limit: int = 50) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT * FROM {SCHEMA}.alerts WHERE recipient=$1 "
        "ORDER BY (cleared_at IS NOT NULL), (status='acknowledged'), raised_at DESC LIMIT $2",
        account,
        limit,
    )
    return [dict(r) for r in rows]


async def acknowledge(
    conn: asyncpg.Connection, alert_id: str, account: str, at: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"UPDATE {SCHEMA}.alerts SET status='acknowledged', acknowledged_at=$3 "
        "WHERE alert_id=$1 AND recipient=$2 AND status<>'acknowledged' RETURNING *",
        alert_id,
        account,
        at,
    )


async def open_unacknowledged(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Per fault still open and acknowledged by nobody: its level and when it last went up."""
    return await conn.fetch(
        f"SELECT fault_id, max(level) AS level, max(raised_at) AS last_raised, "
        "min(severity) AS severity, min(zone) AS zone, min(camera_id) AS camera_id, "
        "(array_agg(title ORDER BY raised_at))[1] AS title, "
        "(array_agg(body ORDER BY raised_at))[1] AS body, array_agg(recipient) AS told "
        f"FROM {SCHEMA}.alerts WHERE cleared_at IS NULL AND fault_id NOT LIKE 'notice:%' "
        "GROUP BY fault_id HAVING NOT bool_or(status = 'acknowledged')"
    )
