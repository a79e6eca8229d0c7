"""The approval steps of a PAR version (regula.programs.steps): order, applicability, dates, status."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regula.core.errors import Conflict, ValidationFailed
from regula.programs import steps
from regula.programs.steps import PlanKind, VersionStatus

TODAY = date(2026, 12, 5)


def test_plan_kind_follows_the_scope_and_the_federal_district() -> None:
    assert steps.plan_kind("region", "SC") is PlanKind.REGIONAL
    assert steps.plan_kind("municipalities", "SC") is PlanKind.REGIONAL
    assert steps.plan_kind("macro", "SC") is PlanKind.ESTADUAL
    assert steps.plan_kind("uf", "SC") is PlanKind.ESTADUAL
    assert steps.plan_kind("uf", "DF") is PlanKind.DISTRITAL


def test_regional_plan_goes_through_cir_cib_saes_portaria_executores() -> None:
    recorded: dict[str, date] = {}
    day = date(2026, 3, 1)
    for kind in ["resolucao_cir", "ciencia_cib", "aprovacao_saes", "portaria_publicada", "resolucao_cib_executores"]:
        steps.check_step(PlanKind.REGIONAL, recorded, kind, day, TODAY)
        recorded[kind] = day
        day += timedelta(days=3)
    assert steps.status_after(PlanKind.REGIONAL, recorded) is VersionStatus.APROVADA
    assert steps.advance_released(recorded)
    assert not steps.executores_late(recorded, TODAY)


def test_saes_before_the_federative_resolution_is_out_of_order() -> None:
    with pytest.raises(ValidationFailed) as exc:
        steps.check_step(PlanKind.REGIONAL, {"resolucao_cir": date(2026, 3, 1)}, "aprovacao_saes", TODAY, TODAY)
    assert exc.value.errors[0].code == "etapa_fora_de_ordem"
    assert exc.value.errors[0].field == "kind"


def test_a_cib_resolution_does_not_approve_a_regional_plan() -> None:
    with pytest.raises(ValidationFailed) as exc:
        steps.check_step(PlanKind.REGIONAL, {}, "resolucao_cib", TODAY, TODAY)
    assert exc.value.errors[0].code == "etapa_nao_se_aplica"
    with pytest.raises(ValidationFailed):
        steps.check_step(PlanKind.ESTADUAL, {}, "resolucao_cgses_df", TODAY, TODAY)
    steps.check_step(PlanKind.DISTRITAL, {}, "resolucao_cgses_df", TODAY, TODAY)


def test_dates_may_not_go_back_nor_into_the_future() -> None:
    with pytest.raises(ValidationFailed) as exc:
        steps.check_step(
            PlanKind.ESTADUAL, {"resolucao_cib": date(2026, 5, 2)}, "aprovacao_saes", date(2026, 5, 1), TODAY
        )
    assert exc.value.errors[0].code == "data_anterior_a_etapa_previa"
    with pytest.raises(ValidationFailed) as exc:
        steps.check_step(PlanKind.ESTADUAL, {}, "resolucao_cib", TODAY + timedelta(days=1), TODAY)
    assert exc.value.errors[0].code == "data_futura"


def test_a_step_is_recorded_once() -> None:
    with pytest.raises(Conflict):
        steps.check_step(PlanKind.ESTADUAL, {"resolucao_cib": TODAY}, "resolucao_cib", TODAY, TODAY)


def test_executing_managers_named_late_is_flagged() -> None:
    published = {"aprovacao_saes": date(2026, 4, 1), "portaria_publicada": date(2026, 4, 10)}
    assert not steps.executores_late(published, date(2026, 4, 20))
    assert steps.executores_late(published, date(2026, 4, 21))  # still missing after ten days
    assert steps.executores_late({**published, "resolucao_cib_executores": date(2026, 4, 25)}, TODAY)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(PlanKind)),
    attempts=st.lists(
        st.tuples(st.sampled_from([r.kind for r in steps.STEP_RULES]), st.integers(min_value=0, max_value=400)),
        max_size=14,
    ),
)
def test_any_sequence_of_attempts_keeps_the_workflow_consistent(
    kind: PlanKind, attempts: list[tuple[str, int]]
) -> None:
    """Whatever is tried in whatever order: only applicable steps are recorded, each after its prerequisites and
    not dated before them; the version is approved exactly when the SAES approval is recorded, and frozen as soon
    as any federative step is."""
    start = date(2025, 11, 1)
    recorded: dict[str, date] = {}
    for step, offset in attempts:
        on = start + timedelta(days=offset)
        try:
            rule = steps.check_step(kind, recorded, step, on, TODAY)
        except (ValidationFailed, Conflict):
            continue
        assert kind in rule.plans
        for required in rule.requires:
            if any(r.kind == required for r in steps.path(kind)):
                assert required in recorded and recorded[required] <= on
        recorded[step] = on
        assert on <= TODAY
    status = steps.status_after(kind, recorded)
    assert (status is VersionStatus.APROVADA) == ("aprovacao_saes" in recorded)
    assert (status is VersionStatus.RASCUNHO) == (not recorded)
    assert steps.advance_released(recorded) <= ("portaria_publicada" in recorded)
    order = [r.kind for r in steps.path(kind)]
    # every next step offered is applicable and new
    for r in steps.next_steps(kind, recorded):
        assert r.kind in order and r.kind not in recorded
