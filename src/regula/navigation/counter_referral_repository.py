"""The counter-referrals' queries, scoped to the caller, for the API and the pages alike (issue 16, decision 21).

``counter_referrals_readable(actor)`` is the only place the jurisdiction filter on ``counter_referral`` is written:
territorial users see the counter-referrals of residents of the municipalities they cover; a user scoped to one
establishment (``cnes:``) sees those delivered to it. Lists show names, so each list read is audited here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.access.policy import JurisdictionKind
from regula.audit.service import record_list_read
from regula.navigation.models import CounterReferral
from regula.people.models import Citizen
from regula.territory.reference import search_key
from regula.waitlist.models import WaitlistEntry


def counter_referrals_readable(actor: Actor) -> ColumnElement[bool]:
    """The counter-referrals ``actor`` may see: those of residents of the municipalities in their jurisdiction; for
    a user scoped to one establishment (``cnes:``), those delivered to that establishment."""
    if actor.jurisdiction.kind is JurisdictionKind.CNES:
        return col(CounterReferral.recipient_cnes) == actor.jurisdiction.code
    allowed = actor.municipality_filter()
    if allowed is None:
        return true()
    return col(CounterReferral.municipality_ibge).in_(allowed)


@dataclass(frozen=True)
class CounterReferralFilter:
    read: bool | None = None  # None: all; False: unread only; True: read only
    oci: str | None = None
    cnes: str | None = None  # the receiving establishment
    text: str | None = None  # a protocol, or part of the citizen's name


@dataclass(frozen=True)
class CounterReferralRow:
    counter_referral: CounterReferral
    protocol: str
    citizen_name: str
    birth_date: date


def _counter_referral_conditions(actor: Actor, f: CounterReferralFilter) -> list[ColumnElement[bool]]:
    cr, c, e = CounterReferral, Citizen, WaitlistEntry
    where: list[ColumnElement[bool]] = [counter_referrals_readable(actor)]
    if f.read is not None:
        where.append(col(cr.read_at).is_not(None) if f.read else col(cr.read_at).is_(None))
    if f.oci:
        where.append(col(cr.oci_code) == f.oci)
    if f.cnes:
        where.append(col(cr.recipient_cnes) == f.cnes)
    if f.text:
        term = f.text.strip()
        if term.upper().isalnum() and any(ch.isdigit() for ch in term):
            where.append(col(e.protocol) == term.upper())
        else:
            where.append(col(c.search_name).contains(search_key(term)))
    return where


def _counter_referral_base() -> Any:
    cr, c, e = CounterReferral, Citizen, WaitlistEntry
    return (
        select(cr, col(e.protocol), col(c.name), col(c.social_name), col(c.birth_date))
        .join(c, col(c.id) == col(cr.citizen_id))
        .join(e, col(e.id) == col(cr.entry_id))
    )


async def count_counter_referrals(session: AsyncSession, actor: Actor, f: CounterReferralFilter) -> int:
    cr, c, e = CounterReferral, Citizen, WaitlistEntry
    stmt = (
        select(func.count())
        .select_from(cr)
        .join(c, col(c.id) == col(cr.citizen_id))
        .join(e, col(e.id) == col(cr.entry_id))
        .where(*_counter_referral_conditions(actor, f))
    )
    return int((await session.execute(stmt)).scalar_one())


#: The orders of the APS worklist: newest first (default), oldest first, unread first then oldest.
COUNTER_REFERRAL_ORDERS = ("recentes", "antigas", "nao_lidas")


async def list_counter_referrals(
    session: AsyncSession,
    actor: Actor,
    f: CounterReferralFilter,
    *,
    order: str = "recentes",
    offset: int = 0,
    limit: int = 50,
) -> list[CounterReferralRow]:
    """One page of the counter-referrals ``actor`` may see (the read is audited: the list shows names)."""
    cr = CounterReferral
    ordering: list[Any]
    match order:
        case "antigas":
            ordering = [col(cr.sent_at), col(cr.id)]
        case "nao_lidas":
            ordering = [col(cr.read_at).desc().nulls_first(), col(cr.sent_at), col(cr.id)]
        case _:
            ordering = [col(cr.sent_at).desc(), col(cr.id).desc()]
    stmt = (
        _counter_referral_base()
        .where(*_counter_referral_conditions(actor, f))
        .order_by(*ordering)
        .offset(offset)
        .limit(limit)
    )
    rows = [
        CounterReferralRow(x, protocol, social or name, born)
        for x, protocol, name, social, born in (await session.execute(stmt)).all()
    ]
    await record_list_read(
        session,
        "CounterReferral",
        [r.counter_referral.id for r in rows],
        places=[(r.counter_referral.uf, r.counter_referral.municipality_ibge) for r in rows],
    )
    return rows


async def counter_referral_row(
    session: AsyncSession, actor: Actor, counter_referral_id: int
) -> CounterReferralRow | None:
    """One counter-referral, if ``actor`` may see it (not audited here: the service audits the read)."""
    stmt = _counter_referral_base().where(
        col(CounterReferral.id) == counter_referral_id, counter_referrals_readable(actor)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    x, protocol, name, social, born = row
    return CounterReferralRow(x, protocol, social or name, born)


async def counter_referrals_of_entry(session: AsyncSession, actor: Actor, entry_id: int) -> list[CounterReferral]:
    """The counter-referrals of one entry that ``actor`` may see (shown on the referral's page)."""
    stmt = (
        select(CounterReferral)
        .where(col(CounterReferral.entry_id) == entry_id, counter_referrals_readable(actor))
        .order_by(col(CounterReferral.id))
    )
    return list((await session.execute(stmt)).scalars().all())


async def count_unread_counter_referrals(session: AsyncSession, actor: Actor) -> int:
    return await count_counter_referrals(session, actor, CounterReferralFilter(read=False))
