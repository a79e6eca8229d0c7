"""Ressarcimento: health-plan operators, offer matrices, attestations, COR and sanctions (issue 14).

Revision ID: 0015_ressarcimento
Revises: 0014_programs
Create Date: 2026-12-05
"""

from collections.abc import Sequence

revision: str = "0015_ressarcimento"
down_revision: str | Sequence[str] | None = "0014_programs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
