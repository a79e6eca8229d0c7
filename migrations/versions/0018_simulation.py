"""Policy simulator runs kept for the manager's page (issue 15).

Revision ID: 0018_simulation
Revises: 0017_care_loop
Create Date: 2026-12-05
"""

from collections.abc import Sequence

revision: str = "0018_simulation"
down_revision: str | Sequence[str] | None = "0017_care_loop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
