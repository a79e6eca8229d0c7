"""The auditor's trail finds list reads and exports that named a citizen or an entry (issue 17 item 5): a GIN index
on the ids a list event names (``after -> 'ids'``), so ``?|`` is an index look-up, not a scan of the whole log.

Revision ID: 0020_audit_trail_index
Revises: 0019_queue_reduction_2023
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020_audit_trail_index"
down_revision: str | Sequence[str] | None = "0019_queue_reduction_2023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_audit_event_after_ids ON audit_event USING gin ((after -> 'ids'))")


def downgrade() -> None:
    op.execute("DROP INDEX ix_audit_event_after_ids")
