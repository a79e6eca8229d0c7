"""``regula serve`` runs uvicorn on uvloop and httptools, and still starts where they cannot be imported."""

from __future__ import annotations

import sys

import pytest
import uvicorn

from regula.cli.main import fast_stack


async def _app(scope: object, receive: object, send: object) -> None:
    return None


def test_serve_uses_uvloop_and_httptools_when_installed() -> None:
    loop, http = fast_stack()
    assert (loop, http) == ("uvloop", "httptools")
    config = uvicorn.Config(_app, loop=loop, http=http)
    config.load()  # imports the protocol class and checks the loop name, as uvicorn.run does
    assert config.http_protocol_class.__module__ == "uvicorn.protocols.http.httptools_impl"


def test_serve_falls_back_to_uvicorns_defaults_without_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # A module set to None in sys.modules raises ImportError on import, as on a platform without the wheel.
    monkeypatch.setitem(sys.modules, "uvloop", None)
    monkeypatch.setitem(sys.modules, "httptools", None)
    assert fast_stack() == ("auto", "auto")
