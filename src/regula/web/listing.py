"""The list pages' side of keyset paging (``regula.db.listing``): reading ``ordem``/``sentido``/``cursor`` from the
URL, keeping filters, order and cursor in every link, sortable column headers, the pager, and the way back to the
same place after an action (a POST form carries ``voltar``, the list's URL; the redirect returns there with an
anchor to the row). The templates' half is ``_listing.html``. Decision 23 says why.

The whole state of a list is in its URL: a filter form submits the filters and the order (a new filter starts at
the first page); a header link changes the order (first page again); the pager changes only the cursor.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from litestar import Request
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from regula.core.errors import FieldError
from regula.db.listing import (
    CURSOR_PARAM,
    DIRECTION_PARAM,
    LAST,
    SORT_PARAM,
    ListingError,
    Slice,
    Sorts,
    Window,
    read_window,
)
from regula.territory.filters import municipality_filter, region_filter
from regula.web.common import parse_date_br
from regula.web.problems import wants_html

PAGE_SIZE = 50
RETURN_PARAM = "voltar"

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Column:
    """A sortable column: the sort key's name and the header people read."""

    key: str
    label: str
    numeric: bool = False


@dataclass
class Listing:
    """Everything a list template needs to draw headers, pager and forms that keep the list's state."""

    path: str
    filters: dict[str, str]
    window: Window
    sorts: Sorts
    slice: Slice[Any] | None = None
    columns: dict[str, Column] = field(default_factory=dict)

    # -- URLs --------------------------------------------------------------------------------------------------

    def _params(self, **changes: Any) -> dict[str, str]:
        params: dict[str, Any] = {**self.filters}
        if self.window.sort != self.sorts.default or self.window.descending != self.sorts.default_descending:
            params[SORT_PARAM] = self.window.sort
            params[DIRECTION_PARAM] = "desc" if self.window.descending else "asc"
        params.update(changes)
        return {k: str(v) for k, v in params.items() if v not in (None, "")}

    def url(self, **changes: Any) -> str:
        query = urlencode(self._params(**changes))
        return f"{self.path}?{query}" if query else self.path

    @property
    def here(self) -> str:
        """This very window's URL (filters, order and cursor): where an action returns."""
        cursor = LAST if self.window.last else self.window.cursor.encode() if self.window.cursor else None
        return self.url(**{CURSOR_PARAM: cursor})

    def sort_url(self, key: str) -> str:
        """The header link: sort by ``key`` (the other direction when already sorted by it), from the first page."""
        same = key == self.window.sort
        descending = not self.window.descending if same else self.sorts.key(key).descending_first
        params = self._params()
        params[SORT_PARAM] = key
        params[DIRECTION_PARAM] = "desc" if descending else "asc"
        return f"{self.path}?{urlencode(params)}"

    def aria_sort(self, key: str) -> str:
        if key != self.window.sort:
            return "none"
        return "descending" if self.window.descending else "ascending"

    @property
    def order_fields(self) -> dict[str, str]:
        """Hidden fields a filter form carries so filtering keeps the order (and starts at the first page)."""
        return {k: v for k, v in self._params().items() if k in (SORT_PARAM, DIRECTION_PARAM)}

    # -- the pager ---------------------------------------------------------------------------------------------

    @property
    def first_url(self) -> str | None:
        s = self.slice
        return self.url() if s is not None and s.previous_cursor else None

    @property
    def previous_url(self) -> str | None:
        s = self.slice
        return self.url(**{CURSOR_PARAM: s.previous_cursor}) if s is not None and s.previous_cursor else None

    @property
    def next_url(self) -> str | None:
        s = self.slice
        return self.url(**{CURSOR_PARAM: s.next_cursor}) if s is not None and s.next_cursor else None

    @property
    def last_url(self) -> str | None:
        s = self.slice
        return self.url(**{CURSOR_PARAM: LAST}) if s is not None and s.next_cursor else None


@dataclass
class MemoryOrder:
    """The sort state of a short list sorted in memory (a few hundred rows at most, e.g. the queue summaries, read
    whole by one aggregate query): the same URL parameters and header macro (``_listing.th``) as a keyset list."""

    path: str
    filters: dict[str, str]
    keys: dict[str, bool]  # name -> descending first
    sort: str
    descending: bool
    default: str
    default_descending: bool

    def _params(self) -> dict[str, str]:
        params = dict(self.filters)
        if self.sort != self.default or self.descending != self.default_descending:
            params[SORT_PARAM] = self.sort
            params[DIRECTION_PARAM] = "desc" if self.descending else "asc"
        return params

    @property
    def query(self) -> dict[str, str]:
        """Filters and order, for links (the pager's) that keep both."""
        return self._params()

    @property
    def order_fields(self) -> dict[str, str]:
        return {k: v for k, v in self._params().items() if k in (SORT_PARAM, DIRECTION_PARAM)}

    def sort_url(self, key: str) -> str:
        descending = not self.descending if key == self.sort else self.keys[key]
        params = {**self.filters, SORT_PARAM: key, DIRECTION_PARAM: "desc" if descending else "asc"}
        return f"{self.path}?{urlencode(params)}"

    def aria_sort(self, key: str) -> str:
        if key != self.sort:
            return "none"
        return "descending" if self.descending else "ascending"

    def apply(self, rows: list[Any], value: Callable[[Any, str], Any], tiebreak: Callable[[Any], Any]) -> list[Any]:
        """``rows`` in this order (``value(row, key)`` never None), ties broken by ``tiebreak`` the same way."""
        return sorted(rows, key=lambda r: (value(r, self.sort), tiebreak(r)), reverse=self.descending)


def memory_order(
    path: str,
    keys: dict[str, bool],
    default: str,
    filters: Mapping[str, Any],
    *,
    ordem: str | None,
    sentido: str | None,
    default_descending: bool = False,
) -> MemoryOrder:
    """The order a short list's URL asks for; a 400 naming ``ordem`` or ``sentido`` otherwise."""
    name = ordem or default
    if name not in keys:
        raise ListingError.of(
            SORT_PARAM,
            "ordem_desconhecida",
            f"Ordenação desconhecida: “{name[:40]}”. Use uma destas: {', '.join(keys)}.",
        )
    if sentido in (None, ""):
        descending = default_descending if not ordem else keys[name]
    elif sentido in ("asc", "desc"):
        descending = sentido == "desc"
    else:
        raise ListingError.of(
            DIRECTION_PARAM, "sentido_invalido", "Sentido da ordenação inválido: use “asc” (crescente) ou “desc”."
        )
    clean = {k: str(v) for k, v in filters.items() if v not in (None, "")}
    return MemoryOrder(path, clean, keys, name, descending, default, default_descending)


def listing(
    path: str,
    sorts: Sorts,
    filters: Mapping[str, Any],
    *,
    ordem: str | None,
    sentido: str | None,
    cursor: str | None,
    columns: tuple[Column, ...] = (),
    size: int = PAGE_SIZE,
) -> Listing:
    """The list's state from its URL; a parameter that cannot be read is a 400 naming it (``ListingError``)."""
    window = read_window(sorts, sort=ordem, direction=sentido, cursor=cursor, size=size)
    clean = {k: str(v) for k, v in filters.items() if v not in (None, "")}
    return Listing(path, clean, window, sorts, columns={c.key: c for c in columns})


def list_page(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A list page that cannot read one of its URL's parameters shows the list without it, not an error page.

    A person who follows a stale link (a region renamed, a cursor of another order) or mistypes a date loses neither
    the page nor the other filters: the handler is run again with each parameter a ``ListingError`` names left out,
    until the page draws; the page then says, above its content, which filters were ignored and why (every one of
    them, in one answer), with status 400. Each try runs in a savepoint, so a try that wrote before failing (an
    audit row) leaves nothing behind. A parameter the handler refuses that the URL did not carry, or an answer that
    is not a page (a download), is the 400 error page as before; so is a program's request for the page (``Accept``
    without HTML) and the API's lists: programs should hear about their mistakes, not get another list than the one
    they asked for.
    """

    @functools.wraps(handler)
    async def page(*args: P.args, **kwargs: P.kwargs) -> R:
        request = kwargs.get("request")
        if isinstance(request, Request) and not wants_html(request):
            return await handler(*args, **kwargs)
        ignored: list[FieldError] = []
        session = kwargs.get("db_session")
        for _ in range(len(kwargs) + 1):
            try:
                if isinstance(session, AsyncSession):
                    async with session.begin_nested():
                        response = await handler(*args, **kwargs)
                else:
                    response = await handler(*args, **kwargs)
            except ListingError as e:
                named = [f.field for f in e.errors]
                if not named or any(kwargs.get(name) in (None, "") for name in named):
                    raise _together(ignored, e) from None
                ignored += e.errors
                for name in named:
                    kwargs[name] = None
                continue
            if not ignored:
                return response
            if not isinstance(response, Template):
                raise _together(ignored, None)
            response.context["ignored_filters"] = ignored
            response.status_code = 400
            return response
        raise AssertionError("a list page refused a parameter it had already been given without")  # pragma: no cover

    return page


def _together(ignored: list[FieldError], last: ListingError | None) -> ListingError:
    """One 400 naming every parameter refused so far (``last``'s too)."""
    errors = ignored + (list(last.errors) if last is not None else [])
    if last is not None and not ignored:
        return last
    if len(errors) == 1:
        return ListingError(errors[0].message, code=errors[0].code, errors=errors)
    return ListingError("Há parâmetros da lista que não puderam ser lidos.", errors=errors)


def return_to(raw: str | None, path: str, anchor: str | None = None, **extra: str) -> str:
    """Where an action on a list row redirects: the list URL the form came from (``voltar``) when it is that list
    (same path, no host: never an open redirect), else the list itself; plus ``extra`` parameters (``feito=…``)
    and the row's anchor, so the person lands where they were."""
    pairs: list[tuple[str, str]] = []
    if raw:
        parts = urlsplit(raw)
        if not parts.scheme and not parts.netloc and parts.path == path:
            # The list's own parameters; the message of the previous action (``feito``…) gives way to this one's.
            pairs = [(k, v) for k, v in parse_qsl(parts.query) if k not in extra]
    pairs += list(extra.items())
    target = f"{path}?{urlencode(pairs)}" if pairs else path
    return target + (f"#{anchor}" if anchor else "")


def date_param(raw: str | None, parameter: str) -> Any:
    """A date filter (``AAAA-MM-DD`` or ``DD/MM/AAAA``); a 400 naming ``parameter`` when it is not a date."""
    if raw in (None, ""):
        return None
    parsed = parse_date_br(raw)
    if parsed is None:
        raise ListingError.of(parameter, "data_invalida", f"Data inválida (“{raw[:20]}”): use DD/MM/AAAA.")
    return parsed


def choice_param(
    raw: str | None, parameter: str, allowed: Mapping[str, Any] | tuple[str, ...], what: str
) -> str | None:
    """A filter that must be one of ``allowed``; a 400 naming ``parameter`` otherwise."""
    if raw in (None, ""):
        return None
    if raw not in allowed:
        named = what if what.split()[0].isupper() else what[0].lower() + what[1:]  # "OCI" stays, "Situação" bends
        raise ListingError.of(parameter, f"{parameter}_desconhecido", f"“{raw[:40]}” não é uma opção de {named}.")
    return raw


def municipality_param(raw: str | None, parameter: str = "municipio") -> str | None:
    """A municipality filter (IBGE code, 6 or 7 digits); a 400 naming ``parameter`` for an unknown one."""
    return municipality_filter(raw, parameter)


def region_param(raw: str | None, parameter: str = "regiao") -> tuple[str, ...] | None:
    """A health-region filter: the IBGE codes of the region's municipalities; a 400 for an unknown region."""
    return region_filter(raw, parameter)


__all__ = [
    "PAGE_SIZE",
    "RETURN_PARAM",
    "Column",
    "Listing",
    "ListingError",
    "choice_param",
    "list_page",
    "listing",
    "municipality_param",
    "region_param",
    "return_to",
]
