"""Migration 0012 on a database that already holds duplicate live runs (twenty concurrent proposals left twenty):
the newest live run of each scope stays, the older ones become ``substituida``, and then the index holds."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.conftest import _admin

from regula.db import migrate

RUNS = [  # (scope, status) in id order
    ("uf:SC", "proposta"),
    ("uf:SC", "aprovada"),
    ("uf:SC", "efetivada"),
    ("region:42007", "proposta"),
    ("uf:PR", "aprovada"),
    ("uf:PR", "proposta"),
    ("uf:PR", "descartada"),
]


async def _insert_runs(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        for scope, status in RUNS:
            await conn.execute(
                text(
                    "INSERT INTO allocation_run (scope, status, params, instance_sha256, instance_gz, solver, "
                    "solver_status, objective, wall_seconds, counts, violations, created_by, created_at) "
                    "VALUES (:scope, :status, '{}', repeat('0', 64), '\\x00', 'flow', 'OPTIMAL', 0, 0, '{}', 0, "
                    "'teste', now())"
                ),
                {"scope": scope, "status": status},
            )
    await engine.dispose()


async def _statuses(url: str) -> list[tuple[str, str]]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT scope, status FROM allocation_run ORDER BY id"))).all()
        with pytest.raises(Exception, match="uq_allocation_run_live_scope"):
            await conn.execute(text("UPDATE allocation_run SET status = 'proposta' WHERE status = 'substituida'"))
    await engine.dispose()
    return [(r.scope, r.status) for r in rows]


def test_0012_supersedes_older_live_duplicates_before_the_index(database_url: str) -> None:
    name = f"regula_m0012_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(database_url, f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url, "0011_production")
        asyncio.run(_insert_runs(url))
        migrate.upgrade(url, "0012_allocation_live")
        assert asyncio.run(_statuses(url)) == [
            ("uf:SC", "substituida"),
            ("uf:SC", "aprovada"),
            ("uf:SC", "efetivada"),
            ("region:42007", "proposta"),
            ("uf:PR", "substituida"),
            ("uf:PR", "proposta"),
            ("uf:PR", "descartada"),
        ]
    finally:
        asyncio.run(_admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
