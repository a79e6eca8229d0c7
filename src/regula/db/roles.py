"""Database roles: the schema's owner runs the migrations; the application connects as a role that owns nothing.

Why: the audit log and the entries' histories are append-only by triggers (migrations 0001, 0004 and 0006). A
superuser or the tables' owner can switch those triggers off (``ALTER TABLE … DISABLE TRIGGER``, ``SET
session_replication_role = replica``) and rewrite history; a role that is neither cannot, so neither can a
compromised web process, scheduler or dispatcher.

``grant_app_role`` runs as the owner after every ``migrate.upgrade`` and gives the application role exactly what
the product uses:

- SELECT, INSERT and UPDATE on every table, but no UPDATE on the append-only ones (the triggers refuse it anyway)
  and only SELECT on ``alembic_version`` (commands check the schema is at head; only migrations move it);
- no DELETE and no TRUNCATE anywhere: nothing in regula is hard-deleted (``audit.service`` refuses ORM deletes and
  no statement deletes; the importer's staging tables are temporary tables of the app's own);
- USAGE and SELECT on sequences (identity columns), CONNECT and TEMPORARY on the database;
- default privileges, so tables a later migration creates are readable and writable before the next grant runs.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# The trigger function every append-only table attaches (migrations/versions/0001_base.py).
APPEND_ONLY_FUNCTION = "regula_refuse_change"


def server_settings(application_name: str) -> dict[str, dict[str, str]]:
    """asyncpg ``connect_args`` naming the process in ``pg_stat_activity`` (regula-serve, regula-scheduler…)."""
    return {"server_settings": {"application_name": application_name}}


async def grant_app_role(owner_url: str, role: str) -> bool:
    """Grant ``role`` the application's privileges on the schema of ``owner_url``. False (with a warning) when
    the role does not exist or granting would mean nothing (a superuser, or the owner itself)."""
    engine = create_async_engine(owner_url, poolclass=NullPool, connect_args=server_settings("regula-migrate"))
    try:
        async with engine.begin() as conn:
            return await _grant(conn, role)
    finally:
        await engine.dispose()


async def _grant(conn: AsyncConnection, role: str) -> bool:
    # Two regula processes starting at once on the embedded server both upgrade and grant; concurrent GRANTs on
    # one table fail with "tuple concurrently updated", so they take turns.
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('regula.grant_app_role'))"))
    found = (
        await conn.execute(
            text(
                "SELECT rolsuper, rolname = current_user AS is_owner, pg_has_role(rolname, current_user, 'USAGE') "
                "AS inherits_owner FROM pg_roles WHERE rolname = :role"
            ),
            {"role": role},
        )
    ).first()
    if found is None:
        log.warning(
            "database role for the app not found: privileges not granted (create it, then run `regula db upgrade`)",
            extra={"role": role},
        )
        return False
    if found.rolsuper or found.is_owner:
        log.warning(
            "the app's database role is a superuser or the schema owner: it can disable the audit triggers",
            extra={"role": role},
        )
        return False
    if found.inherits_owner:
        log.warning("the app's database role inherits the owner's privileges", extra={"role": role})
    quote = conn.dialect.identifier_preparer.quote_identifier
    names = (await conn.execute(text("SELECT current_database(), current_schema()"))).one()
    r, db, schema = quote(role), quote(names[0]), quote(names[1])
    append_only = (
        await conn.execute(
            text(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE n.nspname = current_schema() AND p.proname = :fn AND NOT t.tgisinternal ORDER BY 1"
            ),
            {"fn": APPEND_ONLY_FUNCTION},
        )
    ).scalars()
    has_version_table = (await conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL"))).scalar_one()
    statements = [
        f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {r}",
        f"GRANT USAGE ON SCHEMA {schema} TO {r}",
        # From scratch each time, in this one transaction: a privilege granted by hand or by an older version
        # (DELETE, TRUNCATE, TRIGGER…) does not survive an upgrade.
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {r}",
        f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA {schema} TO {r}",
        *(f"REVOKE UPDATE ON TABLE {schema}.{quote(t)} FROM {r}" for t in append_only),
        *([f"REVOKE INSERT, UPDATE ON TABLE {schema}.alembic_version FROM {r}"] if has_version_table else []),
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
    ]
    for statement in statements:
        await conn.execute(text(statement))
    log.info("database privileges granted to the app role", extra={"role": role})
    return True
