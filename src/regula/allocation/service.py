"""Allocation runs on the database: a proposal is queued (``enqueue``, from the API, the page and the scheduler's
job); the jobs process builds its instance from the waitlist and the agendas, solves it in a worker process with
the pure optimizer, validates it and stores it for review (``claim_next``, ``record_solution``: decision 9); an
operator approves it and commits it.

A new run of a scope that still has an uncommitted one (``proposta`` or ``aprovada``: nobody was notified of it)
re-solves with that run's assignments as *incumbents* — kept unless changing one gains more than
``params.change_penalty`` — and marks the older run ``substituida``, so one scope never has two live proposals.
Entries already booked are not in the instances at all and their slots' remaining capacity accounts for them, so
the database side never needs ``pinned`` pairs."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.policy import Jurisdiction
from regula.allocation import repository as runs
from regula.allocation.models import LIVE_STATUSES, SOLVING_STATUSES, AllocationAssignment, AllocationRun
from regula.allocation.solving import Solved, solve_instance
from regula.config import Settings
from regula.core import collector
from regula.core.errors import Conflict, NotFound, ValidationFailed
from regula.db.base import utcnow
from regula.db.bulk import unnest_insert, unnest_params
from regula.optimizer import explain
from regula.optimizer.instance import Bucket, Entry, Fixed, Instance, Params, Quota
from regula.people.models import Citizen
from regula.people.service import age_on
from regula.providers import service as providers
from regula.providers.models import AgendaSlot, Establishment, EstablishmentOffer, MunicipalQuota, SlotBooking
from regula.territory.reference import territory
from regula.waitlist import measures
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry, WaitlistStanding
from regula.waitlist.states import EntryStatus

DEFAULT_HORIZON_DAYS = 60
#: The longest horizon a run looks ahead (API and page alike): agendas are not published further out.
MAX_HORIZON_DAYS = 180
#: What changing an earlier, not yet notified proposal costs, in the objective's units. Instances from the database
#: use the queue score itself as the priority level (``priority_band`` 1, scores up to 40,000: 10,000 per risk class),
#: so a level is worth ``value_per_level`` = 100 and a day of earliness (score + 1): 100,000 is 1,000 score points of
#: value (a tenth of a risk class), or 3–5 days earlier for an entry of the top class. A newcomer takes a proposed
#: place only when clearly more urgent; a proposal moves only for a clearly better date or trip.
CHANGE_PENALTY = 100_000
#: The status of a run replaced by a newer one of the same scope (a free text column: no migration needed).
SUPERSEDED = "substituida"
#: The farthest an operator may widen a run's travel limit to (km): Brazil is about 4,400 km across.
MAX_WIDENED_TRAVEL_KM = 5_000
#: Why an assignment was not booked at commit (``commit``'s lists), in Portuguese, for the page and the API.
CONFLICT_REASONS: dict[str, str] = {
    "entrada_alterada": "A entrada mudou desde a proposta (suspensa, cancelada, agendada por outra via…)",
    "vaga_ocupada": "A vaga não tinha mais lugar",
}


def travel_limits(settings: Settings, widened_to: int | None = None) -> tuple[int | None, dict[str, int]]:
    """The maximum travel distance of a run (the general one and the per-OCI ones): the deployment's settings
    (``REGULA_ALLOCATION_MAX_TRAVEL_KM``, ``..._BY_OCI``; default 200 km, docs/allocation-instance.md), each widened
    to the operator's value for this run when larger. Portaria GM/MS 3.492/2024 art. 3 III and art. 10 §2 III:
    regionalized care, no unnecessary travel; the operator may accept a longer trip for a run, and the run records
    it (``params.travel_limit_widened_to``, ``created_by``)."""
    general = settings.allocation_max_travel_km
    by_oci = dict(sorted(settings.allocation_max_travel_km_by_oci.items()))
    if widened_to is None:
        return general, by_oci
    return (
        None if general is None else max(general, widened_to),
        {oci: max(km, widened_to) for oci, km in by_oci.items()},
    )


@dataclass(frozen=True)
class BuiltInstance:
    instance: Instance
    canonical: bytes  # the canonical JSON that is stored, exported and hashed


def _covers(scope: Jurisdiction, ibge: str) -> bool:
    m = territory().find(ibge)
    return m is not None and scope.covers_place(m)


async def build_instance(
    session: AsyncSession,
    settings: Settings,
    scope: Jurisdiction,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    incumbents: list[tuple[int, int]] | None = None,
    travel_widened_to: int | None = None,
) -> BuiltInstance:
    """Waiting entries of residents in ``scope`` and open future slots of providers anywhere they may reach
    (their own queue scope, widened by escalation inside the optimizer). ``incumbents``: (entry id, slot id) pairs
    of an earlier uncommitted proposal; those whose entry or slot is no longer in the instance are left out."""
    today = wl.local_today(settings)
    tz = ZoneInfo(settings.timezone)
    t = territory()
    # Only the columns the instance needs, as plain rows (issue 18 item 7: a million ORM objects of the entry and
    # its citizen took minutes and gigabytes), and only residents of the scope's municipalities — the rows
    # ``_covers`` keeps, checked again below.
    covered = sorted(runs.municipalities_of(scope))
    zone = settings.timezone
    # The tM window of each waiting entry, by the SQL twins of ``measures.entry_clock`` (the same rule, computed
    # where the rows are: issue 18 item 7, the per-row clock in Python was ~10 s of a million-entry build). The
    # optimizer escalates at escalation_percent of (today − authorized_date) over (deadline − authorized_date);
    # its window opens on the authorization moved later by the days the clock was paused and closes on the tM
    # deadline, so that share is days waited over tM, and the optimizer's 75% is the escalation sweep's and the
    # pages' (waitlist.measures).
    clock = measures.EntrySql.of(WaitlistEntry)
    deadline = clock.deadline(today, zone)
    connection = await session.connection()
    rows = await connection.execute(
        select(
            col(WaitlistEntry.id),
            col(WaitlistEntry.municipality_ibge),
            col(WaitlistStanding.score),
            col(WaitlistEntry.oci_code),
            col(WaitlistEntry.scope_kind),
            col(WaitlistEntry.scope_code),
            deadline - col(WaitlistEntry.max_days),
            deadline,
            col(Citizen.sex),
            col(Citizen.birth_date),
        )
        .join(WaitlistStanding, col(WaitlistStanding.entry_id) == col(WaitlistEntry.id))
        .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
        .where(
            col(WaitlistEntry.status) == EntryStatus.AUTORIZADA.value,
            # measures.entry_clock: no clock before authorization
            col(WaitlistEntry.authorized_at).is_not(None),
            col(WaitlistEntry.municipality_ibge).in_(covered),
        )
        .order_by(col(WaitlistEntry.id))
    )
    entries: list[Entry] = []
    munis: set[str] = set()
    # Per municipality of residence: whether the scope covers it and its (region, macro-region, UF) codes.
    places: dict[str, tuple[str, str, str] | None] = {}
    ages: dict[date, int] = {}  # per birth date: a million citizens share ~40,000 of them
    # A million entries are a million live objects: the cyclic collector's passes over them, triggered by the
    # allocations themselves, took ~10 s of a 60 s build at 1M; nothing here makes a cycle (regula.core.collector).
    with collector.paused():
        for entry_id, ibge, score, oci, kind, code, authorized_date, entry_deadline, sex, birth in rows:
            if ibge not in places:
                m = t.municipality(ibge) if _covers(scope, ibge) else None
                # Only for the explanation ("fora da região"): the buckets' region code is read the same way.
                places[ibge] = None if m is None else (m.health_region_code or m.macro_code, m.macro_code, m.uf)
            place = places[ibge]
            if place is None:
                continue
            age = ages.get(birth)
            if age is None:
                age = ages[birth] = age_on(birth, today)
            entries.append(
                Entry(
                    id=str(entry_id),
                    municipality_ibge=ibge,
                    priority=max(0, score or 0),
                    authorized_date=authorized_date,
                    deadline=entry_deadline,
                    oci_code=oci,
                    sex=sex,
                    age_years=age,
                    scope_kind=kind,
                    scope_code=code,
                    region_code=place[0],
                    macro_code=place[1],
                    uf=place[2],
                )
            )
            munis.add(ibge)
    ocis = {e.oci_code for e in entries}
    start = datetime.combine(today + timedelta(days=1), datetime.min.time(), tz)
    end = start + timedelta(days=horizon_days)
    slot_rows = (
        await session.execute(
            select(AgendaSlot, Establishment, EstablishmentOffer)
            .join(Establishment, col(Establishment.cnes) == col(AgendaSlot.cnes))
            .join(
                EstablishmentOffer,
                (col(EstablishmentOffer.cnes) == col(AgendaSlot.cnes))
                & (col(EstablishmentOffer.oci_code) == col(AgendaSlot.oci_code)),
            )
            .where(
                col(AgendaSlot.status) == "aberta",
                col(AgendaSlot.booked) < col(AgendaSlot.capacity),
                col(AgendaSlot.starts_at) >= start,
                col(AgendaSlot.starts_at) < end,
                col(AgendaSlot.oci_code).in_(sorted(ocis)),
                col(Establishment.active),
                col(EstablishmentOffer.active),
                # A queue never widens beyond its UF, so agendas of other UFs could serve nobody here; leaving them
                # out also keeps another UF's providers out of this run's instance file.
                col(Establishment.uf).in_(sorted({e.uf for e in entries})),
            )
            .order_by(col(AgendaSlot.id))
        )
    ).all()
    buckets: list[Bucket] = []
    for slot, est, offer in slot_rows:
        m = t.municipality(est.municipality_ibge)
        buckets.append(
            Bucket(
                id=str(slot.id),
                provider_cnes=est.cnes,
                municipality_ibge=est.municipality_ibge,
                region_code=m.health_region_code or m.macro_code,
                macro_code=m.macro_code,
                uf=m.uf,
                date=slot.starts_at.astimezone(tz).date(),
                oci_code=slot.oci_code,
                capacity=slot.capacity - slot.booked,
                teleconsultation=slot.modality == "teleconsulta",
                age_min=offer.age_min_years,
                age_max=offer.age_max_years,
                sex=offer.sex,
            )
        )
        munis.add(est.municipality_ibge)
    quotas = await _quotas_left(session, today, end.date())
    entry_ids = {e.id for e in entries}
    bucket_ids = {b.id for b in buckets}
    carried = [
        Fixed(entry_id=str(e), bucket_id=str(s))
        for e, s in sorted(incumbents or [])
        if str(e) in entry_ids and str(s) in bucket_ids
    ]
    max_km, max_km_by_oci = travel_limits(settings, travel_widened_to)
    instance = Instance(
        params=Params(
            today=today,
            change_penalty=CHANGE_PENALTY,
            escalation_percent=measures.ESCALATION_PERCENT,
            max_travel_km=max_km,
            max_travel_km_by_oci={oci: km for oci, km in max_km_by_oci.items() if oci in ocis},
        ),
        entries=entries,
        buckets=buckets,
        quotas=quotas,
        municipalities={
            code: (t.municipality(code).latitude, t.municipality(code).longitude) for code in sorted(munis)
        },
        incumbents=carried,
    )
    # The bytes ``instance.model_dump_json(exclude_none=False) + "\n"`` encodes to, without the text copies.
    canonical = instance.__pydantic_serializer__.to_json(instance, exclude_none=False) + b"\n"
    return BuiltInstance(instance, canonical)


async def _quotas_left(session: AsyncSession, today: date, until: date) -> list[Quota]:
    """PPI/PAR quotas still open, minus what the municipality already holds in bookings of that period."""
    rows = (
        await session.execute(
            select(MunicipalQuota).where(
                col(MunicipalQuota.period_end) >= today, col(MunicipalQuota.period_start) <= until
            )
        )
    ).scalars()
    quotas: list[Quota] = []
    for q in rows:
        used_stmt = (
            select(col(SlotBooking.id))
            .join(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
            .join(WaitlistEntry, col(WaitlistEntry.id) == col(SlotBooking.entry_id))
            .where(
                col(SlotBooking.status).in_(("ativa", "realizada", "faltou")),
                col(AgendaSlot.cnes) == q.cnes,
                col(AgendaSlot.oci_code) == q.oci_code,
                col(WaitlistEntry.municipality_ibge) == q.municipality_ibge,
                col(AgendaSlot.starts_at) >= datetime.combine(q.period_start, datetime.min.time(), UTC),
                col(AgendaSlot.starts_at)
                < datetime.combine(q.period_end + timedelta(days=1), datetime.min.time(), UTC),
            )
        )
        used = len((await session.execute(used_stmt)).all())
        quotas.append(
            Quota(
                id=f"{q.municipality_ibge}:{q.cnes}:{q.oci_code}:{q.period_start.isoformat()}",
                municipality_ibge=q.municipality_ibge,
                provider_cnes=q.cnes,
                oci_code=q.oci_code,
                start=max(q.period_start, today),
                end=q.period_end,
                limit=max(0, q.max_slots - used),
            )
        )
    return quotas


#: What the page shows while a run waits and is solved (``AllocationRun.progress``).
STEPS: dict[str, tuple[int, str]] = {
    "na_fila": (0, "Na fila: aguardando o processo de tarefas."),
    "montando": (10, "Lendo a fila de espera e as agendas."),
    "resolvendo": (30, "Calculando a alocação (otimizador)."),
    "gravando": (90, "Gravando a proposta e as explicações."),
    "concluida": (100, "Rodada calculada."),
    "falhou": (100, "O cálculo falhou."),
}


def _progress(step: str, message: str | None = None) -> dict[str, Any]:
    percent, default = STEPS[step]
    return {"step": step, "percent": percent, "message": message or default}


async def enqueue(
    session: AsyncSession,
    settings: Settings,
    scope_raw: str,
    actor: wl.Actor,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    wait: bool = False,
    commit_when_proposed: bool = False,
    max_travel_km: int | None = None,
) -> AllocationRun:
    """Propose a run of ``scope``: stored ``na_fila`` for the jobs process, which solves it (decision 9). It takes
    the scope's live run's place at once (that run becomes ``substituida``, its assignments the new run's
    incumbents, and comes back if the new run fails or the validator rejects it).

    One proposal of a scope at a time: when another is queued or being solved, a request answers 409
    ``rodada_em_calculo`` at once (a second click or operator should not queue a second solve); with ``wait`` —
    the scheduler's job — that run is returned instead, as fresh as a new one would be. ``commit_when_proposed``:
    the scheduler's auto-approval (``REGULA_ALLOCATION_AUTO_APPROVE``), applied by the job that solves it.
    ``max_travel_km``: the operator widens the travel limit for this run (``travel_limits``), recorded in its params."""
    scope = Jurisdiction.parse(scope_raw, "scope")
    if max_travel_km is not None and not 1 <= max_travel_km <= MAX_WIDENED_TRAVEL_KM:
        raise ValidationFailed.for_field(
            "max_travel_km",
            "distancia_maxima_invalida",
            f"Distância máxima: de 1 a {MAX_WIDENED_TRAVEL_KM:,} km.".replace(",", "."),
        )
    if not runs.scope_inside(actor.jurisdiction, scope):
        raise ValidationFailed.for_field("scope", "fora_da_jurisdicao", "Escopo fora da sua jurisdição.")
    await _lock_scope(session, str(scope), wait=wait)
    # The scope's live run, locked: a concurrent commit waits for us (and then finds the run superseded) or we wait
    # for it (and then no longer see it as live).
    live = list(
        (
            await session.execute(
                select(AllocationRun)
                .where(col(AllocationRun.scope) == str(scope), col(AllocationRun.status).in_(LIVE_STATUSES))
                .order_by(col(AllocationRun.id))
                .with_for_update()
            )
        ).scalars()
    )
    solving = [r for r in live if r.status in SOLVING_STATUSES]
    if solving:
        if wait:
            return solving[-1]
        raise _being_computed(str(scope))
    run = AllocationRun(
        scope=str(scope),
        status="na_fila",
        params={
            "horizon_days": horizon_days,
            "supersedes": [r.id for r in live],
            # What the superseded run was, to put it back if this one yields no proposal.
            "superseded": [
                {
                    "id": r.id,
                    "status": r.status,
                    "decided_by": r.decided_by,
                    "decided_at": r.decided_at.isoformat() if r.decided_at else None,
                }
                for r in live
            ],
            "commit_when_proposed": commit_when_proposed,
            # The operator's widening of the travel limit for this run (None: the deployment's limits).
            "travel_limit_widened_to": max_travel_km,
        },
        counts={},
        progress=_progress("na_fila"),
        created_by=actor.username,
    )
    # The live run steps aside before the new one exists: the index allows one live run per scope.
    for r in live:
        r.status, r.decided_by, r.decided_at = SUPERSEDED, actor.username, utcnow()
    await session.flush()
    session.add(run)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "uq_allocation_run_live_scope" not in str(exc.orig):
            raise
        raise _being_computed(str(scope)) from None
    return run


async def queued(session: AsyncSession) -> bool:
    """Whether a run waits for the solver (or was left ``resolvendo`` by a solver that stopped)."""
    stmt = select(col(AllocationRun.id)).where(col(AllocationRun.status).in_(SOLVING_STATUSES)).limit(1)
    return (await session.execute(stmt)).first() is not None


async def fail_interrupted(session: AsyncSession) -> int:
    """Runs left ``resolvendo`` by a solver that is gone. Only the solving job solves, under its job lock, so when
    it starts no run can be being solved: those found were interrupted (the jobs process stopped or died). They
    fail rather than retry: a run that kills its solver (memory) would otherwise kill every next one."""
    stale = list(
        (
            await session.execute(
                select(AllocationRun)
                .where(col(AllocationRun.status) == "resolvendo")
                .order_by(col(AllocationRun.id))
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    for run in stale:
        await _fail(session, run, "O cálculo foi interrompido (o processo de tarefas parou). Proponha de novo.")
    return len(stale)


async def claim_next(session: AsyncSession, settings: Settings) -> tuple[AllocationRun, BuiltInstance] | None:
    """The oldest queued run, moved to ``resolvendo`` with its instance built and stored; ``None`` when none waits.
    The caller commits before solving: no row stays locked while the optimizer works."""
    run = (
        await session.execute(
            select(AllocationRun)
            .where(col(AllocationRun.status) == "na_fila")
            .order_by(col(AllocationRun.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()
    if run is None:
        return None
    run.status, run.progress = "resolvendo", _progress("montando")
    await session.flush()
    superseded = [int(i) for i in run.params.get("supersedes", [])]
    incumbents: list[tuple[int, int]] = []
    if superseded:
        incumbents = [
            (int(e), int(s))
            for e, s in (
                await session.execute(
                    select(col(AllocationAssignment.entry_id), col(AllocationAssignment.slot_id)).where(
                        col(AllocationAssignment.run_id) == superseded[-1]
                    )
                )
            ).all()
        ]
    built = await build_instance(
        session,
        settings,
        Jurisdiction.parse(run.scope, "scope"),
        horizon_days=int(run.params.get("horizon_days", DEFAULT_HORIZON_DAYS)),
        incumbents=incumbents,
        travel_widened_to=run.params.get("travel_limit_widened_to"),
    )
    run.instance_sha256 = hashlib.sha256(built.canonical).hexdigest()
    # Level 6 (zlib's own default), not gzip's 9: at a million entries (311 MB of canonical JSON) 9 took 7.3 s of
    # the run for 9.6 MB, 6 takes 1.5 s for 11.0 MB (docs/benchmarks.md, the weekly cycle's allocate phase).
    run.instance_gz = gzip.compress(built.canonical, compresslevel=6, mtime=0)
    run.params = {**run.params, **built.instance.params.model_dump(mode="json"), "incumbents_offered": len(incumbents)}
    run.progress = _progress("resolvendo")
    await session.flush()
    return run, built


_ASSIGNMENT_COLUMNS = (
    ("entry_id", "bigint"),
    ("slot_id", "bigint"),
    ("explanation", "jsonb"),
    ("displaced_entry_id", "bigint"),
)
_INSERT_ASSIGNMENTS = unnest_insert(
    "allocation_assignment",
    _ASSIGNMENT_COLUMNS,
    constants={"run_id": "CAST(:run_id AS bigint)", "outcome": "'proposta'"},
)


async def record_solution(
    session: AsyncSession, settings: Settings, run_id: int, solved: Solved, instance: Instance
) -> AllocationRun:
    """Store what the optimizer answered for a run ``claim_next`` prepared: ``proposta`` with its assignments, or
    ``descartada`` when the validator rejects it (a defect, recorded and visible; the superseded run comes back).
    With ``commit_when_proposed`` (the scheduler's auto-approval) the proposal is approved and committed too."""
    run = await get_run(session, run_id, for_update=True)
    if run.status != "resolvendo":
        raise Conflict(f"A rodada está {run.status}; não está sendo calculada.", code="rodada_transicao_invalida")
    solution, greedy = solved.solution, solved.greedy
    greedy_by_bucket: dict[str, list[str]] = {}
    for a in greedy.assignments:
        greedy_by_bucket.setdefault(a.bucket_id, []).append(a.entry_id)
    chosen_by_bucket: dict[str, set[str]] = {}
    for a in solution.assignments:
        chosen_by_bucket.setdefault(a.bucket_id, set()).add(a.entry_id)
    offered = int(run.params.get("incumbents_offered", 0))
    shown = explain.details(instance, solution)  # once: the objective's parts and the assignments' rows use it
    run.solver, run.solver_status, run.objective = solution.solver, solution.status, solution.objective
    run.greedy_objective, run.wall_seconds = greedy.objective, round(solved.wall_seconds, 4)
    run.counts = {
        "entries": len(instance.entries),
        "slots": len(instance.buckets),
        "assigned": len(solution.assignments),
        "unassigned": len(solution.unassigned),
        "escalated": len(solution.escalated),
        "greedy_assigned": len(greedy.assignments),
        # the earlier proposal's pairs: those still possible were incumbents, the rest were lost before solving
        "incumbents": solution.stats.incumbents,
        "incumbents_lost": offered - solution.stats.incumbents,
        "incumbents_kept": solution.stats.incumbents_kept,
        "incumbents_moved": solution.stats.incumbents_moved,
        "incumbents_dropped": solution.stats.incumbents_dropped,
        # The objective as a regulator weighs it (people, days, km), for the optimizer and the simple baseline.
        "objective_parts": explain.objective_parts(instance, solution, shown).as_json(),
        "greedy_objective_parts": explain.objective_parts(instance, greedy).as_json(),
    }
    if solution.status == "FEASIBLE":
        # Not proven optimal (the integer fallback hit its limit): its proven bound and the relative gap, shown.
        run.counts |= {"bound": solution.bound, "gap": solution.gap}
    run.violations = solved.violations
    run.progress = _progress("gravando")
    if solved.violations:
        # Never offered for approval; the earlier proposal, if any, stays as it was.
        run.status, run.decided_by, run.decided_at = "descartada", "validador", utcnow()
        run.progress = _progress("concluida", "O validador recusou a solução: rodada descartada.")
        await _reinstate(session, run)
        await session.flush()
        return run
    run.status, run.progress = "proposta", _progress("concluida")
    await session.flush()
    assert run.id is not None
    rows: list[dict[str, Any]] = []
    for a in solution.assignments:
        why = a.explanation.model_dump(mode="json") if a.explanation else {}
        if a.entry_id in shown:
            # km, days until the slot, lateness, the travel limit and, outside the region, the reason.
            why |= shown[a.entry_id].as_json()
        displaced = next(
            (g for g in greedy_by_bucket.get(a.bucket_id, []) if g not in chosen_by_bucket[a.bucket_id]), None
        )
        rows.append(
            {
                "entry_id": int(a.entry_id),
                "slot_id": int(a.bucket_id),
                "explanation": why or None,
                "displaced_entry_id": int(displaced) if displaced else None,
            }
        )
    # One statement for the run's assignments (issue 18 item 7: a state run's ~6,700 rows through the ORM's unit of
    # work took ~2.7 s of the allocate phase); the rows are not audited (AllocationAssignment is not __audited__:
    # the run and the bookings made from it are).
    if rows:
        await session.execute(_INSERT_ASSIGNMENTS, {"run_id": run.id, **unnest_params(_ASSIGNMENT_COLUMNS, rows)})
    if run.params.get("commit_when_proposed"):
        system = wl.Actor.system("agendador")
        await decide(session, run.id, "aprovada", system)
        run.counts = {**run.counts, "commit": await commit(session, settings, run.id, system)}
        await session.flush()
    return run


async def fail_run(session: AsyncSession, run_id: int, reason: str) -> AllocationRun:
    """The solve of a run failed: ``falhou`` with the reason, and the run it superseded comes back."""
    run = await get_run(session, run_id, for_update=True)
    if run.status in SOLVING_STATUSES:
        await _fail(session, run, reason)
    return run


async def _fail(session: AsyncSession, run: AllocationRun, reason: str) -> None:
    run.status, run.error = "falhou", reason[:2000]
    run.decided_by, run.decided_at = "processo_de_tarefas", utcnow()
    run.progress = _progress("falhou", f"O cálculo falhou: {reason[:300]}")
    await session.flush()
    await _reinstate(session, run)


async def _reinstate(session: AsyncSession, run: AllocationRun) -> None:
    """Put back the run that ``run`` superseded when it was proposed, as it was, if nothing replaced it since (the
    scope's live place was held by ``run`` all along, so nothing could have)."""
    for before in run.params.get("superseded", []):
        older = await session.get(AllocationRun, int(before["id"]), with_for_update=True)
        if older is None or older.status != SUPERSEDED:
            continue
        older.status, older.decided_by = before["status"], before["decided_by"]
        older.decided_at = datetime.fromisoformat(before["decided_at"]) if before["decided_at"] else None
    await session.flush()


async def solve_queued_now(session: AsyncSession, settings: Settings) -> list[AllocationRun]:
    """Solve every queued run now, in ``session`` and in this process (a thread, off the event loop): for tests
    and commands, which have no jobs process. The jobs process does the same in separate transactions with the
    optimizer in a worker process (``allocation.jobs``)."""
    done: list[AllocationRun] = []
    while (claimed := await claim_next(session, settings)) is not None:
        run, built = claimed
        assert run.id is not None
        try:
            solved = await asyncio.to_thread(solve_instance, built.canonical, built.instance)
        except Exception as exc:  # any solver failure is the run's, recorded with its reason
            done.append(await fail_run(session, run.id, failure_reason(exc)))
            continue
        done.append(await record_solution(session, settings, run.id, solved, built.instance))
    return done


async def propose_now(
    session: AsyncSession,
    settings: Settings,
    scope_raw: str,
    actor: wl.Actor,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    max_travel_km: int | None = None,
) -> AllocationRun:
    """Enqueue a run and solve it at once, in ``session`` (tests, commands, benchmarks): the run as the jobs process
    would have left it."""
    run = await enqueue(session, settings, scope_raw, actor, horizon_days=horizon_days, max_travel_km=max_travel_km)
    await solve_queued_now(session, settings)
    await session.refresh(run)
    return run


def failure_reason(exc: BaseException) -> str:
    """What an operator reads about a failed solve, in Portuguese, with the technical kind and message after it
    (ids and counts only: the optimizer's messages carry no personal data)."""
    if isinstance(exc, BrokenExecutor):
        what = "o processo de cálculo terminou de forma inesperada (falta de memória ou interrupção)"
    else:
        what = "erro no otimizador"
    return f"{what} [{type(exc).__name__}: {exc}]"[:2000]


async def _lock_scope(session: AsyncSession, scope: str, *, wait: bool) -> None:
    """Proposals of one scope, one at a time: a transaction-scoped advisory lock on the scope (issue 11: twenty
    concurrent proposals left twenty live runs). The partial unique index ``uq_allocation_run_live_scope``
    (migrations 0012, 0013) is the guarantee; this lock makes a concurrent proposal wait or step back before
    writing instead of failing on the index after it. It is held only while the run is queued, never while solving."""
    key = {"k": f"regula.allocation_run:{scope}"}
    if wait:
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), key)
        return
    got = (await session.execute(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"), key)).scalar()
    if not got:
        raise _being_computed(scope)


def _being_computed(scope: str) -> Conflict:
    return Conflict(
        "Outra rodada deste escopo já está na fila ou sendo calculada; aguarde o resultado dela.",
        code="rodada_em_calculo",
        extra={"scope": scope},
    )


async def get_run(session: AsyncSession, run_id: int, *, for_update: bool = False) -> AllocationRun:
    stmt = select(AllocationRun).where(col(AllocationRun.id) == run_id)
    if for_update:
        stmt = stmt.with_for_update()
    run = (await session.execute(stmt)).scalar_one_or_none()
    if run is None:
        raise NotFound("Rodada de alocação não encontrada.", code="rodada_nao_encontrada")
    return run


async def decide(session: AsyncSession, run_id: int, decision: str, actor: wl.Actor) -> AllocationRun:
    run = await runs.run_for(session, run_id, actor, deciding=True, for_update=True)
    allowed = {"aprovada": ("proposta",), "descartada": ("proposta", "aprovada")}
    if decision not in allowed or run.status not in allowed[decision]:
        raise Conflict(
            f"A rodada está {run.status}; não pode passar a {decision}.",
            code="rodada_transicao_invalida",
            extra={"status": run.status},
        )
    run.status, run.decided_by, run.decided_at = decision, actor.username, utcnow()
    await session.flush()
    return run


async def commit(session: AsyncSession, settings: Settings, run_id: int, actor: wl.Actor) -> dict[str, Any]:
    """Book the approved assignments and move their entries to agendada, all in the caller's transaction.

    An assignment whose entry changed state since the proposal (suspended, cancelled, booked by hand…) or whose
    slot has no place left is marked ``conflito`` and skipped; the rest goes through, and the answer names the
    skipped entries (``changed_entries``, ``slots_taken``).

    Locks are taken in the one order every writer follows (issue 11: a commit and concurrent suspensions
    deadlocked): the run; then all its entries, ascending id, in one statement; then all its slots, ascending id,
    in one statement. A transition locks its single entry the same way, and position recomputes never wait for
    rows another transaction holds, so a suspension either waits for the commit (and then finds the entry
    agendada, releasing its place) or the commit waits for the suspension (and then skips the entry)."""
    run = await runs.run_for(session, run_id, actor, deciding=True, for_update=True)
    if run.status != "aprovada":
        raise Conflict("Só uma rodada aprovada pode ser efetivada.", code="rodada_nao_aprovada")
    pairs = (
        await session.execute(
            select(col(AllocationAssignment.entry_id), col(AllocationAssignment.slot_id))
            .where(col(AllocationAssignment.run_id) == run_id)
            .order_by(col(AllocationAssignment.id))
        )
    ).all()
    entries = await wl.lock_entries(session, [int(e) for e, _ in pairs])
    waiting = EntryStatus.AUTORIZADA.value
    changed = sorted(int(e) for e, _ in pairs if e not in entries or entries[e].status != waiting)
    unchanged = set(entries) - set(changed)
    booked, refused = await providers.book_many(session, [(int(s), int(e)) for e, s in pairs if e in unchanged], run_id)
    system = wl.Actor(actor.username, "sistema", actor.user_id, actor.jurisdiction)
    async with wl.positions_deferred(session, settings):  # each queue's positions once, not once per booking
        booked_ids = [e for _, e in booked]
        held = {e: entries[e] for e in booked_ids}  # locked above, before the slots: not selected again
        await wl.transition_many(session, booked_ids, EntryStatus.AGENDADA.value, system, settings, locked=held)
    await session.execute(
        text(
            "UPDATE allocation_assignment SET outcome = CASE WHEN entry_id = ANY(CAST(:booked AS bigint[])) "
            "THEN 'efetivada' ELSE 'conflito' END WHERE run_id = :run"
        ),
        {"booked": [e for _, e in booked], "run": run_id},
    )
    result = {
        "booked": len(booked),
        "conflicts": len(changed) + len(refused),
        "changed_entries": changed,
        "slots_taken": sorted(e for _, e in refused),
    }
    # Kept on the run: its page and API say truthfully what was booked and list the conflicts by reason.
    run.status, run.committed_at = "efetivada", utcnow()
    run.counts = {**run.counts, "commit": result}
    await session.flush()
    return result


def summary(
    assignments: list[AllocationAssignment], slots: dict[int, AgendaSlot], entries: dict[int, WaitlistEntry]
) -> dict[str, Any]:
    by_municipality: dict[str, int] = {}
    by_provider: dict[str, int] = {}
    for a in assignments:
        e, s = entries.get(a.entry_id), slots.get(a.slot_id)
        if e is not None:
            by_municipality[e.municipality_ibge] = by_municipality.get(e.municipality_ibge, 0) + 1
        if s is not None:
            by_provider[s.cnes] = by_provider.get(s.cnes, 0) + 1
    return {"by_municipality": by_municipality, "by_provider": by_provider}
