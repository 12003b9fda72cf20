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
        RosterEntry(r["account"], r["name"], r["role"], r["zone"], r["shift_start"], r["shift_end"])
        for r in rows
    ]


async def put_on_roster(pool: asyncpg.Pool, e: RosterEntry) -> None:
    await pool.execute(
        f"INSERT INTO {SCHEMA}.roster VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (account) DO UPDATE "
        "SET name=$2, role=$3, zone=$4, shift_start=$5, shift_end=$6",
        e.account, e.name, e.role, e.zone, e.shift_start, e.shift_end,
    )  # fmt: skip


async def remove_from_roster(pool: asyncpg.Pool, account: str) -> None:
    await pool.execute(f"DELETE FROM {SCHEMA}.roster WHERE account=$1", account)


async def seed_roster(pool: asyncpg.Pool, entries: list[RosterEntry]) -> None:
    await pool.executemany(
        f"INSERT INTO {SCHEMA}.roster VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING",
        [(e.account, e.name, e.role, e.zone, e.shift_start, e.shift_end) for e in entries],
    )


async def inbox(pool: asyncpg.Pool, account: str, limit: int = 50) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT * FROM {SCHEMA}.alerts WHERE recipient=$1 "
        "ORDER BY (status='acknowledged'), raised_at DESC LIMIT $2",
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
