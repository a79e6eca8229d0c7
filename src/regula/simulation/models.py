"""Simulation runs kept for the manager's page (issue 15): a scenario queued by a gestor, simulated by the jobs
process in a worker process, and its report.

Lifecycle: na_fila (queued) → simulando (a worker process at work; ``progress`` says how far) → concluida (``report``
holds the report, the JSON of ``regula simulate``) or falhou (``error`` says why). ``scope`` is the jurisdiction of
the gestor who asked: the run is listed to the users whose jurisdiction shares a municipality with it. A run holds no
personal data: the simulated people are drawn, not read (Portaria GM/MS 3.492/2024, art. 12 on monitoring and
evaluation of the program by the managers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow

RUN_STATUSES = ("na_fila", "simulando", "concluida", "falhou")


class SimulationRun(SQLModel, table=True):
    __tablename__ = "simulation_run"
    __audited__ = True
    __table_args__ = (Index("ix_simulation_run_status", "status", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    scope: str = Field(sa_column=Column(String(32), nullable=False))  # the asking gestor's jurisdiction
    name: str = Field(sa_column=Column(String(80), nullable=False))
    status: str = Field(default="na_fila", sa_column=Column(String(12), nullable=False))
    scenario: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    # {"percent", "message" (Portuguese)} while it runs.
    progress: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
