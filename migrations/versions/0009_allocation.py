"""Allocation runs and their proposed assignments (audited, reproducible from the stored instance).

Revision ID: 0009_allocation
Revises: 0008_jobs
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_allocation"
down_revision: str | Sequence[str] | None = "0008_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "allocation_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("instance_sha256", sa.String(length=64), nullable=False),
        sa.Column("instance_gz", sa.LargeBinary(), nullable=False),
        sa.Column("solver", sa.String(length=10), nullable=False),
        sa.Column("solver_status", sa.String(length=16), nullable=False),
        sa.Column("objective", sa.BigInteger(), nullable=False),
        sa.Column("greedy_objective", sa.BigInteger(), nullable=True),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_run")),
    )
    op.create_table(
        "allocation_assignment",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("slot_id", sa.BigInteger(), nullable=False),
        sa.Column("explanation", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True),
        sa.Column("displaced_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["waitlist_entry.id"], name=op.f("fk_allocation_assignment_entry_id_waitlist_entry")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["allocation_run.id"], name=op.f("fk_allocation_assignment_run_id_allocation_run")
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"], ["agenda_slot.id"], name=op.f("fk_allocation_assignment_slot_id_agenda_slot")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_assignment")),
    )
    op.create_index("ix_allocation_assignment_run", "allocation_assignment", ["run_id", "entry_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_allocation_assignment_run", table_name="allocation_assignment")
    op.drop_table("allocation_assignment")
    op.drop_table("allocation_run")
