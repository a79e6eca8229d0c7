"""Authentication and authorization at the edge.

* ``/api/…`` takes bearer tokens only (no cookies, so no CSRF exposure); any request there without a valid token
  is answered 401 before routing, whether or not the route exists — except under ``/api/v1/public/`` (the
  transparency panel's data, art. 10 §2 VI of Portaria GM/MS 3.492/2024), which needs no token and where only
  routes declared ``public()`` answer (``access_guard``).
* Pages take the session cookie; every unsafe method (POST, …) must carry the session's CSRF token.
* ``access_guard`` runs on every route: a route that declares neither roles nor ``public`` is denied.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, NoReturn

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from regula.access import service
from regula.access.policy import OPT_PUBLIC, OPT_ROLES, ROLE_LABELS_PT, Role
from regula.access.token_cache import TOKENS
from regula.audit.service import record_in_own_transaction
from regula.core.errors import NotAuthenticated, PermissionDenied
from regula.http.state import audit_context_for, sessionmaker_from, statement_session

SESSION_COOKIE = "regula_session"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_API_PREFIX = "/api/v1/public/"
log = logging.getLogger("regula.access")


def _bearer(raw: str) -> str | None:
    scheme, _, value = raw.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _header(scope: Scope, name: bytes) -> bytes | None:
    """One request header's raw value (ASGI names are lower case), without building a dict of all of them."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class AuthenticationMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path = scope["path"]
        scope["user"] = None
        if path.startswith("/api/") and not path.startswith(PUBLIC_API_PREFIX):
            connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
            raw = _header(scope, b"authorization")
            token = _bearer(raw.decode("latin-1")) if raw is not None else None
            if token is None:
                await deny(
                    connection,
                    NotAuthenticated(
                        "Envie um token válido no cabeçalho Authorization: Bearer <token>.", code="token_ausente"
                    ),
                )
            # A valid token seen by this process in the last few seconds needs no database round trip
            # (regula.access.token_cache: the bound on a revocation made elsewhere is TOKEN_CACHE_SECONDS).
            key = service.digest(token)
            principal = TOKENS.get(key)
            if principal is None:
                principal = await _resolve(connection, token=token)
                if principal is not None:
                    TOKENS.put(key, principal)
            if principal is None:
                await deny(connection, NotAuthenticated("Token inválido, expirado ou revogado.", code="token_invalido"))
            scope["user"] = principal
        else:
            scope["user"] = await _session_principal(scope)
        await next_app(scope, receive, send)


async def _resolve(
    connection: ASGIConnection[Any, Any, Any, Any],
    *,
    token: str | None = None,
    cookie: str | None = None,
) -> service.Principal | None:
    # Who sends the request, read outside any transaction: no BEGIN and COMMIT around the look-up (decision 0029).
    # Every page view pays this (a session cookie is not cached); an API token only when TOKENS has forgotten it.
    async with statement_session(connection.app.state) as session:
        if token is not None:
            return await service.principal_from_token(session, token)
        assert cookie is not None
        return await service.principal_from_session(session, cookie)


async def _session_principal(scope: Scope) -> service.Principal | None:
    """Who the page's session cookie belongs to, or None. Only a request that carries cookies pays for parsing
    them (webhooks, the public look-up, /health carry none)."""
    if _header(scope, b"cookie") is None:
        return None
    connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
    cookie = connection.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    return await _resolve(connection, cookie=cookie)


async def user_for_routing_errors(exc: Exception, scope: Scope) -> None:
    """An ``after_exception`` hook: a page whose address or method matched no route (404, 405) failed in routing,
    before ``AuthenticationMiddleware`` ran (Litestar builds the middleware per route), so its error page would
    show a signed-in person the signed-out header ("Entrar") and no menu. Exception handlers cannot wait on the
    database; this hook can, and resolves the session cookie the same way, for those pages only. Nothing about
    the request changes but the header: the answer is still the 404 or 405. A failure here (the database away)
    leaves the page as it was rather than turning a 404 into a 500."""
    if (
        "user" in scope  # the middleware ran: the request was routed
        or scope.get("type") != ScopeType.HTTP
        or getattr(exc, "status_code", None) not in (404, 405)
        or scope["path"].startswith("/api/")
    ):
        return
    try:
        scope["user"] = await _session_principal(scope)
    except Exception as error:  # the page is answered either way, signed out
        log.warning("session not resolved for an error page", extra={"error": type(error).__name__})


async def access_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    opt = handler.opt
    if opt.get(OPT_PUBLIC):
        return
    principal = connection.scope.get("user")
    if not isinstance(principal, service.Principal):
        await deny(connection, NotAuthenticated("Entre no sistema para continuar.", code="nao_autenticado"))
    roles: frozenset[Role] | None = opt.get(OPT_ROLES)
    if not roles:
        # Deny by default: a route that forgot to declare who it admits serves nobody.
        await deny(connection, PermissionDenied("Esta rota não declara quem pode acessá-la.", code="rota_sem_politica"))
    if principal.role not in roles:
        await deny(
            connection,
            PermissionDenied(
                f"O papel {ROLE_LABELS_PT[principal.role]} não tem acesso a esta função.", code="papel_sem_acesso"
            ),
        )
    if principal.via == "session" and connection.scope.get("method", "GET") not in _SAFE_METHODS:
        await _check_csrf(connection, principal)


async def _check_csrf(connection: ASGIConnection[Any, Any, Any, Any], principal: service.Principal) -> None:
    sent = connection.headers.get(CSRF_HEADER)
    if sent is None:
        from litestar import Request

        request = connection if isinstance(connection, Request) else None
        if request is not None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not sent or not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
        await deny(
            connection, PermissionDenied("Formulário expirado ou inválido; recarregue a página.", code="csrf_invalido")
        )


async def deny(connection: ASGIConnection[Any, Any, Any, Any], error: NotAuthenticated | PermissionDenied) -> NoReturn:
    """Audit the denial in its own transaction (the request's work is rolled back), then raise it."""
    from litestar import Request

    request: Request[Any, Any, Any] = connection if isinstance(connection, Request) else Request(connection.scope)
    try:
        await record_in_own_transaction(
            sessionmaker_from(connection.app.state),
            audit_context_for(request),
            "deny",
            reason=f"{error.code}: {error.message}",
            status_code=error.status_code,
        )
    except Exception:  # the denial stands even when the audit store is down; the log keeps it
        log.exception("could not audit a denied request", extra={"path": connection.scope["path"]})
    raise error
