"""Referral protocols as versioned data per OCI (checklist, exams, CIDs, teleconsultation, tR/tM) and identification per SAES art. 11 (issue 16).

Revision ID: 0016_referral_protocols
Revises: 0015_ressarcimento
Create Date: 2026-12-05
"""

from collections.abc import Sequence

revision: str = "0016_referral_protocols"
down_revision: str | Sequence[str] | None = "0015_ressarcimento"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
