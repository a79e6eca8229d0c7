"""``regula notify …``: run the dispatcher, look at the outbox, send a signed test reply to a running regula."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.table import Table
from sqlalchemy import text

from regula.cli.checks import check_production
from regula.cli_support.context import console, database, fail, load_settings, out
from regula.config import Settings
from regula.db.engine import make_database
from regula.notify.dispatcher import Dispatcher

app = typer.Typer(help="Mensagens aos cidadãos (SMS e WhatsApp).", no_args_is_help=True)
SIGNING_KEY_FILE = "twilio-webhook-token"
DEMO_BASE_URL_FILE = "demo-public-base-url"


def with_webhook_token(settings: Settings) -> Settings:
    """Without Twilio, the demo still checks reply signatures: with a token of its own, kept in ``REGULA_HOME``
    so that ``regula notify reply`` signs what the running demo verifies."""
    if settings.twilio_auth_token is not None:
        return settings
    path = settings.home / SIGNING_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return settings.model_copy(update={"twilio_auth_token": SecretStr(path.read_text().strip())})


@contextmanager
def published_base_url(settings: Settings) -> Iterator[None]:
    """While a ``regula demo`` serves, its address is kept in ``REGULA_HOME``, so that ``regula notify reply``
    from another shell reaches it (and signs the URL it verifies) whatever ``--port`` it was given."""
    path = settings.home / DEMO_BASE_URL_FILE
    path.write_text(settings.public_base_url)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def reply_base_url(settings: Settings) -> str:
    """REGULA_PUBLIC_BASE_URL when it is set; else the address of the demo running on this REGULA_HOME."""
    path = settings.home / DEMO_BASE_URL_FILE
    if "public_base_url" not in settings.model_fields_set and path.is_file():
        return path.read_text().strip()
    return settings.public_base_url


@app.command("dispatch")
def dispatch(
    once: Annotated[bool, typer.Option("--once", help="Envia o que está pendente e sai")] = False,
    poll: Annotated[float, typer.Option(help="Segundos entre verificações")] = 1.0,
) -> None:
    """Envia as mensagens da fila de saída (outbox), respeitando limites de taxa e horários."""
    settings = load_settings()
    with database(settings) as url:
        check_production(settings, url)

        async def go() -> dict[str, int]:
            db = make_database(url, pool_size=4, application_name="regula-dispatch")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            try:
                stats = await Dispatcher(db, settings).run(once=once, stop=stop, poll=poll)
                return dict(vars(stats))
            finally:
                await db.dispose()

        try:
            stats = asyncio.run(go())
        except ValueError as exc:  # Twilio not configured
            fail(str(exc), "twilio_nao_configurado")
    console.print(" ".join(f"{k}={v}" for k, v in stats.items()))


@app.command("outbox")
def outbox(
    as_json: Annotated[
        bool, typer.Option("--json", help='Saída JSON: [{"status", "channel", "count"}] na saída padrão')
    ] = False,
) -> None:
    """Mensagens por situação e canal."""
    settings = load_settings()
    with database(settings) as url:

        async def go() -> list[tuple[str, str, int]]:
            db = make_database(url, pool_size=1, application_name="regula-cli")
            try:
                async with db.transaction() as session:
                    rows = await session.execute(
                        text("SELECT status, channel, count(*) FROM message GROUP BY 1, 2 ORDER BY 1, 2")
                    )
                    return [(r[0], r[1], int(r[2])) for r in rows]
            finally:
                await db.dispose()

        rows = asyncio.run(go())
    if as_json:
        typer.echo(json.dumps([{"status": s, "channel": c, "count": n} for s, c, n in rows], ensure_ascii=False))
        return
    table = Table("situação", "canal", "mensagens")
    for status, channel, n in rows:
        table.add_row(status, channel, str(n))
    out.print(table)


@app.command("reply")
def reply(
    phone: Annotated[str, typer.Option("--from", help="Telefone do cidadão, +55…")],
    body: Annotated[str, typer.Option(help="Texto da resposta, por exemplo NÃO")],
    url: Annotated[str | None, typer.Option(help="Endereço do webhook (padrão: REGULA_PUBLIC_BASE_URL)")] = None,
) -> None:
    """Simula uma resposta do cidadão: envia ao webhook um pedido assinado como o Twilio assina."""
    import httpx
    from twilio.request_validator import RequestValidator

    settings = with_webhook_token(load_settings())
    if settings.twilio_auth_token is None:
        fail("Defina REGULA_TWILIO_AUTH_TOKEN para assinar a resposta.", "twilio_nao_configurado")
    target = url or reply_base_url(settings).rstrip("/") + "/webhooks/twilio/inbound"
    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": phone,
        "To": (settings.twilio_sms_senders or ["+550000000000"])[0],
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(settings.twilio_auth_token.get_secret_value()).compute_signature(target, params)
    response = httpx.post(target, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
    console.print(f"{response.status_code} {response.text[:200]}")
    if response.status_code >= 400:
        raise typer.Exit(code=1)
