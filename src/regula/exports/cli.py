"""``regula export …``: exports to the federal systems. ``regula export waitlist --uf SC --format csv|json|fhir``
writes the UF's individualized waitlist (Portaria GM/MS 3.492/2024 as amended, art. 14 §1–2); see
docs/exports/waitlist.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from regula.audit.service import AuditContext, set_context
from regula.cli_support.context import console, database, fail, load_settings, out, run_in_transaction
from regula.core.errors import DomainError
from regula.exports.fhir import DEFAULT_BUNDLE_SIZE
from regula.exports.service import ExportReport, Staging, default_filename, export_waitlist, resolve_destination
from regula.exports.waitlist import ExportMeta, check_filter, check_format

app = typer.Typer(name="export", help="Exportações para os sistemas federais.", no_args_is_help=True)

COMMAND = "regula export waitlist"


@app.callback()
def _group() -> None:
    """Exportações para os sistemas federais."""


@app.command("waitlist")
def waitlist(
    uf: Annotated[
        str | None, typer.Option("--uf", help="Sigla da UF: a lista é consolidada por UF", show_default=False)
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, json ou fhir (Bundle FHIR R4)")] = "csv",
    oci: Annotated[
        str | None, typer.Option("--oci", help="Só esta OCI (código SIGTAP de 10 dígitos)", show_default=False)
    ] = None,
    municipality: Annotated[
        str | None,
        typer.Option("--municipality", help="Só este município de origem (código IBGE)", show_default=False),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Arquivo de destino, ou pasta onde gravar (padrão: pasta atual)", show_default=False
        ),
    ] = None,
    include_terminal: Annotated[
        bool,
        typer.Option("--include-terminal", help="Inclui solicitações encerradas (concluídas, canceladas, negadas…)"),
    ] = False,
    bundle_size: Annotated[
        int, typer.Option("--bundle-size", min=1, max=100_000, help="FHIR: entradas por Bundle (um arquivo cada)")
    ] = DEFAULT_BUNDLE_SIZE,
    jobs: Annotated[
        int, typer.Option("--jobs", min=1, max=64, help="FHIR: processos que validam os Bundles em paralelo")
    ] = 1,
) -> None:
    """Grava a lista de espera individualizada de uma UF (por CPF ou CNS, município de origem e OCI).

    Saída 0: arquivo(s) gravado(s) e exportação registrada na auditoria; 2: erro (nada é gravado).
    """
    try:
        format_ = check_format(fmt)
        flt = check_filter(uf, oci, municipality, include_terminal=include_terminal)
    except DomainError as exc:
        fail(exc.message, exc.code)
    settings = load_settings()
    meta = ExportMeta.new(settings)
    try:
        destination = resolve_destination(out_path, default_filename(flt, format_, meta.competencia))
    except DomainError as exc:
        fail(exc.message, exc.code)
    staging = Staging()
    with database(settings) as url:

        async def work(session: AsyncSession) -> ExportReport:
            set_context(session, AuditContext.system("cli", COMMAND))
            return await export_waitlist(
                session, settings, flt, format_, destination, staging, meta=meta, bundle_size=bundle_size, jobs=jobs
            )

        try:
            report = run_in_transaction(url, work)
        except BaseException:
            staging.discard()
            raise
    staging.publish()
    _print_summary(report)


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _print_summary(report: ExportReport) -> None:
    t = report.totals
    flt = report.filter
    scope = f"UF {flt.uf}"
    if flt.oci_code:
        scope += f", OCI {flt.oci_code}"
    if flt.municipality_ibge:
        scope += f", município {flt.municipality_ibge}"
    out.print(
        f"Lista de espera ({scope}) · competência {report.competencia} · {report.elapsed_seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"{_n(t.rows)} entradas: {_n(t.active)} ativas, {_n(t.booked)} agendadas · {len(t.by_oci)} OCIs"
        f" · {len(t.by_municipality)} municípios de origem",
        highlight=False,
        soft_wrap=True,
    )
    for f in report.files:
        out.print(f"Arquivo: {escape(str(f.path))}", highlight=False, soft_wrap=True)
        out.print(f"  {_n(f.bytes)} bytes · SHA-256 {f.sha256}", highlight=False, soft_wrap=True)
    if t.rows:
        table = Table("oci", "nome", "entradas", "ativas", "agendadas", title="Por OCI")
        for code, n in sorted(t.by_oci.items()):
            table.add_row(
                code,
                escape(t.oci_names.get(code) or ""),
                _n(n),
                _n(t.active_by_oci[code]),
                _n(t.booked_by_oci[code]),
            )
        out.print(table)
    else:
        console.print("Nenhuma entrada para este filtro: o arquivo foi gravado sem entradas.")
    console.print(f"Exportação registrada na auditoria (id {report.export_id}).", highlight=False)
