"""The teleconsultor's answer to a referral waiting in ``aguardando_teleconsulta`` (Portaria GM/MS 3.492/2024,
art. 10 §3 I; rules in ``waitlist.teleconsultation``; decision 21)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, DateTime, ForeignKey, Identity, Index, String, Text
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

TELECONSULTATION_OUTCOMES = ("resolvido_na_aps", "seguir_para_fila", "seguir_com_classe")
RISK_CLASS_SQL = "('vermelho', 'amarelo', 'verde', 'azul')"


class TeleconsultationAnswer(SQLModel, table=True):
    """The teleconsultor's answer to a referral waiting in ``aguardando_teleconsulta`` (Portaria GM/MS 3.492/2024,
    art. 10 §3 I; rules in ``waitlist.teleconsultation``). Append-only: written once, never changed or deleted; the
    referral's history event records the move it made."""

    __tablename__ = "teleconsultation_answer"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"outcome IN {TELECONSULTATION_OUTCOMES}", name="outcome_known"),
        CheckConstraint(
            f"(outcome = 'seguir_com_classe') = (suggested_risk_class IS NOT NULL) "
            f"AND (suggested_risk_class IS NULL OR suggested_risk_class IN {RISK_CLASS_SQL})",
            name="suggestion_with_its_outcome",
        ),
        CheckConstraint("outcome <> 'resolvido_na_aps' OR guidance IS NOT NULL", name="resolved_has_guidance"),
        Index("ix_teleconsultation_answer_answered", "answered_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    # One answer per referral: it waits once, and the answer moves it on.
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id"), nullable=False, unique=True))
    oci_code: str = Field(sa_column=Column(String(10), nullable=False))
    outcome: str = Field(sa_column=Column(String(20), nullable=False))
    guidance: str | None = Field(default=None, sa_column=Column(Text))
    suggested_risk_class: str | None = Field(default=None, sa_column=Column(String(10)))
    previous_risk_class: str = Field(sa_column=Column(String(10), nullable=False))  # the APS team's class
    waiting_since: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    late: bool = Field(sa_column=Column(Boolean, nullable=False))
    answered_by: str = Field(sa_column=Column(String(64), nullable=False))
    answered_by_user_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    answered_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    municipality_ibge: str = Field(sa_column=Column(String(7), nullable=False))
    uf: str = Field(sa_column=Column(String(2), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, self.municipality_ibge
