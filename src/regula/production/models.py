"""Tables of care navigation to the end of an OCI and of production control.

* ``oci_execution`` / ``oci_procedure``: an entry's OCI as it is performed — each procedure with its date, place,
  professional and CID — until its conclusion and the return to APS (Portaria GM/MS 3.492/2024, art. 5 §2 and art.
  10 §4 I). Procedures entered by mistake are voided with a reason, never deleted.
* ``authorization_range`` / ``authorization_number``: the numeric ranges the state distributes per establishment
  and every number issued from them or informed by hand (Portaria SAES on the complementary component, art. 13–17;
  Portaria GM/MS 3.492/2024 art. 16 §2 as amended). A number exists once: a unique index is the last word.
* ``production_import`` / ``production_record``: production lines as the SIA/BPA receive them, imported to be
  cross-checked per person and period (amendment to 3.492/2024, art. 14 §3).

Every table that holds something about a citizen is audited (``__audited__``).
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
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

EXECUTION_STATUSES = ("em_execucao", "concluida", "cancelada")
PROCEDURE_ROLES = ("obrigatorio", "consulta", "opcional")
PROCEDURE_STATUSES = ("valido", "anulado")
RANGE_STATUSES = ("ativa", "encerrada")
NUMBER_SOURCES = ("emitida", "informada")  # issued from a range by regula / typed in from another system
NUMBER_STATUSES = ("ativa", "cancelada")
PRODUCTION_INSTRUMENTS = ("apac", "bpa", "aih", "cmd")


class AuthorizationRange(SQLModel, table=True):
    """A numeric range of authorization numbers the state gave an establishment (SAES ordinance art. 16–17).

    ``prefix``: the first five digits of an APAC/AIH number (UF, year, program digit) or positions 1–17 of a CMD
    number; the sequence is the next seven digits. ``next_seq`` is taken with one conditional UPDATE, so two
    concurrent issuances never get the same number."""

    __tablename__ = "authorization_range"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("instrument IN ('apac', 'aih', 'cmd')", name="instrument_known"),
        CheckConstraint("program IN ('pmae', 'complementar', 'reducao_filas')", name="program_known"),
        CheckConstraint(f"status IN {RANGE_STATUSES}", name="status_known"),
        CheckConstraint("first_seq >= 0 AND first_seq <= last_seq AND last_seq <= 9999999", name="bounds"),
        CheckConstraint("next_seq >= first_seq AND next_seq <= last_seq + 1", name="next_within"),
        Index("ix_authorization_range_cnes", "cnes", "instrument", "program"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    instrument: str = Field(sa_column=Column(String(4), nullable=False))
    program: str = Field(sa_column=Column(String(16), nullable=False))
    cnes: str = Field(sa_column=Column(String(7), ForeignKey("establishment.cnes"), nullable=False))
    uf: str = Field(sa_column=Column(String(2), nullable=False))
    prefix: str = Field(sa_column=Column(String(17), nullable=False))
    first_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    next_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="ativa", sa_column=Column(String(10), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str | None = Field(default=None, sa_column=Column(String(64)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, None


class AuthorizationNumber(SQLModel, table=True):
    """An authorization number known to regula: issued from a range, or informed (validated) from another system."""

    __tablename__ = "authorization_number"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("instrument IN ('apac', 'aih', 'cmd')", name="instrument_known"),
        CheckConstraint(f"source IN {NUMBER_SOURCES}", name="source_known"),
        CheckConstraint(f"status IN {NUMBER_STATUSES}", name="status_known"),
        Index("ix_authorization_number_entry", "entry_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    number: str = Field(sa_column=Column(String(25), nullable=False, unique=True))
    instrument: str = Field(sa_column=Column(String(4), nullable=False))
    program: str | None = Field(default=None, sa_column=Column(String(16)))
    source: str = Field(sa_column=Column(String(10), nullable=False))
    range_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("authorization_range.id")))
    cnes: str | None = Field(default=None, sa_column=Column(String(7)))
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id")))
    citizen_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("citizen.id")))
    oci_code: str | None = Field(default=None, sa_column=Column(String(10)))
    status: str = Field(default="ativa", sa_column=Column(String(10), nullable=False))
    issued_by: str | None = Field(default=None, sa_column=Column(String(64)))
    issued_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    uf: str | None = Field(default=None, sa_column=Column(String(2)))
    municipality_ibge: str | None = Field(default=None, sa_column=Column(String(7)))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, self.municipality_ibge


class OciExecution(SQLModel, table=True):
    """One entry's OCI being performed: its clock, its APAC number and, at the end, the return to APS."""

    __tablename__ = "oci_execution"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"status IN {EXECUTION_STATUSES}", name="status_known"),
        Index("ix_oci_execution_open", "status", "first_on", postgresql_where=text("status = 'em_execucao'")),
        Index("ix_oci_execution_cnes", "cnes", "last_on"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id"), nullable=False, unique=True))
    citizen_id: int = Field(sa_column=Column(BigInteger, ForeignKey("citizen.id"), nullable=False, index=True))
    oci_code: str = Field(sa_column=Column(String(10), nullable=False))
    catalog_competencia: str = Field(sa_column=Column(String(6), nullable=False))
    cnes: str | None = Field(default=None, sa_column=Column(String(7)))  # the executing establishment
    status: str = Field(default="em_execucao", sa_column=Column(String(12), nullable=False))
    max_days: int = Field(sa_column=Column(Integer, nullable=False))  # tM
    recommended_days: int = Field(sa_column=Column(Integer, nullable=False))  # tR
    first_on: date | None = Field(default=None, sa_column=Column(Date))
    last_on: date | None = Field(default=None, sa_column=Column(Date))
    authorization_number: str | None = Field(default=None, sa_column=Column(String(25), unique=True))
    tr_alert_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    tm_warning_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    tm_exceeded_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    concluded_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    concluded_by: str | None = Field(default=None, sa_column=Column(String(64)))
    span_days: int | None = Field(default=None, sa_column=Column(Integer))
    within_tm: bool | None = Field(default=None, sa_column=Column(Boolean))
    # The return to APS (art. 5 §2: referência e contrarreferência; art. 10 §1 IV and VI).
    aps_cnes: str | None = Field(default=None, sa_column=Column(String(7)))
    aps_summary: str | None = Field(default=None, sa_column=Column(Text))
    counter_referral: str | None = Field(default=None, sa_column=Column(Text))
    navigator_closed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    navigator_closed_by: str | None = Field(default=None, sa_column=Column(String(64)))
    navigator_note: str | None = Field(default=None, sa_column=Column(Text))
    municipality_ibge: str = Field(sa_column=Column(String(7), nullable=False))
    uf: str = Field(sa_column=Column(String(2), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, self.municipality_ibge


class OciProcedure(SQLModel, table=True):
    """A procedure performed for an OCI. ``above_quantity`` flags a registration beyond SIGTAP's QT_PERMITIDA."""

    __tablename__ = "oci_procedure"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"role IN {PROCEDURE_ROLES}", name="role_known"),
        CheckConstraint(f"status IN {PROCEDURE_STATUSES}", name="status_known"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        Index("ix_oci_procedure_execution", "execution_id", "performed_on"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    execution_id: int = Field(sa_column=Column(BigInteger, ForeignKey("oci_execution.id"), nullable=False))
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id"), nullable=False))
    procedure_code: str = Field(sa_column=Column(String(10), nullable=False))
    procedure_name: str = Field(sa_column=Column(Text, nullable=False))
    role: str = Field(sa_column=Column(String(12), nullable=False))
    performed_on: date = Field(sa_column=Column(Date, nullable=False))
    cnes: str = Field(sa_column=Column(String(7), nullable=False))
    cbo: str = Field(sa_column=Column(String(6), nullable=False))
    cid_code: str = Field(sa_column=Column(String(4), nullable=False))
    quantity: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    above_quantity: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    status: str = Field(default="valido", sa_column=Column(String(8), nullable=False))
    recorded_by: str = Field(sa_column=Column(String(64), nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    voided_by: str | None = Field(default=None, sa_column=Column(String(64)))
    voided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    void_reason: str | None = Field(default=None, sa_column=Column(Text))
    municipality_ibge: str = Field(sa_column=Column(String(7), nullable=False))
    uf: str = Field(sa_column=Column(String(2), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, self.municipality_ibge


class ProductionImport(SQLModel, table=True):
    """One imported production file. The same file (SHA-256) is imported once."""

    __tablename__ = "production_import"
    __audited__ = True

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    filename: str = Field(sa_column=Column(String(255), nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    rows: int = Field(sa_column=Column(Integer, nullable=False))
    imported: int = Field(sa_column=Column(Integer, nullable=False))
    refused: int = Field(sa_column=Column(Integer, nullable=False))
    imported_by: str | None = Field(default=None, sa_column=Column(String(64)))
    imported_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ProductionRecord(SQLModel, table=True):
    """A production line as the SIA/BPA receive it: who (CPF/CNS), what (SIGTAP procedure), when, where (CNES),
    in which competência, how many, under which authorization (APAC/AIH/CMD number) and, for APAC lines, the
    APAC's principal procedure (an OCI code for OCI production)."""

    __tablename__ = "production_record"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("cpf IS NOT NULL OR cns IS NOT NULL", name="has_document"),
        CheckConstraint(f"instrument IN {PRODUCTION_INSTRUMENTS}", name="instrument_known"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("competencia ~ '^[0-9]{4}(0[1-9]|1[0-2])$'", name="competencia_aaaamm"),
        UniqueConstraint("import_id", "line_no"),
        Index("ix_production_record_competencia", "competencia", "cnes"),
        Index("ix_production_record_authorization", "authorization_number"),
        Index("ix_production_record_person", "cpf", "cns"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    import_id: int = Field(sa_column=Column(BigInteger, ForeignKey("production_import.id"), nullable=False))
    line_no: int = Field(sa_column=Column(Integer, nullable=False))
    cpf: str | None = Field(default=None, sa_column=Column(String(11)))
    cns: str | None = Field(default=None, sa_column=Column(String(15)))
    citizen_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("citizen.id")))
    procedure_code: str = Field(sa_column=Column(String(10), nullable=False))
    performed_on: date = Field(sa_column=Column(Date, nullable=False))
    cnes: str = Field(sa_column=Column(String(7), nullable=False))
    competencia: str = Field(sa_column=Column(String(6), nullable=False))
    quantity: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    instrument: str = Field(sa_column=Column(String(4), nullable=False))
    authorization_number: str | None = Field(default=None, sa_column=Column(String(25)))
    principal_code: str | None = Field(default=None, sa_column=Column(String(10)))
    cbo: str | None = Field(default=None, sa_column=Column(String(6)))
    cid_code: str | None = Field(default=None, sa_column=Column(String(4)))
