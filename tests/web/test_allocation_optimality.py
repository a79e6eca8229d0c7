"""A proposal not proven optimal says so on its review page, with how far from the optimum it may be (issue 18,
item 4: decision 0006 promises proven optimality; the integer fallback may stop at its limit)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.web.test_allocation_review import BrowserFor, MakeUser, _world

from regula.allocation.service import solve_queued_now
from regula.config import Settings

pytestmark = pytest.mark.usefixtures("reference_data")


async def test_a_run_not_proven_optimal_shows_its_gap(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    reg, _ = await _world(client, session, make_user)
    page = await browser_for(reg)
    launched = await page.post("/regulacao/alocacoes", {"escopo": "uf:SC", "horizonte": "30"})
    assert launched.status_code == 303, launched.text
    await solve_queued_now(session, settings)
    path = launched.headers["location"].split("?")[0]
    proven = await page.get(path)
    assert "OPTIMAL" in proven.text and "Otimalidade" not in proven.text
    # What ``record_solution`` stores when the fallback stopped at its limit (tests/optimizer/test_fallback.py).
    run_id = int(path.rstrip("/").rsplit("/", 1)[1])
    await session.execute(
        text(
            "UPDATE allocation_run SET solver_status = 'FEASIBLE', "
            'counts = counts || \'{"bound": -25416, "gap": 0.012345}\'::jsonb WHERE id = :id'
        ),
        {"id": run_id},
    )
    await session.commit()
    shown = await page.get(path)
    assert "Otimalidade" in shown.text
    assert "não comprovada: o cálculo atingiu seu limite" in shown.text
    assert "até 1,23% acima do ótimo" in shown.text
