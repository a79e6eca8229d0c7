"""``regula territory``: load the territory tables, look a municipality up."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from regula.cli_support.context import database, fail, load_settings, out, run_in_transaction
from regula.core.errors import DomainError
from regula.territory.reference import territory
from regula.territory.service import LoadResult, load_territory

app = typer.Typer(
    name="territory", help="Municípios, UFs e regiões de saúde (dados de referência).", no_args_is_help=True
)

_TABLE_LABELS = {
    "uf": "UFs",
    "macro_region": "Macrorregiões de saúde",
    "health_region": "Regiões de saúde",
    "municipality": "Municípios",
}


@app.command("load")
def load_command() -> None:
    """Carrega (ou atualiza) as tabelas de território a partir dos dados do pacote."""
    settings = load_settings()
    with database(settings) as url:
        result = run_in_transaction(url, load_territory)
    out.print(_summary(result))
    out.print("Território atualizado." if result.changed else "Território já estava atualizado: nada mudou.")


def _summary(result: LoadResult) -> Table:
    table = Table("Tabela", "Registros", "Inseridos", "Atualizados")
    for t in result.tables:
        table.add_row(_TABLE_LABELS.get(t.table, t.table), str(t.total), str(t.inserted), str(t.updated))
    return table


@app.command("show")
def show_command(
    code: Annotated[str, typer.Argument(help="Código IBGE do município, com 7 ou 6 dígitos")],
) -> None:
    """Mostra um município (não consulta o banco: usa os dados de referência do pacote)."""
    try:
        m = territory().municipality(code, field="code")
    except DomainError as exc:
        fail(exc.message, exc.code)
    table = Table(show_header=False, title=m.label)
    table.add_row("Código IBGE", f"{m.ibge_code} ({m.ibge_code6})")
    table.add_row("UF", f"{m.uf} ({m.uf_code})")
    table.add_row("Macrorregião de saúde", f"{m.macro_code} {m.macro_name}")
    region = f"{m.health_region_code} {m.health_region_name}" if m.health_region_code else "não informada"
    table.add_row("Região de saúde", region)
    table.add_row("População (IBGE 2019)", f"{m.population:,}".replace(",", "."))
    table.add_row("Coordenadas", f"{m.latitude:.5f}, {m.longitude:.5f}")
    out.print(table)
