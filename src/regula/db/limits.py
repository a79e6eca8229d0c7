"""Text longer than its column is refused by name before it reaches PostgreSQL.

A ``varchar(n)`` column refuses a longer value only at the INSERT or UPDATE, with an error that names no field (a
500, or at best an anonymous 422). Every ORM write passes through one flush, so one check there covers every route,
page and command: the first attribute whose text is longer than its column is a 422 naming the attribute (the
schemas' field names are the models' attribute names).
"""

from __future__ import annotations

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from regula.core.errors import ValidationFailed


def _check_lengths(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    for obj in (*session.new, *session.dirty):
        state = inspect(obj)
        loaded = state.dict  # only what is in memory: never a load inside the flush
        for attr in state.mapper.column_attrs:
            value = loaded.get(attr.key)
            if not isinstance(value, str):
                continue
            length = getattr(attr.columns[0].type, "length", None)
            if isinstance(length, int) and len(value) > length:
                raise ValidationFailed.for_field(
                    attr.key, "texto_longo_demais", f"Texto longo demais: no máximo {length} caracteres."
                )


def install() -> None:
    """Attach the check to every ORM session (idempotent)."""
    if not event.contains(Session, "before_flush", _check_lengths):
        event.listen(Session, "before_flush", _check_lengths)


__all__ = ["install"]
