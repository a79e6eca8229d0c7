"""Loading of the demonstration data: ``load_demo_data`` reads what the generator needs from the database (the
catalog, the queue scopes, the documents and protocols already taken), lets ``regula.demo.generation`` draw the
data, scores the waiting entries with their queues' policies, writes the rows and computes positions and estimates.

Speed: rows are written with PostgreSQL ``COPY`` (asyncpg ``copy_records_to_table``) in the caller's transaction,
not one ORM object at a time. COPY bypasses the ORM audit listener, so the load is recorded as a single
``audit_event`` (action ``import``, entity ``demo``) with the counts: the demonstration data is a load made by
the system, not a change made by a person, and a row per generated record would only bury the real log.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.audit import service as audit
from regula.catalog.protocols import seed_starting_versions
from regula.config import Settings
from regula.core.errors import Conflict
from regula.demo import generation
from regula.demo import providers as demo_providers
from regula.demo.care_loop import seed_care_loop
from regula.demo.generation import (
    BOOKING_COLUMNS,
    CITIZEN_COLUMNS,
    DEMO_SOURCE,
    ENTRY_COLUMNS,
    EVENT_COLUMNS,
    MACRO_SCOPE_MACROS,
    SLOT_COLUMNS,
    STANDING_COLUMNS,
    UF,
    Clock,
    DemoRandom,
    Generator,
    Status,
    citizen_rows,
    entry_rows,
    event_rows,
    standing_rows,
    years_old,
)
from regula.demo.programs import seed_demo_par
from regula.demo.provider_day import bring_today, record_executions
from regula.demo.ressarcimento import seed_demo_ressarcimento
from regula.demo.summary import DemoSummary, read_summary
from regula.people.models import Citizen
from regula.providers.models import Establishment, EstablishmentOffer, MunicipalQuota
from regula.territory.reference import territory
from regula.waitlist import measures, priority, service
from regula.waitlist.models import QueueCapacity, RegulationScope, WaitlistEntry
from regula.waitlist.refresh import refresh_all

Progress = Callable[[str], None]


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction."""
    await session.execute(text("SELECT 1"))  # makes sure the transaction has begun on the driver
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None or not driver.is_in_transaction():
        raise RuntimeError("demo data must be copied inside a transaction")
    return driver


async def _copy(session: AsyncSession, table: str, columns: Sequence[str], records: Iterable[tuple[Any, ...]]) -> None:
    driver = await _driver(session)
    await driver.copy_records_to_table(table, records=list(records), columns=list(columns))


@asynccontextmanager
async def _foreign_keys_trusted(session: AsyncSession) -> AsyncIterator[None]:
    """Foreign-key checks run once per row (an index probe and a lock on the referenced row): for the ~400,000
    rows of the demo they cost more than the rest of the load. Every reference written here is to a row created in
    this transaction from a sequence (citizens, entries) or checked beforehand (municipalities, policies), so, when
    the database role may (a superuser, or the embedded server's owner role, which ``regula demo`` loads as and
    which is granted the setting), the copies run with ``session_replication_role = replica``, as ``pg_restore
    --disable-triggers`` does, and the setting is put back right after (``SET LOCAL``: on an error the rollback puts
    it back). These tables have no insert trigger besides those checks but the one making the entries' standing
    rows, which ``_standing`` writes either way. Other roles (the app's) just pay for the checks."""
    trusted = await _may_set_replication_role(session)
    if trusted:
        await session.execute(text("SET LOCAL session_replication_role = replica"))
    yield
    if trusted:
        await session.execute(text("SET LOCAL session_replication_role = origin"))


async def _may_set_replication_role(session: AsyncSession) -> bool:
    stmt = text("SELECT current_setting('is_superuser') = 'on', current_setting('server_version_num')::int")
    superuser, version = (await session.execute(stmt)).one()
    if superuser:
        return True
    if version < 150000:  # GRANT SET ON PARAMETER exists from PostgreSQL 15
        return False
    stmt = text("SELECT has_parameter_privilege('session_replication_role', 'SET')")
    return bool((await session.execute(stmt)).scalar_one())


async def _check_territory(session: AsyncSession) -> None:
    codes = {m.ibge_code for m in territory().by_uf(UF)}
    stmt = text("SELECT count(*) FROM municipality WHERE ibge_code = ANY(:codes)")
    found = (await session.execute(stmt, {"codes": sorted(codes)})).scalar_one()
    if found != len(codes):
        raise Conflict("Os municípios não foram carregados: rode `regula seed`.", code="territorio_vazio")


async def _score(session: AsyncSession, gen: Generator) -> None:
    """Score every entry that was authorized with its queue's policy, exactly as ``service.rescore`` would on
    authorization and the nightly refresh every night after (same facts, same policy), so the entries carry a score
    from the start (its explanation is computed when shown, decision 0031). A waiting entry is scored for today (the
    refresh that follows finds nothing to change and only computes positions and estimates); one that left the
    queue (scheduled, suspended, closed) keeps, as in production, the score and policy of its last day in it
    (``standing.score_day``), so its page shows the score it had rather than "calculated on authorization"."""
    latest = await service.latest_policies(session)
    compiled: dict[int, priority.PriorityPolicy] = {}
    for e in gen.entries:
        if e.authorized_t is None:
            continue
        today = gen.clock.today
        if e.status != Status.AUTORIZADA:
            today = min(today, gen.clock.day(e.status_t))
        pol = service.resolve_policy(latest, service.QueueKey(e.oci.code, e.scope_kind, e.scope_code))
        assert pol.id is not None
        if pol.id not in compiled:
            compiled[pol.id] = priority.policy_from_json(pol.params)
        p = e.person
        # The waiting clock of waitlist.measures, as service._facts reads it: local dates (the demo's clock days),
        # an open pause counted up to today.
        paused_on = gen.clock.day(e.paused_t) if e.paused_t is not None else None
        facts = priority.PriorityFacts(
            risk_class=e.risk,  # type: ignore[arg-type]
            authorized_on=gen.clock.day(e.authorized_t),
            today=today,
            suspended_days=measures.paused_days(e.suspended_days, paused_on, today),
            max_days=e.oci.max_days,
            age_years=years_old(p.birth, today),
            pregnant=p.pregnant,
            disability=p.disability,
            autism=p.autism,
            race_color=p.race,  # type: ignore[arg-type]
            sex=p.sex,  # type: ignore[arg-type]
            cadunico=p.cadunico,
            vulnerability_index=float(p.vulnerability) if p.vulnerability is not None else None,
            oci_sex=e.oci.sex,  # type: ignore[arg-type]
        )
        score = priority.compute_score(facts, compiled[pol.id])
        e.score, e.policy_id = score.value, pol.id


async def _standing(session: AsyncSession, gen: Generator) -> None:
    """The entries' standing rows with their scores (decision 0034). The insert trigger made them (empty) unless
    the copies ran with triggers off (``_foreign_keys_trusted``): one upsert covers both."""
    await session.execute(
        text("CREATE TEMP TABLE demo_standing (entry_id bigint, score bigint, policy_id bigint) ON COMMIT DROP")
    )
    await _copy(session, "demo_standing", STANDING_COLUMNS, standing_rows(gen))
    await session.execute(
        text(
            "INSERT INTO waitlist_standing (entry_id, score, policy_id) "
            "SELECT entry_id, score, policy_id FROM demo_standing ORDER BY entry_id "
            "ON CONFLICT (entry_id) DO UPDATE SET score = EXCLUDED.score, policy_id = EXCLUDED.policy_id"
        )
    )
    await session.execute(text("DROP TABLE demo_standing"))


async def _new_ids(session: AsyncSession, table: str, n: int) -> list[int]:
    if n == 0:
        return []
    stmt = text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
    return sorted(int(row[0]) for row in await session.execute(stmt, {"t": table, "n": n}))


async def _demo_exists(session: AsyncSession) -> bool:
    stmt = select(col(WaitlistEntry.id)).where(col(WaitlistEntry.external_source) == DEMO_SOURCE).limit(1)
    return (await session.execute(stmt)).first() is not None


async def _scope_kinds(session: AsyncSession) -> tuple[dict[str, str], int]:
    """Configure SC's health regions that have no scope yet (most ``region``, the Sul's ``macro``); returns every
    region's scope kind and how many were configured now."""
    configured = {
        row.health_region_code: row.scope_kind for row in (await session.execute(select(RegulationScope))).scalars()
    }
    missing = [
        {
            "health_region_code": r.code,
            "scope_kind": "macro" if r.macro_code in MACRO_SCOPE_MACROS else "region",
            "updated_at": datetime.now(UTC),
        }
        for r in territory().health_regions(UF)
        if r.code not in configured
    ]
    if missing:
        table = RegulationScope.__table__  # type: ignore[attr-defined]
        await session.execute(pg_insert(table).on_conflict_do_nothing(), missing)
        configured |= {str(row["health_region_code"]): str(row["scope_kind"]) for row in missing}
    return configured, len(missing)


async def _existing(session: AsyncSession) -> tuple[set[str], set[str], set[str]]:
    cpfs = {str(r[0]) for r in await session.execute(select(col(Citizen.cpf)).where(col(Citizen.cpf).is_not(None)))}
    cns = {str(r[0]) for r in await session.execute(select(col(Citizen.cns)).where(col(Citizen.cns).is_not(None)))}
    protocols = {r[0] for r in await session.execute(select(col(WaitlistEntry.protocol)))}
    return cpfs, cns, protocols


async def _capacities(session: AsyncSession, gen: Generator) -> int:
    """The generated weekly capacities of the queues not configured yet (configured ones are kept)."""
    rows = generation.capacity_rows(gen)
    if rows:
        table = QueueCapacity.__table__  # type: ignore[attr-defined]
        await session.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    return len(rows)


async def _providers(session: AsyncSession, gen: Generator, network: demo_providers.Network) -> dict[str, int]:
    """The establishments and their offers, six weeks of agenda sized on the queues' weekly capacities (as
    configured now), an active booking for every entry already scheduled and the PPI quotas."""
    clock = gen.clock
    establishments = Establishment.__table__  # type: ignore[attr-defined]
    offers = EstablishmentOffer.__table__  # type: ignore[attr-defined]
    await session.execute(pg_insert(establishments).on_conflict_do_nothing(), network.establishment_rows(clock.now))
    await session.execute(pg_insert(offers).on_conflict_do_nothing(), network.offer_rows())
    capacities = {
        (c.oci_code, c.scope_kind, c.scope_code): c.weekly_capacity
        for c in (await session.execute(select(QueueCapacity))).scalars()
    }
    booked, home = generation.bookings(gen)
    slots = demo_providers.agenda(
        network, capacities, booked, weekday_today=clock.weekday, anchor=clock.anchor, rng=gen.rng
    )
    slot_ids = await _new_ids(session, "agenda_slot", len(slots))
    booking_ids = await _new_ids(session, "slot_booking", len(booked))
    slot_records, booking_records = generation.agenda_records(clock, slots, slot_ids, booked, booking_ids)
    async with _foreign_keys_trusted(session):
        await _copy(session, "agenda_slot", SLOT_COLUMNS, slot_records)
        await _copy(session, "slot_booking", BOOKING_COLUMNS, booking_records)
    quotas = generation.quota_rows(clock, network, slots, booked, home)
    if quotas:
        table = MunicipalQuota.__table__  # type: ignore[attr-defined]
        await session.execute(pg_insert(table).on_conflict_do_nothing(), quotas)
    return {
        "establishments": len(network.establishments),
        "establishment_offers": sum(len(e.offers) for e in network.establishments),
        "agenda_slots": len(slots),
        "slot_bookings": len(booked),
        "municipal_quotas": len(quotas),
    }


async def _refresh(session: AsyncSession, settings: Settings) -> None:
    """Scores, positions and estimates of every waiting entry."""
    await refresh_all(session, settings)


async def load_demo_data(
    session: AsyncSession,
    settings: Settings,
    *,
    seed: int = 20261123,
    citizens: int = 30_000,
    months: int = 18,
    progress: Progress | None = None,
    today: date | None = None,
) -> DemoSummary:
    """Load the demonstration data in the caller's transaction; does nothing when it is already there (entries
    with ``external_source = 'demo'``) and returns what exists. Needs the reference data (territory, catalog)."""
    started = time.perf_counter()

    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    if audit.get_context(session).source == "unknown":
        audit.set_context(session, audit.AuditContext.system("cli", "regula demo"))
    if await _demo_exists(session):
        say("Dados de demonstração já carregados; nada a fazer.")
        return await read_summary(session, created=False, started=started)
    # Each OCI's referral protocol starts at version 1 (decision 0020), as `regula seed` leaves it.
    await seed_starting_versions(session, settings)
    catalog = await service.load_catalog(session, settings)
    await _check_territory(session)
    scope_kinds, scopes_set = await _scope_kinds(session)
    cpfs, cns, protocols = await _existing(session)
    say(f"Gerando {citizens} cidadãos e {months} meses de encaminhamentos…")
    gen = Generator(
        DemoRandom(seed),
        Clock.of(settings, today),
        sorted(catalog.ocis.values(), key=lambda o: o.code),
        catalog.competencia,
        scope_kinds,
        # The teleconsultation gate and the checklist answered come from each OCI's protocol (decision 0020).
        frozenset(code for code in catalog.ocis if catalog.protocols[code].teleconsultation_required),
        cpfs,
        cns,
        protocols,
        referral_protocols={code: catalog.protocols[code] for code in catalog.ocis},
    )
    taken_cnes = {str(r[0]) for r in await session.execute(select(col(Establishment.cnes)))}
    network = demo_providers.Network.build(gen.ocis, gen.scope, taken_cnes)
    gen.network = network
    gen.generate(citizens, months)
    bring_today(gen)  # the executante's session today (issue 17)
    await _score(session, gen)
    say(f"Gravando {len(gen.people)} cidadãos, {len(gen.entries)} solicitações e seus históricos…")
    for person, person_id in zip(gen.people, await _new_ids(session, "citizen", len(gen.people)), strict=True):
        person.id = person_id
    for entry, entry_id in zip(gen.entries, await _new_ids(session, "waitlist_entry", len(gen.entries)), strict=True):
        entry.id = entry_id
    events = event_rows(gen)
    async with _foreign_keys_trusted(session):
        await _copy(session, "citizen", CITIZEN_COLUMNS, citizen_rows(gen))
        await _copy(session, "waitlist_entry", ENTRY_COLUMNS, entry_rows(gen))
        await _copy(session, "waitlist_entry_event", EVENT_COLUMNS, events)
    await _standing(session, gen)
    capacities = await _capacities(session, gen)
    say(f"Gravando {len(network.establishments)} estabelecimentos, suas agendas e os agendamentos…")
    provided = await _providers(session, gen, network)
    say("Gravando a teleconsultoria e as contrarreferências de Florianópolis…")
    care = await seed_care_loop(session, settings, gen.clock)
    say("Gravando os procedimentos das OCIs em execução na Policlínica Municipal Centro…")
    provider_day = await record_executions(session, settings, gen)
    await audit.record(
        session,
        "import",
        entity_type="demo",
        entity_id=f"seed:{seed}",
        after={
            "citizens": len(gen.people),
            "entries": len(gen.entries) + care.gated,
            "care_loop": dataclasses.asdict(care),
            "provider_day": dataclasses.asdict(provider_day),
            "events": len(events),
            "by_status": dict(Counter(e.status for e in gen.entries)),
            "regulation_scopes": scopes_set,
            "queue_capacities": capacities,
            **provided,
            "months": months,
        },
        reason="Dados de demonstração gerados pelo sistema (fictícios).",
        uf=UF,
    )
    say("Gravando o PAR de demonstração, seus repasses e contratos…")
    await seed_demo_par(session, settings, gen.clock.today, network)
    say("Gravando as operadoras do Ressarcimento, sua produção e os atestados mensais…")
    await seed_demo_ressarcimento(session, settings, gen.clock.today)
    say("Calculando pontuações, posições e estimativas…")
    await _refresh(session, settings)
    return await read_summary(session, created=True, started=started)
