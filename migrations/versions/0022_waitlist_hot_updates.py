"""The waitlist's daily rewrites become heap-only (HOT) updates: no index entry is written for them.

Every night the refresh rewrites each waiting entry's score, position and estimates, and an import, a booking or any
transition rewrites the positions of its queues. An UPDATE is heap-only (PostgreSQL writes the new row version on the
same page and no index entry at all) when no indexed column changes and the page has room. Two things prevented it:

1. ``score`` was a key of the queue-order index, so every nightly update wrote a new entry in all seven indexes of
   the table. The index now keys the queue only (a queue's waiting entries; the few thousand of one queue are
   ordered in memory where they are listed or ranked), so nothing the daily work changes is indexed.
2. Pages were full (fillfactor 100). They are now filled to half, so each row's new version fits next to it; the
   day-old versions are pruned the next time a page is touched. The table is rewritten once here so existing
   pages get that room (``CLUSTER`` on the primary key: a transaction-safe rewrite, under an exclusive lock for
   the seconds it takes).

Measured in ``docs/benchmarks.md`` ("Waitlist: the daily rewrites as heap-only updates").

Revision ID: 0022_waitlist_hot_updates
Revises: 0021_audit_import_index
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022_waitlist_hot_updates"
down_revision: str | Sequence[str] | None = "0021_audit_import_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_waitlist_entry_queue_order")
    op.execute(
        "CREATE INDEX ix_waitlist_entry_queue ON waitlist_entry (oci_code, scope_kind, scope_code) "
        "WHERE status = 'autorizada'"
    )
    op.execute("ALTER TABLE waitlist_entry SET (fillfactor = 50)")
    op.execute("CLUSTER waitlist_entry USING pk_waitlist_entry")
    op.execute("ANALYZE waitlist_entry")


def downgrade() -> None:
    op.execute("ALTER TABLE waitlist_entry RESET (fillfactor)")
    op.execute("DROP INDEX ix_waitlist_entry_queue")
    op.execute(
        "CREATE INDEX ix_waitlist_entry_queue_order ON waitlist_entry "
        "(oci_code, scope_kind, scope_code, score DESC, authorized_at, id) WHERE status = 'autorizada'"
    )
    op.execute("CLUSTER waitlist_entry USING pk_waitlist_entry")
