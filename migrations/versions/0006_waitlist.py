"""Citizens and the individualized waitlist: entries, their append-only history, policies, scopes, capacity.

Revision ID: 0006_waitlist
Revises: 0005_merge
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_waitlist"
down_revision: str | Sequence[str] | None = "0005_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "priority_policy",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("queue_key", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_priority_policy")),
        sa.UniqueConstraint("queue_key", "version", name=op.f("uq_priority_policy_queue_key_version")),
    )
    op.create_table(
        "queue_capacity",
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("scope_kind", sa.String(length=10), nullable=False),
        sa.Column("scope_code", sa.String(length=7), nullable=False),
        sa.Column("weekly_capacity", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("oci_code", "scope_kind", "scope_code", name=op.f("pk_queue_capacity")),
    )
    op.create_table(
        "regulation_scope",
        sa.Column("health_region_code", sa.String(length=5), nullable=False),
        sa.Column("scope_kind", sa.String(length=10), nullable=False),
        sa.Column("par_approved_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("health_region_code", name=op.f("pk_regulation_scope")),
    )
    op.create_table(
        "citizen",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("cpf", sa.String(length=11), nullable=True),
        sa.Column("cns", sa.String(length=15), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("social_name", sa.String(length=200), nullable=True),
        sa.Column("search_name", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("race_color", sa.String(length=16), nullable=False),
        sa.Column("municipality_ibge", sa.String(length=7), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("preferred_channel", sa.String(length=10), nullable=False),
        sa.Column("contact_consent", sa.Boolean(), nullable=False),
        sa.Column("contact_consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pregnant", sa.Boolean(), nullable=False),
        sa.Column("disability", sa.Boolean(), nullable=False),
        sa.Column("autism", sa.Boolean(), nullable=False),
        sa.Column("cadunico", sa.Boolean(), nullable=False),
        sa.Column("vulnerability_index", sa.Numeric(precision=4, scale=3), nullable=True),
        sa.Column("merged_into_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cpf IS NOT NULL OR race_color = 'indigena'", name=op.f("ck_citizen_cpf_or_indigenous")),
        sa.CheckConstraint("preferred_channel IN ('sms', 'whatsapp', 'nenhum')", name=op.f("ck_citizen_channel_known")),
        sa.CheckConstraint(
            "race_color IN ('branca', 'preta', 'parda', 'amarela', 'indigena', 'sem_informacao')",
            name=op.f("ck_citizen_race_color_known"),
        ),
        sa.CheckConstraint("sex IN ('M', 'F')", name=op.f("ck_citizen_sex_known")),
        sa.CheckConstraint("cpf IS NOT NULL OR cns IS NOT NULL", name=op.f("ck_citizen_has_document")),
        sa.CheckConstraint(
            "vulnerability_index IS NULL OR vulnerability_index BETWEEN 0 AND 1", name=op.f("ck_citizen_vuln_range")
        ),
        sa.ForeignKeyConstraint(["merged_into_id"], ["citizen.id"], name=op.f("fk_citizen_merged_into_id_citizen")),
        sa.ForeignKeyConstraint(
            ["municipality_ibge"], ["municipality.ibge_code"], name=op.f("fk_citizen_municipality_ibge_municipality")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen")),
    )
    op.create_index(op.f("ix_citizen_municipality_ibge"), "citizen", ["municipality_ibge"], unique=False)
    op.create_index("ix_citizen_search_name", "citizen", ["search_name"], unique=False)
    op.create_index(op.f("ix_citizen_uf"), "citizen", ["uf"], unique=False)
    op.create_index("uq_citizen_cns", "citizen", ["cns"], unique=True, postgresql_where=sa.text("cns IS NOT NULL"))
    op.create_index("uq_citizen_cpf", "citizen", ["cpf"], unique=True, postgresql_where=sa.text("cpf IS NOT NULL"))
    op.create_table(
        "waitlist_entry",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("citizen_id", sa.BigInteger(), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("catalog_competencia", sa.String(length=6), nullable=False),
        sa.Column("requested_procedure_code", sa.String(length=10), nullable=True),
        sa.Column("cid_code", sa.String(length=4), nullable=False),
        sa.Column("risk_class", sa.String(length=10), nullable=False),
        sa.Column("risk_justification", sa.Text(), nullable=False),
        sa.Column("checklist", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("requesting_cnes", sa.String(length=7), nullable=False),
        sa.Column("requesting_ine", sa.String(length=10), nullable=True),
        sa.Column("professional_cns", sa.String(length=15), nullable=True),
        sa.Column("professional_cbo", sa.String(length=6), nullable=True),
        sa.Column("municipality_ibge", sa.String(length=7), nullable=False),
        sa.Column("uf", sa.String(length=2), nullable=False),
        sa.Column("scope_kind", sa.String(length=10), nullable=False),
        sa.Column("scope_code", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("external_source", sa.String(length=32), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("authorized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_date", sa.Date(), nullable=True),
        sa.Column("max_days", sa.Integer(), nullable=False),
        sa.Column("suspended_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("paused_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("score", sa.BigInteger(), nullable=True),
        sa.Column("score_breakdown", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True),
        sa.Column("policy_id", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("queue_size", sa.Integer(), nullable=True),
        sa.Column("estimate_from", sa.Date(), nullable=True),
        sa.Column("estimate_to", sa.Date(), nullable=True),
        sa.Column("position_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], name=op.f("fk_waitlist_entry_citizen_id_citizen")),
        sa.ForeignKeyConstraint(
            ["municipality_ibge"],
            ["municipality.ibge_code"],
            name=op.f("fk_waitlist_entry_municipality_ibge_municipality"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["priority_policy.id"], name=op.f("fk_waitlist_entry_policy_id_priority_policy")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entry")),
        sa.UniqueConstraint(
            "external_source", "external_id", name=op.f("uq_waitlist_entry_external_source_external_id")
        ),
        sa.UniqueConstraint("protocol", name=op.f("uq_waitlist_entry_protocol")),
    )
    op.create_index(op.f("ix_waitlist_entry_citizen_id"), "waitlist_entry", ["citizen_id"], unique=False)
    op.create_index(
        "ix_waitlist_entry_queue_order",
        "waitlist_entry",
        ["oci_code", "scope_kind", "scope_code", sa.literal_column("score DESC"), "authorized_at", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'autorizada'"),
    )
    op.create_index("ix_waitlist_entry_status_uf", "waitlist_entry", ["status", "uf"], unique=False)
    op.create_index(
        "uq_waitlist_entry_active_citizen_oci",
        "waitlist_entry",
        ["citizen_id", "oci_code"],
        unique=True,
        postgresql_where=sa.text(
            "status IN ('aguardando_teleconsulta', 'solicitada', 'em_analise', 'devolvida', 'autorizada', 'agendada', 'confirmada', 'em_atendimento', 'faltou', 'suspensa')"
        ),
    )
    op.create_table(
        "waitlist_entry_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "occurred_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_username", sa.String(length=64), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["waitlist_entry.id"], name=op.f("fk_waitlist_entry_event_entry_id_waitlist_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entry_event")),
    )
    op.create_index("ix_waitlist_entry_event_entry", "waitlist_entry_event", ["entry_id", "id"], unique=False)

    # The history of an entry is append-only, enforced by the database (function from revision 0001).
    op.execute(
        "CREATE TRIGGER waitlist_entry_event_append_only BEFORE UPDATE OR DELETE ON waitlist_entry_event "
        "FOR EACH ROW EXECUTE FUNCTION regula_refuse_change()"
    )


def downgrade() -> None:
    op.drop_index("ix_waitlist_entry_event_entry", table_name="waitlist_entry_event")
    op.drop_table("waitlist_entry_event")
    op.drop_index(
        "uq_waitlist_entry_active_citizen_oci",
        table_name="waitlist_entry",
        postgresql_where=sa.text(
            "status IN ('aguardando_teleconsulta', 'solicitada', 'em_analise', 'devolvida', 'autorizada', 'agendada', 'confirmada', 'em_atendimento', 'faltou', 'suspensa')"
        ),
    )
    op.drop_index("ix_waitlist_entry_status_uf", table_name="waitlist_entry")
    op.drop_index(
        "ix_waitlist_entry_queue_order", table_name="waitlist_entry", postgresql_where=sa.text("status = 'autorizada'")
    )
    op.drop_index(op.f("ix_waitlist_entry_citizen_id"), table_name="waitlist_entry")
    op.drop_table("waitlist_entry")
    op.drop_index("uq_citizen_cpf", table_name="citizen", postgresql_where=sa.text("cpf IS NOT NULL"))
    op.drop_index("uq_citizen_cns", table_name="citizen", postgresql_where=sa.text("cns IS NOT NULL"))
    op.drop_index(op.f("ix_citizen_uf"), table_name="citizen")
    op.drop_index("ix_citizen_search_name", table_name="citizen")
    op.drop_index(op.f("ix_citizen_municipality_ibge"), table_name="citizen")
    op.drop_table("citizen")
    op.drop_table("regulation_scope")
    op.drop_table("queue_capacity")
    op.drop_table("priority_policy")
