"""Allocation under real concurrency (issue 11 item 8): the app on a committed database of its own, requests on
separate connections at the same time. Concurrent proposals of one scope leave exactly one live run; a commit
racing suspensions of its own entries never deadlocks or answers 500, and no suspended entry keeps a place.
Proposals are queued and solved by the jobs process's solver job, the optimizer in a worker process
(issue 12 item 6); a failed or interrupted solve is recorded and gives the scope back to the run it superseded."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tests.conftest import Login, app_client
from tests.waitlist.test_waitlist_api import citizen_body
from tests.waitlist.test_waitlist_api import refer as refer_one

from regula.config import Settings
from regula.db.engine import make_sessionmaker
from regula.people.documents import generate_cpf

OCI = "0902010026"
SAO_JOSE = "4216602"
rng = random.Random(11)


@dataclass
class World:
    engine: AsyncEngine
    client: httpx.AsyncClient
    regulador: Login
    gestor: Login
    aps: Login


@pytest.fixture
async def world(fresh_database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    from regula.access import service as access
    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.territory.service import load_territory
    from regula.web.app import create_app

    settings = Settings(home=tmp_path, database_url=SecretStr(fresh_database_url), environment="test", log_json=False)
    engine = create_async_engine(fresh_database_url, pool_size=25, max_overflow=10)
    sessionmaker = make_sessionmaker(engine)
    logins: dict[str, Login] = {}
    async with sessionmaker() as s:
        await load_territory(s)
        await import_sigtap(s, bundled_sigtap_zip(), settings)
        for role, jurisdiction in (
            ("regulador", "uf:SC"),
            ("gestor", "uf:SC"),
            ("solicitante", "municipality:4205407"),
        ):
            user = await access.create_user(
                s, username=role, full_name=role.title(), role=role, jurisdiction=jurisdiction, password="x" * 16
            )
            _, secret = await access.create_token(s, role)
            assert user.id is not None
            logins[role] = Login(role, "x" * 16, secret, user.id)
        await s.commit()
    async with app_client(create_app(settings, sessionmaker)) as client:
        yield World(engine, client, logins["regulador"], logins["gestor"], logins["solicitante"])
    await engine.dispose()


async def _agenda(w: World, cnes: str, places: int) -> None:
    r = await w.client.post(
        "/api/v1/establishments",
        json={"cnes": cnes, "name": f"Policlínica {cnes}", "municipality_ibge": SAO_JOSE, "kind": "contratado"},
        headers=w.gestor.headers,
    )
    assert r.status_code == 201, r.text
    r = await w.client.put(f"/api/v1/establishments/{cnes}/offers", json={"oci_code": OCI}, headers=w.gestor.headers)
    assert r.status_code == 200, r.text
    first = date.today() + timedelta(days=5)
    for i in range(places):
        r = await w.client.post(
            "/api/v1/slots",
            json={
                "cnes": cnes,
                "oci_code": OCI,
                "starts_at": f"{first + timedelta(days=i % 20)}T{8 + i // 20:02d}:00:00-03:00",
                "capacity": 1,
            },
            headers=w.gestor.headers,
        )
        assert r.status_code == 201, r.text


async def _waiting_entries(w: World, n: int) -> list[int]:
    ids = []
    for i in range(n):
        body = citizen_body(name=f"Pessoa Teste {i}", cpf=generate_cpf(rng))
        e = await refer_one(w.client, w.aps, body, risk=("vermelho", "amarelo", "verde", "azul")[i % 4])
        for target in ("em_analise", "autorizada"):
            r = await w.client.post(
                f"/api/v1/entries/{e['id']}/transitions", json={"to": target}, headers=w.regulador.headers
            )
            assert r.status_code == 201, r.text
        ids.append(int(e["id"]))
    return ids


async def _live_runs(engine: AsyncEngine, scope: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM allocation_run WHERE scope = :s "
                        "AND status IN ('na_fila', 'resolvendo', 'proposta', 'aprovada')"
                    ),
                    {"s": scope},
                )
            ).scalar_one()
        )


async def _solve_queue(world: World, tmp_path: Path) -> None:
    """What the jobs process does between requests, in this process (``solve_queued_now``), committed."""
    from regula.allocation.service import solve_queued_now

    async with make_sessionmaker(world.engine)() as s, s.begin():
        await solve_queued_now(s, _settings(world, tmp_path))


def _settings(world: World, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        database_url=SecretStr(world.engine.url.render_as_string(hide_password=False)),
        environment="test",
        log_json=False,
    )


async def test_concurrent_proposals_leave_one_live_run(world: World, tmp_path: Path) -> None:
    await _agenda(world, "7000011", places=6)
    await _waiting_entries(world, 6)

    async def propose() -> httpx.Response:
        return await world.client.post(
            "/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=world.regulador.headers
        )

    responses = await asyncio.gather(*(propose() for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {202, 409}, [r.text for r in responses if r.status_code not in (202, 409)]
    # One is queued; every other finds it queued (or being queued) and steps back.
    assert statuses.count(202) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["code"] == "rodada_em_calculo"
    assert await _live_runs(world.engine, "uf:SC") == 1
    await _solve_queue(world, tmp_path)
    async with world.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, status FROM allocation_run ORDER BY id"))).all()
    assert [r.status for r in rows] == ["proposta"]
    # A later proposal supersedes the live one, as before.
    again = await propose()
    assert again.status_code == 202, again.text
    assert await _live_runs(world.engine, "uf:SC") == 1
    async with world.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, status FROM allocation_run ORDER BY id"))).all()
    assert [r.status for r in rows] == ["substituida", "na_fila"]


async def test_database_refuses_a_second_live_run_of_a_scope(world: World) -> None:
    await _agenda(world, "7000012", places=2)
    await _waiting_entries(world, 2)
    first = await world.client.post("/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=world.regulador.headers)
    assert first.status_code == 202, first.text
    with pytest.raises(Exception, match="uq_allocation_run_live_scope"):
        async with world.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO allocation_run (scope, status, params, instance_sha256, instance_gz, solver, "
                    "solver_status, objective, wall_seconds, counts, violations, created_by, created_at) "
                    "SELECT scope, 'aprovada', params, instance_sha256, instance_gz, solver, solver_status, objective, "
                    "wall_seconds, counts, violations, created_by, now() FROM allocation_run WHERE id = :id"
                ),
                {"id": first.json()["id"]},
            )


async def test_commit_racing_suspensions_never_deadlocks(world: World, tmp_path: Path) -> None:
    n = 30
    await _agenda(world, "7000013", places=n)
    entries = await _waiting_entries(world, n)
    proposed = await world.client.post(
        "/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=world.regulador.headers
    )
    assert proposed.status_code == 202, proposed.text
    await _solve_queue(world, tmp_path)
    run = (await world.client.get(proposed.headers["location"], headers=world.regulador.headers)).json()["run"]
    assert run["counts"]["assigned"] == n
    approved = await world.client.post(f"/api/v1/allocation/runs/{run['id']}/approve", headers=world.regulador.headers)
    assert approved.status_code == 201, approved.text
    # Every third entry is suspended while the run is being committed, spread over the commit's duration and in
    # descending id order (the opposite of the commit's), so suspensions hold entries the commit is about to lock.
    suspended = sorted(entries[::3], reverse=True)

    async def suspend(entry_id: int, delay: float) -> httpx.Response:
        await asyncio.sleep(delay)
        return await world.client.post(
            f"/api/v1/entries/{entry_id}/transitions",
            json={"to": "suspensa", "reason_code": "adiamento_pelo_paciente"},
            headers=world.regulador.headers,
        )

    async def commit() -> httpx.Response:
        return await world.client.post(f"/api/v1/allocation/runs/{run['id']}/commit", headers=world.regulador.headers)

    results: list[Any] = await asyncio.gather(commit(), *(suspend(e, 0.02 * i) for i, e in enumerate(suspended)))
    committed, suspensions = results[0], results[1:]
    # Locks in one order: neither side is ever a deadlock victim (not even the 409 that would map one).
    assert committed.status_code == 201, committed.text
    for r in suspensions:
        assert r.status_code == 201, r.text
    report = committed.json()
    # Entries suspended before the commit reached them are skipped and named; the others were booked and then
    # released by their suspension.
    assert set(report["changed_entries"]) <= set(suspended)
    assert report["booked"] + report["conflicts"] == n
    assert report["slots_taken"] == []
    async with world.engine.connect() as conn:
        statuses = dict(
            (
                await conn.execute(text("SELECT id, status FROM waitlist_entry WHERE id = ANY(:ids)"), {"ids": entries})
            ).all()
        )
        active = {
            int(e)
            for (e,) in (await conn.execute(text("SELECT entry_id FROM slot_booking WHERE status = 'ativa'"))).all()
        }
        counters = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE booked <> (SELECT count(*) FROM slot_booking b "
                    "WHERE b.slot_id = s.id AND b.status = 'ativa')) FROM agenda_slot s"
                )
            )
        ).scalar_one()
    assert all(statuses[e] == "suspensa" for e in suspended)
    # A suspended entry keeps no place (booked and then released, or skipped by the commit) …
    assert not active & set(suspended)
    # … every other entry of the run was booked, and the slots' counters match their active bookings.
    assert {e for e in entries if e not in suspended} <= active
    assert {e for e, s in statuses.items() if s == "agendada"} == active - set(suspended)
    assert counters == 0


async def test_a_queued_proposal_makes_a_request_step_back_and_the_job_wait_for_it(
    world: World, tmp_path: Path
) -> None:
    from regula.access.policy import Jurisdiction
    from regula.allocation import service as allocation
    from regula.waitlist import service as wl

    await _agenda(world, "7000014", places=3)
    await _waiting_entries(world, 3)
    settings = _settings(world, tmp_path)
    sessionmaker = make_sessionmaker(world.engine)
    actor = wl.Actor("regulador", "regulador", world.regulador.user_id, Jurisdiction.parse("uf:SC", "scope"))
    async with sessionmaker() as first:
        # An operator's proposal being queued, not yet committed: it holds the scope.
        held = await allocation.enqueue(first, settings, "uf:SC", actor)
        # Another request steps back at once, with the reason …
        response = await world.client.post(
            "/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=world.regulador.headers
        )
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "rodada_em_calculo"

        # … while the scheduler's job waits for it, and then takes the queued run as its own (as fresh as a new one).
        async def job() -> int:
            async with sessionmaker() as s, s.begin():
                run = await allocation.enqueue(s, settings, "uf:SC", wl.Actor.system("agendador"), wait=True)
                assert run.id is not None
                return run.id

        waiting = asyncio.create_task(job())
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await first.commit()
    assert await asyncio.wait_for(waiting, timeout=30) == held.id
    async with world.engine.connect() as conn:
        rows = dict((await conn.execute(text("SELECT id, status FROM allocation_run"))).all())
    assert rows == {held.id: "na_fila"}


async def _solver_job(world: World, tmp_path: Path, workers: Any) -> Any:
    from regula.db.engine import Database
    from regula.jobs.process import all_jobs
    from regula.jobs.runner import run_job

    db = Database(world.engine.url.render_as_string(hide_password=False), world.engine, make_sessionmaker(world.engine))
    return await run_job(db, _settings(world, tmp_path), all_jobs()["allocation_solver"], workers=workers)


async def _run_row(world: World, run_id: int) -> Any:
    async with world.engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT status, progress, error, counts, decided_by FROM allocation_run WHERE id = :id"),
                {"id": run_id},
            )
        ).one()


async def test_the_jobs_process_solves_a_queued_run_in_a_worker_process(world: World, tmp_path: Path) -> None:
    from regula.cli_support.processes import WorkerPool

    await _agenda(world, "7000015", places=2)
    await _waiting_entries(world, 3)
    queued = await world.client.post(
        "/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=world.regulador.headers
    )
    assert queued.status_code == 202, queued.text
    run_id = queued.json()["id"]
    workers = WorkerPool()
    try:
        record = await _solver_job(world, tmp_path, workers)
    finally:
        workers.stop()
    assert record.outcome == "ok", record.error
    assert record.counts == {"interrupted": 0, "proposed": 1, "discarded": 0, "failed": 0}
    row = await _run_row(world, run_id)
    assert row.status == "proposta"
    assert row.progress == {"step": "concluida", "percent": 100, "message": "Rodada calculada."}
    assert row.counts["assigned"] == 2
    seen = (await world.client.get(queued.headers["location"], headers=world.regulador.headers)).json()
    assert len(seen["assignments"]) == 2
    # Nothing queued: the jobs process's poll finds no work, and so records no run.
    from regula.db.engine import Database
    from regula.jobs.process import all_jobs
    from regula.jobs.runner import has_work

    db = Database("", world.engine, make_sessionmaker(world.engine))
    assert not await has_work(db, all_jobs()["allocation_solver"])


async def test_a_failed_solve_is_recorded_and_the_superseded_proposal_comes_back(world: World, tmp_path: Path) -> None:
    from regula.cli_support.processes import WorkerPool

    await _agenda(world, "7000016", places=2)
    await _waiting_entries(world, 2)
    first = await world.client.post("/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=world.regulador.headers)
    await _solve_queue(world, tmp_path)
    approved = await world.client.post(
        f"/api/v1/allocation/runs/{first.json()['id']}/approve", headers=world.regulador.headers
    )
    assert approved.status_code == 201, approved.text
    second = await world.client.post(
        "/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=world.regulador.headers
    )
    assert second.status_code == 202, second.text
    assert (await _run_row(world, first.json()["id"])).status == "substituida"
    # The solver's worker process dies (out of memory, killed): the pool is broken and the solve fails.
    workers = WorkerPool()
    try:
        worker = psutil.Process(await workers.run(os.getpid))
        assert worker.pid != os.getpid()
        worker.kill()
        worker.wait(timeout=30)
        record = await _solver_job(world, tmp_path, workers)
        assert record.outcome == "ok", record.error
        assert record.counts["failed"] == 1
        failed = await _run_row(world, second.json()["id"])
        assert failed.status == "falhou"
        assert failed.error.startswith("o processo de cálculo terminou de forma inesperada")
        assert "[BrokenProcessPool: " in failed.error
        assert failed.progress["step"] == "falhou" and failed.progress["message"].startswith("O cálculo falhou")
        # The approved proposal it had superseded is back, approved by the same person, and can be committed.
        back = await _run_row(world, first.json()["id"])
        assert (back.status, back.decided_by) == ("aprovada", "regulador")
        committed = await world.client.post(
            f"/api/v1/allocation/runs/{first.json()['id']}/commit", headers=world.regulador.headers
        )
        assert committed.status_code == 201, committed.text
        # The dead pool was replaced: the next proposal is solved, by a new worker process.
        third = await world.client.post(
            "/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=world.regulador.headers
        )
        assert third.status_code == 202, third.text
        recovered = await _solver_job(world, tmp_path, workers)
        assert recovered.counts["proposed"] == 1, recovered.counts
        assert (await _run_row(world, third.json()["id"])).status == "proposta"
    finally:
        workers.stop()


async def test_a_solve_interrupted_by_a_stopped_jobs_process_fails_on_the_next_pass(
    world: World, tmp_path: Path
) -> None:
    await _agenda(world, "7000017", places=1)
    await _waiting_entries(world, 1)
    queued = await world.client.post(
        "/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=world.regulador.headers
    )
    run_id = queued.json()["id"]
    # As a jobs process leaves it when it stops mid-solve: resolvendo, nobody solving.
    async with world.engine.begin() as conn:
        await conn.execute(text("UPDATE allocation_run SET status = 'resolvendo' WHERE id = :id"), {"id": run_id})
    from regula.cli_support.processes import WorkerPool

    workers = WorkerPool()
    try:
        record = await _solver_job(world, tmp_path, workers)
    finally:
        workers.stop()
    assert record.counts["interrupted"] == 1
    row = await _run_row(world, run_id)
    assert row.status == "falhou" and "interrompido" in row.error
    # The scope is free again.
    again = await world.client.post("/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=world.regulador.headers)
    assert again.status_code == 202, again.text


async def test_the_scheduler_queues_its_runs_and_with_auto_approval_commits_them_once_solved(
    world: World, tmp_path: Path
) -> None:
    from regula.cli_support.processes import WorkerPool
    from regula.db.engine import Database
    from regula.jobs.process import all_jobs
    from regula.jobs.runner import run_job

    await _agenda(world, "7000018", places=2)
    entries = await _waiting_entries(world, 2)
    settings = _settings(world, tmp_path).model_copy(
        update={"allocation_scopes": ["uf:SC"], "allocation_auto_approve": True}
    )
    db = Database("", world.engine, make_sessionmaker(world.engine))
    queued = await run_job(db, settings, all_jobs()["allocation"])
    assert queued is not None and queued.outcome == "ok", queued and queued.error
    assert queued.counts is not None
    run_id = queued.counts["uf:SC"]["run"]
    assert queued.counts["uf:SC"]["status"] == "na_fila"
    # Run again before it is solved: the queued run stands, no second one.
    again = await run_job(db, settings, all_jobs()["allocation"])
    assert again is not None and again.counts == {"uf:SC": {"run": run_id, "status": "na_fila"}}
    workers = WorkerPool()
    try:
        solved = await run_job(db, settings, all_jobs()["allocation_solver"], workers=workers)
    finally:
        workers.stop()
    assert solved is not None and solved.outcome == "ok", solved and solved.error
    row = await _run_row(world, run_id)
    assert row.status == "efetivada" and row.counts["commit"]["booked"] == 2
    async with world.engine.connect() as conn:
        statuses = (
            await conn.execute(text("SELECT status FROM waitlist_entry WHERE id = ANY(:ids)"), {"ids": entries})
        ).scalars()
        assert set(statuses) == {"agendada"}


# -- the locks of a repositioning ----------------------------------------------------------------------------------
# ``recompute_positions`` locks the rows it rewrites until its transaction ends: a queue's in a transition, about a
# million in a state's allocation commit (~15 s at São Paulo's size, docs/benchmarks.md). Eleven tables refer to a
# waiting entry (its history, contact attempts, navigation tasks, messages, bookings…), and inserting into any of
# them checks the foreign key with FOR KEY SHARE on the entry.


async def _queue_rows(world: World, n: int) -> tuple[list[int], Any]:
    """``n`` waiting entries of one queue with their stored positions cleared (committed), so that a recompute of
    the queue rewrites every one of them."""
    from regula.waitlist.queues import QueueKey

    ids = await _waiting_entries(world, n)
    async with world.engine.begin() as conn:
        keys = (
            await conn.execute(
                text("SELECT DISTINCT oci_code, scope_kind, scope_code FROM waitlist_entry WHERE id = ANY(:ids)"),
                {"ids": ids},
            )
        ).all()
        assert len(keys) == 1, keys
        await conn.execute(
            text("UPDATE waitlist_standing SET position = NULL WHERE entry_id = ANY(:ids)"), {"ids": ids}
        )
    return ids, QueueKey(*keys[0])


async def _positions(world: World, ids: list[int]) -> dict[int, int | None]:
    async with world.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT entry_id, position FROM waitlist_standing WHERE entry_id = ANY(:ids)"), {"ids": ids}
        )
        return {int(i): p for i, p in rows}


_NOTE = "INSERT INTO waitlist_entry_event (entry_id, kind, reason_text) VALUES (:e, 'note', 'contato registrado')"


async def test_a_repositioning_holds_up_nothing_that_only_refers_to_its_entries(world: World, tmp_path: Path) -> None:
    """While a repositioning's transaction is open, a note on one of its entries (any row that refers to a waiting
    entry) is written at once: the rows are locked as the UPDATE itself locks them (FOR NO KEY UPDATE), which a
    foreign key check does not wait for. With FOR UPDATE it waited for the whole commit."""
    from regula.waitlist.service import recompute_positions

    ids, key = await _queue_rows(world, 3)
    async with make_sessionmaker(world.engine)() as holder, holder.begin():
        assert await recompute_positions(holder, _settings(world, tmp_path), [key]) == 3
        async with world.engine.connect() as other, other.begin():
            await other.execute(text("SET LOCAL lock_timeout = '3s'"))
            await other.execute(text(_NOTE), {"e": ids[1]})  # LockNotAvailable here if it had to wait
    assert all(p is not None for p in (await _positions(world, ids)).values())


async def test_a_repositioning_writes_an_entry_a_note_is_being_added_to(world: World, tmp_path: Path) -> None:
    """The other way round: a note being written (its transaction still open) does not make the repositioning skip
    the entry, whose position is then written like the others'."""
    from regula.waitlist.service import recompute_positions

    ids, key = await _queue_rows(world, 3)
    async with world.engine.connect() as other, other.begin():
        await other.execute(text(_NOTE), {"e": ids[1]})
        async with make_sessionmaker(world.engine)() as s, s.begin():
            await s.execute(text("SET LOCAL lock_timeout = '3s'"))
            assert await recompute_positions(s, _settings(world, tmp_path), [key]) == 3
    assert all(p is not None for p in (await _positions(world, ids)).values())


async def test_a_repositioning_skips_an_entry_a_transition_holds(world: World, tmp_path: Path) -> None:
    """An entry held by a transition in progress (``get_entry(for_update=True)``, i.e. ``lock_entries``) is
    skipped, never waited for (issue 11: waiting here deadlocked a suspension with a commit); the transition's own
    recompute writes it."""
    from regula.waitlist.service import lock_entries, recompute_positions

    ids, key = await _queue_rows(world, 3)
    async with make_sessionmaker(world.engine)() as holder, holder.begin():
        assert set(await lock_entries(holder, [ids[1]])) == {ids[1]}
        async with make_sessionmaker(world.engine)() as s, s.begin():
            await s.execute(text("SET LOCAL lock_timeout = '3s'"))
            assert await recompute_positions(s, _settings(world, tmp_path), [key]) == 2
    positions = await _positions(world, ids)
    assert positions[ids[1]] is None
    assert positions[ids[0]] is not None and positions[ids[2]] is not None


# The entry's own lock (decision 0008, amended): ``lock_entries`` — what a transition, a commit, the backfill and
# production take on an entry — is FOR NO KEY UPDATE. Exclusive among lockers of the entry; not a wall for rows that
# only refer to it.


async def test_a_note_on_an_entry_being_suspended_is_written_at_once(world: World, tmp_path: Path) -> None:
    """A suspension in progress (its lock, its history event, its queue's repositioning, not committed yet) does
    not hold up a navigator's note on the same entry: the note's foreign key check needs only FOR KEY SHARE. With
    the entry locked FOR UPDATE the note waited for the suspension's commit (lock_timeout: LockNotAvailable)."""
    from regula.access.actor import Actor
    from regula.waitlist.service import transition

    ids, _ = await _queue_rows(world, 3)
    regulador = Actor("regulador", "regulador", world.regulador.user_id)
    async with make_sessionmaker(world.engine)() as holder, holder.begin():
        entry = await transition(
            holder, ids[1], "suspensa", regulador, _settings(world, tmp_path), reason_code="adiamento_pelo_paciente"
        )
        assert entry.status == "suspensa"
        async with world.engine.connect() as other, other.begin():
            await other.execute(text("SET LOCAL lock_timeout = '3s'"))
            await other.execute(text(_NOTE), {"e": ids[1]})  # LockNotAvailable here if it had to wait
    async with world.engine.connect() as conn:
        status = (await conn.execute(text("SELECT status FROM waitlist_entry WHERE id = :e"), {"e": ids[1]})).scalar()
        kinds = (
            await conn.execute(text("SELECT kind FROM waitlist_entry_event WHERE entry_id = :e"), {"e": ids[1]})
        ).scalars()
        assert status == "suspensa"
        assert "note" in list(kinds)


async def test_the_entry_lock_still_excludes_another_locker(world: World) -> None:
    """What the weaker mode keeps: a second ``lock_entries`` of the same entry waits (here: gives up after its
    lock_timeout). That a repositioning still skips the held entry is the test above."""
    from sqlalchemy.exc import DBAPIError

    from regula.waitlist.service import lock_entries

    ids = await _waiting_entries(world, 1)
    async with make_sessionmaker(world.engine)() as holder, holder.begin():
        assert set(await lock_entries(holder, ids)) == set(ids)
        async with make_sessionmaker(world.engine)() as s, s.begin():
            await s.execute(text("SET LOCAL lock_timeout = '300ms'"))
            with pytest.raises(DBAPIError, match="lock"):
                await lock_entries(s, ids)


async def test_a_row_referring_to_a_slot_being_booked_is_written_at_once(world: World) -> None:
    """``book_many`` (a commit's booking) locks its slots as its UPDATE does: an insert that only refers to one of
    them (here a released booking row; in production another scope's proposal writing its assignments) passes its
    foreign key check at once instead of waiting for the commit. A second booker of the slot still waits."""
    from sqlalchemy.exc import DBAPIError

    from regula.providers.service import book_many

    await _agenda(world, "7000001", 2)
    ids = await _waiting_entries(world, 2)
    async with world.engine.connect() as conn:
        slot = (await conn.execute(text("SELECT min(id) FROM agenda_slot"))).scalar_one()
    async with make_sessionmaker(world.engine)() as holder, holder.begin():
        booked, refused = await book_many(holder, [(slot, ids[0])])
        assert booked == [(slot, ids[0])] and refused == []
        async with world.engine.connect() as other, other.begin():
            await other.execute(text("SET LOCAL lock_timeout = '3s'"))
            await other.execute(
                text(
                    "INSERT INTO slot_booking (slot_id, entry_id, status, booked_at, released_at, release_reason) "
                    "VALUES (:s, :e, 'liberada', now(), now(), 'teste')"
                ),
                {"s": slot, "e": ids[1]},
            )  # LockNotAvailable here if it had to wait
            await other.rollback()
        async with make_sessionmaker(world.engine)() as s, s.begin():
            await s.execute(text("SET LOCAL lock_timeout = '300ms'"))
            with pytest.raises(DBAPIError, match="lock"):
                await book_many(s, [(slot, ids[1])])
