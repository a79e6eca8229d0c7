import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from regula.allocation.allocate_cli import app
from regula.optimizer.instance import Assignment, load_solution
from tests.optimizer.factory import random_instance

runner = CliRunner()


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "instance.json"
    path.write_text(random_instance(9, 60, 20, n_quotas=3).model_dump_json(), encoding="utf-8")
    return path


def test_solve_twice_gives_byte_identical_files(tmp_path: Path) -> None:
    inst = _write(tmp_path)
    for name in ("a.json", "b.json"):
        result = runner.invoke(app, ["--solve", str(inst), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    solution = json.loads((tmp_path / "a.json").read_text())
    assert solution["status"] == "OPTIMAL" and "meta" not in solution
    assert {"assignments", "objective", "status"} <= set(solution)


def test_registered_under_a_parent_command(tmp_path: Path) -> None:
    parent = typer.Typer()
    parent.add_typer(app, name="allocate")

    @parent.command()
    def other() -> None:  # a parent with several commands, like ``regula``
        pass

    inst = _write(tmp_path)
    result = runner.invoke(parent, ["allocate", "--solve", str(inst), "--out", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert load_solution((tmp_path / "s.json").read_bytes()).status == "OPTIMAL"


def test_greedy_and_validate(tmp_path: Path) -> None:
    inst = _write(tmp_path)
    out = tmp_path / "g.json"
    assert runner.invoke(app, ["--solve", str(inst), "--greedy", "--out", str(out)]).exit_code == 0
    assert load_solution(out.read_bytes()).solver == "greedy"
    assert runner.invoke(app, ["--solve", str(inst), "--validate", str(out)]).exit_code == 0


def test_validate_exits_1_on_a_broken_solution(tmp_path: Path) -> None:
    inst = _write(tmp_path)
    out = tmp_path / "s.json"
    runner.invoke(app, ["--solve", str(inst), "--out", str(out)])
    solution = load_solution(out.read_bytes())
    broken = solution.model_copy(
        update={"assignments": [*solution.assignments, Assignment(entry_id="x", bucket_id="y")]}
    )
    out.write_text(broken.model_dump_json(), encoding="utf-8")
    result = runner.invoke(app, ["--solve", str(inst), "--validate", str(out)])
    assert result.exit_code == 1
    assert "entrada_inexistente" in result.output


def test_invalid_input_exits_2_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    data = json.loads(random_instance(1).model_dump_json())
    data["entries"][0]["age_years"] = -3
    bad.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(app, ["--solve", str(bad)])
    assert result.exit_code == 2
    assert "entries[0].age_years" in result.output
    missing = runner.invoke(app, ["--solve", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "não encontrado" in missing.output
    not_json = tmp_path / "x.json"
    not_json.write_text("{", encoding="utf-8")
    assert runner.invoke(app, ["--solve", str(not_json)]).exit_code == 2
