"""notify's tables: roster, alerts and their deliveries per channel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

import asyncpg

from .roster import RosterEntry
from .shifts import OVERDUE_PREFIX, Takeover

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


async def put_on_roster(pool: asyncpg.Pool, e: RosterEntry) -> None:
    await pool.execute(
        f"INSERT INTO {SCHEMA}.roster (account, name, role, zone, shift_start, shift_end, phone, "
        "email) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (account) DO UPDATE "
        "SET name=$2, role=$3, zone=$4, shift_start=$5, shift_end=$6, phone=$7, email=$8",
        e.account,
        e.name,
        e.role,
        e.zone,
        e.shift_start,
        e.shift_end,
        e.phone,
        e.email,
    )


async def remove_from_roster(pool: asyncpg.Pool, account: str) -> None:
    await pool.execute(f"DELETE FROM {SCHEMA}.roster WHERE account=$1", account)


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
        "ORDER BY (cleared_at IS NOT NULL), (status IN ('acknowledged', 'handed_over')), "
        "raised_at DESC LIMIT $2",
        account,
        limit,
    )
    return [dict(r) for r in rows]


async def acknowledge(
    conn: asyncpg.Connection, alert_id: str, account: str, at: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"UPDATE {SCHEMA}.alerts SET status='acknowledged', acknowledged_at=$3 "
        "WHERE alert_id=$1 AND recipient=$2 AND status IN ('raised', 'delivered') RETURNING *",
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
        "GROUP BY fault_id HAVING CASE WHEN fault_id LIKE 'directive:%' "
        # a directive waits for every first recipient (or someone it was escalated to);
        # a fault for anyone at all
        "THEN NOT (bool_and(status IN ('acknowledged', 'handed_over') OR level > 0) "
        "OR bool_or(status = 'acknowledged' AND level > 0)) "
        "ELSE NOT bool_or(status = 'acknowledged') END"
    )


async def last_sent(conn: asyncpg.Connection, channel: str, recipient: str) -> datetime | None:
    return await conn.fetchval(
        f"SELECT max(d.sent_at) FROM {SCHEMA}.deliveries d JOIN {SCHEMA}.alerts a "
        "USING (alert_id) WHERE d.channel=$1 AND a.recipient=$2 AND d.status='sent'",
        channel,
        recipient,
    )


async def hold(conn: asyncpg.Connection, delivery_ids: list[int], until: datetime) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.deliveries SET next_at=$2 WHERE delivery_id = ANY($1::bigint[])",
        delivery_ids,
        until,
    )


async def mark(conn: asyncpg.Connection, delivery_ids: list[int], status: str) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.deliveries SET status=$2, attempts=attempts+1, "
        "sent_at=CASE WHEN $2='sent' THEN now() END WHERE delivery_id = ANY($1::bigint[])",
        delivery_ids,
        status,
    )


async def failed(
    conn: asyncpg.Connection, delivery_ids: list[int], error: str, retry_in: timedelta
) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.deliveries SET attempts=attempts+1, last_error=$2, next_at=now()+$3 "
        "WHERE delivery_id = ANY($1::bigint[])",
        delivery_ids,
        error,
        retry_in,
    )


async def directives(pool: asyncpg.Pool, limit: int) -> list[asyncpg.Record]:
    return await pool.fetch(
        f"SELECT a.* FROM {SCHEMA}.alerts a WHERE a.fault_id IN ("
        f"SELECT fault_id FROM {SCHEMA}.alerts WHERE fault_id LIKE 'directive:%' "
        "GROUP BY fault_id ORDER BY min(raised_at) DESC LIMIT $1) "
        "ORDER BY a.raised_at DESC, a.level, a.recipient",
        limit,
    )


async def due_deliveries(conn: asyncpg.Connection, group_wait: timedelta) -> list[asyncpg.Record]:
    """What is due now — and, for a person and channel with something due, what is waiting only
    on its group wait, so that a storm queued over a second or two goes out together."""
    return await conn.fetch(
        f"WITH due AS (SELECT DISTINCT d.channel, a.recipient FROM {SCHEMA}.deliveries d "
        f"JOIN {SCHEMA}.alerts a USING (alert_id) WHERE d.status='pending' AND d.next_at <= now()) "
        "SELECT d.delivery_id, d.alert_id, d.kind, d.channel, d.attempts, d.queued_at, "
        "coalesce(d.title, a.title) AS title, coalesce(d.body, a.body) AS body, "
        "a.recipient, a.camera_id, a.severity, r.phone, r.email "
        f"FROM {SCHEMA}.deliveries d JOIN {SCHEMA}.alerts a USING (alert_id) "
        f"LEFT JOIN {SCHEMA}.roster r ON r.account = a.recipient "
        "WHERE d.status='pending' AND (d.next_at <= now() OR (d.attempts = 0 "
        "AND d.next_at <= now() + $1 AND (d.channel, a.recipient) IN (SELECT * FROM due))) "
        "ORDER BY d.delivery_id LIMIT 200 FOR UPDATE OF d SKIP LOCKED",
        group_wait,
    )


class NewAlert(NamedTuple):
    """An alert for one person; a fault is told to a person once (unique fault, recipient)."""

    alert_id: str
    fault_id: str
    camera_id: str | None
    zone: str
    severity: str
    recipient: str
    title: str
    body: str


async def insert_alert(
    conn: asyncpg.Connection, a: NewAlert, level: int = 0, at: datetime | None = None
) -> bool:
    """False when this person already has an alert for this fault (never told twice)."""
    inserted = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.alerts (alert_id, fault_id, camera_id, zone, severity, "
        "recipient, title, body, status, level, raised_at) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'raised',$9,coalesce($10, now())) "
        "ON CONFLICT (fault_id, recipient) DO NOTHING RETURNING alert_id",
        *a,
        level,
        at,
    )
    return inserted is not None


async def clear_fault(conn: asyncpg.Connection, fault_id: str) -> list[asyncpg.Record]:
    """The fault resolved: its alerts stop asking to be acknowledged."""
    return await conn.fetch(
        f"UPDATE {SCHEMA}.alerts SET cleared_at=now() WHERE fault_id=$1 AND cleared_at IS NULL "
        "RETURNING alert_id, recipient",
        fault_id,
    )


async def queue_deliveries(
    conn: asyncpg.Connection,
    rows: list[tuple[str, str, str, str | None, str | None, datetime]],
) -> None:
    """(alert_id, kind, channel, title, body, next_at) per channel."""
    await conn.executemany(
        f"INSERT INTO {SCHEMA}.deliveries (alert_id, kind, channel, title, body, next_at) "
        "VALUES ($1,$2,$3,$4,$5,$6)",
        rows,
    )


async def delivered(conn: asyncpg.Connection, alert_id: str) -> None:
    """First delivery on any channel; an acknowledged alert stays acknowledged."""
    await conn.execute(
        f"UPDATE {SCHEMA}.alerts SET status='delivered', delivered_at=now() "
        "WHERE alert_id=$1 AND status='raised'",
        alert_id,
    )


async def lock_fault_level(conn: asyncpg.Connection, fault_id: str) -> int | None:
    """Take the fault's escalation lock (one replica at a time) and read its level under it."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", fault_id)
    level: int | None = await conn.fetchval(
        f"SELECT max(level) FROM {SCHEMA}.alerts WHERE fault_id=$1", fault_id
    )
    return level


# ---- shifts and the Art. 14 handover ----


async def save_takeover(conn: asyncpg.Connection, t: Takeover, items: list[dict[str, Any]]) -> bool:
    """False when this handover was already taken into account (a redelivery)."""
    inserted = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.takeovers (handover_id, outgoing, incoming, confirmed_at, items) "
        "VALUES ($1,$2,$3,$4,$5) ON CONFLICT (handover_id) DO NOTHING RETURNING handover_id",
        t.handover_id,
        t.outgoing,
        t.incoming,
        t.at,
        items,
    )
    return inserted is not None


async def takeovers(conn: asyncpg.Connection | asyncpg.Pool, since: datetime) -> list[Takeover]:
    rows = await conn.fetch(
        f"SELECT * FROM {SCHEMA}.takeovers WHERE confirmed_at >= $1 ORDER BY confirmed_at",
        since,
    )
    return [
        Takeover(r["handover_id"], r["outgoing"], r["incoming"], r["confirmed_at"]) for r in rows
    ]


async def open_alerts(
    conn: asyncpg.Connection, recipient: str | None = None
) -> list[asyncpg.Record]:
    """Alerts and directives still asking someone to acknowledge them (of one person, locked
    for passing on; or of everyone, skipping those busy elsewhere: the next round has them).
    A fault someone acknowledged is in hand (a directive waits for each recipient); workflow
    notices and handover-overdue alerts are not passed on."""
    lock = "FOR UPDATE OF a" if recipient is not None else "FOR UPDATE OF a SKIP LOCKED"
    return await conn.fetch(
        f"SELECT a.* FROM {SCHEMA}.alerts a WHERE a.cleared_at IS NULL "
        "AND a.status IN ('raised', 'delivered') AND ($1::text IS NULL OR a.recipient = $1) "
        f"AND a.fault_id NOT LIKE 'notice:%' AND a.fault_id NOT LIKE '{OVERDUE_PREFIX}%' "
        "AND (a.fault_id LIKE 'directive:%' OR NOT EXISTS (SELECT 1 FROM "
        f"{SCHEMA}.alerts b WHERE b.fault_id = a.fault_id AND b.status = 'acknowledged')) "
        f"ORDER BY a.raised_at {lock}",
        recipient,
    )


async def handed_over(
    conn: asyncpg.Connection, alert_id: str, to: list[str], handover_id: str | None
) -> bool:
    """The alert passed to `to`; False when it was acknowledged or passed meanwhile."""
    done = await conn.fetchval(
        f"UPDATE {SCHEMA}.alerts SET status='handed_over', handed_to=$2, handed_over_at=now(), "
        "handover_id=$3 WHERE alert_id=$1 AND status IN ('raised', 'delivered') "
        "RETURNING alert_id",
        alert_id,
        to,
        handover_id,
    )
    return done is not None


async def clear_overdue(conn: asyncpg.Connection, outgoing: str) -> list[asyncpg.Record]:
    """The handover came: the 'handover overdue' alerts about `outgoing` stop asking."""
    return await conn.fetch(
        f"UPDATE {SCHEMA}.alerts SET cleared_at=now() WHERE fault_id LIKE $1 "
        "AND cleared_at IS NULL RETURNING alert_id, recipient, fault_id",
        f"{OVERDUE_PREFIX}{outgoing}:%",
    )
