"""The teleconsultoria's queries, scoped to the caller: the teleconsultor's worklist (referrals waiting in
``aguardando_teleconsulta`` in their jurisdiction), the answers, and the late ones for the navigators' sweep.

Jurisdiction is the waitlist's (``waitlist.repository.readable``): residents of the municipalities the actor
covers. Lists show names, so each list read is audited here, for the API and the pages alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.audit.service import record_list_read
from regula.people.models import Citizen
from regula.people.service import born_by
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.repository import readable
from regula.waitlist.states import EntryStatus
from regula.waitlist.teleconsultation_models import TeleconsultationAnswer

WAITING: Final = EntryStatus.AGUARDANDO_TELECONSULTA.value
#: The worklist's orders: the longest waiting first (the default: the response clock), the newest first, by OCI,
#: the oldest citizen first.
ORDERS: Final = ("espera", "recentes", "oci", "idade")


@dataclass(frozen=True)
class WorklistFilter:
    oci: str | None = None
    municipality: str | None = None
    age_min: int | None = None  # years, on ``today``
    age_max: int | None = None
    today: date | None = None


@dataclass(frozen=True)
class WaitingReferral:
    entry: WaitlistEntry
    citizen: Citizen


def _conditions(actor: Actor, f: WorklistFilter) -> list[ColumnElement[bool]]:
    e, c = WaitlistEntry, Citizen
    where: list[ColumnElement[bool]] = [readable(actor), col(e.status) == WAITING]
    if f.oci:
        where.append(col(e.oci_code) == f.oci)
    if f.municipality:
        where.append(col(e.municipality_ibge) == f.municipality)
    if f.today is not None and f.age_min is not None:
        where.append(col(c.birth_date) <= born_by(f.today, f.age_min))
    if f.today is not None and f.age_max is not None:
        where.append(col(c.birth_date) > born_by(f.today, f.age_max + 1))
    return where


def _order(order: str) -> list[object]:
    e, c = WaitlistEntry, Citizen
    match order:
        case "recentes":
            return [col(e.status_changed_at).desc(), col(e.id).desc()]
        case "oci":
            return [col(e.oci_code), col(e.status_changed_at), col(e.id)]
        case "idade":
            return [col(c.birth_date), col(e.status_changed_at), col(e.id)]
        case _:
            return [col(e.status_changed_at), col(e.id)]


async def count_waiting(session: AsyncSession, actor: Actor, f: WorklistFilter) -> int:
    e, c = WaitlistEntry, Citizen
    stmt = select(func.count()).select_from(e).join(c, col(c.id) == col(e.citizen_id)).where(*_conditions(actor, f))
    return int((await session.execute(stmt)).scalar_one())


async def list_waiting(
    session: AsyncSession, actor: Actor, f: WorklistFilter, *, order: str = "espera", offset: int = 0, limit: int = 50
) -> list[WaitingReferral]:
    """One page of the referrals waiting for teleconsultoria that ``actor`` may see (audited list read)."""
    e, c = WaitlistEntry, Citizen
    stmt = (
        select(e, c)
        .join(c, col(c.id) == col(e.citizen_id))
        .where(*_conditions(actor, f))
        .order_by(*_order(order))  # type: ignore[arg-type]
        .offset(offset)
        .limit(limit)
    )
    rows = [WaitingReferral(entry, citizen) for entry, citizen in (await session.execute(stmt)).all()]
    await record_list_read(
        session,
        "WaitlistEntry",
        [r.entry.id for r in rows],
        places=[(r.entry.uf, r.entry.municipality_ibge) for r in rows],
    )
    return rows


async def waiting_ocis(session: AsyncSession, actor: Actor) -> list[tuple[str, int]]:
    """The OCIs with referrals waiting in ``actor``'s territory, with how many (the worklist's OCI filter)."""
    e = WaitlistEntry
    stmt = (
        select(col(e.oci_code), func.count())
        .where(readable(actor), col(e.status) == WAITING)
        .group_by(col(e.oci_code))
        .order_by(col(e.oci_code))
    )
    return [(str(code), int(n)) for code, n in (await session.execute(stmt)).all()]


async def answer_of(session: AsyncSession, entry_id: int) -> TeleconsultationAnswer | None:
    """The answer to one referral (the caller has already checked the referral is the actor's to read)."""
    stmt = select(TeleconsultationAnswer).where(col(TeleconsultationAnswer.entry_id) == entry_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def answers_by_entry(session: AsyncSession, entry_ids: Sequence[int]) -> dict[int, TeleconsultationAnswer]:
    if not entry_ids:
        return {}
    stmt = select(TeleconsultationAnswer).where(col(TeleconsultationAnswer.entry_id).in_(list(entry_ids)))
    return {a.entry_id: a for a in (await session.execute(stmt)).scalars()}


@dataclass(frozen=True)
class LateReferral:
    entry_id: int
    oci_code: str
    protocol: str
    waiting_since: datetime


async def late_referrals(session: AsyncSession, waited_since_before: datetime, limit: int = 5000) -> list[LateReferral]:
    """Every referral still waiting for teleconsultoria that started waiting before ``waited_since_before`` (the
    jobs process's sweep: the system reads everything, nobody's jurisdiction applies)."""
    e = WaitlistEntry
    stmt = (
        select(col(e.id), col(e.oci_code), col(e.protocol), col(e.status_changed_at))
        .where(col(e.status) == WAITING, col(e.status_changed_at) < waited_since_before)
        .order_by(col(e.status_changed_at), col(e.id))
        .limit(limit)
    )
    return [LateReferral(int(i or 0), str(o), str(p), s) for i, o, p, s in (await session.execute(stmt)).all()]
