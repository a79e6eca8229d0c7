"""``regula allocate``: solve, check and compare allocation instances from files, without a database.

    regula allocate --solve INSTANCE.json --out SOLUTION.json        # exact solve, validated, canonical bytes
    regula allocate --solve INSTANCE.json --greedy --out GREEDY.json  # the greedy baseline
    regula allocate --solve INSTANCE.json --validate SOLUTION.json    # check a solution file

Exit status: 0 success, 1 when the validator finds violations, 2 on invalid input.

This adapter lives in ``allocation``, not in the optimizer package: ``--export`` reads runs from the database,
and the optimizer (``regula.optimizer``) imports nothing of regula but ``regula.core`` (decision 0011).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from regula.allocation.cli import export_instance
from regula.core.errors import DomainError
from regula.optimizer.flow import solve as solve_flow
from regula.optimizer.greedy import solve_greedy
from regula.optimizer.instance import Instance, Solution, dump_solution, load_instance, load_solution
from regula.optimizer.validate import Violation, validate

app = typer.Typer(
    name="allocate",
    help="Alocação de vagas de OCI (otimizador exato por fluxo de custo mínimo).",
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _fail(message: str, code: str, status: int = 2) -> NoReturn:
    typer.echo(f"Erro: {message} ({code})", err=True)
    raise typer.Exit(code=status)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        _fail(f"{what} não encontrado: {path}.", "arquivo_ausente")
    except OSError as exc:
        _fail(f"Não foi possível ler {path}: {exc.strerror}.", "arquivo_ilegivel")


def _load_instance(path: Path) -> Instance:
    try:
        return load_instance(_read(path, "Arquivo de instância"))
    except DomainError as exc:
        _report_domain_error(exc)


def _load_solution(path: Path) -> Solution:
    try:
        return load_solution(_read(path, "Arquivo de solução"))
    except DomainError as exc:
        _report_domain_error(exc)


def _report_domain_error(exc: DomainError) -> NoReturn:
    for e in exc.errors[:20]:
        typer.echo(f"  {e.field}: {e.message} [{e.code}]", err=True)
    if len(exc.errors) > 20:
        typer.echo(f"  … e mais {len(exc.errors) - 20} erros", err=True)
    _fail(exc.message, exc.code)


def _report(violations: list[Violation]) -> None:
    for v in violations[:50]:
        typer.echo(f"  {v.message} [{v.code}]", err=True)
    if len(violations) > 50:
        typer.echo(f"  … e mais {len(violations) - 50} violações", err=True)


@app.callback(invoke_without_command=True)
def allocate(
    solve: Annotated[
        Path | None, typer.Option("--solve", help="Instância (JSON) a resolver ou contra a qual validar")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Onde gravar a solução (JSON); sem isto, na saída")] = None,
    greedy: Annotated[bool, typer.Option("--greedy", help="Usa o algoritmo guloso de referência")] = False,
    validate_path: Annotated[
        Path | None, typer.Option("--validate", help="Valida esta solução contra a instância de --solve")
    ] = None,
    with_timing: Annotated[bool, typer.Option("--with-timing", help="Inclui tempos (meta) na solução")] = False,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Processos para os componentes")] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Grava a instância de uma rodada (--run) ou do banco (--scope)")
    ] = None,
    run: Annotated[int | None, typer.Option("--run", help="Rodada de alocação cuja instância exportar")] = None,
    scope: Annotated[str | None, typer.Option("--scope", help="Jurisdição da instância a montar, ex.: uf:SC")] = None,
) -> None:
    """Resolve uma instância exportada (mesma entrada, mesma saída byte a byte) ou valida uma solução."""
    if export is not None:
        # The only path here that touches the database; the optimizer itself stays pure.
        export_instance(export, run_id=run, scope=scope)
        return
    if solve is None:
        _fail("Informe a instância com --solve ARQUIVO.json.", "argumentos_invalidos")
    instance = _load_instance(solve)
    if validate_path is not None:
        if greedy or out is not None:
            _fail("--validate não se combina com --greedy nem --out.", "argumentos_invalidos")
        solution = _load_solution(validate_path)
        violations = validate(instance, solution)
        if violations:
            typer.echo(f"Solução inválida: {len(violations)} violação(ões).", err=True)
            _report(violations)
            raise typer.Exit(code=1)
        typer.echo(f"Solução válida: {len(solution.assignments)} alocações, objetivo {solution.objective}.", err=True)
        return

    solution = solve_greedy(instance) if greedy else solve_flow(instance, workers=workers)
    violations = validate(instance, solution)
    if violations or solution.status == "ERROR":
        typer.echo("A solução calculada não passou na validação (defeito do otimizador).", err=True)
        _report(violations)
        raise typer.Exit(code=1)
    data = dump_solution(solution, with_timing=with_timing)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        try:
            out.write_bytes(data)
        except OSError as exc:
            _fail(f"Não foi possível gravar {out}: {exc.strerror}.", "arquivo_nao_gravado")
    stats = solution.stats
    typer.echo(
        json.dumps(
            {
                "status": solution.status,
                "objective": solution.objective,
                "assigned": stats.assigned,
                "unassigned": len(solution.unassigned),
                "escalated": len(solution.escalated),
                **(
                    {
                        "pinned": stats.pinned,
                        "incumbents_kept": stats.incumbents_kept,
                        "incumbents_moved": stats.incumbents_moved,
                        "incumbents_dropped": stats.incumbents_dropped,
                    }
                    if instance.pinned or instance.incumbents
                    else {}
                ),
            },
            ensure_ascii=False,
        ),
        err=True,
    )
