"""Where the milliseconds of one request go (issue 18 item 3), run by hand::

    python -m benchmarks.profile_request [--requests 3000] [--path read|public|health]

Creates a scratch database (as ``benchmarks.bench_requests``), builds regula as ``regula serve`` does (JSON logs at
INFO, to /dev/null here) and calls it in-process through ``httpx.ASGITransport`` one request at a time under
cProfile: no network, no server, no load generator, so what remains is the app's own work per request. Prints the
functions with the most cumulative time, per request, and the wall time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import os
import pstats
import sys
import time
from collections.abc import Sequence

import httpx

from benchmarks.bench_requests import DEFAULT_SERVER, _lookups, _score, _user_and_token
from benchmarks.bench_waitlist import BenchDb, generate
from regula.config import Settings

DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - for the process's life


async def _drive(db: BenchDb, token: str, which: str, n: int, profile: bool, sort: str = "cumulative") -> None:
    from pydantic import SecretStr

    from regula.db.engine import make_database
    from regula.logs import configure_logging
    from regula.web.app import create_app

    settings = Settings(
        database_url=SecretStr(db.url),
        environment="test",
        log_level="INFO",
        log_json=True,
        trusted_proxies=["127.0.0.1"],
    )
    configure_logging(settings)
    # Formatted as in production, written nowhere: the profile keeps the logging's CPU, not the terminal's.
    logging.getLogger().handlers[0].stream = DEVNULL  # type: ignore[attr-defined]
    database = make_database(db.url, pool_size=4, application_name="regula-serve")
    app = create_app(settings, database.sessionmaker)
    try:  # the public answers remembered by a previous pass (decision 0026) would make every look-up a hit
        from regula.waitlist.public_answers import ANSWERS

        ANSWERS.clear()
    except ImportError:  # a tree from before the memory
        pass
    lookups = await _lookups(db.dsn)
    auth = {"authorization": f"Bearer {token}"}

    def request(i: int) -> tuple[str, dict[str, str]]:
        if which == "read":
            return f"/api/v1/entries/{1 + i % 1000}", auth
        if which == "public":
            protocol, birth = lookups[i]
            address = f"10.0.{i >> 8}.{i & 255}"
            return f"/public/position?protocol={protocol}&birth_date={birth}", {"x-forwarded-for": address}
        return "/health", {}

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://regula") as client:
        for i in range(200):  # warm-up
            path, headers = request(i)
            assert (await client.get(path, headers=headers)).status_code == 200
        profiler = cProfile.Profile()
        started = time.perf_counter()
        if profile:
            profiler.enable()
        for i in range(200, 200 + n):
            path, headers = request(i)
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text
        if profile:
            profiler.disable()
        wall = time.perf_counter() - started
    await database.dispose()
    print(f"{which}: {n} requests, {wall / n * 1000:.3f} ms each (wall{', profiled' if profile else ''})")
    if profile:
        if dump := os.environ.get("REGULA_PROFILE_DUMP"):  # the raw profile, for pstats' callers/callees
            profiler.dump_stats(dump)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(sort).print_stats(60)
        print(out.getvalue())


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_request")
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--path", default="read", choices=["read", "public", "health"])
    p.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"], help="order of the profile")
    p.add_argument("--server", default=os.environ.get("REGULA_BENCH_DATABASE_URL", DEFAULT_SERVER))
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    db = BenchDb.create(a.server)
    try:
        asyncio.run(generate(db, 5000, 2000))
        asyncio.run(_score(db))  # scored and ranked, as production entries are
        token = asyncio.run(_user_and_token(db))
        asyncio.run(_drive(db, token, a.path, a.requests, profile=False))
        asyncio.run(_drive(db, token, a.path, a.requests, profile=True, sort=a.sort))
    finally:
        db.drop()


if __name__ == "__main__":
    main()
