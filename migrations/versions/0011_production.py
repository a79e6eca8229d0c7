"""Care navigation to the end of an OCI and production control: procedures performed per entry, authorization
ranges and numbers, imported production lines.

Revision ID: 0011_production
Revises: 0010_notify
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_production"
down_revision: str | Sequence[str] | None = "0010_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "production_import",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_production_import")),
        sa.UniqueConstraint("sha256", name=op.f("uq_production_import_sha256")),
    )
    op.create_table(
        "authorization_range",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("instrument", sa.String(length=4), nullable=False),
        sa.Column("program", sa.String(length=16), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("prefix", sa.String(length=17), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "instrument IN ('apac', 'aih', 'cmd')", name=op.f("ck_authorization_range_instrument_known")
        ),
        sa.CheckConstraint(
            "program IN ('pmae', 'complementar', 'reducao_filas')", name=op.f("ck_authorization_range_program_known")
        ),
        sa.CheckConstraint("status IN ('ativa', 'encerrada')", name=op.f("ck_authorization_range_status_known")),
        sa.CheckConstraint(
            "first_seq >= 0 AND first_seq <= last_seq AND last_seq <= 9999999",
            name=op.f("ck_authorization_range_bounds"),
        ),
        sa.CheckConstraint(
            "next_seq >= first_seq AND next_seq <= last_seq + 1", name=op.f("ck_authorization_range_next_within")
        ),
        sa.ForeignKeyConstraint(
            ["cnes"], ["establishment.cnes"], name=op.f("fk_authorization_range_cnes_establishment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorization_range")),
    )
    op.create_index(
        "ix_authorization_range_cnes", "authorization_range", ["cnes", "instrument", "program"], unique=False
    )
    op.create_table(
        "production_record",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("cpf", sa.String(length=11), nullable=True),
        sa.Column("cns", sa.String(length=15), nullable=True),
        sa.Column("citizen_id", sa.BigInteger(), nullable=True),
        sa.Column("procedure_code", sa.String(length=10), nullable=False),
        sa.Column("performed_on", sa.Date(), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("competencia", sa.String(length=6), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("instrument", sa.String(length=4), nullable=False),
        sa.Column("authorization_number", sa.String(length=25), nullable=True),
        sa.Column("principal_code", sa.String(length=10), nullable=True),
        sa.Column("cbo", sa.String(length=6), nullable=True),
        sa.Column("cid_code", sa.String(length=4), nullable=True),
        sa.CheckConstraint(
            "competencia ~ '^[0-9]{4}(0[1-9]|1[0-2])$'", name=op.f("ck_production_record_competencia_aaaamm")
        ),
        sa.CheckConstraint(
            "instrument IN ('apac', 'bpa', 'aih', 'cmd')", name=op.f("ck_production_record_instrument_known")
        ),
        sa.CheckConstraint("cpf IS NOT NULL OR cns IS NOT NULL", name=op.f("ck_production_record_has_document")),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_production_record_quantity_positive")),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], name=op.f("fk_production_record_citizen_id_citizen")),
        sa.ForeignKeyConstraint(
            ["import_id"], ["production_import.id"], name=op.f("fk_production_record_import_id_production_import")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_production_record")),
        sa.UniqueConstraint("import_id", "line_no", name=op.f("uq_production_record_import_id_line_no")),
    )
    op.create_index("ix_production_record_authorization", "production_record", ["authorization_number"], unique=False)
    op.create_index("ix_production_record_competencia", "production_record", ["competencia", "cnes"], unique=False)
    op.create_index("ix_production_record_person", "production_record", ["cpf", "cns"], unique=False)
    op.create_table(
        "authorization_number",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("number", sa.String(length=25), nullable=False),
        sa.Column("instrument", sa.String(length=4), nullable=False),
        sa.Column("program", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("range_id", sa.BigInteger(), nullable=True),
        sa.Column("cnes", sa.String(length=7), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("citizen_id", sa.BigInteger(), nullable=True),
        sa.Column("oci_code", sa.String(length=10), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=True),
        sa.Column("municipality_ibge", sa.String(length=7), nullable=True),
        sa.CheckConstraint(
            "instrument IN ('apac', 'aih', 'cmd')", name=op.f("ck_authorization_number_instrument_known")
        ),
        sa.CheckConstraint("source IN ('emitida', 'informada')", name=op.f("ck_authorization_number_source_known")),
        sa.CheckConstraint("status IN ('ativa', 'cancelada')", name=op.f("ck_authorization_number_status_known")),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["citizen.id"], name=op.f("fk_authorization_number_citizen_id_citizen")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["waitlist_entry.id"], name=op.f("fk_authorization_number_entry_id_waitlist_entry")
        ),
        sa.ForeignKeyConstraint(
            ["range_id"], ["authorization_range.id"], name=op.f("fk_authorization_number_range_id_authorization_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorization_number")),
        sa.UniqueConstraint("number", name=op.f("uq_authorization_number_number")),
    )
    op.create_index("ix_authorization_number_entry", "authorization_number", ["entry_id"], unique=False)
    op.create_table(
        "oci_execution",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("citizen_id", sa.BigInteger(), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("catalog_competencia", sa.String(length=6), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("max_days", sa.Integer(), nullable=False),
        sa.Column("recommended_days", sa.Integer(), nullable=False),
        sa.Column("first_on", sa.Date(), nullable=True),
        sa.Column("last_on", sa.Date(), nullable=True),
        sa.Column("authorization_number", sa.String(length=25), nullable=True),
        sa.Column("tr_alert_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tm_warning_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tm_exceeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("concluded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("concluded_by", sa.String(length=64), nullable=True),
        sa.Column("span_days", sa.Integer(), nullable=True),
        sa.Column("within_tm", sa.Boolean(), nullable=True),
        sa.Column("aps_cnes", sa.String(length=7), nullable=True),
        sa.Column("aps_summary", sa.Text(), nullable=True),
        sa.Column("counter_referral", sa.Text(), nullable=True),
        sa.Column("navigator_closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("navigator_closed_by", sa.String(length=64), nullable=True),
        sa.Column("navigator_note", sa.Text(), nullable=True),
        sa.Column("municipality_ibge", sa.String(length=7), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('em_execucao', 'concluida', 'cancelada')", name=op.f("ck_oci_execution_status_known")
        ),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], name=op.f("fk_oci_execution_citizen_id_citizen")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["waitlist_entry.id"], name=op.f("fk_oci_execution_entry_id_waitlist_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oci_execution")),
        sa.UniqueConstraint("authorization_number", name=op.f("uq_oci_execution_authorization_number")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_oci_execution_entry_id")),
    )
    op.create_index(op.f("ix_oci_execution_citizen_id"), "oci_execution", ["citizen_id"], unique=False)
    op.create_index("ix_oci_execution_cnes", "oci_execution", ["cnes", "last_on"], unique=False)
    op.create_index(
        "ix_oci_execution_open",
        "oci_execution",
        ["status", "first_on"],
        unique=False,
        postgresql_where=sa.text("status = 'em_execucao'"),
    )
    op.create_table(
        "oci_procedure",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("execution_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("procedure_code", sa.String(length=10), nullable=False),
        sa.Column("procedure_name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("performed_on", sa.Date(), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("cbo", sa.String(length=6), nullable=False),
        sa.Column("cid_code", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("above_quantity", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("voided_by", sa.String(length=64), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("municipality_ibge", sa.String(length=7), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.CheckConstraint("role IN ('obrigatorio', 'consulta', 'opcional')", name=op.f("ck_oci_procedure_role_known")),
        sa.CheckConstraint("status IN ('valido', 'anulado')", name=op.f("ck_oci_procedure_status_known")),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_oci_procedure_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["waitlist_entry.id"], name=op.f("fk_oci_procedure_entry_id_waitlist_entry")
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"], ["oci_execution.id"], name=op.f("fk_oci_procedure_execution_id_oci_execution")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oci_procedure")),
    )
    op.create_index("ix_oci_procedure_execution", "oci_procedure", ["execution_id", "performed_on"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_oci_procedure_execution", table_name="oci_procedure")
    op.drop_table("oci_procedure")
    op.drop_index(
        "ix_oci_execution_open", table_name="oci_execution", postgresql_where=sa.text("status = 'em_execucao'")
    )
    op.drop_index("ix_oci_execution_cnes", table_name="oci_execution")
    op.drop_index(op.f("ix_oci_execution_citizen_id"), table_name="oci_execution")
    op.drop_table("oci_execution")
    op.drop_index("ix_authorization_number_entry", table_name="authorization_number")
    op.drop_table("authorization_number")
    op.drop_index("ix_production_record_person", table_name="production_record")
    op.drop_index("ix_production_record_competencia", table_name="production_record")
    op.drop_index("ix_production_record_authorization", table_name="production_record")
    op.drop_table("production_record")
    op.drop_index("ix_authorization_range_cnes", table_name="authorization_range")
    op.drop_table("authorization_range")
    op.drop_table("production_import")
