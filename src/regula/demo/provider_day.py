"""The demo's provider's day (issue 17 item 2): the establishment of the demo's executante user
(:data:`regula.seed.PROVIDER_DAY_CNES`) has a session today, appointments over the week, and OCIs in
execution — some with their composition complete, ready to be concluded.

* Today: ``Generator.provider_day`` brings the establishment's soonest appointments to today (most confirmed by
  the citizen, one not), before the rows are written.
* In execution: the generated entries in ``em_atendimento`` there began on their appointment day; their procedures
  are recorded here through the real service (``production.execution.record_procedure``, the executante as the
  actor): every other one with the OCI's whole conclusion set (``production.demo.completion_plan``: mandatory
  procedures, one of each "one of" group, the PMAE minimum of secondaries), the others with the first procedure
  only. Procedures performed on the
  appointment day and the following working days, never after yesterday (they were recorded before today).

Everything follows from the demo's ``today`` and the generator's data: nothing depends on the day it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Jurisdiction, JurisdictionKind
from regula.config import Settings
from regula.demo.generation import Generator, Status
from regula.production import execution
from regula.production.demo import completion_plan
from regula.seed import PROVIDER_DAY_CNES

#: Appointments brought to today at the establishment (one of them left unconfirmed).
TODAY_COUNT: Final = 8
#: The demo executante (``regula.seed.DEMO_USERS``) records the procedures of the OCIs in execution.
PROVIDER_USERNAME: Final = "policlinica.centro"
#: CBO of the professional in the demo's records: médico clínico.
CBO_CLINICO: Final = "225125"


@dataclass(frozen=True)
class ProviderDay:
    cnes: str
    today: int  # appointments today
    in_execution: int  # OCIs in execution with procedures recorded
    ready_to_conclude: int  # of which the conclusion set is complete


def bring_today(gen: Generator) -> int:
    """Today's session at the executante's establishment (before the rows are written); how many appointments."""
    if gen.network is None or PROVIDER_DAY_CNES not in gen.network.by_cnes:
        return 0
    return len(gen.provider_day(PROVIDER_DAY_CNES, TODAY_COUNT))


def _days(first: date, n: int, yesterday: date) -> list[date]:
    """``n`` working days from ``first`` (a procedure a working day), none after ``yesterday``."""
    out: list[date] = []
    day = first
    while len(out) < n:
        out.append(min(day, yesterday))
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    return out


async def record_executions(session: AsyncSession, settings: Settings, gen: Generator) -> ProviderDay:
    """The procedures of the OCIs in execution at the establishment (after the rows are written: ids known)."""
    cnes = PROVIDER_DAY_CNES
    today = gen.clock.today
    actor = Actor(PROVIDER_USERNAME, "executante", None, Jurisdiction(JurisdictionKind.CNES, cnes))
    in_care = sorted(
        (
            e
            for e in gen.entries
            if e.status == Status.EM_ATENDIMENTO and e.appointment is not None and e.appointment[0] == cnes
        ),
        key=lambda e: e.protocol,
    )
    today_count = sum(
        1
        for e in gen.entries
        if e.status in (Status.AGENDADA, Status.CONFIRMADA)
        and e.appointment is not None
        and e.appointment[0] == cnes
        and 0 <= e.appointment[1] < 1
    )
    ready = 0
    for n, e in enumerate(in_care):
        assert e.appointment is not None
        started = gen.clock.day(e.appointment[1])
        whole = completion_plan(e.oci)
        codes = whole if n % 2 == 0 else whole[:1]
        if not codes:
            continue
        for code, on in zip(codes, _days(started, len(codes), today - timedelta(days=1)), strict=True):
            data = execution.ProcedureInput(procedure_code=code, performed_on=on, cbo=CBO_CLINICO, cnes=cnes)
            view = await execution.record_procedure(session, settings, e.id, data, actor, today=today)
        ready += view.progress.complete
    return ProviderDay(cnes, today_count, len(in_care), ready)
