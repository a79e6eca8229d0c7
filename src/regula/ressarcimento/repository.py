"""The Ressarcimento queries, scoped to the caller, for the API, the pages, the CLI and the services alike.

Who reaches an operator (decision 0018):

* *reads* (``readable``): a national user; a state user when the operator was registered by that state's ente
  (``operator.uf``) or has a unit in it; anyone else when at least one of the operator's units lies in their
  jurisdiction (a municipality, a health region, their own establishment);
* *manages* (``manageable``; the role is the route's business — gestor, auditors only read): a national user, a state
  user of the operator's UF, or a user whose jurisdiction holds every active unit of the operator (a municipal ente
  attesting the production of operators serving only in it).

An operator a user cannot read answers "not found", exactly as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.access.policy import JurisdictionKind
from regula.core.errors import NotFound, PermissionDenied
from regula.production.models import AuthorizationNumber, ProductionRecord
from regula.providers.models import Establishment
from regula.ressarcimento.models import (
    AnnualMaximum,
    Attestation,
    AttestedItem,
    MatrixItem,
    Operator,
    OperatorStep,
    OperatorUnit,
    Sanction,
)
from regula.territory.reference import territory

OPERATOR_SORTS: Final[dict[str, Any]] = {
    "nome": col(Operator.name),
    "ans": col(Operator.ans_registration),
    "situacao": col(Operator.status),
    "porte": col(Operator.size),
    "desde": col(Operator.status_since),
}


def _covered_cnes(actor: Actor) -> Select[Any] | None:
    """The establishments inside the actor's jurisdiction, as a subquery; None for everything (national)."""
    j = actor.jurisdiction
    if j.kind is JurisdictionKind.NATIONAL:
        return None
    if j.kind is JurisdictionKind.CNES:
        return select(col(Establishment.cnes)).where(col(Establishment.cnes) == j.code)
    munis = [m.ibge_code for m in territory().all() if j.covers_place(m)]
    return select(col(Establishment.cnes)).where(col(Establishment.municipality_ibge).in_(munis or [""]))


def readable_filter(actor: Actor) -> ColumnElement[bool] | None:
    covered = _covered_cnes(actor)
    if covered is None:
        return None
    has_unit = exists(
        select(col(OperatorUnit.cnes)).where(
            col(OperatorUnit.operator_id) == col(Operator.id),
            col(OperatorUnit.active),
            col(OperatorUnit.cnes).in_(covered),
        )
    )
    if actor.jurisdiction.kind is JurisdictionKind.UF:
        return (col(Operator.uf) == actor.jurisdiction.code) | has_unit
    return has_unit


def readable(actor: Actor) -> Select[Operator]:
    """Every operator ``actor`` may read."""
    stmt = select(Operator)
    where = readable_filter(actor)
    return stmt if where is None else stmt.where(where)


def covers_uf(actor: Actor, uf: str) -> bool:
    j = actor.jurisdiction
    return j.kind is JurisdictionKind.NATIONAL or (j.kind is JurisdictionKind.UF and j.code == uf)


async def units_of(session: AsyncSession, operator_id: int, *, active_only: bool = True) -> list[UnitRow]:
    stmt = (
        select(OperatorUnit, Establishment)
        .join(Establishment, col(Establishment.cnes) == col(OperatorUnit.cnes))
        .where(col(OperatorUnit.operator_id) == operator_id)
        .order_by(col(Establishment.name))
    )
    if active_only:
        stmt = stmt.where(col(OperatorUnit.active))
    return [UnitRow(u, e) for u, e in (await session.execute(stmt)).all()]


@dataclass(frozen=True)
class UnitRow:
    unit: OperatorUnit
    establishment: Establishment


async def manageable(session: AsyncSession, actor: Actor, operator: Operator) -> bool:
    if covers_uf(actor, operator.uf):
        return True
    units = await units_of(session, operator.id or 0)
    t = territory()
    return bool(units) and all(
        actor.jurisdiction.covers_place(t.municipality(u.establishment.municipality_ibge), u.establishment.cnes)
        for u in units
    )


async def operator_for(
    session: AsyncSession, actor: Actor, operator_id: int, *, managing: bool = False, for_update: bool = False
) -> Operator:
    """The operator, if ``actor`` reads it (and, with ``managing``, manages it); else NotFound / PermissionDenied."""
    stmt = readable(actor).where(col(Operator.id) == operator_id)
    if for_update:
        stmt = stmt.with_for_update(of=Operator)
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise NotFound("Operadora não encontrada.", code="operadora_nao_encontrada")
    if managing and not await manageable(session, actor, found):
        raise PermissionDenied(
            f"A operadora tem unidades fora da sua jurisdição ({actor.jurisdiction}); quem cobre todas elas (ou a UF "
            "do ente) a gerencia.",
            code="operadora_alem_da_jurisdicao",
        )
    return found


@dataclass(frozen=True)
class OperatorQuery:
    q: str | None = None  # name or ANS registration
    status: str | None = None
    size: str | None = None
    sort: str = "nome"
    descending: bool = False
    offset: int = 0
    limit: int = 50


async def list_operators(session: AsyncSession, actor: Actor, query: OperatorQuery) -> tuple[list[Operator], int]:
    stmt = readable(actor)
    if query.q:
        like = f"%{query.q.strip()}%"
        stmt = stmt.where(col(Operator.name).ilike(like) | col(Operator.ans_registration).ilike(like))
    if query.status:
        stmt = stmt.where(col(Operator.status) == query.status)
    if query.size:
        stmt = stmt.where(col(Operator.size) == query.size)
    total = int((await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one())
    order = OPERATOR_SORTS.get(query.sort, OPERATOR_SORTS["nome"])
    stmt = stmt.order_by(order.desc() if query.descending else order.asc(), col(Operator.id))
    rows = (await session.execute(stmt.offset(query.offset).limit(query.limit))).scalars()
    return list(rows), total


async def all_readable_operators(session: AsyncSession, actor: Actor) -> list[Operator]:
    stmt = readable(actor).order_by(col(Operator.name), col(Operator.id))
    return list((await session.execute(stmt)).scalars())


async def by_ans(session: AsyncSession, ans_registration: str) -> Operator | None:
    stmt = select(Operator).where(col(Operator.ans_registration) == ans_registration)
    return (await session.execute(stmt)).scalar_one_or_none()


async def steps_of(session: AsyncSession, operator_id: int) -> list[OperatorStep]:
    stmt = select(OperatorStep).where(col(OperatorStep.operator_id) == operator_id).order_by(col(OperatorStep.id))
    return list((await session.execute(stmt)).scalars())


async def annual_max(session: AsyncSession, operator_id: int, year: int) -> AnnualMaximum | None:
    return await session.get(AnnualMaximum, (operator_id, year))


async def annual_maxima(session: AsyncSession, operator_id: int) -> list[AnnualMaximum]:
    stmt = (
        select(AnnualMaximum)
        .where(col(AnnualMaximum.operator_id) == operator_id)
        .order_by(col(AnnualMaximum.year).desc())
    )
    return list((await session.execute(stmt)).scalars())


async def matrix_of(session: AsyncSession, operator_id: int, *, active_only: bool = True) -> list[MatrixItem]:
    stmt = (
        select(MatrixItem)
        .where(col(MatrixItem.operator_id) == operator_id)
        .order_by(col(MatrixItem.cnes), col(MatrixItem.component), col(MatrixItem.procedure_code), col(MatrixItem.id))
    )
    if active_only:
        stmt = stmt.where(col(MatrixItem.active))
    return list((await session.execute(stmt)).scalars())


async def matrix_item(session: AsyncSession, operator_id: int, item_id: int, *, for_update: bool = False) -> MatrixItem:
    stmt = select(MatrixItem).where(col(MatrixItem.id) == item_id, col(MatrixItem.operator_id) == operator_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise NotFound("Item da matriz de oferta não encontrado.", code="item_matriz_nao_encontrado")
    return found


async def unit_of(session: AsyncSession, operator_id: int, cnes: str) -> OperatorUnit | None:
    return await session.get(OperatorUnit, (operator_id, cnes))


async def attestations_of(
    session: AsyncSession, operator_id: int, *, year: int | None = None, until: str | None = None
) -> list[Attestation]:
    stmt = select(Attestation).where(col(Attestation.operator_id) == operator_id)
    if year is not None:
        stmt = stmt.where(col(Attestation.competencia).startswith(str(year)))
    if until is not None:
        stmt = stmt.where(col(Attestation.competencia) <= until)
    return list((await session.execute(stmt.order_by(col(Attestation.competencia)))).scalars())


async def attestation(
    session: AsyncSession, operator_id: int, competencia: str, *, for_update: bool = False
) -> Attestation | None:
    stmt = select(Attestation).where(
        col(Attestation.operator_id) == operator_id, col(Attestation.competencia) == competencia
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def attested_items(session: AsyncSession, attestation_ids: Sequence[int]) -> dict[int, list[AttestedItem]]:
    out: dict[int, list[AttestedItem]] = {i: [] for i in attestation_ids}
    if not attestation_ids:
        return out
    stmt = (
        select(AttestedItem)
        .where(col(AttestedItem.attestation_id).in_(attestation_ids))
        .order_by(col(AttestedItem.attestation_id), col(AttestedItem.seq))
    )
    for item in (await session.execute(stmt)).scalars():
        out[item.attestation_id].append(item)
    return out


async def attested_record_ids(session: AsyncSession, record_ids: Sequence[int]) -> set[int]:
    """Production lines already counted by some attestation (a line is counted once)."""
    if not record_ids:
        return set()
    stmt = select(col(AttestedItem.production_record_id)).where(col(AttestedItem.production_record_id).in_(record_ids))
    return {int(r) for r in (await session.execute(stmt)).scalars()}


@dataclass(frozen=True)
class AttestationQuery:
    operator_id: int | None = None
    competencia: str | None = None
    status: str | None = None
    below_90: bool = False
    sort: str = "competencia"
    descending: bool = True
    offset: int = 0
    limit: int = 50


ATTESTATION_SORTS: Final[dict[str, Any]] = {
    "competencia": col(Attestation.competencia),
    "operadora": col(Operator.name),
    "execucao": col(Attestation.execution_pct),
    "cor": col(Attestation.expected_cor_brl),
    "multa": col(Attestation.fine_brl),
}


async def list_attestations(
    session: AsyncSession, actor: Actor, query: AttestationQuery
) -> tuple[list[tuple[Attestation, Operator]], int]:
    stmt = select(Attestation, Operator).join(Operator, col(Operator.id) == col(Attestation.operator_id))
    where = readable_filter(actor)
    if where is not None:
        stmt = stmt.where(where)
    if query.operator_id is not None:
        stmt = stmt.where(col(Attestation.operator_id) == query.operator_id)
    if query.competencia:
        stmt = stmt.where(col(Attestation.competencia) == query.competencia)
    if query.status:
        stmt = stmt.where(col(Attestation.status) == query.status)
    if query.below_90:
        stmt = stmt.where(col(Attestation.months_below_90) > 0)
    total = int((await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one())
    order = ATTESTATION_SORTS.get(query.sort, ATTESTATION_SORTS["competencia"])
    stmt = stmt.order_by(order.desc() if query.descending else order.asc(), col(Attestation.id).desc())
    rows = (await session.execute(stmt.offset(query.offset).limit(query.limit))).all()
    return [(a, o) for a, o in rows], total


@dataclass(frozen=True)
class SanctionQuery:
    operator_id: int | None = None
    status: str | None = None
    kind: str | None = None
    sort: str = "competencia"
    descending: bool = True
    offset: int = 0
    limit: int = 50


SANCTION_SORTS: Final[dict[str, Any]] = {
    "competencia": col(Sanction.competencia),
    "operadora": col(Operator.name),
    "valor": col(Sanction.amount_brl),
    "prazo": col(Sanction.challenge_deadline),
    "situacao": col(Sanction.status),
}


async def list_sanctions(
    session: AsyncSession, actor: Actor, query: SanctionQuery
) -> tuple[list[tuple[Sanction, Operator]], int]:
    stmt = select(Sanction, Operator).join(Operator, col(Operator.id) == col(Sanction.operator_id))
    where = readable_filter(actor)
    if where is not None:
        stmt = stmt.where(where)
    if query.operator_id is not None:
        stmt = stmt.where(col(Sanction.operator_id) == query.operator_id)
    if query.status:
        stmt = stmt.where(col(Sanction.status) == query.status)
    if query.kind:
        stmt = stmt.where(col(Sanction.kind) == query.kind)
    total = int((await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one())
    order = SANCTION_SORTS.get(query.sort, SANCTION_SORTS["competencia"])
    stmt = stmt.order_by(order.desc() if query.descending else order.asc(), col(Sanction.id).desc())
    rows = (await session.execute(stmt.offset(query.offset).limit(query.limit))).all()
    return [(s, o) for s, o in rows], total


async def sanction_for(session: AsyncSession, actor: Actor, sanction_id: int, *, for_update: bool = False) -> Sanction:
    stmt = select(Sanction).join(Operator, col(Operator.id) == col(Sanction.operator_id))
    where = readable_filter(actor)
    if where is not None:
        stmt = stmt.where(where)
    stmt = stmt.where(col(Sanction.id) == sanction_id)
    if for_update:
        stmt = stmt.with_for_update(of=Sanction)
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise NotFound("Sanção não encontrada.", code="sancao_nao_encontrada")
    return found


async def sanction_of_attestation(session: AsyncSession, attestation_id: int) -> Sanction | None:
    stmt = select(Sanction).where(col(Sanction.attestation_id) == attestation_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def open_sanctions_due(session: AsyncSession, actor: Actor, deadline_before: date) -> list[Sanction]:
    """Notified sanctions whose challenge window ended before ``deadline_before`` without a challenge."""
    stmt = select(Sanction).join(Operator, col(Operator.id) == col(Sanction.operator_id))
    where = readable_filter(actor)
    if where is not None:
        stmt = stmt.where(where)
    stmt = stmt.where(col(Sanction.status) == "notificada", col(Sanction.challenge_deadline) < deadline_before)
    return list((await session.execute(stmt.with_for_update(of=Sanction))).scalars())


async def production_of_units(
    session: AsyncSession, cnes: Sequence[str], competencia: str, codes: Sequence[str]
) -> list[ProductionRecord]:
    """The production lines of these units in the competência whose procedure is in the matrix, in the order
    production control reads them (date, then line)."""
    if not cnes or not codes:
        return []
    stmt = (
        select(ProductionRecord)
        .where(
            col(ProductionRecord.competencia) == competencia,
            col(ProductionRecord.cnes).in_(list(cnes)),
            col(ProductionRecord.procedure_code).in_(list(codes)),
        )
        .order_by(col(ProductionRecord.performed_on), col(ProductionRecord.id))
    )
    return list((await session.execute(stmt)).scalars())


async def active_authorizations(session: AsyncSession, numbers: Sequence[str]) -> dict[str, AuthorizationNumber]:
    """The regulated authorization numbers (issued or recorded by regula, still active) among ``numbers``."""
    if not numbers:
        return {}
    stmt = select(AuthorizationNumber).where(
        col(AuthorizationNumber.number).in_(list(numbers)), col(AuthorizationNumber.status) == "ativa"
    )
    return {n.number: n for n in (await session.execute(stmt)).scalars()}
