"""Allocation runs: what was solved, with which input, what it proposed and who decided what about it.

Lifecycle: na_fila (proposed: waiting for the jobs process) → resolvendo (its instance built, the optimizer at
work in a worker process) → proposta → aprovada (by an operator) → efetivada (entries agendada, slots booked,
messages written, all in one transaction) — or descartada (by an operator, or by the validator), falhou (the
solve failed: ``error`` says why), or substituida when a newer run of the same scope is proposed before it was
committed (its assignments become the newer run's incumbents, kept where they cost no more). Decision 9.
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
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

# substituida: a newer run of the same scope took this uncommitted one's assignments as incumbents.
RUN_STATUSES = ("na_fila", "resolvendo", "proposta", "aprovada", "efetivada", "descartada", "substituida", "falhou")
#: Runs not solved yet: the jobs process picks them up in this order of statuses.
SOLVING_STATUSES = ("na_fila", "resolvendo")
#: Runs nobody was notified of yet: at most one per scope (the partial unique index below, migrations 0012 and
#: 0013), and a newer run of the same scope supersedes it; one queued or being solved holds the scope too.
LIVE_STATUSES = (*SOLVING_STATUSES, "proposta", "aprovada")


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
    status: str = Field(default="na_fila", sa_column=Column(String(12), nullable=False))
    params: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    # The exact input, gzip-compressed canonical JSON, and its hash: `regula allocate --export` writes it back
    # and `regula allocate --solve` reproduces the solution bit for bit. Empty until the jobs process builds it.
    instance_sha256: str | None = Field(default=None, sa_column=Column(String(64)))
    instance_gz: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    # What the optimizer answered: empty until the run is solved.
    solver: str | None = Field(default=None, sa_column=Column(String(10)))
    solver_status: str | None = Field(default=None, sa_column=Column(String(16)))
    objective: int | None = Field(default=None, sa_column=Column(BigInteger))
    greedy_objective: int | None = Field(default=None, sa_column=Column(BigInteger))
    wall_seconds: float | None = Field(default=None, sa_column=Column(Float))
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    # Where the solve is, for the page that polls it: {"step", "percent", "message" (Portuguese)}.
    progress: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    # Why the solve failed (status falhou), in Portuguese for the operator.
    error: str | None = Field(default=None, sa_column=Column(Text))
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
