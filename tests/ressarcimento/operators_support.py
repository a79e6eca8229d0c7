"""Helpers of the operators/attestation tests (part B of issue 14): an active operator with one unit in Santa
Catarina, through the services a manager uses, and its production imported through production control."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Jurisdiction
from regula.audit.service import AuditContext, install, set_context
from regula.config import Settings
from regula.demo import ressarcimento as demo
from regula.people.documents import generate_cpf
from regula.production import control
from regula.providers.models import Establishment
from regula.ressarcimento import service
from regula.ressarcimento.models import Operator

SC = Jurisdiction.parse("uf:SC")
GESTOR = Actor("gestor.sc", "gestor", jurisdiction=SC)
AUDITOR = Actor("auditor.sc", "auditor", jurisdiction=SC)
YEAR = 2025
TODAY = date(2026, 3, 10)
SURGERY = Decimal("1157.40")  # 771.60 × 1.5
PLANNED = SURGERY * 90  # 104,166.00
rng = random.Random(1402)


def prepare(session: AsyncSession) -> None:
    install()
    set_context(session, AuditContext.system("test", "tests/ressarcimento"))


async def establishment(
    session: AsyncSession, cnes: str, municipality: str = "4205407", uf: str = "SC", kind: str = "operadora"
) -> Establishment:
    est = await session.get(Establishment, cnes)
    if est is None:
        est = Establishment(cnes=cnes, name=f"Unidade {cnes}", municipality_ibge=municipality, uf=uf, kind=kind)
        session.add(est)
        await session.flush()
    return est


async def active_operator(
    session: AsyncSession,
    settings: Settings,
    *,
    ans: str = "419101",
    cnes: str = "7991001",
    municipality: str = "4205407",
    size: str = "medio",
    national: bool = False,
    annual_max: Decimal | None = None,
) -> Operator:
    """An active operator (the whole workflow taken), its unit, the cataract surgery in its matrix (90 a month)."""
    await establishment(session, cnes, municipality)
    d = demo.DemoOperator(ans, f"Operadora {ans}", cnes, f"Unidade {cnes}", municipality, (), ())
    op = await demo.activate(session, settings, d, YEAR, TODAY, GESTOR)
    if size != "medio" or national:
        op.size, op.national_reach = size, national
    if annual_max is not None:
        await service.set_annual_max(session, op.id or 0, YEAR, annual_max, None, GESTOR)
    await session.flush()
    return op


async def produce(
    session: AsyncSession,
    cnes: str,
    month: int,
    authorized: int,
    unauthorized: int = 0,
    *,
    year: int = YEAR,
    label: str = "",
) -> None:
    """Cataract surgeries of ``cnes`` in ``year``-``month``: ``authorized`` with an AIH number regula issued, then
    ``unauthorized`` without one, imported as production control imports the SIH/SIA lines."""
    numbers = await demo.issue_aih(session, cnes, year, authorized, GESTOR) if authorized else []
    lines = [(generate_cpf(rng), date(year, month, 1 + i % 27), cnes, n) for i, n in enumerate(numbers)]
    lines += [(generate_cpf(rng), date(year, month, 28), cnes, None) for _ in range(unauthorized)]
    report = await control.import_production(
        session, demo.production_csv(lines), filename=f"prod-{cnes}-{year}{month:02d}{label}.csv"
    )
    assert report.refused == 0, report.errors
