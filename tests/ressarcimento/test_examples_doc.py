"""docs/ressarcimento.md shows exactly the example files under tests/ressarcimento/examples/, and the evaluation
produces exactly the documented outputs (the command line does too: test_evaluate_cli.py)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from regula.ressarcimento.evaluation import dumps, evaluate, parse_input, results_to_json

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "ressarcimento.md").read_text(encoding="utf-8")
EXAMPLES = Path(__file__).parent / "examples"
NAMES = sorted(p.name.removesuffix(".input.json") for p in EXAMPLES.glob("*.input.json"))
SECTION = re.compile(r"<!-- example: (\S+) -->\n```json\n(.*?)```\n\n(\| competência.*?)(?:\n\n|\n?\Z)", re.DOTALL)
HEAD = (
    "| competência | counted | carried in | available | COR | carried out | expired | execution % | months < 90% "
    "| sanction | fine |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
)


def table(output_text: str) -> str:
    """The documented table of an output file: its values as written (two decimals), "—" for no COR."""
    rows = [HEAD]
    for m in json.loads(output_text, parse_float=str)["months"]:
        cells = [
            m["competencia"],
            m["counted_brl"],
            m["carried_in_brl"],
            m["available_brl"],
            m["cor_brl"] if m["cor_issued"] else "—",
            m["carried_out_brl"],
            m["expired_brl"],
            m["execution_pct"],
            str(m["months_below_90"]),
            m["sanction"],
            m["fine_brl"],
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def sections() -> dict[str, tuple[str, str]]:
    return {m.group(1): (m.group(2), m.group(3).strip()) for m in SECTION.finditer(DOC)}


def test_the_doc_shows_every_example_and_only_those() -> None:
    assert set(sections()) == set(NAMES)
    assert len(NAMES) >= 4


@pytest.mark.parametrize("name", NAMES)
def test_the_doc_shows_the_input_file_and_the_output_file(name: str) -> None:
    shown_input, shown_table = sections()[name]
    assert shown_input == (EXAMPLES / f"{name}.input.json").read_text(encoding="utf-8")
    assert shown_table == table((EXAMPLES / f"{name}.output.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", NAMES)
def test_the_evaluation_gives_the_documented_output(name: str) -> None:
    raw = json.loads((EXAMPLES / f"{name}.input.json").read_text(encoding="utf-8"), parse_float=Decimal)
    produced = dumps(results_to_json(evaluate(parse_input(raw)))) + "\n"
    assert produced == (EXAMPLES / f"{name}.output.json").read_text(encoding="utf-8")


def test_every_json_block_of_the_doc_is_a_valid_input() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC, re.DOTALL)
    assert len(blocks) == len(NAMES) + 1  # the schema's sample too
    for block in blocks:
        assert evaluate(parse_input(json.loads(block, parse_float=Decimal)))


def test_the_documented_outcomes_hold() -> None:
    # What the prose of each example says, checked on the files rather than trusted.
    out = {n: json.loads((EXAMPLES / f"{n}.output.json").read_text(encoding="utf-8"), parse_float=str) for n in NAMES}
    cor = out["01-cor-at-exactly-90-percent"]["months"]
    assert cor[0]["cor_issued"] and cor[0]["cor_brl"] == "90000.00" and not cor[1]["cor_issued"]
    carry = out["02-carry-over-expires"]["months"]
    assert [m["expired_brl"] for m in carry] == ["0.00"] * 4 + ["20000.00", "10000.00"]
    assert carry[-1]["cor_brl"] == "45000.00"
    run = out["03-run-below-90-fine-then-exclusion"]["months"]
    assert [m["sanction"] for m in run] == ["nenhuma"] * 3 + ["multa"] * 3 + ["exclusao", "nenhuma"]
    assert run[3]["fine_brl"] == "34000.00"
    national = out["04-national-operator-regional-cap"]["months"]
    assert [m["counted_brl"] for m in national] == ["350000.00", "440000.00", "250000.00"]
