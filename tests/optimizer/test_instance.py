import json
from pathlib import Path

import pytest

from regula.core.errors import ValidationFailed
from regula.optimizer.instance import instance_json_schema_text, load_instance
from tests.optimizer.factory import random_instance

SCHEMA = Path(__file__).parents[2] / "docs" / "allocation-instance.schema.json"


def test_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == instance_json_schema_text()


def test_integer_ids_become_strings() -> None:
    data = json.loads(random_instance(1).model_dump_json())
    data["entries"][0]["id"] = 12345
    assert load_instance(json.dumps(data)).entries[0].id == "12345"


def test_invalid_input_names_the_field_in_portuguese() -> None:
    data = json.loads(random_instance(1).model_dump_json())
    data["entries"][3]["deadline"] = "31/12/2026"
    del data["buckets"][1]["capacity"]
    with pytest.raises(ValidationFailed) as info:
        load_instance(json.dumps(data))
    fields = {(e.field, e.code) for e in info.value.errors}
    assert fields == {("entries[3].deadline", "data_invalida"), ("buckets[1].capacity", "obrigatorio")}


def test_cross_field_errors_are_located() -> None:
    data = json.loads(random_instance(1).model_dump_json())
    data["buckets"][2]["id"] = data["buckets"][0]["id"]
    with pytest.raises(ValidationFailed) as info:
        load_instance(json.dumps(data))
    assert [(e.field, e.code) for e in info.value.errors] == [("buckets[2].id", "id_repetido")]


# Edge cases an independent optimality check found (issue 18 item 4): every instance the validator accepts must
# solve, and every instance it refuses must be refused with the field named.


def _two_cities(distances: list[dict[str, object]], coords: dict[str, list[float]]) -> dict[str, object]:
    """One entry in Palhoça and one bucket in Joinville (no teleconsultation), coordinates and distances as given."""
    from tests.optimizer.factory import bucket, entry, instance

    data = json.loads(
        instance(
            [entry("e1", "4211900", scope_kind="uf", scope_code="42")], [bucket("b1", "4209102")]
        ).model_dump_json()
    )
    data["municipalities"] = coords
    data["distances"] = distances
    return data


def test_a_distance_listed_from_the_buckets_side_is_accepted_and_used() -> None:
    from regula.optimizer.flow import solve

    data = _two_cities([{"from_ibge": "4209102", "to_ibge": "4211900", "km": 171}], {})
    solution = solve(load_instance(json.dumps(data)))
    assert [
        (a.entry_id, a.bucket_id, a.explanation.travel_km if a.explanation else None) for a in solution.assignments
    ] == [("e1", "b1", 171)]


def test_a_municipality_known_only_by_an_unrelated_distance_is_refused_naming_it() -> None:
    # Palhoça appears in a distance to Florianópolis, but nothing says how far it is from Joinville: refused up
    # front (exit 2 in the CLI), never a KeyError in the middle of the solve.
    data = _two_cities([{"from_ibge": "4211900", "to_ibge": "4205407", "km": 18}], {"4205407": [-27.59, -48.55]})
    with pytest.raises(ValidationFailed) as info:
        load_instance(json.dumps(data))
    assert [(e.field, e.code) for e in info.value.errors] == [
        ("entries[0].municipality_ibge", "municipio_sem_coordenadas")
    ]


def test_the_first_entry_living_in_a_municipality_without_coordinates_is_named() -> None:
    from tests.optimizer.factory import bucket, entry, instance

    # entries 1 and 3 live in Palhoça (no coordinates); entry 0 and the bucket in Joinville and Florianópolis have them
    data = json.loads(
        instance(
            [
                entry("e0", "4205407", scope_kind="uf", scope_code="42"),
                entry("e1", "4211900", scope_kind="uf", scope_code="42"),
                entry("e2", "4205407", scope_kind="uf", scope_code="42"),
                entry("e3", "4211900", scope_kind="uf", scope_code="42"),
            ],
            [bucket("b1", "4209102")],
        ).model_dump_json()
    )
    data["municipalities"] = {"4205407": [-27.59, -48.55], "4209102": [-26.30, -48.85]}
    with pytest.raises(ValidationFailed) as info:
        load_instance(json.dumps(data))
    assert [(e.field, e.code) for e in info.value.errors] == [
        ("entries[1].municipality_ibge", "municipio_sem_coordenadas")
    ]


def test_the_second_of_two_repeated_entry_ids_is_named() -> None:
    from tests.optimizer.factory import bucket, entry, instance

    data = json.loads(instance([entry("e1"), entry("e2"), entry("e3")], [bucket("b1")]).model_dump_json())
    data["entries"][2]["id"] = "e2"
    with pytest.raises(ValidationFailed) as info:
        load_instance(json.dumps(data))
    assert [(e.field, e.code) for e in info.value.errors] == [("entries[2].id", "id_repetido")]


def test_a_teleconsultation_bucket_needs_no_coordinates() -> None:
    from regula.optimizer.flow import solve
    from tests.optimizer.factory import bucket, entry, instance

    data = json.loads(
        instance(
            [entry("e1", "4211900", scope_kind="uf", scope_code="42")], [bucket("b1", "4209102", teleconsultation=True)]
        ).model_dump_json()
    )
    data["municipalities"] = {"4211900": [-27.66, -48.70]}
    solution = solve(load_instance(json.dumps(data)))
    assert [(a.bucket_id, a.explanation.travel_km if a.explanation else None) for a in solution.assignments] == [
        ("b1", 0)
    ]


def test_priorities_whose_costs_would_overflow_the_solver_are_refused_naming_the_entry() -> None:
    from tests.optimizer.factory import bucket, entry, instance

    data = json.loads(instance([entry("e1"), entry("e2")], [bucket("b1")]).model_dump_json())
    data["entries"][1]["priority"] = 10**16
    with pytest.raises(ValidationFailed) as info:
        load_instance(json.dumps(data))
    assert [(e.field, e.code) for e in info.value.errors] == [("entries[1].priority", "valor_fora_do_intervalo")]


def test_weights_whose_costs_would_overflow_the_solver_are_refused() -> None:
    from tests.optimizer.factory import bucket, entry, instance

    data = json.loads(instance([entry("e1")], [bucket("b1")]).model_dump_json())
    data["params"]["weights"]["earliness_per_level_day"] = 10**12
    data["entries"][0]["priority"] = 10**9
    with pytest.raises(ValidationFailed) as info:
        load_instance(json.dumps(data))
    assert [(e.field, e.code) for e in info.value.errors] == [("params.weights", "custo_fora_do_limite")]


def test_the_largest_accepted_priority_solves_exactly_like_the_greedy_would_serve_it() -> None:
    from regula.optimizer.flow import solve
    from regula.optimizer.greedy import solve_greedy
    from regula.optimizer.instance import MAX_PRIORITY
    from tests.optimizer.factory import bucket, entry, instance

    inst = instance([entry("e1", priority=MAX_PRIORITY), entry("e2", priority=1)], [bucket("b1")])
    assert [a.entry_id for a in solve(inst).assignments] == ["e1"]
    assert [a.entry_id for a in solve_greedy(inst).assignments] == ["e1"]
