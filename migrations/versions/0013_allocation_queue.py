"""Allocation runs are solved by the jobs process, not in the request (issue 12 item 6, decision 9).

A proposal is stored first as ``na_fila``; the jobs process moves it to ``resolvendo`` while a worker process solves
it, then to ``proposta`` (or ``descartada`` by the validator, or ``falhou`` with the reason in ``error``). Until then
the instance and the solver's answer are unknown, so their columns accept NULL; ``progress`` holds where the solve
is ({"step", "percent", "message"}) for the page that polls it. The live statuses of the partial unique index
(one live run per scope) now include the queued and the solving ones.

Revision ID: 0013_allocation_queue
Revises: 0012_allocation_live
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_allocation_queue"
down_revision: str | Sequence[str] | None = "0012_allocation_live"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NULLABLE = (
    ("instance_sha256", sa.String(64)),
    ("instance_gz", sa.LargeBinary()),
    ("solver", sa.String(10)),
    ("solver_status", sa.String(16)),
    ("objective", sa.BigInteger()),
    ("wall_seconds", sa.Float()),
)


def upgrade() -> None:
    op.add_column("allocation_run", sa.Column("progress", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("allocation_run", sa.Column("error", sa.Text(), nullable=True))
    for name, type_ in _NULLABLE:
        op.alter_column("allocation_run", name, existing_type=type_, nullable=True)
    op.drop_index("uq_allocation_run_live_scope", table_name="allocation_run")
    op.create_index(
        "uq_allocation_run_live_scope",
        "allocation_run",
        ["scope"],
        unique=True,
        postgresql_where=sa.text("status IN ('na_fila', 'resolvendo', 'proposta', 'aprovada')"),
    )


def downgrade() -> None:
    # Runs never solved have nothing to keep: they end as falhou, outside the old index and with no NULL to refuse.
    op.execute("UPDATE allocation_run SET status = 'falhou' WHERE status IN ('na_fila', 'resolvendo')")
    op.execute(
        "UPDATE allocation_run SET instance_sha256 = coalesce(instance_sha256, ''), "
        "instance_gz = coalesce(instance_gz, ''), solver = coalesce(solver, ''), "
        "solver_status = coalesce(solver_status, ''), objective = coalesce(objective, 0), "
        "wall_seconds = coalesce(wall_seconds, 0) WHERE instance_gz IS NULL OR objective IS NULL"
    )
    op.drop_index("uq_allocation_run_live_scope", table_name="allocation_run")
    op.create_index(
        "uq_allocation_run_live_scope",
        "allocation_run",
        ["scope"],
        unique=True,
        postgresql_where=sa.text("status IN ('proposta', 'aprovada')"),
    )
    for name, type_ in _NULLABLE:
        op.alter_column("allocation_run", name, existing_type=type_, nullable=False)
    op.drop_column("allocation_run", "error")
    op.drop_column("allocation_run", "progress")
