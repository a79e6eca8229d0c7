"""What the API's list routes share with the pages' lists (decision 23): the query parameters of keyset paging
(``sort``, ``direction``, ``cursor``, ``limit``) with their Portuguese descriptions for the OpenAPI document, and the
response headers that carry the true total and the next cursor while the body stays the list it always was."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.datastructures import ResponseHeader
from litestar.params import QueryParameter

from regula.db.listing import LAST, MAX_SIZE, Slice, Sorts, Window, read_window

TOTAL_HEADER = "X-Total-Count"
NEXT_HEADER = "X-Next-Cursor"

RESPONSE_HEADERS = [
    ResponseHeader(
        name=TOTAL_HEADER,
        documentation_only=True,
        description="Total de itens da lista com estes filtros, no seu território (não só os desta página).",
    ),
    ResponseHeader(
        name=NEXT_HEADER,
        documentation_only=True,
        description=(
            "Cursor da página seguinte (ausente na última): repita a chamada com os mesmos parâmetros e "
            "cursor=este valor."
        ),
    ),
]

Direction = Annotated[
    str | None,
    QueryParameter(
        description="Sentido da ordenação: asc (crescente) ou desc (decrescente). Padrão: o da ordenação.",
        required=False,
    ),
]
CursorParam = Annotated[
    str | None,
    QueryParameter(
        description=(
            f"Onde a página começa: o valor de {NEXT_HEADER} da página anterior, ou “{LAST}” para a última página. "
            "Um cursor só vale para a mesma ordenação e o mesmo sentido."
        ),
        required=False,
    ),
]
Limit = Annotated[int, QueryParameter(description=f"Itens por página, de 1 a {MAX_SIZE}.", ge=1, le=MAX_SIZE)]


def sort_description(sorts: Sorts) -> str:
    """The ``sort`` query parameter's description, naming the list's whitelist."""
    return f"Ordenação: uma de {', '.join(sorts.names)} (padrão: {sorts.default}); empates pelo identificador."


def window(sorts: Sorts, sort: str | None, direction: str | None, cursor: str | None, limit: int) -> Window:
    """The window the API parameters ask for; a 400 naming ``sort``, ``direction`` or ``cursor`` otherwise."""
    return read_window(
        sorts,
        sort=sort,
        direction=direction,
        cursor=cursor,
        size=limit,
        sort_param="sort",
        direction_param="direction",
        cursor_param="cursor",
    )


def headers(found: Slice[Any]) -> dict[str, str]:
    out = {TOTAL_HEADER: str(found.total)}
    if found.next_cursor:
        out[NEXT_HEADER] = found.next_cursor
    return out
