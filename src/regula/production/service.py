"""The ground production's services share: an entry's OCI and its execution record, and who may touch them.

The OCI is read in the entry's catalog version (amendment to Portaria GM/MS 3.492/2024, art. 14 §3 I–II); a user
acts on the entries of their territory, a provider (CNES jurisdiction) on the entries it performs. Recording and
concluding are :mod:`regula.production.execution`, the tR/tM alerts :mod:`regula.production.alerts`, the
authorization numbers :mod:`regula.production.numbering`.
Services flush, never commit: the request, job or command commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.labels import jurisdiction_label
from regula.access.policy import JurisdictionKind
from regula.catalog import protocols
from regula.catalog import service as catalog
from regula.catalog.schemas import OciSummary
from regula.config import Settings
from regula.core.clock import local_today
from regula.core.errors import NotFound, PermissionDenied
from regula.production import composition as comp
from regula.production.models import OciExecution, OciProcedure
from regula.providers.models import AgendaSlot, SlotBooking
from regula.waitlist import measures
from regula.waitlist import service as wl
from regula.waitlist.models import EntryEvent, WaitlistEntry

# -- loading ---------------------------------------------------------------------------------------------------------


async def load_oci(session: AsyncSession, settings: Settings, oci_code: str, competencia: str) -> OciSummary:
    """The OCI as the entry's catalog version defines it; the current version when that one is not stored."""
    try:
        return await catalog.get_oci(session, oci_code, settings, competencia)
    except NotFound as exc:
        if exc.code != "competencia_nao_encontrada":
            raise
        return await catalog.get_oci(session, oci_code, settings)


async def get_execution(session: AsyncSession, entry_id: int, *, for_update: bool = False) -> OciExecution | None:
    stmt = select(OciExecution).where(col(OciExecution.entry_id) == entry_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def procedures_of(session: AsyncSession, execution_id: int) -> list[OciProcedure]:
    stmt = (
        select(OciProcedure)
        .where(col(OciProcedure.execution_id) == execution_id)
        .order_by(col(OciProcedure.performed_on), col(OciProcedure.id))
    )
    return list((await session.execute(stmt)).scalars())


async def entry_cnes(session: AsyncSession, entry_id: int) -> str | None:
    """The establishment of the entry's appointment: its latest booking, else the CNES the scheduling event named."""
    stmt = (
        select(col(AgendaSlot.cnes))
        .join(SlotBooking, col(SlotBooking.slot_id) == col(AgendaSlot.id))
        .where(col(SlotBooking.entry_id) == entry_id, col(SlotBooking.status).in_(("ativa", "realizada")))
        .order_by(col(SlotBooking.booked_at).desc())
        .limit(1)
    )
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found:
        return str(found)
    events = (
        select(col(EntryEvent.data))
        .where(col(EntryEvent.entry_id) == entry_id, col(EntryEvent.to_status) == "agendada")
        .order_by(col(EntryEvent.id).desc())
        .limit(1)
    )
    data = (await session.execute(events)).scalar_one_or_none()
    if isinstance(data, dict) and isinstance(data.get("cnes"), str):
        return str(data["cnes"])
    return None


def _covers(actor: wl.Actor, entry: WaitlistEntry, cnes: Sequence[str | None]) -> bool:
    """A user sees an entry of their territory; a provider (CNES jurisdiction) the entries it performs."""
    if actor.jurisdiction.kind is JurisdictionKind.CNES:
        return actor.jurisdiction.code in {c for c in cnes if c}
    return actor.covers(entry.municipality_ibge)


async def require_access(
    session: AsyncSession, actor: wl.Actor, entry: WaitlistEntry, execution: OciExecution | None
) -> None:
    candidates = [execution.cnes if execution else None]
    if actor.jurisdiction.kind is JurisdictionKind.CNES:
        candidates.append(await entry_cnes(session, entry.id or 0))
    if not _covers(actor, entry, candidates):
        raise PermissionDenied(
            f"Solicitação fora da sua jurisdição ({jurisdiction_label(actor.jurisdiction)}).", code="fora_da_jurisdicao"
        )


async def care_times_of(session: AsyncSession, entry: WaitlistEntry, settings: Settings) -> tuple[int, int]:
    """(tR, tM) of an entry's OCI execution: the tM the entry was authorized with (``entry.max_days``: the one in
    force on its authorization day, decision 22) and the tR of the OCI's protocol in force that day — the global
    default, half of tM rounded up, when the protocol sets none (Portaria GM/MS 3.492/2024 art. 6 §2 III–IV,
    art. 10 §4 IV). tR never passes tM."""
    on = measures.local_date(entry.authorized_at, settings.timezone) if entry.authorized_at else local_today(settings)
    protocol = await protocols.protocol_for(session, entry.oci_code, on, settings)
    tr = protocol.tr_days if protocol.tr_days is not None else comp.recommended_days(entry.max_days)
    return min(tr, entry.max_days), entry.max_days


async def ensure_execution(
    session: AsyncSession, entry: WaitlistEntry, oci: OciSummary, cnes: str | None, settings: Settings
) -> OciExecution:
    existing = await get_execution(session, entry.id or 0, for_update=True)
    if existing is not None:
        if existing.cnes is None and cnes:
            existing.cnes = cnes
        return existing
    tr, tm = await care_times_of(session, entry, settings)
    execution = OciExecution(
        entry_id=entry.id or 0,
        citizen_id=entry.citizen_id,
        oci_code=entry.oci_code,
        catalog_competencia=oci.competencia,
        cnes=cnes,
        max_days=tm,
        recommended_days=tr,
        aps_cnes=entry.requesting_cnes,
        municipality_ibge=entry.municipality_ibge,
        uf=entry.uf,
    )
    session.add(execution)
    await session.flush()
    return execution
