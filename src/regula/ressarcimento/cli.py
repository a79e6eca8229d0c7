"""``regula ressarcimento``: the health-plan operators' component (Portaria Conjunta MS/AGU 7.702/2025).

* ``regula ressarcimento evaluate FILE.json [--out R.json]`` — COR, carry-over and sanctions of one operator's
  consecutive months (issue 14 item 5, :mod:`regula.ressarcimento.evaluation`), without a database. Writes the
  result JSON to ``--out`` or to stdout; exit 0 on success, 2 with a Portuguese message naming the field on bad
  input. Input and output schema: docs/ressarcimento.md.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from regula.cli_support.context import console, fail
from regula.core.errors import ValidationFailed
from regula.ressarcimento import evaluation

app = typer.Typer(
    name="ressarcimento",
    help="Ressarcimento ao SUS por operadoras de planos de saúde (Portaria Conjunta MS/AGU 7.702/2025).",
    no_args_is_help=True,
)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} não é um número JSON válido")


def _invalid(exc: ValidationFailed) -> NoReturn:
    if exc.errors:
        first = exc.errors[0]
        fail(f"Entrada inválida: {first.message}", first.code)
    fail(f"Entrada inválida: {exc.message}", exc.code)


@app.command("evaluate")
def evaluate_command(
    file: Annotated[
        Path,
        typer.Argument(
            dir_okay=False,
            help="JSON: minimum_exception, annual_max_brl, national_large, months[] (docs/ressarcimento.md)",
        ),
    ],
    out_file: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Grava o resultado JSON neste arquivo")
    ] = None,
) -> None:
    """Calcula, mês a mês, o valor computado, o COR, o acúmulo (até 90 dias) e as sanções (art. 15 e 17)."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"Arquivo não encontrado: {file}.", "arquivo_nao_encontrado")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"Não foi possível ler {file} como texto UTF-8: {exc}.", "arquivo_ilegivel")
    try:
        raw = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        fail(f"{file} não é um JSON válido: {exc}.", "json_invalido")
    try:
        results = evaluation.evaluate(evaluation.parse_input(raw))
    except ValidationFailed as exc:
        _invalid(exc)
    document = evaluation.dumps(evaluation.results_to_json(results)) + "\n"
    if out_file is None:
        typer.echo(document, nl=False)
        return
    try:
        out_file.write_text(document, encoding="utf-8")
    except OSError as exc:
        fail(f"Não foi possível gravar {out_file}: {exc}.", "arquivo_nao_gravado")
    cors = sum(1 for r in results if r.cor_issued)
    console.print(f"{len(results)} competências avaliadas, {cors} com COR; resultado gravado em {out_file}.")
