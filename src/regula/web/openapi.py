"""What the OpenAPI document says about errors: every documented operation declares the problem documents
(RFC 9457, ``application/problem+json``, rendered by ``regula.web.problems``) it can answer, in one place instead
of on each handler. A client generated from the document, and the schemathesis run in the test suite, then know
every status a route returns.

Which statuses an operation declares follows from what the app does for any route: 400/422 for input (every
route validates), 404 (an unknown id, in the path or the body), 429 (rate limits), 401/403 unless the route is
public, and, for methods that send a body, 409 (a conflicting state) and 413 (``request_max_body_size``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute

from regula.access.policy import OPT_PUBLIC
from regula.web.problems import _HTTP_CODES, PROBLEM_JSON


class ProblemFieldError(msgspec.Struct):
    field: str
    code: str
    message: str


class Problem(msgspec.Struct):
    """A problem document. Some carry more members (``existing_id`` of a duplicate, the ``entries`` that changed
    under an allocation…), hence no ``additionalProperties: false``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str
    errors: list[ProblemFieldError] | None = None


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CHANGE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


#: The success responses' descriptions, in Portuguese like the rest of the document (Litestar's defaults are the
#: English reason phrases: "Request fulfilled, document follows"); a handler's own ``response_description`` wins.
SUCCESS_PT: dict[int, str] = {
    200: "Pedido atendido: o documento segue.",
    201: "Criado: o documento criado segue.",
    202: "Aceito: o processamento continua em segundo plano.",
    204: "Feito, sem conteúdo na resposta.",
}


def _spec(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, description=_HTTP_CODES[status][1], media_type=PROBLEM_JSON, generate_examples=False
    )


def statuses_for(methods: set[str], public: bool) -> list[int]:
    statuses = [400, 404, 422, 429]
    if not public:
        statuses += [401, 403]
    if methods & _CHANGE_METHODS:
        statuses.append(409)
    if methods & _BODY_METHODS:
        statuses.append(413)
    return sorted(statuses)


def declare_problem_responses(app: Litestar) -> None:
    """Give every documented handler the problem responses it can answer (a handler's own ``responses`` win).
    Called once the routes are registered and before the document is first built."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            methods = {str(m) for m in handler.http_methods}
            public = bool(handler.opt.get(OPT_PUBLIC))
            own: dict[int, Any] = dict(handler.responses or {})
            handler.responses = {s: _spec(s) for s in statuses_for(methods, public)} | own
            if handler.response_description is None:
                handler.response_description = SUCCESS_PT.get(handler.status_code, "Resposta bem-sucedida.")


__all__ = ["SUCCESS_PT", "Problem", "ProblemFieldError", "declare_problem_responses", "statuses_for"]
