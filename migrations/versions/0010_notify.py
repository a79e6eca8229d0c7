"""The outbox of messages to citizens, their replies, and the navigators' worklist and contact log.

Revision ID: 0010_notify
Revises: 0009_allocation
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_notify"
down_revision: str | Sequence[str] | None = "0009_allocation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column("citizen_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("booking_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("to_address", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("variables", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("question", sa.String(length=24), nullable=True),
        sa.Column("reply_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.String(length=16), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("provider_status", sa.String(length=16), nullable=True),
        sa.Column("provider_rank", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("provider_sid", sa.String(length=40), nullable=True),
        sa.Column("sender", sa.String(length=40), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("needs_reconcile", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("deferred_reason", sa.String(length=32), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('sms', 'whatsapp', 'console', 'memoria')", name=op.f("ck_message_channel_known")
        ),
        sa.CheckConstraint(
            "question IS NULL OR question IN ('aviso', 'confirmacao', 'oferta', 'validacao', 'validacao_confirma')",
            name=op.f("ck_message_question_known"),
        ),
        sa.CheckConstraint(
            "status IN ('pendente', 'enviando', 'enviada', 'entregue', 'falhou', 'expirada', 'cancelada', 'bloqueada')",
            name=op.f("ck_message_status_known"),
        ),
        sa.ForeignKeyConstraint(["booking_id"], ["slot_booking.id"], name=op.f("fk_message_booking_id_slot_booking")),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], name=op.f("fk_message_citizen_id_citizen")),
        sa.ForeignKeyConstraint(["entry_id"], ["waitlist_entry.id"], name=op.f("fk_message_entry_id_waitlist_entry")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_message_idempotency_key")),
    )
    op.create_index("ix_message_citizen", "message", ["citizen_id", "created_at"], unique=False)
    op.create_index(
        "ix_message_claimed", "message", ["claimed_by"], unique=False, postgresql_where=sa.text("status = 'enviando'")
    )
    op.create_index(
        "ix_message_due", "message", ["next_attempt_at"], unique=False, postgresql_where=sa.text("status = 'pendente'")
    )
    op.create_index("ix_message_entry", "message", ["entry_id", "created_at"], unique=False)
    op.create_index(
        "ix_message_to_open_question",
        "message",
        ["to_address"],
        unique=False,
        postgresql_where=sa.text("question IS NOT NULL"),
    )
    op.create_index(
        "uq_message_provider_sid",
        "message",
        ["provider_sid"],
        unique=True,
        postgresql_where=sa.text("provider_sid IS NOT NULL"),
    )
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("provider_sid", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("from_address", sa.String(length=40), nullable=False),
        sa.Column("to_address", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("citizen_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("intent", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=48), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], name=op.f("fk_inbound_message_citizen_id_citizen")),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], name=op.f("fk_inbound_message_message_id_message")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_message")),
        sa.UniqueConstraint("provider_sid", name=op.f("uq_inbound_message_provider_sid")),
    )
    op.create_index("ix_inbound_message_from", "inbound_message", ["from_address", "received_at"], unique=False)
    op.create_table(
        "navigation_task",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("citizen_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("municipality_ibge", sa.String(length=7), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('confirmacao_sem_resposta', 'mensagem_nao_entregue', 'falta', 'validacao_negativa', 'prazo_75', 'resposta_nao_entendida', 'oci_tr', 'oci_tm')",
            name=op.f("ck_navigation_task_kind_known"),
        ),
        sa.CheckConstraint("status IN ('aberta', 'concluida')", name=op.f("ck_navigation_task_status_known")),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], name=op.f("fk_navigation_task_citizen_id_citizen")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["waitlist_entry.id"], name=op.f("fk_navigation_task_entry_id_waitlist_entry")
        ),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], name=op.f("fk_navigation_task_message_id_message")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_navigation_task")),
    )
    op.create_index(op.f("ix_navigation_task_citizen_id"), "navigation_task", ["citizen_id"], unique=False)
    op.create_index("ix_navigation_task_open", "navigation_task", ["status", "created_at"], unique=False)
    op.create_index(
        "uq_navigation_task_open",
        "navigation_task",
        ["entry_id", "kind"],
        unique=True,
        postgresql_where=sa.text("status = 'aberta' AND entry_id IS NOT NULL"),
    )
    op.create_table(
        "contact_attempt",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("citizen_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("municipality_ibge", sa.String(length=7), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("made_by", sa.String(length=64), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('confirmou', 'cancelou', 'reagendar', 'nao_atendeu', 'numero_invalido', 'recado')",
            name=op.f("ck_contact_attempt_outcome_known"),
        ),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], name=op.f("fk_contact_attempt_citizen_id_citizen")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["waitlist_entry.id"], name=op.f("fk_contact_attempt_entry_id_waitlist_entry")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["navigation_task.id"], name=op.f("fk_contact_attempt_task_id_navigation_task")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_attempt")),
    )
    op.create_index(op.f("ix_contact_attempt_citizen_id"), "contact_attempt", ["citizen_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_contact_attempt_citizen_id"), table_name="contact_attempt")
    op.drop_table("contact_attempt")
    op.drop_index(
        "uq_navigation_task_open",
        table_name="navigation_task",
        postgresql_where=sa.text("status = 'aberta' AND entry_id IS NOT NULL"),
    )
    op.drop_index("ix_navigation_task_open", table_name="navigation_task")
    op.drop_index(op.f("ix_navigation_task_citizen_id"), table_name="navigation_task")
    op.drop_table("navigation_task")
    op.drop_index("ix_inbound_message_from", table_name="inbound_message")
    op.drop_table("inbound_message")
    op.drop_index("uq_message_provider_sid", table_name="message", postgresql_where=sa.text("provider_sid IS NOT NULL"))
    op.drop_index("ix_message_to_open_question", table_name="message", postgresql_where=sa.text("question IS NOT NULL"))
    op.drop_index("ix_message_entry", table_name="message")
    op.drop_index("ix_message_due", table_name="message", postgresql_where=sa.text("status = 'pendente'"))
    op.drop_index("ix_message_claimed", table_name="message", postgresql_where=sa.text("status = 'enviando'"))
    op.drop_index("ix_message_citizen", table_name="message")
    op.drop_table("message")
