"""Keyset (cursor) paging for the lists people and programs read: one mechanism for every repository.

A list is a SELECT already filtered and scoped to the caller (``readable(actor)``), a whitelist of sort keys and a
``Window`` (which key, which direction, which cursor, how many rows). ``fetch`` returns the rows of that window
with the true total of the filtered list and the 1-based index of its first row, and the cursors of the windows
before and after it. Decision 23 (``docs/decisions/0023-lists-that-scale.md``) says why keyset and not OFFSET:

* a cursor names the last row seen, ``(sort value, id)``, so rows inserted before it (a new task, a new message)
  do not shift the next page by one, and page 140 of 7,000 costs what page 1 costs (an index range, no OFFSET scan);
* the order is total: every sort key is followed by the row's id in the same direction, so ties never swap
  between two requests;
* sort expressions are never NULL (each key's definition coalesces), so the row-value comparison
  ``(key, id) > (:value, :id)`` means what the ORDER BY means.

A cursor carries its sort key and direction; one used with another order is refused (``cursor_invalido``), never
silently misread. Nothing here knows about HTTP: the adapters turn ``ListingError`` into a 400 naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Select, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from regula.core.errors import DomainError, FieldError

T = TypeVar("T")

#: The most rows one window may hold (pages ask for 50; the API up to this).
MAX_SIZE: Final = 500
#: The cursor that asks for the last window of the list ("Última página").
LAST: Final = "fim"
SORT_PARAM: Final = "ordem"
DIRECTION_PARAM: Final = "sentido"
CURSOR_PARAM: Final = "cursor"


class ListingError(DomainError):
    """A list parameter that cannot be read: 400, naming the parameter (``ordem``, ``sentido``, ``cursor``…)."""

    status_code = 400
    default_code = "parametro_invalido"
    title = "Parâmetro inválido"

    @classmethod
    def of(cls, parameter: str, code: str, message: str) -> ListingError:
        return cls(message, code=code, errors=[FieldError(parameter, code, message)])


@dataclass(frozen=True)
class SortKey:
    """One column people may sort by: its name in the URL, a never-NULL SQL expression, and the Python type of its
    values (how a cursor's value is read back)."""

    name: str
    expression: Any  # a column or SQL expression (an ORM attribute too), never NULL
    kind: type = int
    #: The direction a click on the column's header asks first (``True``: largest first, e.g. the longest wait).
    descending_first: bool = False


@dataclass(frozen=True)
class Sorts:
    """The whitelist of a list's sort keys, its default order and the tiebreak (the row's id)."""

    keys: tuple[SortKey, ...]
    default: str
    default_descending: bool
    tiebreak: Any  # the row's id column

    def key(self, name: str) -> SortKey:
        for k in self.keys:
            if k.name == name:
                return k
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)


@dataclass(frozen=True)
class Cursor:
    """A position in a sorted list: the row ``(value, id)`` and whether the window lies after it or before it."""

    sort: str
    descending: bool
    value: Any
    id: int
    before: bool = False

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, date | datetime) else self.value
        raw = json.dumps(
            ["p" if self.before else "n", self.sort, "d" if self.descending else "a", value, self.id],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Window:
    """What one request asks of a list: order, direction, where to start and how many rows."""

    sort: str
    descending: bool
    cursor: Cursor | None = None
    last: bool = False
    size: int = 50


def read_window(
    sorts: Sorts,
    *,
    sort: str | None,
    direction: str | None,
    cursor: str | None,
    size: int = 50,
    sort_param: str = SORT_PARAM,
    direction_param: str = DIRECTION_PARAM,
    cursor_param: str = CURSOR_PARAM,
) -> Window:
    """The window a request's parameters ask for, checked against the whitelist (``ListingError`` otherwise)."""
    name = sort or sorts.default
    if name not in sorts.names:
        raise ListingError.of(
            sort_param,
            "ordem_desconhecida",
            f"Ordenação desconhecida: “{name[:40]}”. Use uma destas: {', '.join(sorts.names)}.",
        )
    if direction in (None, ""):
        descending = sorts.default_descending if sort in (None, "") else sorts.key(name).descending_first
    elif direction in ("asc", "desc"):
        descending = direction == "desc"
    else:
        raise ListingError.of(
            direction_param, "sentido_invalido", "Sentido da ordenação inválido: use “asc” (crescente) ou “desc”."
        )
    if not 1 <= size <= MAX_SIZE:
        raise ListingError.of("limite", "limite_invalido", f"O tamanho da página vai de 1 a {MAX_SIZE}.")
    if cursor in (None, ""):
        return Window(name, descending, size=size)
    if cursor == LAST:
        return Window(name, descending, last=True, size=size)
    decoded = decode_cursor(sorts, cursor, cursor_param=cursor_param)
    if decoded.sort != name or decoded.descending != descending:
        raise ListingError.of(
            cursor_param,
            "cursor_invalido",
            "O cursor de paginação é de outra ordenação; volte à primeira página desta lista.",
        )
    return Window(name, descending, cursor=decoded, size=size)


def decode_cursor(sorts: Sorts, raw: str, *, cursor_param: str = CURSOR_PARAM) -> Cursor:
    bad = ListingError.of(cursor_param, "cursor_invalido", "Cursor de paginação inválido; volte à primeira página.")
    if len(raw) > 400:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, list) or len(data) != 5:
        raise bad
    where, name, direction, value, row_id = data
    if where not in ("n", "p") or direction not in ("a", "d") or name not in sorts.names:
        raise bad
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id < 2**63:
        raise bad
    return Cursor(name, direction == "d", _read_value(sorts.key(name).kind, value, bad), row_id, before=where == "p")


def _read_value(kind: type, value: Any, bad: ListingError) -> Any:
    try:
        if kind is datetime and isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise bad
            return parsed
        if kind is date and isinstance(value, str):
            return date.fromisoformat(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
            return value
        if kind is str and isinstance(value, str) and len(value) <= 300:
            return value
    except ValueError:
        raise bad from None
    raise bad


@dataclass
class Slice(Generic[T]):
    """One window of a list: its rows, the true total of the filtered list, where the window starts (1-based) and
    the cursors of the windows before and after (None at either end)."""

    rows: list[T]
    total: int
    first_index: int
    window: Window
    next_cursor: str | None = None
    previous_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.rows) - 1

    def map(self, rows: list[Any]) -> Slice[Any]:
        return Slice(
            rows, self.total, self.first_index, self.window, self.next_cursor, self.previous_cursor, self.extra
        )


def _typed(value: Any, like: ColumnElement[Any]) -> ColumnElement[Any]:
    return literal(value, type_=like.type)


async def fetch(session: AsyncSession, base: Select[*tuple[Any, ...]], sorts: Sorts, window: Window) -> Slice[Any]:
    """The rows of ``window`` in ``base`` (a filtered, scoped SELECT without ORDER BY or LIMIT). Each row is
    ``base``'s columns followed by the sort value and the id (``row[-2]``, ``row[-1]``), which callers ignore."""
    key = sorts.key(window.sort).expression
    tiebreak = sorts.tiebreak
    total = await _count(session, base, tiebreak)
    stmt = base.add_columns(key.label("_sort_value"), tiebreak.label("_sort_id"))
    # Scanning backwards (a "previous" cursor, or the last page) reads the reverse order and turns the rows round.
    backwards = window.last or (window.cursor is not None and window.cursor.before)
    descending = window.descending != backwards
    pair = tuple_(key, tiebreak)
    if window.cursor is not None:
        bound = tuple_(_typed(window.cursor.value, key), literal(window.cursor.id, BigInteger))
        stmt = stmt.where(pair < bound if descending else pair > bound)
    order = [key.desc(), tiebreak.desc()] if descending else [key.asc(), tiebreak.asc()]
    rows: list[Any] = list((await session.execute(stmt.order_by(*order).limit(window.size))).all())
    if backwards:
        rows.reverse()
    if not rows:
        past_the_end = window.cursor is not None and not window.cursor.before
        out_of_rows: Slice[Any] = Slice([], total, total + 1 if past_the_end else 1, window)
        if past_the_end and total > 0:
            # Every row after the cursor left the list (closed in another tab): the way back is the list's last page.
            out_of_rows.previous_cursor = LAST
        return out_of_rows
    first = rows[0]
    # How many rows come before the first one shown, in the list's own order: the window's true place.
    before_first = tuple_(_typed(first[-2], key), literal(first[-1], BigInteger))
    ahead = await _count(
        session, base.where(pair > before_first if window.descending else pair < before_first), tiebreak
    )
    out: Slice[Any] = Slice(rows, total, ahead + 1, window)
    if ahead > 0:
        out.previous_cursor = Cursor(window.sort, window.descending, first[-2], first[-1], before=True).encode()
    if out.last_index < total:
        last = rows[-1]
        out.next_cursor = Cursor(window.sort, window.descending, last[-2], last[-1]).encode()
    return out


async def _count(session: AsyncSession, base: Select[*tuple[Any, ...]], tiebreak: Any) -> int:
    only_ids = base.with_only_columns(tiebreak, maintain_column_froms=True).order_by(None)
    return int((await session.execute(select(func.count()).select_from(only_ids.subquery()))).scalar_one())


def first_window(sorts: Sorts, size: int = 50) -> Window:
    return Window(sorts.default, sorts.default_descending, size=size)


__all__ = [
    "CURSOR_PARAM",
    "DIRECTION_PARAM",
    "LAST",
    "MAX_SIZE",
    "SORT_PARAM",
    "Cursor",
    "ListingError",
    "Slice",
    "SortKey",
    "Sorts",
    "Window",
    "decode_cursor",
    "fetch",
    "first_window",
    "read_window",
]
