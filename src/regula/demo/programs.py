"""The demonstration's PAR (``regula demo``): an approved Plano de Ação Regional for one Santa Catarina health region,
with quantities per provider, its incentive, transfers, its ledger fed by the demo's production and one contract
delivering less than contracted (issue 13). Everything goes through the program services a manager uses
(``regula.programs.service``): the same validation, approval steps, audit and queue effects.

* **Region**: the one whose queue holds the first entry in atendimento authorized at least 12 days before the
  demo's day — the entry the production demo (``production.demo``) concludes within tM, so the PAR's ledger earns
  from it; the largest region-scoped queue otherwise.
* **Plan**: every OCI the region's queue has a capacity for, split among the region's demo providers that offer it
  in proportion to their weights, for six months (three before the demo's month, the month, and two after); the
  monthly quantity is the queue's weekly capacity × 52/12, so the capacity the approval writes back to the queue
  is the one the demo generated. Managers: a municipality's own establishment (``proprio``) is run by the
  municipality; contracted and complementary providers by the state.
* **Approval**: CIR resolution, CIB acknowledgement, SAES approval, portaria and the CIB resolution naming the
  executing managers, on fixed days before the demo's day; commitments assessed as met.
* **Money**: the incentive's first half and each manager's 30% advance transferred.
* **Contracts**: each provider's largest line in the demo's month (still open), and one in the last closed month —
  nothing concluded then, so it shows as delivering less than contracted.

Depends only on the ``today`` given (the demo's calendar day), never on the day it runs. Idempotent by title.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.config import Settings
from regula.demo import providers as demo_providers
from regula.programs import funding
from regula.programs import service as par
from regula.programs.models import Par
from regula.programs.schemas import (
    CommitmentIn,
    ContractIn,
    LineIn,
    MilestoneIn,
    ParCreate,
    ResponsibilityIn,
    StepIn,
    TransferIn,
)
from regula.territory.reference import territory
from regula.waitlist import measures
from regula.waitlist.models import QueueCapacity, WaitlistEntry

MANAGER: Final = Actor("regula demo", "admin")  # the demo acts as the installation's operator
TITLE_PREFIX: Final = "PAR demonstrativo"
MONTHS_BEFORE: Final = 3
MONTHS_AFTER: Final = 2
WEEKS_PER_MONTH: Final = Decimal(52) / Decimal(12)


@dataclass(frozen=True)
class DemoPar:
    created: bool
    par_id: int | None = None
    region: str | None = None
    lines: int = 0
    contracts: int = 0


def _add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


async def _region(session: AsyncSession, today: date, settings: Settings) -> str | None:
    """See the module docstring."""
    cutoff = measures.start_of_day(today - timedelta(days=12), settings.timezone)
    stmt = (
        select(col(WaitlistEntry.scope_code))
        .where(
            col(WaitlistEntry.status) == "em_atendimento",
            col(WaitlistEntry.scope_kind) == "region",
            col(WaitlistEntry.authorized_at).is_not(None),
            col(WaitlistEntry.authorized_at) <= cutoff,
        )
        .order_by(col(WaitlistEntry.authorized_at), col(WaitlistEntry.id))
        .limit(1)
    )
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found:
        return str(found)
    rows = (await session.execute(select(QueueCapacity).where(col(QueueCapacity.scope_kind) == "region"))).scalars()
    totals: dict[str, int] = defaultdict(int)
    for c in rows:
        totals[c.scope_code] += c.weekly_capacity
    return max(sorted(totals), key=lambda k: totals[k]) if totals else None


def _manager(est: demo_providers.Establishment) -> str:
    return f"municipality:{est.place.ibge_code}" if est.spec.kind == "proprio" else "uf:SC"


async def seed_demo_par(
    session: AsyncSession, settings: Settings, today: date, network: demo_providers.Network
) -> DemoPar:
    existing = (await session.execute(select(Par).where(col(Par.title).startswith(TITLE_PREFIX)))).first()
    if existing is not None:
        return DemoPar(created=False)
    region = await _region(session, today, settings)
    health_region = territory().health_region(region) if region else None
    if region is None or health_region is None:
        return DemoPar(created=False)
    scope = ("region", region)
    capacities = (
        await session.execute(
            select(QueueCapacity)
            .where(col(QueueCapacity.scope_kind) == "region", col(QueueCapacity.scope_code) == region)
            .order_by(col(QueueCapacity.oci_code))
        )
    ).scalars()
    this_month = today.replace(day=1)
    months = [_add_months(this_month, n) for n in range(-MONTHS_BEFORE, MONTHS_AFTER + 1)]
    lines: list[LineIn] = []
    for cap in capacities:
        offers = network.offers(cap.oci_code, scope)
        if not offers or cap.weekly_capacity <= 0:
            continue
        monthly = Decimal(cap.weekly_capacity) * WEEKS_PER_MONTH
        weights = sum(offer.weight for _, offer in offers)
        for est, offer in offers:
            quantity = max(1, int((monthly * Decimal(offer.weight / weights)).to_integral_value()))
            lines.extend(LineIn(_manager(est), cap.oci_code, est.cnes, f"{month:%Y-%m}", quantity) for month in months)
    if not lines:
        return DemoPar(created=False)
    name = health_region.name.title()
    data = ParCreate(
        title=f"{TITLE_PREFIX} — Região de Saúde {name}",
        scope_kind="region",
        scope_code=region,
        diagnosis=(
            f"A região {name} concentra a maior demora da atenção especializada nas OCIs de cardiologia, "
            "oftalmologia e oncologia; parte da oferta está fora da região e a fila não é individualizada por OCI."
        ),
        priorities="Reduzir a fila das OCIs prioritárias, individualizar a fila por CPF/CNS e instalar o NGR.",
        target_queue_size=200,
        target_wait_days=60,
        target_date=_add_months(this_month, MONTHS_AFTER + 1).isoformat(),
        schedule=[
            MilestoneIn("Implantação do Núcleo de Gestão e Regulação", months[0].isoformat()),
            MilestoneIn("Fila individualizada por OCI em toda a região", months[2].isoformat()),
            MilestoneIn("Avaliação dos compromissos do PAR", months[-1].isoformat()),
        ],
        responsibilities=[
            ResponsibilityIn("uf:SC", "Regulação estadual, contratos com prestadores e monitoramento."),
            ResponsibilityIn(
                f"Municípios da região {name}", "Encaminhamento pela APS, navegação do cuidado e controle da produção."
            ),
        ],
        lines=lines,
    )
    created = await par.create_par(session, data, MANAGER)
    par_id = created.id or 0
    approval = today - timedelta(days=90)
    steps = (
        ("resolucao_cir", "Deliberação CIR nº 14/2026", approval - timedelta(days=20)),
        ("ciencia_cib", "Deliberação CIB nº 101/2026", approval - timedelta(days=12)),
        ("aprovacao_saes", "Parecer SAES nº 2.345/2026", approval),
        ("portaria_publicada", "Portaria GM/MS nº 7.890/2026", approval + timedelta(days=6)),
        ("resolucao_cib_executores", "Deliberação CIB nº 130/2026", approval + timedelta(days=12)),
    )
    for kind, number, day in steps:
        await par.record_step(session, settings, par_id, 1, StepIn(kind, number, day.isoformat()), MANAGER, today)
    detail = await par.detail(session, par_id, MANAGER)
    version = detail.bundle.latest
    plan = detail.lines_by_version[version.id or 0]
    incentive = funding.incentive(version.population)
    await par.record_transfer(
        session,
        par_id,
        TransferIn("uf:SC", "incentivo_1", (approval + timedelta(days=20)).isoformat(), incentive.first, "FNS"),
        MANAGER,
        today,
    )
    by_manager: dict[str, Decimal] = defaultdict(Decimal)
    for x in plan:
        by_manager[x.manager] += x.value
    for manager, approved in sorted(by_manager.items()):
        advance = funding.oci_advance(approved)
        if advance > 0:
            await par.record_transfer(
                session,
                par_id,
                TransferIn(manager, "adiantamento", (approval + timedelta(days=25)).isoformat(), advance, "FNS"),
                MANAGER,
                today,
            )
    await par.record_commitment(
        session,
        par_id,
        CommitmentIn((today - timedelta(days=30)).isoformat(), True, "NGR instalado e fila individualizada."),
        MANAGER,
        today,
    )
    # Contracts: each provider's largest line of the demo's month (open), and one in the last closed month.
    largest: dict[str, tuple[int, str, str]] = {}
    for x in plan:
        if x.month == this_month and x.quantity > largest.get(x.cnes, (0, "", ""))[0]:
            largest[x.cnes] = (x.quantity, x.oci_code, x.manager)
    contracts = 0
    for n, (cnes, (quantity, oci, manager)) in enumerate(sorted(largest.items()), start=1):
        await par.put_contract(
            session,
            par_id,
            ContractIn(f"CT {n:03d}/{today.year}", manager, cnes, oci, f"{this_month:%Y-%m}", quantity),
            MANAGER,
        )
        contracts += 1
    if largest:
        cnes, (quantity, oci, manager) = sorted(largest.items())[0]
        last_month = _add_months(this_month, -1)
        await par.put_contract(
            session,
            par_id,
            ContractIn(f"CT {contracts + 1:03d}/{today.year}", manager, cnes, oci, f"{last_month:%Y-%m}", quantity),
            MANAGER,
        )
        contracts += 1
    return DemoPar(True, par_id, region, len(plan), contracts)
