"""Ressarcimento: health-plan operators, offer matrices, attestations, COR and sanctions (issue 14).

Revision ID: 0015_ressarcimento
Revises: 0014_programs
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_ressarcimento"
down_revision: str | Sequence[str] | None = "0014_programs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ressarcimento_operator",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ans_registration", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("size", sa.String(length=8), nullable=False),
        sa.Column("national_reach", sa.Boolean(), nullable=False),
        sa.Column("technical_capacity", sa.Boolean(), nullable=False),
        sa.Column("ans_reports_regular", sa.Boolean(), nullable=False),
        sa.Column("in_liquidation", sa.Boolean(), nullable=False),
        sa.Column("minimum_exception", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_since", sa.Date(), nullable=False),
        sa.Column("consultation_sent_on", sa.Date(), nullable=True),
        sa.Column("consultation_deadline", sa.Date(), nullable=True),
        sa.Column("consultation_extended", sa.Boolean(), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "ans_registration ~ '^[0-9]{6}$'", name=op.f("ck_ressarcimento_operator_ans_registration_digits")
        ),
        sa.CheckConstraint("size IN ('pequeno', 'medio', 'grande')", name=op.f("ck_ressarcimento_operator_size_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ressarcimento_operator")),
        sa.UniqueConstraint("ans_registration", name=op.f("uq_ressarcimento_operator_ans_registration")),
    )
    op.create_index(op.f("ix_ressarcimento_operator_uf"), "ressarcimento_operator", ["uf"], unique=False)
    op.create_table(
        "ressarcimento_annual_max",
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("value_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("act", sa.String(length=200), nullable=True),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("value_brl > 0", name=op.f("ck_ressarcimento_annual_max_value_positive")),
        sa.CheckConstraint("year BETWEEN 2025 AND 2100", name=op.f("ck_ressarcimento_annual_max_year_range")),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["ressarcimento_operator.id"],
            name=op.f("fk_ressarcimento_annual_max_operator_id_ressarcimento_operator"),
        ),
        sa.PrimaryKeyConstraint("operator_id", "year", name=op.f("pk_ressarcimento_annual_max")),
    )
    op.create_table(
        "ressarcimento_attestation",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("competencia", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("planned_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("registered_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("unauthorized_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("unauthorized_items", sa.Integer(), nullable=False),
        sa.Column("counted_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("carried_in_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("available_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("cor_expected", sa.Boolean(), nullable=False),
        sa.Column("expected_cor_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("carried_out_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("expired_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("execution_pct", sa.Numeric(precision=9, scale=2), nullable=False),
        sa.Column("months_below_90", sa.Integer(), nullable=False),
        sa.Column("sanction", sa.String(length=8), nullable=False),
        sa.Column("fine_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("annual_max_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("attested_by", sa.String(length=64), nullable=False),
        sa.Column("attested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("homologated_on", sa.Date(), nullable=True),
        sa.Column("homologation_act", sa.String(length=200), nullable=True),
        sa.Column("homologated_by", sa.String(length=64), nullable=True),
        sa.Column("cor_number", sa.String(length=64), nullable=True),
        sa.Column("cor_issued_on", sa.Date(), nullable=True),
        sa.Column("cor_issued_brl", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("cor_recorded_by", sa.String(length=64), nullable=True),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "competencia ~ '^[0-9]{4}(0[1-9]|1[0-2])$'", name=op.f("ck_ressarcimento_attestation_competencia_aaaamm")
        ),
        sa.CheckConstraint(
            "sanction IN ('nenhuma', 'multa', 'exclusao')", name=op.f("ck_ressarcimento_attestation_sanction")
        ),
        sa.CheckConstraint(
            "status IN ('atestada', 'homologada', 'cor_emitido')",
            name=op.f("ck_ressarcimento_attestation_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["ressarcimento_operator.id"],
            name=op.f("fk_ressarcimento_attestation_operator_id_ressarcimento_operator"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ressarcimento_attestation")),
        sa.UniqueConstraint(
            "operator_id", "competencia", name=op.f("uq_ressarcimento_attestation_operator_id_competencia")
        ),
    )
    op.create_table(
        "ressarcimento_operator_step",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["ressarcimento_operator.id"],
            name=op.f("fk_ressarcimento_operator_step_operator_id_ressarcimento_operator"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ressarcimento_operator_step")),
    )
    op.create_index(
        op.f("ix_ressarcimento_operator_step_operator_id"), "ressarcimento_operator_step", ["operator_id"], unique=False
    )
    op.create_table(
        "ressarcimento_sanction",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("attestation_id", sa.BigInteger(), nullable=False),
        sa.Column("competencia", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("amount_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("months_below_90", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("notified_on", sa.Date(), nullable=True),
        sa.Column("challenge_deadline", sa.Date(), nullable=True),
        sa.Column("challenged_on", sa.Date(), nullable=True),
        sa.Column("challenge_note", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.Column("final_on", sa.Date(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('multa', 'exclusao')", name=op.f("ck_ressarcimento_sanction_kind_known")),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('mantida', 'revogada', 'sem_impugnacao')",
            name=op.f("ck_ressarcimento_sanction_outcome_known"),
        ),
        sa.CheckConstraint(
            "status IN ('proposta', 'notificada', 'impugnada', 'definitiva', 'revogada')",
            name=op.f("ck_ressarcimento_sanction_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["attestation_id"],
            ["ressarcimento_attestation.id"],
            name=op.f("fk_ressarcimento_sanction_attestation_id_ressarcimento_attestation"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["ressarcimento_operator.id"],
            name=op.f("fk_ressarcimento_sanction_operator_id_ressarcimento_operator"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ressarcimento_sanction")),
        sa.UniqueConstraint("attestation_id", name=op.f("uq_ressarcimento_sanction_attestation_id")),
    )
    op.create_index(
        op.f("ix_ressarcimento_sanction_operator_id"), "ressarcimento_sanction", ["operator_id"], unique=False
    )
    op.create_table(
        "ressarcimento_matrix_item",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("component", sa.String(length=8), nullable=False),
        sa.Column("procedure_code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("unit_value_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("ivr", sa.Numeric(precision=6, scale=4), nullable=True),
        sa.Column("value_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("monthly_qty", sa.Integer(), nullable=False),
        sa.Column("annual_qty", sa.Integer(), nullable=False),
        sa.Column("sublimit_brl", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("strategic", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("replaced_by", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "component = 'oci' OR ivr IS NOT NULL", name=op.f("ck_ressarcimento_matrix_item_surgery_has_ivr")
        ),
        sa.CheckConstraint(
            "component IN ('oci', 'cirurgia')", name=op.f("ck_ressarcimento_matrix_item_component_known")
        ),
        sa.CheckConstraint(
            "monthly_qty >= 0 AND annual_qty >= 0", name=op.f("ck_ressarcimento_matrix_item_quantities_non_negative")
        ),
        sa.CheckConstraint(
            "unit_value_brl >= 0 AND value_brl >= 0", name=op.f("ck_ressarcimento_matrix_item_values_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["cnes"], ["establishment.cnes"], name=op.f("fk_ressarcimento_matrix_item_cnes_establishment")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["ressarcimento_operator.id"],
            name=op.f("fk_ressarcimento_matrix_item_operator_id_ressarcimento_operator"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ressarcimento_matrix_item")),
    )
    op.create_index(
        op.f("ix_ressarcimento_matrix_item_operator_id"), "ressarcimento_matrix_item", ["operator_id"], unique=False
    )
    op.create_index(
        "uq_ressarcimento_matrix_item_active",
        "ressarcimento_matrix_item",
        ["operator_id", "cnes", "procedure_code"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "ressarcimento_unit",
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("relation", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("relation IN ('propria', 'contratada')", name=op.f("ck_ressarcimento_unit_relation_known")),
        sa.ForeignKeyConstraint(
            ["cnes"], ["establishment.cnes"], name=op.f("fk_ressarcimento_unit_cnes_establishment")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["ressarcimento_operator.id"],
            name=op.f("fk_ressarcimento_unit_operator_id_ressarcimento_operator"),
        ),
        sa.PrimaryKeyConstraint("operator_id", "cnes", name=op.f("pk_ressarcimento_unit")),
    )
    op.create_index(op.f("ix_ressarcimento_unit_cnes"), "ressarcimento_unit", ["cnes"], unique=False)
    op.create_table(
        "ressarcimento_attested_item",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("attestation_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("production_record_id", sa.BigInteger(), nullable=False),
        sa.Column("matrix_item_id", sa.BigInteger(), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("procedure_code", sa.String(length=10), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("value_brl", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("authorized", sa.Boolean(), nullable=False),
        sa.Column("region", sa.String(length=2), nullable=False),
        sa.Column("strategic", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attestation_id"],
            ["ressarcimento_attestation.id"],
            name=op.f("fk_ressarcimento_attested_item_attestation_id_ressarcimento_attestation"),
        ),
        sa.ForeignKeyConstraint(
            ["matrix_item_id"],
            ["ressarcimento_matrix_item.id"],
            name=op.f("fk_ressarcimento_attested_item_matrix_item_id_ressarcimento_matrix_item"),
        ),
        sa.ForeignKeyConstraint(
            ["production_record_id"],
            ["production_record.id"],
            name=op.f("fk_ressarcimento_attested_item_production_record_id_production_record"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ressarcimento_attested_item")),
        sa.UniqueConstraint("attestation_id", "seq", name=op.f("uq_ressarcimento_attested_item_attestation_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("ressarcimento_attested_item")
    op.drop_index(op.f("ix_ressarcimento_unit_cnes"), table_name="ressarcimento_unit")
    op.drop_table("ressarcimento_unit")
    op.drop_index(
        "uq_ressarcimento_matrix_item_active",
        table_name="ressarcimento_matrix_item",
        postgresql_where=sa.text("active"),
    )
    op.drop_index(op.f("ix_ressarcimento_matrix_item_operator_id"), table_name="ressarcimento_matrix_item")
    op.drop_table("ressarcimento_matrix_item")
    op.drop_index(op.f("ix_ressarcimento_sanction_operator_id"), table_name="ressarcimento_sanction")
    op.drop_table("ressarcimento_sanction")
    op.drop_index(op.f("ix_ressarcimento_operator_step_operator_id"), table_name="ressarcimento_operator_step")
    op.drop_table("ressarcimento_operator_step")
    op.drop_table("ressarcimento_attestation")
    op.drop_table("ressarcimento_annual_max")
    op.drop_index(op.f("ix_ressarcimento_operator_uf"), table_name="ressarcimento_operator")
    op.drop_table("ressarcimento_operator")
