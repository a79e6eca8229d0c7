"""The tM deadline is computed from the entry's clock, not stored (decision 0032).

``waitlist_entry.deadline_date`` was written on authorization and when a pause ended. While an entry was suspended,
returned to APS or waiting for teleconsultation it kept the date of before the pause, so the entry page, the
regulator's list and the API answered a deadline days or weeks early for every paused entry, beside a clock that
counted the pause; the federal export already computed it (``measures.entry_clock``). Every reader now asks the
clock, and the column goes.

Revision ID: 0025_waitlist_no_deadline
Revises: 0024_waitlist_no_explanation
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from regula.config import Settings

revision: str = "0025_waitlist_no_deadline"
down_revision: str | Sequence[str] | None = "0024_waitlist_no_explanation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("waitlist_entry", "deadline_date")


def downgrade() -> None:
    # Derived data: restored as the clock gives it today for every authorized entry (paused days closed so far; the
    # code before 0025 moved it again when the current pause ended).
    op.add_column("waitlist_entry", sa.Column("deadline_date", sa.Date(), nullable=True))
    op.get_bind().execute(
        sa.text(
            """UPDATE waitlist_entry
               SET deadline_date = (authorized_at AT TIME ZONE :tz)::date + max_days + suspended_days
               WHERE authorized_at IS NOT NULL"""
        ),
        {"tz": Settings().timezone},
    )
