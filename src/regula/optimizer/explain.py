"""What a regulator reads about a solution, computed from the instance and the solution alone (pure; no solver
structure): per assignment the trip, the days until the slot and — when the slot is outside the person's own health
region — the reason; for the whole solution the objective as its parts (people served, served within tM, kilometres,
lateness) instead of one raw number.

Why a reason is owed: care is organized by health region (Portaria GM/MS 3.492/2024 art. 3 III, the PRI; art. 9 IV
as amended: the region's executing providers), and the regulation must be transparent to the person and the teams
(art. 10 §2). A slot outside the region is one of:

* ``escalonada`` — the entry passed ``escalation_percent`` (75%) of its tM window with no feasible slot in its scope
  up to its deadline, so its scope was widened (``problem.escalate``; SIGIC's 75% rule): "escalonada: 80% do tM
  decorrido, sem vaga na região até 30/11";
* ``sem_vaga_na_regiao`` — the queue's scope (macro-region or UF, by the region's PAR) already covers the slot, and
  the region had no slot this person may use dated on or before it: "sem vaga na região até 14/12";
* ``vagas_da_regiao_ocupadas`` — the region had such slots, but the solution gave all of them to other people (or a
  PPI/PAR quota closed them to this municipality): "vagas da região até 14/12 ocupadas por outras pessoas da fila";
* ``mais_perto`` — a free slot in the region existed, but this one is nearer the person's home (regions are
  administrative; a neighbouring region's provider can be closer);
* ``proposta_mantida`` — the slot was proposed earlier and kept (changing a proposal costs ``change_penalty``);
* ``abrangencia_da_fila`` — none of the above: the queue's own scope allows it and the objective preferred it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Final

from regula.optimizer.instance import Bucket, Entry, Instance, Quota, Solution
from regula.optimizer.rules import Travel, pair_violations, quota_counts, travel_limit_km

#: Where the person was allowed to go, for the sentences ("sem vaga na região").
_IN_SCOPE: Final[dict[str, str]] = {
    "municipality": "no município",
    "region": "na região",
    "macro": "na macrorregião",
    "uf": "no estado",
}

REASON_CODES: Final[tuple[str, ...]] = (
    "escalonada",
    "sem_vaga_na_regiao",
    "vagas_da_regiao_ocupadas",
    "mais_perto",
    "proposta_mantida",
    "abrangencia_da_fila",
)


@dataclass(frozen=True)
class Reason:
    """Why an assignment leaves the person's health region: a stable code and a Portuguese sentence."""

    code: str
    text: str
    elapsed_percent: int | None = None
    until: date | None = None


@dataclass(frozen=True)
class Detail:
    """One assignment as a regulator reads it."""

    entry_id: str
    bucket_id: str
    travel_km: int
    days_until: int
    late_days: int  # days past the tM deadline (0: within tM)
    outside_region: bool
    reason: Reason | None
    max_travel_km: int | None  # the OCI's limit for this modality (None: no limit)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("entry_id")
        out.pop("bucket_id")
        if self.reason is not None:
            out["reason"] = {
                "code": self.reason.code,
                "text": self.reason.text,
                "elapsed_percent": self.reason.elapsed_percent,
                "until": self.reason.until.isoformat() if self.reason.until else None,
            }
        return out


@dataclass(frozen=True)
class ObjectiveParts:
    """The objective as its parts: what a regulator weighs, in people, days and kilometres."""

    entries: int  # people in the instance
    served: int
    served_within_tm: int  # slot on or before the tM deadline
    late: int  # slot after the deadline
    late_days: int  # sum of the days past the deadline
    total_km: int  # face-to-face trips; teleconsultation is 0 km
    mean_km: float  # per person served (face-to-face and teleconsultation), one decimal
    max_km: int
    outside_region: int
    escalated: int
    teleconsultation: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def elapsed_percent(entry: Entry, today: date) -> int:
    """The share of the tM window gone by ``today``, in whole percent (rounded down, as the 75% test compares)."""
    window = (entry.deadline - entry.authorized_date).days
    if window <= 0:
        return 100
    return max(0, (today - entry.authorized_date).days * 100 // window)


def home_region(entry: Entry) -> str | None:
    """The person's own health region: the entry's ``region_code``, or its scope code when the queue is regional."""
    if entry.region_code is not None:
        return entry.region_code
    return entry.scope_code if entry.scope_kind == "region" else None


def details(instance: Instance, solution: Solution) -> dict[str, Detail]:
    """Per assigned entry id: kilometres, days until the slot, lateness and, outside the home region, the reason."""
    params = instance.params
    today = params.today
    travel = Travel(instance)
    # Only the assigned entries by id (issue 18 item 7: a dictionary of every entry of a million-entry run, built
    # for the proposal and again for the greedy's parts, was ~1 s of the allocate phase for ~7,000 assignments).
    assigned = {a.entry_id for a in solution.assignments}
    entries = {e.id: e for e in instance.entries if e.id in assigned}
    buckets = {b.id: b for b in instance.buckets}
    used: Counter[str] = Counter(a.bucket_id for a in solution.assignments)
    got = {a.entry_id: buckets.get(a.bucket_id) for a in solution.assignments}
    quota_used: Counter[str] = Counter()
    quotas_at = _quotas_at(instance)
    for a in solution.assignments:
        e, b = entries.get(a.entry_id), buckets.get(a.bucket_id)
        if e is None or b is None:
            continue
        for q in quotas_at.get((e.municipality_ibge, b.provider_cnes, b.oci_code), ()):
            if quota_counts(e, b, q):
                quota_used[q.id] += 1
    by_region: dict[tuple[str, str], list[Bucket]] = defaultdict(list)
    for b in sorted(instance.buckets, key=lambda b: (b.date, b.id)):
        by_region[(b.oci_code, b.region_code)].append(b)
    escalated = set(solution.escalated)
    incumbent = {f.entry_id: f.bucket_id for f in instance.incumbents}

    out: dict[str, Detail] = {}
    for a in solution.assignments:
        e, b = entries.get(a.entry_id), got.get(a.entry_id)
        if e is None or b is None:
            continue
        km = 0 if b.teleconsultation else travel.km(e.municipality_ibge, b.municipality_ibge)
        home = home_region(e)
        outside = home is not None and b.region_code != home
        reason = None
        if outside and home is not None:
            if e.id in escalated:
                pct = elapsed_percent(e, today)
                where = _IN_SCOPE[e.scope_kind]
                reason = Reason(
                    "escalonada",
                    f"escalonada: {pct}% do tM decorrido, sem vaga {where} até {e.deadline:%d/%m}",
                    elapsed_percent=pct,
                    until=e.deadline,
                )
            elif incumbent.get(e.id) == b.id:
                reason = Reason("proposta_mantida", "proposta anterior mantida (mudá-la custaria mais que o ganho)")
            else:
                region_buckets = by_region[(e.oci_code, home)]
                reason = _inside_alternatives(instance, e, b, km, region_buckets, used, quota_used, travel, quotas_at)
        out[e.id] = Detail(
            entry_id=e.id,
            bucket_id=b.id,
            travel_km=km,
            days_until=(b.date - today).days,
            late_days=max(0, (b.date - e.deadline).days),
            outside_region=outside,
            reason=reason,
            max_travel_km=travel_limit_km(params, e.oci_code, teleconsultation=b.teleconsultation),
        )
    return out


def _inside_alternatives(
    instance: Instance,
    e: Entry,
    b: Bucket,
    km: int,
    candidates: list[Bucket],
    used: Counter[str],
    quota_used: Counter[str],
    travel: Travel,
    quotas_at: dict[tuple[str, str, str], list[Quota]],
) -> Reason:
    """The reason for a non-escalated entry served outside its home region: what its region offered up to the date
    of the slot it got (its own queue scope, the pair rules and the travel limit apply to those slots too)."""
    params = instance.params
    usable = [
        c
        for c in candidates
        if c.date <= b.date and c.capacity > 0 and not pair_violations(e, c, params, travel=travel)
    ]
    if not usable:
        return Reason("sem_vaga_na_regiao", f"sem vaga na região até {b.date:%d/%m}", until=b.date)

    def free(c: Bucket) -> bool:
        if used[c.id] >= c.capacity:
            return False
        quotas = quotas_at.get((e.municipality_ibge, c.provider_cnes, c.oci_code), ())
        return all(quota_used[q.id] < q.limit for q in quotas if quota_counts(e, c, q))

    open_inside = [c for c in usable if free(c)]
    if not open_inside:
        return Reason(
            "vagas_da_regiao_ocupadas",
            f"vagas da região até {b.date:%d/%m} ocupadas por outras pessoas da fila",
            until=b.date,
        )
    nearest = min(0 if c.teleconsultation else travel.km(e.municipality_ibge, c.municipality_ibge) for c in open_inside)
    if km < nearest:
        return Reason("mais_perto", f"mais perto de casa ({km} km) que as vagas livres da região ({nearest} km)")
    return Reason("abrangencia_da_fila", f"a fila desta OCI é atendida {_IN_SCOPE[e.scope_kind]} (PAR)")


def _quotas_at(instance: Instance) -> dict[tuple[str, str, str], list[Quota]]:
    """The quotas by (municipality, provider, OCI), in instance order: the only ones ``quota_counts`` can count
    for a pair (issue 18 item 7: every assignment of a million-entry run scanned every quota)."""
    out: dict[tuple[str, str, str], list[Quota]] = defaultdict(list)
    for q in instance.quotas:
        out[(q.municipality_ibge, q.provider_cnes, q.oci_code)].append(q)
    return dict(out)


def objective_parts(instance: Instance, solution: Solution, found: dict[str, Detail] | None = None) -> ObjectiveParts:
    """The solution's objective in the units a regulator weighs (from the instance; unknown ids are skipped).
    ``found``: ``details(instance, solution)`` when the caller has it already."""
    if found is None:
        found = details(instance, solution)
    buckets = {b.id: b for b in instance.buckets}
    served = list(found.values())
    km = [d.travel_km for d in served]
    late = [d for d in served if d.late_days > 0]
    return ObjectiveParts(
        entries=len(instance.entries),
        served=len(served),
        served_within_tm=len(served) - len(late),
        late=len(late),
        late_days=sum(d.late_days for d in late),
        total_km=sum(km),
        mean_km=round(sum(km) / len(km), 1) if km else 0.0,
        max_km=max(km, default=0),
        outside_region=sum(d.outside_region for d in served),
        escalated=len(solution.escalated),
        teleconsultation=sum(buckets[d.bucket_id].teleconsultation for d in served),
    )
