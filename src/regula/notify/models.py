"""The outbox of messages to citizens, and the replies they send back.

A :class:`Message` row is written in the same transaction as the change that causes it (an appointment, a
released place, an authorization), with an idempotency key, so a message exists if and only if its cause
committed. The dispatcher (``regula.notify.dispatcher``) sends what is due and records what the provider said.
Portaria GM/MS 3.492/2024 art. 10 §2 V (a regular channel with each citizen about their place in the queue) and
art. 12 VIII (reduce no-shows).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

MESSAGE_STATUSES = (
    "pendente",  # waiting in the outbox (maybe for its due time, quiet hours or a retry)
    "enviando",  # claimed by a dispatcher; the provider may or may not have it
    "enviada",  # the provider accepted it (we hold its SID)
    "entregue",  # the provider says it reached the phone
    "falhou",  # refused or failed for good (invalid number, blocked, undelivered)
    "expirada",  # not sent within its validity: handed to the navigators
    "cancelada",  # its cause went away (the appointment was released, the entry closed)
    "bloqueada",  # the citizen opted out or gave no consent: never sent
)
CHANNELS = ("sms", "whatsapp", "console", "memoria")
# "aviso": the appointment notice — a NÃO releases the place, a SIM confirms it, silence is fine (the
# confirmation request seven days before is the question whose silence goes to the navigators).
QUESTIONS = ("aviso", "confirmacao", "oferta", "validacao", "validacao_confirma")


class Message(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (
        CheckConstraint(f"status IN {MESSAGE_STATUSES}", name="status_known"),
        CheckConstraint(f"channel IN {CHANNELS}", name="channel_known"),
        CheckConstraint(f"question IS NULL OR question IN {QUESTIONS}", name="question_known"),
        Index("ix_message_due", "next_attempt_at", postgresql_where=text("status = 'pendente'")),
        Index("ix_message_claimed", "claimed_by", postgresql_where=text("status = 'enviando'")),
        Index("ix_message_to_open_question", "to_address", postgresql_where=text("question IS NOT NULL")),
        Index("ix_message_entry", "entry_id", "created_at"),
        Index("ix_message_citizen", "citizen_id", "created_at"),
        Index(
            "uq_message_provider_sid", "provider_sid", unique=True, postgresql_where=text("provider_sid IS NOT NULL")
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    # (entry, event, version, channel): writing the same message twice is a no-op.
    idempotency_key: str = Field(sa_column=Column(String(160), nullable=False, unique=True))
    citizen_id: int = Field(sa_column=Column(BigInteger, ForeignKey("citizen.id"), nullable=False))
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id")))
    booking_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("slot_booking.id")))
    kind: str = Field(sa_column=Column(String(24), nullable=False))
    channel: str = Field(sa_column=Column(String(10), nullable=False))
    to_address: str = Field(sa_column=Column(String(40), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    # Template variables, for WhatsApp templates (ContentSid + ContentVariables) outside the 24-hour window.
    variables: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    # A question waits for the citizen's answer until reply_by.
    question: str | None = Field(default=None, sa_column=Column(String(24)))
    reply_by: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    answer: str | None = Field(default=None, sa_column=Column(String(16)))
    answered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # Critical messages (appointments, confirmations, offers) go to the navigators when they cannot be delivered.
    critical: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    status: str = Field(default="pendente", sa_column=Column(String(12), nullable=False))
    provider_status: str | None = Field(default=None, sa_column=Column(String(16)))
    # Order of the provider's statuses, so late or repeated callbacks never move a message backwards.
    provider_rank: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0"))
    provider_sid: str | None = Field(default=None, sa_column=Column(String(40)))
    sender: str | None = Field(default=None, sa_column=Column(String(40)))
    due_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    valid_until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    claimed_by: str | None = Field(default=None, sa_column=Column(String(64)))
    claimed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # The last attempt's outcome is unknown (timeout, crash): look the message up at the provider before resending.
    needs_reconcile: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="false"))
    error_code: str | None = Field(default=None, sa_column=Column(String(16)))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    deferred_reason: str | None = Field(default=None, sa_column=Column(String(32)))
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class InboundMessage(SQLModel, table=True):
    """A message a citizen sent us (a reply), kept with what we understood and did."""

    __tablename__ = "inbound_message"
    __table_args__ = (Index("ix_inbound_message_from", "from_address", "received_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    provider_sid: str = Field(sa_column=Column(String(40), nullable=False, unique=True))
    channel: str = Field(sa_column=Column(String(10), nullable=False))
    from_address: str = Field(sa_column=Column(String(40), nullable=False))
    to_address: str = Field(sa_column=Column(String(40), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    citizen_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("citizen.id")))
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("message.id")))
    intent: str = Field(sa_column=Column(String(16), nullable=False))  # sim | nao | sair | desconhecida
    outcome: str = Field(sa_column=Column(String(48), nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
