"""``regula programs``: the money of the programs.

* ``regula programs percapita-2023 [--json]`` — the per-capita distribution of Portaria GM/MS 90/2023 (27 UFs).
* ``regula programs ledger --par ID [--json]`` — the funding ledger of a PAR (art. 16 as amended): the same JSON as
  ``GET /api/v1/programs/pars/{id}/ledger`` (money as exact text, ``"1234.50"``).
* ``regula programs incentive --population N [--json]`` — the PAR implementation incentive (Portaria GM/MS
  3.492/2024 as amended, art. 15) and its two halves.

With ``--json`` the result goes to stdout as JSON with money as numbers of two decimals; without it, a table.
Bad input exits with code 2 and a Portuguese message on stderr.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Final

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.audit.service import AuditContext, set_context
from regula.cli_support.context import database, fail, load_settings, out, run_in_transaction
from regula.core.clock import local_today
from regula.core.errors import DomainError
from regula.programs import funding, percapita_2023
from regula.programs import service as par_service
from regula.programs.money import brl, dumps

app = typer.Typer(
    name="programs", help="Programas: PAR, incentivos, financiamento e redução de filas.", no_args_is_help=True
)
_THOUSANDS: Final = re.compile(r"^\d{1,3}(\.\d{3})+$")


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _reais(value: Decimal) -> str:
    return brl(value).removeprefix("R$ ")


@app.command("percapita-2023")
def percapita_2023_command(
    as_json: Annotated[bool, typer.Option("--json", help="Saída em JSON")] = False,
) -> None:
    """Distribuição per capita dos R$ 600 milhões da Portaria GM/MS 90/2023 entre as 27 UFs."""
    shares = percapita_2023.per_capita()
    if as_json:
        rows = [
            {
                "uf_code": s.uf_code,
                "uf": s.uf,
                "population": s.population,
                "amount_brl": s.amount,
                "upfront_brl": s.upfront,
            }
            for s in shares
        ]
        typer.echo(dumps(rows))
        return
    table = Table("cód.", "UF", "população TCU 2021", "valor (R$)", "⅓ antecipado (R$)")
    for column in table.columns[2:]:
        column.justify = "right"
        column.no_wrap = True
    for s in shares:
        table.add_row(s.uf_code, s.uf, _thousands(s.population), _reais(s.amount), _reais(s.upfront))
    population, amount, upfront = percapita_2023.distribution_totals(shares)
    table.add_row("", "Total", _thousands(population), _reais(amount), _reais(upfront))
    out.print(table)


@app.command("incentive")
def incentive_command(
    population: Annotated[str, typer.Option("--population", help="População coberta pelo PAR (habitantes)")],
    as_json: Annotated[bool, typer.Option("--json", help="Saída em JSON")] = False,
) -> None:
    """Incentivo à implementação do PAR por população (art. 15 da Portaria GM/MS 3.492/2024, alterada)."""
    text = population.strip()
    if _THOUSANDS.match(text):  # "1.000.000", as people in Brazil write it
        text = text.replace(".", "")
    if not text.isdigit():
        fail(f"População inválida: {population!r}; informe um número inteiro de habitantes.", "populacao_invalida")
    try:
        result = funding.incentive(int(text))
    except DomainError as exc:
        fail(exc.message, exc.code)
    if as_json:
        typer.echo(
            dumps(
                {
                    "population": result.population,
                    "amount_brl": result.amount,
                    "first_brl": result.first,
                    "second_brl": result.second,
                }
            )
        )
        return
    table = Table("população", "incentivo", "1ª parcela (aprovação SAES)", "2ª parcela (50% da produção)")
    table.add_row(f"{result.population:,}".replace(",", "."), brl(result.amount), brl(result.first), brl(result.second))
    out.print(table)


LEDGER_ACTOR = Actor("regula programs", "admin")  # the command line runs as the installation's operator


@app.command("ledger")
def ledger_command(
    par_id: Annotated[int, typer.Option("--par", help="Número do PAR", min=1)],
    as_json: Annotated[bool, typer.Option("--json", help="Saída em JSON (a mesma da API)")] = False,
) -> None:
    """Razão do financiamento das OCIs de um PAR: aprovado, adiantado, ganho, devido e em risco (art. 16)."""
    settings = load_settings()
    today = local_today(settings)
    with database(settings) as url:

        async def work(session: AsyncSession) -> par_service.LedgerView:
            set_context(session, AuditContext.system("cli", "regula programs ledger"))
            return await par_service.ledger_view(session, par_id, LEDGER_ACTOR, today)

        try:
            view = run_in_transaction(url, work)
        except DomainError as exc:
            fail(exc.message, exc.code)
    if as_json:
        typer.echo(dumps(view.to_data()))
        return
    table = Table(
        "gestor executor",
        "aprovado",
        "adiantado",
        "ganho",
        "devido",
        "em risco",
        title=f"PAR {par_id} em {today:%d/%m/%Y}",
    )
    for column in table.columns[1:]:
        column.justify = "right"
        column.no_wrap = True
    for m in view.ledger.managers:
        t = m.totals
        table.add_row(m.manager, brl(t.approved), brl(t.advanced), brl(t.earned), brl(t.due), brl(t.at_risk))
    t = view.ledger.totals
    table.add_row("Total", brl(t.approved), brl(t.advanced), brl(t.earned), brl(t.due), brl(t.at_risk))
    out.print(table)
