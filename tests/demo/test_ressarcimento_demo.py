"""The Ressarcimento part of the demo (``regula demo``): two operators in Santa Catarina whose units are providers
with slots in the agendas, one healthy (a COR every month), one below 90% for five months with a fine proposed and
its challenge window open; December of the demo's year is left for the manager to attest. The same on any day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.audit.service import AuditContext, install, set_context
from regula.config import Settings
from regula.demo import ressarcimento as demo
from regula.production import control
from regula.providers.models import AgendaSlot, Establishment
from regula.ressarcimento import repository as repo
from regula.ressarcimento import service

pytestmark = pytest.mark.usefixtures("reference_data")


@pytest.mark.parametrize("today", [date(2026, 1, 2), date(2027, 8, 31)])
async def test_demo_operators_on_any_day(session: AsyncSession, settings: Settings, today: date) -> None:
    install()
    set_context(session, AuditContext.system("test", "tests/demo/ressarcimento"))
    out = await demo.seed_demo_ressarcimento(session, settings, today)
    year = today.year - 1
    assert out.created and out.year == year and out.attested == 22 and out.sanctions == 2

    healthy = await repo.by_ans(session, demo.HEALTHY.ans)
    lagging = await repo.by_ans(session, demo.LAGGING.ans)
    assert healthy is not None and lagging is not None
    assert healthy.status == lagging.status == "ativa"

    # The units are ordinary providers: kind operadora, with slots of the OCI in the agendas after ``today``.
    for d in demo.DEMO_OPERATORS:
        est = await session.get(Establishment, d.cnes)
        assert est is not None and est.kind == "operadora" and est.uf == "SC"
        slots = await session.execute(
            select(func.count()).where(
                col(AgendaSlot.cnes) == d.cnes, col(AgendaSlot.oci_code) == demo.OPHTHALMOLOGY_OCI
            )
        )
        assert slots.scalar_one() > 0

    h = await repo.attestations_of(session, healthy.id or 0)
    assert [a.competencia for a in h] == [f"{year}{m:02d}" for m in range(1, 12)]
    assert all(a.cor_expected and a.months_below_90 == 0 and a.sanction == "nenhuma" for a in h)
    assert [a.status for a in h].count("cor_emitido") == 9
    may = h[4]
    assert service.cor_difference(may) == Decimal("-1157.40")  # one COR issued below the expected value

    lag = await repo.attestations_of(session, lagging.id or 0)
    assert [a.months_below_90 for a in lag] == [0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]
    assert [a.sanction for a in lag[9:]] == ["multa", "multa"]
    assert lag[9].fine_brl == Decimal("0.1") * sum((a.planned_brl - a.counted_brl for a in lag[6:10]), Decimal(0))
    assert lag[10].fine_brl == Decimal("0.1") * (lag[10].planned_brl - lag[10].counted_brl)
    assert any(not a.cor_expected and a.carried_out_brl > 0 for a in lag)  # carried to the next month
    assert all(a.unauthorized_items > 0 for a in lag[6:])  # care outside regulation does not count
    october = await repo.sanction_of_attestation(session, lag[9].id or 0)
    november = await repo.sanction_of_attestation(session, lag[10].id or 0)
    assert october is not None and october.status == "notificada" and october.notified_on == today
    assert october.challenge_deadline is not None and october.challenge_deadline > today
    assert november is not None and november.status == "proposta"

    # The production went through production control: its AIH lines are there, December's included, unattested.
    records = await control.load_records(
        session, demo.MANAGER, first=f"{year}12", last=f"{year}12", cnes=demo.LAGGING.cnes
    )
    assert len(records) == demo.LAGGING.monthly_done[11]
    assert await repo.attestation(session, lagging.id or 0, f"{year}12") is None

    again = await demo.seed_demo_ressarcimento(session, settings, today)
    assert not again.created
