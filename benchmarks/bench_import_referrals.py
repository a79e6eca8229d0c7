"""Benchmark of ``regula import referrals``: N valid rows into a fresh database, against a plain ``COPY`` baseline.

    .venv/bin/python benchmarks/bench_import_referrals.py --rows 1000000 --runs 3

What it does:

1. creates a template database on the server of ``REGULA_BENCH_DATABASE_URL`` (default
   ``postgresql://postgres@127.0.0.1:5432/postgres``), runs the migrations and loads the territory and the shipped
   SIGTAP catalog into it;
2. writes N valid rows as a ``;`` CSV in a temporary directory: residents of Santa Catarina's municipalities
   weighted by population, the catalog's 34 OCIs with CIDs they accept and ages and sexes they allow, valid CPFs
   (one person in ten has a second referral, for another OCI), a share of rows already authorized (``--authorized``)
   so that the migration path (waiting time kept, positions) is measured too;
3. for each run, clones the template into a fresh database, imports the file in one transaction (what
   ``regula import referrals`` does: validation, citizens, entries, history, the audit event, commit) and drops it;
4. baseline, in the same process and on the same server: ``COPY`` of the same file into a staging table of text
   columns, with no validation, in a fresh database too;
5. prints the median wall time of each, rows per second and the ratio import / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import csv
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from regula.audit.service import AuditContext, set_context
from regula.config import Settings
from regula.db import migrate
from regula.db.engine import make_database
from regula.people.documents import generate_cns, generate_cpf
from regula.territory.reference import territory
from regula.waitlist import service
from regula.waitlist.importer import ImportReport, import_referrals
from regula.wiring import wire

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HEADER = (
    "id_externo",
    "cpf",
    "cns",
    "nome",
    "data_nascimento",
    "sexo",
    "raca_cor",
    "municipio_ibge",
    "telefone",
    "canal",
    "consentimento",
    "gestante",
    "oci",
    "cid",
    "classe_risco",
    "justificativa",
    "cnes_solicitante",
    "cbo",
    "data_solicitacao",
    "status",
    "data_autorizacao",
)
FIRST = ("Maria", "José", "Ana", "João", "Antônio", "Francisca", "Carlos", "Paulo", "Luiza", "Pedro", "Lucas", "Júlia")
LAST = ("Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes", "Costa")
RACES = ("branca", "branca", "branca", "parda", "parda", "preta", "amarela", "indigena", "sem_informacao")
RISKS = ("vermelho", "amarelo", "amarelo", "verde", "verde", "verde", "azul")


def asyncpg_url(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


async def admin(server: str, *statements: str) -> None:
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    await engine.dispose()


def db_url(server: str, name: str) -> str:
    return make_url(server).set(database=name).render_as_string(hide_password=False)


async def drop(server: str, name: str) -> None:
    await admin(
        server,
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",  # noqa: S608 - our name
        f'DROP DATABASE IF EXISTS "{name}"',
    )


def settings_for(url: str, home: Path) -> Settings:
    return Settings(home=home, database_url=SecretStr(url), environment="test", log_json=False, log_level="WARNING")


async def prepare_template(server: str, name: str, home: Path) -> service.Catalog:
    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.territory.service import load_territory

    await admin(server, f'CREATE DATABASE "{name}"')
    url = db_url(server, name)
    await asyncio.to_thread(migrate.upgrade, url)
    settings = settings_for(url, home)
    db = make_database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            set_context(session, AuditContext.system("cli", "bench"))
            await load_territory(session)
            await import_sigtap(session, bundled_sigtap_zip(), settings)
        async with db.transaction() as session:
            return await service.load_catalog(session, settings)
    finally:
        await db.dispose()


# -- data ---------------------------------------------------------------------------------------------------------


def fast_cpfs(rng: random.Random, n: int) -> list[str]:
    """n distinct valid CPFs (the check digits as ``documents.generate_cpf`` computes them)."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        value = generate_cpf(rng)
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def write_csv(path: Path, n: int, catalog: service.Catalog, authorized_share: float, seed: int = 42) -> None:
    rng = random.Random(seed)
    sc = [m for m in territory().by_uf("SC")]
    cumulative = list(itertools.accumulate(m.population for m in sc))
    total = cumulative[-1]
    ocis = list(catalog.ocis.values())
    today = date.today()
    people = max(1, int(n / 1.1))
    cpfs = fast_cpfs(rng, people)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(HEADER)
        person_ocis: dict[int, set[str]] = {}
        persons: list[tuple[str, str, str, date, str, str, str]] = []
        for i in range(n):
            if i < people:
                m = sc[bisect.bisect_right(cumulative, rng.randrange(total))]
                sex = rng.choice("FM")
                birth = date(rng.randint(1935, 2015), rng.randint(1, 12), rng.randint(1, 28))
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}"
                race = rng.choice(RACES)
                # Indigenous people are identified by the CNS (SAES art. 11): without it the row is refused.
                cns = generate_cns(rng) if race == "indigena" else ""
                persons.append((cpfs[i], cns, name, birth, sex, race, m.ibge_code))
                p = i
            else:
                p = rng.randrange(people)  # a second referral of someone, for another OCI
            cpf, cns, name, birth, sex, race, ibge = persons[p]
            age_months = (today.year - birth.year) * 12 + today.month - birth.month - (today.day < birth.day)
            taken = person_ocis.setdefault(p, set())
            fitting = [
                o
                for o in ocis
                if o.code not in taken
                and (o.sex is None or o.sex == sex)
                and (o.age_min_months is None or age_months >= o.age_min_months)
                and (o.age_max_months is None or age_months <= o.age_max_months)
            ]
            if not fitting:
                continue
            oci = rng.choice(fitting)
            taken.add(oci.code)
            requested = today - timedelta(days=rng.randint(5, 400))
            authorized = rng.random() < authorized_share
            writer.writerow(
                (
                    f"SISREG-{i:08d}",
                    cpf,
                    cns,
                    name,
                    birth.strftime("%d/%m/%Y") if i % 2 else birth.isoformat(),
                    sex,
                    race,
                    ibge,
                    f"(48) 9{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
                    "sms",
                    "sim",
                    "nao",
                    oci.code,
                    rng.choice(oci.cids),
                    rng.choice(RISKS),
                    "Encaminhamento conforme protocolo de acesso.",
                    f"{2_000_000 + rng.randrange(900_000)}",
                    "225142",
                    requested.isoformat(),
                    "autorizada" if authorized else "solicitada",
                    (requested + timedelta(days=rng.randint(0, 4))).isoformat() if authorized else "",
                )
            )


# -- runs ---------------------------------------------------------------------------------------------------------


async def run_import(server: str, template: str, path: Path, home: Path, chunk_size: int) -> tuple[float, Any]:
    name = f"regula_bench_run_{uuid.uuid4().hex[:8]}"
    await admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = db_url(server, name)
    settings = settings_for(url, home)
    db = make_database(url, pool_size=1)
    try:
        started = time.perf_counter()
        async with db.transaction() as session:
            set_context(session, AuditContext.system("cli", "regula import referrals"))
            report = await import_referrals(
                session, settings, path, actor=service.Actor.system("bench"), chunk_size=chunk_size
            )
        elapsed = time.perf_counter() - started
        return elapsed, report
    finally:
        await db.dispose()
        await drop(server, name)


async def run_baseline(server: str, template: str, path: Path) -> float:
    import asyncpg  # type: ignore[import-untyped]

    name = f"regula_bench_copy_{uuid.uuid4().hex[:8]}"
    await admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    u = make_url(db_url(server, name))
    try:
        conn = await asyncpg.connect(
            host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
        )
        try:
            started = time.perf_counter()
            async with conn.transaction():
                columns = ", ".join(f"{c} text" for c in HEADER)
                await conn.execute(f"CREATE TABLE staging ({columns})")
                await conn.copy_to_table(
                    "staging", source=str(path), format="csv", header=True, delimiter=";", encoding="utf-8"
                )
            return time.perf_counter() - started
        finally:
            await conn.close()
    finally:
        await drop(server, name)


async def main(args: argparse.Namespace) -> int:
    server = asyncpg_url(args.url)
    template = f"regula_bench_template_{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="regula-bench-") as tmp:
        home = Path(tmp)
        try:
            print(f"Preparando o banco modelo {template} (migrações, territórios, catálogo)…", file=sys.stderr)
            catalog = await prepare_template(server, template, home)
            path = home / "encaminhamentos.csv"
            t0 = time.perf_counter()
            await asyncio.to_thread(write_csv, path, args.rows, catalog, args.authorized)
            rows = sum(1 for _ in path.open(encoding="utf-8")) - 1
            print(
                f"CSV: {rows:,} linhas, {path.stat().st_size / 1e6:.0f} MB, gerado em {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
            )
            baselines: list[float] = []
            imports: list[float] = []
            last: ImportReport | None = None
            for run in range(args.runs):
                baselines.append(await run_baseline(server, template, path))
                elapsed, last = await run_import(server, template, path, home, args.chunk_size)
                imports.append(elapsed)
                print(
                    f"run {run + 1}: import {elapsed:.2f} s (importadas {last.imported:,}, recusadas {last.refused:,},"
                    f" cidadãos {last.citizens_created:,}, escores {last.scores}) · COPY {baselines[-1]:.2f} s",
                    file=sys.stderr,
                )
                if last.refused:
                    print(f"  erros: {[e.as_dict() for e in last.errors[:5]]}", file=sys.stderr)
            imp, base = statistics.median(imports), statistics.median(baselines)
            print(f"rows={rows} runs={args.runs} cpus={os.cpu_count()}")
            each = ", ".join(f"{t:.2f}" for t in imports)
            print(f"import: median {imp:.2f} s ({rows / imp:,.0f} rows/s) · runs {each}")
            print(f"COPY baseline: median {base:.2f} s ({rows / base:,.0f} rows/s)")
            print(f"ratio import / COPY: {imp / base:.1f}x")
        finally:
            await drop(server, template)
    return 0


if __name__ == "__main__":
    wire()  # services are called directly here: connect the domain events as the app and the CLI do
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--authorized", type=float, default=0.3, help="share of rows already authorized (0–1)")
    parser.add_argument("--chunk-size", type=int, default=25_000)
    parser.add_argument("--url", default=os.environ.get("REGULA_BENCH_DATABASE_URL", DEFAULT_URL))
    sys.exit(asyncio.run(main(parser.parse_args())))
