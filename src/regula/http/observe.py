"""One middleware for what every request leaves behind: its access-log line and its Prometheus metrics.

The log line has the fields it always had (``request_id``, ``method``, ``path``, ``status``, ``duration_ms``,
``user``: a username, never a name or a document) and the response echoes the request id. The metrics keep the
names and labels of Litestar's ``PrometheusMiddleware`` (``regula_requests_total``,
``regula_request_duration_seconds``, ``regula_requests_in_progress``, ``regula_requests_error_total``; labels
``method``, ``path`` — the route's template —, ``status_code``, ``app_name``).

Why not the two middlewares it replaces (issue 18 item 3): per request they built a dict of every header (to read
one), a ``Request``, two send wrappers, four label dicts and four label look-ups under a lock, and the log call
walked the stack for a caller nobody prints. Here the request id is found by scanning the raw headers, the labelled
metric children are looked up once per (method, route, status) and kept, the log record is built without
``findCaller`` and only when INFO is on, and one ``send`` wrapper serves both. The status in the metrics is now the
one the client got, like the log's: a denial raised by an inner middleware counted as a 200 of no duration before.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from litestar._asgi.utils import wrap_in_exception_handler
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.plugins.prometheus import PrometheusMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram

access_log = logging.getLogger("regula.access_log")
_REQUEST_ID = b"x-request-id"
_INFO = logging.INFO
_LABELS = ["method", "path", "status_code", "app_name"]


def _metric(kind: type[Any], name: str, documentation: str, **kwargs: Any) -> Any:
    """The metric registered under ``name`` — shared with Litestar's own middleware's registry, so that building
    several apps in one process (the tests) or mixing both never registers a name twice."""
    registry = PrometheusMiddleware._metrics  # the process-wide table of the names already registered
    if name not in registry:
        registry[name] = kind(name=name, documentation=documentation, labelnames=_LABELS, **kwargs)
    return registry[name]


class _Metrics:
    """The four metrics of one prefix, with their labelled children cached per (method, path, status)."""

    def __init__(self, prefix: str, app_name: str) -> None:
        self.app_name = app_name
        self.total = _metric(Counter, f"{prefix}_requests_total", "Total requests")
        self.duration = _metric(Histogram, f"{prefix}_request_duration_seconds", "Request duration, in seconds")
        self.in_progress = _metric(
            Gauge, f"{prefix}_requests_in_progress", "Total requests currently in progress", multiprocess_mode="livesum"
        )
        self.errors = _metric(Counter, f"{prefix}_requests_error_total", "Total errors in requests")
        self._done: dict[tuple[str, str, int], tuple[Any, Any, Any | None]] = {}
        self._running: dict[tuple[str, str], Any] = {}

    def running(self, method: str, path: str) -> Any:
        key = (method, path)
        child = self._running.get(key)
        if child is None:
            # As Litestar's middleware labelled it: the status is not known yet, so 200.
            child = self._running[key] = self.in_progress.labels(method, path, 200, self.app_name)
        return child

    def done(self, method: str, path: str, status: int) -> tuple[Any, Any, Any | None]:
        key = (method, path, status)
        children = self._done.get(key)
        if children is None:
            values = (method, path, status, self.app_name)
            error = self.errors.labels(*values) if status >= 500 else None
            children = self._done[key] = (self.total.labels(*values), self.duration.labels(*values), error)
        return children


class RequestLogMiddleware(ASGIMiddleware):
    """One structured line per request, with a request id echoed to the client, and the request's metrics."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, *, prefix: str = "regula", app_name: str = "regula") -> None:
        self.metrics = _Metrics(prefix, app_name)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        raw_id: bytes | None = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID:
                raw_id = value
                break
        if raw_id is None:
            raw_id = os.urandom(16).hex().encode()
        method: str = scope["method"]  # type: ignore[typeddict-item]  # an HTTP scope (``scopes`` above)
        path_template: str = scope.get("path_template") or scope["path"]
        status = 500
        ended = 0.0
        running = self.metrics.running(method, path_template)
        running.inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, ended
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                message["headers"] = [*headers, (_REQUEST_ID, raw_id)] if headers else [(_REQUEST_ID, raw_id)]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                ended = time.perf_counter()
            await send(message)

        try:
            # An exception raised by an inner middleware (a denial, a limit) is turned into its response here,
            # inside this middleware, so that the log and the metrics show the status the client got (401, 429…),
            # not 500, and the response carries the request id.
            await wrap_in_exception_handler(next_app)(scope, receive, send_wrapper)
        finally:
            finished = time.perf_counter()
            running.dec()
            total, duration, errors = self.metrics.done(method, path_template, status)
            total.inc()
            duration.observe((ended or finished) - started)
            if errors is not None:
                errors.inc()
            if access_log.isEnabledFor(_INFO):
                user = scope.get("user")
                record = access_log.makeRecord(
                    access_log.name,
                    _INFO,
                    __file__,
                    0,
                    "request",
                    (),
                    None,
                    extra={
                        "request_id": raw_id.decode("latin-1"),
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((finished - started) * 1000, 1),
                        "user": getattr(user, "username", None),
                    },
                )
                access_log.handle(record)


__all__ = ["RequestLogMiddleware", "access_log"]
