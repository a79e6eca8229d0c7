"""Set-based inserts: many rows in ONE statement, ``INSERT … SELECT … FROM unnest(array, array, …)``.

Each column travels as one array parameter, so the statement's text does not depend on the number of rows: it is
prepared once and reused, and no row count meets PostgreSQL's 32,767-parameter limit (a multi-row ``VALUES`` of
5,000 messages has 90,000). Used where one change writes thousands of rows (an allocation run's commit: its history
events and its messages). Rows written this way bypass the ORM and so the audit listener (decision 3): only tables
that are not audited, or whose writer records its own audit, use it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import TextClause, text

#: (column, PostgreSQL type) — ``jsonb`` columns travel as JSON text and are cast row by row.
Columns = Sequence[tuple[str, str]]


def unnest_insert(
    table: str, columns: Columns, *, constants: Mapping[str, str] | None = None, tail: str = ""
) -> TextClause:
    """The statement inserting ``columns`` from arrays bound by the same names (see :func:`unnest_params`);
    ``constants`` maps further columns to one SQL expression for every row (e.g. ``CAST(:now AS timestamptz)``);
    ``tail`` follows (``ON CONFLICT …``, ``RETURNING …``). Names come from code, never from input."""
    extra = dict(constants or {})
    names = [name for name, _ in columns]
    selected = [f"t.{name}::jsonb" if kind == "jsonb" else f"t.{name}" for name, kind in columns]
    arrays = [f"CAST(:{name} AS {'text' if kind == 'jsonb' else kind}[])" for name, kind in columns]
    return text(
        f"INSERT INTO {table} ({', '.join([*names, *extra])}) "  # noqa: S608 - names from code
        f"SELECT {', '.join([*selected, *extra.values()])} FROM unnest({', '.join(arrays)}) AS t({', '.join(names)}) "
        f"{tail}"
    )


def unnest_params(columns: Columns, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """One array per column, in row order; ``jsonb`` values as JSON text (``None`` stays SQL NULL)."""
    params: dict[str, list[Any]] = {}
    for name, kind in columns:
        values = [row[name] for row in rows]
        if kind == "jsonb":
            values = [None if v is None else json.dumps(v) for v in values]
        params[name] = values
    return params
