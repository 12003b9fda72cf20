"""The database role layout of production, made on the local PostgreSQL for `make run` and
the tests (issue 13): one owner that migrates, one login role per service.

In Kubernetes the same roles are CloudNativePG managed roles (declared in the Cluster, with
their passwords in secrets); nothing here runs there. A migration never creates a role.
"""

from __future__ import annotations

import asyncpg

from cctv.plumbing.db import MIGRATOR_ROLE, SERVICE_ROLES, dsn_with_user


def _role(name: str) -> str:
    return (
        f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN "
        f'CREATE ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS; END IF;'
    )


async def ensure_roles(admin_dsn: str) -> None:
    """Create the roles (as a superuser) and hand schemas made before them to the owner."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        roles = [MIGRATOR_ROLE, *SERVICE_ROLES.values()]
        await conn.execute("DO $$ BEGIN " + " ".join(_role(r) for r in roles) + " END $$")
        db = await conn.fetchval("SELECT current_database()")
        await conn.execute(f'GRANT CONNECT, CREATE ON DATABASE "{db}" TO {MIGRATOR_ROLE}')
        for r in SERVICE_ROLES.values():
            await conn.execute(f'GRANT CONNECT ON DATABASE "{db}" TO "{r}"')
        # A data folder from before the layout: its schemas belong to the superuser.
        for schema in SERVICE_ROLES:
            owner = await conn.fetchval(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", schema
            )
            if owner is None or owner == MIGRATOR_ROLE:
                continue
            await conn.execute(
                f"""
                DO $$ DECLARE r record; BEGIN
                    ALTER SCHEMA {schema} OWNER TO {MIGRATOR_ROLE};
                    FOR r IN SELECT c.relname FROM pg_class c
                             JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p', 'v', 'm')
                    LOOP
                        EXECUTE format('ALTER TABLE {schema}.%I OWNER TO {MIGRATOR_ROLE}',
                                       r.relname);
                    END LOOP;
                    FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p
                             JOIN pg_namespace n ON n.oid = p.pronamespace
                             WHERE n.nspname = '{schema}'
                    LOOP
                        EXECUTE format('ALTER FUNCTION %s OWNER TO {MIGRATOR_ROLE}', r.f);
                    END LOOP;
                END $$
                """
            )
    finally:
        await conn.close()


def service_env(database_url: str, service: str) -> dict[str, str]:
    """A service's database settings under the layout: its own role, migrations as owner."""
    return {
        "DATABASE_URL": dsn_with_user(database_url, SERVICE_ROLES[service]),
        "MIGRATION_DATABASE_URL": dsn_with_user(database_url, MIGRATOR_ROLE),
    }
