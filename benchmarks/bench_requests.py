"""The cost of one request against the framework's own (issue 18 item 3), run by hand (never by pytest)::

    python -m benchmarks.bench_requests --workers 1,2 --runs 3

Creates ``regula_bench_<random>`` on the server of ``REGULA_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it, loads the territory, the SIGTAP catalog and
``--entries`` waiting entries (``benchmarks.bench_waitlist.generate``), creates a ``regulador`` of SC with an API
token, and drops the database at the end. For each worker count it starts, in their own process groups (killed in
``finally``):

* the baseline: a bare Litestar app (``bare_app``: one JSON route, no middleware, no database) under the same
  uvicorn stack (``--loop uvloop --http httptools``, as ``regula serve`` runs);
* regula: ``create_app`` built as ``regula serve`` builds it (JSON logs at INFO to a file, the request log on), with
  ``REGULA_TRUSTED_PROXIES=127.0.0.1`` so the load generator can speak for many client addresses through
  ``X-Forwarded-For`` (the public look-up's rate limit stays on, keyed on those addresses).

The load generator is an asyncio + aiohttp client (uvloop, keep-alive connections) in its own process on the same
2-core machine. Two modes: *closed loop* (``--connections`` connections, each sending its next request when the
previous answer arrives, for ``--seconds``: the maximum throughput and its latencies) and *open loop* (request i
is due at start + i / rate whatever happened to the others, latency counted from the due time).

Measured, per worker count, ``--runs`` times, alternating baseline and regula:

(a) ``health``: ``GET /health`` open loop at ``--health-rate`` (p50 / p99), beside the bare app's route at the same
    rate. Target ≤ 2 ms. With ``--only-health`` also the floor below the framework (``raw_app``: a bare ASGI
    callable, no routing), at the same rate, alternated with the other two.
(b) ``read``: ``GET /api/v1/entries/{id}`` with the token (authenticated, audited: one ``read`` audit row per
    answer, counted in the database afterwards), closed loop: req/s. Target ≥ 1,000 req/s. Beside it: the bare
    app's closed-loop req/s. Where its CPU went (``cpu_per_request``): milliseconds per answer used by the app's
    processes, by PostgreSQL's, by the rest of the machine (mostly the load generator), and in all.
(c) ``public``: ``GET /public/position`` open loop at ``--public-rate`` (1,000/s), every request a different
    protocol (with its birth date) from a different address, so the rate limit is checked on every request and
    refuses none, and no answer can come from a cache of a previous one. Target p99 ≤ 20 ms on 2 workers.
    ``--only-health`` measures (a) alone.

(d) ``public_repeat``: the same at the same rate, but each protocol asked ``--public-repeat`` times (4 by
    default, inside the per-protocol limit of 5) within about a second, every time from a new address: what the
    per-process memory of found answers (decision 0026) gives a citizen reloading the page. With N workers a
    repeat reaches the worker that remembers the answer only some of the time.

Everything runs on a private copy of ``src/`` and ``migrations/`` taken at the start; ``BENCH_REQUESTS_TREE`` names
another checkout to copy (e.g. a ``git worktree`` of the code before a change), so both trees are measured by the
same harness. Figures go to ``docs/benchmarks.md`` by hand, with the date, the machine and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from litestar import Litestar, get

from benchmarks.bench_waitlist import BenchDb, generate, machine
from regula.config import Settings

ROOT = Path(__file__).parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
STACK = ["--loop", "uvloop", "--http", "httptools"]
BENCH_USERNAME = "bench.regulador"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 2) if values else float("nan")


# -- the apps -------------------------------------------------------------------------------------------------------


@get("/health", sync_to_thread=False)
def bare_health() -> dict[str, str]:
    return {"status": "ok"}


def bare_app() -> Litestar:
    """The framework's own floor: one JSON route, no middleware, no database, no logging."""
    return Litestar(route_handlers=[bare_health], debug=False, logging_config=None)


_RAW_BODY = json.dumps({"status": "ok"}).encode()
_RAW_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_RAW_BODY)).encode())]


async def _raw_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": _RAW_HEADERS})
    await send({"type": "http.response.body", "body": _RAW_BODY})


def raw_app() -> Any:
    """The server's own floor, below any framework: a bare ASGI callable answering every request with the same
    fixed JSON (no routing, no request object). What no application code served by uvicorn can beat here."""
    return _raw_asgi


def regula_app() -> Litestar:
    """regula as ``regula serve`` builds it (``regula.cli.main._serve``), from ``REGULA_*`` in the environment:
    ``uvicorn benchmarks.bench_requests:regula_app --factory --workers N``."""
    from regula.db.engine import make_database
    from regula.logs import configure_logging
    from regula.web.app import create_app

    settings = Settings()
    configure_logging(settings)
    assert settings.database_url is not None
    db = make_database(
        settings.database_url.get_secret_value(), pool_size=settings.database_pool_size, application_name="regula-serve"
    )
    app = create_app(settings, db.sessionmaker)
    app.on_shutdown.append(db.dispose)
    return app


class Server:
    """A uvicorn process group, ended when the benchmark ends (``stop`` in ``finally``)."""

    def __init__(self, target: str, port: int, workers: int, env: dict[str, str], log: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.cmd = [sys.executable, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", str(workers), *STACK, "--log-level", "warning", "--no-access-log"]  # fmt: skip
        self.log = log.open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            self.cmd, env=env, cwd=ROOT, stdout=self.log, stderr=self.log, start_new_session=True
        )

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.cmd} exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.cmd} did not become healthy")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


# -- the load generator (its own process) -----------------------------------------------------------------------------


def _summary(latencies: list[float], statuses: dict[str, int], elapsed: float) -> dict[str, Any]:
    lat = sorted(x * 1000 for x in latencies)
    n = len(lat)

    def pct(p: float) -> float:
        return round(lat[min(n - 1, int(p / 100 * n))], 2) if n else float("nan")

    return {
        "requests": n,
        "statuses": statuses,
        "rps": round(n / elapsed, 1),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": round(lat[-1], 2) if n else float("nan"),
    }


async def _closed(base: str, requests: list[dict[str, Any]], connections: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    answered: dict[str, int] = {}  # warm-up included: every answer the server gave (the audit check counts them)
    counter = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def worker(stop: float, record: bool) -> None:
            while loop.time() < stop:
                spec = requests[next(counter) % len(requests)]
                started = time.perf_counter()
                try:
                    async with http.get(spec["path"], headers=spec.get("headers")) as response:
                        await response.read()
                        key = str(response.status)
                except Exception as exc:
                    key = type(exc).__name__
                answered[key] = answered.get(key, 0) + 1
                if record:
                    latencies.append(time.perf_counter() - started)
                    statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*(worker(loop.time() + 1.0, False) for _ in range(connections)))  # warm connections
        start = time.perf_counter()
        stop = loop.time() + seconds
        await asyncio.gather(*(worker(stop, True) for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return _summary(latencies, statuses, elapsed) | {"answered": answered}


async def _open(base: str, requests: list[dict[str, Any]], rate: float, seconds: float) -> dict[str, Any]:
    import aiohttp

    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=1024)
    async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def one(spec: dict[str, Any], due: float) -> None:
            try:
                async with http.get(spec["path"], headers=spec.get("headers")) as response:
                    await response.read()
                    key = str(response.status)
            except Exception as exc:
                key = type(exc).__name__
            latencies.append(time.perf_counter() - due)
            statuses[key] = statuses.get(key, 0) + 1

        start = time.perf_counter() + 0.05
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(requests[i % len(requests)], due)))
        send_lag = time.perf_counter() - (start + (total - 1) / rate)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    out = _summary(latencies, statuses, elapsed)
    out["target_rate"] = rate
    out["send_lag_s"] = round(send_lag, 3)
    return out


def _client_main(argv: Sequence[str]) -> None:
    import uvloop

    p = argparse.ArgumentParser(prog="bench_requests client")
    p.add_argument("--plan", required=True, type=Path)
    a = p.parse_args(argv)
    plan = json.loads(a.plan.read_text())
    if plan["mode"] == "closed":
        coro = _closed(plan["base"], plan["requests"], plan["connections"], plan["seconds"])
    else:
        coro = _open(plan["base"], plan["requests"], plan["rate"], plan["seconds"])
    print(json.dumps(uvloop.run(coro)), flush=True)


def drive(plan_file: Path, **plan: Any) -> dict[str, Any]:
    plan_file.write_text(json.dumps(plan))
    cmd = [sys.executable, "-m", "benchmarks.bench_requests", "client", "--plan", str(plan_file)]
    load_before = _load()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S603
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = f"{load_before} → {_load()}"
    return result


# -- data -------------------------------------------------------------------------------------------------------------


async def _user_and_token(db: BenchDb) -> str:
    from regula.access import service as access
    from regula.db.engine import make_database

    database = make_database(db.url, pool_size=1)
    try:
        async with database.transaction() as session:
            await access.create_user(
                session,
                username=BENCH_USERNAME,
                full_name="Regulador do Benchmark",
                role="regulador",
                jurisdiction="uf:SC",
                password="benchmark-senha-longa-1",  # noqa: S106 - a scratch database
            )
            _token, secret = await access.create_token(session, BENCH_USERNAME, name="bench")
    finally:
        await database.dispose()
    return secret


async def _score(db: BenchDb) -> None:
    """Score and rank every entry, as the nightly refresh does: the record read then shows a score, its explanation
    and a position, as it does for every waiting entry in production."""
    from regula.db.engine import make_database
    from regula.waitlist.refresh import refresh_all

    database = make_database(db.url, pool_size=1)
    try:
        async with database.transaction() as session:
            await refresh_all(session, db.settings())
    finally:
        await database.dispose()


async def _count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def _lookups(dsn: str, seed: int = 18) -> list[tuple[str, str]]:
    """Every entry's protocol and its citizen's birth date, shuffled: the public look-ups' arguments."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT e.protocol, c.birth_date FROM waitlist_entry e JOIN citizen c ON c.id = e.citizen_id "
            "ORDER BY md5(e.id::text || $1)",
            str(seed),
        )
    finally:
        await conn.close()
    return [(r["protocol"], r["birth_date"].isoformat()) for r in rows]


NAMES = ("raw_health", "bare_health", "health", "bare_max", "read", "public", "public_repeat")
READS_SQL = "SELECT count(*) FROM audit_event WHERE action = 'read' AND entity_type = 'WaitlistEntry'"


# -- main -------------------------------------------------------------------------------------------------------------


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by each process group and by PostgreSQL's processes, and the machine's busy time:
    taken around a run, it says where that run's CPU went (the app, the database, the rest: the load generator)."""
    by_group: dict[str, float] = {"postgres": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # utime + stime, and cutime + cstime: the CPU of children that ended and were waited for. PostgreSQL's
        # backends end with their connections and the postmaster reaps them, so without the children's time a
        # backend that ended during a run took its CPU out of the sum (the split came out negative).
        used = sum(int(x) for x in fields[11:15]) / TICK
        if comm == "postgres" or comm.startswith("postgres:"):
            by_group["postgres"] += used
        else:
            group = f"pgrp_{fields[2]}"
            by_group[group] = by_group.get(group, 0.0) + used
    cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    idle = int(cpu[3]) + int(cpu[4])
    by_group["busy"] = (sum(int(x) for x in cpu[:8]) - idle) / TICK
    return by_group


def _cpu_split(before: dict[str, float], after: dict[str, float], app_pgid: int, answers: int) -> dict[str, float]:
    """Milliseconds of CPU per answered request: the app's workers, PostgreSQL, everything else (mostly the load
    generator), and the machine's total."""
    app = after.get(f"pgrp_{app_pgid}", 0.0) - before.get(f"pgrp_{app_pgid}", 0.0)
    database = after["postgres"] - before["postgres"]
    busy = after["busy"] - before["busy"]
    per = 1000 / max(answers, 1)
    return {
        "app_ms": round(app * per, 3),
        "postgres_ms": round(database * per, 3),
        "other_ms": round((busy - app - database) * per, 3),
        "machine_ms": round(busy * per, 3),
    }


def _address(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def _repeated(pool: list[dict[str, Any]], times: int, n: int, first_address: int) -> list[dict[str, Any]]:
    """``n`` look-ups of the protocols of ``pool``, each ``times`` times: in blocks of 8 protocols, each block's
    protocols interleaved (the same protocol every 8th request, 8 ms apart at 1,000/s), every request from a new
    address (the per-address limit refuses none)."""
    out: list[dict[str, Any]] = []
    for j in range(n):
        k = (j // (8 * times)) * 8 + j % 8
        if k < len(pool):
            out.append({"path": pool[k]["path"], "headers": {"x-forwarded-for": _address(first_address + j)}})
    return out


def run(a: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"date": date.today().isoformat(), "args": {k: str(v) for k, v in vars(a).items()}}
    db = BenchDb.create(a.server)
    print(f"database {db.name}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-requests-"))
    plan = tmp / "plan.json"
    servers: list[Server] = []
    try:
        results["machine"] = asyncio.run(machine(db)) | {"load_start": _load()}
        print(json.dumps(results["machine"]), flush=True)
        gen = asyncio.run(generate(db, a.entries, max(a.entries // 3, 1), stored_explanation=a.stored_explanation))
        asyncio.run(_score(db))
        token = asyncio.run(_user_and_token(db))
        print(f"data: {gen.entries} entries in {gen.seconds:.1f} s; logs in {tmp}", flush=True)
        auth = {"authorization": f"Bearer {token}"}
        reads = [{"path": f"/api/v1/entries/{i}", "headers": auth} for i in range(1, min(gen.entries, 5000) + 1)]
        public = [
            {
                "path": f"/public/position?protocol={p}&birth_date={b}",
                "headers": {"x-forwarded-for": _address(i)},
            }
            for i, (p, b) in enumerate(asyncio.run(_lookups(db.dsn)))
        ]
        health = [{"path": "/health"}]
        env = os.environ | {
            "REGULA_DATABASE_URL": db.url,
            "REGULA_ENVIRONMENT": "test",
            "REGULA_LOG_LEVEL": "INFO",
            "REGULA_LOG_JSON": "true",
            "REGULA_TRUSTED_PROXIES": '["127.0.0.1"]',
            "REGULA_DATABASE_POOL_SIZE": str(a.pool_size),
        }
        for workers in a.workers:
            key = f"workers_{workers}"
            out: dict[str, Any] = {name: [] for name in NAMES}
            results[key] = out
            bare = Server("benchmarks.bench_requests:bare_app", a.port, workers, env, tmp / f"bare-{workers}.log")
            servers.append(bare)
            raw = None
            if a.only_health:
                raw = Server("benchmarks.bench_requests:raw_app", a.port + 2, workers, env, tmp / f"raw-{workers}.log")
                servers.append(raw)
                raw.wait_healthy()
            app = Server("benchmarks.bench_requests:regula_app", a.port + 1, workers, env, tmp / f"app-{workers}.log")
            servers.append(app)
            bare.wait_healthy()
            app.wait_healthy()
            out["command"] = " ".join(app.cmd[1:])
            # Warm-up of both (pools, prepared statements, imports on first use), not counted.
            drive(plan, mode="closed", base=app.base, requests=reads, connections=a.connections, seconds=3)
            drive(plan, mode="open", base=app.base, requests=public[-2000:], rate=500, seconds=2)
            drive(plan, mode="closed", base=bare.base, requests=health, connections=a.connections, seconds=2)
            if raw is not None:
                drive(plan, mode="closed", base=raw.base, requests=health, connections=a.connections, seconds=2)
            cursor = 0  # each public run takes fresh protocols: every one is looked up once in the whole benchmark
            for i in range(a.runs):
                if raw is not None:
                    r = drive(plan, mode="open", base=raw.base, requests=health, rate=a.health_rate, seconds=a.seconds)
                    out["raw_health"].append(r)
                r = drive(plan, mode="open", base=bare.base, requests=health, rate=a.health_rate, seconds=a.seconds)
                out["bare_health"].append(r)
                r = drive(plan, mode="open", base=app.base, requests=health, rate=a.health_rate, seconds=a.seconds)
                out["health"].append(r)
                if a.only_health:
                    for name in ("raw_health", "bare_health", "health"):
                        print(f"  {workers}w run {i + 1} {name}: {out[name][-1]}", flush=True)
                    continue
                r = drive(
                    plan, mode="closed", base=bare.base, requests=health, connections=a.connections, seconds=a.seconds
                )
                out["bare_max"].append(r)
                before = asyncio.run(_count(db.dsn, READS_SQL))
                cpu_before = _cpu_seconds()
                r = drive(
                    plan, mode="closed", base=app.base, requests=reads, connections=a.connections, seconds=a.seconds
                )
                answers = sum(r["answered"].values())
                r["cpu_per_request"] = _cpu_split(cpu_before, _cpu_seconds(), app.process.pid, answers)
                r["audit_rows"] = asyncio.run(_count(db.dsn, READS_SQL)) - before
                r["audit_complete"] = r["audit_rows"] == r["answered"].get("200", -1)
                out["read"].append(r)
                n = int(a.public_rate * a.seconds)
                chunk = public[cursor : cursor + n]
                cursor += n
                if len(chunk) < n:
                    raise SystemExit(f"--entries too small for {a.runs} public runs of {n} distinct protocols")
                r = drive(plan, mode="open", base=app.base, requests=chunk, rate=a.public_rate, seconds=a.seconds)
                out["public"].append(r)
                # Fresh protocols again, each asked ``public_repeat`` times in a row of nearby requests.
                distinct = n // a.public_repeat + 1
                pool = public[cursor : cursor + distinct]
                cursor += distinct
                if len(pool) < distinct:
                    raise SystemExit("--entries too small for the repeated public runs")
                repeated = _repeated(pool, a.public_repeat, n, first_address=10**6 + cursor * 8)
                r = drive(plan, mode="open", base=app.base, requests=repeated, rate=a.public_rate, seconds=a.seconds)
                out["public_repeat"].append(r)
                for name in NAMES:
                    print(f"  {workers}w run {i + 1} {name}: {out[name][-1]}", flush=True)
            out["median"] = {
                name: {k: _median([r[k] for r in out[name]]) for k in ("rps", "p50_ms", "p99_ms")}
                for name in NAMES
                if out[name]
            }
            if not a.only_health:
                out["audit_complete"] = all(r["audit_complete"] for r in out["read"])
                out["public_all_200"] = all(set(r["statuses"]) == {"200"} for r in out["public"] + out["public_repeat"])
            print(f"  {workers}w medians: {json.dumps(out['median'])}", flush=True)
            app.stop()
            bare.stop()
            if raw is not None:
                raw.stop()
    finally:
        for server in servers:
            server.stop()
        db.drop()
        print(f"dropped {db.name}", flush=True)
    results["machine"]["load_end"] = _load()
    return results


def _snapshot(tree: Path) -> Path:
    """A private copy of ``src/`` and ``migrations/`` (the checkout is shared and may change during a run)."""
    snap = Path(tempfile.mkdtemp(prefix="bench-requests-code-"))
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(tree / "src", snap / "src", ignore=skip)
    shutil.copytree(tree / "migrations", snap / "migrations", ignore=skip)
    return snap


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["client"]:
        _client_main(args[1:])
        return
    if "BENCH_REQUESTS_CODE" not in os.environ:
        # Re-run on a snapshot of the code: this process, the servers and the client all import regula from it.
        tree = Path(os.environ.get("BENCH_REQUESTS_TREE", str(ROOT)))
        snap = _snapshot(tree)
        pythonpath = os.pathsep.join(p for p in (str(snap / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env = os.environ | {"BENCH_REQUESTS_CODE": str(snap), "PYTHONPATH": pythonpath}
        print(f"code snapshot of {tree} in {snap}", flush=True)
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks.bench_requests", *args], env)  # noqa: S606
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_requests", description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0, help="length of each measured run")
    p.add_argument("--entries", type=lambda s: int(float(s)), default=60_000)
    p.add_argument("--connections", type=int, default=32, help="closed-loop connections")
    p.add_argument("--health-rate", type=float, default=200.0)
    p.add_argument("--public-rate", type=float, default=1000.0)
    p.add_argument("--public-repeat", type=int, default=4, help="look-ups of each protocol in the repeated run")
    p.add_argument("--pool-size", type=int, default=10, help="REGULA_DATABASE_POOL_SIZE per worker")
    p.add_argument("--port", type=int, default=8791)
    p.add_argument("--server", default=os.environ.get("REGULA_BENCH_DATABASE_URL", DEFAULT_SERVER))
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    p.add_argument(
        "--only-health",
        action="store_true",
        help="measure (a) only: /health and the bare app's route, alternated, nothing else per run",
    )
    p.add_argument(
        "--stored-explanation",
        action="store_true",
        help="entries carry a stored explanation, as before migration 0024 (with BENCH_REQUESTS_TREE before it)",
    )
    a = p.parse_args(args)
    results = run(a)
    text = json.dumps(results, indent=1, default=str)
    if a.out:
        a.out.write_text(text)
    print(json.dumps({k: v.get("median") if isinstance(v, dict) else v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
