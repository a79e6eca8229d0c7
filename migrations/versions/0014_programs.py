"""Program management: the PAR as versioned data, approvals, contracts, funding ledger (issue 13).

Tables ``par``, ``par_version``, ``par_line``, ``par_step``, ``par_transfer``, ``par_commitment``, ``par_contract``
(``regula.programs.models``; decision 0016). Money is numeric(14, 2).

Revision ID: 0014_programs
Revises: 0013_allocation_queue
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0014_programs"
down_revision: str | Sequence[str] | None = "0013_allocation_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "par",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("first_approved_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_par")),
    )
    op.create_index(op.f("ix_par_uf"), "par", ["uf"], unique=False)
    op.create_table(
        "par_commitment",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("par_id", sa.BigInteger(), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("met", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["par_id"], ["par.id"], name=op.f("fk_par_commitment_par_id_par")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_par_commitment")),
    )
    op.create_index(op.f("ix_par_commitment_par_id"), "par_commitment", ["par_id"], unique=False)
    op.create_table(
        "par_contract",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("par_id", sa.BigInteger(), nullable=False),
        sa.Column("contract_number", sa.String(length=60), nullable=False),
        sa.Column("manager", sa.String(length=24), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("extract(day from month) = 1", name=op.f("ck_par_contract_month_first_day")),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_par_contract_quantity_not_negative")),
        sa.ForeignKeyConstraint(["par_id"], ["par.id"], name=op.f("fk_par_contract_par_id_par")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_par_contract")),
        sa.UniqueConstraint(
            "par_id", "cnes", "oci_code", "month", name=op.f("uq_par_contract_par_id_cnes_oci_code_month")
        ),
    )
    op.create_index(op.f("ix_par_contract_par_id"), "par_contract", ["par_id"], unique=False)
    op.create_table(
        "par_transfer",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("par_id", sa.BigInteger(), nullable=False),
        sa.Column("manager", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=14), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('incentivo_1', 'incentivo_2', 'adiantamento', 'producao')",
            name=op.f("ck_par_transfer_kind_known"),
        ),
        sa.ForeignKeyConstraint(["par_id"], ["par.id"], name=op.f("fk_par_transfer_par_id_par")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_par_transfer")),
    )
    op.create_index(op.f("ix_par_transfer_par_id"), "par_transfer", ["par_id"], unique=False)
    op.create_table(
        "par_version",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("par_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=14), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("scope_kind", sa.String(length=14), nullable=False),
        sa.Column("scope_code", sa.String(length=7), nullable=False),
        sa.Column("municipalities", postgresql.JSONB(astext_type=Text()), nullable=False),
        sa.Column("population", sa.BigInteger(), nullable=False),
        sa.Column("population_source", sa.Text(), nullable=False),
        sa.Column("catalog_competencia", sa.String(length=6), nullable=False),
        sa.Column("diagnosis", sa.Text(), nullable=False),
        sa.Column("priorities", sa.Text(), nullable=False),
        sa.Column("target_queue_size", sa.Integer(), nullable=True),
        sa.Column("target_wait_days", sa.Integer(), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("schedule", postgresql.JSONB(astext_type=Text()), nullable=False),
        sa.Column("responsibilities", postgresql.JSONB(astext_type=Text()), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "scope_kind IN ('region', 'macro', 'uf', 'municipalities')", name=op.f("ck_par_version_scope_kind_known")
        ),
        sa.CheckConstraint(
            "status IN ('rascunho', 'em_pactuacao', 'aprovada', 'substituida')",
            name=op.f("ck_par_version_status_known"),
        ),
        sa.ForeignKeyConstraint(["par_id"], ["par.id"], name=op.f("fk_par_version_par_id_par")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_par_version")),
        sa.UniqueConstraint("par_id", "version", name=op.f("uq_par_version_par_id_version")),
    )
    op.create_index(op.f("ix_par_version_par_id"), "par_version", ["par_id"], unique=False)
    op.create_table(
        "par_line",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("manager", sa.String(length=24), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.CheckConstraint("extract(day from month) = 1", name=op.f("ck_par_line_month_first_day")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_par_line_quantity_positive")),
        sa.ForeignKeyConstraint(["version_id"], ["par_version.id"], name=op.f("fk_par_line_version_id_par_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_par_line")),
        sa.UniqueConstraint(
            "version_id", "oci_code", "cnes", "month", name=op.f("uq_par_line_version_id_oci_code_cnes_month")
        ),
    )
    op.create_index(op.f("ix_par_line_version_id"), "par_line", ["version_id"], unique=False)
    op.create_table(
        "par_step",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=26), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("step_date", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('resolucao_cir', 'ciencia_cib', 'resolucao_cib', 'resolucao_cgses_df', 'aprovacao_saes', 'portaria_publicada', 'resolucao_cib_executores')",
            name=op.f("ck_par_step_kind_known"),
        ),
        sa.ForeignKeyConstraint(["version_id"], ["par_version.id"], name=op.f("fk_par_step_version_id_par_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_par_step")),
        sa.UniqueConstraint("version_id", "kind", name=op.f("uq_par_step_version_id_kind")),
    )
    op.create_index(op.f("ix_par_step_version_id"), "par_step", ["version_id"], unique=False)


def downgrade() -> None:
    op.drop_table("par_step")
    op.drop_table("par_line")
    op.drop_table("par_version")
    op.drop_table("par_transfer")
    op.drop_table("par_contract")
    op.drop_table("par_commitment")
    op.drop_table("par")
