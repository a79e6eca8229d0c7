"""The 2023 queue-reduction program (Portaria GM/MS 90/2023): state plans, their procedures, services, targets and payments (issue 13).

Tables ``queue_plan_2023``, ``queue_plan_2023_item``, ``queue_plan_2023_payment`` (``regula.programs.models_2023``).
Money is numeric(14, 2).

Revision ID: 0019_queue_reduction_2023
Revises: 0018_simulation
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0019_queue_reduction_2023"
down_revision: str | Sequence[str] | None = "0018_simulation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "queue_plan_2023",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("target_reduction", sa.Integer(), nullable=False),
        sa.Column("target_note", sa.Text(), nullable=False),
        sa.Column("schedule", postgresql.JSONB(astext_type=Text()), nullable=False),
        sa.Column("population", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("upfront", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("cib_resolution", sa.String(length=60), nullable=True),
        sa.Column("cib_resolution_on", sa.Date(), nullable=True),
        sa.Column("saes_approved_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('rascunho', 'aprovado', 'substituido')", name=op.f("ck_queue_plan_2023_status_known")
        ),
        sa.CheckConstraint("target_reduction >= 0", name=op.f("ck_queue_plan_2023_target_not_negative")),
        sa.CheckConstraint("upfront <= amount", name=op.f("ck_queue_plan_2023_upfront_within_amount")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_plan_2023")),
        sa.UniqueConstraint("uf", "version", name=op.f("uq_queue_plan_2023_uf_version")),
    )
    op.create_index(op.f("ix_queue_plan_2023_uf"), "queue_plan_2023", ["uf"], unique=False)
    op.create_table(
        "queue_plan_2023_item",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("procedure_code", sa.String(length=10), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("instrument", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("table_value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("complement", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.CheckConstraint(
            "complement >= 0 AND complement <= table_value",
            name=op.f("ck_queue_plan_2023_item_complement_within_table"),
        ),
        sa.CheckConstraint("instrument IN ('apac', 'aih')", name=op.f("ck_queue_plan_2023_item_instrument_known")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_queue_plan_2023_item_quantity_positive")),
        sa.CheckConstraint("table_value >= 0", name=op.f("ck_queue_plan_2023_item_table_value_not_negative")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["queue_plan_2023.id"], name=op.f("fk_queue_plan_2023_item_plan_id_queue_plan_2023")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_plan_2023_item")),
        sa.UniqueConstraint(
            "plan_id", "procedure_code", "cnes", name=op.f("uq_queue_plan_2023_item_plan_id_procedure_code_cnes")
        ),
    )
    op.create_index(op.f("ix_queue_plan_2023_item_plan_id"), "queue_plan_2023_item", ["plan_id"], unique=False)
    op.create_table(
        "queue_plan_2023_payment",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("competencia", sa.String(length=6), nullable=True),
        sa.Column("instrument", sa.String(length=4), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_queue_plan_2023_payment_amount_not_zero")),
        sa.CheckConstraint("kind IN ('antecipacao', 'producao')", name=op.f("ck_queue_plan_2023_payment_kind_known")),
        sa.CheckConstraint(
            "kind <> 'producao' OR (competencia IS NOT NULL AND instrument IS NOT NULL)",
            name=op.f("ck_queue_plan_2023_payment_production_identified"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_plan_2023_payment")),
    )
    op.create_index(op.f("ix_queue_plan_2023_payment_uf"), "queue_plan_2023_payment", ["uf"], unique=False)


def downgrade() -> None:
    op.drop_table("queue_plan_2023_payment")
    op.drop_table("queue_plan_2023_item")
    op.drop_table("queue_plan_2023")
