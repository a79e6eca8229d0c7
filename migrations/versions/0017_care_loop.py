"""Teleconsultation answers and counter-referrals to primary care (issue 16).

Revision ID: 0017_care_loop
Revises: 0016_referral_protocols
Create Date: 2026-12-05
"""

from collections.abc import Sequence

revision: str = "0017_care_loop"
down_revision: str | Sequence[str] | None = "0016_referral_protocols"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
