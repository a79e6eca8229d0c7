"""The care navigators' worklist: what needs a person, and the contacts made about it.

The NGC follows each OCI until it is completed (Portaria GM/MS 3.492/2024 art. 10 §4 I): the system hands them
the cases machines cannot finish — an unanswered confirmation, a message that could not be delivered, a no-show,
a citizen who said they no longer need the care, an entry past 75% of its tM.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

TASK_KINDS = (
    "confirmacao_sem_resposta",  # the citizen did not answer the confirmation request
    "mensagem_nao_entregue",  # a critical message failed, expired or could not be sent (no phone, opted out)
    "falta",  # a no-show: find out why, offer to return to the queue
    "validacao_negativa",  # "não preciso mais": confirm before closing
    "prazo_75",  # past 75% of tM without a slot (escalated)
    "resposta_nao_entendida",  # a reply we could not read, after the help message
    "oci_tr",  # an OCI in execution past its recommended time tR
    "oci_tm",  # an OCI in execution close to, or past, its maximum time tM
    "teleconsulta_atrasada",  # a referral waiting for teleconsultoria past the response time (decision 21)
    "contrarreferencia_nao_lida",  # a counter-referral the APS team has not read after N days (decision 21)
)
TASK_KIND_LABELS_PT = {
    "confirmacao_sem_resposta": "Confirmação sem resposta",
    "mensagem_nao_entregue": "Mensagem não entregue",
    "falta": "Falta ao atendimento",
    "validacao_negativa": "Respondeu que não precisa mais",
    "prazo_75": "Passou de 75% do prazo (tM)",
    "resposta_nao_entendida": "Resposta não compreendida",
    "oci_tr": "OCI além do tempo recomendado (tR)",
    "oci_tm": "OCI perto ou além do tempo máximo (tM)",
    "teleconsulta_atrasada": "Teleconsultoria sem resposta no prazo",
    "contrarreferencia_nao_lida": "Contrarreferência não lida pela APS",
}
CONTACT_OUTCOMES = {
    "confirmou": "Atendeu e confirmou",
    "cancelou": "Atendeu e desistiu",
    "reagendar": "Atendeu e pediu nova data",
    "nao_atendeu": "Não atendeu",
    "numero_invalido": "Número inválido",
    "recado": "Deixou recado",
}


class NavigationTask(SQLModel, table=True):
    __tablename__ = "navigation_task"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"kind IN {TASK_KINDS}", name="kind_known"),
        CheckConstraint("status IN ('aberta', 'concluida')", name="status_known"),
        # One open task of a kind per entry: repeated causes refresh it instead of piling up.
        Index(
            "uq_navigation_task_open",
            "entry_id",
            "kind",
            unique=True,
            postgresql_where=text("status = 'aberta' AND entry_id IS NOT NULL"),
        ),
        Index("ix_navigation_task_open", "status", "created_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    status: str = Field(default="aberta", sa_column=Column(String(10), nullable=False))
    citizen_id: int = Field(sa_column=Column(BigInteger, ForeignKey("citizen.id"), nullable=False, index=True))
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id")))
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("message.id")))
    municipality_ibge: str = Field(sa_column=Column(String(7), nullable=False))
    uf: str = Field(sa_column=Column(String(2), nullable=False))
    detail: str = Field(sa_column=Column(Text, nullable=False))
    due_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    closed_by: str | None = Field(default=None, sa_column=Column(String(64)))
    outcome: str | None = Field(default=None, sa_column=Column(Text))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, self.municipality_ibge


class ContactAttempt(SQLModel, table=True):
    """A phone call (or other contact) a navigator made, and how it went."""

    __tablename__ = "contact_attempt"
    __audited__ = True
    __table_args__ = (CheckConstraint(f"outcome IN {tuple(CONTACT_OUTCOMES)}", name="outcome_known"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    task_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("navigation_task.id")))
    citizen_id: int = Field(sa_column=Column(BigInteger, ForeignKey("citizen.id"), nullable=False, index=True))
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id")))
    municipality_ibge: str = Field(sa_column=Column(String(7), nullable=False))
    uf: str = Field(sa_column=Column(String(2), nullable=False))
    channel: str = Field(default="telefone", sa_column=Column(String(12), nullable=False))
    outcome: str = Field(sa_column=Column(String(20), nullable=False))
    notes: str | None = Field(default=None, sa_column=Column(Text))
    made_by: str = Field(sa_column=Column(String(64), nullable=False))
    made_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, self.municipality_ibge


COUNTER_REFERRAL_RECIPIENTS = {
    "solicitante": "Equipe que encaminhou",
    "vinculada": "Equipe de referência do cidadão",
}


class CounterReferral(SQLModel, table=True):
    """The contrarreferência of a concluded OCI, as delivered to one APS team: the team that referred and, when
    different, the team the citizen is registered with (Portaria GM/MS 3.492/2024 art. 5 §2: the OCI includes
    referral and counter-referral; art. 10 §1 IV and VI: the care returns to APS). The texts are a copy of what the
    conclusion recorded — the document sent — and the team's reading is acknowledged once (who, when)."""

    __tablename__ = "counter_referral"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"recipient IN {tuple(COUNTER_REFERRAL_RECIPIENTS)}", name="recipient_known"),
        CheckConstraint("(read_at IS NULL) = (read_by IS NULL)", name="read_with_reader"),
        UniqueConstraint("entry_id", "recipient_cnes"),
        Index("ix_counter_referral_unread", "sent_at", postgresql_where=text("read_at IS NULL")),
        Index("ix_counter_referral_place", "municipality_ibge", "sent_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id"), nullable=False))
    citizen_id: int = Field(sa_column=Column(BigInteger, ForeignKey("citizen.id"), nullable=False, index=True))
    oci_code: str = Field(sa_column=Column(String(10), nullable=False))
    recipient_cnes: str = Field(sa_column=Column(String(7), nullable=False))
    recipient: str = Field(sa_column=Column(String(12), nullable=False))
    findings: str = Field(sa_column=Column(Text, nullable=False))  # what was done and found (the APS summary)
    conduct: str = Field(sa_column=Column(Text, nullable=False))  # conduct and follow-up in APS
    concluded_by: str = Field(sa_column=Column(String(64), nullable=False))
    sent_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    read_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    read_by: str | None = Field(default=None, sa_column=Column(String(64)))
    read_by_user_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    municipality_ibge: str = Field(sa_column=Column(String(7), nullable=False))
    uf: str = Field(sa_column=Column(String(2), nullable=False))

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, self.municipality_ibge
