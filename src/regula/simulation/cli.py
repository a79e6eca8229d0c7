"""``regula simulate``: run a policy scenario, or compare several on the same seeded demand, without a database.

    regula simulate --scenario FILE.json --out REPORT.json [--html R.html]
    regula simulate compare A.json B.json … --out COMPARISON.json [--html C.html]

Exit status: 0 success; 2 invalid input (each bad field named, as ``regula allocate``). The HTML renderer (the
dashboard's SVG charts) lives in the web layer; the composition root passes it to :func:`make_app`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from regula.core.errors import DomainError
from regula.simulation.report import compare, dump, run_scenario
from regula.simulation.scenario import Scenario, load_scenario

HtmlRenderer = Callable[[dict[str, Any]], str]


def _fail(message: str, code: str) -> NoReturn:
    typer.echo(f"Erro: {message} ({code})", err=True)
    raise typer.Exit(code=2)


def _load(path: Path) -> Scenario:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        _fail(f"Não foi possível ler o cenário {path}: {exc.strerror}.", "arquivo_ilegivel")
    try:
        return load_scenario(raw)
    except DomainError as exc:
        for e in exc.errors[:20]:
            typer.echo(f"  {path.name}: {e.field}: {e.message} [{e.code}]", err=True)
        _fail(exc.message, exc.code)


def _progress(done: float, message: str) -> None:
    if sys.stderr.isatty():
        typer.echo(f"\r{100 * done:5.1f}%  {message}   ", nl=False, err=True)


def _write(report: dict[str, Any], out: Path | None, html: Path | None, render_html: HtmlRenderer | None) -> None:
    typer.echo("", err=True)
    data = dump(report)
    try:
        if out is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            out.write_bytes(data)
        if html is not None:
            if render_html is None:
                _fail("Relatório HTML indisponível neste comando.", "html_indisponivel")
            html.write_text(render_html(report), encoding="utf-8")
    except OSError as exc:
        _fail(f"Não foi possível gravar o relatório: {exc.strerror}.", "arquivo_nao_gravado")


def make_app(render_html: HtmlRenderer | None = None) -> typer.Typer:
    app = typer.Typer(help="Simulação de políticas (sem banco de dados).", no_args_is_help=False)

    @app.callback(invoke_without_command=True)
    def simulate(
        ctx: typer.Context,
        scenario: Annotated[Path | None, typer.Option("--scenario", help="Cenário (JSON)")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Relatório (JSON); sem isto, na saída")] = None,
        html: Annotated[Path | None, typer.Option("--html", help="Também um relatório HTML com gráficos")] = None,
    ) -> None:
        """Simula um cenário: mesma entrada e semente, mesmo relatório byte a byte."""
        if ctx.invoked_subcommand is not None:
            return
        if scenario is None:
            _fail("Informe o cenário com --scenario ARQUIVO.json (ou use 'compare').", "argumentos_invalidos")
        report = run_scenario(_load(scenario), _progress)
        _write(report, out, html, render_html)

    @app.command("compare")
    def compare_command(
        scenarios: Annotated[list[Path], typer.Argument(help="Cenários (JSON); o primeiro é a referência")],
        out: Annotated[Path | None, typer.Option("--out", help="Comparação (JSON); sem isto, na saída")] = None,
        html: Annotated[Path | None, typer.Option("--html", help="Também um relatório HTML com gráficos")] = None,
    ) -> None:
        """Compara cenários sobre a mesma demanda (números aleatórios comuns), com intervalos de confiança."""
        if len(scenarios) < 2:
            _fail("Informe ao menos dois cenários para comparar.", "argumentos_invalidos")
        loaded = [_load(p) for p in scenarios]
        names = [s.name for s in loaded]
        if len(set(names)) != len(names):
            _fail("Os cenários comparados precisam de nomes (name) diferentes.", "nomes_repetidos")
        _write(compare(loaded, _progress), out, html, render_html)

    return app
