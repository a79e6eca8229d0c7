"""The demo's PAR (regula.demo.programs): an approved PAR of a Santa Catarina health region with quantities per
provider, its incentive and advances transferred, one contract delivering less than contracted, its ledger fed by
the demo's production; the same on any day it runs for a given demo day."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.audit.service import install
from regula.config import Settings
from regula.demo import load_demo_data
from regula.demo.programs import MANAGER, TITLE_PREFIX
from regula.production.demo import seed_demo_production
from regula.programs import funding
from regula.programs import service as par
from regula.programs.models import Par
from regula.territory.reference import territory
from regula.waitlist.models import QueueCapacity

FIXED_DAY = date(2026, 11, 23)


async def _the_par(session: AsyncSession) -> Par:
    return (await session.execute(select(Par).where(col(Par.title).startswith(TITLE_PREFIX)))).scalar_one()


async def test_demo_par_on_a_fixed_day(session: AsyncSession, settings: Settings, reference_data: None) -> None:
    install()
    await load_demo_data(session, settings, seed=20261123, citizens=3000, today=FIXED_DAY)
    found = await _the_par(session)
    detail = await par.detail(session, found.id or 0, MANAGER)
    version = detail.bundle.approved
    assert version is not None and version.version == 1 and version.scope_kind == "region"
    assert territory().health_region(version.scope_code) is not None
    assert found.first_approved_on == FIXED_DAY - timedelta(days=90)  # from the demo's day, not the test's
    lines = detail.lines_by_version[version.id or 0]
    assert len({x.cnes for x in lines}) >= 1 and len({x.oci_code for x in lines}) >= 5
    assert {x.month for x in lines} == {date(2026, m, 1) for m in range(8, 13)} | {date(2027, 1, 1)}
    # The approval wrote the plan's capacity back to the queue: the one the demo generated, to rounding.
    oci = lines[0].oci_code
    capacity = await session.get(QueueCapacity, (oci, "region", version.scope_code))
    assert capacity is not None and capacity.source == "par"
    assert capacity.weekly_capacity == par.weekly_capacity(lines, oci)

    view = await par.ledger_view(session, found.id or 0, MANAGER, FIXED_DAY)
    assert view.ledger.advance_released and view.ledger.commitments_met
    total = view.ledger.totals
    assert total.approved == sum(x.value for x in lines)
    assert total.advanced == sum(funding.oci_advance(m.totals.approved) for m in view.ledger.managers)
    assert view.incentive_paid == funding.incentive(version.population).first
    assert all(m.advance_paid == m.advance_entitlement for m in view.ledger.managers)

    contracts = await par.contracts(session, settings, found.id or 0, MANAGER, FIXED_DAY)
    assert len(contracts) >= 2
    assert [c.contract.month for c in contracts if c.under_delivered] == [date(2026, 10, 1)]  # exactly one


async def test_demo_par_ledger_is_fed_by_the_demo_production(
    session: AsyncSession, settings: Settings, reference_data: None
) -> None:
    """`regula demo` as it runs: the data, then the production demo concludes its OCIs — on one pinned day."""
    install()
    await load_demo_data(session, settings, seed=20261123, citizens=3000, today=FIXED_DAY)
    production = await seed_demo_production(session, settings, today=FIXED_DAY)
    assert production.within_tm
    found = await _the_par(session)
    today = FIXED_DAY
    view = await par.ledger_view(session, found.id or 0, MANAGER, today)
    counted = sum(m.proven for m in view.ledger.managers) + view.ledger.totals.earned
    assert counted > 0  # the OCI concluded within tM, at a provider of the plan, proves part of the advance
    ind = await par.indicators(session, settings, found.id or 0, MANAGER, today)
    assert sum(x.adequate_quantity for x in ind.months) >= 1
    assert ind.queue_size > 0
