"""At most one live allocation proposal per scope: a partial unique index on allocation_run(scope) over the live
statuses (proposta, aprovada). Twenty concurrent proposals of one scope used to leave twenty live runs (issue 11
item 8); the service serializes proposals per scope, and this index is the guarantee.

Existing duplicates are resolved first, as the service would have: of a scope's live runs the newest stays and
the older ones become ``substituida`` (their assignments were never notified to anyone).

Revision ID: 0012_allocation_live
Revises: 0011_production
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_allocation_live"
down_revision: str | Sequence[str] | None = "0011_production"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE allocation_run r
        SET status = 'substituida', decided_by = 'migracao_0012', decided_at = now()
        WHERE r.status IN ('proposta', 'aprovada')
          AND EXISTS (
              SELECT 1 FROM allocation_run newer
              WHERE newer.scope = r.scope AND newer.status IN ('proposta', 'aprovada') AND newer.id > r.id
          )
        """
    )
    op.create_index(
        "uq_allocation_run_live_scope",
        "allocation_run",
        ["scope"],
        unique=True,
        postgresql_where=sa.text("status IN ('proposta', 'aprovada')"),
    )


def downgrade() -> None:
    op.drop_index("uq_allocation_run_live_scope", table_name="allocation_run")
