"""Allocation runs: what was solved, with which input, what it proposed and who decided what about it.

Lifecycle: proposta → aprovada (by an operator) → efetivada (entries agendada, slots booked, messages written,
all in one transaction) — or descartada, or substituida when a newer run of the same scope is proposed before
it was committed (its assignments become the newer run's incumbents, kept where they cost no more).
Portaria GM/MS 3.492/2024 art. 2 VII and art. 9 IV as amended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

# substituida: a newer run of the same scope took this uncommitted one's assignments as incumbents.
RUN_STATUSES = ("proposta", "aprovada", "efetivada", "descartada", "substituida")
#: Runs nobody was notified of yet: at most one per scope (the partial unique index below, migration 0012), and a
#: newer run of the same scope supersedes it.
LIVE_STATUSES = ("proposta", "aprovada")


class AllocationRun(SQLModel, table=True):
    __tablename__ = "allocation_run"
    __audited__ = True
    __table_args__ = (
        Index(
            "uq_allocation_run_live_scope",
            "scope",
            unique=True,
            postgresql_where=text(f"status IN {LIVE_STATUSES}"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    scope: str = Field(sa_column=Column(String(32), nullable=False))  # a jurisdiction: uf:SC, region:42007 …
    status: str = Field(default="proposta", sa_column=Column(String(12), nullable=False))
    params: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    # The exact input, gzip-compressed canonical JSON, and its hash: `regula allocate --export` writes it back
    # and `regula allocate --solve` reproduces the solution bit for bit.
    instance_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    instance_gz: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    solver: str = Field(sa_column=Column(String(10), nullable=False))
    solver_status: str = Field(sa_column=Column(String(16), nullable=False))
    objective: int = Field(sa_column=Column(BigInteger, nullable=False))
    greedy_objective: int | None = Field(default=None, sa_column=Column(BigInteger))
    wall_seconds: float = Field(sa_column=Column(Float, nullable=False))
    counts: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    violations: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    decided_by: str | None = Field(default=None, sa_column=Column(String(64)))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    committed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class AllocationAssignment(SQLModel, table=True):
    """One proposed assignment: why this slot (cost components, rank within the class) and what it displaced
    (the entry the greedy baseline would have put there instead, when different)."""

    __tablename__ = "allocation_assignment"
    __table_args__ = (Index("ix_allocation_assignment_run", "run_id", "entry_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    run_id: int = Field(sa_column=Column(BigInteger, ForeignKey("allocation_run.id"), nullable=False))
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id"), nullable=False))
    slot_id: int = Field(sa_column=Column(BigInteger, ForeignKey("agenda_slot.id"), nullable=False))
    explanation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    displaced_entry_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # proposta | efetivada | conflito (the slot or the entry changed between proposal and commit)
    outcome: str = Field(default="proposta", sa_column=Column(String(10), nullable=False))
