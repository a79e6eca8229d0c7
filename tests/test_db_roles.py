"""The app does not run as a superuser (issue 11, item 6).

The migrations run as the schema's owner; ``grant_app_role`` then gives the application role what the product
uses and nothing more. Connected as that role, nobody can switch off the audit log's append-only triggers, set
``session_replication_role``, or update, delete or truncate the audit log; the normal work (writing users,
tokens and their audit events) goes through. Roles are global to the server and shared by concurrent test runs:
the test role is created idempotently and never dropped; its privileges live in the throwaway database.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from regula.db import migrate
from regula.db.embedded import APP_ROLE, OWNER_ROLE, EmbeddedPostgres
from regula.db.engine import make_database
from regula.db.roles import grant_app_role
from tests.conftest import throwaway_database

TEST_ROLE = "regula_test_app"
TEST_PASSWORD = "regula-test-app"  # a throwaway role on the test server

# Executed as the app role, each must be refused for lack of privilege (SQLSTATE 42501), before any trigger runs.
ATTACKS = [
    "ALTER TABLE audit_event DISABLE TRIGGER ALL",
    "ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only",
    "ALTER TABLE waitlist_entry_event DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_event_append_only ON audit_event",
    "SET session_replication_role = replica",
    "SET LOCAL session_replication_role = replica",
    "UPDATE audit_event SET action = 'read' WHERE id = (SELECT min(id) FROM audit_event)",
    "DELETE FROM audit_event",
    "TRUNCATE audit_event",
    "UPDATE waitlist_entry_event SET kind = kind",
    "DELETE FROM app_user",
    "UPDATE alembic_version SET version_num = version_num",
    "ALTER TABLE app_user ADD COLUMN sneaky text",
    "CREATE TRIGGER quiet BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION regula_refuse_change()",
]


@dataclass(frozen=True)
class Urls:
    owner: str
    app: str


async def _execute(url: str, *statements: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _scalar(url: str, statement: str) -> object:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(statement))).scalar()
    finally:
        await engine.dispose()


async def _refusal(url: str, statement: str) -> DBAPIError:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as refused:
                async with conn.begin():
                    await conn.execute(text(statement))
            return refused.value
    finally:
        await engine.dispose()


def _ensure_role_sql(role: str, password: str) -> str:
    # Concurrent runs race on CREATE ROLE: the loser gets duplicate_object or unique_violation and carries on.
    return (
        "DO $$ BEGIN "
        f"CREATE ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )


@pytest.fixture(scope="module")
def urls(database_url: str) -> Iterator[Urls]:
    with throwaway_database(database_url, "regula_roles") as owner:
        asyncio.run(_execute(owner, _ensure_role_sql(TEST_ROLE, TEST_PASSWORD)))
        assert asyncio.run(grant_app_role(owner, TEST_ROLE))
        app = make_url(owner).set(username=TEST_ROLE, password=TEST_PASSWORD).render_as_string(hide_password=False)
        yield Urls(owner=owner, app=app)


@pytest.mark.parametrize("statement", ATTACKS)
async def test_the_app_role_cannot_tamper_with_the_audit_log(urls: Urls, statement: str) -> None:
    refused = await _refusal(urls.app, statement)
    assert getattr(refused.orig, "sqlstate", None) == "42501", refused
    # Refused for lack of privilege, not by the append-only trigger (which would mean the privilege was there).
    assert "append-only" not in str(refused.orig)


async def test_the_app_role_is_neither_superuser_nor_owner(urls: Urls) -> None:
    row = await _scalar(
        urls.app,
        "SELECT row(r.rolsuper, pg_has_role(current_user, c.relowner, 'USAGE')) FROM pg_roles r, pg_class c "
        "WHERE r.rolname = current_user AND c.oid = 'audit_event'::regclass",
    )
    assert row == (False, False)


async def test_the_app_role_does_the_normal_work_and_its_audit_events_are_written(urls: Urls) -> None:
    from regula.access import service
    from regula.audit.service import AuditContext, install, set_context

    install()  # the audit listener (the app installs it; this test calls the services directly)
    db = make_database(urls.app, pool_size=1, application_name="regula-test")
    try:
        async with db.transaction() as session:
            set_context(session, AuditContext.system("cli", "test_db_roles"))
            user = await service.create_user(
                session,
                username="roles.probe",
                full_name="Roles Probe",
                role="auditor",
                jurisdiction="uf:SC",
                password="uma-senha-muito-boa",
            )
            token, _ = await service.create_token(session, "roles.probe")
        async with db.transaction() as session:
            set_context(session, AuditContext.system("cli", "test_db_roles"))
            assert token.id is not None
            await service.revoke_token(session, token.id)  # an UPDATE
        async with db.transaction() as session:
            events = (
                await session.execute(
                    text("SELECT action, entity_type FROM audit_event WHERE entity_id IN (:u, :t) ORDER BY id"),
                    {"u": str(user.id), "t": str(token.id)},
                )
            ).all()
        assert [tuple(e) for e in events] == [("create", "User"), ("create", "ApiToken"), ("update", "ApiToken")]
        assert await migrate.is_at_head(db.engine)  # commands check the schema as the app role
    finally:
        await db.dispose()


async def test_tables_of_later_migrations_are_granted_by_default_privileges(urls: Urls) -> None:
    await _execute(urls.owner, "CREATE TABLE roles_probe_later (id int)")
    await _execute(urls.app, "INSERT INTO roles_probe_later VALUES (1)", "UPDATE roles_probe_later SET id = 2")
    assert await _scalar(urls.app, "SELECT id FROM roles_probe_later") == 2
    refused = await _refusal(urls.app, "DELETE FROM roles_probe_later")
    assert getattr(refused.orig, "sqlstate", None) == "42501"


async def test_granting_again_takes_back_privileges_given_by_hand(urls: Urls) -> None:
    await _execute(urls.owner, f"GRANT DELETE, TRUNCATE, TRIGGER ON app_user, audit_event TO {TEST_ROLE}")
    await _execute(urls.owner, f"GRANT UPDATE ON audit_event TO {TEST_ROLE}")
    assert await grant_app_role(urls.owner, TEST_ROLE)
    for statement in ("DELETE FROM app_user", "UPDATE audit_event SET action = action", "TRUNCATE audit_event"):
        refused = await _refusal(urls.app, statement)
        assert getattr(refused.orig, "sqlstate", None) == "42501", statement


async def test_a_missing_role_is_skipped_with_a_warning(urls: Urls, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="regula.db.roles"):
        assert not await grant_app_role(urls.owner, "regula_no_such_role")
    assert "not found" in caplog.text
    owner = str(await _scalar(urls.owner, "SELECT current_user"))
    assert not await grant_app_role(urls.owner, owner)  # the owner itself: granting would protect nothing


async def test_every_connection_names_its_process(urls: Urls) -> None:
    db = make_database(urls.app, pool_size=1, application_name="regula-serve")
    try:
        async with db.transaction() as session:
            row = (
                await session.execute(
                    text("SELECT application_name, usename FROM pg_stat_activity WHERE pid = pg_backend_pid()")
                )
            ).one()
        assert tuple(row) == ("regula-serve", TEST_ROLE)
    finally:
        await db.dispose()


def test_the_embedded_server_creates_the_owner_and_the_app_role() -> None:
    # Short path: the server's Unix socket lives in the data directory.
    with tempfile.TemporaryDirectory(prefix="rgE", dir="/tmp") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata")
        admin = server.start()
        try:
            # An install from before the two roles: its tables belong to postgres and must pass to the owner.
            asyncio.run(_execute(admin, "CREATE TABLE legacy_probe (id int)"))
            server.start()  # a second regula process attaching: idempotent
            migrate.upgrade(server.owner_url)
            assert asyncio.run(grant_app_role(server.owner_url, APP_ROLE))

            roles = asyncio.run(
                _scalar(
                    admin,
                    "SELECT string_agg(rolname || ':' || rolsuper || ':' || rolcanlogin, ',' ORDER BY rolname) "
                    f"FROM pg_roles WHERE rolname IN ('{OWNER_ROLE}', '{APP_ROLE}')",
                )
            )
            assert roles == f"{APP_ROLE}:false:true,{OWNER_ROLE}:false:true"
            owners = asyncio.run(
                _scalar(
                    admin,
                    "SELECT string_agg(DISTINCT tableowner, ',') || '/' || pg_get_userbyid(d.datdba) FROM pg_tables, "
                    "pg_database d WHERE schemaname = 'public' AND d.datname = 'regula' GROUP BY d.datdba",
                )
            )
            assert owners == f"{OWNER_ROLE}/{OWNER_ROLE}"
            for statement in ("ALTER TABLE audit_event DISABLE TRIGGER ALL", "SET session_replication_role = replica"):
                refused = asyncio.run(_refusal(server.app_url, statement))
                assert getattr(refused.orig, "sqlstate", None) == "42501", statement
            assert asyncio.run(_scalar(server.app_url, "SELECT count(*) FROM legacy_probe")) == 0
            # The demo's bulk load runs as the owner, which may skip per-row foreign-key checks.
            may = asyncio.run(
                _scalar(server.owner_url, "SELECT has_parameter_privilege('session_replication_role', 'SET')")
            )
            assert may is True
        finally:
            server.stop()
