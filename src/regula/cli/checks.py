"""Refuse to run in production with settings that are only safe on a developer's machine.

``check_production`` is called by every long-running command (``regula serve``, ``regula demo``'s server,
``regula scheduler``, ``regula notify dispatch``) before it starts: in ``REGULA_ENVIRONMENT=production`` it stops
with a clear message and exit code 2 when

* ``REGULA_PUBLIC_BASE_URL`` is not https (session cookies would travel in clear, links in messages too), or
* the demo users still open with the passwords ``regula demo`` generated and wrote to
  ``$REGULA_HOME/demo-credentials.txt`` (anyone who read that file is an administrator).

There is no secret key to check: sessions and CSRF tokens are random values stored (hashed) in the database, so
nothing is signed with a key (the unused ``REGULA_SECRET_KEY`` setting was dropped).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from regula.cli_support.context import fail, run_in_transaction
from regula.config import Settings
from regula.seed import demo_passwords_in_use


def settings_problems(settings: Settings) -> list[str]:
    """What is wrong with ``settings`` for production (pure; empty outside production)."""
    if settings.environment != "production":
        return []
    problems: list[str] = []
    if not settings.public_base_url.lower().startswith("https://"):
        problems.append(f"REGULA_PUBLIC_BASE_URL deve usar https em produção (está {settings.public_base_url!r})")
    return problems


def check_production(settings: Settings, url: str) -> None:
    """Exit with a message (code 2, no traceback) when production runs with unsafe settings or demo passwords."""
    if settings.environment != "production":
        return
    problems = settings_problems(settings)

    async def demo_users(session: AsyncSession) -> list[str]:
        return await demo_passwords_in_use(session, settings)

    in_use = run_in_transaction(url, demo_users)
    if in_use:
        problems.append(
            "usuários da demonstração com as senhas de demo-credentials.txt: "
            f"{', '.join(in_use)} (troque as senhas ou desative-os com `regula users deactivate`)"
        )
    if problems:
        fail("Configuração insegura para produção: " + "; ".join(problems) + ".", "configuracao_de_producao")
