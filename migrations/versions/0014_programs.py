"""Program management: the PAR as versioned data, approvals, contracts, funding ledger (issue 13).

Revision ID: 0014_programs
Revises: 0013_allocation_queue
Create Date: 2026-12-05
"""

from collections.abc import Sequence

revision: str = "0014_programs"
down_revision: str | Sequence[str] | None = "0013_allocation_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
