"""The database role layout (issue 13): one owner migrates, each service runs as its own role
with only what it needs — so no service, not even audit's owner-less writer, can switch off
the append-only triggers. The test session's PostgreSQL is set up by the same code as
`make run` (cctv/devstack/roles.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from cctv.devstack.roles import service_env
from cctv.plumbing.db import MIGRATOR_ROLE, SERVICE_ROLES, dsn_with_user
from services.audit.settings import AuditSettings
from tests.support.audit import running, settings
from tests.support.waiting import eventually, table_changes


async def test_the_session_database_has_the_production_roles(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolcanlogin "
            "FROM pg_roles WHERE rolname = ANY($1)",
            [MIGRATOR_ROLE, *SERVICE_ROLES.values()],
        )
    finally:
        await conn.close()
    assert {r["rolname"] for r in rows} == {MIGRATOR_ROLE, *SERVICE_ROLES.values()}
    for r in rows:
        assert r["rolcanlogin"] and not (
            r["rolsuper"] or r["rolcreaterole"] or r["rolcreatedb"] or r["rolbypassrls"]
        ), dict(r)
    env = service_env(database_url, "audit")
    assert env["DATABASE_URL"].startswith("postgresql://audit_writer@")
    assert env["MIGRATION_DATABASE_URL"].startswith(f"postgresql://{MIGRATOR_ROLE}@")


@pytest.fixture
async def layout(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[AuditSettings]:
    """An audit schema whose writer role was declared beforehand (as CloudNativePG does),
    migrated by the owner role, run as the writer role."""
    schema = f"audit_r{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f"CREATE ROLE {schema}_writer LOGIN")
    await admin.close()
    cfg = settings(nats_url, dsn_with_user(database_url, f"{schema}_writer"), schema, tmp_path)
    yield cfg.model_copy(
        update={"migration_database_url": dsn_with_user(database_url, MIGRATOR_ROLE)}
    )


async def test_audit_runs_as_its_writer_and_nobody_but_the_owner_may_alter_the_log(
    layout: AuditSettings, database_url: str
) -> None:
    s = layout.audit_schema
    async with running(layout) as audit:
        assert audit.writer is not None and audit.svc.pool is not None
        from cctv.evidence.entry import Witnessed

        await audit.writer.append([Witnessed.event("cctv.access.recorded.x", "r1", b"{}")])
        owner = await audit.svc.pool.fetchval(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", s
        )
        assert owner == MIGRATOR_ROLE
        assert await audit.svc.pool.fetchval("SELECT current_user") == f"{s}_writer"
        # the outbox relay publishes the checkpoint as the writer role
        async with table_changes(database_url, f"{s}.outbox") as changes:
            await audit.writer.checkpoint_if_due(force=True)

            async def published() -> int:
                return int(
                    await audit.svc.pool.fetchval(  # type: ignore[union-attr]
                        f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NOT NULL"
                    )
                )

            await eventually(published, changes=changes, what="checkpoint relayed")
        writer = await asyncpg.connect(layout.database_url)
        try:
            for sql in (
                f"ALTER TABLE {s}.entry DISABLE TRIGGER append_only",
                f"UPDATE {s}.entry SET actor = 'x'",
                f"DELETE FROM {s}.checkpoint",
                f"TRUNCATE {s}.entry",
                "SET session_replication_role = replica",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await writer.execute(sql)
        finally:
            await writer.close()
    migrator = await asyncpg.connect(layout.migration_database_url)
    try:
        # The migration ran without making a role: the owner may not.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await migrator.execute(f"CREATE ROLE {s}_other")
    finally:
        await migrator.close()


async def test_audit_migration_names_an_undeclared_writer_role(
    database_url: str, nats_url: str, tmp_path: Path
) -> None:
    from cctv.plumbing.db import apply_migrations, create_pool
    from services.audit.app import build

    schema = f"audit_u{uuid.uuid4().hex[:8]}"
    pool = await create_pool(dsn_with_user(database_url, MIGRATOR_ROLE))
    try:
        with pytest.raises(asyncpg.RaiseError, match=f"role {schema}_writer does not exist"):
            await apply_migrations(
                pool, schema, Path(build.__code__.co_filename).parent / "migrations"
            )
    finally:
        await pool.close()


async def test_a_service_role_gets_dml_on_its_schema_only(
    database_url: str, tmp_path: Path
) -> None:
    """The plumbing grant every other service gets: DML on its tables, nothing more."""
    from cctv.plumbing.db import apply_migrations, create_pool

    schema = f"svc_{uuid.uuid4().hex[:8]}"
    role = f"{schema}_role"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f"CREATE ROLE {role} LOGIN")
    await admin.close()
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_t.sql").write_text(
        "CREATE TABLE {schema}.t (id int PRIMARY KEY);\n"
        "CREATE FUNCTION {schema}.no() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'no'; END $$;\n"
        "CREATE TRIGGER guard BEFORE DELETE ON {schema}.t "
        "FOR EACH ROW EXECUTE FUNCTION {schema}.no();\n"
    )
    pool = await create_pool(dsn_with_user(database_url, MIGRATOR_ROLE))
    try:
        await apply_migrations(pool, schema, folder, grant_to=role)
    finally:
        await pool.close()
    conn = await asyncpg.connect(dsn_with_user(database_url, role))
    try:
        await conn.execute(f"INSERT INTO {schema}.t VALUES (1)")
        await conn.execute(f"UPDATE {schema}.t SET id = 2")
        await conn.execute(
            f"INSERT INTO {schema}.outbox (id, subject, payload) VALUES ('e', 's', '')"
        )
        for sql in (
            f"ALTER TABLE {schema}.t DISABLE TRIGGER guard",
            f"TRUNCATE {schema}.t",
            f"CREATE TABLE {schema}.u (id int)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_make_run_data_from_before_the_layout_is_handed_to_the_owner() -> None:
    """A `.cctv` folder made before the roles existed: its schemas belong to the superuser;
    the stack hands them (schema, tables, functions) to the owner role, every time safely."""
    import shutil

    from cctv.devstack.embedded import EmbeddedPostgres
    from cctv.devstack.roles import ensure_roles
    from tests.conftest import stack_home

    home = stack_home("roles")
    pg = EmbeddedPostgres(home / "pg").start()
    try:
        su = await asyncpg.connect(pg.url)
        try:
            await su.execute(
                "CREATE SCHEMA notify; CREATE TABLE notify.alert (id int);"
                "CREATE FUNCTION notify.f() RETURNS int LANGUAGE sql AS 'SELECT 1';"
            )
        finally:
            await su.close()
        await ensure_roles(pg.url)
        await ensure_roles(pg.url)  # idempotent: every `make run` does it
        su = await asyncpg.connect(pg.url)
        try:
            owners = await su.fetch(
                "SELECT nspowner::regrole::text AS o FROM pg_namespace WHERE nspname = 'notify' "
                "UNION ALL SELECT relowner::regrole::text FROM pg_class "
                "WHERE relname = 'alert' AND relnamespace = 'notify'::regnamespace "
                "UNION ALL SELECT proowner::regrole::text FROM pg_proc "
                "WHERE proname = 'f' AND pronamespace = 'notify'::regnamespace"
            )
        finally:
            await su.close()
        assert [r["o"] for r in owners] == [MIGRATOR_ROLE] * 3
    finally:
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)
