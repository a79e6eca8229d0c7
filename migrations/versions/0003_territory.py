"""Territory: UFs, health macro-regions, health regions and municipalities (reference data, natural keys).

Loaded by ``regula.territory.service.load_territory`` from the package data; other tables refer to
``municipality.ibge_code`` and join through these tables by jurisdiction.

Revision ID: 0003_territory
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_territory"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "uf",
        sa.Column("sigla", sa.String(length=2), nullable=False),
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.CheckConstraint("code ~ '^[0-9]{2}$'", name=op.f("ck_uf_code_format")),
        sa.CheckConstraint("sigla ~ '^[A-Z]{2}$'", name=op.f("ck_uf_sigla_format")),
        sa.PrimaryKeyConstraint("sigla", name=op.f("pk_uf")),
        sa.UniqueConstraint("code", name=op.f("uq_uf_code")),
    )
    op.create_table(
        "macro_region",
        sa.Column("code", sa.String(length=4), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.CheckConstraint("code ~ '^[0-9]{4}$'", name=op.f("ck_macro_region_code_format")),
        sa.ForeignKeyConstraint(["uf"], ["uf.sigla"], name=op.f("fk_macro_region_uf_uf")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_macro_region")),
    )
    op.create_index(op.f("ix_macro_region_uf"), "macro_region", ["uf"], unique=False)
    op.create_table(
        "health_region",
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("macro_code", sa.String(length=4), nullable=False),
        sa.CheckConstraint("code ~ '^[0-9]{5}$'", name=op.f("ck_health_region_code_format")),
        sa.ForeignKeyConstraint(
            ["macro_code"], ["macro_region.code"], name=op.f("fk_health_region_macro_code_macro_region")
        ),
        sa.ForeignKeyConstraint(["uf"], ["uf.sigla"], name=op.f("fk_health_region_uf_uf")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_health_region")),
    )
    op.create_index(op.f("ix_health_region_macro_code"), "health_region", ["macro_code"], unique=False)
    op.create_index(op.f("ix_health_region_uf"), "health_region", ["uf"], unique=False)
    op.create_table(
        "municipality",
        sa.Column("ibge_code", sa.String(length=7), nullable=False),
        sa.Column("ibge_code6", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("search_name", sa.String(length=100), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.Column("macro_code", sa.String(length=4), nullable=False),
        sa.Column("health_region_code", sa.String(length=5), nullable=True),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.CheckConstraint("ibge_code ~ '^[0-9]{7}$'", name=op.f("ck_municipality_ibge_code_format")),
        sa.CheckConstraint("ibge_code6 = left(ibge_code, 6)", name=op.f("ck_municipality_ibge_code6_prefix")),
        sa.ForeignKeyConstraint(
            ["health_region_code"],
            ["health_region.code"],
            name=op.f("fk_municipality_health_region_code_health_region"),
        ),
        sa.ForeignKeyConstraint(
            ["macro_code"], ["macro_region.code"], name=op.f("fk_municipality_macro_code_macro_region")
        ),
        sa.ForeignKeyConstraint(["uf"], ["uf.sigla"], name=op.f("fk_municipality_uf_uf")),
        sa.PrimaryKeyConstraint("ibge_code", name=op.f("pk_municipality")),
        sa.UniqueConstraint("ibge_code6", name=op.f("uq_municipality_ibge_code6")),
    )
    op.create_index(op.f("ix_municipality_health_region_code"), "municipality", ["health_region_code"], unique=False)
    op.create_index(op.f("ix_municipality_macro_code"), "municipality", ["macro_code"], unique=False)
    op.create_index(op.f("ix_municipality_search_name"), "municipality", ["search_name"], unique=False)
    op.create_index(op.f("ix_municipality_uf"), "municipality", ["uf"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_municipality_uf"), table_name="municipality")
    op.drop_index(op.f("ix_municipality_search_name"), table_name="municipality")
    op.drop_index(op.f("ix_municipality_macro_code"), table_name="municipality")
    op.drop_index(op.f("ix_municipality_health_region_code"), table_name="municipality")
    op.drop_table("municipality")
    op.drop_index(op.f("ix_health_region_uf"), table_name="health_region")
    op.drop_index(op.f("ix_health_region_macro_code"), table_name="health_region")
    op.drop_table("health_region")
    op.drop_index(op.f("ix_macro_region_uf"), table_name="macro_region")
    op.drop_table("macro_region")
    op.drop_table("uf")
