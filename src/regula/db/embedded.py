"""Embedded PostgreSQL (the ``pgserver`` package) for a bare machine.

The server lives in ``$REGULA_HOME/pgdata``, is reused across runs (pgserver attaches to a running one), and is
stopped cleanly when the last regula process using it exits; the data stays on disk.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

# A Unix socket path must fit in 107 bytes; pgserver puts the socket in the data directory.
_MAX_SOCKET_DIR = 90


class EmbeddedPostgres:
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server and return an asyncpg URL for database ``regula``."""
        if len(str(self.pgdata)) > _MAX_SOCKET_DIR:
            raise RuntimeError(
                f"REGULA_HOME is too long for a PostgreSQL socket ({self.pgdata}); choose a shorter path"
            )
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver import get_server  # type: ignore[attr-defined]

            self._server = get_server(str(self.pgdata), cleanup_mode="stop")
        self._server.psql(
            "SELECT 'CREATE DATABASE regula' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'regula')\\gexec"
        )
        log.info("embedded PostgreSQL ready", extra={"pgdata": str(self.pgdata)})
        return self.url("regula")

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={quote(str(self.pgdata))}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
