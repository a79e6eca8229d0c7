from datetime import timedelta

from regula.optimizer.flow import solve
from regula.optimizer.validate import validate
from tests.optimizer.factory import TODAY, bucket, entry, instance


def test_inside_a_class_the_most_urgent_member_gets_the_earliest_bucket() -> None:
    # Same level (band 100): one class of three; the priority weight still orders them.
    es = [entry("a", priority=110), entry("b", priority=190), entry("c", priority=150)]
    bs = [bucket("late", date=TODAY + timedelta(days=21)), bucket("early", date=TODAY + timedelta(days=3))]
    sol = solve(instance(es, bs, priority_band=100))
    assert sol.stats.classes == 1
    got = {a.entry_id: a.bucket_id for a in sol.assignments}
    assert got == {"b": "early", "c": "late"}
    ranks = {a.entry_id: a.explanation.rank_in_class for a in sol.assignments if a.explanation}
    assert ranks == {"b": 1, "c": 2}


def test_ties_in_priority_go_to_the_earlier_deadline_then_the_id() -> None:
    es = [
        entry("z", deadline=TODAY + timedelta(days=30)),
        entry("y", deadline=TODAY + timedelta(days=31)),
        entry("x", deadline=TODAY + timedelta(days=31)),
    ]
    sol = solve(instance(es, [bucket("only", capacity=2)]))
    assert sol.stats.classes == 1
    assert {a.entry_id for a in sol.assignments} == {"z", "x"}


def test_earlier_buckets_go_to_more_urgent_levels_across_classes() -> None:
    es = [entry("low", priority=1), entry("high", priority=9)]
    bs = [bucket("late", date=TODAY + timedelta(days=30)), bucket("early", date=TODAY + timedelta(days=2))]
    inst = instance(es, bs)
    sol = solve(inst)
    assert {a.entry_id: a.bucket_id for a in sol.assignments} == {"high": "early", "low": "late"}
    assert validate(inst, sol) == []


def test_identical_people_share_one_class_and_arcs_grow_with_classes() -> None:
    es = [entry(f"e{i:03d}", priority=5) for i in range(200)]
    bs = [bucket(f"b{j}", capacity=10, date=TODAY + timedelta(days=j)) for j in range(10)]
    sol = solve(instance(es, bs))
    assert sol.stats.classes == 1
    assert sol.stats.arcs < 30
    assert len(sol.assignments) == 100
