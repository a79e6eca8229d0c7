"""Tables of the Ressarcimento component (Portaria Conjunta MS/AGU 7.702/2025): health-plan operators, their offer
matrix, their units (establishments of ``providers``), the ente's monthly attestation with the COR expected and
issued, and the sanctions of art. 17.

* ``ressarcimento_operator`` (art. 2–4, 9): ANS registration, size, national reach, the eligibility facts of art. 3,
  the status of the adhesion workflow, the ente consultation deadline (art. 6) and the minimum exception (art. 15
  §2). Every step taken is a row of ``ressarcimento_operator_step`` (history, never rewritten).
* ``ressarcimento_annual_max`` (art. 15 §5): the annual maximum value SAES sets for an operator, per year.
* ``ressarcimento_unit`` (art. 9 §1 V): an establishment (own or contracted) through which the operator serves.
* ``ressarcimento_matrix_item`` (art. 4 §1–2, art. 10): an OCI or surgery offered at a unit, with its value and
  monthly and annual quantities; a change ends the item (``active`` false) and a new version takes its place.
* ``ressarcimento_attestation`` / ``ressarcimento_attested_item`` (art. 12, 14, 15): the month the ente attests,
  the checked production it counted (frozen), the evaluation's expected COR, SAES homologation and the COR the FNS
  issued.
* ``ressarcimento_sanction`` (art. 17): a proposed fine or exclusion, its notification, the 15-day challenge window
  and the outcome.

Nothing is deleted (the app role has no DELETE); every table is audited.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

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
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

OPERATOR_SIZES = ("pequeno", "medio", "grande")
UNIT_RELATIONS = ("propria", "contratada")
MATRIX_COMPONENTS = ("oci", "cirurgia")  # art. 10 I (ambulatorial, OCI) and II (cirúrgico)
ATTESTATION_STATUSES = ("atestada", "homologada", "cor_emitido")
SANCTION_KINDS = ("multa", "exclusao")
SANCTION_STATUSES = ("proposta", "notificada", "impugnada", "definitiva", "revogada")
SANCTION_OUTCOMES = ("mantida", "revogada", "sem_impugnacao")

_MONEY = Numeric(14, 2)


class Operator(SQLModel, table=True):
    __tablename__ = "ressarcimento_operator"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"size IN {OPERATOR_SIZES}", name="size_known"),
        CheckConstraint("ans_registration ~ '^[0-9]{6}$'", name="ans_registration_digits"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    ans_registration: str = Field(sa_column=Column(String(6), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    size: str = Field(sa_column=Column(String(8), nullable=False))
    national_reach: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    # Art. 3: I technical and operational capacity (verified by SAES), II regular with ANS reports, III not in
    # liquidation.
    technical_capacity: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    ans_reports_regular: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    in_liquidation: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    minimum_exception: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))  # art. 15 §2
    status: str = Field(sa_column=Column(String(32), nullable=False))
    status_since: date = Field(sa_column=Column(Date, nullable=False))
    # Art. 6: the ente answers in 10 business days from the communication, extendable once by 5.
    consultation_sent_on: date | None = Field(default=None, sa_column=Column(Date))
    consultation_deadline: date | None = Field(default=None, sa_column=Column(Date))
    consultation_extended: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    uf: str = Field(sa_column=Column(String(2), nullable=False, index=True))  # the ente's UF
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, None


class OperatorStep(SQLModel, table=True):
    """One step of an operator's adhesion workflow, as it was taken (who, when, the date it refers to, why)."""

    __tablename__ = "ressarcimento_operator_step"
    __audited__ = True

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    operator_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("ressarcimento_operator.id"), nullable=False, index=True)
    )
    from_status: str | None = Field(default=None, sa_column=Column(String(32)))
    to_status: str = Field(sa_column=Column(String(32), nullable=False))
    on_date: date = Field(sa_column=Column(Date, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class AnnualMaximum(SQLModel, table=True):
    """Art. 15 §5: the operator's annual maximum value for a calendar year, set by an SAES act."""

    __tablename__ = "ressarcimento_annual_max"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("value_brl > 0", name="value_positive"),
        CheckConstraint("year BETWEEN 2025 AND 2100", name="year_range"),
    )

    operator_id: int = Field(sa_column=Column(BigInteger, ForeignKey("ressarcimento_operator.id"), primary_key=True))
    year: int = Field(sa_column=Column(Integer, primary_key=True))
    value_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    act: str | None = Field(default=None, sa_column=Column(String(200)))
    set_by: str = Field(sa_column=Column(String(64), nullable=False))
    set_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class OperatorUnit(SQLModel, table=True):
    """An establishment through which the operator serves SUS patients (art. 9 §1 V: own or contracted). It is an
    ordinary establishment of ``providers``: its slots are allocated and its production checked like any other."""

    __tablename__ = "ressarcimento_unit"
    __audited__ = True
    __table_args__ = (CheckConstraint(f"relation IN {UNIT_RELATIONS}", name="relation_known"),)

    operator_id: int = Field(sa_column=Column(BigInteger, ForeignKey("ressarcimento_operator.id"), primary_key=True))
    cnes: str = Field(sa_column=Column(String(7), ForeignKey("establishment.cnes"), primary_key=True, index=True))
    relation: str = Field(sa_column=Column(String(10), nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class MatrixItem(SQLModel, table=True):
    """One line of the offer matrix (art. 4 §1–2, art. 10). ``value_brl`` is what one service counts: the OCI's
    SIGTAP value (which already includes the IVR, art. 10 I) or the principal procedure's value × IVR (art. 10 II),
    rounded once to centavos. A change ends this version (``active`` false, ``replaced_by``) and adds a new one."""

    __tablename__ = "ressarcimento_matrix_item"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"component IN {MATRIX_COMPONENTS}", name="component_known"),
        CheckConstraint("monthly_qty >= 0 AND annual_qty >= 0", name="quantities_non_negative"),
        CheckConstraint("unit_value_brl >= 0 AND value_brl >= 0", name="values_non_negative"),
        CheckConstraint("component = 'oci' OR ivr IS NOT NULL", name="surgery_has_ivr"),
        Index(
            "uq_ressarcimento_matrix_item_active",
            "operator_id",
            "cnes",
            "procedure_code",
            unique=True,
            postgresql_where=text("active"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    operator_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("ressarcimento_operator.id"), nullable=False, index=True)
    )
    cnes: str = Field(sa_column=Column(String(7), ForeignKey("establishment.cnes"), nullable=False))
    component: str = Field(sa_column=Column(String(8), nullable=False))
    procedure_code: str = Field(sa_column=Column(String(10), nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    unit_value_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))  # SIGTAP value (OCI or principal)
    ivr: Decimal | None = Field(default=None, sa_column=Column(Numeric(6, 4)))
    value_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    monthly_qty: int = Field(sa_column=Column(Integer, nullable=False))
    annual_qty: int = Field(sa_column=Column(Integer, nullable=False))
    sublimit_brl: Decimal | None = Field(default=None, sa_column=Column(_MONEY))  # art. 4 §2
    strategic: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))  # art. 4 §3 VI
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    replaced_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class Attestation(SQLModel, table=True):
    """The ente's attestation of one operator's month (art. 12), with what regula's evaluation expects (art. 15,
    17), SAES's homologation (art. 14) and the COR the FNS issued (art. 15), compared with the expected value."""

    __tablename__ = "ressarcimento_attestation"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"status IN {ATTESTATION_STATUSES}", name="status_known"),
        CheckConstraint("competencia ~ '^[0-9]{4}(0[1-9]|1[0-2])$'", name="competencia_aaaamm"),
        CheckConstraint(f"sanction IN ('nenhuma', {', '.join(repr(k) for k in SANCTION_KINDS)})", name="sanction"),
        UniqueConstraint("operator_id", "competencia"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    operator_id: int = Field(sa_column=Column(BigInteger, ForeignKey("ressarcimento_operator.id"), nullable=False))
    competencia: str = Field(sa_column=Column(String(6), nullable=False))
    status: str = Field(default="atestada", sa_column=Column(String(12), nullable=False))
    planned_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    registered_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))  # all checked production, valued
    unauthorized_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))  # art. 15 §6: not counted
    items: int = Field(sa_column=Column(Integer, nullable=False))
    unauthorized_items: int = Field(sa_column=Column(Integer, nullable=False))
    counted_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    carried_in_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    available_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    cor_expected: bool = Field(sa_column=Column(Boolean, nullable=False))
    expected_cor_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    carried_out_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    expired_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    execution_pct: Decimal = Field(sa_column=Column(Numeric(9, 2), nullable=False))
    months_below_90: int = Field(sa_column=Column(Integer, nullable=False))
    sanction: str = Field(sa_column=Column(String(8), nullable=False))
    fine_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    annual_max_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    attested_by: str = Field(sa_column=Column(String(64), nullable=False))
    attested_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    homologated_on: date | None = Field(default=None, sa_column=Column(Date))
    homologation_act: str | None = Field(default=None, sa_column=Column(String(200)))
    homologated_by: str | None = Field(default=None, sa_column=Column(String(64)))
    cor_number: str | None = Field(default=None, sa_column=Column(String(64)))
    cor_issued_on: date | None = Field(default=None, sa_column=Column(Date))
    cor_issued_brl: Decimal | None = Field(default=None, sa_column=Column(_MONEY))
    cor_recorded_by: str | None = Field(default=None, sa_column=Column(String(64)))
    uf: str = Field(sa_column=Column(String(2), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, None


class AttestedItem(SQLModel, table=True):
    """A checked production line the attestation valued, frozen as it was counted (input order of the month)."""

    __tablename__ = "ressarcimento_attested_item"
    __audited__ = True
    __table_args__ = (UniqueConstraint("attestation_id", "seq"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    attestation_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("ressarcimento_attestation.id"), nullable=False)
    )
    seq: int = Field(sa_column=Column(Integer, nullable=False))
    production_record_id: int = Field(sa_column=Column(BigInteger, ForeignKey("production_record.id"), nullable=False))
    matrix_item_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("ressarcimento_matrix_item.id"), nullable=False)
    )
    cnes: str = Field(sa_column=Column(String(7), nullable=False))
    procedure_code: str = Field(sa_column=Column(String(10), nullable=False))
    quantity: int = Field(sa_column=Column(Integer, nullable=False))
    value_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    authorized: bool = Field(sa_column=Column(Boolean, nullable=False))
    region: str = Field(sa_column=Column(String(2), nullable=False))
    strategic: bool = Field(sa_column=Column(Boolean, nullable=False))


class Sanction(SQLModel, table=True):
    """A sanction of art. 17 proposed by an attestation: notified, open to challenge for 15 days (§1), then final —
    without a challenge when the window ends, or with the challenge's outcome."""

    __tablename__ = "ressarcimento_sanction"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"kind IN {SANCTION_KINDS}", name="kind_known"),
        CheckConstraint(f"status IN {SANCTION_STATUSES}", name="status_known"),
        CheckConstraint(f"outcome IS NULL OR outcome IN {SANCTION_OUTCOMES}", name="outcome_known"),
        UniqueConstraint("attestation_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    operator_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("ressarcimento_operator.id"), nullable=False, index=True)
    )
    attestation_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("ressarcimento_attestation.id"), nullable=False)
    )
    competencia: str = Field(sa_column=Column(String(6), nullable=False))
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    amount_brl: Decimal = Field(sa_column=Column(_MONEY, nullable=False))
    months_below_90: int = Field(sa_column=Column(Integer, nullable=False))
    status: str = Field(default="proposta", sa_column=Column(String(12), nullable=False))
    proposed_on: date = Field(sa_column=Column(Date, nullable=False))
    notified_on: date | None = Field(default=None, sa_column=Column(Date))
    challenge_deadline: date | None = Field(default=None, sa_column=Column(Date))
    challenged_on: date | None = Field(default=None, sa_column=Column(Date))
    challenge_note: str | None = Field(default=None, sa_column=Column(Text))
    outcome: str | None = Field(default=None, sa_column=Column(String(16)))
    outcome_note: str | None = Field(default=None, sa_column=Column(Text))
    final_on: date | None = Field(default=None, sa_column=Column(Date))
    decided_by: str | None = Field(default=None, sa_column=Column(String(64)))
    uf: str = Field(sa_column=Column(String(2), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, None
