"""The command-line contract on a bare machine: REGULA_HOME pointing at an empty directory and no
REGULA_DATABASE_URL, so every command runs on the embedded PostgreSQL, as an installation would."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REGULA = [sys.executable, "-m", "regula.cli.main"]


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    # Short path: PostgreSQL's Unix socket lives in the data directory and must fit in 107 bytes.
    with tempfile.TemporaryDirectory(prefix="rg-", dir="/tmp") as tmp:
        yield Path(tmp)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGULA_")}
    return env | {"REGULA_HOME": str(home), "REGULA_LOG_JSON": "false"}


def run(home: Path, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - our own CLI
        [*REGULA, *args], input=stdin, capture_output=True, text=True, env=_env(home), timeout=300, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"regula {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


async def _audited_creations(home: Path) -> set[str]:
    import asyncpg

    conn = await asyncpg.connect(host=str(home / "pgdata"), user="postgres", database="regula")
    try:
        rows = await conn.fetch("SELECT DISTINCT entity_type FROM audit_event WHERE action = 'create'")
    finally:
        await conn.close()
    return {r["entity_type"] for r in rows}


def test_db_upgrade_on_empty_home(home: Path) -> None:
    run(home, "db", "upgrade")
    assert (home / "pgdata" / "PG_VERSION").is_file()


def test_import_sigtap_then_list_json_then_reimport_changes_nothing(home: Path) -> None:
    from regula.catalog.service import bundled_sigtap_zip

    run(home, "catalog", "import-sigtap", str(bundled_sigtap_zip()))
    listed = json.loads(run(home, "catalog", "list", "--json").stdout)
    assert len(listed) == 34
    oci = next(o for o in listed if o["code"] == "0901010014")
    assert oci["competencia"] == "202601"
    assert oci["max_days"] == 30
    assert {"code": "0204030030", "qty": 1} in oci["mandatory"]
    again = run(home, "catalog", "import-sigtap", str(bundled_sigtap_zip()))
    assert "nada mudou" in (again.stdout + again.stderr).lower()


def test_malformed_zip_is_refused_clearly(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"this is not a zip")
    result = run(home, "catalog", "import-sigtap", str(bad), check=False)
    assert result.returncode != 0
    assert "sigtap_zip_invalido" in result.stderr


def test_users_and_tokens_then_serve_answers_401_and_200(home: Path) -> None:
    run(
        home,
        "users",
        "create",
        "--username",
        "op.sc",
        "--role",
        "regulador",
        "--jurisdiction",
        "uf:SC",
        "--password-stdin",
        stdin="uma-senha-muito-boa\n",
    )
    bad = run(
        home,
        "users",
        "create",
        "--username",
        "x",
        "--role",
        "rei",
        "--jurisdiction",
        "uf:ZZ",
        "--password-stdin",
        stdin="curta\n",
        check=False,
    )
    assert bad.returncode != 0
    assert "papel_desconhecido" in bad.stderr
    token = run(home, "tokens", "create", "--username", "op.sc").stdout.strip().splitlines()[-1]
    assert token.startswith("rgl_")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603
        [*REGULA, "serve", "--port", str(port)], env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:  # noqa: S310
                    assert json.load(r)["status"] == "ok"
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"{base}/api/v1/me", timeout=5)  # noqa: S310
        assert denied.value.code == 401
        req = urllib.request.Request(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})  # noqa: S310
        with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310
            assert json.load(r)["jurisdiction"] == "uf:SC"
        # Writes made by CLI commands are audited as the web app's are (the user and the token created above).
        audited = asyncio.run(_audited_creations(home))
        assert {"User", "ApiToken"} <= audited
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
