"""Providers and their capacity: establishments, the OCIs each offers, agenda slots, municipal quotas, bookings.

Portaria GM/MS 3.492/2024 art. 2 VII and art. 9 IV as amended: the PAR names the executing providers and the
OCI quantities; the SAES ordinance on the complementary component adds modalities 1–3 (habilitações 38.02,
38.03, 38.04); the joint ordinance MS/AGU 7.702/2025 adds health-plan operators (Ressarcimento).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

ESTABLISHMENT_KINDS = (
    "proprio",  # run by the municipality or state
    "contratado",  # contracted private or philanthropic provider
    "complementar_1",  # Agora Tem Especialistas, fixed unit (habilitação 38.02)
    "complementar_2",  # mobile teams, "equipes volantes" (38.03)
    "complementar_3",  # mobile units (38.04)
    "operadora",  # health-plan operator under the Ressarcimento component (Portaria Conjunta 7.702/2025)
)


class Establishment(SQLModel, table=True):
    __tablename__ = "establishment"
    __audited__ = True
    __table_args__ = (CheckConstraint(f"kind IN {ESTABLISHMENT_KINDS}", name="kind_known"),)

    cnes: str = Field(sa_column=Column(String(7), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    municipality_ibge: str = Field(
        sa_column=Column(String(7), ForeignKey("municipality.ibge_code"), nullable=False, index=True)
    )
    uf: str = Field(sa_column=Column(String(2), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    habilitacoes: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String(4)), nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, self.municipality_ibge


class EstablishmentOffer(SQLModel, table=True):
    """An OCI an establishment offers, with any restriction of its own (a paediatric service, say)."""

    __tablename__ = "establishment_offer"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("sex IS NULL OR sex IN ('M', 'F')", name="sex_known"),
        CheckConstraint(
            "age_min_years IS NULL OR age_max_years IS NULL OR age_min_years <= age_max_years", name="ages"
        ),
    )

    cnes: str = Field(sa_column=Column(String(7), ForeignKey("establishment.cnes"), primary_key=True))
    oci_code: str = Field(sa_column=Column(String(10), primary_key=True))
    age_min_years: int | None = Field(default=None, sa_column=Column(Integer))
    age_max_years: int | None = Field(default=None, sa_column=Column(Integer))
    sex: str | None = Field(default=None, sa_column=Column(String(1)))
    teleconsultation: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))


class AgendaSlot(SQLModel, table=True):
    """A slot (or a group of identical slots) of a provider's agenda for one OCI. ``booked`` never exceeds
    ``capacity``: the database refuses it, whatever the concurrency."""

    __tablename__ = "agenda_slot"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("modality IN ('presencial', 'teleconsulta')", name="modality_known"),
        CheckConstraint("status IN ('aberta', 'cancelada')", name="status_known"),
        UniqueConstraint("cnes", "external_id"),
        Index("ix_agenda_slot_open", "oci_code", "starts_at", postgresql_where=text("status = 'aberta'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    cnes: str = Field(sa_column=Column(String(7), ForeignKey("establishment.cnes"), nullable=False, index=True))
    oci_code: str = Field(sa_column=Column(String(10), nullable=False))
    starts_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    modality: str = Field(default="presencial", sa_column=Column(String(12), nullable=False))
    capacity: int = Field(sa_column=Column(Integer, nullable=False))
    booked: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    status: str = Field(default="aberta", sa_column=Column(String(10), nullable=False))
    external_id: str | None = Field(default=None, sa_column=Column(String(64)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class MunicipalQuota(SQLModel, table=True):
    """PPI/PAR agreements: municipality ``m`` may use at most ``max_slots`` of provider ``p``'s slots of OCI ``o``
    between ``period_start`` and ``period_end`` (inclusive)."""

    __tablename__ = "municipal_quota"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("max_slots >= 0", name="max_slots_non_negative"),
        CheckConstraint("period_start <= period_end", name="period"),
    )

    municipality_ibge: str = Field(sa_column=Column(String(7), ForeignKey("municipality.ibge_code"), primary_key=True))
    cnes: str = Field(sa_column=Column(String(7), ForeignKey("establishment.cnes"), primary_key=True))
    oci_code: str = Field(sa_column=Column(String(10), primary_key=True))
    period_start: date = Field(sa_column=Column(Date, primary_key=True))
    period_end: date = Field(sa_column=Column(Date, nullable=False))
    max_slots: int = Field(sa_column=Column(Integer, nullable=False))


class SlotBooking(SQLModel, table=True):
    """An entry's place in a slot. Released bookings stay (status ``liberada``) with their reason."""

    __tablename__ = "slot_booking"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("status IN ('ativa', 'liberada', 'realizada', 'faltou')", name="status_known"),
        Index("uq_slot_booking_active_entry", "entry_id", unique=True, postgresql_where=text("status = 'ativa'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    slot_id: int = Field(sa_column=Column(BigInteger, ForeignKey("agenda_slot.id"), nullable=False, index=True))
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id"), nullable=False))
    run_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    status: str = Field(default="ativa", sa_column=Column(String(10), nullable=False))
    booked_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    released_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    release_reason: str | None = Field(default=None, sa_column=Column(String(64)))
