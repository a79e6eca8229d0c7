"""``regula catalog …``: import SIGTAP monthly files and look at the OCIs."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from regula.audit.service import AuditContext, set_context
from regula.catalog import service
from regula.catalog.schemas import ImportResult, OciSummary, VersionInfo
from regula.cli_support.context import console, database, fail, load_settings, out, run_in_transaction

app = typer.Typer(name="catalog", help="Catálogo SIGTAP de OCIs.", no_args_is_help=True)


@app.command("import-sigtap")
def import_sigtap(
    path: Annotated[
        Path | None,
        typer.Argument(help="Arquivo TabelaUnificada_AAAAMM_v….zip exportado pelo DATASUS", show_default=False),
    ] = None,
    bundled: Annotated[
        bool, typer.Option("--bundled", help="Importa o arquivo da competência 2026-01 que acompanha o regula")
    ] = False,
) -> None:
    """Importa um arquivo SIGTAP mensal como uma versão do catálogo (uma por competência)."""
    if bundled == (path is not None):
        fail("Informe o caminho de um zip SIGTAP ou --bundled (um dos dois).", "argumentos_invalidos")
    source = service.bundled_sigtap_zip() if bundled else path
    assert source is not None
    if not source.is_file():
        fail(f"Arquivo não encontrado: {source}.", "sigtap_arquivo_ausente")
    settings = load_settings()
    with (
        database(settings) as url,
        Progress(
            TextColumn("[bold]{task.description:<28}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bars,
    ):
        tasks: dict[str, TaskID] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bars.add_task(table, total=total)
            bars.update(tasks[table], completed=done, total=total)

        async def work(session: AsyncSession) -> ImportResult:
            set_context(session, AuditContext.system("cli", "regula catalog import-sigtap"))
            return await service.import_sigtap(session, source, settings, progress=progress)

        result = run_in_transaction(url, work)
    _print_import(result)


def _print_import(result: ImportResult) -> None:
    if result.unchanged:
        out.print(
            f"Competência {result.competencia}: este arquivo já estava importado, nada mudou. ({result.oci_count} OCIs)"
        )
        return
    out.print(f"[green]Competência {result.competencia} importada[/] de {result.source_filename}.")
    out.print(
        f"OCIs: {result.oci_count} · procedimentos secundários: {result.procedure_count}"
        f" · CIDs: {result.cid_count} · atributos: {result.attribute_count}"
        f" · habilitações: {result.habilitacao_count} · regras condicionadas: {result.rule_count}"
    )
    out.print(f"Competência atual: {result.current_competencia}.")


@app.command("list")
def list_ocis(
    as_json: Annotated[bool, typer.Option("--json", help="Saída JSON (um array) na saída padrão")] = False,
    competencia: Annotated[
        str | None, typer.Option(help="Competência AAAAMM (padrão: a mais recente importada)")
    ] = None,
) -> None:
    """Lista as OCIs de uma competência com composição, valor e prazo máximo (tM)."""
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> list[OciSummary]:
            return await service.list_ocis(session, settings, competencia)

        ocis = run_in_transaction(url, work)
    if as_json:
        typer.echo(json.dumps([oci_json(o) for o in ocis], ensure_ascii=False, indent=2))
        return
    table = Table(
        title=f"OCIs — competência {ocis[0].competencia if ocis else competencia}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="tM: prazo máximo (dias) · Idade em meses · Sec.: secundários obrigatórios/opcionais"
        " · Cons.: consulta P presencial, T teleconsulta (uma delas é exigida)",
    )
    table.add_column("Código", no_wrap=True)
    table.add_column("Nome", ratio=1, min_width=16)
    table.add_column("R$", justify="right", no_wrap=True)
    table.add_column("tM", justify="right", no_wrap=True)
    table.add_column("Sexo", no_wrap=True)
    table.add_column("Idade", no_wrap=True)
    table.add_column("Sec.", justify="right", no_wrap=True)
    table.add_column("Cons.", no_wrap=True)
    for oci in ocis:
        table.add_row(
            oci.code,
            oci.name,
            f"{oci.value_brl:.2f}".replace(".", ","),
            str(oci.max_days),
            oci.sex or "ambos",
            f"{_age(oci.age_min_months)}–{_age(oci.age_max_months)}",
            f"{len(oci.mandatory)}/{len(oci.optional)}",
            _consultation(oci),
        )
    out.print(table)


@app.command("versions")
def list_versions() -> None:
    """Lista as competências importadas (a mais recente é a atual)."""
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> list[VersionInfo]:
            return await service.list_versions(session)

        versions = run_in_transaction(url, work)
    table = Table(title="Versões do catálogo SIGTAP", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("Competência", "Arquivo", "SHA-256", "Importada em (UTC)", "OCIs", "Atual"):
        table.add_column(
            column, no_wrap=column != "Arquivo", overflow="fold", min_width=12 if column == "Arquivo" else None
        )
    for v in versions:
        table.add_row(
            v.competencia,
            v.source_filename,
            v.sha256[:12] + "…",
            v.imported_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            str(v.oci_count),
            "sim" if v.current else "",
        )
    out.print(table)


def _consultation(oci: OciSummary) -> str:
    """Which consultation satisfies the PMAE rule: P (presencial), T (teleconsulta) or both."""
    labels = {"0301010072": "P", "0301010307": "T"}
    return "/".join(labels.get(item.code, item.code) for item in oci.consultation_one_of) or "—"


def _age(months: int | None) -> str:
    return "—" if months is None else str(months)


def oci_json(oci: OciSummary) -> dict[str, Any]:
    """The JSON object of one OCI in ``regula catalog list --json``.

    ``mandatory``: SIGTAP TP_COMPATIBILIDADE 5. ``optional``: TP 1 without the consultation pair
    0301010072/0301010307, which goes to ``consultation_one_of`` because the PMAE rule requires one of them
    (catalog.policy); this is the split of the reference catalog (its ``optional`` / ``mandatory_one_of``).
    ``qty`` is null when SIGTAP fixes no quantity (QT_PERMITIDA 0). ``sex`` null and ages null mean "no limit".
    Procedure items are exactly ``{"code", "qty"}`` (the published contract); their names are in
    ``procedure_names``.
    """
    data = asdict(oci)
    data["value_brl"] = _number(oci.value_brl)
    names: dict[str, str] = {}
    for key in ("mandatory", "optional", "consultation_one_of"):
        names |= {item["code"]: item["name"] for item in data[key]}
        data[key] = [{"code": item["code"], "qty": item["qty"]} for item in data[key]]
    data["procedure_names"] = names
    return data


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
