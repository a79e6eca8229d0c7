"""Each named step of the optimizer's solve (``flow._solve_free``), run directly on a small instance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from regula.optimizer import flow
from regula.optimizer.instance import Instance, Quota
from regula.optimizer.problem import Problem, escalate_problem, from_instance, signatures
from tests.optimizer.factory import TODAY, bucket, entry, instance


@dataclass
class _Steps:
    p: Problem
    cl: flow._Classes
    pg: flow._ProviderGroups
    reach: flow._Reach
    comp: flow._Components
    cov: flow._Coverage
    hubs: flow._Hubs
    quotas: flow._Quotas
    inc: flow._Incumbents
    fallback: flow.B
    net: flow._Network
    b_rank: flow.I64
    e_rank: flow.I64


def _steps(inst: Instance) -> _Steps:
    problem = from_instance(inst)
    sig = signatures(problem)
    p, _ = escalate_problem(problem, sig)
    b_rank, e_rank = flow._rank(p.b_id), flow._rank(p.e_id)
    cl = flow._classes(p, sig)
    pg = flow._provider_groups(p, b_rank)
    reach = flow._reach(cl, pg)
    comp = flow._components(cl, pg, reach)
    cov = flow._coverage(p, cl, pg, reach)
    costs = flow._Costs(p, sig, cl, pg, p.params.late_policy == "forbid")
    hubs = flow._hubs(p, sig, cl, pg, reach, cov, costs)
    quotas = flow._quotas(p, cl, pg, reach, cov, costs, b_rank)
    inc = flow._incumbents(p, cl, pg, cov, costs)
    fallback = flow._fallback_components(comp, quotas, inc)
    net = flow._network(p, cl, pg, comp, hubs, quotas, inc, fallback)
    return _Steps(p, cl, pg, reach, comp, cov, hubs, quotas, inc, fallback, net, b_rank, e_rank)


def _quota(limit: int, days: int = 0, muni: str = "4205407", cnes: str = "P4211900") -> Quota:
    start = TODAY + timedelta(days=7)
    return Quota(
        id=f"q{limit}{days}{muni}",
        municipality_ibge=muni,
        provider_cnes=cnes,
        oci_code="0901010014",
        start=start,
        end=start + timedelta(days=days),
        limit=limit,
    )


def _entry_index(s: _Steps, entry_id: str) -> int:
    return int(np.flatnonzero(s.p.e_id == entry_id)[0])


def _bucket_index(s: _Steps, bucket_id: str) -> int:
    return int(np.flatnonzero(s.p.b_id == bucket_id)[0])


def test_classes_merge_interchangeable_entries_and_split_on_municipality_and_level() -> None:
    es = [entry("a"), entry("b"), entry("c", "4211900"), entry("d", priority=90)]
    s = _steps(instance(es, [bucket("x")], priority_band=10))
    cls = {e: int(s.cl.class_of[_entry_index(s, e)]) for e in "abcd"}
    assert cls["a"] == cls["b"]
    assert len({cls["a"], cls["c"], cls["d"]}) == 3
    assert s.cl.n == 3 and sorted(s.cl.size.tolist()) == [1, 1, 2]
    # a and c differ only by municipality: same bucket signature; d has another level
    assert s.cl.bsig[cls["a"]] == s.cl.bsig[cls["c"]] != s.cl.bsig[cls["d"]]


def test_provider_groups_split_at_quota_boundaries_and_list_buckets_by_date() -> None:
    late, early = TODAY + timedelta(days=14), TODAY + timedelta(days=7)
    bs = [bucket("y", "4211900", date=late), bucket("x", "4211900", date=early)]
    s = _steps(instance([entry("a")], bs))
    assert s.pg.n == 1
    assert s.p.b_id[s.pg.items].tolist() == ["x", "y"]  # date order
    s = _steps(instance([entry("a")], bs, [_quota(1)]))  # the quota covers x's date only
    assert s.pg.n == 2
    assert s.pg.of_bucket[_bucket_index(s, "x")] != s.pg.of_bucket[_bucket_index(s, "y")]


def test_reach_follows_oci_and_scope() -> None:
    es = [entry("a")]  # region 42001
    bs = [bucket("in", "4211900"), bucket("out", "4209102"), bucket("oci", "4211900", oci_code="0902010018")]
    s = _steps(instance(es, bs))
    reached = {str(s.p.b_id[s.pg.items[s.pg.ptr[g]]]) for g in s.reach.cp_pg.tolist()}
    assert reached == {"in"}
    assert s.reach.cp_class.tolist() == [0]


def test_components_separate_classes_that_share_no_provider() -> None:
    es = [entry("a"), entry("b", "4211900"), entry("j", "4209102")]  # regions 42001, 42001, 42002
    bs = [bucket("x"), bucket("z", "4209102"), bucket("far", "4204202")]
    s = _steps(instance(es, bs))
    comp = {e: int(s.comp.of_class[s.cl.class_of[_entry_index(s, e)]]) for e in "abj"}
    assert s.comp.n == 2
    assert comp["a"] == comp["b"] != comp["j"]
    assert s.comp.of_pg[s.pg.of_bucket[_bucket_index(s, "far")]] == -1  # no class reaches it


def test_coverage_marks_only_the_quota_municipality_rows() -> None:
    es = [entry("flo"), entry("pal", "4211900")]
    s = _steps(instance(es, [bucket("x", "4211900")], [_quota(1)]))
    assert s.cov.n_q == 1 and s.cov.cv_q.tolist() == [0]
    rows = {
        int(s.cl.muni[c]): bool(cv) for c, cv in zip(s.reach.cp_class.tolist(), s.cov.covered.tolist(), strict=True)
    }
    assert sorted(rows.values()) == [False, True]
    assert rows[int(s.p.e_muni[_entry_index(s, "flo")])] is True


def test_hubs_are_shared_across_municipalities_and_drop_ineligible_buckets() -> None:
    es = [entry("a"), entry("b", "4211900")]  # same signature, two municipalities
    bs = [bucket("x", capacity=2), bucket("y", date=TODAY + timedelta(days=14)), bucket("m", cnes="PM", sex="M")]
    s = _steps(instance(es, bs))
    # one hub for the (F-only) patients at provider P4205407; provider PM (men only) gets no hub
    assert s.hubs.n == 1
    assert s.hubs.d_hub.tolist() == [0, 0] and sorted(s.hubs.d_class.tolist()) == [0, 1]
    assert sorted(s.p.b_id[s.hubs.hb_bucket].tolist()) == ["x", "y"]
    # the earlier bucket costs less at the hub; travel makes Palhoça's class → hub arc dearer
    hb = dict(zip(s.p.b_id[s.hubs.hb_bucket].tolist(), s.hubs.hb_cost.tolist(), strict=True))
    assert hb["x"] < hb["y"]
    d = dict(zip(s.cl.muni[s.hubs.d_class].tolist(), s.hubs.d_cost.tolist(), strict=True))
    assert d[int(s.p.e_muni[_entry_index(s, "a")])] < d[int(s.p.e_muni[_entry_index(s, "b")])]
    assert s.net.n_shared_hubs == 1


def test_quota_blocks_are_exact_on_one_date_and_inexact_on_mixed_dates_and_levels() -> None:
    es = [entry(f"e{i}", priority=10 * i) for i in range(4)]
    s = _steps(instance(es, [bucket("x", "4211900", capacity=10)], [_quota(2)], priority_band=10))
    assert s.quotas.exact_q.tolist() == [True]
    cls, alpha = s.quotas.alpha[0]
    bkt, beta = s.quotas.beta[0]
    assert cls.size == 4 and alpha.size == 4 and beta.tolist() == [0]
    assert s.p.b_id[bkt].tolist() == ["x"]
    assert not s.fallback.any() and s.net.n_qn == 1

    bs = [bucket("x", "4211900", capacity=1), bucket("y", "4211900", capacity=2, date=TODAY + timedelta(days=14))]
    s = _steps(instance(es, bs, [_quota(2, days=10)], priority_band=10))
    assert s.quotas.exact_q.tolist() == [False] and s.quotas.alpha == {}
    assert s.fallback.tolist() == [True] and s.net.n_qn == 0


def test_incumbents_get_one_bonus_arc_per_class_and_previous_bucket() -> None:
    es = [entry("a"), entry("b"), entry("c")]
    inst = instance(es, [bucket("x", capacity=3), bucket("y")], change_penalty=5)
    inst = Instance.model_validate(
        inst.model_dump() | {"incumbents": [{"entry_id": e, "bucket_id": "x"} for e in ("a", "b")]}
    )
    s = _steps(inst)
    assert s.inc.rows.size == 2
    assert s.inc.count.tolist() == [2] and s.p.b_id[s.inc.bucket].tolist() == ["x"]
    assert s.inc.scale == 2 and s.inc.bonus == 2 * 5 + 1
    assert not s.inc.covered.any()
    arcs = s.net.kinds == flow.INCUMBENT
    assert int(arcs.sum()) == 1
    assert int(s.net.costs[arcs][0]) == 2 * int(s.inc.cost[0]) - s.inc.bonus


def test_network_solve_read_back_and_members_in_urgency_order() -> None:
    # same class (deadlines both after every bucket); "soon" is the more urgent by deadline
    es = [entry("later", deadline=TODAY + timedelta(days=60)), entry("soon", deadline=TODAY + timedelta(days=40))]
    es += [entry("pal", "4211900")]
    bs = [bucket("x"), bucket("y", date=TODAY + timedelta(days=14))]
    inst = instance(es, bs)
    s = _steps(inst)
    solved = flow._solve_components(s.cl, s.comp, s.net, s.fallback, workers=1)
    assert solved.statuses == ["OPTIMAL"] and solved.n_workers == 1
    # conservation at the sink: every class's supply leaves by some arc into the sink
    into_sink = solved.flows[s.net.heads == s.net.sink].sum()
    assert int(into_sink) == int(s.cl.size.sum())
    units = flow._read_back(s.p, s.b_rank, s.cl, s.comp, s.hubs, s.quotas, s.cov, s.inc, s.net, solved, s.fallback)
    assert int(units.t_amt.sum()) == 2 and units.k_amt.size == 0  # two buckets of capacity 1
    bucket_of, rank = flow._assign_members(s.p, s.cl, s.inc, units, s.e_rank, s.b_rank)
    got = {str(s.p.e_id[i]): str(s.p.b_id[b]) for i, b in enumerate(bucket_of.tolist()) if b >= 0}
    assert len(got) == 2
    # the steps together give what solve gives
    assert {a.entry_id: a.bucket_id for a in flow.solve(inst).assignments} == got
    assert s.cl.class_of[_entry_index(s, "later")] == s.cl.class_of[_entry_index(s, "soon")]
    assert rank[_entry_index(s, "soon")] == 1 and rank[_entry_index(s, "later")] == 2
    # Florianópolis' own provider is nearer for its class: both its buckets go there, the earlier to "soon"
    assert got == {"soon": "x", "later": "y"}
