"""API types of the providers domain."""

from __future__ import annotations

from datetime import date, datetime

from msgspec import Struct


class EstablishmentIn(Struct, forbid_unknown_fields=True):
    cnes: str
    name: str
    municipality_ibge: str
    kind: str
    habilitacoes: list[str] = []


class OfferIn(Struct, forbid_unknown_fields=True):
    oci_code: str
    age_min_years: int | None = None
    age_max_years: int | None = None
    sex: str | None = None
    teleconsultation: bool = False


class EstablishmentOut(Struct):
    cnes: str
    name: str
    municipality_ibge: str
    uf: str
    kind: str
    habilitacoes: list[str]
    offers: list[OfferIn]


class SlotIn(Struct, forbid_unknown_fields=True):
    cnes: str
    oci_code: str
    starts_at: datetime
    capacity: int = 1
    modality: str = "presencial"
    external_id: str | None = None


class SlotOut(Struct):
    id: int
    cnes: str
    oci_code: str
    starts_at: datetime
    modality: str
    capacity: int
    booked: int
    status: str


class QuotaIn(Struct, forbid_unknown_fields=True):
    municipality_ibge: str
    cnes: str
    oci_code: str
    period_start: date
    period_end: date
    max_slots: int


class RowError(Struct):
    row: int
    field: str
    code: str
    message: str


class AgendaImportReport(Struct):
    rows: int
    imported: int
    unchanged: int
    refused: int
    errors: list[RowError]
