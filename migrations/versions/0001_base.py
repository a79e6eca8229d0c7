"""Base: the shared audit-protection helpers every later revision builds on.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No contrib extensions: the embedded server (pgserver) ships none, and regula must run on it. Search keys
    # (names without accents) are computed in Python and stored.
    # Append-only tables (audit log, histories) attach this trigger: the database itself refuses UPDATE, DELETE
    # and TRUNCATE, whatever the application does.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION regula_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'regula: % on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS regula_refuse_change()")
