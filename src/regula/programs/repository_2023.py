"""Queries of the 2023 queue-reduction plans, scoped to the caller (decision 0012).

A state plan belongs to a UF. A user *reads* the plans of the UF their jurisdiction lies in (a gestor or auditor of
``region:42001`` reads Santa Catarina's plan; a national user reads all); a plan outside answers "not found", as a
plan that does not exist. Who may *change* a plan (a gestor of the whole UF) is the service's rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.access.policy import Jurisdiction, JurisdictionKind
from regula.core.errors import NotFound
from regula.core.locks import lock_key
from regula.programs.models_2023 import QueuePlan2023, QueuePlan2023Item, QueuePlan2023Payment
from regula.territory.reference import UFS

_UF_BY_CODE = {code: sigla for sigla, (code, _name) in UFS.items()}


def jurisdiction_uf(j: Jurisdiction) -> str | None:
    """The UF a jurisdiction lies in; ``None`` for the national one and for an establishment's (a CNES code says
    nothing of its UF), which :func:`readable_ufs` tells apart."""
    match j.kind:
        case JurisdictionKind.UF:
            return j.code
        case JurisdictionKind.MACRO | JurisdictionKind.REGION | JurisdictionKind.MUNICIPALITY:
            return _UF_BY_CODE.get(j.code[:2])  # IBGE codes begin with the UF's code
        case _:
            return None


def readable_ufs(actor: Actor) -> frozenset[str] | None:
    """The UFs whose plans ``actor`` reads (``None``: all of them)."""
    if actor.jurisdiction.kind is JurisdictionKind.NATIONAL:
        return None
    uf = jurisdiction_uf(actor.jurisdiction)
    return frozenset({uf} if uf else set())


def can_read(actor: Actor, uf: str) -> bool:
    ufs = readable_ufs(actor)
    return ufs is None or uf in ufs


def _not_found(uf: str) -> NotFound:
    return NotFound(f"Plano estadual de redução das filas não encontrado para {uf}.", code="plano_nao_encontrado")


async def lock_uf(session: AsyncSession, uf: str) -> None:
    """Serialize changes to one UF's plan (new versions, approval, payments) until the transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(f"queue_plan_2023:{uf}")})


async def current_plan(session: AsyncSession, actor: Actor, uf: str, *, for_update: bool = False) -> QueuePlan2023:
    """The UF's plan in force (its newest version), if ``actor`` reads the UF; else NotFound."""
    plan = await current_plan_or_none(session, actor, uf, for_update=for_update)
    if plan is None:
        raise _not_found(uf)
    return plan


async def current_plan_or_none(
    session: AsyncSession, actor: Actor, uf: str, *, for_update: bool = False
) -> QueuePlan2023 | None:
    if not can_read(actor, uf):
        return None
    stmt = (
        select(QueuePlan2023)
        .where(col(QueuePlan2023.uf) == uf, col(QueuePlan2023.status) != "substituido")
        .order_by(col(QueuePlan2023.version).desc())
        .limit(1)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def plan_version(session: AsyncSession, actor: Actor, uf: str, version: int) -> QueuePlan2023:
    if not can_read(actor, uf):
        raise _not_found(uf)
    stmt = select(QueuePlan2023).where(col(QueuePlan2023.uf) == uf, col(QueuePlan2023.version) == version)
    plan = (await session.execute(stmt)).scalar_one_or_none()
    if plan is None:
        raise NotFound(f"Versão {version} do plano de {uf} não encontrada.", code="versao_nao_encontrada")
    return plan


async def versions(session: AsyncSession, actor: Actor, uf: str) -> list[QueuePlan2023]:
    if not can_read(actor, uf):
        return []
    stmt = select(QueuePlan2023).where(col(QueuePlan2023.uf) == uf).order_by(col(QueuePlan2023.version))
    return list((await session.execute(stmt)).scalars())


async def last_version_number(session: AsyncSession, uf: str) -> int:
    """The highest version number of the UF's plans (0 when there is none); for the service creating the next."""
    stmt = select(func.coalesce(func.max(QueuePlan2023.version), 0)).where(col(QueuePlan2023.uf) == uf)
    return int((await session.execute(stmt)).scalar_one())


async def current_plans(session: AsyncSession, actor: Actor) -> dict[str, QueuePlan2023]:
    """The plans in force of the UFs ``actor`` reads, by UF."""
    stmt = select(QueuePlan2023).where(col(QueuePlan2023.status) != "substituido")
    ufs = readable_ufs(actor)
    if ufs is not None:
        stmt = stmt.where(col(QueuePlan2023.uf).in_(sorted(ufs)))
    result: dict[str, QueuePlan2023] = {}
    for plan in (await session.execute(stmt.order_by(col(QueuePlan2023.version)))).scalars():
        result[plan.uf] = plan  # the newest version wins
    return result


async def items(session: AsyncSession, plan: QueuePlan2023) -> list[QueuePlan2023Item]:
    stmt = (
        select(QueuePlan2023Item)
        .where(col(QueuePlan2023Item.plan_id) == plan.id)
        .order_by(col(QueuePlan2023Item.procedure_code), col(QueuePlan2023Item.cnes))
    )
    return list((await session.execute(stmt)).scalars())


async def payments(session: AsyncSession, actor: Actor, uf: str) -> list[QueuePlan2023Payment]:
    if not can_read(actor, uf):
        return []
    stmt = (
        select(QueuePlan2023Payment)
        .where(col(QueuePlan2023Payment.uf) == uf)
        .order_by(col(QueuePlan2023Payment.paid_on), col(QueuePlan2023Payment.id))
    )
    return list((await session.execute(stmt)).scalars())


async def payments_of(session: AsyncSession, actor: Actor, ufs: Sequence[str]) -> list[QueuePlan2023Payment]:
    wanted = [uf for uf in ufs if can_read(actor, uf)]
    if not wanted:
        return []
    stmt = select(QueuePlan2023Payment).where(col(QueuePlan2023Payment.uf).in_(wanted))
    return list((await session.execute(stmt)).scalars())
