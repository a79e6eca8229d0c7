"""``regula programs percapita-2023`` and ``regula programs incentive``: JSON contract, tables, bad input."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from regula.cli.main import _register_domain_clis, app

_register_domain_clis()
runner = CliRunner()


def test_percapita_2023_json() -> None:
    result = runner.invoke(app, ["programs", "percapita-2023", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 27
    assert set(rows[0]) == {"uf_code", "uf", "population", "amount_brl", "upfront_brl"}
    sc = next(r for r in rows if r["uf"] == "SC")
    assert sc == {
        "uf_code": "42",
        "uf": "SC",
        "population": 7338473,
        "amount_brl": 20640973.81,
        "upfront_brl": 6880324.60,
    }
    # Numbers, written with two decimals.
    assert '"amount_brl": 5105845.00' in result.stdout
    assert '"upfront_brl": 6880324.60' in result.stdout


def test_percapita_2023_table() -> None:
    result = runner.invoke(app, ["programs", "percapita-2023"], terminal_width=160)
    assert result.exit_code == 0, result.output
    assert re.search(r"42 +│ SC +│ +7.338.473", result.output)
    assert "20.640.973,81" in result.output and "6.880.324,60" in result.output
    assert "213.317.639" in result.output


@pytest.mark.parametrize(
    ("population", "amount"),
    [("499999", 360000.0), ("500000", 360000.0), ("500001", 600000.0), ("1000000", 600000.0), ("1.000.001", 1200000.0)],
)
def test_incentive_json(population: str, amount: float) -> None:
    result = runner.invoke(app, ["programs", "incentive", "--population", population, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "population": int(population.replace(".", "")),
        "amount_brl": amount,
        "first_brl": amount / 2,
        "second_brl": amount / 2,
    }
    assert re.search(r'"amount_brl": \d+\.\d\d\b', result.stdout)


def test_incentive_table() -> None:
    result = runner.invoke(app, ["programs", "incentive", "--population", "750000"], terminal_width=160)
    assert result.exit_code == 0, result.output
    assert "R$ 600.000,00" in result.output and "R$ 300.000,00" in result.output


@pytest.mark.parametrize("population", ["abc", "0", "-5", "12.5", "1.0000"])
def test_incentive_bad_population_exits_2_in_portuguese(population: str) -> None:
    result = runner.invoke(app, ["programs", "incentive", "--population", population, "--json"])
    assert result.exit_code == 2
    assert "populacao_invalida" in result.output
    assert "população" in result.output.lower()
    assert result.stdout.strip() == "" or "{" not in result.stdout
