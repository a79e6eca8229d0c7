"""A structural JSON Schema check for the keywords docs/exports/waitlist.schema.json uses (the ``jsonschema``
package is not a dependency of regula). Unknown keywords make it fail loudly, so the schema cannot outgrow it
silently."""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
_ANNOTATIONS = {"$schema", "$defs", "title", "description"}
_KNOWN = _ANNOTATIONS | {
    "$ref",
    "type",
    "enum",
    "const",
    "pattern",
    "minimum",
    "minLength",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "anyOf",
}


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def errors(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, path: str = "$") -> list[str]:
    root = root if root is not None else schema
    unknown = set(schema) - _KNOWN
    if unknown:
        raise ValueError(f"schema keyword(s) not supported by this check: {sorted(unknown)} at {path}")
    found: list[str] = []
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        found += errors(instance, root["$defs"][ref.removeprefix("#/$defs/")], root, path)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(instance, n) for n in names):
            return [*found, f"{path}: expected {names}, got {type(instance).__name__}"]
    if "enum" in schema and instance not in schema["enum"]:
        found.append(f"{path}: {instance!r} not in enum")
    if "const" in schema and instance != schema["const"]:
        found.append(f"{path}: {instance!r} != {schema['const']!r}")
    if isinstance(instance, str):
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            found.append(f"{path}: {instance!r} does not match {schema['pattern']}")
        if "minLength" in schema and len(instance) < schema["minLength"]:
            found.append(f"{path}: shorter than {schema['minLength']}")
    if _is(instance, "number") and "minimum" in schema and instance < schema["minimum"]:
        found.append(f"{path}: {instance} < {schema['minimum']}")
    if isinstance(instance, dict):
        for key in schema.get("required", []):
            if key not in instance:
                found.append(f"{path}: missing {key}")
        properties = schema.get("properties", {})
        for key, value in instance.items():
            if key in properties:
                found += errors(value, properties[key], root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{path}: unexpected {key}")
    if isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            found += errors(item, schema["items"], root, f"{path}[{i}]")
    if "anyOf" in schema and all(errors(instance, option, root, path) for option in schema["anyOf"]):
        found.append(f"{path}: matches none of anyOf")
    return found
