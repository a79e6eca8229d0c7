"""``regula ressarcimento evaluate FILE.json [--out R.json]``: no database; exit 0 with the result JSON, exit 2 with
a Portuguese message naming the field on bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from regula.cli.main import _register_domain_clis, app

if not any(g.name == "ressarcimento" for g in app.registered_groups):  # another test module may have done it
    _register_domain_clis()
runner = CliRunner(env={"REGULA_LOG_JSON": "false", "REGULA_LOG_LEVEL": "WARNING", "COLUMNS": "200"})
EXAMPLES = Path(__file__).parent / "examples"


def write(tmp_path: Path, doc: object, name: str = "in.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def document(value: str = "90000.00", competencia: str = "202601") -> str:
    return (
        '{"minimum_exception": false, "annual_max_brl": 1000000, "national_large": false, "months": ['
        f'{{"competencia": "{competencia}", "planned_brl": 100000, "production": '
        f'[{{"value_brl": {value}, "authorized": true, "region": "S", "strategic": false}}]}}]}}'
    )


def test_evaluate_prints_the_result_json_on_stdout(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ressarcimento", "evaluate", str(write(tmp_path, document()))])
    assert result.exit_code == 0, result.output
    assert '"cor_brl": 90000.00' in result.stdout
    doc = json.loads(result.stdout, parse_float=Decimal)
    (month,) = doc["months"]
    assert month["cor_issued"] is True and month["counted_brl"] == Decimal("90000.00")
    assert month["execution_pct"] == Decimal("90.00") and month["sanction"] == "nenhuma"


def test_evaluate_writes_the_out_file(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = runner.invoke(
        app, ["ressarcimento", "evaluate", str(write(tmp_path, document("89999.99"))), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    (month,) = json.loads(out.read_text(encoding="utf-8"), parse_float=Decimal)["months"]
    assert month["cor_issued"] is False and month["carried_out_brl"] == Decimal("89999.99")
    assert "1 competências avaliadas, 0 com COR" in result.stderr


def test_decimal_values_in_the_file_are_read_exactly(tmp_path: Path) -> None:
    # 0.1 + 0.2 as floats is 0.30000000000000004; read as Decimal it stays exact, then is rounded once.
    item = '{{"value_brl": {}, "authorized": true, "region": "S", "strategic": false}}'
    doc = (
        '{"minimum_exception": false, "annual_max_brl": 1000000, "national_large": false, "months": ['
        '{"competencia": "202601", "planned_brl": 0.3, "production": ['
        + item.format("0.1")
        + ", "
        + item.format("0.2")
        + "]}]}"
    )
    result = runner.invoke(app, ["ressarcimento", "evaluate", str(write(tmp_path, doc))])
    assert result.exit_code == 0, result.output
    assert '"counted_brl": 0.30' in result.stdout and '"execution_pct": 100.00' in result.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (document(competencia="202613"), "months[0].competencia"),
        (document(value="-1"), "months[0].production[0].value_brl"),
        (document().replace('"authorized": true', '"authorized": "sim"'), "months[0].production[0].authorized"),
        ('{"months": []}', "minimum_exception"),
        ("{not json", "não é um JSON válido"),
        (document(value="NaN"), "não é um JSON válido"),
    ],
)
def test_bad_input_exits_2_naming_the_field(tmp_path: Path, content: str, expected: str) -> None:
    result = runner.invoke(app, ["ressarcimento", "evaluate", str(write(tmp_path, content))])
    assert result.exit_code == 2
    assert expected in result.stderr and "Erro" in result.stderr
    assert result.stdout == ""


def test_non_consecutive_months_exit_2_in_portuguese(tmp_path: Path) -> None:
    doc = json.loads(document())
    second = json.loads(json.dumps(doc["months"][0]))
    second["competencia"] = "202603"
    doc["months"].append(second)
    result = runner.invoke(app, ["ressarcimento", "evaluate", str(write(tmp_path, doc))])
    assert result.exit_code == 2
    assert "months[1].competencia" in result.stderr and "deve vir 202602" in result.stderr


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ressarcimento", "evaluate", str(tmp_path / "nada.json")])
    assert result.exit_code == 2 and "Arquivo não encontrado" in result.stderr


@pytest.mark.parametrize("name", sorted(p.stem.removesuffix(".input") for p in EXAMPLES.glob("*.input.json")))
def test_the_documented_examples_give_the_documented_output(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["ressarcimento", "evaluate", str(EXAMPLES / f"{name}.input.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == (EXAMPLES / f"{name}.output.json").read_text(encoding="utf-8")
