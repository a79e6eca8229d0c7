"""Allocation runs as an operator gets them through the API, for tests of what follows a booking."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from regula.allocation.service import solve_queued_now
from regula.config import Settings


async def propose_and_solve(
    client: httpx.AsyncClient, headers: dict[str, str], session: AsyncSession, settings: Settings, scope: str = "uf:SC"
) -> int:
    """``POST /allocation/runs`` (which only queues the run, 202), then what the jobs process does: solve the
    queued run, here in the test's session. Returns the run's id, now ``proposta``."""
    queued = await client.post("/api/v1/allocation/runs", json={"scope": scope}, headers=headers)
    assert queued.status_code == 202, queued.text
    run_id = int(queued.json()["id"])
    [solved] = [r for r in await solve_queued_now(session, settings) if r.id == run_id]
    assert solved.status == "proposta", (solved.status, solved.error)
    return run_id
