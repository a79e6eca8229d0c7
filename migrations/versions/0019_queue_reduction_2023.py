"""The 2023 queue-reduction program (Portaria GM/MS 90/2023): state plans, their procedures, services, targets and payments (issue 13).

Revision ID: 0019_queue_reduction_2023
Revises: 0018_simulation
Create Date: 2026-12-05
"""

from collections.abc import Sequence

revision: str = "0019_queue_reduction_2023"
down_revision: str | Sequence[str] | None = "0018_simulation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
