"""The cost of finding who sends a request (issue 18 item 3): ``web.guards._resolve`` for an API token and for a
session cookie, against a real database, in-process, per call.

Every signed-in request pays it before its handler runs, so it is a floor under every authenticated answer. The
benchmark creates a scratch database (migrated), a user with an API token and a web session, then calls the
look-up ``--calls`` times per run, ``--runs`` runs, and reports the median CPU (``time.process_time``) and wall
milliseconds per call. ``--tree`` (repeatable) names checkouts to measure, each in a child process importing
regula from that tree's ``src`` (e.g. a ``git worktree`` of the code before a change); the trees alternate run by
run, so a before and an after share the machine's moment. Without ``--tree`` the current checkout is measured.

    .venv/bin/python -m benchmarks.bench_principal --tree /tmp/before --tree . --runs 5

Figures go to ``docs/benchmarks.md`` by hand, with the date, the machine and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.bench_waitlist import BenchDb, machine

ROOT = Path(__file__).parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _credentials(db: BenchDb) -> tuple[str, str]:
    """A user's API token (the request benchmark's user) and a web-session cookie secret of the same user."""
    from datetime import timedelta

    from benchmarks.bench_requests import BENCH_USERNAME, _user_and_token
    from regula.access import repository, service
    from regula.db.engine import make_database

    token = await _user_and_token(db)
    database = make_database(db.url, pool_size=1)
    try:
        async with database.transaction() as session:
            user = await repository.user_by_username(session, BENCH_USERNAME)
            assert user is not None
            _web, cookie = await service.open_session(
                session, user, max_age=timedelta(hours=8), ip="127.0.0.1", user_agent="bench"
            )
    finally:
        await database.dispose()
    return token, cookie


async def _measure(url: str, token: str, cookie: str, calls: int) -> dict[str, float]:
    """One run in this process: per-call CPU and wall ms of the token and the cookie look-ups."""
    from litestar.datastructures import State

    from regula.config import Settings
    from regula.db.engine import make_database
    from regula.http.state import SESSIONMAKER_KEY, SETTINGS_KEY
    from regula.web import guards

    database = make_database(url, pool_size=2, application_name="bench-principal")
    state = State({SESSIONMAKER_KEY: database.sessionmaker, SETTINGS_KEY: Settings()})
    connection: Any = SimpleNamespace(app=SimpleNamespace(state=state))
    out: dict[str, float] = {}
    try:
        for kind, kwargs in (("token", {"token": token}), ("cookie", {"cookie": cookie})):
            for _ in range(min(calls, 200)):  # warm: the pool's connections, the statement caches
                assert await guards._resolve(connection, **kwargs) is not None
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                await guards._resolve(connection, **kwargs)
            out[f"{kind}_cpu_ms"] = (time.process_time() - cpu) / calls * 1e3
            out[f"{kind}_wall_ms"] = (time.perf_counter() - wall) / calls * 1e3
    finally:
        await database.dispose()
    return out


def _child(tree: Path, url: str, token: str, cookie: str, calls: int) -> dict[str, float]:
    env = os.environ | {"PYTHONPATH": os.pathsep.join((str(tree / "src"), str(ROOT)))}
    code = (
        "import asyncio, json, sys; from benchmarks.bench_principal import _measure; "
        "print(json.dumps(asyncio.run(_measure(*sys.argv[1:4], int(sys.argv[4])))))"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, url, token, cookie, str(calls)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_principal", description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", action="append", type=Path, default=None, help="a checkout to measure (repeatable)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--calls", type=int, default=2000, help="look-ups per run and kind")
    p.add_argument("--server", default=os.environ.get("REGULA_BENCH_DATABASE_URL", DEFAULT_SERVER))
    a = p.parse_args()
    trees = [t.resolve() for t in (a.tree or [ROOT])]
    db = BenchDb.create(a.server)
    try:
        token, cookie = asyncio.run(_credentials(db))
        results: dict[str, Any] = {"machine": asyncio.run(machine(db)), "load_start": os.getloadavg()}
        runs: dict[str, list[dict[str, float]]] = {str(t): [] for t in trees}
        for _ in range(a.runs):
            for tree in trees:
                runs[str(tree)].append(_child(tree, db.url, token, cookie, a.calls))
        results["load_end"] = os.getloadavg()
        results["median"] = {
            tree: {k: round(statistics.median(r[k] for r in rs), 3) for k in rs[0]} for tree, rs in runs.items()
        }
        results["runs"] = runs
        print(json.dumps(results, indent=1))
    finally:
        db.drop()


if __name__ == "__main__":
    main()
