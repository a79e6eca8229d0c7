"""Providers: establishments, OCIs offered, agenda slots (booked never above capacity), municipal quotas, bookings.

Revision ID: 0007_providers
Revises: 0006_waitlist
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_providers"
down_revision: str | Sequence[str] | None = "0006_waitlist"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "establishment",
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("municipality_ibge", sa.String(length=7), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("habilitacoes", postgresql.ARRAY(sa.String(length=4)), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('proprio', 'contratado', 'complementar_1', 'complementar_2', 'complementar_3', 'operadora')",
            name=op.f("ck_establishment_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["municipality_ibge"],
            ["municipality.ibge_code"],
            name=op.f("fk_establishment_municipality_ibge_municipality"),
        ),
        sa.PrimaryKeyConstraint("cnes", name=op.f("pk_establishment")),
    )
    op.create_index(op.f("ix_establishment_municipality_ibge"), "establishment", ["municipality_ibge"], unique=False)
    op.create_table(
        "agenda_slot",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modality", sa.String(length=12), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("modality IN ('presencial', 'teleconsulta')", name=op.f("ck_agenda_slot_modality_known")),
        sa.CheckConstraint("status IN ('aberta', 'cancelada')", name=op.f("ck_agenda_slot_status_known")),
        sa.CheckConstraint("booked >= 0 AND booked <= capacity", name=op.f("ck_agenda_slot_booked_within_capacity")),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_agenda_slot_capacity_non_negative")),
        sa.ForeignKeyConstraint(["cnes"], ["establishment.cnes"], name=op.f("fk_agenda_slot_cnes_establishment")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_slot")),
        sa.UniqueConstraint("cnes", "external_id", name=op.f("uq_agenda_slot_cnes_external_id")),
    )
    op.create_index(op.f("ix_agenda_slot_cnes"), "agenda_slot", ["cnes"], unique=False)
    op.create_index(
        "ix_agenda_slot_open",
        "agenda_slot",
        ["oci_code", "starts_at"],
        unique=False,
        postgresql_where=sa.text("status = 'aberta'"),
    )
    op.create_table(
        "establishment_offer",
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("age_min_years", sa.Integer(), nullable=True),
        sa.Column("age_max_years", sa.Integer(), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("teleconsultation", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("sex IS NULL OR sex IN ('M', 'F')", name=op.f("ck_establishment_offer_sex_known")),
        sa.CheckConstraint(
            "age_min_years IS NULL OR age_max_years IS NULL OR age_min_years <= age_max_years",
            name=op.f("ck_establishment_offer_ages"),
        ),
        sa.ForeignKeyConstraint(
            ["cnes"], ["establishment.cnes"], name=op.f("fk_establishment_offer_cnes_establishment")
        ),
        sa.PrimaryKeyConstraint("cnes", "oci_code", name=op.f("pk_establishment_offer")),
    )
    op.create_table(
        "municipal_quota",
        sa.Column("municipality_ibge", sa.String(length=7), nullable=False),
        sa.Column("cnes", sa.String(length=7), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("max_slots", sa.Integer(), nullable=False),
        sa.CheckConstraint("max_slots >= 0", name=op.f("ck_municipal_quota_max_slots_non_negative")),
        sa.CheckConstraint("period_start <= period_end", name=op.f("ck_municipal_quota_period")),
        sa.ForeignKeyConstraint(["cnes"], ["establishment.cnes"], name=op.f("fk_municipal_quota_cnes_establishment")),
        sa.ForeignKeyConstraint(
            ["municipality_ibge"],
            ["municipality.ibge_code"],
            name=op.f("fk_municipal_quota_municipality_ibge_municipality"),
        ),
        sa.PrimaryKeyConstraint(
            "municipality_ibge", "cnes", "oci_code", "period_start", name=op.f("pk_municipal_quota")
        ),
    )
    op.create_table(
        "slot_booking",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("slot_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('ativa', 'liberada', 'realizada', 'faltou')", name=op.f("ck_slot_booking_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["waitlist_entry.id"], name=op.f("fk_slot_booking_entry_id_waitlist_entry")
        ),
        sa.ForeignKeyConstraint(["slot_id"], ["agenda_slot.id"], name=op.f("fk_slot_booking_slot_id_agenda_slot")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slot_booking")),
    )
    op.create_index(op.f("ix_slot_booking_slot_id"), "slot_booking", ["slot_id"], unique=False)
    op.create_index(
        "uq_slot_booking_active_entry",
        "slot_booking",
        ["entry_id"],
        unique=True,
        postgresql_where=sa.text("status = 'ativa'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_slot_booking_active_entry", table_name="slot_booking", postgresql_where=sa.text("status = 'ativa'")
    )
    op.drop_index(op.f("ix_slot_booking_slot_id"), table_name="slot_booking")
    op.drop_table("slot_booking")
    op.drop_table("municipal_quota")
    op.drop_table("establishment_offer")
    op.drop_index("ix_agenda_slot_open", table_name="agenda_slot", postgresql_where=sa.text("status = 'aberta'"))
    op.drop_index(op.f("ix_agenda_slot_cnes"), table_name="agenda_slot")
    op.drop_table("agenda_slot")
    op.drop_index(op.f("ix_establishment_municipality_ibge"), table_name="establishment")
    op.drop_table("establishment")
