"""The API's documentation speaks Brazilian Portuguese (issue 17 item 7): every documented operation has a summary
written for it (not Litestar's default, the handler's name in CamelCase), and no summary, description or title of
the OpenAPI document — operations, parameters, responses, schemas — reads as English. The English detector is a
stop-word count, tested below on both languages so that it can fail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

# Words that are English and not Portuguese: function words and the verbs of Litestar's defaults and of handler
# names ("Returns…", "Request fulfilled, document follows", "GetEntry" → "Get Entry").
ENGLISH = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "is",
        "are",
        "was",
        "be",
        "been",
        "with",
        "for",
        "by",
        "from",
        "this",
        "that",
        "these",
        "an",
        "which",
        "when",
        "where",
        "its",
        "it",
        "on",
        "in",
        "or",
        "not",
        "into",
        "per",
        "each",
        "only",
        "all",
        "any",
        "returns",
        "return",
        "request",
        "document",
        "follows",
        "fulfilled",
        "created",
        "accepted",
        "processing",
        "get",
        "set",
        "list",
        "read",
        "create",
        "update",
        "delete",
        "upsert",
        "record",
        "approve",
        "commit",
        "discard",
        "void",
        "validate",
        "submit",
        "notify",
    ]
)
PORTUGUESE = frozenset(
    [
        "de",
        "da",
        "do",
        "das",
        "dos",
        "o",
        "os",
        "a",
        "as",
        "e",
        "é",
        "em",
        "no",
        "na",
        "nos",
        "nas",
        "num",
        "numa",
        "para",
        "por",
        "pela",
        "pelo",
        "pelas",
        "pelos",
        "com",
        "sem",
        "um",
        "uma",
        "uns",
        "umas",
        "que",
        "se",
        "ao",
        "aos",
        "à",
        "às",
        "ou",
        "até",
        "sua",
        "seu",
        "suas",
        "seus",
        "mais",
        "cada",
        "já",
        "não",
        "só",
        "quando",
        "onde",
    ]
)
# Litestar's summary when none is given: the handler's name, title-cased, without separators ("ListRuns").
GENERATED = re.compile(r"^(?:[A-Z][a-z0-9]*){1,6}$")


def words(text: str) -> list[str]:
    """Lower-case words, identifiers split at "_" and at camel humps ("ListRuns" → list, runs)."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    return re.findall(r"[a-zà-öø-ÿ]+", spaced.lower())


def looks_english(text: str) -> bool:
    """English when an English word is there and the Portuguese ones do not outnumber the English ones."""
    found = words(text)
    english = sum(w in ENGLISH for w in found)
    portuguese = sum(w in PORTUGUESE for w in found)
    return english > 0 and english >= portuguese


def texts(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every (place, text) of the document a person reads: summaries, descriptions and titles, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            place = f"{where}/{key}"
            if key in ("summary", "description", "title") and isinstance(value, str):
                if (
                    key == "title"
                    and where.startswith("/components/schemas/")
                    and where.endswith((f"/{value}", f"_{value}"))
                ):
                    continue  # a schema's name: an identifier of the code (English, like every identifier)
                yield place, value
            else:
                yield from texts(value, place)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from texts(value, f"{where}[{i}]")


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield f"{method.upper()} {path}", operation


@pytest.fixture
def document(web_app: Litestar) -> dict[str, Any]:
    return web_app.openapi_schema.to_schema()


@pytest.mark.parametrize(
    ("text", "english"),
    [
        ("Returns the list of entries", True),
        ("Request fulfilled, document follows", True),
        ("ListRuns", True),
        ("Read", True),
        ("Only the open tasks", True),
        ("Lista de solicitações da fila", False),
        ("Sentido da ordenação: asc (crescente) ou desc (decrescente)", False),
        ("Pedido atendido: o documento segue.", False),
        ("Código SIGTAP da OCI (10 dígitos)", False),
        ("AAAAMM", False),
    ],
)
def test_the_detector_tells_english_from_portuguese(text: str, english: bool) -> None:
    assert looks_english(text) is english


def test_every_operation_has_a_summary_written_for_it(document: dict[str, Any], web_app: Litestar) -> None:
    ops = list(operations(document))
    assert len(ops) > 50  # the whole API is documented
    missing = [name for name, op in ops if not (op.get("summary") or "").strip()]
    generated = [f"{name}: {op['summary']}" for name, op in ops if GENERATED.match(op.get("summary") or "")]
    assert missing == [], "operações sem resumo:\n" + "\n".join(missing)
    assert generated == [], "resumos gerados do nome da função (escreva summary=…):\n" + "\n".join(generated)
    # And in the code: each documented handler says its summary itself.
    unsaid = sorted(
        f"{handler.handler_name} ({route.path})"
        for route in web_app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if handler.resolve_include_in_schema() and not handler.summary
    )
    assert unsaid == [], "handlers sem summary=:\n" + "\n".join(unsaid)


def test_nothing_in_the_document_reads_as_english(document: dict[str, Any]) -> None:
    everything = list(texts(document))
    assert len(everything) > 200  # summaries, parameters' and responses' descriptions, titles
    offenders = sorted({f"{place}: {text[:100]}" for place, text in everything if looks_english(text)})
    assert offenders == [], f"{len(offenders)} textos em inglês no OpenAPI:\n" + "\n".join(offenders)
    assert not looks_english(document["info"]["description"])


async def test_both_documentation_pages_are_served_from_local_files(client: httpx.AsyncClient) -> None:
    for page, script in (("/schema", "/static/swagger/swagger-ui-bundle.js"), ("/schema/redoc", "/static/redoc/")):
        response = await client.get(page)
        assert response.status_code == 200 and f'src="{script}' in response.text, page
        assert "http://" not in response.text and "https://" not in response.text  # no CDN
    bundle = await client.get("/static/redoc/redoc.standalone.js")
    assert bundle.status_code == 200 and len(bundle.content) > 500_000
    assert b"cdn.redoc.ly" not in bundle.content  # the one outside address, replaced (vendor/redoc/README.md)
