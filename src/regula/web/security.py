"""Response headers every answer carries, and the API documentation page served from local files.

The headers are set in a ``before_send`` hook: it sees every response, including those the framework builds
from an exception raised before a route runs (a denial by the authentication middleware, an unknown path), which
a middleware's ``send`` wrapper would miss.

* ``Content-Security-Policy``: scripts only from this site (no inline script: every script is a file under
  ``/static``), nothing may frame a page (``frame-ancestors 'none'``, clickjacking), forms post only here. Inline
  ``style`` attributes stay allowed: the gauges' widths are written by the server, and no script runs from a style.
* ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin`` (a link with a protocol number in its
  query never tells another site where it came from).
* ``Cache-Control: no-store`` on everything but static files and the public documentation: pages and API answers
  carry personal data, and a shared computer of a health unit must not keep them in its cache.
* ``Strict-Transport-Security`` when the public base URL is https.
"""

from __future__ import annotations

import html
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.types import Message, Scope

from regula.config import Settings

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000; includeSubDomains"
_CACHEABLE_PREFIXES = ("/static/",)


def security_headers(settings: Settings) -> Any:
    """A ``before_send`` hook adding the headers above to every HTTP response.

    The header lines are encoded once, here; per response the hook drops any the route set itself (the values
    above win, as they always did) and appends them, one pass over the response's headers."""
    https = settings.public_base_url.lower().startswith("https://")
    always: list[tuple[bytes, bytes]] = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    ]
    if https:
        always.append((b"strict-transport-security", HSTS.encode()))
    uncached = [*always, (b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
    names_always = frozenset(name for name, _ in always)
    names_uncached = frozenset(name for name, _ in uncached)

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        if str(scope.get("path", "")).startswith(_CACHEABLE_PREFIXES):
            added, names = always, names_always
        else:
            added, names = uncached, names_uncached
        headers = message.get("headers") or []
        kept = [(name, value) for name, value in headers if name.lower() not in names]
        message["headers"] = [*kept, *added]

    return before_send


class LocalSwaggerRenderPlugin(OpenAPIRenderPlugin):
    """Swagger UI from files under ``/static/swagger`` (swagger-ui-dist, Apache-2.0, vendored in ``regula/vendor``):
    the machines of a regulation center often have no internet, and the CSP above admits no CDN and no inline script.
    The spec is fetched from ``/schema/openapi.json`` by ``regula-swagger.js``."""

    def __init__(self, path: str = "/swagger") -> None:
        super().__init__(
            path=path, favicon='<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">', style=""
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        spec_url = html.escape(self.get_openapi_json_route(request), quote=True)
        page = f"""<!DOCTYPE html>
<html lang="pt-BR">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}: API</title>
  {self.favicon}
  <link rel="stylesheet" href="/static/swagger/swagger-ui.css">
  <script src="/static/swagger/swagger-ui-bundle.js" defer></script>
  <script src="/static/swagger/regula-swagger.js" defer></script>
</head>
<body>
  <div id="swagger-container" data-spec-url="{spec_url}">
    <noscript>A documentação interativa precisa de JavaScript; o documento OpenAPI está em
      <a href="{spec_url}">{spec_url}</a>.</noscript>
  </div>
</body>
</html>
"""
        return page.encode()


class LocalRedocRenderPlugin(OpenAPIRenderPlugin):
    """Redoc at ``/schema/redoc`` from ``/static/redoc/redoc.standalone.js`` (Redoc, MIT, vendored in
    ``regula/vendor/redoc``): the same document as Swagger UI, for reading. No start-up script is needed: the bundle
    starts itself on the ``<redoc>`` element, reading its options from the element's attributes. Its search is
    off: it runs in a Web Worker made from a ``blob:`` address, which the CSP above does not admit."""

    def __init__(self, path: str = "/redoc") -> None:
        super().__init__(
            path=path, favicon='<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">', style=""
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        spec_url = html.escape(self.get_openapi_json_route(request), quote=True)
        page = f"""<!DOCTYPE html>
<html lang="pt-BR">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}: API (Redoc)</title>
  {self.favicon}
</head>
<body>
  <noscript>A documentação precisa de JavaScript; o documento OpenAPI está em
    <a href="{spec_url}">{spec_url}</a>.</noscript>
  <redoc spec-url="{spec_url}" disable-search="true"></redoc>
  <script src="/static/redoc/redoc.standalone.js"></script>
</body>
</html>
"""
        return page.encode()
