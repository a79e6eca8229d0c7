"""The allocation as an exact min-cost flow over classes of interchangeable entries.

Objective (``Weights``): minimize the sum over assignments of
``cost(e, b) = -value(level_e) + earliness(level_e, date_b) + travel(muni_e, b) + lateness(e, b)``; an entry left
unserved costs 0, so an entry is served only when that lowers the total. ``earliness = w·(level+1)·days`` is a
product of the entry's urgency and the bucket's delay: by the rearrangement inequality, any optimum gives the
earlier buckets to the more urgent levels.

**Classes.** Entries with the same OCI, municipality, scope and *signature* (``problem.Signatures``: priority level,
deadline position among the bucket dates, age band, sex where some bucket restricts it, short notice where some bucket
is short-notice, unavailable bucket spans) have identical eligibility and identical cost against every bucket. They
form one class, a node with supply = its size. Arcs grow with classes, not people.

**Hubs.** Cost separates exactly as ``[-value(level) + travel(muni, provider)] + [earliness(level, date) +
lateness(deadline position, date)]``: the first part depends on the class and the provider group only, the second on
the class signature and the bucket only. A *provider group* is (OCI, provider, modality, quota segment). So each
class has one arc per provider group in its scope, to a hub node (provider group × signature) shared by every
municipality with that signature, and each hub has one arc per bucket it may use. A path class → hub → bucket exists
iff the pair is eligible, and its cost is exactly ``cost(e, b)``: the network is the per-patient problem with
identical people merged. Not serving is an arc class → sink at cost 0; bucket → sink has the bucket's capacity.

**Quotas.** A quota (municipality m, provider p, OCI o, period) is a node pair ``Q_in → Q_out`` with capacity =
limit, between the classes of m and the buckets of p/o in the period (those provider groups are split at every quota
boundary, and m's classes do not reach them through hubs). Routing different classes through one node forgets which
class a unit came from, so it is exact only when every class of m that can use the quota's buckets can use *the same*
buckets, and the cost differences between those buckets are the same for all of them (single-date periods, or one
priority level and one deadline position); then ``cost(c, b) = α_c + β_b`` with ``α_c = cost(c, b0)`` on
``c → Q_in`` and ``β_b = cost(c0, b) - cost(c0, b0)`` on ``Q_out → b``. This is checked per quota.

Otherwise no network can be exact: with entries e1 and y of m, e2 of another municipality, buckets x and b1 of p under
one quota of limit 1 and a bucket b2 elsewhere, eligible pairs (e1,x), (y,b1), (e2,b1), (e2,b2), (e1,b2), all of value
1 and capacities 1, the LP relaxation of the per-patient problem reaches 2.5 (every pair at 1/2) while the best
assignment serves 2 — the constraint matrix contains an odd cycle. Components holding such a quota are solved by
the exact integer model in ``fallback.py`` (a MIP solved by HiGHS, over the hub arcs and the quota-covered pairs);
``stats.fallback_components`` counts them and ``status`` is FEASIBLE if HiGHS could not prove optimality within its
deterministic limit — then the result carries ``bound`` (a proven lower bound on the minimized objective, change
costs included) and ``gap`` (how far from the optimum it may be, relative).

**Inside a class.** The flow says how many members of class c go to each bucket. Members are ranked by priority
(highest first), then deadline (earliest first), then id; the k served members are the first k and receive the
buckets in date order. Claim: this keeps the flow's objective optimal. Proof: every member of a class has the same
eligible buckets and the same cost on each (the class is defined by the facts that decide both, and the cost uses the
priority *level*, on which the class is split). Any assignment of the class's units to any k of its members is
therefore feasible and costs ``Σ_b f(c, b)·cost(c, b)``, the flow's cost for the class — independent of who is
picked and in which order. So among the optimal solutions we may pick the one that serves the most urgent members
first and gives them the earliest dates. The same argument splits a hub's (or a quota node's) flow among its classes:
all classes at a hub share the signature, so the hub's buckets cost the same for each of them.

**Re-solving after churn.** *Pinned* assignments (appointments already notified) are taken out before anything
else: their entries leave the problem, the capacity and quota units they hold leave the buckets and quotas, and they
are put back unchanged (``solve_problem``). *Incumbents* (earlier proposals, not yet notified) change the objective
to ``Σ cost + (change_penalty + 1/2)·(incumbents moved or dropped)``: an incumbent is kept whenever keeping it costs
at most ``change_penalty`` more, and the half unit means a tie never moves it. In integers: every cost is doubled and
keeping earns ``2·change_penalty + 1``. Classes are not split by incumbency. A class c whose members held bucket b
gets a parallel *bonus arc* c → b with capacity = how many of them held b and cost ``2·cost(c, b) − bonus``; its
units go to those members, the most urgent first. This is exact: any flow becomes an assignment that costs at most
the flow's cost (bonus units to the members who held the bucket, the other units to any other members), and any
assignment is a flow of the same cost (kept members on bonus arcs, the rest through the hubs); and at an optimum no
non-bonus unit of c reaches b while a member who held b is left over (moving it onto the bonus arc would be cheaper).
Under a quota node the bonus cannot be carried (the node forgets the class), so a component where an incumbent's
bucket is quota-covered for its class goes to the integer model, where a bonus pair is one more variable.

**Components.** Classes and provider groups that cannot reach each other form independent problems, solved
separately (optionally in parallel processes) and merged in a fixed order; ties inside each are broken by the
solver's deterministic order over arcs numbered from sorted codes and ids, so the same instance always gives the
same assignments.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from regula.optimizer.fallback import PairModel, solve_pairs
from regula.optimizer.instance import Assignment, Explanation, Instance, Meta, Solution, Stats, Status
from regula.optimizer.problem import (
    Problem,
    Signatures,
    escalate_problem,
    from_instance,
    group_rows,
    pair_ok,
    signatures,
    without_pinned,
)

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

#: Up to this many (bucket signature × provider group) cells, hub keys are found with a dense table, not a sort.
DENSE_PAIRS = 16_000_000
#: Below this many arcs in total, components are solved in this process.
PARALLEL_MIN_ARCS = 2_000_000


@dataclass(frozen=True, eq=False)
class Allocation:
    """The solver's answer over the columns of a problem (after escalation)."""

    problem: Problem
    status: Status
    objective: int
    bucket_of: I64  # per entry: bucket index or -1
    escalated: I64  # entry indices
    class_of: I64  # per entry
    rank_in_class: I64  # per entry, 1-based
    class_size: I64  # per class
    stats: Stats
    meta: Meta = field(default_factory=Meta)
    #: Only when ``status`` is FEASIBLE: a proven lower bound on ``objective + (change_penalty + 1/2)·(incumbents
    #: moved or dropped)`` (the minimized objective) and the relative gap ``(that objective − bound) / |objective|``.
    bound: int | None = None
    gap: float | None = None
    gap_base: float = 0.0  # the minimized objective the gap is measured on (``objective`` plus change costs)


def _group(cols: list[npt.NDArray[np.int64]]) -> tuple[I64, I64]:
    """Lexicographic grouping: (group id per row, first row of each group); group ids follow the key order."""
    return group_rows(cols)


def _rank(ids: npt.NDArray[np.str_]) -> I64:
    """Position of each id in sorted order (ids are unique)."""
    order = np.argsort(ids, kind="stable")
    rank = np.empty(ids.size, dtype=np.int64)
    rank[order] = np.arange(ids.size, dtype=np.int64)
    return rank


def _csr(keys: I64, n: int, order_keys: list[I64]) -> tuple[I64, I64]:
    """Rows grouped by ``keys`` (0..n-1): (ptr, items); items of one key sorted by ``order_keys`` in turn."""
    order = np.lexsort((*order_keys[::-1], keys)).astype(np.int64)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr, order


def _expand(ptr: I64, items: I64, groups: I64) -> tuple[I64, I64]:
    """For each position i of ``groups``, every item of group ``groups[i]``: (position, item) pairs."""
    counts = ptr[groups + 1] - ptr[groups]
    pos = np.repeat(np.arange(groups.size, dtype=np.int64), counts)
    start = np.repeat(ptr[groups], counts)
    offs = np.arange(pos.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return pos, items[start + offs]


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        root = a
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[a] != root:
            self.parent[a], a = root, self.parent[a]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass(eq=False)
class _Net:
    """All arcs of all components, numbered globally; ``arc_comp`` says which component each arc belongs to."""

    tails: list[I64] = field(default_factory=list)
    heads: list[I64] = field(default_factory=list)
    caps: list[I64] = field(default_factory=list)
    costs: list[I64] = field(default_factory=list)
    comps: list[I64] = field(default_factory=list)
    kinds: list[npt.NDArray[np.int8]] = field(default_factory=list)

    def add(self, kind: int, tails: I64, heads: I64, caps: I64, costs: I64, comps: I64) -> None:
        # no copies here: ``arrays`` concatenates (and so copies) once
        self.tails.append(np.asarray(tails, dtype=np.int64))
        self.heads.append(np.asarray(heads, dtype=np.int64))
        self.caps.append(np.asarray(caps, dtype=np.int64))
        self.costs.append(np.asarray(costs, dtype=np.int64))
        self.comps.append(np.asarray(comps, dtype=np.int64))
        self.kinds.append(np.full(tails.size, kind, dtype=np.int8))

    def arrays(self) -> tuple[I64, I64, I64, I64, I64, npt.NDArray[np.int8]]:
        """The columns, each concatenated and its pieces let go before the next: the pieces and the whole never
        coexist for more than one column (at 1M entries each column of pieces is ~40 MB). Empties the lists."""

        def take(pieces: list[I64]) -> I64:
            whole = np.concatenate(pieces)
            pieces.clear()
            return whole

        kinds = np.concatenate(self.kinds)
        self.kinds.clear()
        return take(self.tails), take(self.heads), take(self.caps), take(self.costs), take(self.comps), kinds


# Arc kinds (for reading the flows back).
UNSERVED, CLASS_HUB, HUB_BUCKET, CLASS_QIN, QIN_QOUT, QOUT_BUCKET, BUCKET_SINK, CLASS_BUCKET, INCUMBENT = range(9)


def _solve_network(
    tails: I64, heads: I64, caps: I64, costs: I64, supplies: I64
) -> tuple[str, int, npt.NDArray[np.int64]]:
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    smcf.set_nodes_supplies(np.arange(supplies.size, dtype=np.int64), supplies)
    code = smcf.solve()
    if code != smcf.OPTIMAL:
        return f"ERROR:{code}", 0, np.zeros(tails.size, dtype=np.int64)
    flows = smcf.flows(np.arange(tails.size, dtype=np.int64))
    return "OPTIMAL", int(smcf.optimal_cost()), np.asarray(flows, dtype=np.int64)


def solve(instance: Instance, *, workers: int | None = None, columns: Problem | None = None) -> Solution:
    """Solve an instance exactly; the canonical part of the result depends only on the instance. ``columns``:
    ``from_instance(instance)`` when the caller already has it (only read, never written)."""
    t0 = time.perf_counter()
    problem = columns if columns is not None else from_instance(instance)
    allocation = solve_problem(problem, workers=workers)
    solution = to_solution(allocation, explain=instance.params.explain)
    meta = allocation.meta.model_copy(update={"total_seconds": round(time.perf_counter() - t0, 6)})
    return solution.model_copy(update={"meta": meta})


def solve_problem(problem: Problem, *, workers: int | None = None) -> Allocation:
    """Solve the columns exactly. Pinned assignments are taken out first (their entries, and the capacity and
    quota units they hold) and put back unchanged; the rest is :func:`_solve_free`."""
    free_problem, free = without_pinned(problem)
    if free_problem is problem:
        return _solve_free(problem, workers=workers)
    inner = _solve_free(free_problem, workers=workers)
    n = problem.n_entries
    pin = problem.pinned_of
    pinned = np.flatnonzero(pin >= 0)
    bucket_of = pin.copy()
    bucket_of[free] = inner.bucket_of
    class_of = np.full(n, -1, dtype=np.int64)
    class_of[free] = inner.class_of
    rank_in_class = np.ones(n, dtype=np.int64)
    rank_in_class[free] = inner.rank_in_class
    kind = problem.e_scope_kind.copy()
    code = problem.e_scope_code.copy()
    kind[free] = inner.problem.e_scope_kind
    code[free] = inner.problem.e_scope_code
    merged = replace(problem, e_scope_kind=kind, e_scope_code=code)
    pinned_cost = int(entry_costs(problem, pinned, pin[pinned]).sum())
    objective = inner.objective + pinned_cost
    bound, gap = inner.bound, inner.gap
    if bound is not None:
        bound += pinned_cost
        gap = _gap(inner.gap_base + pinned_cost, bound)
    stats = inner.stats.model_copy(
        update={"entries": n, "assigned": inner.stats.assigned + int(pinned.size), "pinned": int(pinned.size)}
    )
    return replace(
        inner,
        problem=merged,
        objective=objective,
        bucket_of=bucket_of,
        escalated=free[inner.escalated],
        class_of=class_of,
        rank_in_class=rank_in_class,
        stats=stats,
        bound=bound,
        gap=gap,
        gap_base=inner.gap_base + pinned_cost,
    )


def _gap(minimized: float, bound: int) -> float:
    """``(minimized − bound) / max(|minimized|, 1)``, rounded to 1e-6 (printed in the canonical output)."""
    return round(max(minimized - bound, 0.0) / max(abs(minimized), 1.0), 6)


def _solve_free(problem: Problem, *, workers: int | None = None) -> Allocation:
    """The named steps, in order: escalation and signatures, :func:`_classes`, :func:`_provider_groups`,
    :func:`_reach`, :func:`_components`, :func:`_coverage`, :func:`_hubs`, :func:`_quotas`, :func:`_incumbents`,
    :func:`_fallback_components`, :func:`_network`, :func:`_solve_components`, :func:`_read_back`,
    :func:`_assign_members`, then the status check and the statistics."""
    t0 = time.perf_counter()
    sig = signatures(problem)
    p, escalated = escalate_problem(problem, sig)
    forbid_late = p.params.late_policy == "forbid"
    n, k = p.n_entries, p.n_buckets
    e_rank = _rank(p.e_id)
    b_rank = _rank(p.b_id)

    cl = _classes(p, sig)
    pg = _provider_groups(p, b_rank)
    reach = _near_enough(p, cl, pg, _reach(cl, pg))
    comp = _components(cl, pg, reach)
    cov = _coverage(p, cl, pg, reach)
    costs = _Costs(p, sig, cl, pg, forbid_late)
    hubs = _hubs(p, sig, cl, pg, reach, cov, costs)
    quotas = _quotas(p, cl, pg, reach, cov, costs, b_rank)
    inc = _incumbents(p, cl, pg, cov, costs)
    fallback_comp = _fallback_components(comp, quotas, inc)
    net = _network(p, cl, pg, comp, hubs, quotas, inc, fallback_comp)
    # The class x group rows and the hub rows are in the network now; only the integer model reads the hub rows
    # again. Let them go before the solve, the memory peak (a 1M-entry instance holds ~175 MB in them).
    fallback_hubs = hubs if bool(fallback_comp.any()) else None
    del reach, costs, hubs
    prepare_seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    flows = _solve_components(cl, comp, net, fallback_comp, workers)
    units = _read_back(p, b_rank, cl, comp, fallback_hubs, quotas, cov, inc, net, flows, fallback_comp)
    solve_seconds = time.perf_counter() - t1

    bucket_of, rank_in_class = _assign_members(p, cl, inc, units, e_rank, b_rank)

    statuses = units.statuses
    status: Status = "OPTIMAL"
    if any(s.startswith("ERROR") for s in statuses):
        status = "ERROR"
    elif any(s == "FEASIBLE" for s in statuses):
        status = "FEASIBLE"
    served = np.flatnonzero(bucket_of >= 0)
    check = int(entry_costs(p, served, bucket_of[served]).sum())
    held = inc.held[inc.rows]
    got = bucket_of[inc.rows]
    kept = int((got == held).sum())
    # The solver's objective is in the scaled costs with the bonus; recomputed from the assignment it must agree
    # (a FEASIBLE fallback may keep an incumbent it did not route on the bonus arc: then it is only lower).
    recomputed = inc.scale * check - inc.bonus * kept
    if status != "ERROR" and (recomputed > units.objective or (status == "OPTIMAL" and recomputed != units.objective)):
        status = "ERROR"
    # The minimized objective in plain units: cost + (penalty + 1/2) per incumbent not kept = (scaled + bonus·I)/scale.
    n_inc = int(inc.rows.size)
    minimized = check + (p.params.change_penalty + 0.5) * (n_inc - kept)
    bound = gap = None
    if status == "FEASIBLE" and units.bound is not None:
        bound = (units.bound + inc.bonus * n_inc) // inc.scale  # floor: still a lower bound
        gap = _gap(minimized, bound)
    stats = Stats(
        entries=n,
        buckets=k,
        quotas=cov.n_q,
        classes=cl.n,
        hubs=net.n_shared_hubs,
        quota_nodes=net.n_qn,
        nodes=flows.n_nodes,
        arcs=int(net.net_arc.sum()),
        components=comp.n,
        fallback_components=int(fallback_comp.sum()),
        assigned=int(served.size),
        incumbents=int(inc.rows.size),
        incumbents_kept=kept,
        incumbents_moved=int(((got >= 0) & (got != held)).sum()),
        incumbents_dropped=int((got < 0).sum()),
    )
    meta = Meta(
        prepare_seconds=round(prepare_seconds, 6), solve_seconds=round(solve_seconds, 6), workers=flows.n_workers
    )
    return Allocation(
        problem=p,
        status=status,
        objective=check,
        bucket_of=bucket_of,
        escalated=escalated,
        class_of=cl.class_of,
        rank_in_class=rank_in_class,
        class_size=cl.size,
        stats=stats,
        meta=meta,
        bound=bound,
        gap=gap,
        gap_base=minimized,
    )


@dataclass(frozen=True, eq=False)
class _Classes:
    """Entries grouped into classes (per class: its key columns), and classes into bucket signatures (the part of
    the key that decides eligibility and cost against a bucket; per signature: its columns)."""

    class_of: I64  # per entry
    size: I64  # per class (the class's supply)
    oci: I64
    muni: I64
    kind: I64
    code: I64
    level: I64
    cut: I64
    band: I64
    sex: I64
    short: I64
    unav: I64
    bsig: I64  # per class: its bucket signature
    bs_level: I64  # per bucket signature, and so on
    bs_cut: I64
    bs_band: I64
    bs_sex: I64
    bs_short: I64
    bs_unav: I64

    @property
    def n(self) -> int:
        return int(self.size.size)


def _classes(p: Problem, sig: Signatures) -> _Classes:
    """Classes: entries with the same OCI, municipality, scope and signature (see the module docstring), numbered
    in key order; the deadline position is left out of the key when lateness neither forbids nor costs."""
    n = p.n_entries
    w = p.params.weights
    forbid_late = p.params.late_policy == "forbid"
    class_cols = [
        p.e_oci.astype(np.int64),
        p.e_muni.astype(np.int64),
        p.e_scope_kind.astype(np.int64),
        p.e_scope_code.astype(np.int64),
        sig.level,
        sig.cut.astype(np.int64) if (forbid_late or w.lateness_penalty > 0) else np.zeros(n, np.int64),
        sig.band.astype(np.int64),
        sig.sex.astype(np.int64),
        sig.short.astype(np.int64),
        sig.unav.astype(np.int64),
    ]
    if n:
        class_of, class_first = _group(class_cols)
    else:
        class_of, class_first = np.zeros(0, np.int64), np.zeros(0, np.int64)
    n_cls = int(class_first.size)
    c_size = np.bincount(class_of, minlength=n_cls).astype(np.int64)
    c_oci, c_muni, c_kind, c_code, c_level, c_cut, c_band, c_sex, c_short, c_unav = (
        col[class_first] for col in class_cols
    )
    bsig_cols = [c_level, c_cut, c_band, c_sex, c_short, c_unav]
    if n_cls:
        c_bsig, bsig_first = _group(bsig_cols)
    else:
        c_bsig, bsig_first = np.zeros(0, np.int64), np.zeros(0, np.int64)
    bs_level, bs_cut, bs_band, bs_sex, bs_short, bs_unav = (col[bsig_first] for col in bsig_cols)
    return _Classes(
        class_of=class_of,
        size=c_size,
        oci=c_oci,
        muni=c_muni,
        kind=c_kind,
        code=c_code,
        level=c_level,
        cut=c_cut,
        band=c_band,
        sex=c_sex,
        short=c_short,
        unav=c_unav,
        bsig=c_bsig,
        bs_level=bs_level,
        bs_cut=bs_cut,
        bs_band=bs_band,
        bs_sex=bs_sex,
        bs_short=bs_short,
        bs_unav=bs_unav,
    )


@dataclass(frozen=True, eq=False)
class _ProviderGroups:
    """Buckets grouped by (OCI, provider, modality, quota segment); per group its key columns, one date (a group
    never straddles a quota boundary) and, as CSR (``ptr``, ``items``), its buckets in (date, id) order."""

    of_bucket: I64  # per bucket
    oci: I64
    provider: I64
    scope: npt.NDArray[np.int32]  # (scope kind × group): the group's code at each scope level
    date: npt.NDArray[np.int32]
    ptr: I64
    items: I64

    @property
    def n(self) -> int:
        return int(self.oci.size)


def _provider_groups(p: Problem, b_rank: I64) -> _ProviderGroups:
    """Provider groups, split at every quota boundary of their (provider, OCI) so that each group lies wholly
    inside or outside each quota period."""
    k = p.n_buckets
    segment = np.zeros(k, dtype=np.int64)
    if p.q_id.size:
        qkeys = np.unique(np.stack([p.q_provider, p.q_oci], axis=1), axis=0)
        for prov, oci in qkeys.tolist():
            sel = (p.q_provider == prov) & (p.q_oci == oci)
            bounds = np.unique(np.concatenate([p.q_start[sel], p.q_end[sel] + 1]))
            bsel = np.flatnonzero((p.b_provider == prov) & (p.b_oci == oci))
            segment[bsel] = np.searchsorted(bounds, p.b_date[bsel], side="right")
    pg_cols = [p.b_oci.astype(np.int64), p.b_provider.astype(np.int64), p.b_tele.astype(np.int64), segment]
    if k:
        b_pg, pg_first = _group(pg_cols)
    else:
        b_pg, pg_first = np.zeros(0, np.int64), np.zeros(0, np.int64)
    n_pg = int(pg_first.size)
    pg_oci, pg_provider, _pg_tele = (col[pg_first] for col in pg_cols[:3])
    pg_ptr, pg_items = _csr(b_pg, n_pg, [p.b_date.astype(np.int64), b_rank])
    return _ProviderGroups(
        of_bucket=b_pg,
        oci=pg_oci,
        provider=pg_provider,
        scope=p.b_scope[:, pg_first],
        date=p.b_date[pg_first],
        ptr=pg_ptr,
        items=pg_items,
    )


@dataclass(frozen=True, eq=False)
class _Reach:
    """Scope groups (classes of one OCI and scope) and the provider groups each reaches, as sorted pairs
    (``sp_sg``, ``sp_pg``); expanded per class as rows (``cp_class``, ``cp_pg``)."""

    c_sg: I64  # per class: its scope group
    n_sg: int
    sp_sg: I64
    sp_pg: I64
    cp_class: I64
    cp_pg: I64


def _reach(cl: _Classes, pg: _ProviderGroups) -> _Reach:
    """Which provider groups each class may reach: same OCI, and the group's code at the class's scope level is
    the class's scope code. Decided once per scope group, then expanded to every class of it."""
    sg_cols = [cl.oci, cl.kind, cl.code]
    if cl.n:
        c_sg, sg_first = _group(sg_cols)
    else:
        c_sg, sg_first = np.zeros(0, np.int64), np.zeros(0, np.int64)
    n_sg = int(sg_first.size)
    sg_pairs_sg: list[I64] = []
    sg_pairs_pg: list[I64] = []
    for s, (oci, kind, code) in enumerate(zip(*(col[sg_first].tolist() for col in sg_cols), strict=True)):
        hit = np.flatnonzero((pg.oci == oci) & (pg.scope[kind] == code))
        sg_pairs_sg.append(np.full(hit.size, s, dtype=np.int64))
        sg_pairs_pg.append(hit.astype(np.int64))
    sp_sg = np.concatenate(sg_pairs_sg) if sg_pairs_sg else np.zeros(0, np.int64)
    sp_pg = np.concatenate(sg_pairs_pg) if sg_pairs_pg else np.zeros(0, np.int64)
    sg_ptr = np.zeros(n_sg + 1, dtype=np.int64)
    np.cumsum(np.bincount(sp_sg, minlength=n_sg), out=sg_ptr[1:])  # sp_* is already sorted by scope group
    cp_class, cp_pg = _expand(sg_ptr, sp_pg, c_sg)
    return _Reach(c_sg=c_sg, n_sg=n_sg, sp_sg=sp_sg, sp_pg=sp_pg, cp_class=cp_class, cp_pg=cp_pg)


def _near_enough(p: Problem, cl: _Classes, pg: _ProviderGroups, reach: _Reach) -> _Reach:
    """Drop the class × group rows beyond the OCI's travel limit (``rules.travel_limit_km``): a provider group has
    one municipality and modality and a class one municipality, so the trip is the same for every pair of the row,
    and a row beyond the limit is no arc at all. The scope-group pairs (``sp_*``) stay: components may only be
    coarser than needed, never wrong."""
    if p.km_limit_of_oci is None or reach.cp_class.size == 0:
        return reach
    bucket = pg.items[pg.ptr[reach.cp_pg]]  # any bucket of the group: same municipality and modality
    ok = p.within_travel_limit(cl.muni[reach.cp_class], cl.oci[reach.cp_class], bucket)
    return replace(reach, cp_class=reach.cp_class[ok], cp_pg=reach.cp_pg[ok])


@dataclass(frozen=True, eq=False)
class _Components:
    """Independent sub-problems, numbered in order of their first class; provider groups no class reaches get -1."""

    of_class: I64
    of_pg: I64
    n: int


def _components(cl: _Classes, pg: _ProviderGroups, reach: _Reach) -> _Components:
    """Connected components of the scope group ↔ provider group reach graph (union-find)."""
    n_sg, n_pg = reach.n_sg, pg.n
    uf = _UnionFind(n_sg + n_pg)
    for s, g in zip(reach.sp_sg.tolist(), reach.sp_pg.tolist(), strict=True):
        uf.union(s, n_sg + g)
    root_sg = np.array([uf.find(s) for s in range(n_sg)], dtype=np.int64)
    root_pg = np.array([uf.find(n_sg + g) for g in range(n_pg)], dtype=np.int64)
    c_root = root_sg[reach.c_sg] if cl.n else np.zeros(0, np.int64)
    roots_in_class_order = c_root[np.sort(np.unique(c_root, return_index=True)[1])] if cl.n else c_root
    comp_of_root = {int(r): i for i, r in enumerate(roots_in_class_order.tolist())}
    c_comp = np.array([comp_of_root[int(r)] for r in c_root.tolist()], dtype=np.int64)
    pg_comp = np.array([comp_of_root.get(int(r), -1) for r in root_pg.tolist()], dtype=np.int64)
    return _Components(of_class=c_comp, of_pg=pg_comp, n=len(comp_of_root))


@dataclass(frozen=True, eq=False)
class _Coverage:
    """Which (municipality, provider group) cells each quota covers (``cv_q`` with key ``cv_key`` =
    muni·n_pg + group), and per class × group row of :class:`_Reach` whether some quota covers it."""

    n_q: int
    cv_q: I64
    cv_key: I64
    covered: B


def _coverage(p: Problem, cl: _Classes, pg: _ProviderGroups, reach: _Reach) -> _Coverage:
    """Quota coverage: a quota covers the groups of its provider and OCI dated inside its period, for its
    municipality's classes only."""
    n_q = int(p.q_id.size)
    cover_q: list[I64] = []
    cover_pg: list[I64] = []
    for q in range(n_q):
        g = np.flatnonzero(
            (pg.provider == p.q_provider[q])
            & (pg.oci == p.q_oci[q])
            & (pg.date >= p.q_start[q])
            & (pg.date <= p.q_end[q])
        )
        cover_q.append(np.full(g.size, q, dtype=np.int64))
        cover_pg.append(g.astype(np.int64))
    cv_q = np.concatenate(cover_q) if cover_q else np.zeros(0, np.int64)
    cv_pg = np.concatenate(cover_pg) if cover_pg else np.zeros(0, np.int64)
    cv_key = p.q_muni[cv_q].astype(np.int64) * max(pg.n, 1) + cv_pg
    cp_key = cl.muni[reach.cp_class] * max(pg.n, 1) + reach.cp_pg
    return _Coverage(n_q=n_q, cv_q=cv_q, cv_key=cv_key, covered=np.isin(cp_key, cv_key))


@dataclass(frozen=True, eq=False)
class _Costs:
    """The two separable parts of ``cost(e, b)`` and the eligibility test, over classes and bucket signatures."""

    p: Problem
    sig: Signatures
    cl: _Classes
    pg: _ProviderGroups
    forbid_late: bool

    def bucket_part(self, bsig: I64, bucket: I64) -> I64:
        """``earliness(level, date) + lateness(deadline position, date)`` per (signature, bucket)."""
        w, cl = self.p.params.weights, self.cl
        days = np.maximum(self.p.b_date[bucket].astype(np.int64) - self.p.today, 0)
        late = self.sig.date_index[bucket] >= cl.bs_cut[bsig]
        return w.earliness_per_level_day * (cl.bs_level[bsig] + 1) * days + np.where(late, w.lateness_penalty, 0)

    def class_part(self, cls: I64, pg: I64) -> I64:
        """``-value(level) + travel(muni, provider)`` per (class, provider group)."""
        w, cl = self.p.params.weights, self.cl
        value = w.value_base + w.value_per_level * cl.level[cls]
        bucket = self.pg.items[self.pg.ptr[pg]]  # any bucket of the group: same municipality and modality
        km = self.p.travel_km(cl.muni[cls].astype(np.int32), bucket)
        return -value + w.travel_per_km * km

    def eligible(self, bsig: I64, bucket: I64) -> B:
        """Whether a class of signature ``bsig`` may use ``bucket`` (scope aside)."""
        cl = self.cl
        return pair_ok(
            self.p,
            self.sig,
            cut=cl.bs_cut[bsig].astype(np.int32),
            band=cl.bs_band[bsig].astype(np.int32),
            sex=cl.bs_sex[bsig].astype(np.int8),
            short=cl.bs_short[bsig].astype(np.bool_),
            unav=cl.bs_unav[bsig].astype(np.int32),
            bucket=bucket,
            forbid_late=self.forbid_late,
        )


@dataclass(frozen=True, eq=False)
class _Hubs:
    """Hubs (provider group × what tells its buckets apart): the class → hub rows (``d_*``, cost = class part)
    and the hub → bucket rows (``hb_*``, cost = bucket part); per hub its group and one signature standing for all."""

    d_class: I64
    d_pg: I64
    d_hub: I64
    d_cost: I64
    h_pg: I64
    h_bsig: I64
    hb_hub: I64
    hb_bucket: I64
    hb_cost: I64

    @property
    def n(self) -> int:
        return int(self.h_pg.size)


def _hubs(
    p: Problem, sig: Signatures, cl: _Classes, pg: _ProviderGroups, reach: _Reach, cov: _Coverage, costs: _Costs
) -> _Hubs:
    """Hubs for the class × group rows no quota covers; hubs with no eligible bucket are dropped (and renumbered)."""
    w = p.params.weights
    n_pg = pg.n
    pg_ptr, pg_items = pg.ptr, pg.items
    covered = cov.covered
    d_class, d_pg = reach.cp_class[~covered], reach.cp_pg[~covered]
    # A hub only needs to tell apart what changes eligibility or cost *among its own buckets*: restrictions that
    # are uniform over the provider group are checked on the class → hub arc instead, and the deadline position
    # is clipped to the group's dates.
    first_item = pg_items[pg_ptr[:-1]] if n_pg else np.zeros(0, np.int64)
    uniform = np.ones(n_pg, dtype=np.bool_)
    pg_short = np.zeros(n_pg, dtype=np.bool_)
    d_lo = np.zeros(n_pg, dtype=np.int64)
    d_hi = np.zeros(n_pg, dtype=np.int64)
    if n_pg:
        starts = pg_ptr[:-1]
        for col in (p.b_age_min, p.b_age_max, p.b_sex):
            v = col[pg_items].astype(np.int64)
            uniform &= np.minimum.reduceat(v, starts) == np.maximum.reduceat(v, starts)
        pg_short = np.maximum.reduceat(sig.short_bucket[pg_items].astype(np.int64), starts) > 0
        di = sig.date_index[pg_items].astype(np.int64)
        d_lo = np.minimum.reduceat(di, starts)
        d_hi = np.maximum.reduceat(di, starts)
    # A row's hub depends only on the class's bucket signature and the group: decide it once per distinct
    # (signature, group) pair, then look it up for every (class, group) row.
    n_bs = int(cl.bs_level.size)
    row_key = cl.bsig[d_class] * max(n_pg, 1) + d_pg
    if n_bs * n_pg <= DENSE_PAIRS:
        seen = np.zeros(n_bs * n_pg, dtype=np.bool_)
        seen[row_key] = True
        pairs = np.flatnonzero(seen).astype(np.int64)
        row_pair = (np.cumsum(seen, dtype=np.int32) - 1)[row_key].astype(np.int64)
    else:
        pairs, row_pair = np.unique(row_key, return_inverse=True)
        row_pair = row_pair.reshape(-1).astype(np.int64)
    q_bs, q_pg = pairs // max(n_pg, 1), pairs % max(n_pg, 1)
    u = uniform[q_pg]
    rep_b = first_item[q_pg]
    age = sig.age_rep[cl.bs_band[q_bs]]
    fits = ((p.b_sex[rep_b] == 0) | (p.b_sex[rep_b] == cl.bs_sex[q_bs])) & (
        (age >= p.b_age_min[rep_b]) & (age <= p.b_age_max[rep_b])
    )
    kq = np.flatnonzero(~u | fits)
    q_bs, q_pg, u = q_bs[kq], q_pg[kq], u[kq]
    cut_matters = costs.forbid_late or w.lateness_penalty > 0
    cut_eff = np.clip(cl.bs_cut[q_bs], d_lo[q_pg], d_hi[q_pg] + 1) if cut_matters else np.zeros(q_bs.size, np.int64)
    hub_cols = [
        q_pg,
        cl.bs_level[q_bs],
        cut_eff,
        np.where(pg_short[q_pg], cl.bs_short[q_bs], 1),
        cl.bs_unav[q_bs],
        np.where(u, -1, cl.bs_band[q_bs]),
        np.where(u, -1, cl.bs_sex[q_bs]),
    ]
    if kq.size:
        kq_hub, hub_first = _group(hub_cols)
    else:
        kq_hub, hub_first = np.zeros(0, np.int64), np.zeros(0, np.int64)
    pair_hub = np.full(pairs.size, -1, dtype=np.int64)
    pair_hub[kq] = kq_hub
    row_hub = pair_hub[row_pair]
    keep = row_hub >= 0
    d_class, d_pg, d_hub = d_class[keep], d_pg[keep], row_hub[keep]
    n_hub0 = int(hub_first.size)
    h_pg = q_pg[hub_first]
    h_bsig = q_bs[hub_first]  # any signature of the hub stands for all of them
    hb_hub, hb_bucket = _expand(pg_ptr, pg_items, h_pg)
    ok = costs.eligible(h_bsig[hb_hub], hb_bucket)
    hb_hub, hb_bucket = hb_hub[ok], hb_bucket[ok]
    live = np.bincount(hb_hub, minlength=n_hub0) > 0
    renum = np.cumsum(live) - 1
    keep = live[d_hub]
    d_class, d_pg, d_hub = d_class[keep], d_pg[keep], renum[d_hub[keep]]
    h_pg, h_bsig = h_pg[live], h_bsig[live]
    hb_hub = renum[hb_hub]
    return _Hubs(
        d_class=d_class,
        d_pg=d_pg,
        d_hub=d_hub,
        d_cost=costs.class_part(d_class, d_pg),
        h_pg=h_pg,
        h_bsig=h_bsig,
        hb_hub=hb_hub,
        hb_bucket=hb_bucket,
        hb_cost=costs.bucket_part(h_bsig[hb_hub], hb_bucket),
    )


@dataclass(frozen=True, eq=False)
class _Quotas:
    """The eligible (class, bucket) pairs under quotas (``qp_*``, with the quota counting each and whether several
    do), which quotas a node pair holds exactly, and for those the α (per class) and β (per bucket) arc costs."""

    qp_class: I64
    qp_pg: I64
    qp_bucket: I64
    qp_cost: I64
    pair_key: I64
    cv_order: I64
    cv_sorted: I64
    qp_quota: I64
    multi: B
    exact_q: B
    alpha: dict[int, tuple[I64, I64]]
    beta: dict[int, tuple[I64, I64]]


def _quotas(
    p: Problem, cl: _Classes, pg: _ProviderGroups, reach: _Reach, cov: _Coverage, costs: _Costs, b_rank: I64
) -> _Quotas:
    """Quota blocks: expand the covered class × group rows to eligible pairs, and check per quota whether
    ``cost(c, b) = α_c + β_b`` holds over the same buckets for all its classes (module docstring, **Quotas**)."""
    n_pg = pg.n
    covered = cov.covered
    cv_q, cv_key = cov.cv_q, cov.cv_key
    qc_class, qc_pg = reach.cp_class[covered], reach.cp_pg[covered]
    qp_pos, qp_bucket = _expand(pg.ptr, pg.items, qc_pg)
    qp_class = qc_class[qp_pos]
    qp_pg = qc_pg[qp_pos]
    qok = costs.eligible(cl.bsig[qp_class], qp_bucket)
    qp_class, qp_pg, qp_bucket = qp_class[qok], qp_pg[qok], qp_bucket[qok]
    qp_cost = costs.class_part(qp_class, qp_pg) + costs.bucket_part(cl.bsig[qp_class], qp_bucket)
    # Which quotas count each pair (a pair may be counted by several overlapping quotas of its municipality).
    pair_key = cl.muni[qp_class] * max(n_pg, 1) + qp_pg
    cv_order = np.argsort(cv_key, kind="stable")
    cv_sorted = cv_key[cv_order]
    lo = np.searchsorted(cv_sorted, pair_key, side="left")
    hi = np.searchsorted(cv_sorted, pair_key, side="right")
    multi = (hi - lo) > 1
    qp_quota = cv_q[cv_order[lo]] if lo.size else np.zeros(0, np.int64)
    exact_q = np.ones(cov.n_q, dtype=np.bool_)
    if multi.any():
        for a, bnd in zip(lo[multi].tolist(), hi[multi].tolist(), strict=True):
            exact_q[cv_q[cv_order[a:bnd]]] = False
    q_alpha: dict[int, tuple[I64, I64]] = {}
    q_beta: dict[int, tuple[I64, I64]] = {}
    if qp_class.size:
        order = np.lexsort((b_rank[qp_bucket], p.b_date[qp_bucket], qp_class, qp_quota))
        qs = qp_quota[order]
        starts = np.flatnonzero(np.r_[True, qs[1:] != qs[:-1]])
        ends = np.r_[starts[1:], qs.size]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            q = int(qs[s])
            idx = order[s:e]
            cls, bkt, cst = qp_class[idx], qp_bucket[idx], qp_cost[idx]
            first = np.flatnonzero(np.r_[True, cls[1:] != cls[:-1]])
            per = np.diff(np.r_[first, cls.size])
            if not exact_q[q] or (per != per[0]).any():
                exact_q[q] = False
                continue
            m = int(per[0])
            bmat = bkt.reshape(-1, m)
            cmat = cst.reshape(-1, m)
            diff = cmat - cmat[:, :1]
            if (bmat != bmat[0]).any() or (diff != diff[0]).any():
                exact_q[q] = False
                continue
            q_alpha[q] = (cls[first], cmat[:, 0].astype(np.int64))
            q_beta[q] = (bmat[0].astype(np.int64), diff[0].astype(np.int64))
    return _Quotas(
        qp_class=qp_class,
        qp_pg=qp_pg,
        qp_bucket=qp_bucket,
        qp_cost=qp_cost,
        pair_key=pair_key,
        cv_order=cv_order,
        cv_sorted=cv_sorted,
        qp_quota=qp_quota,
        multi=multi,
        exact_q=exact_q,
        alpha=q_alpha,
        beta=q_beta,
    )


@dataclass(frozen=True, eq=False)
class _Incumbents:
    """One bonus arc per (class, previous bucket) still eligible: how many members held it, its cost, whether a
    quota covers it, and the cost scale and bonus (module docstring, **Re-solving after churn**)."""

    held: I64  # per entry: the incumbent bucket or -1
    rows: I64  # entries with an incumbent
    cls: I64
    bucket: I64
    count: I64
    cost: I64
    covered: B
    key: I64  # muni·n_pg + group, to find the quotas covering each arc
    scale: int
    bonus: int


def _incumbents(p: Problem, cl: _Classes, pg: _ProviderGroups, cov: _Coverage, costs: _Costs) -> _Incumbents:
    """Incumbent bonus arcs; an incumbent whose bucket its class may no longer use gets none."""
    k = p.n_buckets
    n_pg = pg.n
    inc = p.incumbent_of
    inc_rows = np.flatnonzero(inc >= 0)
    i_class = i_bucket = i_count = i_cost = np.zeros(0, np.int64)
    i_covered = np.zeros(0, np.bool_)
    if inc_rows.size and cl.n:
        ukey, i_count = np.unique(cl.class_of[inc_rows] * k + inc[inc_rows], return_counts=True)
        i_class, i_bucket = ukey // k, ukey % k
        ok = (p.b_oci[i_bucket] == cl.oci[i_class]) & (p.b_scope[cl.kind[i_class], i_bucket] == cl.code[i_class])
        ok &= costs.eligible(cl.bsig[i_class], i_bucket)
        ok &= p.within_travel_limit(cl.muni[i_class], cl.oci[i_class], i_bucket)
        i_class, i_bucket, i_count = i_class[ok], i_bucket[ok], i_count[ok].astype(np.int64)
        i_pg = pg.of_bucket[i_bucket]
        i_cost = costs.class_part(i_class, i_pg) + costs.bucket_part(cl.bsig[i_class], i_bucket)
        i_covered = np.isin(cl.muni[i_class] * max(n_pg, 1) + i_pg, cov.cv_key)
    i_key = cl.muni[i_class] * max(n_pg, 1) + (pg.of_bucket[i_bucket] if i_bucket.size else i_bucket)
    # Keeping an incumbent earns ``change_penalty + 1/2``: every cost doubled and ``2·penalty + 1`` off the bonus arc,
    # so an incumbent moves only when that gains strictly more than the penalty (integers, no ties with keeping).
    return _Incumbents(
        held=inc,
        rows=inc_rows,
        cls=i_class,
        bucket=i_bucket,
        count=i_count,
        cost=i_cost,
        covered=i_covered,
        key=i_key,
        scale=2 if i_class.size else 1,
        bonus=2 * p.params.change_penalty + 1,
    )


def _fallback_components(comp: _Components, quotas: _Quotas, inc: _Incumbents) -> B:
    """Per component, whether it goes to the integer model: it holds an inexact quota, or an incumbent's bucket is
    under a quota node (the bonus is for one class at one bucket; a quota node forgets both)."""
    fallback_comp = np.zeros(comp.n, dtype=np.bool_)
    if quotas.qp_class.size:
        pair_comp = comp.of_class[quotas.qp_class]
        bad = ~quotas.exact_q[quotas.qp_quota] | quotas.multi
        fallback_comp[np.unique(pair_comp[bad])] = True
    if inc.covered.any():
        fallback_comp[np.unique(comp.of_class[inc.cls[inc.covered]])] = True
    return fallback_comp


@dataclass(frozen=True, eq=False)
class _Network:
    """All arcs (global node numbers: classes, hubs, quota in-nodes, quota out-nodes, buckets, sink), with each
    arc's component and kind, costs already scaled and bonused; ``net_arc`` marks arcs of network components."""

    tails: I64
    heads: I64
    caps: I64
    costs: I64
    comps: I64
    kinds: npt.NDArray[np.int8]
    net_arc: B
    base_hub: int
    base_qin: int
    base_qout: int
    base_bucket: int
    sink: int
    n_hub: int
    n_qn: int
    n_shared_hubs: int


def _network(
    p: Problem,
    cl: _Classes,
    pg: _ProviderGroups,
    comp: _Components,
    hubs: _Hubs,
    quotas: _Quotas,
    inc: _Incumbents,
    fallback_comp: B,
) -> _Network:
    """The min-cost-flow network of every component (fallback components' arcs included, then masked out)."""
    k = p.n_buckets
    n_cls = cl.n
    c_size, c_comp = cl.size, comp.of_class
    n_hub = hubs.n
    d_class, d_hub, d_cost = hubs.d_class, hubs.d_hub, hubs.d_cost
    hb_hub, hb_bucket, hb_cost = hubs.hb_hub, hubs.hb_bucket, hubs.hb_cost
    exact_list = sorted(quotas.alpha)
    n_qn = len(exact_list)
    base_hub = n_cls
    base_qin = base_hub + n_hub
    base_qout = base_qin + n_qn
    base_bucket = base_qout + n_qn
    sink = base_bucket + k
    net = _Net()
    net.add(UNSERVED, np.arange(n_cls), np.full(n_cls, sink), c_size, np.zeros(n_cls, np.int64), c_comp)
    # A hub with a single class saves nothing: that class gets the hub's bucket arcs directly.
    hub_deg = np.bincount(d_hub, minlength=n_hub)
    hub_class = np.full(n_hub, -1, dtype=np.int64)
    hub_class[d_hub] = d_class
    hub_dcost = np.zeros(n_hub, dtype=np.int64)
    hub_dcost[d_hub] = d_cost
    shared_d = hub_deg[d_hub] > 1
    shared_b = hub_deg[hb_hub] > 1
    n_shared_hubs = int((hub_deg > 1).sum())
    net.add(
        CLASS_HUB,
        d_class[shared_d],
        base_hub + d_hub[shared_d],
        c_size[d_class[shared_d]],
        d_cost[shared_d],
        c_comp[d_class[shared_d]],
    )
    hub_comp = comp.of_pg[hubs.h_pg]
    hs, hd = hb_hub[shared_b], hb_hub[~shared_b]
    net.add(
        HUB_BUCKET,
        base_hub + hs,
        base_bucket + hb_bucket[shared_b],
        p.b_cap[hb_bucket[shared_b]],
        hb_cost[shared_b],
        hub_comp[hs],
    )
    net.add(
        CLASS_BUCKET,
        hub_class[hd],
        base_bucket + hb_bucket[~shared_b],
        p.b_cap[hb_bucket[~shared_b]],
        hub_dcost[hd] + hb_cost[~shared_b],
        hub_comp[hd],
    )
    for i, q in enumerate(exact_list):
        cls, alpha = quotas.alpha[q]
        bkt, beta = quotas.beta[q]
        qc = int(c_comp[cls[0]])
        net.add(CLASS_QIN, cls, np.full(cls.size, base_qin + i), c_size[cls], alpha, np.full(cls.size, qc))
        net.add(
            QIN_QOUT,
            np.array([base_qin + i]),
            np.array([base_qout + i]),
            np.array([int(p.q_limit[q])]),
            np.zeros(1, np.int64),
            np.array([qc]),
        )
        net.add(
            QOUT_BUCKET,
            np.full(bkt.size, base_qout + i),
            base_bucket + bkt,
            p.b_cap[bkt],
            beta,
            np.full(bkt.size, qc),
        )
    b_comp = comp.of_pg[pg.of_bucket] if k else np.zeros(0, np.int64)
    used_b = b_comp >= 0
    bidx = np.flatnonzero(used_b)
    net.add(
        BUCKET_SINK,
        base_bucket + bidx,
        np.full(bidx.size, sink),
        p.b_cap[bidx],
        np.zeros(bidx.size, np.int64),
        b_comp[bidx],
    )
    net.add(INCUMBENT, inc.cls, base_bucket + inc.bucket, inc.count, inc.cost, c_comp[inc.cls])
    tails, heads, caps, costs, comps, kinds = net.arrays()
    if inc.scale != 1:
        costs = costs * inc.scale - np.where(kinds == INCUMBENT, inc.bonus, 0)
    net_arc = ~fallback_comp[comps] if comps.size else np.zeros(0, np.bool_)
    return _Network(
        tails=tails,
        heads=heads,
        caps=caps,
        costs=costs,
        comps=comps,
        kinds=kinds,
        net_arc=net_arc,
        base_hub=base_hub,
        base_qin=base_qin,
        base_qout=base_qout,
        base_bucket=base_bucket,
        sink=sink,
        n_hub=n_hub,
        n_qn=n_qn,
        n_shared_hubs=n_shared_hubs,
    )


@dataclass(frozen=True, eq=False)
class _Flows:
    """The flow on every arc (0 on fallback components' arcs), each network component's status in component
    order, the summed (scaled) objective, the node count over the solved networks and the worker count."""

    flows: I64
    statuses: list[str]
    objective: int
    n_nodes: int
    n_workers: int


def _solve_components(
    cl: _Classes, comp: _Components, network: _Network, fallback_comp: B, workers: int | None
) -> _Flows:
    """Renumber each network component's nodes locally (its nodes in global order, then its sink) and solve each
    by min-cost flow, in this process or in a pool."""
    n_comp, n_cls = comp.n, cl.n
    tails, heads, caps, costs, comps = network.tails, network.heads, network.caps, network.costs, network.comps
    sink = network.sink
    # Small component numbers sort by radix (stable), much faster than a comparison sort of millions of arcs.
    order = np.argsort(comps.astype(np.int16) if n_comp < 2**15 else comps, kind="stable").astype(np.int64)
    c_bounds = np.searchsorted(comps[order], np.arange(n_comp + 1), side="left")
    # Local node numbers: each component's nodes (those on its arcs) in increasing global number, then the sink
    # (every component has one, through its classes' not-served arcs).
    node_comp = np.full(sink, -1, dtype=np.int64)
    node_comp[tails] = comps
    to_node = heads != sink
    node_comp[heads[to_node]] = comps[to_node]
    used_nodes = np.flatnonzero(node_comp >= 0)
    by_comp = used_nodes[np.argsort(node_comp[used_nodes], kind="stable")]
    n_bounds = np.searchsorted(node_comp[by_comp], np.arange(n_comp + 1), side="left")
    local = np.zeros(sink + 1, dtype=np.int64)
    local[by_comp] = np.arange(by_comp.size, dtype=np.int64) - n_bounds[node_comp[by_comp]]
    n_local = np.diff(n_bounds)
    del node_comp, used_nodes
    solved = np.flatnonzero(~fallback_comp[:n_comp]) if n_comp else np.zeros(0, np.int64)
    n_nodes_total = int(n_local[solved].sum()) + int(solved.size)  # each component's nodes and its sink

    def task(c: int) -> tuple[I64, tuple[I64, I64, I64, I64, I64]]:
        # One component's arrays, made when it is about to be solved: holding every component's at once would
        # double the network's memory at the peak (measured on bench_allocation (a), docs/benchmarks.md).
        arcs = order[c_bounds[c] : c_bounds[c + 1]]
        nodes = by_comp[n_bounds[c] : n_bounds[c + 1]]
        supplies = np.zeros(nodes.size + 1, dtype=np.int64)
        is_class = nodes < n_cls
        supplies[: nodes.size][is_class] = cl.size[nodes[is_class]]
        supplies[-1] = -int(supplies.sum())  # the sink
        a_heads = heads[arcs]
        local_head = np.where(a_heads != sink, local[a_heads], n_local[c])
        return arcs, (local[tails[arcs]], local_head, caps[arcs], costs[arcs], supplies)

    n_workers = _workers(workers, int(solved.size), int(network.net_arc.sum()))
    flows = np.zeros(tails.size, dtype=np.int64)
    status_of: dict[int, str] = {}
    objective = 0

    def collect(c: int, arcs: I64, result: tuple[str, int, I64]) -> None:
        nonlocal objective
        status_of[c] = result[0]
        objective += result[1]
        flows[arcs] = result[2]

    if n_workers > 1:
        # At most two components per worker in flight, so the queued arrays stay bounded too.
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            pending: dict[Future[tuple[str, int, I64]], tuple[int, I64]] = {}
            for c in solved.tolist():
                arcs, args = task(c)
                pending[pool.submit(_solve_network_task, args)] = (c, arcs)
                del args
                if len(pending) >= 2 * n_workers:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        collect(*pending.pop(fut), fut.result())
            for fut in list(pending):
                collect(*pending.pop(fut), fut.result())
    else:
        for c in solved.tolist():
            arcs, args = task(c)
            collect(c, arcs, _solve_network(*args))
            del args
    statuses = [status_of[c] for c in solved.tolist()]
    return _Flows(flows=flows, statuses=statuses, objective=objective, n_nodes=n_nodes_total, n_workers=n_workers)


@dataclass(frozen=True, eq=False)
class _Units:
    """What every class got: plain (class, bucket, units) and bonus (class, bucket, units) on incumbent arcs,
    with the statuses of all components (network ones first) and the summed (scaled) objective."""

    t_cls: I64
    t_bkt: I64
    t_amt: I64
    k_cls: I64
    k_bkt: I64
    k_amt: I64
    statuses: list[str]
    objective: int
    bound: int | None  # scaled lower bound: network components' optimum plus each fallback's proven bound


def _read_back(
    p: Problem,
    b_rank: I64,
    cl: _Classes,
    comp: _Components,
    hubs: _Hubs | None,
    quotas: _Quotas,
    cov: _Coverage,
    inc: _Incumbents,
    network: _Network,
    solved: _Flows,
    fallback_comp: B,
) -> _Units:
    """Read (class, bucket, units) back through hubs and quota nodes, then solve each fallback component by the
    integer model and add its pairs (``hubs`` is needed only when some component is a fallback one)."""
    tails, heads, kinds, flows = network.tails, network.heads, network.kinds, solved.flows
    base_hub, base_qin, base_qout, base_bucket = (
        network.base_hub,
        network.base_qin,
        network.base_qout,
        network.base_bucket,
    )
    n_hub = network.n_hub
    statuses = list(solved.statuses)
    objective = solved.objective
    bound: int | None = solved.objective
    mids_in_node: list[I64] = []
    mids_in_class: list[I64] = []
    mids_in_flow: list[I64] = []
    mids_out_node: list[I64] = []
    mids_out_bucket: list[I64] = []
    mids_out_flow: list[I64] = []
    for kind_in, kind_out in ((CLASS_HUB, HUB_BUCKET), (CLASS_QIN, QOUT_BUCKET)):
        sel = (kinds == kind_in) & (flows > 0)
        mids_in_node.append(
            heads[sel] - (base_hub if kind_in == CLASS_HUB else base_qin) + (0 if kind_in == CLASS_HUB else n_hub)
        )
        mids_in_class.append(tails[sel])
        mids_in_flow.append(flows[sel])
        sel = (kinds == kind_out) & (flows > 0)
        mids_out_node.append(
            tails[sel] - (base_hub if kind_out == HUB_BUCKET else base_qout) + (0 if kind_out == HUB_BUCKET else n_hub)
        )
        mids_out_bucket.append(heads[sel] - base_bucket)
        mids_out_flow.append(flows[sel])
    t_cls, t_bkt, t_amt = _decompose(
        np.concatenate(mids_in_node),
        np.concatenate(mids_in_class),
        np.concatenate(mids_in_flow),
        np.concatenate(mids_out_node),
        np.concatenate(mids_out_bucket),
        np.concatenate(mids_out_flow),
        p.b_date.astype(np.int64),
        b_rank,
    )

    direct = (kinds == CLASS_BUCKET) & (flows > 0)
    kept_arc = (kinds == INCUMBENT) & (flows > 0)
    # Components the network cannot hold exactly.
    fb_cls: list[I64] = [t_cls, tails[direct]]
    fb_bkt: list[I64] = [t_bkt, heads[direct] - base_bucket]
    fb_amt: list[I64] = [t_amt, flows[direct]]
    kp_cls: list[I64] = [tails[kept_arc]]
    kp_bkt: list[I64] = [heads[kept_arc] - base_bucket]
    kp_amt: list[I64] = [flows[kept_arc]]
    for c in np.flatnonzero(fallback_comp).tolist():
        assert hubs is not None, "the integer model needs the hub rows"
        result = _fallback(
            c,
            comp.of_class,
            cl.size,
            p,
            b_rank,
            hubs.d_class,
            hubs.d_hub,
            hubs.d_cost,
            hubs.hb_hub,
            hubs.hb_bucket,
            hubs.hb_cost,
            quotas.qp_class,
            quotas.qp_bucket,
            quotas.qp_cost,
            quotas.pair_key,
            quotas.cv_sorted,
            quotas.cv_order,
            cov.cv_q,
            (inc.cls, inc.bucket, inc.count, inc.cost, inc.key),
            inc.scale,
            inc.bonus,
        )
        statuses.append(result[0])
        objective += result[1]
        bound = None if bound is None or result[8] is None else bound + result[8]
        fb_cls.append(result[2])
        fb_bkt.append(result[3])
        fb_amt.append(result[4])
        kp_cls.append(result[5])
        kp_bkt.append(result[6])
        kp_amt.append(result[7])
    return _Units(
        t_cls=np.concatenate(fb_cls),
        t_bkt=np.concatenate(fb_bkt),
        t_amt=np.concatenate(fb_amt),
        k_cls=np.concatenate(kp_cls),
        k_bkt=np.concatenate(kp_bkt),
        k_amt=np.concatenate(kp_amt),
        statuses=statuses,
        objective=objective,
        bound=bound,
    )


def _assign_members(
    p: Problem, cl: _Classes, inc: _Incumbents, units: _Units, e_rank: I64, b_rank: I64
) -> tuple[I64, I64]:
    """Inside each class: most urgent members first, earliest buckets first. Returns (bucket per entry or -1,
    1-based rank in class per entry)."""
    n, k, n_cls = p.n_entries, p.n_buckets, cl.n
    class_of, inc_held, inc_rows = cl.class_of, inc.held, inc.rows
    member_order = np.lexsort((e_rank, p.e_deadline, -p.e_priority, class_of)).astype(np.int64)
    class_start = np.zeros(n_cls + 1, dtype=np.int64)
    np.cumsum(cl.size, out=class_start[1:])
    rank_in_class = np.empty(n, dtype=np.int64)
    rank_in_class[member_order] = np.arange(n, dtype=np.int64) - class_start[class_of[member_order]] + 1
    bucket_of = np.full(n, -1, dtype=np.int64)
    # Units on a bonus arc go to the class's members whose incumbent is that bucket, most urgent first.
    k_cls, k_bkt, k_amt = units.k_cls, units.k_bkt, units.k_amt
    if k_amt.size:
        pos = np.empty(n, dtype=np.int64)
        pos[member_order] = np.arange(n, dtype=np.int64)
        holders = inc_rows[np.lexsort((pos[inc_rows], inc_held[inc_rows], class_of[inc_rows]))]
        first = np.searchsorted(class_of[holders] * k + inc_held[holders], k_cls * k + k_bkt, side="left")
        offs = np.arange(int(k_amt.sum()), dtype=np.int64) - np.repeat(np.cumsum(k_amt) - k_amt, k_amt)
        chosen = holders[np.repeat(first, k_amt) + offs]
        bucket_of[chosen] = inc_held[chosen]
    # The other units: to the remaining members in rank order, earliest bucket first. (At an optimum no such unit
    # reaches a bucket that a remaining member held before: the bonus arc would have taken it.)
    t_cls, t_bkt, t_amt = units.t_cls, units.t_bkt, units.t_amt
    if t_amt.size:
        rest = member_order[bucket_of[member_order] < 0] if k_amt.size else member_order
        rest_start = np.zeros(n_cls + 1, dtype=np.int64)
        np.cumsum(np.bincount(class_of[rest], minlength=n_cls), out=rest_start[1:])
        o = np.lexsort((b_rank[t_bkt], p.b_date[t_bkt], t_cls))
        u_cls = np.repeat(t_cls[o], t_amt[o])
        u_bkt = np.repeat(t_bkt[o], t_amt[o])
        u_first = np.searchsorted(u_cls, np.arange(n_cls), side="left")
        u_rank = np.arange(u_cls.size, dtype=np.int64) - u_first[u_cls]
        members = rest[rest_start[u_cls] + u_rank]
        bucket_of[members] = u_bkt
    return bucket_of, rank_in_class


def _solve_network_task(args: tuple[I64, I64, I64, I64, I64]) -> tuple[str, int, npt.NDArray[np.int64]]:
    return _solve_network(*args)


def _workers(requested: int | None, n_tasks: int, n_arcs: int) -> int:
    if n_tasks <= 1:
        return 1
    if requested is None:
        if n_arcs < PARALLEL_MIN_ARCS:
            return 1
        requested = os.cpu_count() or 1
    return max(1, min(requested, n_tasks))


def _decompose(
    in_node: I64, in_class: I64, in_flow: I64, out_node: I64, out_bucket: I64, out_flow: I64, b_date: I64, b_rank: I64
) -> tuple[I64, I64, I64]:
    """Split the flow through each middle node (hub or quota node) into (class, bucket, units): classes in index
    order meet buckets in date order. Valid because every class at a middle node may use each of its buckets at
    the same cost (see the module docstring)."""
    if in_node.size == 0:
        z = np.zeros(0, np.int64)
        return z, z, z
    oi = np.lexsort((in_class, in_node))
    oo = np.lexsort((b_rank[out_bucket], b_date[out_bucket], out_node))
    a_end = np.cumsum(in_flow[oi])
    b_end = np.cumsum(out_flow[oo])
    points = np.unique(np.concatenate([a_end, b_end]))
    starts = np.r_[0, points[:-1]]
    ia = np.searchsorted(a_end, starts, side="right")
    ib = np.searchsorted(b_end, starts, side="right")
    return in_class[oi][ia], out_bucket[oo][ib], points - starts


def _fallback(
    comp: int,
    c_comp: I64,
    c_size: I64,
    p: Problem,
    b_rank: I64,
    d_class: I64,
    d_hub: I64,
    d_cost: I64,
    hb_hub: I64,
    hb_bucket: I64,
    hb_cost: I64,
    qp_class: I64,
    qp_bucket: I64,
    qp_cost: I64,
    pair_key: I64,
    cv_sorted: I64,
    cv_order: I64,
    cv_q: I64,
    incumbents: tuple[I64, I64, I64, I64, I64],
    scale: int,
    bonus: int,
) -> tuple[str, int, I64, I64, I64, I64, I64, I64, int | None]:
    """The component's integer model: its class → hub and hub → bucket arcs as they are (conservation at each
    hub; the columns grow with the arcs, not with classes × buckets), plus the quota-covered (class, bucket) pairs
    and the incumbent bonus pairs. Returns the status, the (scaled) objective, the plain (class, bucket, units) —
    hub flows split as in the network read-back — the bonus (class, bucket, units) and the proven (scaled) lower
    bound."""
    sel = np.flatnonzero(c_comp[d_class] == comp)
    hub_ids, in_hub = np.unique(d_hub[sel], return_inverse=True)
    hsel = np.flatnonzero(np.isin(hb_hub, hub_ids))
    out_hub = np.searchsorted(hub_ids, hb_hub[hsel])
    qsel = np.flatnonzero(c_comp[qp_class] == comp)
    i_class, i_bucket, i_count, i_cost, i_key = incumbents
    isel = np.flatnonzero(c_comp[i_class] == comp)
    n_plain = int(qsel.size)
    cls_g = np.concatenate([qp_class[qsel], i_class[isel]])
    bkt_g = np.concatenate([qp_bucket[qsel], i_bucket[isel]])
    cost = np.concatenate([scale * qp_cost[qsel], scale * i_cost[isel] - bonus])
    cls_ids = np.unique(np.concatenate([cls_g, d_class[sel]]))
    bkt_ids = np.unique(np.concatenate([bkt_g, hb_bucket[hsel]]))
    # quota rows: pairs counted by each quota (a bonus pair may be counted too)
    rows_q: list[int] = []
    rows_pair: list[int] = []
    keys = np.concatenate([pair_key[qsel], i_key[isel]])
    lo = np.searchsorted(cv_sorted, keys, side="left")
    hi = np.searchsorted(cv_sorted, keys, side="right")
    for j, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        for t in range(a, b):
            rows_q.append(int(cv_q[cv_order[t]]))
            rows_pair.append(j)
    q_ids = sorted(set(rows_q))
    q_loc = {q: i for i, q in enumerate(q_ids)}
    rq = np.array([q_loc[q] for q in rows_q], dtype=np.int64)
    rp = np.array(rows_pair, dtype=np.int64)
    o = np.lexsort((rp, rq))
    qptr = np.zeros(len(q_ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rq, minlength=len(q_ids)), out=qptr[1:])
    model = PairModel(
        pair_class=np.searchsorted(cls_ids, cls_g).astype(np.int64),
        pair_bucket=np.searchsorted(bkt_ids, bkt_g).astype(np.int64),
        pair_cost=cost.astype(np.int64),
        class_size=c_size[cls_ids],
        bucket_cap=p.b_cap[bkt_ids],
        quota_limit=p.q_limit[np.array(q_ids, dtype=np.int64)] if q_ids else np.zeros(0, np.int64),
        quota_ptr=qptr,
        quota_pairs=rp[o],
        pair_limit=np.concatenate([np.full(n_plain, np.iinfo(np.int64).max, np.int64), i_count[isel]]),
        n_hubs=int(hub_ids.size),
        in_class=np.searchsorted(cls_ids, d_class[sel]).astype(np.int64),
        in_hub=in_hub.reshape(-1).astype(np.int64),
        in_cost=(scale * d_cost[sel]).astype(np.int64),
        out_hub=out_hub.astype(np.int64),
        out_bucket=np.searchsorted(bkt_ids, hb_bucket[hsel]).astype(np.int64),
        out_cost=(scale * hb_cost[hsel]).astype(np.int64),
    )
    res = solve_pairs(model, p.params.fallback_deterministic_seconds)
    used = res.amount > 0
    plain = np.arange(cls_g.size) < n_plain
    a, b = used & plain, used & ~plain
    h_cls, h_bkt, h_amt = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if res.in_amount is not None and res.out_amount is not None:
        fi, fo = res.in_amount > 0, res.out_amount > 0
        h_cls, h_bkt, h_amt = _decompose(
            in_hub.reshape(-1)[fi].astype(np.int64),
            d_class[sel][fi],
            res.in_amount[fi],
            out_hub[fo].astype(np.int64),
            hb_bucket[hsel][fo],
            res.out_amount[fo],
            p.b_date.astype(np.int64),
            b_rank,
        )
    return (
        res.status,
        res.objective,
        np.concatenate([h_cls, cls_g[a]]),
        np.concatenate([h_bkt, bkt_g[a]]),
        np.concatenate([h_amt, res.amount[a]]),
        cls_g[b],
        bkt_g[b],
        res.amount[b],
        res.bound,
    )


def entry_costs(p: Problem, entries: I64, buckets: I64) -> I64:
    """Per-assignment cost, recomputed from the columns (the flow's objective must equal its sum)."""
    parts = cost_components(p, entries, buckets)
    return -parts[0] + parts[1] + parts[3] + parts[4]


def cost_components(p: Problem, entries: I64, buckets: I64) -> tuple[I64, I64, I64, I64, I64]:
    w = p.params.weights
    level = p.e_priority[entries] // p.params.priority_band
    value = w.value_base + w.value_per_level * level
    days = np.maximum(p.b_date[buckets].astype(np.int64) - p.today, 0)
    earliness = w.earliness_per_level_day * (level + 1) * days
    km = p.travel_km(p.e_muni[entries], buckets)
    late = np.where(p.b_date[buckets] > p.e_deadline[entries], w.lateness_penalty, 0).astype(np.int64)
    return value, earliness, km, w.travel_per_km * km, late


ORIGINS: tuple[Literal["new", "kept", "moved", "pinned"], ...] = ("new", "kept", "moved", "pinned")


def to_solution(allocation: Allocation, *, explain: bool = True) -> Solution:
    p = allocation.problem
    ids = p.e_id
    served = np.flatnonzero(allocation.bucket_of >= 0)
    served = served[np.argsort(ids[served], kind="stable")]
    buckets = allocation.bucket_of[served]
    assignments: list[Assignment] = []
    if explain:
        value, earliness, km, travel, late = cost_components(p, served, buckets)
        cost = -value + earliness + travel + late
        pinned = p.pinned_of[served] >= 0
        inc = p.incumbent_of[served]
        origin = np.where(pinned, 3, np.where(inc < 0, 0, np.where(inc == buckets, 1, 2)))
        for j, (i, b) in enumerate(zip(served.tolist(), buckets.tolist(), strict=True)):
            c = int(allocation.class_of[i])
            assignments.append(
                Assignment(
                    entry_id=str(ids[i]),
                    bucket_id=str(p.b_id[b]),
                    explanation=Explanation(
                        value=int(value[j]),
                        earliness=int(earliness[j]),
                        travel_km=int(km[j]),
                        travel_cost=int(travel[j]),
                        lateness=int(late[j]),
                        cost=int(cost[j]),
                        class_index=c,
                        rank_in_class=int(allocation.rank_in_class[i]),
                        class_size=int(allocation.class_size[c]) if c >= 0 else 1,
                        origin=ORIGINS[int(origin[j])],
                    ),
                )
            )
    else:
        assignments = [
            Assignment(entry_id=str(ids[i]), bucket_id=str(p.b_id[b]))
            for i, b in zip(served.tolist(), buckets.tolist(), strict=True)
        ]
    unassigned = np.sort(ids[allocation.bucket_of < 0]).tolist()
    escalated = np.sort(ids[allocation.escalated]).tolist() if allocation.escalated.size else []
    return Solution(
        solver="flow",
        status=allocation.status,
        objective=allocation.objective,
        bound=allocation.bound,
        gap=allocation.gap,
        assignments=assignments,
        unassigned=[str(x) for x in unassigned],
        escalated=[str(x) for x in escalated],
        stats=allocation.stats,
        meta=allocation.meta,
    )
