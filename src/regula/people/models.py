"""Citizens: one record per person, identified by CPF (or, for indigenous people, by CNS).

Portaria SAES (componente complementar), art. 11: the CPF is mandatory for every citizen served, except indigenous
people, who may be identified by the CNS. Portaria GM/MS 3.492/2024 (as amended), art. 14 §1: queues are
individualized by CPF or CNS and by municipality of origin.
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
    Numeric,
    String,
    text,
)
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

RACE_COLORS = ("branca", "preta", "parda", "amarela", "indigena", "sem_informacao")
CHANNELS = ("sms", "whatsapp", "nenhum")


class Citizen(SQLModel, table=True):
    __tablename__ = "citizen"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("cpf IS NOT NULL OR cns IS NOT NULL", name="has_document"),
        # SAES art. 11: without a CPF, only an indigenous citizen identified by CNS.
        CheckConstraint("cpf IS NOT NULL OR race_color = 'indigena'", name="cpf_or_indigenous"),
        CheckConstraint(f"race_color IN {RACE_COLORS}", name="race_color_known"),
        CheckConstraint("sex IN ('M', 'F')", name="sex_known"),
        CheckConstraint(f"preferred_channel IN {CHANNELS}", name="channel_known"),
        CheckConstraint("vulnerability_index IS NULL OR vulnerability_index BETWEEN 0 AND 1", name="vuln_range"),
        Index("uq_citizen_cpf", "cpf", unique=True, postgresql_where=text("cpf IS NOT NULL")),
        Index("uq_citizen_cns", "cns", unique=True, postgresql_where=text("cns IS NOT NULL")),
        Index("ix_citizen_search_name", "search_name"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    cpf: str | None = Field(default=None, sa_column=Column(String(11)))
    cns: str | None = Field(default=None, sa_column=Column(String(15)))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    social_name: str | None = Field(default=None, sa_column=Column(String(200)))
    search_name: str = Field(sa_column=Column(String(200), nullable=False))
    birth_date: date = Field(sa_column=Column(Date, nullable=False))
    sex: str = Field(sa_column=Column(String(1), nullable=False))
    race_color: str = Field(sa_column=Column(String(16), nullable=False))
    municipality_ibge: str = Field(
        sa_column=Column(String(7), ForeignKey("municipality.ibge_code"), nullable=False, index=True)
    )
    uf: str = Field(sa_column=Column(String(2), nullable=False, index=True))
    phone: str | None = Field(default=None, sa_column=Column(String(16)))
    preferred_channel: str = Field(default="sms", sa_column=Column(String(10), nullable=False))
    contact_consent: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    contact_consent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    pregnant: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    disability: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    autism: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    cadunico: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    vulnerability_index: float | None = Field(default=None, sa_column=Column(Numeric(4, 3)))
    # The APS establishment the citizen is registered with (cadastro individual, e-SUS APS): it receives the
    # counter-referral too when it is not the team that referred (Portaria 3.492/2024 art. 5 §2; decision 21).
    aps_cnes: str | None = Field(default=None, sa_column=Column(String(7)))
    # A duplicate found later is merged into the surviving record, never deleted.
    merged_into_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("citizen.id")))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, self.municipality_ibge
