"""The ``regula simulate`` command (reports, comparison, refusals) and the pure backfill rule it shares with the
database backfill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from regula.allocation.backfill import Candidate, Place, may_take
from regula.core.errors import ValidationFailed
from regula.simulation.cli import make_app
from regula.simulation.scenario import load_scenario
from regula.web.simulation_report import report_html

REQUIRED_KEYS = (
    "referrals",
    "concluded",
    "concluded_within_tm_pct",
    "no_show_pct",
    "slots_used_pct",
    "median_wait_days",
    "equity_gap_pct",
)


def _scenario(tmp_path: Path, name: str, **changes: object) -> Path:
    path = tmp_path / f"{name}.json"
    data = {"name": name, "referrals_per_year": 10_000, "months": 2, "seed": 5, "replications": 2, **changes}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_simulate_writes_the_same_report_and_html_twice(tmp_path: Path) -> None:
    runner = CliRunner()
    app = make_app(report_html)
    scenario = _scenario(tmp_path, "regula", policy="regula")
    outs = []
    for i in range(2):
        out, html = tmp_path / f"r{i}.json", tmp_path / f"r{i}.html"
        result = runner.invoke(app, ["--scenario", str(scenario), "--out", str(out), "--html", str(html)])
        assert result.exit_code == 0, result.output
        outs.append((out.read_bytes(), html.read_bytes()))
    assert outs[0] == outs[1]
    report = json.loads(outs[0][0])
    for key in REQUIRED_KEYS:
        assert key in report["metrics"], key
    assert set(report["metrics"]["median_wait_days"]) == {"vermelho", "amarelo", "verde", "azul"}
    assert report["intervals"]["no_show_pct"]["low"] is not None  # two replications: an interval
    html = outs[0][1].decode()
    assert "<svg" in html and "Concluídas dentro do tM" in html


def test_compare_runs_the_scenarios_on_the_same_demand(tmp_path: Path) -> None:
    runner = CliRunner()
    a = _scenario(tmp_path, "fifo", policy="fifo")
    b = _scenario(tmp_path, "regula", policy="regula", seed=99)  # compare uses the first one's seeds
    out = tmp_path / "c.json"
    result = runner.invoke(make_app(report_html), ["compare", str(a), str(b), "--out", str(out)])
    assert result.exit_code == 0, result.output
    comparison = json.loads(out.read_bytes())
    first, second = comparison["reports"]
    assert first["seeds"] == second["seeds"]
    # Common random numbers: the same referrals reach both policies.
    assert first["metrics"]["referrals"] == second["metrics"]["referrals"]
    diff = comparison["differences"][0]
    assert diff["scenario"] == "regula" and diff["against"] == "fifo"
    assert diff["no_show_pct"]["mean"] < 0
    assert diff["no_show_pct"]["high"] is not None


def test_bad_scenarios_are_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_scenario({"policy": "sorteio", "capacity_factor": -1, "surprise": 1})
    fields = {e.field: e.code for e in caught.value.errors}
    assert fields == {"policy": "valor_nao_permitido", "capacity_factor": "valor_fora_do_intervalo",
                      "surprise": "campo_desconhecido"}  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        load_scenario({"uf": "PI"})
    assert caught.value.errors[0].code == "uf_sem_rede"
    bad = tmp_path / "bad.json"
    bad.write_text('{"months": 0}', encoding="utf-8")
    result = CliRunner().invoke(make_app(report_html), ["--scenario", str(bad), "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "months" in result.output and "valor_fora_do_intervalo" in result.output
    assert not (tmp_path / "x.json").exists()


PLACE = Place(region_code="42001", macro_code="4210", uf="SC", sex=None, age_min_years=None, age_max_years=14)


def _candidate(**changes: object) -> Candidate:
    base: dict[str, object] = {
        "scope_kind": "region",
        "scope_code": "42001",
        "escalated": False,
        "home_macro_code": "4210",
        "home_uf": "SC",
        "sex": "F",
        "age_years": 10,
    }
    return Candidate(**{**base, **changes})  # type: ignore[arg-type]


def test_backfill_rule_scope_escalation_and_restrictions() -> None:
    assert may_take(PLACE, _candidate())
    assert not may_take(PLACE, _candidate(age_years=15))  # the provider's age limit
    other_region = _candidate(scope_code="42002")
    assert not may_take(PLACE, other_region)
    # Escalated at 75% of tM: any provider of the home macro-region.
    assert may_take(PLACE, _candidate(scope_code="42002", escalated=True))
    assert not may_take(PLACE, _candidate(scope_code="42099", escalated=True, home_macro_code="4211", home_uf="PR"))
    women_only = Place("42001", "4210", "SC", "F", 18, None)
    assert may_take(women_only, _candidate(age_years=30))
    assert not may_take(women_only, _candidate(age_years=30, sex="M"))
    assert not may_take(women_only, _candidate(age_years=17))


def test_the_notifier_timeline_the_simulator_shares() -> None:
    from datetime import UTC, datetime, timedelta

    from regula.notify.events import confirmation_times, offer_deadline, reminder_times
    from regula.simulation.engine import regula_settings

    settings = regula_settings()
    starts = datetime(2026, 3, 16, 11, 0, tzinfo=UTC)
    booked = starts - timedelta(days=12)
    assert confirmation_times(booked, starts, settings) == (starts - timedelta(days=7), starts - timedelta(hours=24))
    # Booked two days ahead: asked at once; booked 25 h ahead: too late to ask (less than 2 h to answer).
    soon = starts - timedelta(days=2)
    assert confirmation_times(soon, starts, settings) == (soon, starts - timedelta(hours=24))
    assert confirmation_times(starts - timedelta(hours=25), starts, settings) is None
    assert [d for d, _, _ in reminder_times(booked, starts)] == [2, 1]
    assert [d for d, _, _ in reminder_times(starts - timedelta(hours=30), starts)] == [1]
    assert offer_deadline(starts) == starts - timedelta(hours=6)
