"""Solver-independent check of a solution against its instance.

Uses only the plain rules of ``rules.py`` (one entry, one bucket at a time) and the instance preparation
(``escalate``), never the solver's structures, so a bug in the model shows up here. Every violation carries a stable
code for programs and a Portuguese message for people; a valid solution gives an empty list.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass

from regula.optimizer.instance import Assignment, Bucket, Entry, Instance, Solution
from regula.optimizer.problem import escalate
from regula.optimizer.rules import PAIR_RULES, Travel, cost_parts, pair_violations, quota_counts


@dataclass(frozen=True)
class Violation:
    code: str
    message: str
    entry_id: str | None = None
    bucket_id: str | None = None
    quota_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def objective_of(instance: Instance, solution: Solution) -> int:
    """The objective of the solution's assignments, recomputed from the instance (unknown ids are skipped)."""
    wanted = {a.entry_id for a in solution.assignments}
    entries = {e.id: e for e in instance.entries if e.id in wanted}  # not a dictionary of a million entries
    buckets = {b.id: b for b in instance.buckets}
    travel = Travel(instance)
    total = 0
    for a in solution.assignments:
        e, b = entries.get(a.entry_id), buckets.get(a.bucket_id)
        if e is not None and b is not None:
            total += cost_parts(e, b, instance.params, travel).cost
    return total


def carried_counts(instance: Instance, assignments: list[Assignment]) -> dict[str, int]:
    """What became of the pairs carried over from before: pinned ones kept, incumbents kept in the same bucket,
    moved to another, or dropped (their entry left without a bucket)."""
    got = {a.entry_id: a.bucket_id for a in assignments}
    kept = sum(got.get(f.entry_id) == f.bucket_id for f in instance.incumbents)
    dropped = sum(f.entry_id not in got for f in instance.incumbents)
    return {
        "pinned": sum(got.get(f.entry_id) == f.bucket_id for f in instance.pinned),
        "incumbents": len(instance.incumbents),
        "incumbents_kept": kept,
        "incumbents_moved": len(instance.incumbents) - kept - dropped,
        "incumbents_dropped": dropped,
    }


def validate(
    instance: Instance,
    solution: Solution,
    *,
    check_objective: bool = True,
    preparation: tuple[Instance, list[str]] | None = None,
) -> list[Violation]:
    """Every constraint of every assignment. Pinned assignments (already notified) must be in the solution as
    they are; they are facts, so the pair rules are not re-checked for them, but they count for capacity and
    quotas. The counts of pinned and incumbent pairs in ``stats`` must be the recomputed ones. ``preparation``:
    ``escalate(instance)`` when the caller already has it (the preparation, never the solver's structures)."""
    prepared, escalated = preparation if preparation is not None else escalate(instance)
    params = prepared.params
    # Only the assigned entries are looked up by id: at a million entries, most wait (a dictionary of all of them
    # took 0.4 s, and the unassigned are compared as sets below, not sorted).
    wanted = {a.entry_id for a in solution.assignments}
    entries = {e.id: e for e in prepared.entries if e.id in wanted}
    buckets = {b.id: b for b in prepared.buckets}
    pinned = {(f.entry_id, f.bucket_id) for f in prepared.pinned}
    travel = Travel(prepared)
    out: list[Violation] = []

    seen: Counter[str] = Counter(a.entry_id for a in solution.assignments)
    for entry_id, times in sorted(seen.items()):
        if times > 1:
            out.append(
                Violation("entrada_repetida", f"A entrada {entry_id} foi alocada {times} vezes.", entry_id=entry_id)
            )
    used: Counter[str] = Counter()
    valid_pairs = []
    for a in solution.assignments:
        e, b = entries.get(a.entry_id), buckets.get(a.bucket_id)
        if e is None:
            out.append(Violation("entrada_inexistente", f"A entrada {a.entry_id} não existe na instância.", a.entry_id))
        if b is None:
            out.append(
                Violation(
                    "vaga_inexistente",
                    f"A vaga {a.bucket_id} não existe na instância.",
                    a.entry_id,
                    a.bucket_id,
                )
            )
        if e is None or b is None:
            continue
        used[b.id] += 1
        valid_pairs.append((e, b))
        if (e.id, b.id) in pinned:
            continue
        for code in pair_violations(e, b, params, travel=travel):
            out.append(Violation(code, f"Entrada {e.id} na vaga {b.id}: {PAIR_RULES[code]}.", e.id, b.id))
    for bucket_id, count in sorted(used.items()):
        cap = buckets[bucket_id].capacity
        if count > cap:
            out.append(
                Violation(
                    "capacidade_excedida",
                    f"A vaga {bucket_id} recebeu {count} entradas e tem capacidade {cap}.",
                    bucket_id=bucket_id,
                )
            )
    # the pairs a quota may count: same municipality, provider and OCI (its dates are quota_counts' to check)
    pairs_at: dict[tuple[str, str, str], list[tuple[Entry, Bucket]]] = defaultdict(list)
    for e, b in valid_pairs:
        pairs_at[(e.municipality_ibge, b.provider_cnes, b.oci_code)].append((e, b))
    for q in prepared.quotas:
        at = pairs_at.get((q.municipality_ibge, q.provider_cnes, q.oci_code), [])
        count = sum(1 for e, b in at if quota_counts(e, b, q))
        if count > q.limit:
            out.append(
                Violation(
                    "cota_excedida",
                    f"O município {q.municipality_ibge} usou {count} vagas do estabelecimento {q.provider_cnes} "
                    f"(OCI {q.oci_code}, {q.start:%d/%m/%Y} a {q.end:%d/%m/%Y}); a cota é {q.limit}.",
                    quota_id=q.id,
                )
            )
    got = {a.entry_id: a.bucket_id for a in solution.assignments}
    for f in prepared.pinned:
        if got.get(f.entry_id) != f.bucket_id:
            out.append(
                Violation(
                    "fixada_alterada",
                    f"O agendamento já notificado da entrada {f.entry_id} na vaga {f.bucket_id} não foi mantido.",
                    f.entry_id,
                    f.bucket_id,
                )
            )
    counts = carried_counts(prepared, solution.assignments)
    reported = {name: getattr(solution.stats, name) for name in counts}
    if reported != counts:
        out.append(
            Violation(
                "contagens_divergentes",
                f"As contagens de fixadas e propostas anteriores ({reported}) diferem das recalculadas ({counts}).",
            )
        )
    # the same list once sorted: the same ids, none twice (two sorts of a million ids took about a second)
    expected_unassigned = {e.id for e in prepared.entries} - set(seen)
    unassigned = set(solution.unassigned)
    if len(unassigned) != len(solution.unassigned) or unassigned != expected_unassigned:
        out.append(
            Violation(
                "nao_alocadas_inconsistente",
                "A lista de entradas não alocadas não corresponde às entradas sem vaga.",
            )
        )
    if sorted(solution.escalated) != escalated:
        out.append(
            Violation(
                "escalonamento_inconsistente",
                "A lista de entradas escalonadas não corresponde à regra dos 75% do tM.",
            )
        )
    if check_objective:
        recomputed = objective_of(instance, solution)
        if recomputed != solution.objective:
            out.append(
                Violation(
                    "objetivo_divergente",
                    f"O objetivo informado ({solution.objective}) difere do recalculado ({recomputed}).",
                )
            )
    return out
