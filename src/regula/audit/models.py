"""The audit log: append-only. The database refuses UPDATE, DELETE and TRUNCATE on it (trigger in the
migration), so not even a person with SQL access through the application role can rewrite history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

#: ``action`` of the one event that records a bulk import (decision 0025); its ``after[BULK_CREATED]`` maps each
#: entity type to the ids the import created, as ``[first, last]`` runs (``audit.service.id_ranges``).
BULK_IMPORT = "import"
BULK_CREATED = "created"


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
        Index("ix_audit_event_actor_time", "actor_user_id", "occurred_at"),
        # The auditor's trail: list reads and exports that named an id (migration 0020).
        Index("ix_audit_event_after_ids", text("(after -> 'ids')"), postgresql_using="gin"),
        # Who created a record a bulk import wrote: its import's event, among the few import events (migration 0021).
        Index("ix_audit_event_import", "id", postgresql_where=text("action = 'import'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    # The database's clock, so rows written by any process (web, jobs, triggers) share one time source.
    occurred_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True, server_default=text("clock_timestamp()")),
    )
    # Who
    actor_user_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    actor_username: str | None = Field(default=None, sa_column=Column(String(64)))
    actor_role: str | None = Field(default=None, sa_column=Column(String(20)))
    # What: create | update | read | deny | login | login_failed | logout | revoke | import | …
    action: str = Field(sa_column=Column(String(32), nullable=False))
    entity_type: str | None = Field(default=None, sa_column=Column(String(64)))
    entity_id: str | None = Field(default=None, sa_column=Column(String(64)))
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    # Where the subject lives, so an auditor's jurisdiction can be applied to the log itself.
    uf: str | None = Field(default=None, sa_column=Column(String(2)))
    municipality_ibge: str | None = Field(default=None, sa_column=Column(String(7)))
    # From where
    ip: str | None = Field(default=None, sa_column=Column(String(64)))
    user_agent: str | None = Field(default=None, sa_column=Column(String(300)))
    request_id: str | None = Field(default=None, sa_column=Column(String(64)))
    method: str | None = Field(default=None, sa_column=Column(String(10)))
    path: str | None = Field(default=None, sa_column=Column(String(500)))
    status_code: int | None = Field(default=None, sa_column=Column(Integer))
    source: str = Field(default="web", sa_column=Column(String(16), nullable=False))  # web | api | cli | job
