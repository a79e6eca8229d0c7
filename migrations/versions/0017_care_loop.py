"""Teleconsultation answers and counter-referrals to primary care (issue 16).

Revision ID: 0017_care_loop
Revises: 0016_referral_protocols
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_care_loop"
down_revision: str | Sequence[str] | None = "0016_referral_protocols"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_KINDS_BEFORE = (
    "'confirmacao_sem_resposta', 'mensagem_nao_entregue', 'falta', 'validacao_negativa', 'prazo_75', "
    "'resposta_nao_entendida', 'oci_tr', 'oci_tm'"
)
_KINDS_AFTER = _KINDS_BEFORE + ", 'teleconsulta_atrasada', 'contrarreferencia_nao_lida'"


def upgrade() -> None:
    # The citizen's registered APS establishment (e-SUS APS cadastro individual): a second recipient of the
    # counter-referral when it is not the team that referred (decision 21).
    op.add_column("citizen", sa.Column("aps_cnes", sa.String(length=7), nullable=True))
    op.create_table(
        "teleconsultation_answer",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("guidance", sa.Text(), nullable=True),
        sa.Column("suggested_risk_class", sa.String(length=10), nullable=True),
        sa.Column("previous_risk_class", sa.String(length=10), nullable=False),
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("answered_by", sa.String(length=64), nullable=False),
        sa.Column("answered_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("municipality_ibge", sa.String(length=7), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('resolvido_na_aps', 'seguir_para_fila', 'seguir_com_classe')",
            name=op.f("ck_teleconsultation_answer_outcome_known"),
        ),
        sa.CheckConstraint(
            "(outcome = 'seguir_com_classe') = (suggested_risk_class IS NOT NULL) "
            "AND (suggested_risk_class IS NULL OR suggested_risk_class IN ('vermelho', 'amarelo', 'verde', 'azul'))",
            name=op.f("ck_teleconsultation_answer_suggestion_with_its_outcome"),
        ),
        sa.CheckConstraint(
            "outcome <> 'resolvido_na_aps' OR guidance IS NOT NULL",
            name=op.f("ck_teleconsultation_answer_resolved_has_guidance"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["waitlist_entry.id"], name=op.f("fk_teleconsultation_answer_entry_id_waitlist_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teleconsultation_answer")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_teleconsultation_answer_entry_id")),
    )
    op.create_index("ix_teleconsultation_answer_answered", "teleconsultation_answer", ["answered_at"], unique=False)
    op.create_table(
        "counter_referral",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("citizen_id", sa.BigInteger(), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("recipient_cnes", sa.String(length=7), nullable=False),
        sa.Column("recipient", sa.String(length=12), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("conduct", sa.Text(), nullable=False),
        sa.Column("concluded_by", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_by", sa.String(length=64), nullable=True),
        sa.Column("read_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("municipality_ibge", sa.String(length=7), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.CheckConstraint(
            "recipient IN ('solicitante', 'vinculada')", name=op.f("ck_counter_referral_recipient_known")
        ),
        sa.CheckConstraint("(read_at IS NULL) = (read_by IS NULL)", name=op.f("ck_counter_referral_read_with_reader")),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], name=op.f("fk_counter_referral_citizen_id_citizen")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["waitlist_entry.id"], name=op.f("fk_counter_referral_entry_id_waitlist_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counter_referral")),
        sa.UniqueConstraint("entry_id", "recipient_cnes", name=op.f("uq_counter_referral_entry_id_recipient_cnes")),
    )
    op.create_index(op.f("ix_counter_referral_citizen_id"), "counter_referral", ["citizen_id"], unique=False)
    op.create_index("ix_counter_referral_place", "counter_referral", ["municipality_ibge", "sent_at"], unique=False)
    op.create_index(
        "ix_counter_referral_unread",
        "counter_referral",
        ["sent_at"],
        unique=False,
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.drop_constraint(op.f("ck_navigation_task_kind_known"), "navigation_task", type_="check")
    op.create_check_constraint(op.f("ck_navigation_task_kind_known"), "navigation_task", f"kind IN ({_KINDS_AFTER})")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_navigation_task_kind_known"), "navigation_task", type_="check")
    op.create_check_constraint(op.f("ck_navigation_task_kind_known"), "navigation_task", f"kind IN ({_KINDS_BEFORE})")
    op.drop_index(
        "ix_counter_referral_unread", table_name="counter_referral", postgresql_where=sa.text("read_at IS NULL")
    )
    op.drop_index("ix_counter_referral_place", table_name="counter_referral")
    op.drop_index(op.f("ix_counter_referral_citizen_id"), table_name="counter_referral")
    op.drop_table("counter_referral")
    op.drop_index("ix_teleconsultation_answer_answered", table_name="teleconsultation_answer")
    op.drop_table("teleconsultation_answer")
    op.drop_column("citizen", "aps_cnes")
