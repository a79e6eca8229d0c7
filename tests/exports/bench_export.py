"""Benchmark of ``regula export waitlist`` on synthetic data (run by hand, not collected by pytest).

    REGULA_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m tests.exports.bench_export --entries 1000000 --formats csv json fhir

Creates a throwaway database on that server, fills it with ``--entries`` SC entries (SQL ``generate_series``: one
citizen per entry, 10 OCIs, SC municipalities, 75 % authorized, 5 % booked), times each export, reports peak
memory (max RSS) and drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

from sqlalchemy import make_url, text

from regula.audit.service import AuditContext, set_context
from regula.catalog.service import bundled_sigtap_zip, import_sigtap
from regula.config import Settings
from regula.db.engine import make_database
from regula.exports.service import Staging, export_waitlist
from regula.exports.waitlist import check_filter, check_format
from regula.territory.service import load_territory
from tests.conftest import throwaway_database

FILL = """
WITH m AS (SELECT ibge_code, health_region_code, row_number() OVER (ORDER BY ibge_code) - 1 AS i,
                  count(*) OVER () AS n FROM municipality WHERE uf = 'SC'),
     o AS (SELECT code, row_number() OVER (ORDER BY code) - 1 AS i FROM catalog_oci WHERE code LIKE '0902%'
           OR code LIKE '0903%' OR code LIKE '0905%' LIMIT 10),
     c AS (
       INSERT INTO citizen (cpf, name, search_name, birth_date, sex, race_color, municipality_ibge, uf,
                            preferred_channel, contact_consent, pregnant, disability, autism, cadunico,
                            created_at, updated_at)
       SELECT lpad(g::text, 11, '0'), 'Pessoa ' || g, 'pessoa ' || g, date '1950-01-01' + (g % 20000),
              CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END, 'parda', m.ibge_code, 'SC', 'nenhum', false, false,
              false, false, false, now(), now()
       FROM generate_series(1, :n) g JOIN m ON m.i = g % m.n
       RETURNING id, municipality_ibge)
INSERT INTO waitlist_entry (protocol, citizen_id, oci_code, catalog_competencia, cid_code, risk_class,
    risk_justification, checklist, requesting_cnes, municipality_ibge, uf, scope_kind, scope_code, status,
    status_changed_at, requested_at, authorized_at, max_days, suspended_days, created_at, updated_at)
SELECT 'SC26' || lpad(c.id::text, 8, '0'), c.id, o.code, '202601', 'I209',
       (ARRAY['vermelho','amarelo','verde','azul'])[1 + c.id % 4], 'Sintético para medir a exportação.', '{}',
       '2691868', c.municipality_ibge, 'SC', 'region', coalesce(m.health_region_code, '42007'),
       CASE WHEN c.id % 20 = 0 THEN 'agendada' WHEN c.id % 4 = 1 THEN 'solicitada' ELSE 'autorizada' END,
       now(), now() - interval '30 days', CASE WHEN c.id % 4 <> 1 THEN now() - interval '20 days' END,
       60, 0, now(), now()
FROM c JOIN o ON o.i = c.id % 10 JOIN m ON m.ibge_code = c.municipality_ibge
"""
# The standing rows the entries' trigger made (decision 0034): stand-in positions for the waiting ones.
POSITIONS = """
UPDATE waitlist_standing s SET position = e.citizen_id, queue_size = :n
FROM waitlist_entry e WHERE e.id = s.entry_id AND e.status <> 'solicitada'
"""
BOOK = """
WITH s AS (INSERT INTO agenda_slot (cnes, oci_code, starts_at, modality, capacity, booked, status, created_at)
           SELECT '7000001', oci_code, now() + interval '10 days', 'presencial', 1, 1, 'aberta', now()
           FROM waitlist_entry WHERE status = 'agendada' ORDER BY id RETURNING id, oci_code),
     e AS (SELECT id, row_number() OVER (ORDER BY id) AS r FROM waitlist_entry WHERE status = 'agendada'),
     sl AS (SELECT id, row_number() OVER (ORDER BY id) AS r FROM s)
INSERT INTO slot_booking (slot_id, entry_id, status, booked_at)
SELECT sl.id, e.id, 'ativa', now() FROM e JOIN sl USING (r)
"""


async def _fill(url: str, settings: Settings, n: int) -> None:
    db = make_database(url, pool_size=1)
    try:
        async with db.transaction() as s:
            await load_territory(s)
            await import_sigtap(s, bundled_sigtap_zip(), settings)
            await s.execute(
                text(
                    "INSERT INTO establishment (cnes, name, municipality_ibge, uf, kind, habilitacoes, active,"
                    " created_at, updated_at) VALUES ('7000001', 'Policlínica', '4216602', 'SC', 'contratado', '{}',"
                    " true, now(), now())"
                )
            )
            await s.execute(text(FILL), {"n": n})
            await s.execute(text(POSITIONS), {"n": n})
            await s.execute(text(BOOK))
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))
    finally:
        await db.dispose()


async def _export(url: str, settings: Settings, fmt: str, out: Path) -> tuple[int, float, int]:
    db = make_database(url, pool_size=1)
    staging = Staging()
    try:
        started = time.perf_counter()
        async with db.transaction() as s:
            set_context(s, AuditContext.system("cli", "bench"))
            report = await export_waitlist(
                s, settings, check_filter("SC"), check_format(fmt), out / f"bench.{fmt}", staging
            )
        staging.publish()
        return report.rows, time.perf_counter() - started, sum(f.bytes for f in report.files)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--formats", nargs="+", default=["csv", "json", "fhir"])
    args = parser.parse_args()
    server = os.environ["REGULA_TEST_DATABASE_URL"]
    url = make_url(server).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory() as tmp, throwaway_database(url, "regula_bench_export") as db_url:
        settings = Settings(home=Path(tmp), environment="test", log_json=False)
        started = time.perf_counter()
        asyncio.run(_fill(db_url, settings, args.entries))
        print(f"filled {args.entries:,} entries in {time.perf_counter() - started:.1f} s", flush=True)
        for fmt in args.formats:
            rows, seconds, size = asyncio.run(_export(db_url, settings, fmt, Path(tmp)))
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"{fmt:5} {rows:>10,} rows  {seconds:8.1f} s  {rows / seconds:>9,.0f} rows/s  {size / 1e6:8.1f} MB"
                f"  max RSS so far {rss:,.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
