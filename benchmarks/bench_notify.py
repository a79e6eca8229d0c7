"""Notifier benchmarks (issue 5, item 7), run by hand (never by pytest)::

    python -m benchmarks.bench_notify drain --messages 100000                # (a) drain with two SIGKILLs
    python -m benchmarks.bench_notify callbacks --callback-messages 10000    # (b) callbacks into the web app
    python -m benchmarks.bench_notify all --messages 100000                  # (a), then (b) on what (a) sent

Creates ``regula_bench_notify_<random>`` on the server of ``REGULA_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it, loads the territory, writes citizens (with
consent) and their queued messages with ``generate_series``, runs the benchmark and drops the database.

(a) ``drain``: N queued SMS (one per citizen, a unique body each, so a duplicate is visible) drained by the real
    dispatcher (``regula notify dispatch``, a subprocess with ``REGULA_*`` settings) through the real twilio SDK to
    the fake Twilio (``tests.support.fake_twilio``, in its own process), which enforces the same per-sender rate
    (``sender_rate``: anything faster gets 429) and counts what it accepted. The dispatcher is killed with SIGKILL
    when the fake has accepted ~30% and ~60% of the messages and restarted at once; when the outbox has nothing
    ``pendente``/``enviando`` left it is stopped (SIGTERM). Checked: the fake accepted each body exactly once
    (no loss, no duplicate) and every row is ``enviada`` with a SID the fake issued for that very body, recipient
    and sender. Rate: measured on the fake's acceptance times — over the 5–95% window (restart gaps included),
    the same window with the restart gaps taken out, and per dispatcher life.
(b) ``callbacks``: signed status callbacks (``sent`` then ``delivered`` for each message, to the URL the dispatcher
    gave Twilio: ``{public_base_url}/webhooks/twilio/status?m={id}``) fired by the fake's blaster (in its own
    process, keep-alive connections) at the real web app (``create_app``, uvicorn subprocess); afterwards every
    message must be ``entregue``. Baselines in the same app and run: ``POST /bench/noop`` (the app's middleware
    stack, nothing else) and ``POST /bench/verify`` (the webhook's form parsing and signature check, no database).

Everything runs on a private copy of ``src/`` and ``migrations/`` taken at the start (``BENCH_NOTIFY_TREE``
names another checkout to copy, e.g. to measure the code before a change): the checkout may change during a run.
Figures go to ``docs/benchmarks.md`` by hand, with the date, the machine and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from litestar import Litestar, Request, post
from sqlalchemy import make_url
from tests.support.fake_twilio import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    FakeTwilioProcess,
    blast_callbacks,
    sustained_rate,
)

from regula.access.policy import public
from regula.config import Settings
from regula.db import migrate

ROOT = Path(__file__).parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SENDERS = ["+554830000001", "+554830000002", "+554830000003", "+554830000004"]
BIN = Path(sys.executable).parent


# -- the database -------------------------------------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(server))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def query(dsn: str, sql: str, *args: Any) -> list[Any]:
    return asyncio.run(_query(dsn, sql, *args))


@dataclass
class BenchDb:
    server: str
    name: str

    @property
    def url(self) -> str:
        return make_url(self.server).set(drivername="postgresql+asyncpg", database=self.name).render_as_string(False)

    @property
    def dsn(self) -> str:
        return _asyncpg_dsn(self.url)

    @classmethod
    def create(cls, server: str) -> BenchDb:
        db = cls(server, f"regula_bench_notify_{secrets.token_hex(4)}")
        asyncio.run(_admin(server, f'CREATE DATABASE "{db.name}"'))
        migrate.upgrade(db.url)
        return db

    def drop(self) -> None:
        asyncio.run(
            _admin(self.server, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.name}'")  # noqa: S608
        )
        asyncio.run(_admin(self.server, f'DROP DATABASE IF EXISTS "{self.name}"'))


async def _load(db: BenchDb, n: int) -> None:
    """The territory (citizens refer to a municipality), then n citizens with consent and one queued SMS each."""
    from regula.db.engine import make_database
    from regula.territory.service import load_territory

    database = make_database(db.url, pool_size=1)
    try:
        async with database.transaction() as session:
            await load_territory(session)
    finally:
        await database.dispose()
    conn = await asyncpg.connect(db.dsn)
    try:
        await conn.execute(
            "INSERT INTO citizen (cpf, name, search_name, birth_date, sex, race_color, municipality_ibge, uf, phone, "
            "preferred_channel, contact_consent, contact_consent_at, pregnant, disability, autism, cadunico, "
            "created_at, updated_at) "
            "SELECT lpad(g::text, 11, '0'), 'Cidadao Benchmark ' || g, 'cidadao benchmark ' || g, "
            "date '1970-01-01' + (g % 20000), CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END, 'parda', '4205407', 'SC', "
            "'+55489' || lpad(g::text, 8, '0'), 'sms', true, now(), false, false, false, false, now(), now() "
            "FROM generate_series(1, $1) g",
            n,
        )
        # One per citizen (so the per-citizen daily cap never defers one), a unique body each (GSM-7, one segment).
        await conn.execute(
            "INSERT INTO message (idempotency_key, citizen_id, kind, channel, to_address, body, variables, critical, "
            "status, due_at, valid_until, next_attempt_at, created_at, updated_at) "
            "SELECT 'bench:' || c.id || ':posicao:1:sms', c.id, 'posicao', 'sms', c.phone, "
            "'Regula SUS: protocolo SC26' || lpad(c.id::text, 8, '0') || '. Sua posicao na fila: ' || (c.id % 500 + 1) "
            "|| '. Consulte em regula.sc.gov.br/posicao', '{}'::jsonb, false, 'pendente', now(), "
            "now() + interval '30 days', now(), now(), now() FROM citizen c",
        )
        await conn.execute("VACUUM ANALYZE citizen")
        await conn.execute("VACUUM ANALYZE message")
    finally:
        await conn.close()


# -- processes ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def regula_env(db: BenchDb, fake_url: str, public_base_url: str, *, rate: float, account_rate: float) -> dict[str, str]:
    return os.environ | {
        "REGULA_HOME": str(Path(tempfile.gettempdir()) / "regula-bench-notify-home"),
        "REGULA_DATABASE_URL": db.url,
        "REGULA_ENVIRONMENT": "test",
        "REGULA_NOTIFY_CHANNEL": "twilio",
        "REGULA_TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "REGULA_TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "REGULA_TWILIO_API_BASE": fake_url,
        "REGULA_TWILIO_SMS_SENDERS": json.dumps(SENDERS),
        "REGULA_NOTIFY_RATE_PER_SENDER": str(rate),
        "REGULA_NOTIFY_RATE_PER_ACCOUNT": str(account_rate),
        "REGULA_NOTIFY_QUIET_START_HOUR": "0",
        "REGULA_NOTIFY_QUIET_END_HOUR": "0",
        "REGULA_NOTIFY_QUIET_SUNDAYS": "false",
        "REGULA_PUBLIC_BASE_URL": public_base_url,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def _advisory_locks(dsn: str, name: str) -> int:
    rows = await _query(
        dsn,
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        "WHERE l.locktype = 'advisory' AND d.datname = $1 AND l.granted",
        name,
    )
    return int(rows[0][0])


async def _outbox(dsn: str) -> dict[str, int]:
    rows = await _query(dsn, "SELECT status, count(*) FROM message GROUP BY status")
    return {r[0]: int(r[1]) for r in rows}


# -- (a) drain ----------------------------------------------------------------------------------------------------


def drain(
    db: BenchDb,
    n: int,
    *,
    rate: float,
    account_rate: float,
    kills: Sequence[float],
    public_base_url: str,
    log_dir: Path,
    fake_sender_rate: float | None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Drain the outbox through the fake, SIGKILLing the dispatcher at the given fractions of accepted messages."""
    config: dict[str, Any] = {"callback_statuses": []}  # callbacks are benchmark (b)
    if fake_sender_rate is not None:
        config["sender_rate"] = fake_sender_rate
    fake = FakeTwilioProcess(config=config, python=sys.executable).start()
    env = regula_env(db, fake.base_url, public_base_url, rate=rate, account_rate=account_rate)
    cmd = [str(BIN / "regula"), "notify", "dispatch"]
    timeout = timeout or (n / (rate * len(SENDERS)) * 2 + 180)
    lives: list[dict[str, Any]] = []
    cpu_before = _children_cpu()
    started = time.time()

    def spawn() -> subprocess.Popen[bytes]:
        i = len(lives)
        out = (log_dir / f"dispatcher-{i}.out").open("wb")
        err = (log_dir / f"dispatcher-{i}.err").open("wb")
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=err)  # noqa: S603
        lives.append({"pid": proc.pid, "started": time.time()})
        return proc

    try:
        proc = spawn()
        pending_kills = sorted(kills)
        fake.timeout = 120.0  # the fake may be busy (a lookup scans every message it holds)
        while True:
            # Once a second: each call makes the fake sort every acceptance time.
            time.sleep(1.0)
            stats = fake.stats()
            accepted = int(stats["accepted"])
            if pending_kills and accepted >= pending_kills[0] * n:
                pending_kills.pop(0)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed = time.time()
                # The restarted dispatcher recovers the dead one's rows once its liveness lock is gone: wait for
                # PostgreSQL to notice the closed connection (milliseconds) so the recovery is not left to the
                # next idle moment of the new dispatcher.
                while asyncio.run(_advisory_locks(db.dsn, db.name)) > 0 and time.time() - killed < 30:
                    time.sleep(0.01)
                lives[-1] |= {"killed": killed, "accepted_at_kill": accepted, "lock_gone_s": time.time() - killed}
                print(f"  SIGKILL at {accepted:,} accepted ({accepted / n:.0%})", flush=True)
                proc = spawn()
                continue
            if accepted >= n:
                outbox = asyncio.run(_outbox(db.dsn))
                if not outbox.get("pendente") and not outbox.get("enviando"):
                    break
            if time.time() - started > timeout:
                raise RuntimeError(
                    f"drain timed out: fake {stats['accepted']} accepted, {asyncio.run(_outbox(db.dsn))}"
                )
            if proc.poll() is not None:
                raise RuntimeError(f"the dispatcher exited with {proc.returncode}; see {log_dir}")
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        lives[-1]["stopped"] = time.time()
        printed = (log_dir / f"dispatcher-{len(lives) - 1}.err").read_text().splitlines()
        stats_from = next((i for i, line in enumerate(printed) if line.startswith("claimed=")), len(printed))
        lives[-1]["stdout"] = " ".join(printed[stats_from:])
        dispatcher_cpu = _children_cpu() - cpu_before
        final = fake.stats()
        final["duplicate_times"] = [round(d["time"] - started, 1) for d in fake.duplicates()]
        fake.timeout = 600.0  # every accepted message, as JSON
        messages = fake.messages()
        report = _drain_report(db, n, final, messages, lives, dispatcher_cpu, rate * len(SENDERS))
        return report | {"_messages": messages}
    finally:
        if "proc" in locals() and proc.poll() is None:
            proc.kill()
            proc.wait()
        fake.stop()


def _drain_report(
    db: BenchDb,
    n: int,
    stats: dict[str, Any],
    messages: list[dict[str, Any]],
    lives: list[dict[str, Any]],
    dispatcher_cpu: float,
    cap: float,
) -> dict[str, Any]:
    rows = query(db.dsn, "SELECT id, status, provider_sid, body, to_address, sender FROM message")
    by_sid = {m["sid"]: m for m in messages}
    bodies = [m["body"] for m in messages]
    db_bodies = {r["body"] for r in rows}
    accepted_bench = sum(1 for b in bodies if b in db_bodies)
    distinct_bench = len({b for b in bodies if b in db_bodies})
    mismatched = 0
    for r in rows:
        m = by_sid.get(r["provider_sid"])
        twin = (m["body"], m["to"], m["from_"]) if m is not None else None
        if r["status"] != "enviada" or twin != (r["body"], r["to_address"], r["sender"]):
            mismatched += 1
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    times = sorted(m["created"] for m in messages)
    # Restart gaps: from the kill to the first message accepted from the next dispatcher.
    gaps = []
    for life in lives:
        if "killed" in life:
            after = next((t for t in times if t > life["killed"]), life["killed"])
            before = max((t for t in times if t <= life["killed"]), default=life["killed"])
            gaps.append((before, after))
    low = times[int(0.05 * (len(times) - 1))]
    high = times[int(0.95 * (len(times) - 1) + 0.999)]
    in_window = sum(1 for t in times if low <= t <= high)
    gap_in_window = sum(max(0.0, min(b, high) - max(a, low)) for a, b in gaps)
    per_life = []
    for i, life in enumerate(lives):
        end = life.get("killed", life.get("stopped", times[-1]))
        own = [t for t in times if life["started"] <= t <= end]
        per_life.append(
            {
                "accepted": len(own),
                "startup_s": round((own[0] - life["started"]) if own else 0.0, 2),
                "rate_trimmed": round(sustained_rate(own), 1),
                "lock_gone_s": round(life.get("lock_gone_s", 0.0), 3),
                "index": i,
            }
        )
    trimmed = sustained_rate(times)
    excluding = (in_window - 1) / (high - low - gap_in_window) if high - low - gap_in_window > 0 else 0.0
    return {
        "messages": n,
        "fake_accepted": stats["accepted"],
        "fake_distinct": stats["distinct"],
        "fake_duplicates": stats["duplicates"],
        "duplicates_at_s": stats["duplicate_times"],
        "accepted_bench_bodies": accepted_bench,
        "distinct_bench_bodies": distinct_bench,
        "lost": n - distinct_bench,
        "sent_twice": accepted_bench - distinct_bench,  # cross-check of fake_duplicates (same body twice)
        "db_statuses": statuses,
        "db_rows_not_matching_fake": mismatched,
        "create_responses": stats["create_responses"],
        "elapsed_s": round(times[-1] - times[0], 1),
        "rate_whole": round((len(times) - 1) / (times[-1] - times[0]), 1),
        "rate_trimmed_5_95": round(trimmed, 1),
        "rate_trimmed_excluding_gaps": round(excluding, 1),
        "restart_gaps_s": [round(b - a, 2) for a, b in gaps],
        "per_sender_rate_trimmed": {s: round(v["sustained_rate"], 1) for s, v in stats["senders"].items()},
        "per_life": per_life,
        "cap": cap,
        "ratio_trimmed": round(trimmed / cap, 4),
        "ratio_excluding_gaps": round(excluding / cap, 4),
        "dispatcher_cpu_s": round(dispatcher_cpu, 1),
        "dispatcher_cpu_ms_per_message": round(dispatcher_cpu / n * 1000, 3),
        "last_dispatcher_stats": lives[-1].get("stdout", ""),
        "kills_at_s": [round(life["killed"] - lives[0]["started"], 1) for life in lives if "killed" in life],
        "met": n - distinct_bench == 0
        and stats["duplicates"] == 0
        and mismatched == 0
        and excluding >= 0.95 * cap
        and trimmed >= 0.95 * cap,
    }


# -- (b) callbacks ------------------------------------------------------------------------------------------------


@post("/bench/noop", opt=public(), status_code=204, include_in_schema=False)
async def bench_noop() -> None:
    """Baseline: the app's whole middleware stack (request log, metrics, authentication, guard), no work."""
    return None


@post("/bench/verify", opt=public(), status_code=204, include_in_schema=False)
async def bench_verify(request: Request[Any, Any, Any]) -> None:
    """Baseline: what the status webhook does before the database (form parsing, Twilio signature check)."""
    from regula.notify.routes import verified_form

    await verified_form(request)


def bench_app() -> Litestar:
    """The real app (``create_app``) plus the two baseline routes, built from ``REGULA_*`` in the environment
    (``uvicorn benchmarks.bench_notify:bench_app --factory``), exactly as ``regula serve`` builds it."""
    from regula.db.engine import make_database
    from regula.logs import configure_logging
    from regula.web.app import create_app

    settings = Settings()
    configure_logging(settings)
    assert settings.database_url is not None
    db = make_database(settings.database_url.get_secret_value(), pool_size=settings.database_pool_size)
    app = create_app(settings, db.sessionmaker, extra_routes=[bench_noop, bench_verify])
    app.on_shutdown.append(db.dispose)
    return app


def _wait_healthy(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the web app exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the web app did not become healthy")


def _blast_main(argv: Sequence[str]) -> None:
    """The blaster in its own process (so it does not share a GIL with anything): reads a JSON plan."""
    p = argparse.ArgumentParser(prog="bench_notify blast")
    p.add_argument("--plan", required=True)
    a = p.parse_args(argv)
    plan = json.loads(Path(a.plan).read_text())
    result = blast_callbacks(
        plan["url"],
        plan["n"],
        concurrency=plan["concurrency"],
        statuses=plan["statuses"],
        messages=plan["messages"],
    )
    print(json.dumps(result.to_dict()), flush=True)


def _blast(
    plan_file: Path, url: str | None, n: int, statuses: Sequence[str], messages: list[dict[str, str]], conc: int
) -> dict[str, Any]:
    plan_file.write_text(
        json.dumps({"url": url, "n": n, "statuses": list(statuses), "messages": messages, "concurrency": conc})
    )
    cmd = [sys.executable, "-m", "benchmarks.bench_notify", "blast", "--plan", str(plan_file)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S603
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = _load_avg()
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}


def callbacks(
    db: BenchDb,
    fake_messages: list[dict[str, Any]],
    *,
    port: int,
    limit: int,
    runs: int,
    concurrency: int,
    workers: int,
    log_level: str,
    log_dir: Path,
) -> dict[str, Any]:
    """Blast ``sent`` + ``delivered`` for ``limit`` sent messages at the web app, ``runs`` times; baselines too."""
    rows = query(db.dsn, "SELECT id, provider_sid FROM message WHERE status = 'enviada' ORDER BY id LIMIT $1", limit)
    ids = {r["provider_sid"]: int(r["id"]) for r in rows}
    messages = [
        {"sid": m["sid"], "to": m["to"], "from": m["from_"], "status_callback": m["status_callback"] or ""}
        for m in fake_messages
        if m["sid"] in ids
    ]
    base = f"http://127.0.0.1:{port}"
    expected = {f"{base}/webhooks/twilio/status?m={ids[m['sid']]}" for m in messages}
    if {m["status_callback"] for m in messages} != expected:
        raise RuntimeError("the callback URLs the fake holds are not the dispatcher's")
    env = regula_env(db, "http://127.0.0.1:1", base, rate=1, account_rate=1) | {
        "REGULA_LOG_LEVEL": log_level,
        "REGULA_DATABASE_POOL_SIZE": "10",
    }
    cmd = [sys.executable, "-m", "uvicorn", "benchmarks.bench_notify:bench_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    err = (log_dir / "web.err").open("wb")
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=err, start_new_session=True)  # noqa: S603
    plan = log_dir / "plan.json"
    n = 2 * len(messages)
    out: dict[str, Any] = {"command": " ".join(cmd[1:]), "messages": len(messages), "callbacks_per_run": n}
    try:
        _wait_healthy(base, server)
        # Warm-up: 'queued' callbacks through the real route (rank 2: the messages are 'queued' already, a no-op).
        warm = messages[: min(len(messages), 4000)]
        print("  warm-up", _blast(plan, None, len(warm), ["queued"], warm, concurrency), flush=True)
        _blast(plan, f"{base}/bench/noop?m=1", 4000, ["sent"], warm, concurrency)
        for key in ("status", "noop", "verify"):
            out[key] = []
        for i in range(runs):
            query(
                db.dsn,
                "UPDATE message SET status = 'enviada', provider_status = 'queued', provider_rank = 2, "
                "delivered_at = NULL WHERE status <> 'enviada' OR provider_rank <> 2",
            )
            query(db.dsn, "VACUUM ANALYZE message")
            for key, url in (("noop", f"{base}/bench/noop?m=1"), ("verify", f"{base}/bench/verify?m=1")):
                result = _blast(plan, url, n, ["sent", "delivered"], messages, concurrency)
                out[key].append(result)
                print(f"  run {i + 1} {key}: {result}", flush=True)
            result = _blast(plan, None, n, ["sent", "delivered"], messages, concurrency)
            applied = query(
                db.dsn,
                "SELECT count(*) FILTER (WHERE status = 'entregue' AND provider_status = 'delivered' "
                "AND delivered_at IS NOT NULL) AS entregue, count(*) AS total FROM message WHERE id = ANY($1)",
                list(ids.values()),
            )[0]
            result["applied_entregue"] = int(applied["entregue"])
            result["of"] = int(applied["total"])
            out["status"].append(result)
            print(f"  run {i + 1} status: {result}", flush=True)
        for key in ("status", "noop", "verify"):
            out[f"{key}_median"] = {
                k: _median([r[k] for r in out[key]]) for k in ("rate", "latency_p50_ms", "latency_p99_ms", "errors")
            }
        out["status_over_noop_rate"] = round(out["status_median"]["rate"] / out["noop_median"]["rate"], 3)
        out["status_over_verify_rate"] = round(out["status_median"]["rate"] / out["verify_median"]["rate"], 3)
        out["all_applied"] = all(r["applied_entregue"] == r["of"] == len(messages) for r in out["status"])
        out["all_204"] = all(r["status_counts"] == {"204": n} for r in out["status"])
        out["met"] = out["status_median"]["rate"] >= 2000 and out["all_applied"] and out["all_204"]
        return out
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _median(values: Sequence[float]) -> float:
    return round(float(statistics.median(values)), 2)


# -- command line -------------------------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    import regula

    return {
        "regula": str(Path(regula.__file__).parent),
        # What uvicorn's "auto" picks: httptools and uvloop when importable, else h11 and asyncio.
        "uvicorn_http_loop": [
            name if importlib.util.find_spec(name) else fallback
            for name, fallback in (("httptools", "h11"), ("uvloop", "asyncio"))
        ],
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load": _load_avg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _snapshot(tree: Path) -> Path:
    """A private copy of ``src/`` and ``migrations/``: the checkout may change while a run lasts (a new migration
    would make a restarted dispatcher refuse the database; an edited module would change what is measured)."""
    snap = Path(tempfile.mkdtemp(prefix="bench-notify-code-"))
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(tree / "src", snap / "src", ignore=skip)
    shutil.copytree(tree / "migrations", snap / "migrations", ignore=skip)
    return snap


def main(argv: Sequence[str] | None = None) -> None:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "blast":
        _blast_main(args_list[1:])
        return
    if "BENCH_NOTIFY_CODE" not in os.environ:
        # Re-run this benchmark (and so every process it starts) on a snapshot of the code.
        tree = Path(os.environ.get("BENCH_NOTIFY_TREE", str(ROOT)))
        snap = _snapshot(tree)
        pythonpath = os.pathsep.join(p for p in (str(snap / "src"), os.environ.get("PYTHONPATH", "")) if p)
        env = os.environ | {"BENCH_NOTIFY_CODE": str(snap), "PYTHONPATH": pythonpath}
        print(f"code snapshot of {tree} in {snap}", flush=True)
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks.bench_notify", *args_list], env)  # noqa: S606
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_notify", description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["drain", "callbacks", "all"])
    p.add_argument("--messages", type=int, default=100_000, help="queued messages (default 100,000)")
    p.add_argument("--runs", type=int, default=1, help="drain runs (each on a fresh database)")
    p.add_argument("--rate", type=float, default=50.0, help="messages/s per sender, dispatcher and fake (default 50)")
    p.add_argument("--account-rate", type=float, default=200.0, help="messages/s for the account (default 200)")
    p.add_argument("--kills", default="0.3,0.6", help="fractions accepted at which to SIGKILL ('' for none)")
    p.add_argument("--callback-messages", type=int, default=20_000, help="messages whose callbacks are blasted")
    p.add_argument("--callback-runs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=64, help="blaster connections")
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers for the web app")
    p.add_argument("--log-level", default="INFO", help="REGULA_LOG_LEVEL of the web app (default INFO)")
    p.add_argument("--server", default=os.environ.get("REGULA_BENCH_DATABASE_URL", DEFAULT_SERVER))
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    p.add_argument("--keep-logs", type=Path, default=None, help="directory for the subprocesses' logs")
    a = p.parse_args(args_list)
    kills = [float(x) for x in a.kills.split(",") if x.strip()]
    results: dict[str, Any] = {"machine": _machine(), "args": {k: str(v) for k, v in vars(a).items()}}
    results["code"] = os.environ["BENCH_NOTIFY_CODE"]
    log_root = a.keep_logs or Path(tempfile.mkdtemp(prefix="bench-notify-"))
    log_root.mkdir(parents=True, exist_ok=True)
    print(f"logs in {log_root}", flush=True)
    if a.what in ("drain", "all"):
        results["drain"] = []
        for i in range(a.runs):
            db = BenchDb.create(a.server)
            port = free_port()
            try:
                started = time.perf_counter()
                asyncio.run(_load(db, a.messages))
                print(
                    f"run {i + 1}: {a.messages:,} messages queued in {time.perf_counter() - started:.1f} s", flush=True
                )
                run_dir = log_root / f"drain-{i + 1}"
                run_dir.mkdir(exist_ok=True)
                report = drain(
                    db,
                    a.messages,
                    rate=a.rate,
                    account_rate=a.account_rate,
                    kills=kills,
                    public_base_url=f"http://127.0.0.1:{port}",
                    log_dir=run_dir,
                    fake_sender_rate=a.rate,
                )
                report["load_after"] = _load_avg()
                fake_messages = report.pop("_messages")
                print(json.dumps(report, indent=1), flush=True)
                results["drain"].append(report)
                if a.what == "all" and i == a.runs - 1:
                    results["callbacks"] = _callbacks_on(db, port, a, log_root, fake_messages)
            finally:
                db.drop()
        reports = results["drain"]
        results["drain_median"] = {
            k: _median([r[k] for r in reports])
            for k in ("rate_trimmed_5_95", "rate_trimmed_excluding_gaps", "rate_whole", "elapsed_s", "lost")
        }
    if a.what == "callbacks":
        db = BenchDb.create(a.server)
        port = free_port()
        try:
            asyncio.run(_load(db, a.callback_messages))
            run_dir = log_root / "prepare"
            run_dir.mkdir(exist_ok=True)
            # Real SIDs for real rows: a quick drain (no rate limit at the fake, no kills).
            report = drain(
                db,
                a.callback_messages,
                rate=2000,
                account_rate=8000,
                kills=[],
                public_base_url=f"http://127.0.0.1:{port}",
                log_dir=run_dir,
                fake_sender_rate=None,
            )
            print(f"prepared: {report['fake_distinct']} sent in {report['elapsed_s']} s", flush=True)
            results["callbacks"] = _callbacks_on(db, port, a, log_root, report.pop("_messages"))
        finally:
            db.drop()
    results["machine"]["load_end"] = _load_avg()
    print(json.dumps({k: v for k, v in results.items() if k != "drain"}, indent=1), flush=True)
    if a.out:
        a.out.write_text(json.dumps(results, indent=1))


def _callbacks_on(
    db: BenchDb, port: int, a: argparse.Namespace, log_root: Path, fake_messages: list[dict[str, Any]]
) -> Any:
    run_dir = log_root / "callbacks"
    run_dir.mkdir(exist_ok=True)
    return callbacks(
        db,
        fake_messages,
        port=port,
        limit=a.callback_messages,
        runs=a.callback_runs,
        concurrency=a.concurrency,
        workers=a.workers,
        log_level=a.log_level,
        log_dir=run_dir,
    )


if __name__ == "__main__":
    main()
