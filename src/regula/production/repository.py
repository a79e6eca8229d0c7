"""Production's list queries, scoped to the caller (decision 12): the OCIs in care or concluded, paged by cursor,
sorted and filtered (issue 17 item 1, decision 23: ``/producao`` had stopped at 300 rows without saying so).

Who sees what is ``readable(actor)``: an establishment's user (``cnes:`` jurisdiction) the executions at that
establishment and the entries booked there; everyone else the entries of residents of their jurisdiction
(``waitlist.repository.readable``), as ``production.execution.list_in_care`` has always done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.access.policy import JurisdictionKind
from regula.audit.service import record_list_read
from regula.db.listing import Slice, SortKey, Sorts, Window, fetch
from regula.people.models import Citizen
from regula.production.models import OciExecution
from regula.providers.models import AgendaSlot, SlotBooking
from regula.waitlist import repository as waitlist_repo
from regula.waitlist.models import WaitlistEntry

_NO_DATE = date(9999, 12, 31)


def readable(actor: Actor) -> ColumnElement[bool]:
    """The entries in care ``actor`` may see (the query joins ``oci_execution`` outer)."""
    if actor.jurisdiction.kind is JurisdictionKind.CNES:
        code = actor.jurisdiction.code
        booked = (
            select(col(SlotBooking.entry_id))
            .join(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
            .where(col(AgendaSlot.cnes) == code)
        )
        return (col(OciExecution.cnes) == code) | col(WaitlistEntry.id).in_(booked)
    return waitlist_repo.readable(actor)


@dataclass(frozen=True)
class CareFilter:
    status: str = "em_atendimento"  # or "concluida"
    oci: str | None = None
    municipality: str | None = None
    municipalities: tuple[str, ...] | None = None  # a health region's
    cnes: str | None = None  # the executing establishment


@dataclass(frozen=True)
class CareRow:
    entry: WaitlistEntry
    citizen_name: str
    execution: OciExecution | None


#: ``/producao``'s sort keys: the first procedure (default: the oldest clocks first), the last change of status
#: (the latest conclusions), the OCI, the protocol, the citizen; each followed by the entry's id.
CARE_SORTS = Sorts(
    keys=(
        SortKey("inicio", func.coalesce(col(OciExecution.first_on), _NO_DATE), date),
        SortKey("atualizacao", col(WaitlistEntry.status_changed_at), datetime, descending_first=True),
        SortKey("oci", col(WaitlistEntry.oci_code), str),
        SortKey("protocolo", col(WaitlistEntry.protocol), str),
        SortKey("cidadao", col(Citizen.search_name), str),
    ),
    default="inicio",
    default_descending=False,
    tiebreak=col(WaitlistEntry.id),
)


async def in_care_page(session: AsyncSession, actor: Actor, f: CareFilter, window: Window) -> Slice[CareRow]:
    """One window of the entries in care (or concluded) ``actor`` may see, with the true total; audited (names)."""
    e = WaitlistEntry
    base = (
        select(e, Citizen, OciExecution)
        .join(Citizen, col(Citizen.id) == col(e.citizen_id))
        .outerjoin(OciExecution, col(OciExecution.entry_id) == col(e.id))
        .where(col(e.status) == f.status, readable(actor))
    )
    if f.oci:
        base = base.where(col(e.oci_code) == f.oci)
    if f.municipality:
        base = base.where(col(e.municipality_ibge) == f.municipality)
    if f.municipalities is not None:
        base = base.where(col(e.municipality_ibge).in_(f.municipalities))
    if f.cnes:
        base = base.where(col(OciExecution.cnes) == f.cnes)
    found = await fetch(session, base, CARE_SORTS, window)
    rows = [CareRow(entry, c.social_name or c.name, x) for entry, c, x, *_ in found.rows]
    await record_list_read(
        session,
        "WaitlistEntry",
        [r.entry.id for r in rows],
        detail={"list": "in_care"},
        places=[(r.entry.uf, r.entry.municipality_ibge) for r in rows],
    )
    return found.map(rows)
