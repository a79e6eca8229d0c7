"""``regula scheduler`` and ``regula jobs …``."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlmodel import col

from regula.cli.checks import check_production
from regula.cli_support.context import console, database, fail, load_settings, out
from regula.cli_support.processes import WorkerPool
from regula.db.engine import make_database
from regula.jobs.models import JobRun
from regula.jobs.process import all_jobs, serve
from regula.jobs.runner import run_job

jobs_app = typer.Typer(help="Tarefas periódicas.", no_args_is_help=True)


def scheduler_command(
    run_now: Annotated[bool, typer.Option("--run-now", help="Roda todas as tarefas ao iniciar")] = False,
    parent_pid: Annotated[
        int | None, typer.Option("--parent-pid", hidden=True, help="Para quando este processo terminar")
    ] = None,
) -> None:
    """Inicia o processo agendador (um só; réplicas extras não repetem tarefas)."""
    settings = load_settings()
    with database(settings) as url:
        check_production(settings, url)
        console.print("Agendador iniciado (Ctrl+C para parar).")
        asyncio.run(serve(settings, url, run_now=run_now, parent_pid=parent_pid))


@jobs_app.command("run")
def run(name: Annotated[str, typer.Argument(help="Nome da tarefa")]) -> None:
    """Roda uma tarefa agora, com o mesmo bloqueio e registro do agendador."""
    jobs = all_jobs()
    if name not in jobs:
        fail(f"Tarefa desconhecida: {name}. Tarefas: {', '.join(sorted(jobs))}.", "tarefa_desconhecida")
    settings = load_settings()
    with database(settings) as url:

        async def go() -> JobRun | None:
            db = make_database(url, pool_size=2, application_name="regula-cli")
            workers = WorkerPool()  # the allocation solver's, as in the jobs process; they end with this command
            try:
                return await run_job(db, settings, jobs[name], workers=workers)
            finally:
                workers.stop()
                await db.dispose()

        result = asyncio.run(go())
    if result is None:
        console.print(f"{name}: outro processo está executando esta tarefa agora.")
        return
    console.print(f"{name}: {result.outcome} {result.counts or ''}")
    if result.outcome == "failed":
        raise typer.Exit(code=1)


@jobs_app.command("list")
def list_runs(limit: Annotated[int, typer.Option(min=1, max=500)] = 20) -> None:
    """Últimas execuções das tarefas."""
    settings = load_settings()
    with database(settings) as url:

        async def go() -> list[JobRun]:
            db = make_database(url, pool_size=1, application_name="regula-cli")
            try:
                async with db.transaction() as s:
                    stmt = select(JobRun).order_by(col(JobRun.id).desc()).limit(limit)
                    return list((await s.execute(stmt)).scalars())
            finally:
                await db.dispose()

        runs = asyncio.run(go())
    table = Table("id", "tarefa", "início", "fim", "resultado", "contagens")
    for r in runs:
        table.add_row(
            str(r.id),
            r.job,
            f"{r.started_at:%d/%m %H:%M:%S}",
            f"{r.finished_at:%H:%M:%S}" if r.finished_at else "",
            r.outcome,
            str(r.counts or ""),
        )
    out.print(table)
