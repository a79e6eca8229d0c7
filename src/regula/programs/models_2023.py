"""Tables of the 2023 queue-reduction program (Portaria GM/MS 90/2023): the state plans and their payments.

* ``queue_plan_2023``: one version of a UF's Plano Estadual de Redução das Filas (art. 4, art. 6): the target of
  queue reduction in 2023 (III), the schedule of the money's execution (IV), the UF's per-capita share and its
  up-front third as the Annex sets them (art. 6 §1, art. 8 §3 I), and the approval: the CIB resolution approving
  the plan and distributing the money (art. 4 §1, art. 8 §2 II) and the SAES approval (art. 4 §3). A change is a
  new version with a reason; the previous one is kept as ``substituido``.
* ``queue_plan_2023_item``: the plan's procedures (SIGTAP codes, art. 6 I) per executing service (CNES, art. 6 II),
  the quantity to perform, the instrument that registers them (AIH or APAC, art. 10 I), the SUS table value and the
  federal complement per procedure (at most 100% of the table value, art. 9).
* ``queue_plan_2023_payment``: money the UF's funds received — the up-front third (art. 8 §3 I) or a tranche paid
  on SIA/SIH production of a competência (art. 8 §3 II) registered as eletivo under the program's series (art. 10).
  A mistaken payment is reversed by a negative one; nothing is deleted.

Money is ``Numeric(14, 2)`` read as ``Decimal``. Every table is audited.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
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

PLAN_STATUSES = ("rascunho", "aprovado", "substituido")
INSTRUMENTS = ("apac", "aih")
PAYMENT_KINDS = ("antecipacao", "producao")


class QueuePlan2023(SQLModel, table=True):
    __tablename__ = "queue_plan_2023"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("uf", "version"),
        CheckConstraint(f"status IN {PLAN_STATUSES}", name="status_known"),
        CheckConstraint("target_reduction >= 0", name="target_not_negative"),
        CheckConstraint("upfront <= amount", name="upfront_within_amount"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    uf: str = Field(sa_column=Column(String(2), nullable=False, index=True))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    status: str = Field(default="rascunho", sa_column=Column(String(12), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))  # why this version (after the first)
    target_reduction: int = Field(sa_column=Column(Integer, nullable=False))  # art. 6 III: procedures in 2023
    target_note: str = Field(sa_column=Column(Text, nullable=False))
    schedule: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))  # art. 6 IV: [{"month","amount"}]
    population: int = Field(sa_column=Column(BigInteger, nullable=False))  # IBGE/TCU 2021 (Annex)
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))  # the UF's per-capita share
    upfront: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))  # ⅓ (art. 8 §3 I)
    cib_resolution: str | None = Field(default=None, sa_column=Column(String(60)))
    cib_resolution_on: date | None = Field(default=None, sa_column=Column(Date))
    saes_approved_on: date | None = Field(default=None, sa_column=Column(Date))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, None


class QueuePlan2023Item(SQLModel, table=True):
    __tablename__ = "queue_plan_2023_item"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("plan_id", "procedure_code", "cnes"),
        CheckConstraint(f"instrument IN {INSTRUMENTS}", name="instrument_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("table_value >= 0", name="table_value_not_negative"),
        CheckConstraint("complement >= 0 AND complement <= table_value", name="complement_within_table"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    plan_id: int = Field(sa_column=Column(BigInteger, ForeignKey("queue_plan_2023.id"), nullable=False, index=True))
    procedure_code: str = Field(sa_column=Column(String(10), nullable=False))
    cnes: str = Field(sa_column=Column(String(7), nullable=False))
    instrument: str = Field(sa_column=Column(String(4), nullable=False))
    quantity: int = Field(sa_column=Column(Integer, nullable=False))
    table_value: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    complement: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))


class QueuePlan2023Payment(SQLModel, table=True):
    __tablename__ = "queue_plan_2023_payment"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"kind IN {PAYMENT_KINDS}", name="kind_known"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint(
            "kind <> 'producao' OR (competencia IS NOT NULL AND instrument IS NOT NULL)", name="production_identified"
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    uf: str = Field(sa_column=Column(String(2), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(12), nullable=False))
    competencia: str | None = Field(default=None, sa_column=Column(String(6)))  # AAAAMM of the production paid
    instrument: str | None = Field(default=None, sa_column=Column(String(4)))  # apac | aih (art. 10)
    paid_on: date = Field(sa_column=Column(Date, nullable=False))
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, None
