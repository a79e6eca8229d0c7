"""Errors as RFC 9457 problem details: ``type``, ``title``, ``status``, ``detail``, ``instance``, plus regula's
stable ``code`` and, for input errors, ``errors`` with one ``{field, code, message}`` per field (Portuguese
messages for people, codes for programs). Pages (non-API paths) get an HTML error page instead.

Litestar calls exception handlers synchronously, so nothing here touches the database: denials are audited where
they are decided (``regula.web.guards``)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError as SQLDataError
from sqlalchemy.exc import DBAPIError

from regula.audit.service import record_in_own_transaction
from regula.core.errors import DomainError, FieldError, TooManyRequests
from regula.http.state import audit_context_for, sessionmaker_from

log = logging.getLogger("regula.web")
PROBLEM_JSON = "application/problem+json"

_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("requisicao_invalida", "Requisição inválida"),
    401: ("nao_autenticado", "Autenticação necessária"),
    403: ("acesso_negado", "Acesso negado"),
    404: ("nao_encontrado", "Não encontrado"),
    405: ("metodo_nao_permitido", "Método não permitido"),
    409: ("conflito", "Conflito"),
    413: ("requisicao_grande_demais", "Requisição grande demais"),
    415: ("tipo_de_midia_nao_suportado", "Tipo de conteúdo não suportado"),
    422: ("dados_invalidos", "Dados inválidos"),
    429: ("muitas_requisicoes", "Muitas requisições"),
    500: ("erro_interno", "Erro interno"),
    503: ("indisponivel", "Serviço indisponível"),
}


def wants_html(request: Request[Any, Any, Any]) -> bool:
    """A person's browser (an HTML page answers), not a program (a problem+json answers)."""
    path = request.url.path
    if path.startswith(("/api/", "/webhooks/", "/schema", "/health", "/metrics")):
        return False
    return "text/html" in (request.headers.get("accept") or "")


def problem(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[Any]:
    if wants_html(request):
        if status == 401:
            return Redirect(path=f"/login?next={request.url.path}")
        return Template(
            template_name="error.html",
            context={
                "status": status,
                "title": title,
                "detail": detail,
                "errors": errors or [],
                "code": code,
            },
            status_code=status,
        )
    body: dict[str, Any] = {
        "type": f"urn:regula:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
    }
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    headers = {"WWW-Authenticate": 'Bearer realm="regula"'} if status == 401 else None
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    response = problem(request, exc.status_code, exc.code, exc.title, exc.message, exc.errors, exc.extra)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _field_path(raw: dict[str, Any]) -> str:
    key = raw.get("key")
    source = raw.get("source")
    if key:
        return str(key)
    return str(source or "body")


def _translate(message: str) -> tuple[str, str]:
    m = message.lower()
    if "missing required" in m or ("required" in m and "field" in m):
        return "obrigatorio", "Campo obrigatório."
    if "expected" in m and ("int" in m or "float" in m or "number" in m):
        return "tipo_invalido", "Valor numérico inválido."
    if "expected" in m and "str" in m:
        return "tipo_invalido", "Texto esperado."
    if "date" in m or "iso" in m:
        return "data_invalida", "Data inválida (use AAAA-MM-DD)."
    if "enum" in m or "one of" in m:
        return "valor_nao_permitido", "Valor não permitido."
    return "valor_invalido", f"Valor inválido ({message})."


def validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors: list[FieldError] = []
    for raw in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(raw, dict):
            code, message = _translate(str(raw.get("message", "")))
            errors.append(FieldError(_field_path(raw), code, message))
    return problem(request, 422, "dados_invalidos", "Dados inválidos", "Verifique os campos indicados.", errors)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code, title = _HTTP_CODES.get(status, ("erro_http", "Erro"))
    detail = {
        401: "Envie um token válido (Authorization: Bearer …) ou entre no sistema.",
        403: "Seu papel ou jurisdição não permite este acesso.",
        404: "O recurso pedido não existe.",
        # Litestar's own text is English. A person gets here by reloading or bookmarking a form's address; a
        # program, by calling a route with the wrong method.
        405: "Este endereço só recebe o envio de um formulário: volte à página anterior e envie o formulário por lá."
        if wants_html(request)
        else f"Esta rota não aceita o método {request.method}.",
        413: "O corpo da requisição passa do limite desta rota; para arquivos grandes, use a linha de comando.",
    }.get(status, exc.detail if isinstance(exc.detail, str) and exc.detail else title)
    if isinstance(exc, NotFoundException):
        if request.url.path.startswith("/api/") and not request.headers.get("authorization"):
            return _unauthenticated_api(request)
        detail = "O recurso pedido não existe."
    return problem(request, status, code, title, detail)


def _unauthenticated_api(request: Request[Any, Any, Any]) -> Response[Any]:
    """An unknown /api path fails routing before the authentication middleware runs; without a token it is still
    a 401 (nothing about the API is told to an anonymous caller) and, like every denial, audited — after the
    response, since exception handlers cannot wait on the database."""
    code, detail = "token_ausente", "Envie um token válido no cabeçalho Authorization: Bearer <token>."
    response = problem(request, 401, code, "Autenticação necessária", detail)
    response.background = BackgroundTask(
        record_in_own_transaction,
        sessionmaker_from(request.app.state),
        audit_context_for(request),
        "deny",
        reason=f"{code}: {detail}",
        status_code=401,
    )
    return response


#: PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back whole because another
#: one touched the same rows at the same time. Nothing was written; the same request again is safe.
_CONCURRENCY_SQLSTATES = frozenset({"40P01", "40001"})


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
    if isinstance(exc, DBAPIError) and sqlstate in _CONCURRENCY_SQLSTATES:
        # The last resort behind consistent lock ordering (issue 11): a 409 to retry, not a 500 with a trace.
        log.warning(
            "concurrent update", extra={"path": request.url.path, "method": request.method, "sqlstate": sqlstate}
        )
        return problem(
            request,
            409,
            "conflito_concorrente",
            "Conflito",
            "Outra operação alterou os mesmos registros ao mesmo tempo; nada foi gravado. Tente de novo.",
        )
    if isinstance(exc, SQLDataError) or (isinstance(exc, DBAPIError) and sqlstate.startswith("22")):
        # The last resort behind the declared bounds (regula.inputs, regula.http.input_guard): a value the database
        # cannot hold (out of range, NUL, bad text) is the caller's input, not a server fault. It names no field,
        # so the warning says where a declaration is missing.
        log.warning(
            "input refused by the database",
            extra={
                "path": request.url.path,
                "method": request.method,
                "sqlstate": sqlstate,
                "error": type(exc).__name__,
            },
        )
        return problem(
            request, 422, "valor_fora_do_intervalo", "Dados inválidos", "Um dos valores enviados não pode ser gravado."
        )
    log.exception("unhandled error", extra={"path": request.url.path, "method": request.method})
    if isinstance(exc, DBAPIError) and "insufficient_privilege" in str(getattr(exc.orig, "sqlstate", "")):
        return problem(request, 403, "operacao_recusada_pelo_banco", "Acesso negado", "Operação recusada.")
    return problem(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "erro_interno",
        "Erro interno",
        "Ocorreu um erro inesperado; a operação não foi concluída. A equipe técnica foi avisada pelo registro.",
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "problem"]
