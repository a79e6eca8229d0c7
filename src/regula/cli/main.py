"""The ``regula`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from regula.audit.service import install as install_audit
from regula.cli_support.context import console, database, load_settings, out, run_in_transaction
from regula.cli_support.processes import exit_on_sigterm, start_child, stop_child
from regula.config import Settings
from regula.core.clock import local_today
from regula.db.limits import install as install_length_limits
from regula.wiring import wire

app = typer.Typer(
    name="regula",
    help="regula: regulação de filas de OCIs do SUS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Banco de dados.", no_args_is_help=True)
users_app = typer.Typer(help="Usuários.", no_args_is_help=True)
tokens_app = typer.Typer(help="Tokens de API.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")


def _register_domain_clis() -> None:
    from regula.allocation.allocate_cli import app as allocate_app
    from regula.catalog.cli import app as catalog_app
    from regula.exports.cli import app as export_app
    from regula.jobs.cli import jobs_app, scheduler_command
    from regula.notify.cli import app as notify_app
    from regula.people.cli import app as people_app
    from regula.production.cli import app as production_app
    from regula.programs.cli import app as programs_app
    from regula.providers.cli import app as agendas_app
    from regula.ressarcimento.cli import app as ressarcimento_app
    from regula.simulation.cli import make_app as simulation_app
    from regula.territory.cli import app as territory_app
    from regula.waitlist.cli import import_app
    from regula.web.simulation_report import report_html

    app.add_typer(catalog_app, name="catalog", help="Catálogo SIGTAP de OCIs.")
    app.add_typer(territory_app, name="territory", help="Municípios e regiões de saúde.")
    app.add_typer(agendas_app, name="agendas", help="Agendas dos prestadores.")
    app.add_typer(jobs_app, name="jobs", help="Tarefas periódicas.")
    app.add_typer(allocate_app, name="allocate", help="Alocação de vagas (otimizador).")
    app.command("scheduler")(scheduler_command)
    app.add_typer(import_app, name="import", help="Importação de encaminhamentos.")
    app.add_typer(notify_app, name="notify", help="Mensagens aos cidadãos (SMS e WhatsApp).")
    app.add_typer(export_app, name="export", help="Exportações para os sistemas federais.")
    app.add_typer(people_app, name="people", help="Cadastro de cidadãos (identificação, Portaria SAES art. 11).")
    app.add_typer(production_app, name="production", help="Produção: importação, controle e exportação APAC.")
    app.add_typer(programs_app, name="programs", help="Programas: PAR, incentivos e financiamento.")
    app.add_typer(ressarcimento_app, name="ressarcimento", help="Ressarcimento por operadoras: COR e sanções.")
    app.add_typer(simulation_app(report_html), name="simulate", help="Simulação de políticas (sem banco).")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Aplica as migrações até a versão mais recente."""
    settings = load_settings()
    with database(settings, upgrade=True):
        console.print("[green]Banco atualizado.[/]")


@db_app.command("settings")
def db_settings(
    memory_gb: Annotated[
        float | None, typer.Option(help="Memória do servidor do banco, em GB (padrão: a desta máquina)", min=0.25)
    ] = None,
    free_disk_gb: Annotated[
        float | None,
        typer.Option(help="Espaço livre no disco dos dados do banco, em GB (padrão: o de REGULA_HOME)", min=1),
    ] = None,
) -> None:
    """Mostra as configurações de memória e WAL do PostgreSQL dimensionadas para a máquina (para o postgresql.conf
    de um servidor externo; o servidor embutido já as aplica)."""
    from regula.db import server_settings as pg

    memory = int(memory_gb * pg.GiB) if memory_gb is not None else pg.machine_memory_bytes()
    disk = int(free_disk_gb * pg.GiB) if free_disk_gb is not None else pg.free_disk_bytes(load_settings().home)
    sys.stdout.write(
        f"# regula: PostgreSQL dimensionado para {memory / pg.GiB:.1f} GB de memória e {disk / pg.GiB:.0f} GB "
        "livres em disco\n" + pg.as_conf(pg.sized_settings(memory, disk))
    )


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Nome de usuário (minúsculas)")],
    role: Annotated[
        str, typer.Option(help="admin, gestor, regulador, navegador, solicitante, executante, auditor, teleconsultor")
    ],
    jurisdiction: Annotated[
        str, typer.Option(help="br, uf:SC, macro:4201, region:42001, municipality:4205407, cnes:…")
    ],
    full_name: Annotated[str | None, typer.Option(help="Nome completo")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Lê a senha da entrada padrão")] = False,
) -> None:
    """Cria um usuário com papel e jurisdição."""
    from regula.access import service
    from regula.audit.service import AuditContext, set_context

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Senha", hide_input=True, confirmation_prompt=True)
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> Any:
            set_context(session, AuditContext.system("cli", "regula users create"))
            return await service.create_user(
                session,
                username=username,
                full_name=full_name or username,
                role=role,
                jurisdiction=jurisdiction,
                password=password,
            )

        user = run_in_transaction(url, work)
    console.print(f"Usuário [bold]{user.username}[/] criado: {user.role} em {user.jurisdiction}.")


@users_app.command("list")
def users_list() -> None:
    """Lista os usuários."""
    from regula.access import repository

    settings = load_settings()
    with database(settings) as url:
        users = run_in_transaction(url, repository.list_users)
    table = Table("usuário", "nome", "papel", "jurisdição", "ativo")
    for u in users:
        table.add_row(u.username, u.full_name, u.role, u.jurisdiction, "sim" if u.is_active else "não")
    out.print(table)


def _set_active(username: str, active: bool) -> None:
    from regula.access import service
    from regula.audit.service import AuditContext, set_context

    command = f"regula users {'activate' if active else 'deactivate'}"
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> Any:
            set_context(session, AuditContext.system("cli", command))
            return await service.set_active(session, username, active)

        user = run_in_transaction(url, work)
    if active:
        console.print(f"Usuário [bold]{user.username}[/] reativado.")
    else:
        console.print(f"Usuário [bold]{user.username}[/] desativado: sessões encerradas e tokens revogados.")


@users_app.command("deactivate")
def users_deactivate(username: Annotated[str, typer.Option(help="Usuário a desativar")]) -> None:
    """Desativa um usuário: encerra as sessões e revoga os tokens (nada é apagado)."""
    _set_active(username, False)


@users_app.command("activate")
def users_activate(username: Annotated[str, typer.Option(help="Usuário a reativar")]) -> None:
    """Reativa um usuário desativado (os tokens revogados continuam revogados)."""
    _set_active(username, True)


@tokens_app.command("create")
def tokens_create(
    username: Annotated[str, typer.Option(help="Dono do token")],
    name: Annotated[str, typer.Option(help="Para que serve o token")] = "cli",
    days: Annotated[int, typer.Option(min=1, max=3650, help="Validade em dias")] = 90,
) -> None:
    """Cria um token de API; o token aparece sozinho na última linha e não é mostrado de novo."""
    from regula.access import service
    from regula.audit.service import AuditContext, set_context

    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> Any:
            set_context(session, AuditContext.system("cli", "regula tokens create"))
            return await service.create_token(session, username, name=name, days=days)

        token, secret = run_in_transaction(url, work)
    console.print(f"Token {token.prefix}… de {username}, válido até {token.expires_at:%d/%m/%Y}.")
    print(secret)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="Id do token")]) -> None:
    """Revoga um token."""
    from regula.access import service
    from regula.audit.service import AuditContext, set_context

    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> Any:
            set_context(session, AuditContext.system("cli", "regula tokens revoke"))
            return await service.revoke_token(session, token_id)

        run_in_transaction(url, work)
    console.print(f"Token {token_id} revogado.")


@app.command("seed")
def seed() -> None:
    """Carrega os dados de referência: municípios, regiões de saúde e o catálogo SIGTAP embarcado (2026-01)."""
    from regula.seed import load_reference_data

    settings = load_settings()
    with database(settings) as url:
        run_in_transaction(url, lambda s: load_reference_data(s, settings, console))


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Endereço")] = None,
    port: Annotated[int | None, typer.Option(help="Porta")] = None,
) -> None:
    """Inicia o aplicativo web."""
    from regula.notify.cli import with_webhook_token

    settings = load_settings()
    if settings.notify_channel == "console":  # no Twilio: replies are signed with the local key
        settings = with_webhook_token(settings)
    with database(settings) as url:
        _serve(settings, url, host or settings.host, port or settings.port)


def _serve(settings: Settings, url: str, host: str, port: int) -> None:
    import uvicorn

    from regula.cli.checks import check_production
    from regula.db.engine import make_database
    from regula.web.app import create_app

    check_production(settings, url)
    db = make_database(url, pool_size=settings.database_pool_size, application_name="regula-serve")
    application = create_app(settings, db.sessionmaker)
    application.on_shutdown.append(db.dispose)
    console.print(f"regula em [bold]http://{host}:{port}[/] (Ctrl+C para parar)")
    loop, http = fast_stack()
    # Proxy headers off: uvicorn would otherwise believe X-Forwarded-For from loopback. regula.http.client decides
    # whom to believe, from REGULA_TRUSTED_PROXIES.
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        loop=loop,
        http=http,
    )


def fast_stack() -> tuple[str, str]:
    """uvloop's event loop and httptools' HTTP parser, both dependencies of regula: cheaper per request than
    uvicorn's pure-Python h11 parser on asyncio (docs/benchmarks.md, issue 18 item 3). Named explicitly so a
    missing one is visible here rather than silently downgraded; a platform where they do not install (uvloop has
    no Windows build) gets uvicorn's defaults ("auto": asyncio, h11). Returns (loop, http) for ``uvicorn.run``."""
    loop = http = "auto"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass
    else:
        loop = "uvloop"
    try:
        import httptools  # noqa: F401
    except ImportError:
        pass
    else:
        http = "httptools"
    return loop, http


@app.command("demo")
def demo(
    host: Annotated[str | None, typer.Option(help="Endereço")] = None,
    port: Annotated[int | None, typer.Option(help="Porta")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Só prepara os dados")] = False,
) -> None:
    """Prepara a demonstração (banco embarcado, dados de referência, dados fictícios de SC, usuários) e inicia o
    aplicativo."""
    from regula.db.engine import owner_url
    from regula.demo import load_demo_data, summary_lines
    from regula.notify.cli import published_base_url, with_webhook_token
    from regula.seed import ensure_demo_users, load_reference_data

    settings = with_webhook_token(load_settings())
    host, port = host or settings.host, port or settings.port
    if "public_base_url" not in settings.model_fields_set:
        # Links in messages, Twilio's callbacks and the signature `regula notify reply` computes all use the
        # public base URL: in the demo it is where the demo serves.
        settings = settings.model_copy(update={"public_base_url": local_base_url(host, port)})
    with database(settings) as url:
        run_in_transaction(url, lambda s: load_reference_data(s, settings, console))
        # A bulk load, like a restore: as the schema's owner, which may skip per-row foreign-key checks.
        loader = owner_url(settings)
        demo_day = local_today(settings)  # one day for the data and its production, even across midnight
        summary = run_in_transaction(
            loader, lambda s: load_demo_data(s, settings, progress=console.print, today=demo_day)
        )
        for line in summary_lines(summary):
            console.print(line, markup=False, highlight=False)
        from regula.production.demo import seed_demo_production

        production = run_in_transaction(url, lambda s: seed_demo_production(s, settings, today=demo_day))
        for line in production.lines():
            console.print(line, markup=False, highlight=False)
        creds = run_in_transaction(url, lambda s: ensure_demo_users(s, settings))
        table = Table("usuário", "senha", "papel", "jurisdição", title="Usuários da demonstração")
        for c in creds:
            table.add_row(c.username, c.password, c.role, c.jurisdiction)
        out.print(table)
        console.print(f"As senhas também ficam em {settings.home / 'demo-credentials.txt'}")
        console.print(
            "Mensagens aos cidadãos: canal console (aparecem no registro de mensagens). Para simular uma resposta "
            "assinada: regula notify reply --from +55DDDNUMERO --body NÃO"
        )
        if not no_serve:
            # The scheduler is its own process, as in production (ARCHITECTURE.md, decision 8); it attaches to
            # the same embedded server and stops with the demo.
            scheduler = _start_scheduler_process(settings)
            try:
                with published_base_url(settings):
                    _serve(settings, url, host, port)
            finally:
                stop_child(scheduler)


def _start_scheduler_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    # In the demo the scheduler runs every job at start (positions, escalations, backfill, an allocation run for
    # Santa Catarina that an operator reviews and approves), then on its schedule.
    env.setdefault("REGULA_ALLOCATION_SCOPES", '["uf:SC"]')
    env["REGULA_HOME"] = str(settings.home)
    env["REGULA_PUBLIC_BASE_URL"] = settings.public_base_url
    console.print("Agendador iniciado em processo próprio (regula scheduler).")
    # It ends with the demo: SIGTERM from the demo's clean-up, from the kernel if the demo dies (even of SIGKILL,
    # else it would run on orphaned), or its own watch of the parent id.
    command = [sys.executable, "-m", "regula.cli.main", "scheduler", "--run-now", "--parent-pid", str(os.getpid())]
    return start_child(command, env)


def local_base_url(host: str, port: int) -> str:
    """The URL this machine reaches a server listening on ``host``:``port`` at."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - listening everywhere: reach it through loopback
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def main() -> None:
    # Every process regula starts audits its ORM writes (users, tokens, jobs' changes), not only the web app's.
    install_audit()
    install_length_limits()  # and refuses text longer than its column by name, as the web app does
    wire()  # and its status changes cause the same backfill, messages and tasks (regula.wiring)
    exit_on_sigterm()  # clean-up code (the embedded PostgreSQL's stop, child processes) runs on SIGTERM too
    _register_domain_clis()
    app()


if __name__ == "__main__":
    main()
