"""The care navigators' worklist: what needs a person, and the contacts made about it.

The NGC follows each OCI until it is completed (Portaria GM/MS 3.492/2024 art. 10 §4 I): the system hands them
the cases machines cannot finish — an unanswered confirmation, a message that could not be delivered, a no-show,
a citizen who said they no longer need the care, an entry past 75% of its tM.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Identity, Index, String, Text, text
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
