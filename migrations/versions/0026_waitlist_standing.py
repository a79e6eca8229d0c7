"""A waiting entry's daily figures move to their own narrow table, ``waitlist_standing`` (decision 0034).

Every night the refresh rewrites each waiting entry's score, position and estimates; every import, allocation
commit and transition rewrites the positions of its queues. PostgreSQL writes a whole new row version for each,
and a waiting entry's row is ~400 bytes (its referral, justification, checklist, exams) to change seven small
columns (~40 bytes). Measured on a state's own rows (``benchmarks/bench_standing_table.py``, ``docs/benchmarks.md``
"the nightly write on a state's own rows"): the refresh's UPDATE of a million rows took 10.1–11.0 s on the entries
and 3.2–3.6 s on a table of the seven columns, below a ``rank()`` of the same rows (3.7–3.9 s).

``waitlist_standing`` holds exactly one row per entry (its primary key is the entry's id):

* an ``AFTER INSERT … FOR EACH STATEMENT`` trigger with a transition table inserts the standing rows of every
  statement that inserts entries, set-based, so no writer (the ORM, the importer's bulk insert, the demo's loader)
  has to remember it and a million-row insert pays one statement, not a trigger call per row;
* the trigger of migration 0023 (an entry that leaves its queue loses its position in the same statement) becomes
  an ``AFTER UPDATE`` statement trigger that clears the standing rows of the updated entries that are no longer
  waiting (statement level: a commit that books 5,500 entries pays one join, not 5,500 calls);
* the table's pages are half full (fillfactor 50) and nothing it holds is indexed but its key, so the daily
  rewrites stay heap-only (decision 0027); the entries' own table goes back to full pages, since nothing rewrites
  its rows daily any more.

Revision ID: 0026_waitlist_standing
Revises: 0025_waitlist_no_deadline
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026_waitlist_standing"
down_revision: str | Sequence[str] | None = "0025_waitlist_no_deadline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DAILY = "score, policy_id, position, queue_size, estimate_from, estimate_to, position_updated_at"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE waitlist_standing (
            entry_id BIGINT NOT NULL,
            score BIGINT,
            policy_id BIGINT,
            position INTEGER,
            queue_size INTEGER,
            estimate_from DATE,
            estimate_to DATE,
            position_updated_at TIMESTAMP WITH TIME ZONE,
            CONSTRAINT pk_waitlist_standing PRIMARY KEY (entry_id),
            CONSTRAINT fk_waitlist_standing_entry_id_waitlist_entry
                FOREIGN KEY (entry_id) REFERENCES waitlist_entry (id),
            CONSTRAINT fk_waitlist_standing_policy_id_priority_policy
                FOREIGN KEY (policy_id) REFERENCES priority_policy (id)
        ) WITH (fillfactor = 50)
        """
    )
    op.execute(
        f"INSERT INTO waitlist_standing (entry_id, {_DAILY}) SELECT id, {_DAILY} FROM waitlist_entry ORDER BY id"  # noqa: S608
    )
    op.execute("DROP TRIGGER waitlist_entry_left_queue ON waitlist_entry")
    op.execute("DROP FUNCTION regula_waitlist_left_queue()")
    for column in _DAILY.split(", "):
        op.execute(f"ALTER TABLE waitlist_entry DROP COLUMN {column}")
    op.execute(
        """
        CREATE FUNCTION regula_waitlist_standing_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO waitlist_standing (entry_id) SELECT id FROM new_entries ORDER BY id;
            RETURN NULL;
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER waitlist_entry_standing AFTER INSERT ON waitlist_entry "
        "REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION regula_waitlist_standing_insert()"
    )
    op.execute(
        """
        CREATE FUNCTION regula_waitlist_left_queue() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE waitlist_standing s
            SET position = NULL, queue_size = NULL, estimate_from = NULL, estimate_to = NULL
            FROM updated_entries u
            WHERE s.entry_id = u.id AND u.status <> 'autorizada'
              AND (s.position IS NOT NULL OR s.queue_size IS NOT NULL
                   OR s.estimate_from IS NOT NULL OR s.estimate_to IS NOT NULL);
            RETURN NULL;
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER waitlist_entry_left_queue AFTER UPDATE ON waitlist_entry "
        "REFERENCING NEW TABLE AS updated_entries FOR EACH STATEMENT EXECUTE FUNCTION regula_waitlist_left_queue()"
    )
    op.execute("ANALYZE waitlist_standing")
    # The entries' rows are no longer rewritten daily, and what does rewrite them (a status change) changes an indexed
    # column, never a heap-only update: the half-empty pages of migration 0022 bought nothing more and doubled every
    # scan of the table (the refresh's read 3.7-4.5 s -> 3.0-3.3 s at a million, docs/benchmarks.md). Full pages,
    # rewritten once, which also drops the seven columns' bytes.
    op.execute("ALTER TABLE waitlist_entry RESET (fillfactor)")
    op.execute("CLUSTER waitlist_entry USING pk_waitlist_entry")
    op.execute("ANALYZE waitlist_entry")


def downgrade() -> None:
    op.execute("ALTER TABLE waitlist_entry SET (fillfactor = 50)")  # migration 0022's, rewritten at the end
    op.execute("DROP TRIGGER waitlist_entry_left_queue ON waitlist_entry")
    op.execute("DROP FUNCTION regula_waitlist_left_queue()")
    op.execute("DROP TRIGGER waitlist_entry_standing ON waitlist_entry")
    op.execute("DROP FUNCTION regula_waitlist_standing_insert()")
    op.execute(
        """
        ALTER TABLE waitlist_entry
            ADD COLUMN score BIGINT,
            ADD COLUMN policy_id BIGINT,
            ADD COLUMN position INTEGER,
            ADD COLUMN queue_size INTEGER,
            ADD COLUMN estimate_from DATE,
            ADD COLUMN estimate_to DATE,
            ADD COLUMN position_updated_at TIMESTAMP WITH TIME ZONE,
            ADD CONSTRAINT fk_waitlist_entry_policy_id_priority_policy
                FOREIGN KEY (policy_id) REFERENCES priority_policy (id)
        """
    )
    sets = ", ".join(f"{c} = s.{c}" for c in _DAILY.split(", "))
    op.execute(f"UPDATE waitlist_entry e SET {sets} FROM waitlist_standing s WHERE s.entry_id = e.id")  # noqa: S608
    op.execute("DROP TABLE waitlist_standing")
    # migration 0023's trigger, as it was
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
    op.execute("CLUSTER waitlist_entry USING pk_waitlist_entry")
