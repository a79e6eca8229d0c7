"""Queries live in repositories (issue 12 item 2): the pages (``regula/web``) and the API routes (every
``routes.py``) build no SQL and run none; they call a repository or a service, which scopes the query to the
caller. The files are parsed, so a word in a string or a comment does not count."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import regula

SRC = Path(regula.__file__).parent
# Calls that build or run a query: SQLAlchemy's (or SQLModel's) ``select(...)`` and ``text(...)``, under whatever
# name they were imported, and ``<anything>.execute(...)``. A helper of the same name (``forms.text``) is not one.
QUERY_BUILDERS = frozenset({"select", "text"})
SQL_MODULES = ("sqlalchemy", "sqlmodel")


def adapter_files() -> list[Path]:
    files = sorted((SRC / "web").rglob("*.py")) + sorted(SRC.rglob("routes.py"))
    return sorted(set(files))


def _is_sql_module(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in SQL_MODULES)


def query_calls(source: str, filename: str = "<test>") -> list[tuple[int, str]]:
    """(line, call) for every query built or run in ``source``."""
    tree = ast.parse(source, filename)
    builders: set[str] = set()  # local names bound to sqlalchemy's select/text
    modules: set[str] = set()  # local names bound to sqlalchemy (or a submodule)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and _is_sql_module(node.module):
            builders |= {a.asname or a.name for a in node.names if a.name in QUERY_BUILDERS}
            modules |= {a.asname or a.name for a in node.names if a.name not in QUERY_BUILDERS}
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name.split(".")[0] for a in node.names if _is_sql_module(a.name)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in builders:
            found.append((node.lineno, f"{f.id}("))
        elif isinstance(f, ast.Attribute) and f.attr == "execute":
            found.append((node.lineno, ".execute("))
        elif (
            isinstance(f, ast.Attribute)
            and f.attr in QUERY_BUILDERS
            and isinstance(f.value, ast.Name)
            and f.value.id in modules
        ):
            found.append((node.lineno, f"{f.value.id}.{f.attr}("))
    return sorted(found)


def test_the_check_sees_queries_and_ignores_words() -> None:
    source = '''
from sqlalchemy import select, text as sql
import sqlalchemy as sa
from regula.web import forms

async def page(session, form):
    """Do not select( anything here."""
    # text("SELECT 1") in a comment is not a query
    label = "select(x) and text(y) are words" + forms.text(form, "name")
    a = select(Entry)
    b = sa.text("SELECT 1")
    await session.execute(a)
    return sql("SELECT 2"), b
'''
    assert query_calls(source) == [(10, "select("), (11, "sa.text("), (12, ".execute("), (13, "sql(")]


def test_the_check_reads_the_adapters() -> None:
    files = adapter_files()
    names = {p.relative_to(SRC).as_posix() for p in files}
    assert {"web/entries.py", "web/dashboard.py", "waitlist/routes.py", "routes.py"} <= names


@pytest.mark.parametrize("path", adapter_files(), ids=lambda p: p.relative_to(SRC).as_posix())
def test_no_query_in_pages_or_routes(path: Path) -> None:
    calls = query_calls(path.read_text(encoding="utf-8"), str(path))
    assert not calls, (
        f"{path.relative_to(SRC)} builds or runs queries at {calls}: move them to the domain's repository.py, "
        "scoped with readable(actor)."
    )
