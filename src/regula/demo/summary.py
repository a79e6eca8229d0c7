"""What ``regula demo`` reports about the demonstration data in the database: counts, the largest queues, the
providers and the fixed examples, and the lines it prints (in Portuguese)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.audit.models import AuditEvent
from regula.catalog.models import CatalogOci
from regula.demo.generation import DEMO_SOURCE, EXAMPLE_PROTOCOLS, EXAMPLES, Status
from regula.demo.provider_day import PROVIDER_USERNAME
from regula.people.models import Citizen
from regula.providers.models import AgendaSlot, Establishment, MunicipalQuota, SlotBooking
from regula.territory.reference import territory
from regula.waitlist.models import QueueCapacity, RegulationScope, WaitlistEntry
from regula.waitlist.states import STATUS_LABELS_PT, EntryStatus


@dataclass(frozen=True)
class DemoExample:
    protocol: str
    birth_date: date
    citizen_name: str
    municipality: str
    oci_code: str
    oci_name: str
    status: str
    position: int | None
    queue_size: int | None
    hint: str  # what to try with it, in Portuguese


@dataclass(frozen=True)
class DemoSummary:
    created: bool  # False when demo data already existed and nothing was written
    citizens: int
    entries: int
    events: int
    by_status: dict[str, int]
    queues: int  # queues with someone waiting
    largest_queues: list[tuple[str, int]]  # "OCI:kind:code" and how many wait in it
    scopes: dict[str, int]  # health regions by scope kind
    capacities: int
    establishments: int
    slots: int  # open agenda slots from now on
    open_places: int  # their places not booked yet
    bookings: int  # active bookings
    quotas: int  # municipal (PPI) quotas
    examples: list[DemoExample]
    seconds: float
    #: The demo executante's day (``regula.demo.provider_day``): CNES, appointments today, OCIs in execution there
    #: and how many of them are ready to conclude, as the load recorded them; None for a load without it.
    provider_day: dict[str, int | str] | None = None


async def read_summary(session: AsyncSession, *, created: bool, started: float) -> DemoSummary:
    demo = col(WaitlistEntry.external_source) == DEMO_SOURCE
    status_col = col(WaitlistEntry.status)
    by_status_raw = dict(
        (await session.execute(select(status_col, func.count()).where(demo).group_by(status_col))).all()
    )
    by_status: dict[str, int] = {s.value: int(by_status_raw[s.value]) for s in EntryStatus if s.value in by_status_raw}
    citizens = await session.execute(select(func.count(func.distinct(col(WaitlistEntry.citizen_id)))).where(demo))
    events = await session.execute(
        text(
            "SELECT count(*) FROM waitlist_entry_event v JOIN waitlist_entry e ON e.id = v.entry_id "
            "WHERE e.external_source = :source"
        ),
        {"source": DEMO_SOURCE},
    )
    queue_cols = (col(WaitlistEntry.oci_code), col(WaitlistEntry.scope_kind), col(WaitlistEntry.scope_code))
    queues = (
        await session.execute(
            select(*queue_cols, func.count().label("n"))
            .where(demo, status_col == Status.AUTORIZADA)
            .group_by(*queue_cols)
            .order_by(func.count().desc(), *queue_cols)
        )
    ).all()
    scope_col = col(RegulationScope.scope_kind)
    scope_rows = (await session.execute(select(scope_col, func.count()).group_by(scope_col))).all()
    capacities = (await session.execute(select(func.count()).select_from(QueueCapacity))).scalar_one()
    establishments = (await session.execute(select(func.count()).select_from(Establishment))).scalar_one()
    open_slot = (col(AgendaSlot.status) == "aberta") & (col(AgendaSlot.starts_at) > datetime.now(UTC))
    slots, places = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(col(AgendaSlot.capacity) - col(AgendaSlot.booked)), 0)).where(
                open_slot
            )
        )
    ).one()
    bookings = await session.execute(
        select(func.count()).select_from(SlotBooking).where(col(SlotBooking.status) == "ativa")
    )
    quotas = await session.execute(select(func.count()).select_from(MunicipalQuota))
    return DemoSummary(
        created=created,
        citizens=int(citizens.scalar_one()),
        entries=sum(by_status.values()),
        events=int(events.scalar_one()),
        by_status=by_status,
        queues=len(queues),
        largest_queues=[(f"{q[0]}:{q[1]}:{q[2]}", int(q[3])) for q in queues[:5]],
        scopes={str(k): int(v) for k, v in scope_rows},
        capacities=int(capacities),
        establishments=int(establishments),
        slots=int(slots),
        open_places=int(places),
        bookings=int(bookings.scalar_one()),
        quotas=int(quotas.scalar_one()),
        examples=await _examples(session),
        seconds=round(time.perf_counter() - started, 2),
        provider_day=await _provider_day(session),
    )


async def _provider_day(session: AsyncSession) -> dict[str, int | str] | None:
    """What the demo load recorded of the executante's day (its audit record), if anything."""
    stmt = (
        select(col(AuditEvent.after))
        .where(col(AuditEvent.action) == "import", col(AuditEvent.entity_type) == "demo")
        .order_by(col(AuditEvent.id).desc())
        .limit(1)
    )
    after = (await session.execute(stmt)).scalar_one_or_none()
    found = after.get("provider_day") if isinstance(after, dict) else None
    return dict(found) if isinstance(found, dict) else None


async def _examples(session: AsyncSession) -> list[DemoExample]:
    stmt = (
        select(WaitlistEntry, Citizen)
        .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
        .where(col(WaitlistEntry.protocol).in_(EXAMPLE_PROTOCOLS))
        .order_by(col(WaitlistEntry.protocol))
    )
    specs = {s.protocol: s for s in EXAMPLES}
    names_by_code = {r[0]: r[1] for r in await session.execute(select(col(CatalogOci.code), col(CatalogOci.name)))}
    out = []
    for entry, citizen in (await session.execute(stmt)).all():
        place = territory().municipality(citizen.municipality_ibge)
        out.append(
            DemoExample(
                protocol=entry.protocol,
                birth_date=citizen.birth_date,
                citizen_name=citizen.name,
                municipality=place.label,
                oci_code=entry.oci_code,
                oci_name=names_by_code.get(entry.oci_code, entry.oci_code),
                status=entry.status,
                position=entry.position,
                queue_size=entry.queue_size,
                hint=specs[entry.protocol].hint if entry.protocol in specs else "",
            )
        )
    return out


_SCOPE_LABELS: Final = {"region": "região", "macro": "macrorregião", "uf": "UF"}


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def summary_lines(summary: DemoSummary) -> list[str]:
    """What ``regula demo`` prints about the data, in Portuguese."""
    head = "Dados de demonstração" + ("" if summary.created else " (já existiam; nada foi alterado)")
    seconds = f"{summary.seconds:.1f}".replace(".", ",")
    lines = [
        f"{head}: {_n(summary.citizens)} cidadãos, {_n(summary.entries)} solicitações, "
        f"{_n(summary.events)} eventos de histórico ({seconds} s).",
        "Por situação: "
        + ", ".join(f"{STATUS_LABELS_PT[EntryStatus(s)]} {_n(n)}" for s, n in summary.by_status.items())
        + ".",
        f"Filas com pessoas aguardando: {summary.queues}; as maiores: "
        + ", ".join(f"{key} ({n})" for key, n in summary.largest_queues)
        + ".",
        "Escopo das filas das regiões de saúde: "
        + ", ".join(f"{_SCOPE_LABELS.get(k, k)} {n}" for k, n in sorted(summary.scopes.items()))
        + f"; capacidades semanais configuradas: {summary.capacities}.",
        f"Prestadores: {summary.establishments} estabelecimentos; {_n(summary.slots)} vagas abertas na agenda "
        f"({_n(summary.open_places)} lugares livres), {_n(summary.bookings)} agendamentos ativos, "
        f"{summary.quotas} cotas municipais (PPI).",
    ]
    day = summary.provider_day
    if day:
        lines.append(
            f"Dia do executante ({PROVIDER_USERNAME}, CNES {day['cnes']}): {day['today']} atendimentos hoje, "
            f"{day['in_execution']} OCIs em execução, {day['ready_to_conclude']} prontas para concluir — em /prestador."
        )
    lines.append("Exemplos:")
    for x in summary.examples:
        where = f", posição {x.position} de {x.queue_size}" if x.position is not None else ""
        lines.append(
            f"  {x.protocol} — {x.citizen_name} ({x.birth_date:%d/%m/%Y}), {x.municipality}, OCI {x.oci_code}: "
            f"{STATUS_LABELS_PT[EntryStatus(x.status)]}{where}. {x.hint}"
        )
    return lines
