"""MIGRATE=only / MIGRATE=check (ADR 0014): a pod's init container migrates as the schema
owner and exits; the service container, without the owner's password, never migrates and
says on /readyz what is still pending."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg

from cctv.plumbing.db import MIGRATOR_ROLE, dsn_with_user
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings

ROLE = "cctv_media"  # any service role of the layout (tests/conftest makes them all)


def write(folder: Path, name: str, sql: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(sql)


async def tables(database_url: str, schema: str) -> dict[str, str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = $1", schema
        )
        return {r["tablename"]: r["tableowner"] for r in rows}
    finally:
        await conn.close()


def test_migrate_only_migrates_as_the_owner_grants_the_role_and_exits(
    database_url: str, tmp_path: Path
) -> None:
    schema = f"s_mig{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "migrations"
    write(folder, "001_t.sql", "CREATE TABLE {schema}.t (id int PRIMARY KEY);")
    settings = ServiceSettings(
        nats_url="nats://127.0.0.1:9",  # nothing listens: MIGRATE=only never needs NATS
        database_url=dsn_with_user(database_url, ROLE),
        migration_database_url=dsn_with_user(database_url, MIGRATOR_ROLE),
        migrate="only",
        http_port=9,  # nor serves HTTP
    )
    Service("migonly", settings, migrations=folder, schema=schema).run()  # returns

    owned = asyncio.run(tables(database_url, schema))
    assert owned["t"] == MIGRATOR_ROLE and owned["schema_migrations"] == MIGRATOR_ROLE

    async def role_may_write() -> bool:
        conn = await asyncpg.connect(dsn_with_user(database_url, ROLE))
        try:
            await conn.execute(f"INSERT INTO {schema}.t VALUES (1)")
            return await conn.fetchval(f"SELECT count(*) FROM {schema}.t") == 1
        finally:
            await conn.close()

    assert asyncio.run(role_may_write())


async def test_migrate_check_never_migrates_and_readyz_names_what_is_pending(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    schema = f"s_mig{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "migrations"
    write(folder, "001_t.sql", "CREATE TABLE {schema}.t (id int PRIMARY KEY);")
    owner = dsn_with_user(database_url, MIGRATOR_ROLE)
    init = ServiceSettings(
        nats_url=nats_url, database_url=dsn_with_user(database_url, ROLE),
        migration_database_url=owner, migrate="only",
    )  # fmt: skip
    await Service("migchk", init, migrations=folder, schema=schema).migrate_only()
    # a new release brings a migration, but this pod's init container has not run it
    write(folder, "002_u.sql", "CREATE TABLE {schema}.u (id int PRIMARY KEY);")
    settings = ServiceSettings(
        nats_url=nats_url, database_url=dsn_with_user(database_url, ROLE), migrate="check"
    )
    svc = Service("migchk", settings, migrations=folder, schema=schema)
    async with svc.running():
        problems = await svc.readiness_problems()
        assert "migrations pending: ['002_u']" in problems
    assert "u" not in await tables(database_url, schema)
    # with MIGRATE=start (the default: make run, tests) the service migrates at start itself
    settings = settings.model_copy(update={"migrate": "start", "migration_database_url": owner})
    svc = Service("migchk", settings, migrations=folder, schema=schema)
    async with svc.running():
        assert await svc.readiness_problems() == []
    assert (await tables(database_url, schema))["u"] == MIGRATOR_ROLE
