"""Demonstration of the Ressarcimento component (Portaria Conjunta MS/AGU 7.702/2025) on the Santa Catarina demo.

Two fictitious health-plan operators, each with one own unit registered as an ordinary provider (kind
``operadora``) that offers an ophthalmology OCI in the demo's agendas (its slots enter allocation like any
provider's) and cataract surgeries in its offer matrix (art. 10 II: the principal procedure's SIGTAP value × IVR):

* **Saúde Litoral** (Florianópolis) performs about what its matrix plans every month: a COR every month;
* **Vale Verde** (Joinville) performs about two thirds of its matrix from July on — below 90% for five months, so
  its October attestation proposes the fine of art. 17 I (notified, with its 15-day challenge window open) and
  November adds its own 10%; some of its surgeries were done without a regulated authorization and do not count
  (art. 15 §6); without a COR in a month its value is carried to the next (art. 15 §4).

Everything goes through the same services a manager uses: the operators' workflow, the units, the matrix, the
annual maximum, production imported and checked by production control (AIH numbers issued from a range as the
regulation issues them), and the monthly attestations. The demo's year is the one before ``today`` (January to
December, so nothing depends on the day the demo is loaded); January–November are attested, December is left for
the manager to attest on the page. Idempotent: with the operators there, it does nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Jurisdiction
from regula.catalog.service import list_ocis
from regula.config import Settings
from regula.people.documents import generate_cpf
from regula.production import control, numbering
from regula.providers.models import AgendaSlot, Establishment, EstablishmentOffer
from regula.ressarcimento import repository as repo
from regula.ressarcimento import rules, service
from regula.ressarcimento.models import Operator

MANAGER: Final = Actor("gestor.estadual", "gestor", jurisdiction=Jurisdiction.parse("uf:SC"))
CATARACT: Final = "0405050372"  # facoemulsificação com implante de lente intraocular dobrável (SIGTAP 04.05.05.037-2)
CATARACT_NAME: Final = "Facoemulsificação com implante de lente intraocular dobrável"
CATARACT_VALUE: Final = Decimal("771.60")  # the principal procedure's SIGTAP value (SH + SP)
IVR: Final = Decimal("1.5")
MONTHLY: Final = 90
OPHTHALMOLOGY_OCI: Final = "0905010035"  # OCI avaliação inicial em oftalmologia - a partir de 9 anos
ANNUAL_MAX: Final = Decimal("1500000.00")
CBO_OPHTHALMOLOGIST: Final = "225265"
CID_CATARACT: Final = "H251"


@dataclass(frozen=True)
class DemoOperator:
    ans: str
    name: str
    cnes: str
    unit_name: str
    municipality: str
    monthly_done: tuple[int, ...]  # surgeries performed, January to December
    unauthorized: tuple[int, ...]  # of them, without a regulated authorization


HEALTHY: Final = DemoOperator(
    "419001",
    "Saúde Litoral Planos de Saúde (fictícia)",
    "7990001",
    "Centro de Olhos Saúde Litoral",
    "4205407",  # Florianópolis
    (88, 90, 86, 92, 89, 91, 87, 90, 93, 88, 90, 89),
    (0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0),
)
LAGGING: Final = DemoOperator(
    "419002",
    "Vale Verde Assistência Médica (fictícia)",
    "7990002",
    "Hospital de Olhos Vale Verde",
    "4209102",  # Joinville
    (86, 84, 88, 85, 83, 86, 62, 60, 61, 60, 63, 60),
    (1, 0, 2, 0, 1, 0, 2, 3, 2, 2, 3, 2),
)
DEMO_OPERATORS: Final = (HEALTHY, LAGGING)


@dataclass
class DemoRessarcimento:
    created: bool
    year: int = 0
    operators: dict[str, int] = field(default_factory=dict)  # name → id
    attested: int = 0
    sanctions: int = 0
    slots: int = 0

    def lines(self) -> list[str]:
        if not self.created:
            return ["Ressarcimento: operadoras de demonstração já carregadas."]
        return [
            f"Ressarcimento: {len(self.operators)} operadoras em SC, {self.attested} competências de {self.year} "
            f"atestadas, {self.sanctions} sanções propostas; dezembro/{self.year} fica para o gestor atestar.",
        ]


async def _unit(session: AsyncSession, d: DemoOperator, oci: str | None, today: date, tz: str, now: datetime) -> int:
    """The operator's unit as an ordinary establishment, offering the OCI with four weeks of slots."""
    if await session.get(Establishment, d.cnes) is None:
        session.add(
            Establishment(
                cnes=d.cnes,
                name=d.unit_name,
                municipality_ibge=d.municipality,
                uf="SC",
                kind="operadora",
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
    if oci is None:
        return 0
    session.add(EstablishmentOffer(cnes=d.cnes, oci_code=oci))
    slots = 0
    zone = ZoneInfo(tz)
    for day in range(1, 29):
        when = today + timedelta(days=day)
        if when.weekday() >= 5:
            continue
        for hour in (8, 10, 14):
            starts = datetime.combine(when, time(hour), zone).astimezone(UTC)
            session.add(
                AgendaSlot(
                    cnes=d.cnes,
                    oci_code=oci,
                    starts_at=starts,
                    capacity=2,
                    external_id=f"demo-op-{when}-{hour}",
                    created_at=now,
                )
            )
            slots += 1
    await session.flush()
    return slots


async def activate(
    session: AsyncSession, settings: Settings, d: DemoOperator, year: int, today: date, actor: Actor = MANAGER
) -> Operator:
    """Register the operator (by the ente of its unit's UF) and take it, step by step, to ``ativa``, with its unit,
    matrix and annual maximum."""
    unit = await session.get(Establishment, d.cnes)
    op = await service.create_operator(
        session,
        service.OperatorInput(
            ans_registration=d.ans,
            name=d.name,
            size="medio",
            national_reach=False,
            uf=unit.uf if unit is not None else "SC",
            technical_capacity=True,
            ans_reports_regular=True,
        ),
        actor,
        date(year - 1, 8, 1),  # the manifestation of interest, before the steps below
    )
    start = date(year - 1, 9, 1)
    path = (
        (rules.OperatorStatus.APROVADA_SAES, 0),
        (rules.OperatorStatus.CONSULTA_ENTES, 14),
        (rules.OperatorStatus.TRANSACAO_PARCELAMENTO, 35),
        (rules.OperatorStatus.TERMO_COMPROMISSO, 70),
        (rules.OperatorStatus.ATIVA, 110),
    )
    for status, days in path:
        step = service.StepInput(to_status=status.value, on_date=start + timedelta(days=days))
        await service.take_step(session, op.id or 0, step, actor, today)
    await service.add_unit(session, op.id or 0, d.cnes, "propria", actor)
    await service.set_annual_max(session, op.id or 0, year, ANNUAL_MAX, "Ato SAES de demonstração", actor)
    await service.add_matrix_item(
        session,
        settings,
        op.id or 0,
        service.MatrixInput(
            cnes=d.cnes,
            component="cirurgia",
            procedure_code=CATARACT,
            monthly_qty=MONTHLY,
            annual_qty=12 * MONTHLY,
            unit_value_brl=CATARACT_VALUE,
            ivr=IVR,
            name=CATARACT_NAME,
        ),
        actor,
    )
    return op


async def issue_aih(session: AsyncSession, cnes: str, year: int, count: int, actor: Actor = MANAGER) -> list[str]:
    """``count`` AIH numbers issued to ``cnes`` from a range the state gives it (Agora Tem Especialistas, digit 8)."""
    base = (int(cnes[-3:]) % 900 + 1) * 10_000  # a block of 10,000 sequences per unit
    first, last = f"42{year % 100:02d}8{base:07d}", f"42{year % 100:02d}8{base + 9_999:07d}"
    found = await numbering.pick_range(session, cnes, "aih", "complementar")
    if found is None:
        found = await numbering.create_range(
            session, numbering.RangeInput(cnes, "aih", "complementar", first, last, "Faixa de demonstração"), actor
        )
    return [(await numbering.issue_number(session, found.id or 0, actor)).number for _ in range(count)]


def production_csv(lines: Sequence[tuple[str, date, str, str | None]], procedure: str = CATARACT) -> str:
    """SIA/SIH-like production lines (cpf, date, cnes, AIH number or None) of ``procedure``, as production control
    imports them."""
    out = ["cpf;procedimento;data;cnes;competencia;quantidade;autorizacao;instrumento;principal;cbo;cid"]
    for cpf, day, cnes, number in lines:
        out.append(
            f"{cpf};{procedure};{day:%d/%m/%Y};{cnes};{day:%Y%m};1;{number or ''};aih;{procedure};"
            f"{CBO_OPHTHALMOLOGIST};{CID_CATARACT}"
        )
    return "\n".join(out) + "\n"


async def seed_demo_ressarcimento(
    session: AsyncSession, settings: Settings, today: date, *, seed: int = 7702
) -> DemoRessarcimento:
    if await repo.by_ans(session, HEALTHY.ans) is not None:
        return DemoRessarcimento(created=False)
    rng = random.Random(seed)
    year = today.year - 1
    out = DemoRessarcimento(created=True, year=year)
    now = datetime.combine(today, time(12), UTC)
    known_ocis = {o.code for o in await list_ocis(session, settings)}
    oci = OPHTHALMOLOGY_OCI if OPHTHALMOLOGY_OCI in known_ocis else None
    for d in DEMO_OPERATORS:
        out.slots += await _unit(session, d, oci, today, settings.timezone, now)
        op = await activate(session, settings, d, year, today)
        out.operators[d.name] = op.id or 0
        numbers = iter(await issue_aih(session, d.cnes, year, sum(d.monthly_done) - sum(d.unauthorized)))
        lines: list[tuple[str, date, str, str | None]] = []
        for month, (done, missing) in enumerate(zip(d.monthly_done, d.unauthorized, strict=True), start=1):
            for i in range(done):
                day = date(year, month, 1 + (i * 27) // max(done, 1))
                lines.append((generate_cpf(rng), day, d.cnes, None if i < missing else next(numbers)))
        await control.import_production(
            session, production_csv(lines), filename=f"demo-ressarcimento-{d.cnes}.csv", imported_by=MANAGER.username
        )
        for month in range(1, 12):
            result = await service.attest(session, settings, op.id or 0, f"{year}{month:02d}", MANAGER, today)
            out.attested += 1
            if result.sanction is not None:
                out.sanctions += 1
                if month == 10:  # the first fine (4th month below 90%) was notified: its window is open
                    await service.notify_sanction(session, result.sanction.id or 0, today, MANAGER, today)
            if d is HEALTHY and month <= 9:  # SAES homologated and the FNS issued the COR up to September
                comp = f"{year}{month:02d}"
                await service.record_homologation(
                    session, op.id or 0, comp, today, "Portaria SAES (demo)", MANAGER, today
                )
                issued = result.attestation.expected_cor_brl - (Decimal("1157.40") if month == 5 else 0)
                await service.record_cor(
                    session,
                    op.id or 0,
                    comp,
                    number=f"COR-{year}-{d.ans}-{month:02d}",
                    issued_on=today,
                    value=issued,
                    actor=MANAGER,
                    today=today,
                )
    return out
