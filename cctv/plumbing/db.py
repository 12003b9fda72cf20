"""PostgreSQL: one pool per service, one schema per service, versioned SQL migrations.

Migrations are plain `NNN_name.sql` files in the service's `migrations/` folder, applied in
order under an advisory lock so that replicas starting together do not race.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

PLUMBING_SQL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {schema}.outbox (
    seq bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    subject text NOT NULL,
    payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON {schema}.outbox (seq)
    WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS {schema}.inbox (
    event_id text PRIMARY KEY,
    consumer text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
"""


# --- database roles (issue 13): one owner, one role per service ------------------------------

MIGRATOR_ROLE = "cctv_migrator"
"""Owns every service schema and runs migrations; no service runs as it. Only an owner (or a
superuser) can ALTER a table or DISABLE its triggers, so no service can switch off audit's
append-only triggers."""

SERVICE_ROLES = {
    "ingest": "cctv_ingest",
    "health": "cctv_health",
    "notify": "cctv_notify",
    "workflow": "cctv_workflow",
    "console": "cctv_console",
    "audit": "audit_writer",
    "media": "cctv_media",
}
"""The login role each service runs as: DML on its own schema only (audit: INSERT and SELECT
on the log). In Kubernetes these are CloudNativePG managed roles, declared, never created
by a migration."""


def dsn_user(dsn: str) -> str | None:
    """The user a PostgreSQL URL logs in as, if it names one."""
    return urlsplit(dsn).username or None


def dsn_with_user(dsn: str, user: str, password: str = "") -> str:
    """The same URL logging in as ``user`` (host, database and query kept)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    auth = f"{user}:{password}@" if password else f"{user}@"
    return urlunsplit(parts._replace(netloc=auth + host))


def grants_sql(schema: str, role: str, *, tables: bool = True) -> str:
    """What a service role may do in its schema: the plumbing tables it needs (outbox, inbox,
    reading which migrations ran) and, unless its migrations grant their own tables (audit),
    SELECT/INSERT/UPDATE/DELETE on its tables. Never TRUNCATE, TRIGGER or ownership."""
    sql = [
        f'GRANT USAGE ON SCHEMA {schema} TO "{role}"',
        f'GRANT SELECT ON {schema}.schema_migrations TO "{role}"',
        f'GRANT SELECT, INSERT, UPDATE ON {schema}.outbox TO "{role}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO "{role}"',
    ]
    if tables:
        sql += [
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO "{role}"',
        ]
    return ";\n".join(sql) + ";\n"


async def _init_conn(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ,
            encoder=lambda v: json.dumps(v, ensure_ascii=False),
            decoder=json.loads,
            schema="pg_catalog",
        )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_conn)
    assert pool is not None
    return pool


def migration_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.sql") if p.name[:3].isdigit())


async def apply_migrations(
    pool: asyncpg.Pool,
    schema: str,
    folder: Path | None,
    *,
    grant_to: str | None = None,
    grant_tables: bool = True,
) -> list[str]:
    """Apply the plumbing tables and then each pending migration; return what was applied.

    ``grant_to``: the service's own login role, given what it needs (see grants_sql) when the
    migrations run as another role (the owner)."""
    if not schema.isidentifier():
        raise ValueError(f"schema name {schema!r} is not an identifier")
    applied: list[str] = []
    lock = zlib.crc32(f"cctv-migrate-{schema}".encode())
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", lock)
        try:
            sql = PLUMBING_SQL.format(schema=schema)
            if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
                # CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database: a role that
                # only owns its schema (CloudNativePG's Database.schemas) has none
                sql = sql.replace(f"CREATE SCHEMA IF NOT EXISTS {schema};", "", 1)
            await conn.execute(sql)
            done = {
                r["version"]
                for r in await conn.fetch(f"SELECT version FROM {schema}.schema_migrations")
            }
            for path in migration_files(folder) if folder else []:
                if path.stem in done:
                    continue
                sql = path.read_text(encoding="utf-8").replace("{schema}", schema)
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        f"INSERT INTO {schema}.schema_migrations (version) VALUES ($1)", path.stem
                    )
                applied.append(path.stem)
            if grant_to:
                await conn.execute(grants_sql(schema, grant_to, tables=grant_tables))
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock)
    return applied


async def pending_migrations(pool: asyncpg.Pool, schema: str, folder: Path | None) -> list[str]:
    wanted = [p.stem for p in migration_files(folder)] if folder else []
    try:
        rows = await pool.fetch(f"SELECT version FROM {schema}.schema_migrations")
    except asyncpg.UndefinedTableError:
        return wanted or ["plumbing"]
    done = {r["version"] for r in rows}
    return [v for v in wanted if v not in done]


Record = dict[str, Any]
