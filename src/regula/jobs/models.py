"""Every run of a periodic job, visible to operators: when, how long, what it did, how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow


class JobRun(SQLModel, table=True):
    __tablename__ = "job_run"
    __table_args__ = (Index("ix_job_run_job_started", "job", "started_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    job: str = Field(sa_column=Column(String(64), nullable=False))
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # running | ok | failed | skipped (another process holds the job's lock)
    outcome: str = Field(default="running", sa_column=Column(String(10), nullable=False))
    counts: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    error: str | None = Field(default=None, sa_column=Column(Text))
    host: str | None = Field(default=None, sa_column=Column(String(100)))
