"""An entry that leaves its queue loses its position in the same UPDATE, by a trigger; no scan looks for them.

``recompute_positions`` (run by every transition, booking and import for the queues it touched) first cleared the
position, queue size and estimates of entries no longer waiting, found by ``status <> 'autorizada' AND position IS
NOT NULL``. No index can serve that condition (an index on ``position`` would make the nightly rewrite of positions
write index entries again, decision 0027), so each call read the whole table: 264 ms at a million entries, on every
transition of any queue, and more as concluded entries accumulate. The trigger clears the figures when the status
changes to anything but ``autorizada``, so the invariant holds at the moment it could break; the nightly refresh
still clears any stray row (``waitlist.refresh._clear``) as a safety net. It fires only on updates that set
``status`` (``UPDATE OF status``): the nightly rewrite of scores and positions never sets it.

Revision ID: 0023_waitlist_left_queue
Revises: 0022_waitlist_hot_updates
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023_waitlist_left_queue"
down_revision: str | Sequence[str] | None = "0022_waitlist_hot_updates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION regula_waitlist_left_queue() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.position := NULL;
            NEW.queue_size := NULL;
            NEW.estimate_from := NULL;
            NEW.estimate_to := NULL;
            RETURN NEW;
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER waitlist_entry_left_queue BEFORE UPDATE OF status ON waitlist_entry FOR EACH ROW "
        "WHEN (NEW.status <> 'autorizada' AND (NEW.position IS NOT NULL OR NEW.queue_size IS NOT NULL "
        "OR NEW.estimate_from IS NOT NULL OR NEW.estimate_to IS NOT NULL)) "
        "EXECUTE FUNCTION regula_waitlist_left_queue()"
    )
    op.execute(
        "UPDATE waitlist_entry SET position = NULL, queue_size = NULL, estimate_from = NULL, estimate_to = NULL "
        "WHERE status <> 'autorizada' AND (position IS NOT NULL OR queue_size IS NOT NULL "
        "OR estimate_from IS NOT NULL OR estimate_to IS NOT NULL)"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER waitlist_entry_left_queue ON waitlist_entry")
    op.execute("DROP FUNCTION regula_waitlist_left_queue()")
