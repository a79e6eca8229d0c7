"""The explanation of a score is computed when shown, not stored (decision 0031).

``waitlist_entry.score_breakdown`` held the explanation written when an entry was scored on authorization or a
policy change. The nightly refresh rewrites every waiting entry's score and left that explanation as it was, so from
the first night every page and API answer showed a total with the components of another day beside it. The
explanation is now computed on read from the same rule (``waitlist.standing.shown_score``) and the column goes.

It was also the widest part of a waiting row (≈ 480 of ≈ 920 bytes in the Santa Catarina demo), copied into every
row version the nightly refresh and every repositioning write. Dropping a column is a catalog change: each row loses
its bytes the next time it is written (the nightly refresh writes every waiting row).

Revision ID: 0024_waitlist_no_explanation
Revises: 0023_waitlist_left_queue
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0024_waitlist_no_explanation"
down_revision: str | Sequence[str] | None = "0023_waitlist_left_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("waitlist_entry", "score_breakdown")


def downgrade() -> None:
    # The explanations were derived data; the restored column stays empty (the code before 0024 wrote it on the
    # next rescore of each entry: authorization or a policy change).
    op.add_column("waitlist_entry", sa.Column("score_breakdown", postgresql.JSONB(none_as_null=True), nullable=True))
