"""``regula production``: import production lines, check them, export the OCIs' APAC production, run the alerts.

* ``regula production import FILE`` — SIA/BPA-like lines in CSV (docs/production.md); exit 1 when rows were refused.
* ``regula production check --competencia AAAAMM [--ate AAAAMM] [--cnes X] [--json FILE]`` — the findings of
  production control; exit 1 when there are findings.
* ``regula production apac --competencia AAAAMM --cnes X --out FILE`` — the documented CSV of the OCIs concluded.
* ``regula production alerts`` — the tR / tM alerts to navigators (the ``oci_alerts`` job does the same daily).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.audit.service import AuditContext, set_context
from regula.cli_support.context import console, database, load_settings, out, run_in_transaction
from regula.production import apac, control
from regula.production.alerts import sweep_alerts

app = typer.Typer(name="production", help="Produção: importação, controle e exportação APAC.", no_args_is_help=True)
CLI_ACTOR = Actor("regula production", "admin")  # the command line runs as the installation's operator


@app.command("import")
def import_file(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="CSV: cns;cpf;procedimento;data;cnes;competencia;quantidade;autorizacao;instrumento;principal;cbo;cid",
        ),
    ],
    report: Annotated[Path | None, typer.Option(help="Relatório JSON das linhas recusadas")] = None,
) -> None:
    """Importa linhas de produção; as válidas entram, as recusadas vão para o relatório (saída 1)."""
    settings = load_settings()
    data = file.read_bytes()
    with database(settings) as url:

        async def work(session: AsyncSession) -> control.ImportReport:
            set_context(session, AuditContext.system("cli", "regula production import"))
            return await control.import_production(
                session, data, filename=file.name, imported_by="regula production import"
            )

        result = run_in_transaction(url, work)
    if result.unchanged:
        console.print(f"{file.name} já foi importado (importação {result.import_id}); nada foi alterado.")
    else:
        console.print(f"{result.rows} linhas: {result.imported} importadas, {result.refused} recusadas.")
    for e in result.errors[:20]:
        console.print(f"  linha {e.row}, {e.field}: {e.message} [{e.code}]", markup=False)
    if report is not None:
        report.write_text(
            json.dumps(
                {
                    "import_id": result.import_id,
                    "rows": result.rows,
                    "imported": result.imported,
                    "refused": result.refused,
                    "unchanged": result.unchanged,
                    "errors": [vars(e) for e in result.errors],
                },
                ensure_ascii=False,
                indent=2,
            ),
            encoding="utf-8",
        )
    raise typer.Exit(code=1 if result.refused else 0)


@app.command("check")
def check(
    competencia: Annotated[str, typer.Option("--competencia", help="Competência inicial, AAAAMM")],
    ate: Annotated[str | None, typer.Option("--ate", help="Competência final, AAAAMM (inclusive)")] = None,
    cnes: Annotated[str | None, typer.Option("--cnes", help="Só este estabelecimento")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Grava os achados em JSON")] = None,
) -> None:
    """Cruza a produção por pessoa e período (Portaria 3.492/2024 alterada, art. 14 §3); saída 1 com achados."""
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> list[control.Finding]:
            set_context(session, AuditContext.system("cli", "regula production check"))
            return await control.check_production(
                session, settings, CLI_ACTOR, competencia=competencia, until=ate, cnes=cnes
            )

        findings = run_in_transaction(url, work)
    if not findings:
        console.print("Nenhum achado no período.")
    else:
        table = Table(title=f"Controle da produção {competencia}{'–' + ate if ate else ''}")
        for column in ("Código", "CNES", "Pessoa", "OCI", "Mensagem"):
            table.add_column(column)
        for f in findings:
            table.add_row(f.code, f.cnes, f.person, f.oci_code or "", f.message)
        out.print(table)
        counts = Counter(f.code for f in findings)
        console.print("; ".join(f"{code}: {n}" for code, n in sorted(counts.items())))
    if json_out is not None:
        json_out.write_text(
            json.dumps(control.findings_as_dicts(findings), ensure_ascii=False, indent=2), encoding="utf-8"
        )
    raise typer.Exit(code=1 if findings else 0)


@app.command("apac")
def apac_command(
    competencia: Annotated[str, typer.Option("--competencia", help="AAAAMM")],
    cnes: Annotated[str, typer.Option("--cnes", help="CNES do estabelecimento executante")],
    out_file: Annotated[Path, typer.Option("--out", help="Arquivo CSV a gravar")],
) -> None:
    """Exporta a produção de OCIs concluídas na competência (CSV documentado em docs/production.md)."""
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> apac.ApacExport:
            set_context(session, AuditContext.system("cli", "regula production apac"))
            return await apac.apac_export(session, settings, CLI_ACTOR, competencia=competencia, cnes=cnes)

        export = run_in_transaction(url, work)
    out_file.write_text(export.csv(), encoding="utf-8")
    console.print(f"{export.apacs} APACs, {len(export.lines)} linhas gravadas em {out_file}.")
    for pending in export.pending:
        console.print(f"  pendência: {pending}", markup=False)


@app.command("alerts")
def alerts() -> None:
    """Abre tarefas de navegação para OCIs além do tR, perto do tM ou além do tM."""
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> dict[str, int]:
            set_context(session, AuditContext.system("cli", "regula production alerts"))
            return await sweep_alerts(session, settings)

        result = run_in_transaction(url, work)
    console.print(f"{result['open_ocis']} OCIs em execução verificadas; {result['alerts']} alertas abertos.")
