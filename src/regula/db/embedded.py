"""Embedded PostgreSQL (the ``pgserver`` package) for a bare machine.

The server lives in ``$REGULA_HOME/pgdata``, is reused across runs (pgserver attaches to a running one), and is
stopped cleanly when the last regula process using it exits; the data stays on disk.

Two roles, as in production (``regula.db.roles``): ``regula_owner`` owns database ``regula`` and everything in it
and runs the migrations; ``regula_app`` is what the app, the scheduler and the CLI connect as. Both log in
without a password: the server listens only on a Unix socket inside the data directory.

Its memory and WAL settings are sized to the machine (:mod:`regula.db.server_settings`): written on every start to
``regula-sized.conf`` in the data directory, which ``postgresql.conf`` includes. Whatever an operator sets with
``ALTER SYSTEM`` still wins (``postgresql.auto.conf`` is read after it). A setting that needs a restart
(``shared_buffers``) takes effect at once when this process is the server's only user (it restarts it, as on the
first start of a new data directory), otherwise at the server's next start.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from regula.db import server_settings

log = logging.getLogger(__name__)

# A Unix socket path must fit in 107 bytes; pgserver puts the socket in the data directory.
_MAX_SOCKET_DIR = 90

SIZED_CONF = "regula-sized.conf"
_INCLUDE = f"include_if_exists = '{SIZED_CONF}'"

OWNER_ROLE = "regula_owner"
APP_ROLE = "regula_app"

# Run by psql as the bootstrap superuser on every start; idempotent, and safe when two regula processes start
# at once (CREATE ROLE then races on the catalog's unique index: the loser finds the role made).
_SETUP_SQL = f"""
\\set ON_ERROR_STOP on
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
        BEGIN
            CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        BEGIN
            CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
END
$$;
SELECT 'CREATE DATABASE regula OWNER {OWNER_ROLE}'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'regula')\\gexec
ALTER DATABASE regula OWNER TO {OWNER_ROLE};
-- Lets `regula demo` bulk-load its data without per-row foreign-key checks (regula.demo.loading); the owner could
-- disable those triggers anyway. The app role never gets it. Only when missing: a GRANT rewrites the catalog row
-- even when nothing changes, and two processes starting at once would collide on it.
DO $$
BEGIN
    IF NOT has_parameter_privilege('{OWNER_ROLE}', 'session_replication_role', 'SET') THEN
        GRANT SET ON PARAMETER session_replication_role TO {OWNER_ROLE};
    END IF;
END
$$;
\\connect regula
-- Installs made before the two roles have everything owned by postgres: hand it to the owner (tables carry
-- their indexes and identity sequences along).
DO $$
DECLARE
    obj record;
BEGIN
    FOR obj IN
        SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
          AND c.relowner <> '{OWNER_ROLE}'::regrole
    LOOP
        EXECUTE format(
            CASE obj.relkind WHEN 'v' THEN 'ALTER VIEW %s OWNER TO {OWNER_ROLE}'
                             WHEN 'm' THEN 'ALTER MATERIALIZED VIEW %s OWNER TO {OWNER_ROLE}'
                             ELSE 'ALTER TABLE %s OWNER TO {OWNER_ROLE}' END,
            obj.name);
    END LOOP;
    FOR obj IN
        SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relowner <> '{OWNER_ROLE}'::regrole
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO {OWNER_ROLE}', obj.name);
    END LOOP;
    FOR obj IN
        SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proowner <> '{OWNER_ROLE}'::regrole
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO {OWNER_ROLE}', obj.name);
    END LOOP;
END
$$;
"""  # noqa: S608 - built from the constants above only


class EmbeddedPostgres:
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server, make sure database ``regula`` and its two roles exist, and return the
        superuser's URL for database ``regula`` (the tests create their databases through it); regula itself
        connects with ``owner_url`` and ``app_url``."""
        if len(str(self.pgdata)) > _MAX_SOCKET_DIR:
            raise RuntimeError(
                f"REGULA_HOME is too long for a PostgreSQL socket ({self.pgdata}); choose a shorter path"
            )
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver import get_server  # type: ignore[attr-defined]

            self._server = get_server(str(self.pgdata), cleanup_mode="stop")
        self._forget_dead_handles()
        self._size_to_machine()
        self._server.psql(_SETUP_SQL)
        log.info("embedded PostgreSQL ready", extra={"pgdata": str(self.pgdata)})
        return self.url("regula")

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql+asyncpg://{user}@/{database}?host={quote(str(self.pgdata))}"

    @property
    def owner_url(self) -> str:
        return self.url("regula", OWNER_ROLE)

    @property
    def app_url(self) -> str:
        return self.url("regula", APP_ROLE)

    def stop(self) -> None:
        """Leave the server; the last regula process to leave stops it."""
        if self._server is not None:
            self._forget_dead_handles()
            self._server.cleanup()
            self._server = None

    def _size_to_machine(self) -> None:
        """Write the sized settings, have the server read them, and restart it if one needs a restart and nobody
        else uses the server."""
        sized = server_settings.for_this_machine(self.pgdata)
        write_sized_conf(self.pgdata, sized)
        self._server.psql("SELECT pg_reload_conf();")
        pending = self._server.psql(
            "\\pset format unaligned\n\\pset tuples_only on\nSELECT count(*) FROM pg_settings WHERE pending_restart;"
        ).strip()
        if pending.splitlines()[-1:] != ["0"] and self._server.global_process_id_list.get() == [os.getpid()]:
            import atexit

            from pgserver import get_server  # type: ignore[attr-defined]

            old = self._server
            old.cleanup()  # the last user leaving: pgserver stops the server
            atexit.unregister(old._cleanup)
            self._server = get_server(str(self.pgdata), cleanup_mode="stop")
            log.info("embedded PostgreSQL restarted with settings sized to the machine")

    def _forget_dead_handles(self) -> None:
        """pgserver counts the processes attached to the server in a file and stops the server when the last one
        leaves, but never forgets a process that was killed (SIGKILL, OOM): one such process and the server would
        outlive every regula process from then on. Drop the ids of processes that no longer exist."""
        from pgserver.postgres_server import PostgresServer

        with PostgresServer._lock:
            handles = self._server.global_process_id_list
            attached = handles.get()
            alive = [pid for pid in attached if _exists(pid)]
            if alive != attached:
                handles.put(alive)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def write_sized_conf(pgdata: Path, sized: dict[str, str]) -> None:
    """``regula-sized.conf`` with these settings, and the line of ``postgresql.conf`` that includes it (added once).
    Both files are only rewritten when their text changes."""
    target = pgdata / SIZED_CONF
    text = (
        "# Written by regula on every start of the embedded server (regula.db.server_settings): sized to this\n"
        "# machine. Do not edit; override with ALTER SYSTEM, which postgresql.auto.conf applies after this file.\n"
        + server_settings.as_conf(sized)
    )
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    main = pgdata / "postgresql.conf"
    current = main.read_text()
    if _INCLUDE not in current:
        main.write_text(current.rstrip("\n") + "\n\n# settings sized to the machine by regula\n" + _INCLUDE + "\n")
