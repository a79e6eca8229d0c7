"""PostgreSQL sized to the machine (issue 18, "at the speed of the hardware"): the sizing rules, and the embedded
server really running with them (``docs/benchmarks.md``, "PostgreSQL sized to the machine", measures the effect)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from regula.db import server_settings
from regula.db.embedded import SIZED_CONF, EmbeddedPostgres, write_sized_conf

GiB = server_settings.GiB
MiB = server_settings.MiB


def test_a_24_gb_machine_with_room_on_disk() -> None:
    got = server_settings.sized_settings(24 * GiB, 200 * GiB)
    assert got == {
        "shared_buffers": "6144MB",
        "effective_cache_size": "12288MB",
        "maintenance_work_mem": "1024MB",
        "work_mem": "16MB",
        "max_wal_size": "8192MB",
        "min_wal_size": "1024MB",
        "checkpoint_timeout": "15min",
        "wal_compression": "on",
    }


def test_a_small_machine_never_gets_less_than_postgresql_ships() -> None:
    got = server_settings.sized_settings(256 * MiB, 2 * GiB)
    assert got["shared_buffers"] == "128MB"  # PostgreSQL's default, not a quarter of 256 MB
    assert got["effective_cache_size"] == "128MB"
    assert got["maintenance_work_mem"] == "64MB"
    assert got["work_mem"] == "4MB"
    assert got["max_wal_size"] == "1024MB"  # a twentieth of 2 GB would be below PostgreSQL's own default
    assert got["min_wal_size"] == "1024MB"


def test_a_large_machine_and_a_tight_disk_are_capped() -> None:
    got = server_settings.sized_settings(256 * GiB, 60 * GiB)
    assert got["shared_buffers"] == "8192MB"
    assert got["effective_cache_size"] == "131072MB"
    assert got["maintenance_work_mem"] == "1024MB"
    assert got["max_wal_size"] == "3072MB"  # a twentieth of the free disk


def test_odd_sizes_are_whole_megabytes() -> None:
    got = server_settings.sized_settings(3 * GiB + 12345, 41 * GiB + 777)
    for name in ("shared_buffers", "effective_cache_size", "maintenance_work_mem", "max_wal_size"):
        assert got[name].endswith("MB") and got[name][:-2].isdigit(), got[name]
    assert got["max_wal_size"] == "2048MB"  # whole gigabytes: the free disk changes by the minute


def test_the_include_line_is_written_once_and_the_file_only_when_it_changes(tmp_path: Path) -> None:
    (tmp_path / "postgresql.conf").write_text("# initdb's file\nport = 5432\n")
    sized = server_settings.sized_settings(8 * GiB, 100 * GiB)
    write_sized_conf(tmp_path, sized)
    write_sized_conf(tmp_path, sized)
    main = (tmp_path / "postgresql.conf").read_text()
    assert main.count(f"include_if_exists = '{SIZED_CONF}'") == 1
    assert main.startswith("# initdb's file\nport = 5432\n")
    written = (tmp_path / SIZED_CONF).read_text()
    assert "shared_buffers = '2048MB'\n" in written
    assert "wal_compression = 'on'\n" in written


async def _show(url: str, *names: str) -> dict[str, str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return {n: str((await conn.execute(text(f"SHOW {n}"))).scalar_one()) for n in names}
    finally:
        await engine.dispose()


async def _alter_work_mem(url: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("ALTER SYSTEM SET work_mem = '7MB'"))
            await conn.execute(text("SELECT pg_reload_conf()"))
    finally:
        await engine.dispose()


def test_the_embedded_server_runs_with_the_sized_settings_and_alter_system_still_wins() -> None:
    with tempfile.TemporaryDirectory(prefix="rgS", dir="/tmp") as tmp:
        pgdata = Path(tmp) / "pgdata"
        server = EmbeddedPostgres(pgdata)
        admin = server.start()
        try:
            expected = server_settings.for_this_machine(pgdata)
            # shared_buffers needs a restart: this process was the server's only user, so it restarted it.
            shown = asyncio.run(_show(admin, "shared_buffers", "max_wal_size", "wal_compression", "work_mem"))
            assert shown["shared_buffers"] == _pg_size(expected["shared_buffers"])
            assert shown["max_wal_size"] == _pg_size(expected["max_wal_size"])
            assert shown["wal_compression"] in ("on", "pglz")
            assert shown["work_mem"] == expected["work_mem"]

            asyncio.run(_alter_work_mem(admin))
            server.start()  # a second start (another regula process attaching) rewrites regula's file and reloads
            assert asyncio.run(_show(admin, "work_mem")) == {"work_mem": "7MB"}
        finally:
            server.stop()


def _pg_size(mb: str) -> str:
    """How SHOW prints a size given in MB: whole gigabytes as GB."""
    n = int(mb.removesuffix("MB"))
    return f"{n // 1024}GB" if n % 1024 == 0 else f"{n}MB"


def test_the_cli_prints_the_settings_for_a_named_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from regula.cli.main import app

    monkeypatch.setenv("REGULA_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["db", "settings", "--memory-gb", "32", "--free-disk-gb", "400"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "# regula: PostgreSQL dimensionado para 32.0 GB de memória e 400 GB livres em disco"
    assert lines[1:] == [f"{k} = '{v}'" for k, v in server_settings.sized_settings(32 * GiB, 400 * GiB).items()]
    assert "shared_buffers = '8192MB'" in lines
