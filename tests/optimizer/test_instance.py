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
