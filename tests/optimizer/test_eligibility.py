from datetime import timedelta

import pytest

from regula.optimizer.flow import solve
from regula.optimizer.instance import Assignment, Solution
from regula.optimizer.validate import validate
from tests.optimizer.factory import TODAY, bucket, entry, instance


def _only(sol: Solution) -> dict[str, str]:
    return {a.entry_id: a.bucket_id for a in sol.assignments}


def test_only_the_entrys_oci() -> None:
    inst = instance([entry("a", oci_code="0901010014")], [bucket("x", oci_code="0902010018")])
    assert solve(inst).assignments == []


def test_sex_restriction_of_the_provider() -> None:
    inst = instance([entry("m", sex="M"), entry("f", sex="F")], [bucket("x", sex="F", capacity=5)])
    assert _only(solve(inst)) == {"f": "x"}


@pytest.mark.parametrize(("age", "served"), [(17, False), (18, True), (60, True), (61, False)])
def test_age_band_of_the_provider_is_inclusive(age: int, served: bool) -> None:
    inst = instance([entry("a", age_years=age)], [bucket("x", age_min=18, age_max=60)])
    assert bool(solve(inst).assignments) is served


def test_unavailable_date_inside_a_weekly_bucket_excludes_it() -> None:
    week = bucket("w", date=TODAY + timedelta(days=7), days=7)
    later = bucket("l", date=TODAY + timedelta(days=21))
    inst = instance([entry("a", unavailable_dates=[TODAY + timedelta(days=10)])], [week, later])
    assert _only(solve(inst)) == {"a": "l"}


def test_unavailable_date_outside_the_bucket_does_not_matter() -> None:
    inst = instance([entry("a", unavailable_dates=[TODAY + timedelta(days=14)])], [bucket("x", days=7)])
    assert _only(solve(inst)) == {"a": "x"}


def test_short_notice_only_for_who_accepts() -> None:
    soon = bucket("s", date=TODAY + timedelta(days=1), capacity=2)
    inst = instance([entry("yes", accepts_short_notice=True), entry("no")], [soon], short_notice_days=3)
    assert _only(solve(inst)) == {"yes": "s"}


def test_late_bucket_forbidden_or_penalized() -> None:
    late = bucket("x", date=TODAY + timedelta(days=30))
    e = entry("a", deadline=TODAY + timedelta(days=20))
    assert solve(instance([e], [late], late_policy="forbid")).assignments == []
    sol = solve(instance([e], [late]))
    assert _only(sol) == {"a": "x"}
    assert sol.assignments[0].explanation is not None
    assert sol.assignments[0].explanation.lateness == 5_000


def test_validator_names_each_broken_rule() -> None:
    inst = instance(
        [entry("a", sex="M", age_years=10, unavailable_dates=[TODAY + timedelta(days=7)])],
        [bucket("x", sex="F", age_min=18, oci_code="0902010018", date=TODAY + timedelta(days=7))],
        late_policy="forbid",
    )
    sol = solve(inst)
    broken = sol.model_copy(update={"assignments": [Assignment(entry_id="a", bucket_id="x")], "unassigned": []})
    codes = {v.code for v in validate(inst, broken, check_objective=False)}
    assert codes == {"oci_incompativel", "sexo_incompativel", "idade_incompativel", "data_indisponivel"}
