"""A bulk import is audited as one event naming the ids it created as runs (decision 0025): "who created entry
123?" looks among the import events only, through a partial index on them, not through the whole log.

Revision ID: 0021_audit_import_index
Revises: 0020_audit_trail_index
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021_audit_import_index"
down_revision: str | Sequence[str] | None = "0020_audit_trail_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_audit_event_import ON audit_event (id) WHERE action = 'import'")


def downgrade() -> None:
    op.execute("DROP INDEX ix_audit_event_import")
