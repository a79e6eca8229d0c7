"""``regula ressarcimento``: the health-plan operators' component (Portaria Conjunta MS/AGU 7.702/2025).

* ``regula ressarcimento evaluate FILE.json [--out R.json]`` — COR, carry-over and sanctions of one operator's
  consecutive months (issue 14 item 5, :mod:`regula.ressarcimento.evaluation`), without a database. Writes the
  result JSON to ``--out`` or to stdout; exit 0 on success, 2 with a Portuguese message naming the field on bad
  input. Input and output schema: docs/ressarcimento.md.
* ``regula ressarcimento operators [--json]`` — the operators with their latest attestation (expected COR, run
  below 90%, sanction), read from the database.
* ``regula ressarcimento finalize-sanctions`` — notified sanctions whose 15-day window ended without a challenge
  become final (art. 17 §1).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.audit.service import AuditContext, set_context
from regula.cli_support.context import console, database, fail, load_settings, out, run_in_transaction
from regula.core.clock import local_today
from regula.core.errors import ValidationFailed
from regula.ressarcimento import evaluation, service
from regula.ressarcimento import repository as repo

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


# -- operators on the database (issue 14 part B) ----------------------------------------------------------------------

CLI_ACTOR = Actor("regula ressarcimento", "admin")  # the command line runs as the installation's operator


@app.command("operators")
def operators_command(
    as_json: Annotated[bool, typer.Option("--json", help="Saída JSON (valores em reais como números)")] = False,
) -> None:
    """Lista as operadoras com a situação, o último atestado, o COR esperado e a sanção proposta."""
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> list[dict[str, object]]:
            set_context(session, AuditContext.system("cli", "regula ressarcimento operators"))
            rows: list[dict[str, object]] = []
            for op in await repo.all_readable_operators(session, CLI_ACTOR):
                attested = await repo.attestations_of(session, op.id or 0)
                last = attested[-1] if attested else None
                rows.append(
                    {
                        "id": op.id,
                        "ans_registration": op.ans_registration,
                        "name": op.name,
                        "status": op.status,
                        "uf": op.uf,
                        "last_competencia": last.competencia if last else None,
                        "expected_cor_brl": last.expected_cor_brl if last else None,
                        "months_below_90": last.months_below_90 if last else None,
                        "sanction": last.sanction if last else None,
                        "fine_brl": last.fine_brl if last else None,
                    }
                )
            return rows

        rows = run_in_transaction(url, work)
    if as_json:
        typer.echo(evaluation.dumps({"operators": rows}))
        return
    table = Table("ANS", "operadora", "situação", "competência", "COR esperado", "abaixo de 90%", "sanção")
    for r in rows:
        table.add_row(
            str(r["ans_registration"]),
            str(r["name"]),
            service.status_label(str(r["status"])),
            str(r["last_competencia"] or "—"),
            str(r["expected_cor_brl"] if r["expected_cor_brl"] is not None else "—"),
            str(r["months_below_90"] if r["months_below_90"] is not None else "—"),
            str(r["sanction"] or "—"),
        )
    out.print(table)


@app.command("finalize-sanctions")
def finalize_sanctions_command() -> None:
    """Torna definitivas as sanções notificadas cujo prazo de 15 dias terminou sem impugnação (art. 17 §1)."""
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> int:
            set_context(session, AuditContext.system("cli", "regula ressarcimento finalize-sanctions"))
            return len(await service.finalize_unchallenged(session, CLI_ACTOR, local_today(settings)))

        done = run_in_transaction(url, work)
    console.print(f"{done} sanção(ões) tornada(s) definitiva(s).")
