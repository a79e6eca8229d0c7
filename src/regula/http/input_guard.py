"""The HTTP side of ``regula.inputs``: every path parameter, query parameter, JSON body and form field is checked
before a handler sees it, so no route has to remember to.

- ``InputGuardMiddleware`` (after routing, so the path parameters are known): a NUL in the query string or in a
  path parameter, or an integer path parameter beyond PostgreSQL's ``bigint``, is a 422 naming the parameter.
  (Handlers declare their integer bounds too, which is what the OpenAPI document shows; this is the floor.)
- ``GuardedRequest`` (the app's request class): a JSON body nested deeper than ``MAX_JSON_DEPTH`` (including one
  too deep for the decoder itself) or with a NUL in any string, and a form field (URL-encoded, or a text field of
  a multipart form) with a NUL, are a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from litestar import Request
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import SerializationException
from litestar.middleware import ASGIMiddleware
from litestar.params import Parameter
from litestar.types import ASGIApp, Receive, Scope, Send

from regula.core.errors import FieldError
from regula.inputs import BIGINT_MAX, check_json, check_texts, refuse, too_deep_error

#: A database id in a path or query parameter: positive and within ``bigint`` (declared, so the OpenAPI document
#: says so and a larger number is a 422 naming the parameter).
Id = Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]
OptionalId = Annotated[int | None, Parameter(ge=1, le=BIGINT_MAX)]
#: The same, naming in the OpenAPI document (in Portuguese) what the id identifies.
EntryId = Annotated[int, Parameter(ge=1, le=BIGINT_MAX, description="Número da solicitação (entrada na fila)")]
CitizenId = Annotated[int, Parameter(ge=1, le=BIGINT_MAX, description="Identificador do cidadão")]
ParId = Annotated[int, Parameter(ge=1, le=BIGINT_MAX, description="Identificador do PAR")]
OperatorId = Annotated[int, Parameter(ge=1, le=BIGINT_MAX, description="Identificador da operadora")]
SanctionId = Annotated[int, Parameter(ge=1, le=BIGINT_MAX, description="Identificador da sanção")]
MatrixItemId = Annotated[int, Parameter(ge=1, le=BIGINT_MAX, description="Identificador do item da matriz de oferta")]
RunId = Annotated[int, Parameter(ge=1, le=BIGINT_MAX, description="Número da rodada de alocação")]
TaskId = Annotated[int, Parameter(ge=1, le=BIGINT_MAX, description="Identificador da tarefa da navegação")]
CounterReferralId = Annotated[int, Parameter(ge=1, le=BIGINT_MAX, description="Identificador da contrarreferência")]
ProcedureId = Annotated[int, Parameter(ge=1, le=BIGINT_MAX, description="Identificador do procedimento registrado")]


class InputGuardMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            check_texts(parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8"))
        for name, value in (scope.get("path_params") or {}).items():
            if isinstance(value, str):
                check_texts([(name, value)])
            elif isinstance(value, int) and not -BIGINT_MAX - 1 <= value <= BIGINT_MAX:
                raise refuse(
                    [FieldError(name, "numero_grande_demais", f"Número fora do intervalo aceito (até {BIGINT_MAX}).")]
                )
        await next_app(scope, receive, send)


def _unreadable_json(reason: str) -> FieldError:
    if "out of range" in reason:
        message = "JSON com um número fora do intervalo aceito."
    elif "truncated" in reason:
        message = "JSON incompleto."
    else:
        message = "JSON malformado."
    return FieldError("body", "json_invalido", message)


class GuardedRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            # The decoder gave up before we could count: certainly deeper than anything regula reads.
            raise refuse([too_deep_error()]) from None
        except SerializationException as exc:
            raise refuse([_unreadable_json(str(exc))]) from None
        check_json(value)
        return value

    async def body(self) -> bytes:
        body = await super().body()
        # Form posts (every page, typed or not, reads them from here); the bytes of uploads are the importers' to
        # judge, since a NUL in a binary file is no error.
        if self.content_type[0] == RequestEncodingType.URL_ENCODED and (b"%00" in body or b"\x00" in body):
            check_texts(parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="utf-8"))
        return body

    async def form(self) -> FormMultiDict:
        form = await super().form()
        if self.content_type[0] != RequestEncodingType.MULTI_PART:
            return form
        check_texts(
            (name, value if isinstance(value, str) else (value.filename or ""))
            for name, value in form.multi_items()
            if isinstance(value, str | UploadFile)
        )
        return form


__all__ = ["GuardedRequest", "Id", "InputGuardMiddleware", "OptionalId"]
