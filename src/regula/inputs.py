"""Limits every input obeys, whatever route, page, import or command it arrives through.

They exist because the database has limits of its own, and a value beyond them fails only at the first query, as
an error that names no field (a 500 for the caller): PostgreSQL refuses the NUL character in text, and ``bigint``
holds 64 bits. JSON nested deeper than any document regula reads is refused before anything recurses over it.
Each check names the field it refused, so the caller's answer is a 422 that says what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from regula.core.errors import FieldError, ValidationFailed

#: PostgreSQL ``bigint`` (every id, counter and cursor): a larger number cannot even be sent as a parameter.
BIGINT_MAX: Final = 2**63 - 1
#: A count of days back from today (a wait…): a century. Far beyond it, date arithmetic leaves the calendar.
MAX_DAYS: Final = 36_500
#: An age in years: a limit beyond it only overflows the date arithmetic.
MAX_AGE_YEARS: Final = 150
#: regula's deepest documents (a FHIR resource, an import row's checklist) nest a handful of levels.
MAX_JSON_DEPTH: Final = 32

#: A request body: JSON documents and forms are a few kilobytes.
MAX_BODY_BYTES: Final = 1024 * 1024
#: A file sent to an import route (referrals, agendas, production), held in memory while it is read: about 300,000
#: CSV rows of referrals. Larger files go through the command line (``regula import referrals``), which streams.
MAX_IMPORT_BYTES: Final = 64 * 1024 * 1024

NUL: Final = "\x00"


def nul_error(field: str) -> FieldError:
    return FieldError(field, "caractere_nulo", "O texto contém o caractere nulo (\\0), que não é aceito.")


def too_deep_error(field: str = "body") -> FieldError:
    return FieldError(
        field, "json_aninhado_demais", f"JSON aninhado demais: no máximo {MAX_JSON_DEPTH} níveis de listas e objetos."
    )


def refuse(errors: list[FieldError]) -> ValidationFailed:
    return ValidationFailed("Verifique os campos indicados.", code=errors[0].code, errors=errors)


def check_texts(pairs: Iterable[tuple[str, str]]) -> None:
    """Refuse the first ``(field, text)`` pair (or a field name itself) that carries a NUL."""
    for field, value in pairs:
        if NUL in field:
            raise refuse([nul_error(field.replace(NUL, "\\0"))])
        if NUL in value:
            raise refuse([nul_error(field)])


def json_problem(value: Any, root: str = "body") -> FieldError | None:
    """The first problem of a decoded JSON document: nesting beyond ``MAX_JSON_DEPTH`` or a string (key or
    value) with a NUL, named by its path (``citizen.name``, ``rows[3].cpf``). Iterative: a hostile document
    cannot exhaust the stack here."""
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return nul_error(path)
        elif isinstance(item, dict):
            if depth >= MAX_JSON_DEPTH:
                return too_deep_error(root)
            for key, child in item.items():
                name = str(key)
                if NUL in name:
                    return nul_error(path)
                stack.append((child, name if path == root else f"{path}.{name}", depth + 1))
        elif isinstance(item, list):
            if depth >= MAX_JSON_DEPTH:
                return too_deep_error(root)
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
    return None


def check_json(value: Any, root: str = "body") -> None:
    problem = json_problem(value, root)
    if problem is not None:
        raise refuse([problem])


__all__ = [
    "BIGINT_MAX",
    "MAX_AGE_YEARS",
    "MAX_BODY_BYTES",
    "MAX_DAYS",
    "MAX_IMPORT_BYTES",
    "MAX_JSON_DEPTH",
    "check_json",
    "check_texts",
    "json_problem",
    "nul_error",
    "too_deep_error",
]
