"""Simulation runs for the manager's page: queue a scenario, follow it, read its report (decision 19).

The request only validates and queues (``na_fila``); the jobs process's ``simulation_runner`` claims the run
(``simulando``), runs it in one of its worker processes (decision 9: never in a web worker, never on the event
loop, in a process that ends with its parent) and stores the report (``concluida``) or the reason it failed
(``falhou``). A run left ``simulando`` by a jobs process that stopped is marked ``falhou`` by the next pass.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.core.errors import Conflict, ValidationFailed
from regula.db.base import utcnow
from regula.simulation import repository
from regula.simulation.models import SimulationRun
from regula.simulation.scenario import dump_scenario, load_scenario
from regula.territory.reference import territory

#: A run of the page simulates at most this many referrals over all its replications (≈ 10 minutes of the jobs
#: process on this machine at regula's policy: docs/benchmarks.md), so one request cannot hold the runner for hours.
MAX_SIMULATED_REFERRALS: Final = 5_000_000
STEPS_PT: Final = {
    "na_fila": "Na fila: aguarda o processo de tarefas.",
    "simulando": "Simulando…",
    "concluida": "Simulação concluída.",
}


async def enqueue(session: AsyncSession, actor: Actor, data: dict[str, Any]) -> SimulationRun:
    """Validate a scenario (each bad field named) and queue it. The scenario's UF must share municipalities with
    the gestor's jurisdiction: a manager simulates the state their own queues are in."""
    scenario = load_scenario(data)
    size = scenario.referrals_per_year * scenario.days / 365.25 * scenario.replications
    if size > MAX_SIMULATED_REFERRALS:
        total, limit = f"{size:,.0f}".replace(",", "."), f"{MAX_SIMULATED_REFERRALS:,}".replace(",", ".")
        raise ValidationFailed.for_field(
            "replications",
            "simulacao_grande_demais",
            f"Simulação grande demais para a página ({total} encaminhamentos simulados no total; o máximo é {limit}): "
            "reduza as replicações, os meses ou o volume, ou use o comando 'regula simulate'.",
        )
    uf_munis = {m.ibge_code for m in territory().by_uf(scenario.uf.upper())}
    if not uf_munis & repository.municipalities(actor.jurisdiction):
        raise ValidationFailed.for_field(
            "uf", "fora_da_jurisdicao", f"A UF {scenario.uf} está fora da sua jurisdição ({actor.jurisdiction})."
        )
    run = SimulationRun(
        scope=str(actor.jurisdiction),
        name=scenario.name,
        status="na_fila",
        scenario=dump_scenario(scenario),
        progress={"percent": 0, "message": STEPS_PT["na_fila"]},
        created_by=actor.username,
    )
    return await repository.add(session, run)


async def queued(session: AsyncSession) -> bool:
    """Whether a run waits (or was left ``simulando`` by a jobs process that stopped)."""
    return await repository.any_waiting(session)


async def fail_interrupted(session: AsyncSession) -> int:
    """Runs left ``simulando``: only the runner job simulates, under its job lock, so any found when it starts was
    interrupted. They fail rather than retry (a run that kills its worker would kill every next one)."""
    stale = await repository.running(session)
    for run in stale:
        _fail(run, "A simulação foi interrompida (o processo de tarefas parou). Peça de novo.")
    await session.flush()
    return len(stale)


async def claim_next(session: AsyncSession) -> SimulationRun | None:
    run = await repository.next_queued(session)
    if run is None:
        return None
    run.status, run.started_at = "simulando", utcnow()
    run.progress = {"percent": 0, "message": STEPS_PT["simulando"]}
    await session.flush()
    return run


async def record_progress(session: AsyncSession, run_id: int, progress: dict[str, Any]) -> None:
    run = await repository.get(session, run_id, for_update=True)
    if run is not None and run.status == "simulando":
        run.progress = {"percent": int(progress.get("percent", 0)), "message": str(progress.get("message", ""))[:200]}
        await session.flush()


async def record_report(session: AsyncSession, run_id: int, report: dict[str, Any]) -> SimulationRun:
    run = await repository.get(session, run_id, for_update=True)
    if run is None or run.status != "simulando":
        raise Conflict("A simulação não está em andamento.", code="simulacao_transicao_invalida")
    run.status, run.report, run.finished_at = "concluida", report, utcnow()
    run.progress = {"percent": 100, "message": STEPS_PT["concluida"]}
    await session.flush()
    return run


def _fail(run: SimulationRun, reason: str) -> None:
    run.status, run.error, run.finished_at = "falhou", reason[:2000], utcnow()
    run.progress = {"percent": int((run.progress or {}).get("percent", 0)), "message": f"Falhou: {reason[:300]}"}


async def fail_run(session: AsyncSession, run_id: int, reason: str) -> None:
    run = await repository.get(session, run_id, for_update=True)
    if run is not None and run.status in ("na_fila", "simulando"):
        _fail(run, reason)
        await session.flush()


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationFailed):
        return f"Cenário inválido: {exc.message}"
    return f"{type(exc).__name__}: {exc}"[:500]
