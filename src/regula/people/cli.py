"""``regula people …``: citizens' records. ``regula people check-identification`` lists the records that break the
identification rule of Portaria SAES (componente complementar) art. 11 — CPF for everyone, CNS for indigenous
people — without changing any of them (decision 0020)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.audit.service import AuditContext, set_context
from regula.cli_support.context import database, load_settings, out, run_in_transaction
from regula.people.identification import ISSUES
from regula.people.service import IdentificationReport, identification_report

app = typer.Typer(name="people", help="Cadastro de cidadãos.", no_args_is_help=True)

COMMAND = "regula people check-identification"


@app.callback()
def _group() -> None:
    """Cadastro de cidadãos."""


@app.command("check-identification")
def check_identification(
    as_json: Annotated[bool, typer.Option("--json", help="Saída em JSON (para scripts)")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Quantos cadastros listar")] = 100,
) -> None:
    """Lista os cadastros fora da regra de identificação (Portaria SAES, art. 11): pessoa indígena sem CNS (uma
    pessoa não indígena sem CPF o banco já recusa). Nada é alterado: a correção é feita por quem cadastrou.

    Saída 0: nenhum cadastro fora da regra; 1: há cadastros a corrigir.
    """
    settings = load_settings()

    async def work(session: AsyncSession) -> IdentificationReport:
        set_context(session, AuditContext.system("cli", COMMAND))
        return await identification_report(session, Actor.system(COMMAND), limit=limit)

    with database(settings) as url:
        report = run_in_transaction(url, work)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "total": report.total,
                    "by_issue": report.by_issue,
                    "citizens": [
                        {
                            "citizen_id": r.citizen_id,
                            "issue": r.issue,
                            "municipality_ibge": r.municipality_ibge,
                            "uf": r.uf,
                            "race_color": r.race_color,
                            "cpf_masked": r.cpf_masked,
                            "cns_masked": r.cns_masked,
                        }
                        for r in report.rows
                    ],
                },
                ensure_ascii=False,
            )
        )
    elif report.total == 0:
        out.print("Nenhum cadastro fora da regra de identificação (Portaria SAES, art. 11).")
    else:
        for code, count in report.by_issue.items():
            if count:
                out.print(f"{ISSUES[code]}: {count}")
        table = Table("Cidadão", "Pendência", "Município (IBGE)", "CPF", "CNS")
        for r in report.rows:
            table.add_row(str(r.citizen_id), r.issue, r.municipality_ibge, r.cpf_masked or "—", r.cns_masked or "—")
        out.print(table)
        if report.total > len(report.rows):
            out.print(f"Mostrando {len(report.rows)} de {report.total}; use --limit para ver mais.")
    if report.total:
        raise typer.Exit(code=1)
