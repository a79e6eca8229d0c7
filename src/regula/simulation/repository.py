"""Which simulation runs a user reaches, in one place for the pages and the services.

A run is stored with the jurisdiction of the gestor who asked (``scope``) and is *readable* by a user whose
jurisdiction shares at least one municipality with it (as allocation runs, ``allocation.repository``). A run a user
cannot read answers "not found", exactly as one that does not exist. Runs hold no personal data.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.access.policy import Jurisdiction, JurisdictionKind
from regula.core.errors import NotFound
from regula.simulation.models import RUN_STATUSES, SimulationRun
from regula.territory.reference import territory

SORTS: Final[dict[str, tuple[ColumnElement[Any], ...]]] = {
    "recentes": (col(SimulationRun.id).desc(),),
    "antigas": (col(SimulationRun.id).asc(),),
    "nome": (col(SimulationRun.name).asc(), col(SimulationRun.id).desc()),
    "situacao": (col(SimulationRun.status).asc(), col(SimulationRun.id).desc()),
}


@functools.lru_cache(maxsize=512)
def municipalities(j: Jurisdiction) -> frozenset[str]:
    return frozenset(m.ibge_code for m in territory().all() if j.covers_place(m))


def readable_scopes(j: Jurisdiction) -> list[str] | None:
    """Every jurisdiction sharing a municipality with ``j`` that a run may be stored with (``None``: all): the
    containers of ``j``'s municipalities (the country, their UF, macro-region, health region, municipality)."""
    if j.kind is JurisdictionKind.NATIONAL:
        return None
    munis = municipalities(j)
    if not munis:
        return []
    t = territory()
    scopes: set[str] = {"br"}
    for code in munis:
        m = t.municipality(code)
        scopes |= {f"uf:{m.uf}", f"macro:{m.macro_code}", f"municipality:{m.ibge_code}"}
        if m.health_region_code:
            scopes.add(f"region:{m.health_region_code}")
    return sorted(scopes)


def _readable(actor: Actor) -> Select[Any]:
    stmt = select(SimulationRun)
    scopes = readable_scopes(actor.jurisdiction)
    if scopes is not None:
        stmt = stmt.where(col(SimulationRun.scope).in_(scopes))
    return stmt


@dataclass(frozen=True)
class Listing:
    runs: list[SimulationRun]
    total: int


async def list_runs(
    session: AsyncSession, actor: Actor, *, status: str | None, sort: str, offset: int, limit: int
) -> Listing:
    stmt = _readable(actor)
    if status in RUN_STATUSES:
        stmt = stmt.where(col(SimulationRun.status) == status)
    total = int((await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one())
    ordered = stmt.order_by(*SORTS.get(sort, SORTS["recentes"])).offset(offset).limit(limit)
    return Listing(list((await session.execute(ordered)).scalars()), total)


async def run_for(session: AsyncSession, run_id: int, actor: Actor) -> SimulationRun:
    run = (await session.execute(_readable(actor).where(col(SimulationRun.id) == run_id))).scalar_one_or_none()
    if not isinstance(run, SimulationRun):
        raise NotFound("Simulação não encontrada.", code="simulacao_nao_encontrada")
    return run


async def get(session: AsyncSession, run_id: int, *, for_update: bool = False) -> SimulationRun | None:
    stmt = select(SimulationRun).where(col(SimulationRun.id) == run_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def any_waiting(session: AsyncSession) -> bool:
    stmt = select(col(SimulationRun.id)).where(col(SimulationRun.status).in_(("na_fila", "simulando"))).limit(1)
    return (await session.execute(stmt)).first() is not None


async def next_queued(session: AsyncSession) -> SimulationRun | None:
    stmt = (
        select(SimulationRun)
        .where(col(SimulationRun.status) == "na_fila")
        .order_by(col(SimulationRun.id))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def running(session: AsyncSession) -> list[SimulationRun]:
    stmt = (
        select(SimulationRun)
        .where(col(SimulationRun.status) == "simulando")
        .order_by(col(SimulationRun.id))
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())


async def add(session: AsyncSession, run: SimulationRun) -> SimulationRun:
    session.add(run)
    await session.flush()
    return run
