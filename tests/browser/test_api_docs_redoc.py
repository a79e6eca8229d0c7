"""Redoc, the reading view of the API documentation, works in a real browser without internet and under the
Content-Security-Policy (issue 17 item 7): its script comes from /static, nothing is fetched outside, no script or
style is refused, and the operations show with their Portuguese summaries."""

from __future__ import annotations

from collections.abc import Callable

from tests.browser.conftest import Session, needs_chromium

pytestmark = needs_chromium


def test_redoc_renders_offline_under_the_csp(open_session: Callable[..., Session]) -> None:
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
    response = session.go("/schema/redoc")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert 'src="/static/redoc/redoc.standalone.js"' in response.text()
    # Operations rendered by Redoc, with the summaries written for them.
    session.page.wait_for_selector("h2:has-text('Usuário do token')", timeout=30_000)
    assert session.page.locator("h2", has_text="Envia um encaminhamento").count() >= 1
    assert outside == []  # nothing fetched from outside (no CDN, no web font)
    violations = [e for e in session.errors if "Content Security Policy" in e or "Refused" in e]
    assert violations == [] and session.errors == [], session.errors
