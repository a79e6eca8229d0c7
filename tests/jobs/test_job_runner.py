"""Jobs are recorded, never run twice at once across processes, and the escalation sweep flags entries past 75%
of their tM window. A job's commits only release savepoints of the test's transaction (``savepoint_database``);
the tests that run two jobs at once need connections of their own, so they get a database of their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.core.locks import lock_key
from regula.db.engine import Database, make_database
from regula.jobs.process import all_jobs
from regula.jobs.runner import Job, JobContext, has_work, run_job
from regula.territory.service import load_territory


@pytest.fixture
async def db(fresh_database_url: str) -> AsyncIterator[Database]:
    database = make_database(fresh_database_url, pool_size=4)
    yield database
    await database.dispose()


async def test_runs_are_recorded_with_outcome_and_counts(savepoint_database: Database, settings: Settings) -> None:
    db = savepoint_database

    async def works(ctx: JobContext) -> dict[str, Any]:
        return {"done": 3}

    async def breaks(ctx: JobContext) -> dict[str, Any]:
        raise RuntimeError("boom")

    ok = await run_job(db, settings, Job("works", "ok", works, "* * * * *"))
    failed = await run_job(db, settings, Job("breaks", "falha", breaks, "* * * * *"))
    assert ok is not None and failed is not None
    assert (ok.outcome, ok.counts) == ("ok", {"done": 3})
    assert failed.outcome == "failed"
    assert failed.error is not None and "boom" in failed.error
    assert failed.finished_at is not None


async def test_second_process_skips_a_job_whose_lock_is_held(db: Database, settings: Settings) -> None:
    calls = 0

    async def slow(ctx: JobContext) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.5)
        return {}

    job = Job("slow", "lenta", slow, "* * * * *")
    first, second = await asyncio.gather(run_job(db, settings, job), run_job(db, settings, job))
    assert first is not None and second is not None
    assert sorted([first.outcome, second.outcome]) == ["ok", "skipped"]
    assert calls == 1
    assert lock_key("slow") == lock_key("slow") != lock_key("other")


async def test_a_polled_job_runs_only_when_it_has_work_and_is_not_recorded_when_busy(
    db: Database, settings: Settings
) -> None:
    waiting = 0

    async def pending(session: AsyncSession) -> bool:
        return waiting > 0

    async def drain(ctx: JobContext) -> dict[str, Any]:
        nonlocal waiting
        await asyncio.sleep(0.5)
        done, waiting = waiting, 0
        return {"done": done}

    job = Job("polled", "consulta", drain, poll_seconds=1, pending=pending)
    assert not await has_work(db, job)
    waiting = 2
    assert await has_work(db, job)
    first, second = await asyncio.gather(run_job(db, settings, job), run_job(db, settings, job))
    # One did the work and was recorded; the other found the lock held and left no record at all.
    assert [r.counts for r in (first, second) if r is not None] == [{"done": 2}]
    async with db.transaction() as s:
        runs = (await s.execute(text("SELECT outcome FROM job_run WHERE job = 'polled'"))).scalars().all()
    assert runs == ["ok"]


def test_every_domain_job_is_collected_once_with_a_schedule(settings: Settings) -> None:
    jobs = all_jobs()
    assert sorted(jobs) == sorted(
        [
            "refresh_positions",
            "escalation_sweep",
            "backfill_sweep",
            "allocation",
            "allocation_solver",
            "simulation_runner",
            "notify_dispatch",
            "reply_deadlines",
            "notify_planning",
            "oci_alerts",
            "teleconsultation_escalation",
            "counter_referral_unread",
        ]
    )
    for job in jobs.values():
        assert (job.crontab(settings) is None) != (job.poll_seconds is None), job.name
    assert jobs["allocation"].crontab(settings) == settings.allocation_cron


async def test_escalation_sweep_flags_entries_past_three_quarters(
    savepoint_database: Database, settings: Settings
) -> None:
    db = savepoint_database
    async with db.transaction() as s:
        await load_territory(s)
        citizen_id = (
            await s.execute(
                text(
                    "INSERT INTO citizen (cpf, name, search_name, birth_date, sex, race_color, municipality_ibge, uf, "
                    "preferred_channel, contact_consent, pregnant, disability, autism, cadunico, created_at, "
                    "updated_at) VALUES ('52998224725', 'Ana', 'ANA', '1970-01-01', 'F', 'parda', '4205407', 'SC', "
                    "'sms', true, false, false, false, false, now(), now()) RETURNING id"
                )
            )
        ).scalar_one()
        for protocol, waited, oci in (("SC2600000001", 50, "0902010026"), ("SC2600000002", 10, "0902010018")):
            await s.execute(
                text(
                    "INSERT INTO waitlist_entry (protocol, citizen_id, oci_code, catalog_competencia, cid_code, "
                    "risk_class, risk_justification, checklist, requesting_cnes, municipality_ibge, uf, scope_kind, "
                    "scope_code, status, status_changed_at, requested_at, authorized_at, max_days, "
                    "suspended_days, created_at, updated_at) VALUES (:p, :c, :oci, '202601', 'I20', 'verde', "
                    "'justificativa longa', '{}', '2691868', '4205407', 'SC', 'region', '42007', 'autorizada', now(), "
                    "now(), now() - make_interval(days => :w), 60, 0, now(), now())"
                ),
                {"p": protocol, "c": citizen_id, "w": waited, "oci": oci},
            )
    run = await run_job(db, settings, all_jobs()["escalation_sweep"])
    assert run is not None and run.outcome == "ok", run and run.error
    # …and the navigators get a task for it, once.
    assert run.counts == {"flagged": 1, "escalated_waiting": 1, "tasks_opened": 1}
    async with db.transaction() as s:
        flagged = (await s.execute(text("SELECT protocol FROM waitlist_entry WHERE escalated_at IS NOT NULL"))).all()
    assert [r[0] for r in flagged] == ["SC2600000001"]
    again = await run_job(db, settings, all_jobs()["escalation_sweep"])
    assert again is not None and again.counts == {"flagged": 0, "escalated_waiting": 1, "tasks_opened": 0}
