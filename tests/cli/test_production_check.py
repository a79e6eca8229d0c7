"""In production, long-running commands refuse to start with an http public URL or with the demo's passwords."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from regula.cli.checks import check_production, settings_problems
from regula.cli_support.context import run_in_transaction
from regula.config import Settings

HTTPS = "https://regula.example.gov.br"


def test_settings_problems_only_in_production() -> None:
    assert settings_problems(Settings(environment="development", public_base_url="http://x")) == []
    assert settings_problems(Settings(environment="production", public_base_url=HTTPS)) == []
    (problem,) = settings_problems(Settings(environment="production", public_base_url="http://regula.local"))
    assert "REGULA_PUBLIC_BASE_URL" in problem and "https" in problem


def test_demo_passwords_block_production_until_changed(
    fresh_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from regula.access import service
    from regula.seed import DEMO_USERS, ensure_demo_users

    settings = Settings(
        home=tmp_path, database_url=SecretStr(fresh_database_url), environment="production", public_base_url=HTTPS
    )
    check_production(settings, fresh_database_url)  # nothing of the demo here: starts

    run_in_transaction(fresh_database_url, lambda s: ensure_demo_users(s, settings))
    with pytest.raises(typer.Exit) as stopped:
        check_production(settings, fresh_database_url)
    assert stopped.value.exit_code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "demo-credentials.txt" in message and "admin" in message
    # Outside production the demo is the point.
    check_production(settings.model_copy(update={"environment": "development"}), fresh_database_url)

    async def secure(session: AsyncSession) -> None:
        for username, *_ in DEMO_USERS:
            await service.set_active(session, username, False)

    run_in_transaction(fresh_database_url, secure)
    check_production(settings, fresh_database_url)


@pytest.mark.parametrize("command", [["serve"], ["scheduler"], ["notify", "dispatch", "--once"]])
def test_long_running_commands_refuse_http_in_production(fresh_database_url: str, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGULA_")} | {
        "REGULA_DATABASE_URL": fresh_database_url,
        "REGULA_ENVIRONMENT": "production",
        "REGULA_PUBLIC_BASE_URL": "http://regula.example.gov.br",
        "REGULA_LOG_JSON": "false",
    }
    result = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "regula.cli.main", *command], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert "REGULA_PUBLIC_BASE_URL deve usar https" in " ".join(result.stderr.split())  # rich wraps lines
    assert "Traceback" not in result.stderr + result.stdout
