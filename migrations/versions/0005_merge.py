"""Merge the catalog, territory and access branches into one line of history.

Revision ID: 0005_merge
Revises: 0002_catalog, 0003_territory, 0004_access
Create Date: 2026-11-23
"""

from collections.abc import Sequence

revision: str = "0005_merge"
down_revision: str | Sequence[str] | None = ("0002_catalog", "0003_territory", "0004_access")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
