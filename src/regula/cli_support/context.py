"""What every CLI command needs: the settings, a database (embedded or external) at the schema head, and one
transaction per command (commit at the boundary)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.core.errors import DomainError
from regula.db import migrate
from regula.db.engine import database_urls, make_database
from regula.db.roles import grant_app_role
from regula.logs import configure_logging

T = TypeVar("T")
console = Console(stderr=True)  # messages for people
out = Console()  # results (tables), on stdout


def load_settings() -> Settings:
    settings = Settings()
    configure_logging(settings, stream_is_cli=True)
    return settings


@contextmanager
def database(settings: Settings, *, upgrade: bool | None = None) -> Iterator[str]:
    """Yield a URL whose schema is at head.

    The embedded server is a single-user install: its schema is upgraded automatically. An external server is
    production: its schema changes only through ``regula db upgrade``, and other commands refuse to run on an
    outdated schema.
    """
    with database_urls(settings) as urls:
        do_upgrade = settings.embedded if upgrade is None else upgrade
        if do_upgrade:
            # As the owner; then the app role (which every other connection uses) gets what it needs.
            migrate.upgrade(urls.owner)
            asyncio.run(grant_app_role(urls.owner, urls.app_role))
        else:
            if not asyncio.run(_at_head(urls.app)):
                fail(
                    "O esquema do banco não está atualizado: rode `regula db upgrade`.",
                    "esquema_desatualizado",
                )
        yield urls.app


async def _at_head(url: str) -> bool:
    db = make_database(url, pool_size=1, application_name="regula-cli")
    try:
        return await migrate.is_at_head(db.engine)
    finally:
        await db.dispose()


def run_in_transaction(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction: committed when it returns, rolled back (nothing written) when it raises."""

    async def _run() -> T:
        db = make_database(url, pool_size=2, application_name="regula-cli")
        try:
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(_run())
    except DomainError as exc:
        fail(str(exc), exc.code)


def fail(message: str, code: str) -> NoReturn:
    # Messages carry field codes in brackets, which rich would read as markup.
    console.print(f"[bold red]Erro:[/] {escape(message)} [dim]({escape(code)})[/]")
    logging.getLogger("regula.cli").info("command failed", extra={"code": code})
    raise typer.Exit(code=2)
