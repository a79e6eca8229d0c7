"""Which allocation runs a user reaches, in one place for the API, the pages and the services.

A run is *readable* by a user whose jurisdiction shares at least one municipality with the run's scope, and
*decidable* (approve, discard, commit, export its instance) only by a user whose jurisdiction holds the whole
scope. Inside a run wider than their jurisdiction (a ``uf:SC`` run seen from ``region:42007``) a user sees only the
assignments of residents of their own jurisdiction. A run a user cannot read answers "not found", exactly as a run
that does not exist, so its existence does not leak to another UF.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, Select, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.access.labels import jurisdiction_label
from regula.access.policy import Jurisdiction, JurisdictionKind
from regula.allocation.models import AllocationAssignment, AllocationRun
from regula.audit.service import record_list_read
from regula.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from regula.db.listing import Slice, SortKey, Sorts, Window, fetch
from regula.people.models import Citizen
from regula.providers.models import AgendaSlot, Establishment
from regula.territory.reference import territory
from regula.waitlist.models import WaitlistEntry


@functools.lru_cache(maxsize=512)
def _municipalities(j: Jurisdiction) -> frozenset[str]:
    return frozenset(m.ibge_code for m in territory().all() if j.covers_place(m))


def municipalities_of(j: Jurisdiction) -> frozenset[str]:
    """The IBGE codes of the municipalities ``j`` covers (cached)."""
    return _municipalities(j)


def scope_inside(outer: Jurisdiction, inner: Jurisdiction) -> bool:
    """Whether every municipality of ``inner`` is in ``outer`` (an empty ``inner`` is inside nothing)."""
    if outer.kind is JurisdictionKind.NATIONAL:
        return True
    places = _municipalities(inner)
    return bool(places) and places <= _municipalities(outer)


def _scope(run: AllocationRun) -> Jurisdiction | None:
    try:
        return Jurisdiction.parse(run.scope)
    except DomainError:
        return None


def readable(actor: Actor, run: AllocationRun) -> bool:
    if actor.jurisdiction.kind is JurisdictionKind.NATIONAL:
        return True
    scope = _scope(run)
    return scope is not None and bool(_municipalities(scope) & _municipalities(actor.jurisdiction))


def decidable(actor: Actor, run: AllocationRun) -> bool:
    scope = _scope(run)
    return scope is not None and scope_inside(actor.jurisdiction, scope)


def _readable_scopes(j: Jurisdiction) -> list[str] | None:
    """Every run scope sharing a municipality with ``j`` (``None``: all of them). Runs are scoped to the country, a
    UF, a macro-region, a health region or a municipality, so these are the containers of ``j``'s municipalities."""
    if j.kind is JurisdictionKind.NATIONAL:
        return None
    munis = _municipalities(j)
    if not munis:  # an establishment's jurisdiction holds no residents, so no run
        return []
    t = territory()
    scopes: set[str] = {"br"}
    for code in munis:
        m = t.municipality(code)
        scopes |= {f"uf:{m.uf}", f"macro:{m.macro_code}", f"municipality:{m.ibge_code}"}
        if m.health_region_code:
            scopes.add(f"region:{m.health_region_code}")
    return sorted(scopes)


def readable_runs_query(actor: Actor) -> Select[AllocationRun]:
    stmt = select(AllocationRun)
    scopes = _readable_scopes(actor.jurisdiction)
    if scopes is not None:
        stmt = stmt.where(col(AllocationRun.scope).in_(scopes))
    return stmt


RUN_SORTS = Sorts(
    keys=(
        SortKey("criada", col(AllocationRun.created_at), datetime, descending_first=True),
        SortKey("situacao", col(AllocationRun.status), str),
        SortKey("escopo", col(AllocationRun.scope), str),
    ),
    default="criada",
    default_descending=True,
    tiebreak=col(AllocationRun.id),
)


async def run_list(session: AsyncSession, actor: Actor, status: str | None, window: Window) -> Slice[AllocationRun]:
    """One window of the runs ``actor`` may read (decision 23's lists), optionally of one status, true total."""
    base = readable_runs_query(actor)
    if status is not None:
        base = base.where(col(AllocationRun.status) == status)
    found = await fetch(session, base, RUN_SORTS, window)
    return found.map([row[0] for row in found.rows])


async def readable_runs(session: AsyncSession, actor: Actor, *, limit: int) -> list[AllocationRun]:
    stmt = readable_runs_query(actor).order_by(col(AllocationRun.id).desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def run_for(
    session: AsyncSession, run_id: int, actor: Actor, *, deciding: bool = False, for_update: bool = False
) -> AllocationRun:
    """The run, if ``actor`` may read it (and, with ``deciding``, decide it); else NotFound / PermissionDenied."""
    stmt = select(AllocationRun).where(col(AllocationRun.id) == run_id)
    if for_update:
        stmt = stmt.with_for_update()
    run = (await session.execute(stmt)).scalar_one_or_none()
    if run is None or not readable(actor, run):
        raise NotFound("Rodada de alocação não encontrada.", code="rodada_nao_encontrada")
    if deciding and not decidable(actor, run):
        raise PermissionDenied(
            f"A rodada ({jurisdiction_label(run.scope)}) vai além da sua jurisdição "
            f"({jurisdiction_label(actor.jurisdiction)}); só quem cobre todo o "
            "escopo pode decidi-la ou baixar a sua instância.",
            code="rodada_alem_da_jurisdicao",
        )
    return run


def entry_filter(actor: Actor, run: AllocationRun) -> list[str] | None:
    """IBGE codes of the residents whose assignments ``actor`` sees in ``run`` (``None``: all of them)."""
    if decidable(actor, run):
        return None
    return sorted(_municipalities(actor.jurisdiction))


async def assignments_for(session: AsyncSession, run: AllocationRun, actor: Actor) -> list[AllocationAssignment]:
    stmt = (
        select(AllocationAssignment)
        .where(col(AllocationAssignment.run_id) == run.id)
        .order_by(col(AllocationAssignment.id))
    )
    munis = entry_filter(actor, run)
    if munis is not None:
        stmt = stmt.join(WaitlistEntry, col(WaitlistEntry.id) == col(AllocationAssignment.entry_id)).where(
            col(WaitlistEntry.municipality_ibge).in_(munis)
        )
    return list((await session.execute(stmt)).scalars())


async def record_assignments_read(session: AsyncSession, run: AllocationRun, entries: Sequence[WaitlistEntry]) -> None:
    """A run's assignments were shown (the API's detail, the page): one audit event naming the entries."""
    await record_list_read(
        session,
        "AllocationRun",
        [e.id for e in entries],
        entity_id=str(run.id),
        detail={"part": "assignments", "ids_are": "WaitlistEntry"},
        places=[(e.uf, e.municipality_ibge) for e in entries],
    )


async def read_instance(session: AsyncSession, run: AllocationRun) -> bytes:
    """The run's stored instance, as it is handed to someone (API, ``regula allocate --export``): it holds every
    resident of the scope, so the read is audited, naming every entry in it."""
    if run.instance_gz is None:
        raise Conflict(
            "A rodada ainda não foi calculada: a instância é montada quando o processo de tarefas a resolve.",
            code="rodada_sem_instancia",
            extra={"status": run.status},
        )
    data = gzip.decompress(run.instance_gz)
    entries = json.loads(data).get("entries", [])
    await record_list_read(
        session,
        "AllocationRun",
        [e["id"] for e in entries],
        entity_id=str(run.id),
        detail={"part": "instance", "ids_are": "WaitlistEntry", "scope": run.scope},
        even_if_empty=True,
    )
    return data


# -- the run's page: its assignments, a page at a time, and their totals -----------------------------------------


def _visible(actor: Actor, run: AllocationRun) -> ColumnElement[bool]:
    """The run's assignments ``actor`` sees: inside a run wider than their jurisdiction, their own residents'."""
    mine = col(AllocationAssignment.run_id) == run.id
    munis = entry_filter(actor, run)
    if munis is not None:
        residents = select(col(WaitlistEntry.id)).where(col(WaitlistEntry.municipality_ibge).in_(munis))
        mine = mine & col(AllocationAssignment.entry_id).in_(residents)
    return mine


async def count_assignments(session: AsyncSession, run: AllocationRun, actor: Actor) -> int:
    stmt = select(func.count()).select_from(AllocationAssignment).where(_visible(actor, run))
    return int((await session.execute(stmt)).scalar_one())


@dataclass(frozen=True)
class AssignmentRow:
    assignment: AllocationAssignment
    entry: WaitlistEntry
    slot: AgendaSlot
    establishment: Establishment
    citizen_name: str


async def assignment_page(
    session: AsyncSession, run: AllocationRun, actor: Actor, *, offset: int, limit: int
) -> list[AssignmentRow]:
    """The assignments ``actor`` sees, by appointment time, with the entry, the slot, the place and the name."""
    a, e, s, est = AllocationAssignment, WaitlistEntry, AgendaSlot, Establishment
    stmt = (
        select(a, e, s, est, col(Citizen.name))
        .join(e, col(e.id) == col(a.entry_id))
        .join(s, col(s.id) == col(a.slot_id))
        .join(est, col(est.cnes) == col(s.cnes))
        .join(Citizen, col(Citizen.id) == col(e.citizen_id))
        .where(_visible(actor, run))
        .order_by(col(s.starts_at), col(a.id))
        .offset(offset)
        .limit(limit)
    )
    return [AssignmentRow(*row) for row in (await session.execute(stmt)).all()]


async def assignments_by_municipality(session: AsyncSession, run: AllocationRun, actor: Actor) -> list[tuple[str, int]]:
    """(IBGE of residence, assignments) among those ``actor`` sees, most first."""
    a, e = AllocationAssignment, WaitlistEntry
    stmt = (
        select(col(e.municipality_ibge), func.count())
        .join(a, col(a.entry_id) == col(e.id))
        .where(_visible(actor, run))
        .group_by(col(e.municipality_ibge))
        .order_by(func.count().desc())
    )
    return [(ibge, n) for ibge, n in (await session.execute(stmt)).all()]


async def assignments_by_provider(
    session: AsyncSession, run: AllocationRun, actor: Actor
) -> list[tuple[str, str, str, int]]:
    """(CNES, name, IBGE, assignments) per establishment among those ``actor`` sees, most first."""
    a, s, est = AllocationAssignment, AgendaSlot, Establishment
    stmt = (
        select(col(est.cnes), col(est.name), col(est.municipality_ibge), func.count())
        .join(s, col(s.cnes) == col(est.cnes))
        .join(a, col(a.slot_id) == col(s.id))
        .where(_visible(actor, run))
        .group_by(col(est.cnes), col(est.name), col(est.municipality_ibge))
        .order_by(func.count().desc())
    )
    return [(cnes, name, ibge, n) for cnes, name, ibge, n in (await session.execute(stmt)).all()]


# -- the run's assignments as a list that scales (decision 23): sorted, filtered, paged by cursor ----------------

#: Why an assignment of a committed run was not booked (the run's ``counts["commit"]`` lists, by entry id).
CONFLICT_LISTS = {"entrada_alterada": "changed_entries", "vaga_ocupada": "slots_taken"}

ASSIGNMENT_SORTS = Sorts(
    keys=(
        SortKey("data", col(AgendaSlot.starts_at), datetime),
        SortKey(
            "km",
            func.coalesce(cast(col(AllocationAssignment.explanation)["travel_km"].astext, Integer), 0),
            int,
            descending_first=True,
        ),
        SortKey("prestador", col(Establishment.name), str),
        SortKey("protocolo", col(WaitlistEntry.protocol), str),
        SortKey("pontuacao", func.coalesce(WaitlistEntry.score, 0), int, descending_first=True),
    ),
    default="data",
    default_descending=False,
    tiebreak=col(AllocationAssignment.id),
)


@dataclass(frozen=True)
class AssignmentFilter:
    outcome: str | None = None  # proposta | efetivada | conflito
    conflict: str | None = None  # a key of CONFLICT_LISTS (implies outcome conflito)
    outside_region: bool = False


async def assignment_list(
    session: AsyncSession, run: AllocationRun, actor: Actor, f: AssignmentFilter, window: Window
) -> Slice[AssignmentRow]:
    """One window of the run's assignments ``actor`` sees, filtered (outcome, why not booked, outside the person's
    region), with the true total; the read is audited naming the entries shown."""
    a, e, s, est = AllocationAssignment, WaitlistEntry, AgendaSlot, Establishment
    base = (
        select(a, e, s, est, col(Citizen.name))
        .join(e, col(e.id) == col(a.entry_id))
        .join(s, col(s.id) == col(a.slot_id))
        .join(est, col(est.cnes) == col(s.cnes))
        .join(Citizen, col(Citizen.id) == col(e.citizen_id))
        .where(_visible(actor, run))
    )
    if f.outcome is not None:
        base = base.where(col(a.outcome) == f.outcome)
    if f.conflict is not None:
        listed = (run.counts.get("commit") or {}).get(CONFLICT_LISTS[f.conflict], [])
        base = base.where(col(a.outcome) == "conflito", col(a.entry_id).in_([int(i) for i in listed]))
    if f.outside_region:
        base = base.where(col(a.explanation)["outside_region"].astext == "true")
    found = await fetch(session, base, ASSIGNMENT_SORTS, window)
    rows = [AssignmentRow(*row[:5]) for row in found.rows]
    await record_assignments_read(session, run, [r.entry for r in rows])
    return found.map(rows)
