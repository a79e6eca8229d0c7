"""Queries of citizens scoped to the caller: ``readable(actor)`` is where the jurisdiction filter on ``citizen`` is
written (a citizen belongs to the municipality they live in)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.people.identification import INDIGENOUS, ISSUES
from regula.people.models import Citizen
from regula.territory.reference import search_key


def readable(actor: Actor) -> ColumnElement[bool]:
    """The citizens ``actor`` may see: residents of the municipalities of their jurisdiction."""
    allowed = actor.municipality_filter()
    if allowed is None:
        return true()
    return col(Citizen.municipality_ibge).in_(allowed)


def _issue_clause(issue: str) -> ColumnElement[bool]:
    # SAES art. 11 (people.identification.issue_of, as SQL); ISSUES has one code today.
    assert issue == "indigena_sem_cns"
    return and_(col(Citizen.race_color) == INDIGENOUS, col(Citizen.cns).is_(None))


@dataclass(frozen=True, slots=True)
class IdentificationIssues:
    rows: list[Citizen]
    total: int
    by_issue: dict[str, int]  # every issue code, over the whole filter (not just the page)


async def identification_issues(
    session: AsyncSession,
    actor: Actor,
    *,
    issue: str | None = None,
    municipality_ibge: str | None = None,
    order: str = "id",
    offset: int = 0,
    limit: int = 50,
) -> IdentificationIssues:
    """Citizens (not merged into another record) whose documents break SAES art. 11, in the actor's jurisdiction;
    filtered by issue and municipality, sorted by ``id``, ``name`` or ``municipality``, paged. The caller audits the
    read (``people.service.identification_report``): this module imports no audit, so ``readable`` can serve the
    audit domain's own queries."""
    issues = [issue] if issue in ISSUES else list(ISSUES)
    base = [readable(actor), col(Citizen.merged_into_id).is_(None)]
    if municipality_ibge:
        base.append(col(Citizen.municipality_ibge) == municipality_ibge)
    any_issue = or_(*(_issue_clause(i) for i in issues))
    sort = {
        "name": (col(Citizen.search_name), col(Citizen.id)),
        "municipality": (col(Citizen.municipality_ibge), col(Citizen.id)),
    }.get(order, (col(Citizen.id),))
    stmt = select(Citizen).where(*base, any_issue).order_by(*sort).offset(max(offset, 0)).limit(min(max(limit, 1), 500))
    rows = list((await session.execute(stmt)).scalars().all())
    by_issue: dict[str, int] = {}
    for code in ISSUES:
        counted = await session.execute(select(func.count()).select_from(Citizen).where(*base, _issue_clause(code)))
        by_issue[code] = int(counted.scalar_one())
    total = sum(by_issue[i] for i in issues)
    return IdentificationIssues(rows, total, by_issue)


async def citizens_matching(session: AsyncSession, actor: Actor, text: str, *, limit: int = 20) -> list[Citizen]:
    """The citizens ``actor`` may read whose CPF or CNS is ``text`` (digits, with or without punctuation), or
    whose name (or social name) contains it, accents and case aside (the auditor's search, issue 17 item 5)."""
    digits = "".join(ch for ch in text if ch.isdigit())
    stmt = select(Citizen).where(readable(actor))
    if digits and len(digits) == len("".join(text.split()).replace(".", "").replace("-", "")):
        stmt = stmt.where(or_(col(Citizen.cpf) == digits, col(Citizen.cns) == digits))
    else:
        key = search_key(text)
        if not key:
            return []
        stmt = stmt.where(col(Citizen.search_name).contains(key, autoescape=True))
    stmt = stmt.order_by(col(Citizen.search_name), col(Citizen.id)).limit(limit)
    return list((await session.execute(stmt)).scalars())
