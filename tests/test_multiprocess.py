"""Two web workers and two dispatchers on one database: no message sent twice, no place booked twice (issue 18,
item 8; docs/scaling.md).

Real processes, as a horizontally scaled installation runs them: two ``regula serve`` on two ports and two
``regula notify dispatch`` loops, all on one PostgreSQL database (``REGULA_DATABASE_URL``). Once both dispatchers
hold their liveness locks, a bulk of queued SMS is committed, and while both dispatchers drain it, requests race
through both web workers:

1. the same approved allocation run committed six times at once, alternating workers — one commit books, the
   others answer 409 ``rodada_nao_aprovada`` (the run is locked first: decision 0008);
2. every booked entry cancelled twice at once, once through each worker — one cancellation per entry, the other a
   409; each release offers its place to the next waiting person (backfill) at the same time as the others, so
   four backfills compete for the same best candidates (``try_lock_entry``, ``SKIP LOCKED``).

Checked afterwards: every message the dispatchers sent was sent exactly once — counted in their own logs, where
the console channel writes one line per send — and both dispatchers sent some; every message recorded as sent
appears once in those logs; no slot over its capacity, each slot's counter equals its active bookings, no entry
with two active bookings, every booked entry with exactly one and every active booking's entry booked; no answer
was a 500 and no process logged a traceback. Every process is stopped when the test ends, pass or fail.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from regula.config import Settings
from regula.db.engine import make_sessionmaker
from regula.people.documents import generate_cpf
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import citizen_body, refer

pytestmark = pytest.mark.multiprocess

REGULA = [sys.executable, "-m", "regula.cli.main"]
BOOT_SECONDS = 90  # imports of the CLI and the app on a loaded 2-core machine
DRAIN_SECONDS = 60
OCI = "0902010026"
SAO_JOSE = "4216602"
SLOTS = 4  # capacity 1 each
ENTRIES = 8  # half booked by the run, half left waiting for the backfill
BULK_MESSAGES = 200
# The console channel's line per send (regula.notify.channels.ConsoleChannel.send).
SENT_LINE = re.compile(r"mensagem (\d+) \((\w+)\) enviada pelo console")


@dataclass
class Fleet:
    """The processes of one test; each writes its output to a log file of its own."""

    home: Path
    url: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGULA_")}
        return env | {
            "REGULA_HOME": str(self.home),
            "REGULA_DATABASE_URL": self.url,
            "REGULA_ENVIRONMENT": "test",
            "REGULA_LOG_JSON": "false",
            "REGULA_LOG_LEVEL": "INFO",
            **extra,
        }

    def start(self, name: str, args: list[str], **env: str) -> None:
        with self.log(name).open("wb") as out:
            self.procs[name] = subprocess.Popen([*REGULA, *args], env=self.env(**env), stdout=out, stderr=out)  # noqa: S603

    def log(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def stop(self, *names: str) -> None:
        procs = [self.procs[n] for n in names or list(self.procs)]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise AssertionError(f"{name} exited ({p.returncode}):\n{self.log(name).read_text()[-3000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fleet(fresh_database_url: str, tmp_path: Path) -> Iterator[Fleet]:
    home = tmp_path / "home"
    home.mkdir()
    f = Fleet(home, fresh_database_url)
    try:
        yield f
    finally:
        f.stop()  # whatever happened, no process outlives the test


@pytest.fixture
async def db_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    e = create_async_engine(fresh_database_url, pool_size=4)
    yield e
    await e.dispose()


async def _reference_data_and_users(engine: AsyncEngine, settings: Settings) -> dict[str, Login]:
    from regula.access import service as access
    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.territory.service import load_territory

    logins: dict[str, Login] = {}
    async with make_sessionmaker(engine)() as s:
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
    return logins


async def _wait_healthy(fleet: Fleet, name: str, base: str) -> None:
    deadline = time.monotonic() + BOOT_SECONDS
    async with httpx.AsyncClient(base_url=base, timeout=5) as c:
        while True:
            fleet.alive()
            try:
                if (await c.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not answer /health in {BOOT_SECONDS} s")
            await asyncio.sleep(0.3)


async def _scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def _active_bookings(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT entry_id FROM slot_booking WHERE status = 'ativa'"))
        return [int(e) for (e,) in rows.all()]


async def _wait_dispatchers(fleet: Fleet, engine: AsyncEngine, n: int) -> None:
    """Until ``n`` dispatchers hold their liveness lock (Dispatcher.start): each is then claiming."""
    deadline = time.monotonic() + BOOT_SECONDS
    while True:
        fleet.alive()
        held = await _scalar(
            engine,
            "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'regula-dispatch' "
            "AND a.datname = current_database()",
        )
        if held >= n:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{held} of {n} dispatchers started in {BOOT_SECONDS} s")
        await asyncio.sleep(0.3)


async def _seed_bookable(apis: tuple[httpx.AsyncClient, httpx.AsyncClient], who: dict[str, Login]) -> list[int]:
    """An establishment offering the OCI with SLOTS places of capacity 1, and ENTRIES authorized entries (through
    both web workers, as people would). Returns the entries' ids."""
    api = apis[0]
    gestor, reg = who["gestor"].headers, who["regulador"].headers
    r = await api.post(
        "/api/v1/establishments",
        json={"cnes": "7000018", "name": "Policlínica 7000018", "municipality_ibge": SAO_JOSE, "kind": "contratado"},
        headers=gestor,
    )
    assert r.status_code == 201, r.text
    r = await api.put("/api/v1/establishments/7000018/offers", json={"oci_code": OCI}, headers=gestor)
    assert r.status_code == 200, r.text
    first = date.today() + timedelta(days=5)
    for i in range(SLOTS):
        r = await api.post(
            "/api/v1/slots",
            json={"cnes": "7000018", "oci_code": OCI, "starts_at": f"{first + timedelta(days=i)}T09:00:00-03:00"}
            | {"capacity": 1},
            headers=gestor,
        )
        assert r.status_code == 201, r.text
    rng = random.Random(18)
    cpfs = [generate_cpf(rng) for _ in range(ENTRIES)]

    async def one(i: int) -> int:
        api = apis[i % 2]
        body = citizen_body(name=f"Pessoa Escala {i}", cpf=cpfs[i])
        entry = await refer(api, who["solicitante"], body, risk=("vermelho", "amarelo", "verde", "azul")[i % 4])
        for target in ("em_analise", "autorizada"):
            r = await api.post(f"/api/v1/entries/{entry['id']}/transitions", json={"to": target}, headers=reg)
            assert r.status_code == 201, r.text
        return int(entry["id"])

    return list(await asyncio.gather(*(one(i) for i in range(ENTRIES))))


async def _bulk_outbox(engine: AsyncEngine, n: int) -> list[int]:
    """n citizens with consent and one queued message each (a unique body), committed at once; their ids. The
    channel is the console's, as ``outbox.channel_for`` chooses when REGULA_NOTIFY_CHANNEL is console."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO citizen (cpf, name, search_name, birth_date, sex, race_color, municipality_ibge, uf, "
                "phone, preferred_channel, contact_consent, contact_consent_at, pregnant, disability, autism, "
                "cadunico, created_at, updated_at) "
                "SELECT '9' || lpad(g::text, 10, '0'), 'Cidadao Escala ' || g, 'cidadao escala ' || g, "
                "date '1970-01-01' + g, 'F', 'parda', '4205407', 'SC', '+55489' || lpad(g::text, 8, '0'), 'sms', "
                "true, now(), false, false, false, false, now(), now() FROM generate_series(1, :n) g"
            ),
            {"n": n},
        )
        rows = await conn.execute(
            text(
                "INSERT INTO message (idempotency_key, citizen_id, kind, channel, to_address, body, variables, "
                "critical, status, due_at, valid_until, next_attempt_at, created_at, updated_at) "
                "SELECT 'escala:' || c.id || ':posicao:1:console', c.id, 'posicao', 'console', c.phone, "
                "'Regula SUS: mensagem de escala ' || c.id, '{}'::jsonb, false, 'pendente', now(), "
                "now() + interval '1 day', now(), now(), now() FROM citizen c WHERE c.name LIKE 'Cidadao Escala %' "
                "RETURNING id"
            )
        )
        return [int(i) for (i,) in rows.all()]


async def test_two_web_workers_and_two_dispatchers_send_once_and_book_once(
    fleet: Fleet, db_engine: AsyncEngine
) -> None:
    engine = db_engine
    settings = Settings(home=fleet.home, database_url=SecretStr(fleet.url), environment="test", log_json=False)
    who = await _reference_data_and_users(engine, settings)

    ports = [_free_port(), _free_port()]
    for i, port in enumerate(ports):
        fleet.start(f"web{i}", ["serve", "--port", str(port)])
    quick = {
        "REGULA_NOTIFY_QUIET_START_HOUR": "0",  # no quiet hours: the test may run at any hour
        "REGULA_NOTIFY_QUIET_END_HOUR": "0",
        "REGULA_NOTIFY_QUIET_SUNDAYS": "false",
        "REGULA_NOTIFY_BATCH_SIZE": "10",  # small claims, so the two dispatchers interleave
    }
    for i in range(2):
        fleet.start(f"dispatch{i}", ["notify", "dispatch", "--poll", "0.1"], **quick)
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    await asyncio.gather(*(_wait_healthy(fleet, f"web{i}", b) for i, b in enumerate(bases)))

    answers: list[httpx.Response] = []
    async with (
        httpx.AsyncClient(base_url=bases[0], timeout=60) as web0,
        httpx.AsyncClient(base_url=bases[1], timeout=60) as web1,
    ):
        workers = (web0, web1)
        entries = await _seed_bookable(workers, who)
        reg = who["regulador"].headers
        proposed = await web1.post("/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=reg)
        assert proposed.status_code == 202, proposed.text
        # What the jobs process's solver job does (decision 0009), here in the test's process, committed.
        from regula.allocation.service import solve_queued_now

        async with make_sessionmaker(engine)() as s, s.begin():
            await solve_queued_now(s, settings)
        run = (await web0.get(proposed.headers["location"], headers=reg)).json()["run"]
        assert run["status"] == "proposta", run
        assert run["counts"]["assigned"] == SLOTS
        r = await web1.post(f"/api/v1/allocation/runs/{run['id']}/approve", headers=reg)
        assert r.status_code == 201, r.text

        await _wait_dispatchers(fleet, engine, 2)
        bulk = await _bulk_outbox(engine, BULK_MESSAGES)

        # (1) The same run committed six times at once, through both workers.
        commits = await asyncio.gather(
            *(workers[i % 2].post(f"/api/v1/allocation/runs/{run['id']}/commit", headers=reg) for i in range(6))
        )
        answers += commits
        assert sorted(c.status_code for c in commits) == [201, 409, 409, 409, 409, 409], [c.text for c in commits]
        assert {c.json()["code"] for c in commits if c.status_code == 409} == {"rodada_nao_aprovada"}
        (won,) = [c.json() for c in commits if c.status_code == 201]
        assert won["booked"] == SLOTS, won
        booked = set(await _active_bookings(engine))
        assert len(booked) == SLOTS and booked <= set(entries)

        # (2) Every booked entry cancelled twice at once, once through each worker; each release backfills.
        async def cancel(worker: httpx.AsyncClient, entry_id: int) -> httpx.Response:
            return await worker.post(
                f"/api/v1/entries/{entry_id}/transitions",
                json={"to": "cancelada", "reason_code": "desistencia"},
                headers=reg,
            )

        cancels = await asyncio.gather(*(cancel(w, e) for e in sorted(booked) for w in workers))
        answers += cancels
        for e, pair in zip(sorted(booked), zip(cancels[::2], cancels[1::2], strict=True), strict=True):
            assert sorted(r.status_code for r in pair) == [201, 409], (e, [r.text for r in pair])
            # The loser waited for the winner's lock and then found the entry cancelled — never a deadlock victim.
            assert [r.json()["code"] for r in pair if r.status_code == 409] == ["transicao_invalida"], e

    assert not [a for a in answers if a.status_code >= 500], [a.text for a in answers if a.status_code >= 500]

    # The places: never over capacity, counters equal to the active bookings, one booking per booked entry.
    async with engine.connect() as conn:
        over = (await conn.execute(text("SELECT count(*) FROM agenda_slot WHERE booked > capacity"))).scalar_one()
        drift = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM agenda_slot s WHERE booked <> (SELECT count(*) FROM slot_booking b "
                    "WHERE b.slot_id = s.id AND b.status = 'ativa')"
                )
            )
        ).scalar_one()
        twice = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT entry_id FROM slot_booking WHERE status = 'ativa' "
                    "GROUP BY entry_id HAVING count(*) > 1) t"
                )
            )
        ).scalar_one()
        status = dict((await conn.execute(text("SELECT id, status FROM waitlist_entry"))).all())
    active = await _active_bookings(engine)
    assert over == 0
    assert drift == 0
    assert twice == 0
    assert all(status[e] == "cancelada" for e in booked)
    assert {e for e, s in status.items() if s in ("agendada", "confirmada")} == set(active)
    waiting = set(entries) - booked
    assert set(active) <= waiting
    # The released places went to the people still waiting, one each, though four backfills ran at once. A backfill
    # may find every candidate held for a moment (another one's position rewrite locks the queue's waiting rows:
    # recompute_positions, SKIP LOCKED) and leave its place free; the scheduler's backfill_sweep (every 10 minutes)
    # gives it out — run here once, as the jobs process would.
    from regula.allocation.backfill import sweep

    async with make_sessionmaker(engine)() as s, s.begin():
        swept = await sweep(s, settings)
    active = await _active_bookings(engine)
    assert sorted(active) == sorted(waiting), swept
    assert await _scalar(engine, "SELECT count(*) FROM agenda_slot WHERE booked <> capacity") == 0

    # The messages: wait until nothing due is left, then stop the dispatchers so their logs are complete.
    deadline = time.monotonic() + DRAIN_SECONDS
    while await _scalar(
        engine,
        "SELECT count(*) FROM message WHERE status = 'enviando' OR (status = 'pendente' AND next_attempt_at <= now())",
    ):
        fleet.alive()
        assert time.monotonic() < deadline, "the outbox was not drained"
        await asyncio.sleep(0.3)
    fleet.stop("dispatch0", "dispatch1")
    per_dispatcher = []
    for i in range(2):
        log = fleet.log(f"dispatch{i}").read_text()
        assert fleet.procs[f"dispatch{i}"].returncode == 0, log[-3000:]
        per_dispatcher.append(Counter(int(message_id) for message_id, _ in SENT_LINE.findall(log)))
    sends = per_dispatcher[0] + per_dispatcher[1]
    async with engine.connect() as conn:
        recorded = {
            int(i) for (i,) in await conn.execute(text("SELECT id FROM message WHERE provider_sid LIKE 'console-%'"))
        }
    assert [m for m, n in sends.items() if n > 1] == []  # nothing sent twice
    assert set(sends) == recorded  # every send recorded, and nothing recorded that was not sent
    async with engine.connect() as conn:
        outcome = dict(
            (
                await conn.execute(
                    text("SELECT status, count(*) FROM message WHERE id = ANY(:ids) GROUP BY status"), {"ids": bulk}
                )
            ).all()
        )
    assert outcome == {"enviada": BULK_MESSAGES}, outcome  # every queued message went out
    assert all(per_dispatcher), [sum(c.values()) for c in per_dispatcher]  # both dispatchers took part
    assert sum(sends.values()) > BULK_MESSAGES  # the booking messages (marcada, oferta…) too

    fleet.stop()
    for name in fleet.procs:
        log = fleet.log(name).read_text()
        assert "Traceback" not in log, log[-3000:]
        assert "concurrent update" not in log, log[-3000:]  # no deadlock reached the error handler (decision 0008)
