"""The simulation runner job: a run left 'simulando' by a stopped jobs process fails visibly, and a run whose
simulation raises fails with its reason, without stopping the runs queued after it."""

from __future__ import annotations

from sqlalchemy import text

from regula.cli_support.processes import WorkerPool
from regula.config import Settings
from regula.db.engine import Database
from regula.jobs.process import all_jobs
from regula.jobs.runner import run_job

INSERT = text(
    "INSERT INTO simulation_run (scope, name, status, scenario, created_by, created_at) "
    "VALUES ('uf:SC', :name, :status, CAST(:scenario AS jsonb), 'gestor.teste', now()) RETURNING id"
)
GOOD = '{"referrals_per_year": 3000, "months": 1, "seed": 3, "policy": "fifo"}'


async def test_interrupted_and_failing_runs_fail_visibly_and_the_queue_goes_on(
    savepoint_database: Database, settings: Settings
) -> None:
    db = savepoint_database
    async with db.transaction() as s:
        stale = (await s.execute(INSERT, {"name": "parada", "status": "simulando", "scenario": GOOD})).scalar_one()
        # Stored by hand, past the service's validation: the worker refuses it.
        bad = (await s.execute(INSERT, {"name": "ruim", "status": "na_fila", "scenario": '{"months": 0}'})).scalar_one()
        good = (await s.execute(INSERT, {"name": "boa", "status": "na_fila", "scenario": GOOD})).scalar_one()
    workers = WorkerPool()
    try:
        record = await run_job(db, settings, all_jobs()["simulation_runner"], workers=workers)
    finally:
        workers.stop()
    assert record is not None and record.outcome == "ok", record and record.error
    assert record.counts == {"interrupted": 1, "concluded": 1, "failed": 1}
    async with db.transaction() as s:
        rows = {
            r.id: r
            for r in (
                await s.execute(text("SELECT id, status, error, report IS NOT NULL AS has_report FROM simulation_run"))
            ).all()
        }
    assert rows[stale].status == "falhou" and "interrompida" in rows[stale].error
    assert rows[bad].status == "falhou" and "Cenário inválido" in rows[bad].error
    assert rows[good].status == "concluida" and rows[good].has_report
