"""The API documentation works in a real browser without internet and under the Content-Security-Policy: Swagger
UI comes from /static, and no script or style is refused."""

from __future__ import annotations

from collections.abc import Callable

from tests.browser.conftest import Session, needs_chromium

pytestmark = needs_chromium


def test_schema_page_renders_offline_under_the_csp(open_session: Callable[..., Session]) -> None:
    session = open_session(None)
    outside: list[str] = []
    session.page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(session.base)
            else (outside.append(route.request.url), route.abort())[-1]
        ),
    )
    response = session.go("/schema")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    session.page.wait_for_selector(".opblock-summary-path", timeout=30_000)  # operations rendered by Swagger UI
    assert session.page.locator(".opblock-summary-path", has_text="/api/v1/me").count() >= 1
    assert outside == []  # nothing fetched from outside (no CDN)
    violations = [e for e in session.errors if "Content Security Policy" in e or "Refused" in e]
    assert violations == [] and session.errors == [], session.errors
