"""Tables of program management: the PAR as versioned data, its approval steps, transfers and contracts.

* ``par`` / ``par_version``: a Plano de Ação Regional and its versions (Portaria GM/MS 3.492/2024 art. 8–9 as
  amended). A version holds the whole content — scope and population, diagnosis and priorities, targets, schedule,
  each ente's responsibilities and the planned OCI lines — and is immutable once its approval process starts;
  adjustments are new versions with a reason (art. 11: SAES approves the PAR "bem como de seus eventuais ajustes").
* ``par_line``: one OCI, executing establishment (CNES) and month with its planned quantity and value (art. 9 IV
  as amended: "quantidade de OCIs a serem realizadas e a lista de entes executores"); the SIGTAP value of the
  version's competência is kept with the line, so a later SIGTAP table does not change an approved plan.
* ``par_step``: the approval steps with their dates and numbers (art. 8 III as amended, art. 11, art. 15 §5 and
  art. 16 §1 as amended). The order they may happen in is ``programs.steps``.
* ``par_transfer``: money received (incentive halves, art. 15 §2; the 30% advance and production tranches, art. 16).
* ``par_commitment``: the assessment of the PAR's commitments that conditions the 70% (art. 16 §4 as amended).
* ``par_contract``: contracted quantity and value per establishment, OCI and month (art. 12 VII).

Money is ``Numeric(14, 2)`` read as ``Decimal``. Nothing is deleted (a superseded version stays,
with its lines and steps). Every table is audited.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

SCOPE_KINDS = ("region", "macro", "uf", "municipalities")
VERSION_STATUSES = ("rascunho", "em_pactuacao", "aprovada", "substituida")
STEP_KINDS = (
    "resolucao_cir",
    "ciencia_cib",
    "resolucao_cib",
    "resolucao_cgses_df",
    "aprovacao_saes",
    "portaria_publicada",
    "resolucao_cib_executores",
)
TRANSFER_KINDS = ("incentivo_1", "incentivo_2", "adiantamento", "producao")


class Par(SQLModel, table=True):
    """A PAR's identity: what stays across its versions."""

    __tablename__ = "par"
    __audited__ = True

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    title: str = Field(sa_column=Column(Text, nullable=False))
    uf: str = Field(sa_column=Column(String(2), nullable=False, index=True))
    # The date the first version was approved by SAES: the six-month window of art. 14 §2 (as amended) counts
    # from it; adjustments do not reopen the window (decision 0016).
    first_approved_on: date | None = Field(default=None, sa_column=Column(Date))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, None


class ParVersion(SQLModel, table=True):
    __tablename__ = "par_version"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("par_id", "version"),
        CheckConstraint(f"status IN {VERSION_STATUSES}", name="status_known"),
        CheckConstraint(f"scope_kind IN {SCOPE_KINDS}", name="scope_kind_known"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    par_id: int = Field(sa_column=Column(BigInteger, ForeignKey("par.id"), nullable=False, index=True))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    status: str = Field(default="rascunho", sa_column=Column(String(14), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))  # why this adjustment (versions after the 1st)
    scope_kind: str = Field(sa_column=Column(String(14), nullable=False))
    scope_code: str = Field(sa_column=Column(String(7), nullable=False))  # region/macro code or UF; "" for a list
    municipalities: list[str] = Field(sa_column=Column(JSONB, nullable=False))  # IBGE codes covered
    population: int = Field(sa_column=Column(BigInteger, nullable=False))
    population_source: str = Field(sa_column=Column(Text, nullable=False))
    catalog_competencia: str = Field(sa_column=Column(String(6), nullable=False))  # SIGTAP values of the lines
    diagnosis: str = Field(sa_column=Column(Text, nullable=False))
    priorities: str = Field(sa_column=Column(Text, nullable=False))
    target_queue_size: int | None = Field(default=None, sa_column=Column(Integer))
    target_wait_days: int | None = Field(default=None, sa_column=Column(Integer))
    target_date: date | None = Field(default=None, sa_column=Column(Date))
    schedule: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))  # [{"milestone", "due_on"}]
    responsibilities: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))  # [{"ente", "text"}]
    approved_on: date | None = Field(default=None, sa_column=Column(Date))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ParLine(SQLModel, table=True):
    __tablename__ = "par_line"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("version_id", "oci_code", "cnes", "month"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("extract(day from month) = 1", name="month_first_day"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    version_id: int = Field(sa_column=Column(BigInteger, ForeignKey("par_version.id"), nullable=False, index=True))
    manager: str = Field(sa_column=Column(String(24), nullable=False))  # "uf:SC" or "municipality:4205407"
    oci_code: str = Field(sa_column=Column(String(10), nullable=False))
    cnes: str = Field(sa_column=Column(String(7), nullable=False))
    month: date = Field(sa_column=Column(Date, nullable=False))
    quantity: int = Field(sa_column=Column(Integer, nullable=False))
    unit_value: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    value: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))


class ParStep(SQLModel, table=True):
    __tablename__ = "par_step"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("version_id", "kind"),
        CheckConstraint(f"kind IN {STEP_KINDS}", name="kind_known"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    version_id: int = Field(sa_column=Column(BigInteger, ForeignKey("par_version.id"), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(26), nullable=False))
    number: str = Field(sa_column=Column(String(60), nullable=False))  # resolution / portaria / process number
    step_date: date = Field(sa_column=Column(Date, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ParTransfer(SQLModel, table=True):
    __tablename__ = "par_transfer"
    __audited__ = True
    __table_args__ = (CheckConstraint(f"kind IN {TRANSFER_KINDS}", name="kind_known"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    par_id: int = Field(sa_column=Column(BigInteger, ForeignKey("par.id"), nullable=False, index=True))
    manager: str = Field(sa_column=Column(String(24), nullable=False))
    kind: str = Field(sa_column=Column(String(14), nullable=False))
    paid_on: date = Field(sa_column=Column(Date, nullable=False))
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    reference: str | None = Field(default=None, sa_column=Column(Text))  # FNS order, portaria…
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ParCommitment(SQLModel, table=True):
    """An assessment of the PAR's commitments (art. 16 §4 as amended); the newest one holds."""

    __tablename__ = "par_commitment"
    __audited__ = True

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    par_id: int = Field(sa_column=Column(BigInteger, ForeignKey("par.id"), nullable=False, index=True))
    assessed_on: date = Field(sa_column=Column(Date, nullable=False))
    met: bool = Field(sa_column=Column(Boolean, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ParContract(SQLModel, table=True):
    """What a manager contracted from an establishment for an OCI in a month (art. 12 VII)."""

    __tablename__ = "par_contract"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("par_id", "cnes", "oci_code", "month"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("extract(day from month) = 1", name="month_first_day"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    par_id: int = Field(sa_column=Column(BigInteger, ForeignKey("par.id"), nullable=False, index=True))
    contract_number: str = Field(sa_column=Column(String(60), nullable=False))
    manager: str = Field(sa_column=Column(String(24), nullable=False))
    cnes: str = Field(sa_column=Column(String(7), nullable=False))
    oci_code: str = Field(sa_column=Column(String(10), nullable=False))
    month: date = Field(sa_column=Column(Date, nullable=False))
    quantity: int = Field(sa_column=Column(Integer, nullable=False))
    unit_value: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    value: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
