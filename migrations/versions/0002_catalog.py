"""SIGTAP catalog: one version per competência (AAAAMM) with its OCIs (group 09) and their composition.

Revision ID: 0002_catalog
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_catalog"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_version",
        sa.Column("competencia", sa.String(length=6), nullable=False),
        sa.Column("source_filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("oci_count", sa.Integer(), nullable=False),
        sa.Column("procedure_count", sa.Integer(), nullable=False),
        sa.Column("cid_count", sa.Integer(), nullable=False),
        sa.Column("attribute_count", sa.Integer(), nullable=False),
        sa.Column("habilitacao_count", sa.Integer(), nullable=False),
        sa.Column("rule_count", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "competencia ~ '^[0-9]{4}(0[1-9]|1[0-2])$'", name=op.f("ck_catalog_version_competencia_aaaamm")
        ),
        sa.PrimaryKeyConstraint("competencia", name=op.f("pk_catalog_version")),
        sa.UniqueConstraint("sha256", name=op.f("uq_catalog_version_sha256")),
    )
    op.create_table(
        "catalog_oci",
        sa.Column("competencia", sa.String(length=6), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("group_code", sa.String(length=2), nullable=False),
        sa.Column("group_name", sa.Text(), nullable=False),
        sa.Column("subgroup_code", sa.String(length=4), nullable=False),
        sa.Column("subgroup_name", sa.Text(), nullable=False),
        sa.Column("forma_code", sa.String(length=6), nullable=False),
        sa.Column("forma_name", sa.Text(), nullable=False),
        sa.Column("complexity", sa.String(length=1), nullable=False),
        sa.Column("sex_sigtap", sa.String(length=1), nullable=False),
        sa.Column("age_min_months", sa.Integer(), nullable=True),
        sa.Column("age_max_months", sa.Integer(), nullable=True),
        sa.Column("max_executions", sa.Integer(), nullable=True),
        sa.Column("value_sa", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("value_sh", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("value_sp", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("value_total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("financing_code", sa.String(length=2), nullable=False),
        sa.Column("financing_name", sa.Text(), nullable=False),
        sa.Column("rubrica_code", sa.String(length=6), nullable=True),
        sa.Column("rubrica_name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["competencia"],
            ["catalog_version.competencia"],
            name=op.f("fk_catalog_oci_competencia_catalog_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("competencia", "code", name=op.f("pk_catalog_oci")),
    )
    op.create_table(
        "catalog_oci_attribute",
        sa.Column("competencia", sa.String(length=6), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("attribute_code", sa.String(length=3), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["competencia", "oci_code"],
            ["catalog_oci.competencia", "catalog_oci.code"],
            name=op.f("fk_catalog_oci_attribute_competencia_catalog_oci"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("competencia", "oci_code", "attribute_code", name=op.f("pk_catalog_oci_attribute")),
    )
    op.create_table(
        "catalog_oci_cid",
        sa.Column("competencia", sa.String(length=6), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("cid_code", sa.String(length=4), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("principal", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["competencia", "oci_code"],
            ["catalog_oci.competencia", "catalog_oci.code"],
            name=op.f("fk_catalog_oci_cid_competencia_catalog_oci"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("competencia", "oci_code", "cid_code", name=op.f("pk_catalog_oci_cid")),
    )
    op.create_table(
        "catalog_oci_habilitacao",
        sa.Column("competencia", sa.String(length=6), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("habilitacao_code", sa.String(length=4), nullable=False),
        sa.Column("habilitacao_group", sa.String(length=4), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["competencia", "oci_code"],
            ["catalog_oci.competencia", "catalog_oci.code"],
            name=op.f("fk_catalog_oci_habilitacao_competencia_catalog_oci"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "competencia", "oci_code", "habilitacao_code", "habilitacao_group", name=op.f("pk_catalog_oci_habilitacao")
        ),
    )
    op.create_table(
        "catalog_oci_procedure",
        sa.Column("competencia", sa.String(length=6), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("procedure_code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("compatibility_type", sa.String(length=1), nullable=False),
        sa.Column("qty_allowed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["competencia", "oci_code"],
            ["catalog_oci.competencia", "catalog_oci.code"],
            name=op.f("fk_catalog_oci_procedure_competencia_catalog_oci"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("competencia", "oci_code", "procedure_code", name=op.f("pk_catalog_oci_procedure")),
    )
    op.create_table(
        "catalog_oci_rule",
        sa.Column("competencia", sa.String(length=6), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("rule_code", sa.String(length=4), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["competencia", "oci_code"],
            ["catalog_oci.competencia", "catalog_oci.code"],
            name=op.f("fk_catalog_oci_rule_competencia_catalog_oci"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("competencia", "oci_code", "rule_code", name=op.f("pk_catalog_oci_rule")),
    )


def downgrade() -> None:
    op.drop_table("catalog_oci_rule")
    op.drop_table("catalog_oci_procedure")
    op.drop_table("catalog_oci_habilitacao")
    op.drop_table("catalog_oci_cid")
    op.drop_table("catalog_oci_attribute")
    op.drop_table("catalog_oci")
    op.drop_table("catalog_version")
