"""Processes end together (issue 11, item 13): ``regula demo`` and the scheduler it starts, and the embedded
PostgreSQL they share, all stop on SIGTERM; a scheduler whose parent is killed stops too, and the server with it.

These run the real process tree on a bare REGULA_HOME (embedded PostgreSQL), as an installation would; the demo
loads its reference and demonstration data first (about 15 s on an idle machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from regula.cli_support.processes import watch_parent

REGULA = [sys.executable, "-m", "regula.cli.main"]
STARTUP_SECONDS = 300  # data load on a busy CI machine
STOP_SECONDS = 30  # the bound


def _postmaster(home: Path) -> psutil.Process | None:
    pidfile = home / "pgdata" / "postmaster.pid"
    try:
        return psutil.Process(int(pidfile.read_text().split()[0]))
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
        return None


@pytest.fixture
def home() -> Iterator[Path]:
    # Short path: PostgreSQL's Unix socket lives in the data directory and must fit in 107 bytes.
    with tempfile.TemporaryDirectory(prefix="rgP", dir="/tmp") as tmp:
        path = Path(tmp)
        try:
            yield path
        finally:
            # Whatever the test left behind must not outlive it (nor its deleted data folder).
            left = [p for p in psutil.process_iter(["cmdline"]) if str(path) in " ".join(p.info["cmdline"] or [])]
            for proc in left:
                with contextlib.suppress(psutil.Error):
                    proc.kill()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGULA_")}
    return env | {"REGULA_HOME": str(home), "REGULA_LOG_JSON": "false"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(what: str, check: Callable[[], object], alive: subprocess.Popen[bytes], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        if alive.poll() is not None:
            raise AssertionError(f"the process exited ({alive.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _connections(home: Path) -> set[tuple[str, str]]:
    """(user, application_name) of the connections to database regula, read as the server's superuser."""
    import asyncpg

    async def read() -> set[tuple[str, str]]:
        conn = await asyncpg.connect(host=str(home / "pgdata"), user="postgres", database="regula")
        try:
            rows = await conn.fetch(
                "SELECT usename, application_name FROM pg_stat_activity WHERE datname = 'regula' AND pid <> "
                "pg_backend_pid()"
            )
            return {(r["usename"], r["application_name"]) for r in rows}
        finally:
            await conn.close()

    try:
        return asyncio.run(read())
    except (OSError, asyncpg.PostgresError):
        return set()


def _children(parent: subprocess.Popen[bytes], word: str) -> list[psutil.Process]:
    return [c for c in psutil.Process(parent.pid).children() if word in " ".join(c.cmdline())]


def test_sigterm_stops_the_demo_its_scheduler_and_postgres_within_30_s(home: Path) -> None:
    port = _free_port()
    with (home / "demo.log").open("wb") as log:
        demo = subprocess.Popen([*REGULA, "demo", "--port", str(port)], env=_env(home), stdout=log, stderr=log)  # noqa: S603
    try:

        def healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return bool(json.load(r)["status"] == "ok")

        _wait_for("the demo to answer", healthy, demo, STARTUP_SECONDS)
        scheduler = _wait_for("the scheduler process", lambda: _children(demo, "scheduler"), demo, 60)
        assert isinstance(scheduler, list)
        postgres = _postmaster(home)
        assert postgres is not None

        # Every process names itself, and connects as the app role, not as the owner or a superuser.
        def both_connected() -> bool:
            return {("regula_app", "regula-serve"), ("regula_app", "regula-scheduler")} <= _connections(home)

        _wait_for("the web app's and the scheduler's connections", both_connected, demo, 120)

        # --port also moved the public base URL: a reply signed by `regula notify reply` (run from another shell,
        # without REGULA_PUBLIC_BASE_URL) reaches this demo and passes its signature check.
        reply = subprocess.run(  # noqa: S603
            [*REGULA, "notify", "reply", "--from", "+5548999990000", "--body", "NÃO"],
            env=_env(home),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert reply.returncode == 0, reply.stdout + reply.stderr  # non-zero on a refused signature (403)

        started = time.monotonic()
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=STOP_SECONDS)
        _, alive = psutil.wait_procs(
            [*scheduler, postgres], timeout=max(0.1, STOP_SECONDS - (time.monotonic() - started))
        )
        assert not alive, f"still running {STOP_SECONDS} s after SIGTERM: {alive}"
        assert demo.returncode == 128 + signal.SIGTERM
        assert not (home / "demo-public-base-url").exists()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


PARENT = """
import time
from regula.cli_support.context import database, load_settings
from regula.cli.main import _start_scheduler_process

settings = load_settings()
with database(settings):
    child = _start_scheduler_process(settings)
    print(child.pid, flush=True)
    time.sleep(600)
"""


def test_a_scheduler_whose_parent_is_killed_stops_and_so_does_postgres(home: Path) -> None:
    parent = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", PARENT], env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert parent.stdout is not None
        scheduler = psutil.Process(int(parent.stdout.readline()))
        _wait_for(
            "the scheduler to connect", lambda: ("regula_app", "regula-scheduler") in _connections(home), parent, 120
        )
        postgres = _postmaster(home)
        assert postgres is not None

        parent.kill()  # SIGKILL: no clean-up code runs in the parent
        parent.wait()
        _, alive = psutil.wait_procs([scheduler, postgres], timeout=STOP_SECONDS)
        # The scheduler got SIGTERM from the kernel and stopped cleanly; it was the last living process attached to
        # the embedded server (the dead parent is forgotten), so it stopped the server too.
        assert not alive, f"still running {STOP_SECONDS} s after the parent was killed: {alive}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


async def test_watch_parent_stops_an_orphan_and_only_an_orphan() -> None:
    stop = asyncio.Event()
    # This process's parent is not itself: as seen from an orphan, the recorded parent is gone.
    await asyncio.wait_for(watch_parent(os.getpid(), stop, interval=0.01), timeout=5)
    assert stop.is_set()

    stop = asyncio.Event()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(watch_parent(os.getppid(), stop, interval=0.01), timeout=0.2)
    assert not stop.is_set()


WORKER_PARENT = """
import os, time
from regula.cli_support.processes import worker_pool

if __name__ == "__main__":
    pool = worker_pool()
    print(pool.submit(os.getpid).result(timeout=120), flush=True)
    pool.submit(time.sleep, 600)  # a long solve in progress
    time.sleep(600)
"""


def test_the_jobs_process_workers_end_when_it_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "jobs_process.py"  # a file: spawned workers re-import their parent's __main__
    script.write_text(WORKER_PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)  # noqa: S603
    try:
        assert parent.stdout is not None
        worker = psutil.Process(int(parent.stdout.readline()))
        assert worker.ppid() == parent.pid and worker.is_running()
        parent.kill()  # SIGKILL: no clean-up code runs in the parent
        parent.wait()
        _, alive = psutil.wait_procs([worker], timeout=STOP_SECONDS)
        assert not alive, "the solver's worker process outlived the jobs process"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_stop_workers_ends_a_solve_in_progress_at_once() -> None:
    from regula.cli_support.processes import stop_workers, worker_pool

    pool = worker_pool()
    worker = psutil.Process(pool.submit(os.getpid).result(timeout=120))
    pool.submit(time.sleep, 600)
    started = time.monotonic()
    stop_workers(pool)
    assert time.monotonic() - started < 10
    _, alive = psutil.wait_procs([worker], timeout=5)
    assert not alive
