"""Jobs are recorded, never run twice at once across processes, and the escalation sweep flags entries past 75%
of their tM window. Jobs commit, so these tests use a database of their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from regula.jobs.registry import all_jobs
from sqlalchemy import text

from regula.config import Settings
from regula.core.locks import lock_key
from regula.db.engine import Database, make_database
from regula.jobs.runner import Job, run_job
from regula.territory.service import load_territory


@pytest.fixture
async def db(fresh_database_url: str) -> AsyncIterator[Database]:
    database = make_database(fresh_database_url, pool_size=4)
    yield database
    await database.dispose()


async def test_runs_are_recorded_with_outcome_and_counts(db: Database, settings: Settings) -> None:
    async def works(db: Database, settings: Settings) -> dict[str, Any]:
        return {"done": 3}

    async def breaks(db: Database, settings: Settings) -> dict[str, Any]:
        raise RuntimeError("boom")

    ok = await run_job(db, settings, Job("works", "ok", works, "* * * * *"))
    failed = await run_job(db, settings, Job("breaks", "falha", breaks, "* * * * *"))
    assert (ok.outcome, ok.counts) == ("ok", {"done": 3})
    assert failed.outcome == "failed"
    assert failed.error is not None and "boom" in failed.error
    assert failed.finished_at is not None


async def test_second_process_skips_a_job_whose_lock_is_held(db: Database, settings: Settings) -> None:
    calls = 0

    async def slow(db: Database, settings: Settings) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.5)
        return {}

    job = Job("slow", "lenta", slow, "* * * * *")
    first, second = await asyncio.gather(run_job(db, settings, job), run_job(db, settings, job))
    assert sorted([first.outcome, second.outcome]) == ["ok", "skipped"]
    assert calls == 1
    assert lock_key("slow") == lock_key("slow") != lock_key("other")


async def test_escalation_sweep_flags_entries_past_three_quarters(db: Database, settings: Settings) -> None:
    async with db.transaction() as s:
        await load_territory(s)
        await s.execute(
            text(
                "INSERT INTO citizen (cpf, name, search_name, birth_date, sex, race_color, municipality_ibge, uf, "
                "preferred_channel, contact_consent, pregnant, disability, autism, cadunico, created_at, updated_at) "
                "VALUES ('52998224725', 'Ana', 'ANA', '1970-01-01', 'F', 'parda', '4205407', 'SC', 'sms', true, "
                "false, false, false, false, now(), now())"
            )
        )
        for protocol, waited, oci in (("SC2600000001", 50, "0902010026"), ("SC2600000002", 10, "0902010018")):
            await s.execute(
                text(
                    "INSERT INTO waitlist_entry (protocol, citizen_id, oci_code, catalog_competencia, cid_code, "
                    "risk_class, risk_justification, checklist, requesting_cnes, municipality_ibge, uf, scope_kind, "
                    "scope_code, status, status_changed_at, requested_at, authorized_at, deadline_date, max_days, "
                    "suspended_days, created_at, updated_at) VALUES (:p, 1, :oci, '202601', 'I20', 'verde', "
                    "'justificativa longa', '{}', '2691868', '4205407', 'SC', 'region', '42007', 'autorizada', now(), "
                    "now(), now() - make_interval(days => :w), CAST(now() AS date) - :w + 60, 60, 0, now(), now())"
                ),
                {"p": protocol, "w": waited, "oci": oci},
            )
    run = await run_job(db, settings, all_jobs()["escalation_sweep"])
    assert run.outcome == "ok", run.error
    # …and the navigators get a task for it, once.
    assert run.counts == {"flagged": 1, "escalated_waiting": 1, "tasks_opened": 1}
    async with db.transaction() as s:
        flagged = (await s.execute(text("SELECT protocol FROM waitlist_entry WHERE escalated_at IS NOT NULL"))).all()
    assert [r[0] for r in flagged] == ["SC2600000001"]
    again = await run_job(db, settings, all_jobs()["escalation_sweep"])
    assert again.counts == {"flagged": 0, "escalated_waiting": 1, "tasks_opened": 0}
