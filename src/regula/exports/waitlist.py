"""The federal waitlist of a UF: one row per entry, individualized by CPF or CNS and by municipality of origin,
consolidated by UF and organized by OCI, as CSV or JSON (docs/exports/waitlist.md).

Sources:

* Portaria GM/MS 3.492/2024 as amended, art. 14 §1: waitlists individualized by CPF or CNS and by the citizen's
  municipality of origin, consolidated by UF, are sent to follow the PAR's execution (a condition for transfers).
* Art. 14 §2 (as amended): lists organized by OCI, or, up to six months after the PAR's approval, by a secondary
  procedure compatible with the OCI — hence ``oci`` and ``procedimento_solicitado``.
* Portaria SAES (componente complementar), art. 11: the CPF identifies every citizen; indigenous people without a
  CPF are identified by the CNS.

Data minimization (LGPD, Lei 13.709/2018, art. 6 III): the list carries what those articles ask for and what a
reader needs to follow a queue — the document (CPF, or CNS only when there is no CPF), the municipality of origin,
the OCI, the status, the risk class, the position and the dates. It carries no name, social name, birth date, sex,
phone, address or diagnosis (CID): the ordinance individualizes by document, and the federal systems that receive
the list identify the person by that document in their own registries (CADSUS). The FHIR export (``fhir.py``)
adds what its resources need for record linkage (birth date, administrative sex) and the referral's CID.

Rows are streamed from a server-side cursor (``yield_per``), so a UF with a million entries never sits in memory:
the process holds one batch of rows and the per-OCI and per-municipality counters.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, cached_property
from typing import Any, BinaryIO, Final, Literal, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlmodel import col

from regula.catalog.models import CatalogOci
from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.db.base import utcnow
from regula.people.identification import federal_identifiers
from regula.people.models import Citizen
from regula.providers.models import AgendaSlot, Establishment, SlotBooking
from regula.territory.reference import UFS, territory
from regula.waitlist import measures
from regula.waitlist.models import WaitlistEntry, WaitlistStanding
from regula.waitlist.states import ACTIVE_STATUSES, EntryStatus

FORMATS: Final[tuple[str, ...]] = ("csv", "json", "fhir")
Format = Literal["csv", "json", "fhir"]
#: Identifies the layout of the CSV and JSON files; changes that break readers change the version.
LAYOUT: Final = "regula.lista-espera-federal/1"
CSV_DELIMITER: Final = ";"
DEFAULT_BATCH: Final = 2000
ACTIVE_STATUS_VALUES: Final[tuple[str, ...]] = tuple(sorted(s.value for s in ACTIVE_STATUSES))

#: The columns of the CSV (header, in this order) and the keys of each JSON entry, with what they mean. The doc
#: (docs/exports/waitlist.md) and the JSON Schema (docs/exports/waitlist.schema.json) describe the same list; a test
#: keeps the three equal.
COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("competencia", "Reference month of the export, AAAAMM (local time of the regulation center)"),
    ("uf", "UF of the queue (sigla); the list is consolidated by UF"),
    ("uf_ibge", "IBGE code of the UF, 2 digits"),
    ("municipio_ibge", "Municipality of origin of the citizen when referred, IBGE code, 7 digits"),
    ("municipio_ibge6", "The same code without its check digit, 6 digits (as in SIA/SIH files)"),
    ("municipio_nome", "Name of the municipality of origin"),
    ("cpf", "CPF, 11 digits; empty for indigenous citizens, identified by CNS (SAES art. 11)"),
    ("cns", "CNS, 15 digits; given for indigenous citizens (SAES art. 11), or when the citizen has no CPF"),
    ("protocolo", "Protocol number of the request in regula (stable across exports)"),
    ("oci", "OCI requested, SIGTAP code (group 09), 10 digits"),
    ("oci_nome", "Name of the OCI in the SIGTAP competência the request was made under"),
    ("procedimento_solicitado", "Secondary procedure named in the referral instead of the OCI (art. 14 §2), if any"),
    ("classificacao_risco", "Risk class: vermelho, amarelo, verde or azul"),
    ("situacao", "Status of the request in the regulation workflow"),
    ("ativa", "Whether the request still holds its place (S) or is closed (N)"),
    ("data_situacao", "Date of the last status change"),
    ("fila_escopo", "Scope of the queue: region, macro or uf"),
    ("fila_codigo", "Code of the scope: health region (5 digits), macro-region (4) or UF sigla"),
    ("posicao", "Position in the queue (OCI × scope); only while authorized and waiting"),
    ("tamanho_fila", "Number of entries waiting in that queue"),
    ("data_solicitacao", "Date of the referral"),
    ("data_autorizacao", "Date of the authorization (the waiting clock starts)"),
    ("tm_dias", "Maximum time (tM) of the OCI, in days"),
    ("data_limite", "Deadline recorded at authorization: authorization date + tM"),
    ("dias_espera", "Days waited since authorization, paused days excluded"),
    ("previsao_inicio", "Estimated window for the appointment: first day"),
    ("previsao_fim", "Estimated window for the appointment: last day"),
    ("cnes_solicitante", "CNES of the requesting (primary care) establishment"),
    ("agendamento_cnes", "CNES of the establishment of the current booking, if booked"),
    ("agendamento_data_hora", "Date and time of the current booking (ISO 8601 with offset), if booked"),
    ("agendamento_modalidade", "presencial or teleconsulta, if booked"),
)
COLUMN_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in COLUMNS)


# -- what is exported ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaitlistFilter:
    uf: str
    oci_code: str | None = None
    municipality_ibge: str | None = None
    include_terminal: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "uf": self.uf,
            "oci": self.oci_code,
            "municipio_ibge": self.municipality_ibge,
            "incluir_encerradas": self.include_terminal,
        }


def check_format(raw: str) -> Format:
    fmt = raw.strip().lower()
    if fmt == "csv":
        return "csv"
    if fmt == "json":
        return "json"
    if fmt == "fhir":
        return "fhir"
    raise ValidationFailed.for_field("format", "formato_invalido", f"Formato inválido: {raw!r}. Use csv, json ou fhir.")


def check_filter(
    uf: str | None,
    oci_code: str | None = None,
    municipality_ibge: str | None = None,
    *,
    include_terminal: bool = False,
) -> WaitlistFilter:
    """Validate what the caller asked for, without the database; raises :class:`ValidationFailed` with a stable
    code (``uf_obrigatoria``, ``uf_invalida``, ``oci_invalida``, ``municipio_desconhecido``,
    ``municipio_fora_da_uf``)."""
    if uf is None or not uf.strip():
        raise ValidationFailed.for_field(
            "uf", "uf_obrigatoria", "Informe a UF (--uf), por exemplo SC: a lista é consolidada por UF."
        )
    sigla = uf.strip().upper()
    if sigla not in UFS:
        raise ValidationFailed.for_field(
            "uf", "uf_invalida", f"UF inválida: {uf!r}. Informe a sigla de uma das 27 UFs, por exemplo SC."
        )
    oci = None
    if oci_code is not None and oci_code.strip():
        # SIGTAP codes are often written with punctuation (09.02.01.002-6).
        oci = oci_code.strip().replace(".", "").replace("-", "")
        if not (len(oci) == 10 and oci.isascii() and oci.isdigit() and oci.startswith("09")):
            raise ValidationFailed.for_field(
                "oci",
                "oci_invalida",
                f"Código de OCI inválido: {oci_code!r}. Use os 10 dígitos do SIGTAP (grupo 09), "
                "por exemplo 0902010026.",
            )
    municipality = None
    if municipality_ibge is not None and municipality_ibge.strip():
        m = territory().municipality(municipality_ibge, field="municipality")
        if m.uf != sigla:
            raise ValidationFailed.for_field(
                "municipality",
                "municipio_fora_da_uf",
                f"O município {m.label} não é da UF {sigla}: a lista de uma UF traz só os seus municípios de origem.",
            )
        municipality = m.ibge_code
    return WaitlistFilter(sigla, oci, municipality, include_terminal)


async def check_oci_known(session: AsyncSession, oci_code: str) -> None:
    """An OCI filter must name an OCI of some imported SIGTAP competência (a typo would export an empty list)."""
    found = await session.execute(select(col(CatalogOci.code)).where(col(CatalogOci.code) == oci_code).limit(1))
    if found.first() is None:
        raise ValidationFailed.for_field(
            "oci", "oci_desconhecida", f"A OCI {oci_code} não está em nenhuma competência do catálogo SIGTAP importado."
        )


@dataclass(frozen=True)
class ExportMeta:
    """One export: its id (in the files, the FHIR Bundle and the audit record), when, and the local time zone."""

    export_id: str
    generated_at: datetime  # aware
    timezone: str

    @classmethod
    def new(cls, settings: Settings, now: datetime | None = None) -> ExportMeta:
        return cls(uuid.uuid4().hex, now or utcnow(), settings.timezone)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_now(self) -> datetime:
        return self.generated_at.astimezone(self.tz)

    @cached_property
    def competencia(self) -> str:
        return f"{self.local_now:%Y%m}"

    def local_date(self, value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(self.tz).date().isoformat()

    def local_datetime(self, value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(self.tz).isoformat(timespec="seconds")


@dataclass(slots=True)
class ExportRow:
    """One entry as exported, with what the CSV/JSON and the FHIR resources need. ``cpf``/``cns`` already follow
    the identification rule (SAES art. 11, ``people.identification.federal_identifiers``): the CNS for an indigenous
    citizen, the CPF for everyone else (the CNS only for a record without a CPF, which the rule reports)."""

    entry_id: int
    protocol: str
    citizen_id: int
    cpf: str | None
    cns: str | None
    birth_date: date
    sex: str
    citizen_municipality_ibge: str
    citizen_uf: str
    oci_code: str
    oci_name: str | None
    requested_procedure_code: str | None
    cid_code: str
    risk_class: str
    status: str
    status_changed_at: datetime
    municipality_ibge: str
    uf: str
    scope_kind: str
    scope_code: str
    requesting_cnes: str
    requested_at: datetime
    authorized_at: datetime | None
    deadline_date: date | None
    max_days: int
    days_waiting: int | None
    position: int | None
    queue_size: int | None
    estimate_from: date | None
    estimate_to: date | None
    booking_id: int | None
    booked_at: datetime | None
    booking_cnes: str | None
    booking_establishment: str | None
    booking_starts_at: datetime | None
    booking_modality: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUS_VALUES


def federal_record(row: ExportRow, meta: ExportMeta) -> dict[str, Any]:
    """The row as the federal list carries it: the keys of :data:`COLUMNS`, in order, with JSON values."""
    return {
        "competencia": meta.competencia,
        "uf": row.uf,
        "uf_ibge": UFS[row.uf][0],
        "municipio_ibge": row.municipality_ibge,
        "municipio_ibge6": row.municipality_ibge[:6],
        "municipio_nome": _municipality_name(row.municipality_ibge),
        "cpf": row.cpf,
        "cns": row.cns,
        "protocolo": row.protocol,
        "oci": row.oci_code,
        "oci_nome": row.oci_name,
        "procedimento_solicitado": row.requested_procedure_code,
        "classificacao_risco": row.risk_class,
        "situacao": row.status,
        "ativa": row.active,
        "data_situacao": meta.local_date(row.status_changed_at),
        "fila_escopo": row.scope_kind,
        "fila_codigo": row.scope_code,
        "posicao": row.position,
        "tamanho_fila": row.queue_size,
        "data_solicitacao": meta.local_date(row.requested_at),
        "data_autorizacao": meta.local_date(row.authorized_at),
        "tm_dias": row.max_days,
        "data_limite": _iso(row.deadline_date),
        "dias_espera": row.days_waiting,
        "previsao_inicio": _iso(row.estimate_from),
        "previsao_fim": _iso(row.estimate_to),
        "cnes_solicitante": row.requesting_cnes,
        "agendamento_cnes": row.booking_cnes,
        "agendamento_data_hora": meta.local_datetime(row.booking_starts_at),
        "agendamento_modalidade": row.booking_modality,
    }


@cache
def _municipality_name(ibge_code: str) -> str | None:
    m = territory().find(ibge_code)
    return m.name if m is not None else None


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


# -- reading -----------------------------------------------------------------------------------------------------

Order = Literal["queue", "citizen"]


def _statement(flt: WaitlistFilter, order: Order) -> Select[*tuple[Any, ...]]:
    e, c, st = WaitlistEntry, Citizen, WaitlistStanding
    stmt: Select[*tuple[Any, ...]] = (
        select(
            col(e.id).label("entry_id"),
            col(e.protocol),
            col(e.citizen_id),
            col(c.cpf),
            col(c.cns),
            col(c.race_color),
            col(c.birth_date),
            col(c.sex),
            col(c.municipality_ibge).label("citizen_municipality_ibge"),
            col(c.uf).label("citizen_uf"),
            col(e.oci_code),
            col(e.catalog_competencia),
            col(e.requested_procedure_code),
            col(e.cid_code),
            col(e.risk_class),
            col(e.status),
            col(e.status_changed_at),
            col(e.municipality_ibge),
            col(e.uf),
            col(e.scope_kind),
            col(e.scope_code),
            col(e.requesting_cnes),
            col(e.requested_at),
            col(e.authorized_at),
            col(e.max_days),
            col(e.suspended_days),
            col(e.paused_since),
            col(st.position),
            col(st.queue_size),
            col(st.estimate_from),
            col(st.estimate_to),
            col(SlotBooking.id).label("booking_id"),
            col(SlotBooking.booked_at),
            col(AgendaSlot.cnes).label("booking_cnes"),
            col(AgendaSlot.starts_at).label("booking_starts_at"),
            col(AgendaSlot.modality).label("booking_modality"),
            col(Establishment.name).label("booking_establishment"),
        )
        .select_from(e)
        .join(c, col(c.id) == col(e.citizen_id))
        .join(st, col(st.entry_id) == col(e.id))
        # Only the current booking: one per entry at most (partial unique index on entry_id WHERE status = 'ativa').
        .outerjoin(SlotBooking, and_(col(SlotBooking.entry_id) == col(e.id), col(SlotBooking.status) == "ativa"))
        .outerjoin(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
        .outerjoin(Establishment, col(Establishment.cnes) == col(AgendaSlot.cnes))
        .where(col(e.uf) == flt.uf)
    )
    if not flt.include_terminal:
        stmt = stmt.where(col(e.status).in_(ACTIVE_STATUS_VALUES))
    if flt.oci_code is not None:
        stmt = stmt.where(col(e.oci_code) == flt.oci_code)
    if flt.municipality_ibge is not None:
        stmt = stmt.where(col(e.municipality_ibge) == flt.municipality_ibge)
    if order == "citizen":
        # FHIR: a citizen's entries are adjacent, so each Bundle carries the Patient once.
        return stmt.order_by(col(e.citizen_id), col(e.oci_code), col(e.requested_at), col(e.id))
    return stmt.order_by(
        col(e.oci_code),
        col(e.scope_kind),
        col(e.scope_code),
        col(st.position).asc().nulls_last(),
        col(e.requested_at),
        col(e.id),
    )


async def oci_names(session: AsyncSession) -> dict[tuple[str, str], str]:
    """(competência, code) → name for every OCI of every imported competência (a few hundred rows)."""
    rows = await session.execute(select(col(CatalogOci.competencia), col(CatalogOci.code), col(CatalogOci.name)))
    return {(r.competencia, r.code): r.name for r in rows}


async def stream_rows(
    session: AsyncSession,
    settings: Settings,
    flt: WaitlistFilter,
    *,
    order: Order = "queue",
    batch_size: int = DEFAULT_BATCH,
    now: datetime | None = None,
) -> AsyncIterator[ExportRow]:
    """The entries of the filter, in queue order (OCI, queue, position) or citizen order, fetched ``batch_size``
    rows at a time from a server-side cursor."""
    names = await oci_names(session)
    latest: dict[str, str] = {code: name for (_comp, code), name in sorted(names.items())}
    tz = ZoneInfo(settings.timezone)
    now = now or utcnow()
    today = now.astimezone(tz).date()
    result = await session.stream(_statement(flt, order).execution_options(yield_per=batch_size))
    try:
        # One round trip through SQLAlchemy's greenlet per batch, not per row.
        async for batch in result.partitions():
            for r in batch:
                yield _export_row(r, names, latest, today, now, tz)
    finally:
        await result.close()


def _export_row(
    r: Any, names: dict[tuple[str, str], str], latest: dict[str, str], today: date, now: datetime, tz: ZoneInfo
) -> ExportRow:
    ids = federal_identifiers(r.cpf, r.cns, r.race_color)
    waiting = r.status == EntryStatus.AUTORIZADA
    # Days waited and the tM deadline as waitlist.measures defines them (a closed entry stopped waiting when it
    # closed; paused days move the deadline).
    clock = measures.entry_clock(r, today, tz.key)
    return ExportRow(
        entry_id=r.entry_id,
        protocol=r.protocol,
        citizen_id=r.citizen_id,
        cpf=ids.cpf,
        cns=ids.cns,
        birth_date=r.birth_date,
        sex=r.sex,
        citizen_municipality_ibge=r.citizen_municipality_ibge,
        citizen_uf=r.citizen_uf,
        oci_code=r.oci_code,
        oci_name=names.get((r.catalog_competencia, r.oci_code)) or latest.get(r.oci_code),
        requested_procedure_code=r.requested_procedure_code,
        cid_code=r.cid_code,
        risk_class=r.risk_class,
        status=r.status,
        status_changed_at=r.status_changed_at,
        municipality_ibge=r.municipality_ibge,
        uf=r.uf,
        scope_kind=r.scope_kind,
        scope_code=r.scope_code,
        requesting_cnes=r.requesting_cnes,
        requested_at=r.requested_at,
        authorized_at=r.authorized_at,
        deadline_date=clock.deadline if clock is not None else None,
        max_days=r.max_days,
        days_waiting=clock.days if clock is not None else None,
        position=r.position if waiting else None,
        queue_size=r.queue_size if waiting else None,
        estimate_from=r.estimate_from if waiting else None,
        estimate_to=r.estimate_to if waiting else None,
        booking_id=r.booking_id,
        booked_at=r.booked_at,
        booking_cnes=r.booking_cnes,
        booking_establishment=r.booking_establishment,
        booking_starts_at=r.booking_starts_at,
        booking_modality=r.booking_modality,
    )


# -- counting ----------------------------------------------------------------------------------------------------


@dataclass
class Totals:
    """Counts by OCI, municipality of origin and status, gathered while the rows stream by."""

    rows: int = 0
    active: int = 0
    booked: int = 0
    by_oci: Counter[str] = field(default_factory=Counter)
    active_by_oci: Counter[str] = field(default_factory=Counter)
    booked_by_oci: Counter[str] = field(default_factory=Counter)
    by_municipality: Counter[str] = field(default_factory=Counter)
    active_by_municipality: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    oci_names: dict[str, str | None] = field(default_factory=dict)

    def add(self, row: ExportRow) -> None:
        self.rows += 1
        self.by_oci[row.oci_code] += 1
        self.by_municipality[row.municipality_ibge] += 1
        self.by_status[row.status] += 1
        self.oci_names.setdefault(row.oci_code, row.oci_name)
        if row.active:
            self.active += 1
            self.active_by_oci[row.oci_code] += 1
            self.active_by_municipality[row.municipality_ibge] += 1
        if row.booking_id is not None:
            self.booked += 1
            self.booked_by_oci[row.oci_code] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "entradas": self.rows,
            "ativas": self.active,
            "agendadas": self.booked,
            "por_oci": [
                {
                    "oci": code,
                    "oci_nome": self.oci_names.get(code),
                    "entradas": n,
                    "ativas": self.active_by_oci[code],
                    "agendadas": self.booked_by_oci[code],
                }
                for code, n in sorted(self.by_oci.items())
            ],
            "por_municipio": [
                {"municipio_ibge": ibge, "entradas": n, "ativas": self.active_by_municipality[ibge]}
                for ibge, n in sorted(self.by_municipality.items())
            ],
            "por_situacao": [{"situacao": s, "entradas": n} for s, n in sorted(self.by_status.items())],
        }


# -- writing -----------------------------------------------------------------------------------------------------


class TextSink(Protocol):
    def write(self, text: str, /) -> int: ...


class HashingWriter:
    """Writes text as UTF-8 to a binary file, counting the bytes and computing their SHA-256 (which the audit
    record keeps, so a file found later can be traced to the export that produced it)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._sha = hashlib.sha256()
        self.bytes = 0

    def write(self, text: str, /) -> int:
        data = text.encode("utf-8")
        self._sha.update(data)
        self._raw.write(data)
        self.bytes += len(data)
        return len(text)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "S"
    if value is False:
        return "N"
    return str(value)


async def write_csv(rows: AsyncIterable[ExportRow], sink: TextSink, meta: ExportMeta) -> Totals:
    """``;``-separated, a header row, UTF-8 without BOM, CRLF line ends (RFC 4180), empty field for no value,
    ``S``/``N`` for booleans, ISO 8601 dates."""
    writer = csv.writer(sink, delimiter=CSV_DELIMITER, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMN_NAMES)
    totals = Totals()
    async for row in rows:
        totals.add(row)
        writer.writerow([_csv_value(v) for v in federal_record(row, meta).values()])
    return totals


def json_header(flt: WaitlistFilter, meta: ExportMeta) -> dict[str, Any]:
    return {
        "layout": LAYOUT,
        "exportacao_id": meta.export_id,
        "gerado_em": meta.local_datetime(meta.generated_at),
        "competencia": meta.competencia,
        "uf": flt.uf,
        "uf_ibge": UFS[flt.uf][0],
        "filtros": flt.as_dict(),
    }


async def write_json(rows: AsyncIterable[ExportRow], sink: TextSink, flt: WaitlistFilter, meta: ExportMeta) -> Totals:
    """One JSON document (docs/exports/waitlist.schema.json) written as the rows stream: the header, then
    ``entradas`` one per line, then ``totais`` (known only at the end)."""
    header = json.dumps(json_header(flt, meta), ensure_ascii=False)
    sink.write(header[:-1] + ', "entradas": [')
    totals = Totals()
    separator = "\n"
    async for row in rows:
        totals.add(row)
        sink.write(separator + json.dumps(federal_record(row, meta), ensure_ascii=False, separators=(",", ":")))
        separator = ",\n"
    sink.write('\n], "totais": ' + json.dumps(totals.as_dict(), ensure_ascii=False) + "}\n")
    return totals
