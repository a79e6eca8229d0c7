"""Waitlist benchmarks, run by hand (never by pytest)::

    python -m benchmarks.bench_waitlist --entries 1000000

Creates ``regula_bench_<random>`` on the server of ``REGULA_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it, loads the territory and the bundled SIGTAP
catalog, generates waiting entries with COPY, runs the benchmarks and drops the database.

(a) ``refresh``: the nightly refresh of every waiting entry (scores, then positions and estimates), one day later
    per run so every run does the real daily work. Database time (the score write-back and the positions) is
    reported apart from the Python time (read + decode, compute). Baseline, in the same process: one plain
    ``rank() OVER (PARTITION BY queue ORDER BY score DESC, authorized_at, id)`` over the same rows, fetched.
(c) ``reads``: what reading a queue in score order costs — ranking the largest and a median queue, and "how many
    wait at or above this score" for 50 of their entries (the indexes decide it: migration 0022, decision 0027).
(b) ``position``: one citizen's position (``GET /public/position``) at a fixed open-loop rate against the app
    served by uvicorn in a subprocess; baseline at the same rate: a handler that runs ``SELECT 1``.

Figures go to ``docs/benchmarks.md`` by hand, with the date, the machine and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]
import numpy as np
from litestar import Litestar, get
from pydantic import SecretStr
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import public
from regula.config import Settings
from regula.db import migrate
from regula.db.engine import make_database
from regula.waitlist import routes
from regula.waitlist.schemas import PublicPosition
from regula.wiring import wire

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
RISK_WEIGHTS = {"vermelho": 0.05, "amarelo": 0.25, "verde": 0.45, "azul": 0.25}
RACE_WEIGHTS = {"branca": 0.55, "preta": 0.08, "parda": 0.30, "amarela": 0.01, "indigena": 0.01, "sem_informacao": 0.05}


# -- the database -------------------------------------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(server))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class BenchDb:
    server: str
    name: str

    @property
    def url(self) -> str:
        return _sqlalchemy_url(make_url(self.server).set(database=self.name).render_as_string(hide_password=False))

    @property
    def dsn(self) -> str:
        return _asyncpg_dsn(self.url)

    def settings(self) -> Settings:
        return Settings(
            home=Path("/tmp/regula-bench-home"),  # noqa: S108 - unused: the database is external
            database_url=SecretStr(self.url),
            environment="test",
            log_json=False,
            log_level="WARNING",
        )

    @classmethod
    def create(cls, server: str) -> BenchDb:
        db = cls(server, f"regula_bench_{secrets.token_hex(4)}")
        asyncio.run(_admin(server, f'CREATE DATABASE "{db.name}"'))
        migrate.upgrade(db.url)
        return db

    def drop(self) -> None:
        asyncio.run(
            _admin(self.server, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.name}'")  # noqa: S608
        )
        asyncio.run(_admin(self.server, f'DROP DATABASE IF EXISTS "{self.name}"'))


# -- data ---------------------------------------------------------------------------------------------------------


@dataclass
class Generated:
    entries: int
    citizens: int
    queues: int
    protocols: list[str]  # a sample, with the birth dates, for the position benchmark
    birth_dates: list[str]
    seconds: float


async def _reference(session: AsyncSession, settings: Settings) -> None:
    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.territory.service import load_territory

    await load_territory(session)
    await import_sigtap(session, bundled_sigtap_zip(), settings)


async def _policies(session: AsyncSession, settings: Settings, oci_codes: Sequence[str], region: str) -> None:
    """The default policy, one OCI-wide policy and one queue's own policy: three policy groups."""
    from regula.waitlist import service

    actor = service.Actor.system("bench")
    await service.set_policy(session, f"{oci_codes[0]}:*", {"aging": {"points_per_day": 2.0}}, actor, settings)
    await service.set_policy(
        session, f"{oci_codes[1]}:region:{region}", {"cross_class_aging_days": 120}, actor, settings
    )


#: A waiting entry's stored explanation as the code before migration 0024 wrote it (one of the Santa Catarina demo's,
#: 516 bytes; the demo's median was 484): ``--stored-explanation`` gives every generated entry one, to measure the
#: rows as production held them before decision 0031, on a tree whose schema still has the column.
STORED_EXPLANATION: Final = (
    '{"prazo": 22, "classe": 20000, "espera": 41, "equidade": 18, "politica": "* v1", "equidade_teto": 30, '
    '"dias_de_espera": 41, "dias_suspensos": 0, "classe_de_risco": "amarelo", "versao_politica": "regula-1", '
    '"equidade_motivos": "CadÚnico +10; índice de vulnerabilidade 0,89 +8", "prazo_percentual": 68, '
    '"prioridade_legal": 30, "equidade_sem_teto": 18, "tempo_maximo_dias": 60, '
    '"prioridade_legal_motivos": "pessoa idosa"}'
)


async def generate(
    db: BenchDb, entries: int, citizens: int, seed: int = 20261123, *, stored_explanation: bool = False
) -> Generated:
    """Reference data, three policies, a weekly capacity for every queue, ``citizens`` citizens of SC and
    ``entries`` waiting entries (at most one per citizen per OCI), all with COPY; with ``stored_explanation``
    each entry also carries :data:`STORED_EXPLANATION` (only on a schema before migration 0024)."""
    from regula.territory.reference import territory
    from regula.waitlist import service

    started = time.perf_counter()
    settings = db.settings()
    database = make_database(db.url, pool_size=2)
    try:
        async with database.transaction() as session:
            await _reference(session, settings)
        async with database.transaction() as session:
            catalog = await service.load_catalog(session, settings)
            ocis = sorted(catalog.ocis.values(), key=lambda o: o.code)
            sc = [m for m in territory().by_uf("SC") if m.health_region_code]
            await _policies(session, settings, [o.code for o in ocis], sc[0].health_region_code or "")
    finally:
        await database.dispose()

    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    pop = np.array([m.population for m in sc], dtype=np.float64)
    muni = rng.choice(len(sc), size=citizens, p=pop / pop.sum())
    birth = np.datetime64("1930-01-01") + rng.integers(0, 365 * 90, citizens).astype("timedelta64[D]")
    sex = rng.choice(["F", "M"], size=citizens, p=[0.55, 0.45])
    race = rng.choice(list(RACE_WEIGHTS), size=citizens, p=list(RACE_WEIGHTS.values()))
    age = (np.datetime64(now.date()) - birth).astype(np.int64) // 365
    pregnant = (sex == "F") & (age >= 15) & (age <= 45) & (rng.random(citizens) < 0.05)
    disability, autism, cadunico = (rng.random(citizens) < p for p in (0.05, 0.01, 0.25))
    vi_known = rng.random(citizens) < 0.6
    vi = rng.integers(0, 1001, citizens)
    created = now - timedelta(days=500)

    def citizen_records() -> Any:
        for i in range(citizens):
            m = sc[muni[i]]
            yield (
                i + 1, f"{i + 1:011d}", f"Cidadao Benchmark {i + 1}", f"cidadao benchmark {i + 1}",
                birth[i].item(), str(sex[i]), str(race[i]), m.ibge_code, "SC", "sms", False,
                bool(pregnant[i]), bool(disability[i]), bool(autism[i]), bool(cadunico[i]),
                Decimal(int(vi[i])) / 1000 if vi_known[i] else None, created, created,
            )  # fmt: skip

    # Entry i belongs to citizen i % citizens, with OCIs that never repeat for the same citizen (one active entry
    # per citizen per OCI): while entries per citizen stay below the number of OCIs.
    if entries > citizens * len(ocis):
        raise SystemExit(f"at most {citizens * len(ocis)} entries for {citizens} citizens")
    citizen_of = np.arange(entries) % citizens
    oci_of = (np.arange(entries) // citizens + rng.integers(0, len(ocis), citizens)[citizen_of]) % len(ocis)
    risk = rng.choice(list(RISK_WEIGHTS), size=entries, p=list(RISK_WEIGHTS.values()))
    waited_us = rng.integers(0, 400 * 86_400_000_000, entries)
    suspended = np.where(rng.random(entries) < 0.1, rng.integers(1, 30, entries), 0)
    protocols = [f"SC26{i:08d}" for i in rng.permutation(entries)]
    cid = {o.code: (o.cids[0] if o.cids else "Z000")[:4] for o in ocis}

    extra = (STORED_EXPLANATION,) if stored_explanation else ()
    # Trees before migration 0025 (decision 0032) store the tM deadline: generated for them, as they wrote it.
    stored_deadline = False

    def entry_records() -> Any:
        for i in range(entries):
            c = int(citizen_of[i])
            m, oci = sc[muni[c]], ocis[oci_of[i]]
            authorized = now - timedelta(microseconds=int(waited_us[i]))
            yield (
                i + 1, protocols[i], c + 1, oci.code, catalog.competencia, cid[oci.code], str(risk[i]),
                "Justificativa clinica do benchmark.", "{}", "2691868", m.ibge_code, "SC", "region",
                m.health_region_code, "autorizada", authorized, authorized - timedelta(days=3), authorized,
                oci.max_days, int(suspended[i]), authorized, authorized, *extra,
                *([(authorized + timedelta(days=oci.max_days)).date()] if stored_deadline else []),
            )  # fmt: skip

    conn = await asyncpg.connect(db.dsn)
    try:
        stored_deadline = bool(
            await conn.fetchval(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'waitlist_entry' AND column_name = 'deadline_date'"
            )
        )
        await conn.copy_records_to_table(
            "citizen",
            records=citizen_records(),
            columns=[
                "id", "cpf", "name", "search_name", "birth_date", "sex", "race_color", "municipality_ibge", "uf",
                "preferred_channel", "contact_consent", "pregnant", "disability", "autism", "cadunico",
                "vulnerability_index", "created_at", "updated_at",
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "waitlist_entry",
            records=entry_records(),
            columns=[
                "id", "protocol", "citizen_id", "oci_code", "catalog_competencia", "cid_code", "risk_class",
                "risk_justification", "checklist", "requesting_cnes", "municipality_ibge", "uf", "scope_kind",
                "scope_code", "status", "status_changed_at", "requested_at", "authorized_at",
                "max_days", "suspended_days", "created_at", "updated_at",
                *(["score_breakdown"] if stored_explanation else []),
                *(["deadline_date"] if stored_deadline else []),
            ],
        )  # fmt: skip
        await conn.execute("SELECT setval(pg_get_serial_sequence('citizen', 'id'), $1)", citizens)
        await conn.execute("SELECT setval(pg_get_serial_sequence('waitlist_entry', 'id'), $1)", entries)
        # The PAR's weekly quantity for every queue, so estimates exist (and move daily, as they will).
        queues = await conn.execute(
            "INSERT INTO queue_capacity (oci_code, scope_kind, scope_code, weekly_capacity, source, updated_at) "
            "SELECT DISTINCT oci_code, scope_kind, scope_code, 5 + (abs(hashtext(oci_code || scope_code)) % 56), "
            "'par', now() FROM waitlist_entry"
        )
        await conn.execute("VACUUM (ANALYZE) citizen")
        await conn.execute("VACUUM (ANALYZE) waitlist_entry")
    finally:
        await conn.close()
    sample = rng.choice(entries, size=min(entries, 20_000), replace=False)
    return Generated(
        entries=entries,
        citizens=citizens,
        queues=int(queues.split()[-1]),
        protocols=[protocols[i] for i in sample],
        birth_dates=[str(birth[citizen_of[i]]) for i in sample],
        seconds=time.perf_counter() - started,
    )


# -- machine --------------------------------------------------------------------------------------------------------


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def machine(db: BenchDb) -> dict[str, Any]:
    cpuinfo = await asyncio.to_thread(Path("/proc/cpuinfo").read_text)
    free = await asyncio.to_thread(subprocess.run, ["free", "-g"], capture_output=True, text=True, check=False)
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor(),
    )
    conn = await asyncpg.connect(db.dsn)
    try:
        pg = await conn.fetchval("SELECT version()")
        knobs = {
            k: await conn.fetchval(f"SHOW {k}") for k in ("shared_buffers", "work_mem", "autovacuum", "wal_buffers")
        }
    finally:
        await conn.close()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "free_g": free.stdout.strip(),
        "postgresql": pg,
        "server": knobs,
        "python": sys.version.split()[0],
    }


# -- (a) the nightly refresh ------------------------------------------------------------------------------------------

BASELINE_SQL = (
    "SELECT id, rank() OVER (PARTITION BY oci_code, scope_kind, scope_code ORDER BY score DESC, authorized_at, id) "
    "FROM waitlist_entry JOIN waitlist_standing ON entry_id = id WHERE status = 'autorizada'"
)


async def _vacuum(db: BenchDb) -> float:
    """What autovacuum would do during the day (it is off on the benchmark server): untimed in the results."""
    conn = await asyncpg.connect(db.dsn)
    try:
        started = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) waitlist_entry")
        return time.perf_counter() - started
    finally:
        await conn.close()


async def baseline_rank(db: BenchDb, runs: int) -> list[float]:
    conn = await asyncpg.connect(db.dsn)
    times = []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            rows = await conn.fetch(BASELINE_SQL)
            times.append(time.perf_counter() - started)
            del rows
    finally:
        await conn.close()
    return times


async def two_step(session: AsyncSession, settings: Settings, today: date) -> dict[str, float]:
    """The straightforward formulation, for comparison: the same read and bulk scoring, then write the scores back
    (temporary table + UPDATE … IS DISTINCT FROM), then ``service.recompute_positions``."""
    import io

    from regula.waitlist import refresh, service

    real_today = service.local_today(settings)
    now = datetime.now(UTC) + (today - real_today)
    t0 = time.perf_counter()
    await session.execute(text("SELECT 1"))
    conn = (await (await session.connection()).get_raw_connection()).driver_connection
    assert conn is not None
    catalog = await service.load_catalog(session, settings)
    latest = await service.latest_policies(session)
    raw = await refresh._copy_out(conn, today, None)
    t1 = time.perf_counter()
    rows = refresh._decode(refresh._parse_copy(raw))
    governing = [service.resolve_policy(latest, q) for q in rows.queues]
    scores, policy_ids, _ = refresh._scores(rows, governing, catalog.ocis, today, now)
    changed = (scores != rows.col["score"]) | (policy_ids != rows.col["policy_id"])
    n = int(changed.sum())
    payload = refresh._copy_payload(
        {
            "id": rows.col["id"][changed],
            "score": scores[changed],
            "policy_id": policy_ids[changed],
            **{k: np.zeros(n, dtype=np.int64) for k in ("position", "queue_size", "est_from", "est_to")},
            "positioned": np.zeros(n, dtype=bool),
        }
    )
    t2 = time.perf_counter()
    columns = ", ".join(f"{name} {sql_type} NOT NULL" for name, _, sql_type in refresh._WRITE_COLUMNS)
    await conn.execute(f"CREATE TEMP TABLE bench_scores ({columns}) ON COMMIT DROP")
    await conn.copy_to_table("bench_scores", source=io.BytesIO(payload), format="binary")
    await conn.execute(
        "UPDATE waitlist_standing s SET score = t.score, policy_id = t.policy_id FROM bench_scores t "
        "WHERE s.entry_id = t.id AND (s.score IS DISTINCT FROM t.score OR s.policy_id IS DISTINCT FROM t.policy_id)"
    )
    t3 = time.perf_counter()
    original = service.local_today
    service.local_today = lambda settings: today  # estimates "as of" that day
    try:
        await service.recompute_positions(session, settings)
    finally:
        service.local_today = original
    t4 = time.perf_counter()
    return {"read": t1 - t0, "compute": t2 - t1, "write_scores": t3 - t2, "positions": t4 - t3}


@dataclass
class RefreshRun:
    day: int
    phases: dict[str, float]
    written: int
    hot_share: float | None
    load: str


_WAL_POSITION: Final = "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')"


async def refresh_runs(db: BenchDb, runs: int, first_day: int, *, two_step_mode: bool = False) -> list[RefreshRun]:
    """One committed refresh per day, ``first_day`` days after today and on; VACUUM between runs."""
    from regula.waitlist import refresh, service

    settings = db.settings()
    database = make_database(db.url, pool_size=2)
    out = []
    try:
        for day in range(first_day, first_day + runs):
            today = service.local_today(settings) + timedelta(days=day)
            started = time.perf_counter()
            async with database.transaction() as session:
                wal_before = (await session.execute(text(_WAL_POSITION))).scalar_one()
                if two_step_mode:
                    phases = await two_step(session, settings, today)
                    written = -1
                else:
                    result = await refresh.refresh_all(session, settings, today=today)
                    phases = {
                        "read": result.read_seconds,
                        "compute": result.compute_seconds,
                        "write": result.write_seconds,
                        "clear": result.clear_seconds,
                    }
                    written = result.written
                updates, hot_updates = (
                    await session.execute(
                        text(
                            "SELECT pg_stat_get_xact_tuples_updated('waitlist_entry'::regclass), "
                            "pg_stat_get_xact_tuples_hot_updated('waitlist_entry'::regclass)"
                        )
                    )
                ).one()
                wal_written = (await session.execute(text(_WAL_POSITION))).scalar_one() - wal_before
                size = (await session.execute(text("SELECT pg_relation_size('waitlist_entry')"))).scalar_one()
                commit_started = time.perf_counter()
            phases["commit"] = time.perf_counter() - commit_started
            phases["wal_mb"] = float(wal_written) / 2**20
            phases["table_mb"] = float(size) / 2**20
            phases["wall"] = time.perf_counter() - started
            hot = hot_updates / updates if updates else None
            out.append(RefreshRun(day, phases, written, hot, _load()))
            shown = " ".join(f"{k} {v:.2f}{'' if k.endswith('_mb') else 's'}" for k, v in phases.items())
            print(f"  day +{day}: {shown}", f"written {written}",
                  f"HOT {hot:.0%}" if hot is not None else "", f"load {_load()}", flush=True)  # fmt: skip
            await _vacuum(db)
    finally:
        await database.dispose()
    return out


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize_refresh(
    runs: Sequence[RefreshRun], baseline: Sequence[float], two_step_mode: bool = False
) -> dict[str, Any]:
    db_keys = ("write_scores", "positions") if two_step_mode else ("write", "clear")
    py_keys = ("read", "compute")
    phases = {k: _median([r.phases[k] for r in runs]) for k in runs[0].phases}
    database = _median([sum(r.phases[k] for k in db_keys) for r in runs])
    python = _median([sum(r.phases[k] for k in py_keys) for r in runs])
    total = _median([sum(r.phases[k] for k in (*db_keys, *py_keys)) for r in runs])
    base = _median(baseline)
    return {
        "runs": len(runs),
        "phases_median_s": {k: round(v, 3) for k, v in phases.items()},
        "database_s": round(database, 3),
        "read_and_compute_s": round(python, 3),
        "total_s": round(total, 3),
        "baseline_rank_s": round(base, 3),
        "database_over_baseline": round(database / base, 1),
        "total_over_baseline": round(total / base, 1),
        "hot_share": [None if r.hot_share is None else round(r.hot_share, 3) for r in runs],
        "written": [r.written for r in runs],
        "load": [r.load for r in runs],
        "target_database_s": 2.0,
        "met": database <= 2.0,
    }


async def what_if_hot(db: BenchDb) -> None:
    """A schema that lets the nightly UPDATE be HOT (heap-only: no index entries written): the queue-order index
    without ``score`` (a queue's few thousand rows are sorted in memory when listed) and room in each page."""
    conn = await asyncpg.connect(db.dsn)
    try:
        await conn.execute("DROP INDEX ix_waitlist_entry_queue_order")
        await conn.execute(
            "CREATE INDEX ix_waitlist_entry_queue_what_if ON waitlist_entry (oci_code, scope_kind, scope_code) "
            "WHERE status = 'autorizada'"
        )
        await conn.execute("ALTER TABLE waitlist_entry SET (fillfactor = 50)")
        await conn.execute("VACUUM (FULL, ANALYZE) waitlist_entry")
    finally:
        await conn.close()


# -- (c) reads in score order ----------------------------------------------------------------------------------------


async def read_costs(db: BenchDb, runs: int) -> dict[str, Any]:
    """(c) ``reads``: what reads a queue in score order costs, in the largest queue and in a median one — ranking it
    (``service.recompute_positions`` of that queue, rolled back) and "how many wait at or above this score" for 50
    of its entries at once (``repository.waiting_at_or_above``, the analysis list's provisional place). Medians of
    ``runs``, after one untimed run of each (cache warm)."""
    from regula.waitlist import repository as repo
    from regula.waitlist import service
    from regula.waitlist.queues import QueueKey

    settings = db.settings()
    database = make_database(db.url, pool_size=2)
    out: dict[str, Any] = {}
    try:
        async with database.transaction() as session:
            sizes = (
                await session.execute(
                    text(
                        "SELECT oci_code, scope_kind, scope_code, count(*) AS n FROM waitlist_entry "
                        "WHERE status = 'autorizada' GROUP BY 1, 2, 3 ORDER BY n DESC"
                    )
                )
            ).all()
        picks = {"largest": sizes[0], "median": sizes[len(sizes) // 2]}
        for label, (oci, kind, code, n) in picks.items():
            key = QueueKey(oci, kind, code)
            async with database.transaction() as session:
                rows = (
                    await session.execute(
                        text(
                            "SELECT id, score FROM waitlist_entry JOIN waitlist_standing ON entry_id = id "
                            "WHERE status = 'autorizada' AND oci_code = :o "
                            "AND scope_kind = :k AND scope_code = :c ORDER BY id LIMIT 50"
                        ),
                        {"o": oci, "k": kind, "c": code},
                    )
                ).all()
            wanted = [(int(i), key, int(sc)) for i, sc in rows]
            rank_times, above_times = [], []
            for i in range(runs + 1):
                async with database.sessionmaker() as session:
                    started = time.perf_counter()
                    await service.recompute_positions(session, settings, [key])
                    took = time.perf_counter() - started
                    await session.rollback()
                    if i:
                        rank_times.append(took)
                    started = time.perf_counter()
                    await repo.waiting_at_or_above(session, wanted)
                    took = time.perf_counter() - started
                    await session.rollback()
                    if i:
                        above_times.append(took)
            out[label] = {
                "queue": str(key),
                "entries": int(n),
                "rank_queue_ms": round(_median(rank_times) * 1000, 1),
                "at_or_above_50_ms": round(_median(above_times) * 1000, 1),
            }
            print(f"  reads, {label} queue ({n} waiting): {out[label]}", flush=True)
    finally:
        await database.dispose()
    return out


# -- (b) one citizen's position ---------------------------------------------------------------------------------------


@get("/bench/position", opt=public(), include_in_schema=False)
async def bench_position(db_session: AsyncSession, protocol: str, birth_date: date) -> PublicPosition:
    """``GET /public/position`` without its rate limit: the route's own function (``.fn``), same query and body."""
    result: PublicPosition = await routes.public_position.fn(
        db_session=db_session, protocol=protocol, birth_date=birth_date
    )
    return result


@get("/bench/select1", opt=public(), include_in_schema=False)
async def bench_select1(db_session: AsyncSession) -> dict[str, int]:
    """The baseline: a session from the same pool, through the same middleware, running ``SELECT 1``."""
    return {"one": int((await db_session.execute(text("SELECT 1"))).scalar_one())}


def bench_app() -> Litestar:
    """The real app (``create_app``) plus the two benchmark routes, built from ``REGULA_*`` in the environment
    (``uvicorn benchmarks.bench_waitlist:bench_app --factory``). ``/bench/position`` is the body of
    ``GET /public/position`` without that route's per-IP rate limit (10/minute), which would answer 429 to a load
    test; both routes go through the app's whole middleware stack (request log, metrics, authentication, guard)."""
    from regula.logs import configure_logging
    from regula.web.app import create_app

    settings = Settings()
    configure_logging(settings)
    assert settings.database_url is not None
    db = make_database(settings.database_url.get_secret_value(), pool_size=settings.database_pool_size)
    app = create_app(settings, db.sessionmaker, extra_routes=[bench_position, bench_select1])
    app.on_shutdown.append(db.dispose)
    return app


async def load_client(
    base: str, path: str, pairs: list[tuple[str, str]], rate: float, duration: float
) -> dict[str, Any]:
    """Open loop: request i is due at start + i / rate whatever happened to the others; its latency is counted from
    that due time (so a stalled server or client shows as latency, not as a lower rate)."""
    import aiohttp

    loop = asyncio.get_running_loop()
    total = int(rate * duration)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    async with aiohttp.ClientSession(
        base, connector=aiohttp.TCPConnector(limit=512), timeout=aiohttp.ClientTimeout(total=30)
    ) as http:

        async def one(i: int, due: float) -> None:
            protocol, birth = pairs[i % len(pairs)]
            params = {"protocol": protocol, "birth_date": birth} if "position" in path else None
            try:
                async with http.get(path, params=params) as response:
                    await response.read()
                    key = str(response.status)
            except Exception as exc:
                key = type(exc).__name__
            latencies.append(loop.time() - due)
            statuses[key] = statuses.get(key, 0) + 1

        start = loop.time() + 0.05
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0.001:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        sent_by = loop.time()
        await asyncio.gather(*tasks)
        finished = loop.time()
    lat = np.sort(np.array(latencies)) * 1000
    return {
        "requests": total,
        "statuses": statuses,
        "errors": total - statuses.get("200", 0),
        "achieved_rps": round(total / (finished - start), 1),
        "send_lag_s": round(sent_by - (start + (total - 1) / rate), 3),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p90_ms": round(float(np.percentile(lat, 90)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "max_ms": round(float(lat[-1]), 2),
    }


def _client_main(argv: Sequence[str]) -> None:
    p = argparse.ArgumentParser(prog="bench_waitlist client")
    p.add_argument("--base", required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--pairs", required=True)
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--duration", type=float, default=20)
    a = p.parse_args(argv)
    pairs = [(str(x[0]), str(x[1])) for x in json.loads(Path(a.pairs).read_text())]
    print(json.dumps(asyncio.run(load_client(a.base, a.path, pairs, a.rate, a.duration))))


def _drive(base: str, path: str, pairs_file: Path, rate: float, duration: float) -> dict[str, Any]:
    """The load generator in its own process."""
    cmd = [sys.executable, "-m", "benchmarks.bench_waitlist", "client", "--base", base, "--path", path,
           "--pairs", str(pairs_file), "--rate", str(rate), "--duration", str(duration)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])  # noqa: S603
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = _load()
    return result


def position_bench(
    db: BenchDb,
    gen: Generated,
    *,
    rate: float,
    duration: float,
    runs: int,
    workers: int,
    port: int,
    sweep: Sequence[float] = (),
    sweep_duration: float = 10,
) -> dict[str, Any]:
    pairs_file = Path(f"/tmp/{db.name}-pairs.json")  # noqa: S108
    pairs_file.write_text(json.dumps(list(zip(gen.protocols, gen.birth_dates, strict=True))))
    env = os.environ | {
        "REGULA_DATABASE_URL": db.url,
        "REGULA_LOG_JSON": "false",
        "REGULA_LOG_LEVEL": "WARNING",
        "REGULA_DATABASE_POOL_SIZE": "20",
    }
    cmd = [sys.executable, "-m", "uvicorn", "benchmarks.bench_waitlist:bench_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, cwd=Path(__file__).parents[1], start_new_session=True)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        out: dict[str, Any] = {"command": " ".join(cmd[1:]), "rate": rate, "duration_s": duration, "workers": workers}
        _drive(base, "/bench/select1", pairs_file, rate, 3)  # warm-up: connections, pools, caches
        _drive(base, "/bench/position", pairs_file, rate, 3)
        out["baseline_select1"], out["position"] = [], []
        for i in range(runs):
            for name, path in (("baseline_select1", "/bench/select1"), ("position", "/bench/position")):
                result = _drive(base, path, pairs_file, rate, duration)
                out[name].append(result)
                print(f"  run {i + 1} {name}: {result}", flush=True)
        # Lower open-loop rates, to find what this machine sustains within the latency target.
        out["sweep"] = []
        for sweep_rate in sweep:
            for name, path in (("baseline_select1", "/bench/select1"), ("position", "/bench/position")):
                result = _drive(base, path, pairs_file, sweep_rate, sweep_duration) | {
                    "route": name,
                    "rate": sweep_rate,
                }
                out["sweep"].append(result)
                print(f"  sweep {sweep_rate:g}/s {name}: {result}", flush=True)
        # The real public route: its per-IP rate limit answers 429 after 10 requests a minute.
        out["real_route_with_rate_limit"] = _drive(base, "/public/position", pairs_file, rate, 3)
        print(f"  /public/position (rate-limited): {out['real_route_with_rate_limit']}", flush=True)
        for name in ("baseline_select1", "position"):
            out[f"{name}_median"] = {
                k: _median([r[k] for r in out[name]])
                for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "achieved_rps", "errors")
            }
        out["p99_over_baseline"] = round(out["position_median"]["p99_ms"] / out["baseline_select1_median"]["p99_ms"], 2)
        out["met"] = out["position_median"]["p99_ms"] <= 20 and out["position_median"]["errors"] == 0
        return out
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        pairs_file.unlink(missing_ok=True)


def _wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("uvicorn exited")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:  # noqa: S310 - our own server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("uvicorn did not become healthy")


# -- main -------------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["client"]:
        _client_main(argv[1:])
        return
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_waitlist", description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=lambda s: int(float(s)), default=1_000_000)
    p.add_argument("--citizens", type=lambda s: int(float(s)), default=None, help="default: entries / 3")
    p.add_argument("--runs", type=int, default=5, help="refresh runs (one day later each)")
    p.add_argument("--bench", default="refresh,position", help="refresh, reads, position (comma-separated)")
    p.add_argument("--two-step-runs", type=int, default=0, help="runs of the score write + recompute_positions path")
    p.add_argument("--what-if-hot", action="store_true", help="then rerun the refresh on a HOT-friendly schema")
    p.add_argument(
        "--stored-explanation",
        action="store_true",
        help="rows as production held them before migration 0024 (run against a tree before it)",
    )
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--position-runs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--sweep", default="", help="also these lower rates, one 10 s run each, e.g. 100,200,300")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    a = p.parse_args(argv)
    server = os.environ.get("REGULA_BENCH_DATABASE_URL", DEFAULT_SERVER)
    benches = set(a.bench.split(","))
    results: dict[str, Any] = {"date": date.today().isoformat(), "argv": argv}

    def save() -> None:
        if a.out:
            a.out.write_text(json.dumps(results, indent=2, default=str))

    db = BenchDb.create(server)
    print(f"database {db.name}", flush=True)
    try:
        results["machine"] = asyncio.run(machine(db))
        print(json.dumps(results["machine"], indent=2), flush=True)
        gen = asyncio.run(
            generate(db, a.entries, a.citizens or max(a.entries // 3, 1), stored_explanation=a.stored_explanation)
        )
        results["data"] = {
            "entries": gen.entries,
            "citizens": gen.citizens,
            "queues": gen.queues,
            "load_s": round(gen.seconds, 1),
        }
        print(f"data: {results['data']}", flush=True)
        if "refresh" in benches:
            print("warm-up refresh (scores and positions from nothing)", flush=True)
            asyncio.run(refresh_runs(db, 1, 0))
            day = 1
            if a.two_step_runs:
                print("two-step: score write-back, then recompute_positions", flush=True)
                two = asyncio.run(refresh_runs(db, a.two_step_runs, day, two_step_mode=True))
                day += a.two_step_runs
                results["two_step"] = summarize_refresh(two, asyncio.run(baseline_rank(db, 3)), two_step_mode=True)
                save()
            base = asyncio.run(baseline_rank(db, a.runs))
            print(f"baseline rank(): {[round(b, 3) for b in base]}", flush=True)
            runs = asyncio.run(refresh_runs(db, a.runs, day))
            day += a.runs
            results["refresh"] = summarize_refresh(runs, base)
            print(json.dumps(results["refresh"], indent=2), flush=True)
            save()
            if a.what_if_hot:
                print("what-if: HOT-friendly schema (queue index without score, fillfactor 50)", flush=True)
                asyncio.run(what_if_hot(db))
                asyncio.run(refresh_runs(db, 1, day))
                day += 1
                hot_base = asyncio.run(baseline_rank(db, a.runs))
                hot = asyncio.run(refresh_runs(db, a.runs, day))
                results["refresh_what_if_hot"] = summarize_refresh(hot, hot_base)
                print(json.dumps(results["refresh_what_if_hot"], indent=2), flush=True)
                save()
        if "reads" in benches:
            if "refresh" not in benches:
                asyncio.run(refresh_runs(db, 1, 0))  # scores and positions to read
            results["reads"] = asyncio.run(read_costs(db, a.position_runs * 3))
            save()
        if "position" in benches:
            results["position"] = position_bench(
                db,
                gen,
                rate=a.rate,
                duration=a.duration,
                runs=a.position_runs,
                workers=a.workers,
                port=a.port,
                sweep=[float(r) for r in a.sweep.split(",") if r],
            )
            summary = {
                k: v for k, v in results["position"].items() if "median" in k or k in ("met", "p99_over_baseline")
            }
            print(json.dumps(summary, indent=2), flush=True)
            save()
    finally:
        db.drop()
        save()
        print(f"dropped {db.name}", flush=True)


if __name__ == "__main__":
    wire()  # services are called directly here: connect the domain events as the app and the CLI do
    main()
