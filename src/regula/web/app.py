"""The Litestar application factory. Built by ``regula serve``/``regula demo`` and by the tests, always from an
explicit settings object and session factory: nothing connects at import time."""

from __future__ import annotations

import gc
import hmac
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.config.response_cache import ResponseCacheConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.prometheus import PrometheusController
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from regula import __version__, routes
from regula.access.policy import public
from regula.access.token_cache import install as install_token_cache
from regula.audit.service import install as install_audit
from regula.config import Settings
from regula.core.errors import NotAuthenticated
from regula.db.limits import install as install_length_limits
from regula.http.input_guard import GuardedRequest, InputGuardMiddleware
from regula.http.observe import RequestLogMiddleware
from regula.http.state import SESSIONMAKER_KEY, SETTINGS_KEY, provide_db_session, provide_settings, settings_from
from regula.inputs import MAX_BODY_BYTES
from regula.models import load_all_models
from regula.waitlist.public_answers import install as install_public_answers
from regula.web.guards import AuthenticationMiddleware, access_guard, deny, user_for_routing_errors
from regula.web.health import HEALTH_KEY, HealthMemory
from regula.web.openapi import declare_problem_responses
from regula.web.problems import EXCEPTION_HANDLERS
from regula.web.security import LocalRedocRenderPlugin, LocalSwaggerRenderPlugin, security_headers
from regula.web.templating import configure as configure_templates
from regula.wiring import wire

WEB_DIR = Path(__file__).parent
# Third-party files served as they were released (Swagger UI), kept apart from regula's own pages and scripts.
VENDOR_DIR = WEB_DIR.parent / "vendor"


async def metrics_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """``/metrics`` answers only ``Authorization: Bearer $REGULA_METRICS_TOKEN``; without the setting it does not
    exist (404), so a deployment never exposes request counts per path by accident."""
    token = settings_from(connection.app.state).metrics_token
    if token is None:
        raise NotFoundException()
    scheme, _sep, value = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.get_secret_value().encode()):
        await deny(
            connection,
            NotAuthenticated("Envie o token de métricas (Authorization: Bearer …).", code="token_de_metricas"),
        )


class MetricsController(PrometheusController):
    path = "/metrics"
    opt = public()
    guards = [metrics_guard]
    include_in_schema = False


def freeze_startup_objects() -> None:
    """At start-up, once everything long-lived exists (routes, models, the territory, templates), move it out of
    the garbage collector's sight: a full collection traverses ~280,000 objects and takes 150–220 ms on the
    benchmark machine, a pause that lands on whichever requests are in flight (the p99 of issue 18 item 3).
    Objects made later are collected as usual; the frozen ones are the app's for its whole life anyway."""
    gc.collect()
    gc.freeze()


def _route_handlers() -> list[ControllerRouterHandler]:
    return routes.all_routes()


def create_app(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    extra_routes: list[ControllerRouterHandler] | None = None,
) -> Litestar:
    install_audit()
    install_token_cache()
    install_public_answers()
    install_length_limits()
    wire()  # the domain events' subscribers (regula.wiring): backfill, messages, navigator tasks
    # Every table in the metadata: a flush sorts tables by their foreign keys, and a model whose referenced table
    # was never imported (waitlist_entry → municipality) fails at the first write otherwise.
    load_all_models()
    openapi = OpenAPIConfig(
        title="regula",
        version=__version__,
        description="Regulação de filas de OCIs do SUS: API. Autenticação por token Bearer.",
        path="/schema",
        render_plugins=[LocalSwaggerRenderPlugin(), LocalRedocRenderPlugin()],
        openapi_router=Router(path="/schema", route_handlers=[], opt=public(), include_in_schema=False),
    )
    static = create_static_files_router(path="/static", directories=[WEB_DIR / "static", VENDOR_DIR], opt=public())
    app = Litestar(
        route_handlers=[*_route_handlers(), MetricsController, static, *(extra_routes or [])],
        dependencies={
            "db_session": Provide(provide_db_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        guards=[access_guard],
        # The input guard runs after authentication: an anonymous caller learns nothing, not even about input.
        # The request log and the metrics (Litestar's PrometheusMiddleware's names and labels) in one layer.
        middleware=[RequestLogMiddleware(), AuthenticationMiddleware(), InputGuardMiddleware()],
        request_class=GuardedRequest,
        # Bodies are small JSON documents; the routes that take files declare their own, larger limit.
        request_max_body_size=MAX_BODY_BYTES,
        exception_handlers=EXCEPTION_HANDLERS,
        # A 404 or 405 of routing never passed the authentication middleware: its page still shows who is in.
        after_exception=[user_for_routing_errors],
        before_send=[security_headers(settings)],
        openapi_config=openapi,
        template_config=TemplateConfig(
            directory=WEB_DIR / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=lambda engine: configure_templates(engine, settings),
        ),
        state=State(
            {
                SESSIONMAKER_KEY: sessionmaker,
                SETTINGS_KEY: settings,
                HEALTH_KEY: HealthMemory(ttl=settings.health_check_seconds),
            }
        ),
        on_startup=[freeze_startup_objects],
        response_cache_config=ResponseCacheConfig(),
        debug=False,
        logging_config=None,
    )
    declare_problem_responses(app)
    return app


def app_globals() -> dict[str, Any]:
    return {"version": __version__}
