"""The simulation itself: day steps, a weekly allocation, regula's own rules at every step.

Each simulated day: the Monday allocation (if it is Monday), the day's referrals join the queues, then the day's
events in time order — confirmations answered or not, places released and offered again, appointments kept or
missed, OCIs concluded, people leaving the queue. What decides each step is regula's code, called as is:

* **priority** — :func:`regula.waitlist.priority.compute_scores_bulk` with the default policy (or its equity weights
  zeroed), the scores refreshed nightly as the ``refresh_positions`` job does;
* **allocation** — the optimizer (:func:`regula.optimizer.flow.solve_problem`, with the escalation at
  ``escalation_percent`` of tM inside it, ``optimizer.problem.escalate_problem``) on the week's instance built in
  memory as columns, with the parameters :func:`regula.allocation.service.build_instance` uses (the queue score as
  the level, the measures' tM window); or its greedy baseline (``optimizer.greedy.solve_greedy`` on the same week as
  an in-memory instance); or plain FIFO (arrival order, earliest place in the queue's scope);
* **messages** — the notifier's schedule, by its own pure rules (``notify.events.confirmation_times``,
  ``reminder_times``, ``offer_deadline``: notice with a soft question, confirmation asked
  ``notify_confirmation_days_before`` days before with ``notify_confirmation_reply_hours`` to answer and a reply
  deadline 24 h before, reminders two days and one day before; an unanswered confirmation goes to the navigators'
  worklist, ``notify.jobs.expire_questions``; an offer has ``notify_offer_reply_minutes`` and closes 6 h before),
  each send moved out of quiet hours and Sundays by :func:`regula.notify.respect.next_allowed`;
* **backfill** — a released place goes to the first of (at most 500, by score, authorization, id) waiting
  reachable people of the OCI that :func:`regula.allocation.backfill.may_take` admits, never closer than
  ``backfill.MIN_NOTICE`` to the appointment; a no-show's place is lost, not freed (``backfill.release_for_entry``);
* **measures** — tM deadline, the 75% threshold and tM compliance from :mod:`regula.waitlist.measures`.

Legal anchors of what is measured and decided: tM and its compliance, Portaria GM/MS 3.492/2024 art. 14 §3 III (as
amended); absenteeism (no-shows) as a monitored indicator, art. 12 VIII; equity within a clinical class, art. 3 VIII;
the 75% escalation follows Portugal's SIGIC transfer rule, as ``waitlist.measures`` says.

Time is local hours from midnight of the first simulated day (``float``). Nothing reads the wall clock.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from regula.allocation.backfill import MIN_NOTICE, Candidate, Place, may_take
from regula.allocation.service import CHANGE_PENALTY
from regula.config import Settings
from regula.demo import generation as demo_generation
from regula.demo import providers as demo_providers
from regula.notify.events import confirmation_times, offer_deadline, reminder_times
from regula.notify.respect import next_allowed, timezone_for
from regula.optimizer.flow import solve_problem
from regula.optimizer.greedy import solve_greedy
from regula.optimizer.instance import Bucket, Entry, Instance, Params
from regula.optimizer.problem import NO_AGE_MAX, SCOPE_KINDS, Problem, build_km
from regula.optimizer.rules import haversine_km
from regula.simulation import demand as dm
from regula.simulation.reference import Reference, scope_of
from regula.simulation.scenario import Scenario
from regula.waitlist.priority import (
    DEFAULT_POLICY,
    EquityWeights,
    PriorityPolicy,
    RaceColorWeights,
    compute_scores_bulk,
)

I64 = npt.NDArray[np.int64]

# Entry statuses of the simulation (regula's: autorizada, agendada/confirmada, em_atendimento, concluida, cancelada).
PENDING, WAITING, BOOKED, EXECUTING, CONCLUDED, LEFT = 0, 1, 2, 3, 4, 5
# Event kinds, in the order they run at the same moment.
EV_CONFIRM, EV_CONFIRM_DEADLINE, EV_RELEASE, EV_APPOINTMENT, EV_CONCLUDE, EV_LEAVE = 0, 1, 2, 3, 4, 5
# Draw identities for demand.uniform (one per decision).
U_NOSHOW, U_REQUEUE, U_CANCEL, U_CANCEL_AT, U_REPLY, U_REPLY_AT, U_SAYS_NO, U_REACH, U_OFFER_ANS, U_OFFER_ACC = range(
    10
)
U_STEP, U_DAY = 10, 11

SESSIONS: Final = tuple(m / 60 for m in demo_providers.SESSIONS)  # 08:00 and 13:30
BACKFILL_CANDIDATES: Final = 500  # backfill_slot's query reads at most this many candidates, in queue order
BACKFILL_MAX_OFFERS: Final = 20
NO_EQUITY: Final = PriorityPolicy(
    equity=EquityWeights(
        race_color=RaceColorWeights(preta=0, parda=0, indigena=0),
        cadunico=0,
        vulnerability_index_max_points=0,
        max_points=0,
    )
)


def regula_settings() -> Settings:
    """regula's defaults (quiet hours, confirmation and offer windows, tM), not the environment's: a scenario gives
    the same report on every machine."""
    return Settings.model_construct()


@dataclass(frozen=True, slots=True)
class Line:
    """A provider's weekly places for one OCI and modality."""

    provider: int  # index into the problem's providers vocabulary
    oci: int
    tele: bool
    muni: int  # index into the reference municipalities
    scope: tuple[int, int, int, int]  # code indices: municipality, region, macro, uf
    age_max: int | None
    place: Place
    weekly: float


@dataclass
class Outcome:
    """Everything the report needs from one run."""

    scenario: Scenario
    ref: Reference
    demand: dm.Demand
    status: npt.NDArray[np.int8]
    first_day: npt.NDArray[np.int32]
    last_day: npt.NDArray[np.int32]
    escalated: npt.NDArray[np.bool_]  # reached the escalation threshold while waiting (navigators' task)
    widened: npt.NDArray[np.bool_]  # served with its scope widened by the optimizer
    left_death: npt.NDArray[np.bool_]
    slots_by_day: npt.NDArray[np.int64]
    attended_by_day: npt.NDArray[np.int64]
    no_show_by_day: npt.NDArray[np.int64]
    counts: dict[str, int] = field(default_factory=dict)


class Simulation:
    def __init__(self, scenario: Scenario, ref: Reference, demand: dm.Demand) -> None:
        self.sc = scenario
        self.b = scenario.behaviour
        self.ref = ref
        self.d = demand
        self.settings = regula_settings()
        self.tz = ZoneInfo(timezone_for(scenario.uf.upper()))
        self.origin = datetime.combine(scenario.start_date, datetime.min.time(), self.tz)
        self.base = scenario.start_date.toordinal()
        self.messages = scenario.effective_messages
        self.backfill = scenario.effective_backfill
        self.allocator = scenario.effective_allocator
        self.policy = DEFAULT_POLICY if scenario.equity_weights else NO_EQUITY
        n = demand.n
        self.status = np.zeros(n, dtype=np.int8)
        self.first_day = np.full(n, -1, dtype=np.int32)
        self.last_day = np.full(n, -1, dtype=np.int32)
        self.escalated = np.zeros(n, dtype=np.bool_)
        self.widened = np.zeros(n, dtype=np.bool_)
        self.left_death = np.zeros(n, dtype=np.bool_)
        self.score = np.zeros(n, dtype=np.int64)
        self.bseq = [0] * n  # booking number: events of an older booking are stale
        self.bookings = [0] * n
        self.offers = [0] * n
        self.confirmed = [False] * n
        self.appt: list[tuple[int, int, float, int] | None] = [None] * n  # line, day, hour, booked on day
        self.events: list[tuple[float, int, int, int, int, int]] = []  # time, kind, seq, entry, bseq, extra
        self._seq = 0
        self.days = scenario.days
        self.slots_by_day = np.zeros(self.days + 1, dtype=np.int64)
        self.attended_by_day = np.zeros(self.days + 1, dtype=np.int64)
        self.no_show_by_day = np.zeros(self.days + 1, dtype=np.int64)
        self.counts: dict[str, int] = {
            "messages_agendamento": 0,
            "messages_confirmacao": 0,
            "messages_lembrete": 0,
            "messages_oferta": 0,
            "confirmations_yes": 0,
            "confirmations_no": 0,
            "confirmations_unanswered": 0,
            "navigator_calls": 0,
            "released": 0,
            "backfilled": 0,
            "cancelled_bookings": 0,
            "allocated": 0,
            "optimizer_escalated": 0,
            "allocation_runs": 0,
        }
        self.max_days = np.array([o.summary.max_days for o in ref.ocis], dtype=np.int64)[demand.oci]
        self.procedures = np.array([o.procedures for o in ref.ocis], dtype=np.int64)
        self._vocabularies()
        self._lines()
        self.queue_order: dict[int, list[int]] = {}

    # -- static parts ------------------------------------------------------------------------------------------

    def _vocabularies(self) -> None:
        places = self.ref.municipalities
        codes: set[str] = set()
        for m in places:
            codes.update((m.ibge_code, m.health_region_code or m.macro_code, m.macro_code, m.uf))
        self.codes = sorted(codes)
        ix = {c: i for i, c in enumerate(self.codes)}
        self.code_ix = ix
        self.muni_code = np.array([ix[m.ibge_code] for m in places], dtype=np.int32)
        scopes = [scope_of(m) for m in places]
        kinds = {k: i for i, k in enumerate(SCOPE_KINDS)}
        self.muni_scope_kind = np.array([kinds[k] for k, _ in scopes], dtype=np.int8)
        self.muni_scope_code = np.array([ix[c] for _, c in scopes], dtype=np.int32)
        self.muni_macro = np.array([ix[m.macro_code] for m in places], dtype=np.int32)
        self.muni_uf = np.array([ix[m.uf] for m in places], dtype=np.int32)
        self.scopes = scopes
        self.oci_codes = [o.summary.code for o in self.ref.ocis]
        self.providers = sorted(e.cnes for e in self.ref.network.establishments)

    def _lines(self) -> None:
        """Weekly places per provider, OCI and modality: each queue's expected weekly referrals times
        ``supply_ratio`` and ``capacity_factor``, split among the scope's providers by their weights (the demo's
        agenda rule), teleconsultation taking ``demo.providers.TELE_SHARE`` where offered."""
        sc = self.sc
        expected = expected_queue_referrals(sc, self.ref)
        weeks = sc.days / 7
        prov_ix = {c: i for i, c in enumerate(self.providers)}
        oci_ix = {c: i for i, c in enumerate(self.oci_codes)}
        muni_ix = {m.ibge_code: i for i, m in enumerate(self.ref.municipalities)}
        lines: list[Line] = []
        for (k, scope), count in sorted(expected.items()):
            offers = self.ref.network.offers(self.oci_codes[k], scope)
            if not offers:
                continue
            weekly = count / weeks * sc.supply_ratio * sc.capacity_factor
            total_w = sum(o.weight for _, o in offers)
            for est, offer in sorted(offers, key=lambda p: p[0].cnes):
                share = weekly * offer.weight / total_w
                m = est.place
                codes = (
                    self.code_ix[m.ibge_code],
                    self.code_ix[m.health_region_code or m.macro_code],
                    self.code_ix[m.macro_code],
                    self.code_ix[m.uf],
                )
                place = Place(m.health_region_code, m.macro_code, m.uf, None, None, offer.age_max_years)
                split = [(False, 1.0 - demo_providers.TELE_SHARE), (True, demo_providers.TELE_SHARE)]
                for tele, part in split if offer.teleconsultation else [(False, 1.0)]:
                    lines.append(
                        Line(
                            prov_ix[est.cnes],
                            oci_ix[offer.oci_code],
                            tele,
                            muni_ix[m.ibge_code],
                            codes,
                            offer.age_max_years,
                            place,
                            share * part,
                        )
                    )
        self.lines = lines
        provider_munis = sorted({ln.muni for ln in lines})
        km: dict[tuple[str, str], int] = {}
        places = self.ref.municipalities
        for a in places:
            for j in provider_munis:
                b = places[j]
                km[(a.ibge_code, b.ibge_code)] = haversine_km((a.latitude, a.longitude), (b.latitude, b.longitude))
        e_munis = self.muni_code
        b_munis = np.array([self.code_ix[places[j].ibge_code] for j in provider_munis], dtype=np.int32)
        self.km_row, self.km_col, self.km = build_km(self.codes, e_munis, b_munis, km)
        self.line_km = np.zeros((len(places), len(lines)), dtype=np.int32)
        for j, ln in enumerate(lines):
            if not ln.tele:
                self.line_km[:, j] = [km[(a.ibge_code, places[ln.muni].ibge_code)] for a in places]

    def week_places(self, week: int) -> list[tuple[int, int, int]]:
        """(line, day offset 0..4, places) of a week: the fractional weekly rate accumulated so that over the weeks
        each line gives exactly its rate (floor of the running total), spread over the working days."""
        out = []
        for j, ln in enumerate(self.lines):
            n = math.floor(ln.weekly * (week + 1) + 1e-9) - math.floor(ln.weekly * week + 1e-9)
            if n <= 0:
                continue
            for k in range(5):
                day_n = n // 5 + (1 if (k - week - j) % 5 < n % 5 else 0)
                if day_n:
                    out.append((j, k, day_n))
        return out

    # -- time --------------------------------------------------------------------------------------------------

    def at(self, t: float) -> datetime:
        return self.origin + timedelta(hours=t)

    def hours(self, moment: datetime) -> float:
        return (moment - self.origin).total_seconds() / 3600

    def allowed(self, t: float) -> float:
        """The first moment at or after ``t`` a message may go out (notify.respect.next_allowed)."""
        return self.hours(next_allowed(self.at(t), self.tz.key, self.settings))

    def push(self, t: float, kind: int, entry: int, extra: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self.events, (t, kind, self._seq, entry, self.bseq[entry], extra))

    def u(self, entry: int, what: int, attempt: int = 0) -> float:
        return dm.uniform(self.d.seed, entry, what, attempt)

    # -- scoring and queue order -------------------------------------------------------------------------------

    def rescore(self, today: int, rows: I64) -> None:
        if rows.size == 0:
            return
        d = self.d
        oci_sex = [self.ref.ocis[k].summary.sex for k in range(len(self.ref.ocis))]
        columns = {
            "risk_class": [dm.RISK_CLASSES[r] for r in d.risk[rows].tolist()],
            "authorized_on": (np.datetime64(self.sc.start_date, "D") + d.day[rows].astype("timedelta64[D]")),
            "suspended_days": np.zeros(rows.size, dtype=np.int64),
            "max_days": self.max_days[rows],
            "age_years": d.age[rows],
            "pregnant": d.pregnant[rows],
            "disability": d.disability[rows],
            "autism": d.autism[rows],
            "race_color": [dm.RACES[r] for r in d.race[rows].tolist()],
            "sex": [dm.SEXES[s] for s in d.sex[rows].tolist()],
            "cadunico": d.cadunico[rows],
            "vulnerability_index": d.vulnerability[rows],
            "oci_sex": [oci_sex[k] for k in d.oci[rows].tolist()],
        }
        day = date.fromordinal(self.base + today)
        self.score[rows] = np.asarray(compute_scores_bulk(columns, self.policy, day), dtype=np.int64)

    def flag_escalations(self, today: int, rows: I64) -> None:
        """The escalation sweep: waiting entries past ``escalation_percent`` of tM (waitlist.measures.days_waited;
        the integer comparison of measures.past_escalation, at the scenario's threshold)."""
        waited = today - self.d.day[rows]
        past = 100 * waited >= self.sc.escalation_percent * self.max_days[rows]
        self.escalated[rows[past]] = True

    def reorder(self, rows: I64) -> None:
        """Queue order per OCI (score, authorization, id), as backfill_slot's query sorts."""
        if not self.backfill:
            return
        d = self.d
        score = self.score[rows] if self.allocator != "fifo" else np.zeros(rows.size, dtype=np.int64)
        order = np.lexsort((rows, d.day[rows], -score, d.oci[rows]))
        ordered = rows[order]
        ocis = d.oci[ordered]
        self.queue_order = {}
        if ordered.size == 0:
            return
        cuts = np.flatnonzero(np.diff(ocis)) + 1
        for part in np.split(ordered, cuts):
            self.queue_order[int(d.oci[part[0]])] = part.tolist()

    # -- allocation --------------------------------------------------------------------------------------------

    def allocate(self, today: int, week: int) -> None:
        waiting = np.flatnonzero(self.status == WAITING).astype(np.int64)
        first = today + self.sc.allocation_lead_days
        places = [(j, first + k, n) for j, k, n in self.week_places(week) if first + k < self.days]
        for _j, day, n in places:
            self.slots_by_day[day] += n
        if waiting.size == 0 or not places:
            return
        self.counts["allocation_runs"] += 1
        if self.allocator == "optimizer":
            assigned = self._optimize(today, waiting, places)
        elif self.allocator == "greedy":
            assigned = self._greedy(today, waiting, places)
        else:
            assigned = self._fifo(waiting, places)
        self.counts["allocated"] += len(assigned)
        used: dict[int, int] = {}
        for entry, b in assigned:
            j, day, n = places[b]
            k = used.get(b, 0)
            used[b] = k + 1
            hour = SESSIONS[0] if k < (n + 1) // 2 else SESSIONS[1]
            self.book(entry, j, day, hour, today * 24.0 + 6.0, backfill=False)

    def _optimize(self, today: int, waiting: I64, places: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
        d = self.d
        lines = self.lines
        n = waiting.size
        muni = d.muni[waiting]
        auth = (self.base + d.day[waiting]).astype(np.int32)
        deadline = auth + self.max_days[waiting].astype(np.int32)  # measures.tm_deadline, no paused days
        j_arr = np.array([p[0] for p in places], dtype=np.int64)
        problem = Problem(
            params=Params(
                today=date.fromordinal(self.base + today),
                change_penalty=CHANGE_PENALTY,
                escalation_percent=self.sc.escalation_percent,
                explain=False,
            ),
            codes=self.codes,
            ocis=self.oci_codes,
            providers=self.providers,
            e_id=np.char.zfill(waiting.astype(np.str_), 9),
            e_muni=self.muni_code[muni],
            e_priority=np.maximum(self.score[waiting], 0),
            e_authorized=auth,
            e_deadline=deadline,
            e_oci=d.oci[waiting].astype(np.int32),
            e_sex=(d.sex[waiting] + 1).astype(np.int8),
            e_age=d.age[waiting].astype(np.int16),
            e_scope_kind=self.muni_scope_kind[muni],
            e_scope_code=self.muni_scope_code[muni],
            e_macro=self.muni_macro[muni],
            e_uf=self.muni_uf[muni],
            e_short=np.zeros(n, dtype=np.bool_),
            e_unav_ptr=np.zeros(n + 1, dtype=np.int64),
            e_unav=np.zeros(0, dtype=np.int32),
            b_id=np.char.zfill(np.arange(len(places)).astype(np.str_), 9),
            b_provider=np.array([lines[j].provider for j in j_arr], dtype=np.int32),
            b_scope=np.ascontiguousarray(np.array([lines[j].scope for j in j_arr], dtype=np.int32).reshape(-1, 4).T),
            b_date=np.array([self.base + p[1] for p in places], dtype=np.int32),
            b_days=np.ones(len(places), dtype=np.int16),
            b_oci=np.array([lines[j].oci for j in j_arr], dtype=np.int32),
            b_cap=np.array([p[2] for p in places], dtype=np.int64),
            b_tele=np.array([lines[j].tele for j in j_arr], dtype=np.bool_),
            b_age_min=np.zeros(len(places), dtype=np.int16),
            b_age_max=np.array(
                [NO_AGE_MAX if lines[j].age_max is None else lines[j].age_max for j in j_arr], dtype=np.int16
            ),
            b_sex=np.zeros(len(places), dtype=np.int8),
            q_id=np.zeros(0, dtype=np.str_),
            q_muni=np.zeros(0, dtype=np.int32),
            q_provider=np.zeros(0, dtype=np.int32),
            q_oci=np.zeros(0, dtype=np.int32),
            q_start=np.zeros(0, dtype=np.int32),
            q_end=np.zeros(0, dtype=np.int32),
            q_limit=np.zeros(0, dtype=np.int64),
            km_row=self.km_row,
            km_col=self.km_col,
            km=self.km,
        )
        allocation = solve_problem(problem, workers=1)
        escalated = waiting[allocation.escalated]
        self.counts["optimizer_escalated"] += int(escalated.size)
        served = np.flatnonzero(allocation.bucket_of >= 0)
        widened = allocation.problem.e_scope_kind[served] != problem.e_scope_kind[served]
        self.widened[waiting[served[widened]]] = True
        return list(zip(waiting[served].tolist(), allocation.bucket_of[served].tolist(), strict=True))

    def _greedy(self, today: int, waiting: I64, places: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
        """The optimizer's greedy baseline (``optimizer.greedy.solve_greedy``) on the same week, as an instance built
        in memory (pydantic): priority order, each to the nearest, then earliest, place. Slow at a state's scale."""
        d = self.d
        places_ref = self.ref.municipalities
        entries = []
        for e in waiting.tolist():
            m = places_ref[int(d.muni[e])]
            kind, code = self.scopes[int(d.muni[e])]
            auth = date.fromordinal(self.base + int(d.day[e]))
            entries.append(
                Entry(
                    id=f"{e:09d}",
                    municipality_ibge=m.ibge_code,
                    priority=max(0, int(self.score[e])),
                    authorized_date=auth,
                    deadline=auth + timedelta(days=int(self.max_days[e])),
                    oci_code=self.oci_codes[int(d.oci[e])],
                    sex=dm.SEXES[int(d.sex[e])],
                    age_years=int(d.age[e]),
                    scope_kind=kind,
                    scope_code=code,
                    macro_code=m.macro_code,
                    uf=m.uf,
                )
            )
        buckets = []
        for b, (j, day, n) in enumerate(places):
            ln = self.lines[j]
            m = places_ref[ln.muni]
            buckets.append(
                Bucket(
                    id=f"{b:09d}",
                    provider_cnes=self.providers[ln.provider],
                    municipality_ibge=m.ibge_code,
                    region_code=m.health_region_code or m.macro_code,
                    macro_code=m.macro_code,
                    uf=m.uf,
                    date=date.fromordinal(self.base + day),
                    oci_code=self.oci_codes[ln.oci],
                    capacity=n,
                    teleconsultation=ln.tele,
                    age_max=ln.age_max,
                )
            )
        instance = Instance(
            params=Params(
                today=date.fromordinal(self.base + today),
                change_penalty=CHANGE_PENALTY,
                escalation_percent=self.sc.escalation_percent,
                explain=False,
            ),
            entries=entries,
            buckets=buckets,
            municipalities={m.ibge_code: (m.latitude, m.longitude) for m in places_ref},
        )
        solution = solve_greedy(instance)
        escalated = {int(i) for i in solution.escalated}
        self.counts["optimizer_escalated"] += len(escalated)
        out = []
        for a in solution.assignments:
            e = int(a.entry_id)
            if e in escalated:
                self.widened[e] = True
            out.append((e, int(a.bucket_id)))
        return out

    def _fifo(self, waiting: I64, places: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
        """Plain FIFO: in order of authorization (then id), each to the earliest place of the queue's scope that
        admits the person (age), nearest first on the same day."""
        d = self.d
        lines = self.lines
        by_queue: dict[tuple[int, int, int], list[int]] = {}
        kinds = SCOPE_KINDS
        for b, (j, _day, _n) in enumerate(places):
            ln = lines[j]
            for kind_ix in range(1, len(kinds)):
                by_queue.setdefault((ln.oci, kind_ix, ln.scope[kind_ix]), []).append(b)
        left = [p[2] for p in places]
        order = waiting[np.lexsort((waiting, d.day[waiting]))]
        full: set[tuple[int, int, int]] = set()
        out: list[tuple[int, int]] = []
        for e in order.tolist():
            m = int(d.muni[e])
            key = (int(d.oci[e]), int(self.muni_scope_kind[m]), int(self.muni_scope_code[m]))
            if key in full:
                continue
            cands = by_queue.get(key)
            if not cands:
                full.add(key)
                continue
            age = int(d.age[e])
            best = -1
            best_key: tuple[int, int, int] | None = None
            any_left = False
            for b in cands:
                if left[b] <= 0:
                    continue
                any_left = True
                ln = lines[places[b][0]]
                if ln.age_max is not None and age > ln.age_max:
                    continue
                k = (places[b][1], 0 if ln.tele else int(self.line_km[m, places[b][0]]), b)
                if best_key is None or k < best_key:
                    best, best_key = b, k
            if not any_left:
                full.add(key)
            if best >= 0:
                left[best] -= 1
                out.append((e, best))
        return out

    # -- a booking and its messages ----------------------------------------------------------------------------

    def book(self, e: int, line: int, day: int, hour: float, now: float, *, backfill: bool) -> None:
        """A booking and the messages the notifier would send for it, timed by the notifier's own rules
        (``notify.events.confirmation_times`` and ``reminder_times``, which ``schedule_appointment_messages`` uses)."""
        self.status[e] = BOOKED
        self.bseq[e] += 1
        k = self.bookings[e]
        self.bookings[e] = k + 1
        self.confirmed[e] = backfill  # a SIM to an offer confirms the appointment
        self.appt[e] = (line, day, hour, int(now // 24))
        starts = day * 24.0 + hour
        self.push(starts, EV_APPOINTMENT, e)
        reachable = self.d.reachable(e)
        if self.messages != "none" and reachable:
            self.counts["messages_agendamento"] += 1
            self.counts["messages_lembrete"] += len(reminder_times(self.at(now), self.at(starts)))
        if self.u(e, U_CANCEL, k) < self.b.booked_cancel_probability:
            at = now + (starts - now) * self.u(e, U_CANCEL_AT, k)
            self.push(at, EV_RELEASE, e, 1)
        if self.messages == "two_way" and reachable and not backfill:
            s = self.settings
            asked = confirmation_times(self.at(now), self.at(starts), s)
            if asked is not None:
                ask = self.allowed(self.hours(asked[0]))
                reply_deadline = self.hours(asked[1])
                if ask + 2 > reply_deadline:
                    return
                self.counts["messages_confirmacao"] += 1
                if self.u(e, U_REPLY, k) < self.b.confirmation_reply_probability:
                    window = min(float(s.notify_confirmation_reply_hours), reply_deadline - ask)
                    self.push(ask + window * self.u(e, U_REPLY_AT, k), EV_CONFIRM, e)
                else:
                    self.push(reply_deadline, EV_CONFIRM_DEADLINE, e)

    def answer(self, t: float, e: int) -> None:
        k = self.bookings[e] - 1
        if self.u(e, U_SAYS_NO, k) < self.b.confirmation_no_share:
            self.counts["confirmations_no"] += 1
            self.release(t, e, to_queue=True)
        else:
            self.counts["confirmations_yes"] += 1
            self.confirmed[e] = True

    def release(self, t: float, e: int, *, to_queue: bool) -> None:
        """The entry leaves its booking (NÃO, cancellation, withdrawal): the place is freed and, with backfill,
        offered again."""
        appt = self.appt[e]
        assert appt is not None
        self.status[e] = WAITING if to_queue else LEFT
        self.bseq[e] += 1
        self.appt[e] = None
        self.counts["released"] += 1
        if self.backfill:
            self.offer_place(t, appt[0], appt[1], appt[2], exclude=e)

    def offer_place(self, t: float, line: int, day: int, hour: float, exclude: int) -> None:
        ln = self.lines[line]
        starts = day * 24.0 + hour
        closes = self.hours(offer_deadline(self.at(starts)))
        window = self.settings.notify_offer_reply_minutes / 60
        notice = MIN_NOTICE.total_seconds() / 3600
        queue = self.queue_order.get(ln.oci, [])
        asked: set[int] = {exclude}
        d = self.d
        places = self.ref.municipalities
        for _ in range(BACKFILL_MAX_OFFERS):
            send = self.allowed(t)
            if starts - send < notice or send + window > closes:  # backfill.MIN_NOTICE; notify.events.offer_deadline
                return
            chosen = -1
            seen = 0
            for c in queue:
                if self.status[c] != WAITING or not d.reachable(c):
                    continue
                seen += 1
                if seen > BACKFILL_CANDIDATES:
                    break
                if c in asked:
                    continue
                home = places[int(d.muni[c])]
                kind, code = self.scopes[int(d.muni[c])]
                cand = Candidate(
                    kind, code, bool(self.escalated[c]), home.macro_code, home.uf, "MF"[d.sex[c]], int(d.age[c])
                )
                if may_take(ln.place, cand):
                    chosen = c
                    break
            if chosen < 0:
                return
            asked.add(chosen)
            self.counts["messages_oferta"] += 1
            k = self.offers[chosen]
            self.offers[chosen] = k + 1
            if self.u(chosen, U_OFFER_ANS, k) < self.b.offer_answer_2h_probability and (
                self.u(chosen, U_OFFER_ACC, k) < self.b.offer_accept_probability
            ):
                self.counts["backfilled"] += 1
                self.book(chosen, line, day, hour, send + window / 2, backfill=True)
                return
            t = send + window

    # -- events ------------------------------------------------------------------------------------------------

    def no_show_probability(self, e: int, line: int, lead_days: int) -> float:
        b = self.b
        p = self.sc.no_show_base_rate
        if self.lines[line].tele:
            p *= b.no_show_teleconsultation_rr
        p += b.no_show_per_week_of_lead * max(0, lead_days - b.no_show_lead_reference_days) / 7
        if self.messages != "none" and self.d.reachable(e):
            channel = dm.CHANNELS[int(self.d.channel[e])]
            p *= b.sms_reminder_rr if channel == "sms" else b.whatsapp_one_way_rr
        if self.confirmed[e]:
            p *= b.confirmed_no_show_rr
        return min(max(p, 0.0), b.no_show_max_rate)

    def appointment(self, e: int) -> None:
        appt = self.appt[e]
        assert appt is not None
        line, day, _hour, booked_on = appt
        k = self.bookings[e] - 1
        if self.u(e, U_NOSHOW, k) < self.no_show_probability(e, line, day - booked_on):
            self.no_show_by_day[day] += 1
            # A no-show's place is lost (backfill.release_for_entry); the navigators return the entry to the
            # queue (faltou → autorizada) or close it (faltou → cancelada).
            self.appt[e] = None
            self.status[e] = WAITING if self.u(e, U_REQUEUE, k) < self.b.no_show_requeue_probability else LEFT
            return
        self.attended_by_day[day] += 1
        self.appt[e] = None
        self.status[e] = EXECUTING
        self.first_day[e] = day
        last = day
        mean = self.b.procedure_interval_days
        for step in range(int(self.procedures[self.d.oci[e]])):
            u = self.u(e, U_STEP, step)
            last += math.ceil(-mean * math.log(1.0 - u)) if mean > 0 else 0
        self.last_day[e] = last
        self.push(last * 24.0 + 17.0, EV_CONCLUDE, e)

    def run(self, progress: Callable[[int, int], None] | None = None) -> Outcome:
        d = self.d
        start_weekday = self.sc.start_date.weekday()
        arrivals = np.searchsorted(d.day, np.arange(self.days + 1), side="left")
        week = 0
        for today in range(self.days):
            if (start_weekday + today) % 7 == 0:
                waiting = np.flatnonzero(self.status == WAITING).astype(np.int64)
                self.flag_escalations(today, waiting)
                if self.allocator != "fifo":
                    self.rescore(today, waiting)
                self.allocate(today, week)
                week += 1
            new = np.arange(arrivals[today], arrivals[today + 1], dtype=np.int64)
            self.status[new] = WAITING
            for e in new.tolist():
                self.push(float(d.leave_day[e]) * 24.0 + 12.0, EV_LEAVE, e)
            if self.backfill:
                waiting = np.flatnonzero(self.status == WAITING).astype(np.int64)
                if self.allocator != "fifo":
                    self.rescore(today, waiting)  # the nightly refresh of scores and positions
                self.reorder(waiting)
            horizon = (today + 1) * 24.0
            while self.events and self.events[0][0] < horizon:
                t, kind, _, e, bseq, _extra = heapq.heappop(self.events)
                if kind == EV_CONCLUDE:
                    if self.status[e] == EXECUTING:
                        self.status[e] = CONCLUDED
                    continue
                if kind == EV_LEAVE:
                    if self.status[e] == WAITING:
                        self.status[e] = LEFT
                        self.left_death[e] = bool(d.leave_death[e])
                    elif self.status[e] == BOOKED:
                        self.left_death[e] = bool(d.leave_death[e])
                        self.release(t, e, to_queue=False)
                    continue
                if bseq != self.bseq[e] or self.status[e] != BOOKED:
                    continue  # an event of a booking that no longer exists
                if kind == EV_APPOINTMENT:
                    self.appointment(e)
                elif kind == EV_CONFIRM:
                    self.answer(t, e)
                elif kind == EV_CONFIRM_DEADLINE:
                    self.counts["confirmations_unanswered"] += 1
                    # notify.jobs.expire_questions: to the navigators' worklist for a phone call
                    self.counts["navigator_calls"] += 1
                    if self.u(e, U_REACH, self.bookings[e] - 1) < self.b.navigator_call_reach_probability:
                        self.answer(t, e)
                elif kind == EV_RELEASE:
                    self.counts["cancelled_bookings"] += 1
                    self.release(t, e, to_queue=False)
            if progress is not None and (today % 7 == 6 or today == self.days - 1):
                progress(today + 1, self.days)
        return Outcome(
            scenario=self.sc,
            ref=self.ref,
            demand=d,
            status=self.status,
            first_day=self.first_day,
            last_day=self.last_day,
            escalated=self.escalated,
            widened=self.widened,
            left_death=self.left_death,
            slots_by_day=self.slots_by_day[: self.days],
            attended_by_day=self.attended_by_day[: self.days],
            no_show_by_day=self.no_show_by_day[: self.days],
            counts=self.counts,
        )


def expected_queue_referrals(scenario: Scenario, ref: Reference) -> dict[tuple[int, tuple[str, str]], float]:
    """Expected referrals per (OCI, queue scope) over the simulated days, from the demand's own distributions
    (municipality by population; OCI by sex and age): what "today's capacity" is sized on, the same for every seed."""
    days = scenario.days
    total = scenario.referrals_per_year * days / 365.25
    table = dm._oci_table(ref)
    bands = demo_generation.AGE_BANDS
    band_w = np.array([w for _, _, w in bands], dtype=np.float64)
    band_w /= band_w.sum()
    p_oci = np.zeros(len(ref.ocis), dtype=np.float64)
    for (lo, hi, _), w in zip(bands, band_w.tolist(), strict=True):
        ages = np.arange(lo, hi + 1)
        for s, ps in ((0, 1 - dm.WOMEN_SHARE), (1, dm.WOMEN_SHARE)):
            p_oci += ps * w * table[s, ages].mean(axis=0)
    pop: dict[tuple[str, str], float] = {}
    total_pop = float(sum(m.population for m in ref.municipalities))
    for m in ref.municipalities:
        key = scope_of(m)
        pop[key] = pop.get(key, 0.0) + m.population / total_pop
    out: dict[tuple[int, tuple[str, str]], float] = {}
    for k in range(len(ref.ocis)):
        for scope, share in sorted(pop.items()):
            out[(k, scope)] = total * p_oci[k] * share
    return out


def simulate(
    scenario: Scenario, ref: Reference, seed: int, progress: Callable[[int, int], None] | None = None
) -> Outcome:
    demand = dm.generate(scenario, ref, seed)
    return Simulation(scenario, ref, demand).run(progress)
