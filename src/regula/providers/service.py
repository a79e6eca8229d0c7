"""Providers' rules: who may offer what, agendas in, bookings that never exceed a slot's capacity."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.policy import JurisdictionKind
from regula.access.service import Principal
from regula.audit import service as audit
from regula.config import Settings
from regula.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from regula.db.base import utcnow
from regula.db.bulk import unnest_insert, unnest_params
from regula.inputs import NUL
from regula.providers.models import (
    ESTABLISHMENT_KINDS,
    AgendaSlot,
    Establishment,
    EstablishmentOffer,
    MunicipalQuota,
    SlotBooking,
)
from regula.providers.schemas import AgendaImportReport, EstablishmentIn, OfferIn, QuotaIn, RowError, SlotIn
from regula.territory.reference import territory

_CNES = re.compile(r"^\d{7}$")
# SAES ordinance (componente complementar): modalities 1, 2 and 3 require habilitações 38.02, 38.03 and 38.04.
REQUIRED_HABILITACAO = {"complementar_1": "3802", "complementar_2": "3803", "complementar_3": "3804"}


def check_cnes(raw: str, field: str = "cnes") -> str:
    value = (raw or "").strip()
    if not _CNES.match(value):
        raise ValidationFailed.for_field(field, "cnes_formato", "CNES tem 7 dígitos.")
    return value


async def upsert_establishment(
    session: AsyncSession, data: EstablishmentIn, *, by: Principal | None = None
) -> Establishment:
    """Register or update an establishment. With ``by`` (a person, not the CLI or the demo), the establishment must
    be inside their jurisdiction both where it is now and where it would be: re-posting a CNES with a municipality of
    one's own region must not take another region's provider (and its offers and agendas) over."""
    errors: list[FieldError] = []
    cnes = ""
    try:
        cnes = check_cnes(data.cnes)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    municipality = None
    try:
        municipality = territory().municipality(data.municipality_ibge)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if data.kind not in ESTABLISHMENT_KINDS:
        errors.append(FieldError("kind", "tipo_invalido", f"Tipo deve ser um de: {', '.join(ESTABLISHMENT_KINDS)}."))
    habs = sorted({h.replace(".", "").strip() for h in data.habilitacoes})
    needed = REQUIRED_HABILITACAO.get(data.kind)
    if needed and needed not in habs:
        errors.append(
            FieldError(
                "habilitacoes",
                "habilitacao_ausente",
                f"Estabelecimento {data.kind} precisa da habilitação {needed[:2]}.{needed[2:]}.",
            )
        )
    if len(data.name.strip()) < 3:
        errors.append(FieldError("name", "nome_invalido", "Informe o nome do estabelecimento."))
    if errors:
        raise ValidationFailed("Estabelecimento inválido.", errors=errors)
    assert municipality is not None
    row = await session.get(Establishment, cnes, with_for_update=True)
    if by is not None:
        places = [municipality] if row is None else [territory().municipality(row.municipality_ibge), municipality]
        if not all(by.covers(place, cnes) for place in places):
            raise PermissionDenied("Estabelecimento fora da sua jurisdição.", code="fora_da_jurisdicao")
    if row is None:
        row = Establishment(
            cnes=cnes,
            name=data.name.strip(),
            municipality_ibge=municipality.ibge_code,
            uf=municipality.uf,
            kind=data.kind,
            habilitacoes=habs,
        )
        session.add(row)
    else:
        row.name, row.kind, row.habilitacoes = data.name.strip(), data.kind, habs
        row.municipality_ibge, row.uf = municipality.ibge_code, municipality.uf
        row.updated_at = utcnow()
    await session.flush()
    return row


def visible_to(by: Principal) -> ColumnElement[bool] | None:
    """The establishments inside ``by``'s jurisdiction, as a condition on ``Establishment`` (``None``: all)."""
    j = by.jurisdiction
    if j.kind is JurisdictionKind.NATIONAL:
        return None
    if j.kind is JurisdictionKind.CNES:
        return col(Establishment.cnes) == j.code
    return col(Establishment.municipality_ibge).in_([m.ibge_code for m in territory().all() if j.covers_place(m)])


async def list_establishments(session: AsyncSession, by: Principal, uf: str | None = None) -> list[Establishment]:
    stmt = select(Establishment).order_by(col(Establishment.cnes))
    if (inside := visible_to(by)) is not None:
        stmt = stmt.where(inside)
    if uf:
        stmt = stmt.where(col(Establishment.uf) == uf.upper())
    return list((await session.execute(stmt)).scalars())


async def list_slots(
    session: AsyncSession, by: Principal, *, oci: str | None = None, cnes: str | None = None
) -> list[AgendaSlot]:
    """Agendas of the establishments in ``by``'s jurisdiction (others' capacity is theirs to publish)."""
    stmt = (
        select(AgendaSlot)
        .join(Establishment, col(Establishment.cnes) == col(AgendaSlot.cnes))
        .order_by(col(AgendaSlot.starts_at), col(AgendaSlot.id))
        .limit(1000)
    )
    if (inside := visible_to(by)) is not None:
        stmt = stmt.where(inside)
    if oci:
        stmt = stmt.where(col(AgendaSlot.oci_code) == oci)
    if cnes:
        stmt = stmt.where(col(AgendaSlot.cnes) == cnes)
    return list((await session.execute(stmt)).scalars())


async def get_establishment(session: AsyncSession, cnes: str) -> Establishment:
    row = await session.get(Establishment, cnes)
    if row is None:
        raise NotFound(f"Estabelecimento {cnes} não cadastrado.", code="estabelecimento_desconhecido")
    return row


async def set_offer(session: AsyncSession, cnes: str, data: OfferIn, known_ocis: Iterable[str]) -> EstablishmentOffer:
    await get_establishment(session, cnes)
    if data.oci_code not in set(known_ocis):
        raise ValidationFailed.for_field("oci_code", "oci_desconhecida", f"OCI {data.oci_code} não está no catálogo.")
    if data.sex is not None and data.sex not in ("M", "F"):
        raise ValidationFailed.for_field("sex", "sexo_invalido", "Sexo deve ser M, F ou vazio.")
    if data.age_min_years is not None and data.age_max_years is not None and data.age_min_years > data.age_max_years:
        raise ValidationFailed.for_field("age_min_years", "idades_invertidas", "Idade mínima maior que a máxima.")
    row = await session.get(EstablishmentOffer, (cnes, data.oci_code))
    values: dict[str, Any] = {
        "age_min_years": data.age_min_years,
        "age_max_years": data.age_max_years,
        "sex": data.sex,
        "teleconsultation": data.teleconsultation,
        "active": True,
    }
    if row is None:
        row = EstablishmentOffer(cnes=cnes, oci_code=data.oci_code, **values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    await session.flush()
    return row


async def offers_of(session: AsyncSession, cnes: str) -> list[EstablishmentOffer]:
    stmt = (
        select(EstablishmentOffer)
        .where(col(EstablishmentOffer.cnes) == cnes)
        .order_by(col(EstablishmentOffer.oci_code))
    )
    return list((await session.execute(stmt)).scalars())


# -- agendas -------------------------------------------------------------------------------------------------------

_ALIASES = {
    "cnes": "cnes",
    "oci": "oci_code",
    "oci_code": "oci_code",
    "data": "date",
    "date": "date",
    "hora": "time",
    "time": "time",
    "modalidade": "modality",
    "modality": "modality",
    "capacidade": "capacity",
    "capacity": "capacity",
    "id_externo": "external_id",
    "external_id": "external_id",
}
AGENDA_REQUIRED = ("cnes", "oci_code", "date", "time")


def _parse_date(raw: str) -> date:
    raw = raw.strip()
    if re.match(r"^\d{2}/\d{2}/\d{4}$", raw):
        d, m, y = raw.split("/")
        return date(int(y), int(m), int(d))
    return date.fromisoformat(raw)


def parse_agenda_csv(data: bytes) -> list[dict[str, str]]:
    """Rows of an agenda CSV (UTF-8, ``;`` or ``,``), with Portuguese or English headers normalized."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed.for_field(
            "arquivo",
            "arquivo_nao_utf8",
            "O arquivo não está em UTF-8. Converta-o (por exemplo: iconv -f latin1 -t utf-8 agenda.csv > nova.csv).",
        ) from None
    if NUL in content:  # PostgreSQL stores no NUL in text: refuse the file, not one failed query per row
        raise ValidationFailed.for_field("arquivo", "caractere_nulo", "O arquivo contém o caractere nulo (\\0).")
    sample = content[:2048]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(content), delimiter=delimiter)
    if reader.fieldnames is None:
        raise ValidationFailed.for_field("arquivo", "arquivo_vazio", "O arquivo está vazio.")
    headers = {h: _ALIASES.get(h.strip().lower(), h.strip().lower()) for h in reader.fieldnames}
    missing = [c for c in AGENDA_REQUIRED if c not in headers.values()]
    if missing:
        raise ValidationFailed(
            "Colunas obrigatórias ausentes na agenda.",
            code="colunas_ausentes",
            errors=[FieldError(c, "coluna_ausente", f"Coluna obrigatória ausente: {c}.") for c in missing],
        )
    return [{headers[k]: (v or "").strip() for k, v in row.items() if k in headers} for row in reader]


async def import_agenda(
    session: AsyncSession, rows: list[dict[str, str]], settings: Settings, *, allowed_cnes: set[str] | None = None
) -> AgendaImportReport:
    """Validate every row; import the valid ones idempotently by (CNES, external id); report the rest by row,
    field and code. A row is imported whole or not at all."""
    tz = ZoneInfo(settings.timezone)
    now = datetime.now(tz)
    offers: dict[tuple[str, str], EstablishmentOffer] = {
        (o.cnes, o.oci_code): o
        for o in (await session.execute(select(EstablishmentOffer).where(col(EstablishmentOffer.active)))).scalars()
    }
    errors: list[RowError] = []
    imported = unchanged = 0
    for number, row in enumerate(rows, start=1):
        row_errors: list[RowError] = []

        def bad(field: str, code: str, message: str, row_errors: list[RowError] = row_errors, n: int = number) -> None:
            row_errors.append(RowError(n, field, code, message))

        cnes = row.get("cnes", "")
        oci = row.get("oci_code", "")
        if not _CNES.match(cnes):
            bad("cnes", "cnes_formato", "CNES tem 7 dígitos.")
        elif allowed_cnes is not None and cnes not in allowed_cnes:
            bad("cnes", "fora_da_jurisdicao", "Estabelecimento fora da sua jurisdição.")
        if row_errors:  # an unknown or foreign establishment: nothing more to say about the row
            errors.extend(row_errors)
            continue
        offer = offers.get((cnes, oci))
        if offer is None and not row_errors:
            bad("oci_code", "oci_nao_ofertada", f"O estabelecimento {cnes} não oferta a OCI {oci}.")
        starts_at = None
        try:
            day = _parse_date(row.get("date", ""))
            hour = time.fromisoformat(row.get("time", "")[:5])
            starts_at = datetime.combine(day, hour, tz)
            if starts_at < now:
                bad("date", "data_no_passado", "A vaga está no passado.")
        except ValueError:
            bad("date", "data_invalida", "Data (AAAA-MM-DD ou DD/MM/AAAA) ou hora (HH:MM) inválida.")
        modality = (row.get("modality") or "presencial").lower()
        if modality not in ("presencial", "teleconsulta"):
            bad("modality", "modalidade_invalida", "Modalidade: presencial ou teleconsulta.")
        elif modality == "teleconsulta" and offer is not None and not offer.teleconsultation:
            bad("modality", "teleconsulta_nao_ofertada", "O estabelecimento não oferta esta OCI por teleconsulta.")
        try:
            capacity = int(row.get("capacity") or "1")
            if not 1 <= capacity <= 500:
                raise ValueError
        except ValueError:
            bad("capacity", "capacidade_invalida", "Capacidade deve ser um número de 1 a 500.")
            capacity = 0
        external_id = row.get("external_id") or None
        if row_errors:
            errors.extend(row_errors)
            continue
        assert starts_at is not None
        if external_id:
            existing = (
                await session.execute(
                    select(AgendaSlot).where(col(AgendaSlot.cnes) == cnes, col(AgendaSlot.external_id) == external_id)
                )
            ).scalar_one_or_none()
            if existing is not None:
                unchanged += 1
                continue
        session.add(
            AgendaSlot(
                cnes=cnes,
                oci_code=oci,
                starts_at=starts_at,
                modality=modality,
                capacity=capacity,
                external_id=external_id,
            )
        )
        imported += 1
    await session.flush()
    refused = len({e.row for e in errors})
    return AgendaImportReport(len(rows), imported, unchanged, refused, errors)


async def add_slot(session: AsyncSession, data: SlotIn, settings: Settings) -> AgendaSlot:
    report = await import_agenda(
        session,
        [
            {
                "cnes": data.cnes,
                "oci_code": data.oci_code,
                "date": data.starts_at.astimezone(ZoneInfo(settings.timezone)).date().isoformat(),
                "time": data.starts_at.astimezone(ZoneInfo(settings.timezone)).strftime("%H:%M"),
                "modality": data.modality,
                "capacity": str(data.capacity),
                "external_id": data.external_id or "",
            }
        ],
        settings,
    )
    if report.errors:
        raise ValidationFailed("Vaga inválida.", errors=[FieldError(e.field, e.code, e.message) for e in report.errors])
    stmt = select(AgendaSlot).where(col(AgendaSlot.cnes) == data.cnes).order_by(col(AgendaSlot.id).desc()).limit(1)
    if data.external_id:
        stmt = select(AgendaSlot).where(
            col(AgendaSlot.cnes) == data.cnes, col(AgendaSlot.external_id) == data.external_id
        )
    return (await session.execute(stmt)).scalar_one()


async def set_quota(session: AsyncSession, data: QuotaIn) -> MunicipalQuota:
    territory().municipality(data.municipality_ibge)
    await get_establishment(session, data.cnes)
    if data.period_start > data.period_end:
        raise ValidationFailed.for_field("period_end", "periodo_invertido", "O fim do período vem antes do início.")
    if data.max_slots < 0:
        raise ValidationFailed.for_field("max_slots", "cota_negativa", "A cota não pode ser negativa.")
    key = (data.municipality_ibge, data.cnes, data.oci_code, data.period_start)
    row = await session.get(MunicipalQuota, key)
    if row is None:
        row = MunicipalQuota(**{k: getattr(data, k) for k in QuotaIn.__struct_fields__})
        session.add(row)
    else:
        row.period_end, row.max_slots = data.period_end, data.max_slots
    await session.flush()
    return row


# -- bookings ------------------------------------------------------------------------------------------------------


async def book(session: AsyncSession, slot_id: int, entry_id: int, run_id: int | None = None) -> SlotBooking:
    """Take one place in a slot. The increment is one conditional UPDATE, so two operators or runs booking the
    last place at once cannot both succeed; the CHECK constraint ``booked <= capacity`` is the last word."""
    taken = await session.execute(
        text(
            "UPDATE agenda_slot SET booked = booked + 1 "
            "WHERE id = :id AND status = 'aberta' AND booked < capacity RETURNING id"
        ),
        {"id": slot_id},
    )
    if taken.first() is None:
        slot = await session.get(AgendaSlot, slot_id)
        if slot is None:
            raise NotFound("Vaga não encontrada.", code="vaga_desconhecida")
        raise Conflict("A vaga não está mais disponível.", code="vaga_esgotada", extra={"slot_id": slot_id})
    booking = SlotBooking(slot_id=slot_id, entry_id=entry_id, run_id=run_id)
    session.add(booking)
    await session.flush()
    return booking


async def book_many(
    session: AsyncSession, wanted: Sequence[tuple[int, int]], run_id: int | None = None
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Book many (slot id, entry id) pairs at once (committing an allocation run): the slots are locked in
    ascending id order in one statement — after the entries, the order every writer follows — and each slot's
    free places go to the pairs in the order given. One UPDATE moves the counters and one insert writes the
    bookings; the CHECK ``booked <= capacity`` stays the last word. Returns (booked pairs, refused pairs).

    The slots are locked ``FOR NO KEY UPDATE``, the mode the counters' UPDATE takes anyway (decision 0008): it
    excludes every other booker of the slot, but not a row that only refers to it — another scope's proposal
    writing its assignments — which with ``FOR UPDATE`` waited for the rest of a state's commit."""
    slot_ids = sorted({slot_id for slot_id, _ in wanted})
    if not slot_ids:
        return [], []
    rows = await session.execute(
        text(
            "SELECT id, capacity - booked AS free, status FROM agenda_slot "
            "WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE"
        ),
        {"ids": slot_ids},
    )
    free = {int(r.id): (int(r.free) if r.status == "aberta" else 0) for r in rows}
    taken: dict[int, int] = {}
    booked: list[tuple[int, int]] = []
    refused: list[tuple[int, int]] = []
    for slot_id, entry_id in wanted:
        if taken.get(slot_id, 0) < free.get(slot_id, 0):
            taken[slot_id] = taken.get(slot_id, 0) + 1
            booked.append((slot_id, entry_id))
        else:
            refused.append((slot_id, entry_id))
    if taken:
        ids = sorted(taken)
        await session.execute(
            text(
                "UPDATE agenda_slot s SET booked = s.booked + t.n "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:ns AS int[])) AS t(id, n) WHERE s.id = t.id"
            ),
            {"ids": ids, "ns": [taken[i] for i in ids]},
        )
        for obj in list(session.sync_session.identity_map.values()):
            if isinstance(obj, AgendaSlot) and obj.id in taken:
                session.expire(obj)  # the Core update bypassed the identity map
        # The bookings in one statement, and their audit rows — those the flush listener would write — in another.
        written = await session.execute(
            _INSERT_BOOKINGS,
            unnest_params(_BOOKING_COLUMNS, [{"slot_id": s, "entry_id": e} for s, e in booked])
            | {"run_id": run_id, "booked_at": utcnow()},
        )
        await audit.record_changes(
            session, audit.created_events(session, SlotBooking, [dict(r._mapping) for r in written])
        )
    return booked, refused


_BOOKING_COLUMNS = (("slot_id", "bigint"), ("entry_id", "bigint"))
_INSERT_BOOKINGS = unnest_insert(
    "slot_booking",
    _BOOKING_COLUMNS,
    constants={
        "run_id": "CAST(:run_id AS bigint)",
        "status": "'ativa'",
        "booked_at": "CAST(:booked_at AS timestamptz)",
    },
    tail="RETURNING id, slot_id, entry_id, run_id, status, booked_at, released_at, release_reason",
)


async def active_booking(session: AsyncSession, entry_id: int) -> SlotBooking | None:
    stmt = select(SlotBooking).where(col(SlotBooking.entry_id) == entry_id, col(SlotBooking.status) == "ativa")
    return (await session.execute(stmt)).scalar_one_or_none()


async def release(session: AsyncSession, booking: SlotBooking, reason: str, status: str = "liberada") -> AgendaSlot:
    """Give the place back (a cancellation, a "NÃO", no reply in time); the booking stays, closed, with its reason."""
    if booking.status != "ativa":
        raise Conflict("Esta reserva já foi encerrada.", code="reserva_encerrada")
    booking.status = status
    booking.released_at = utcnow()
    booking.release_reason = reason
    await session.execute(
        text("UPDATE agenda_slot SET booked = booked - 1 WHERE id = :id AND booked > 0"), {"id": booking.slot_id}
    )
    await session.flush()
    slot = await session.get(AgendaSlot, booking.slot_id, populate_existing=True)
    assert slot is not None
    return slot


def slot_public(slot: AgendaSlot) -> dict[str, Any]:
    return {
        "id": slot.id,
        "cnes": slot.cnes,
        "oci_code": slot.oci_code,
        "starts_at": slot.starts_at,
        "modality": slot.modality,
        "capacity": slot.capacity,
        "booked": slot.booked,
        "status": slot.status,
    }
