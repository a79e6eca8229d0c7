"""``regula import …``: bulk imports. ``regula import referrals FILE`` brings referrals from a CSV or JSON export
(e-SUS APS, SISREG, another regulation system) into the waitlist; see docs/import-referrals.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.audit.service import AuditContext, set_context
from regula.cli_support.context import console, database, fail, load_settings, out, run_in_transaction
from regula.core.errors import DomainError
from regula.waitlist.importer import DEFAULT_SOURCE, ImportProgress, ImportReport, import_referrals

import_app = typer.Typer(name="import", help="Importação de dados em lote.", no_args_is_help=True)

COMMAND = "regula import referrals"
SHOWN_ERRORS = 20


@import_app.callback()
def _group() -> None:
    """Importação de dados em lote."""


@import_app.command("referrals")
def referrals(
    file: Annotated[Path, typer.Argument(help="Arquivo CSV (; ou ,) ou JSON (lista ou uma linha por objeto)")],
    report: Annotated[
        Path | None, typer.Option("--report", help="Grava o relatório (JSON) neste arquivo", show_default=False)
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="Origem dos dados; com o id_externo, identifica cada solicitação")
    ] = DEFAULT_SOURCE,
    fmt: Annotated[str, typer.Option("--format", help="csv, json ou auto (pela extensão e pelo conteúdo)")] = "auto",
) -> None:
    """Importa encaminhamentos (cidadão + solicitação) de um arquivo, numa transação.

    Saída 0: todas as linhas importadas (ou já importadas antes); 1: algumas linhas recusadas (as válidas são
    importadas e o relatório diz quais e por quê); 2: erro no arquivo (nada é importado).
    """
    if fmt not in ("auto", "csv", "json"):
        fail("Formato deve ser csv, json ou auto.", "formato_invalido")
    if not file.is_file():
        _write_error_report(report, "arquivo_ausente", f"Arquivo não encontrado: {file}.")
        fail(f"Arquivo não encontrado: {file}.", "arquivo_ausente")
    settings = load_settings()
    file_error: list[DomainError] = []
    with (
        database(settings) as url,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bars,
    ):
        task: TaskID = bars.add_task("Importando", total=file.stat().st_size)

        def progress(p: ImportProgress) -> None:
            bars.update(
                task,
                completed=p.bytes_read,
                description=f"{p.rows:,} linhas · {p.imported:,} importadas · {p.refused:,} recusadas".replace(
                    ",", "."
                ),
            )

        async def work(session: AsyncSession) -> ImportReport:
            set_context(session, AuditContext.system("cli", COMMAND))
            try:
                return await import_referrals(
                    session,
                    settings,
                    file,
                    actor=Actor.system(COMMAND),
                    source=source,
                    fmt=fmt,  # type: ignore[arg-type]  # checked above
                    progress=progress,
                )
            except DomainError as exc:
                file_error.append(exc)
                raise

        try:
            result = run_in_transaction(url, work)
        except typer.Exit:
            if file_error:
                _write_error_report(report, file_error[0].code, file_error[0].message)
            raise
    if report is not None:
        report.write_text(json.dumps(result.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    _print_summary(result, report)
    raise typer.Exit(code=1 if result.refused else 0)


def _write_error_report(path: Path | None, code: str, message: str) -> None:
    if path is None:
        return
    body: dict[str, Any] = {
        "rows": 0,
        "imported": 0,
        "unchanged": 0,
        "refused": 0,
        "errors": [],
        "error": {"code": code, "message": message},
    }
    path.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _print_summary(result: ImportReport, report: Path | None) -> None:
    out.print(
        f"{_n(result.rows)} linhas: {_n(result.imported)} importadas, {_n(result.unchanged)} já importadas antes,"
        f" {_n(result.refused)} recusadas · {_n(result.citizens_created)} cidadãos cadastrados"
        f" · {result.elapsed_seconds:.1f} s"
    )
    if result.scores == "pendentes":
        out.print("Escores das solicitações autorizadas: calculados na próxima atualização das filas.")
    if result.ignored_columns:
        console.print(f"Colunas ignoradas: {escape(', '.join(result.ignored_columns))}")
    if not result.errors:
        return
    table = Table("linha", "campo", "código", "mensagem", title="Linhas recusadas")
    for e in result.errors[:SHOWN_ERRORS]:
        table.add_row(str(e.row), escape(e.column or e.field), e.code, escape(e.message))
    console.print(table)
    if len(result.errors) > SHOWN_ERRORS:
        where = f" em {report}" if report else " (use --report para gravá-los)"
        console.print(f"… e mais {_n(len(result.errors) - SHOWN_ERRORS)} erros{where}.")
