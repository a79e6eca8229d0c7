"""``regula agendas import FILE``: provider agendas from CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from regula.audit.service import AuditContext, set_context
from regula.cli_support.context import console, database, fail, load_settings, run_in_transaction
from regula.core.errors import DomainError
from regula.providers import service
from regula.providers.schemas import AgendaImportReport

app = typer.Typer(name="agendas", help="Agendas dos prestadores.", no_args_is_help=True)


@app.command("import")
def import_agenda(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="CSV: cnes;oci;data;hora;modalidade;capacidade;id_externo"),
    ],
    report: Annotated[Path | None, typer.Option(help="Relatório JSON das linhas recusadas")] = None,
) -> None:
    """Importa vagas; as linhas válidas entram, as inválidas vão para o relatório (saída 1)."""
    settings = load_settings()
    try:
        rows = service.parse_agenda_csv(file.read_bytes())
    except DomainError as exc:
        fail(str(exc), exc.code)
    with database(settings) as url:

        async def work(session: AsyncSession) -> AgendaImportReport:
            set_context(session, AuditContext.system("cli", "regula agendas import"))
            return await service.import_agenda(session, rows, settings)

        result = run_in_transaction(url, work)
    console.print(
        f"{result.rows} linhas: {result.imported} vagas importadas, {result.unchanged} já existentes, "
        f"{result.refused} recusadas."
    )
    if report is not None:
        report.write_text(
            json.dumps(
                {
                    "rows": result.rows,
                    "imported": result.imported,
                    "unchanged": result.unchanged,
                    "refused": result.refused,
                    "errors": [
                        {"row": e.row, "field": e.field, "code": e.code, "message": e.message} for e in result.errors
                    ],
                },
                ensure_ascii=False,
                indent=2,
            ),
            encoding="utf-8",
        )
    raise typer.Exit(code=1 if result.refused else 0)
