"""Program rules that SIGTAP does not carry: tM and the PMAE minimum composition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from regula.catalog.policy import (
    CONSULTATION,
    TELECONSULTATION,
    composition_policy,
    max_days,
    pmae_requirement,
)
from regula.catalog.sigtap import SigtapCatalog, parse_sigtap_zip
from regula.config import Settings


@pytest.fixture(scope="module")
def catalog(sigtap_zip: Path) -> SigtapCatalog:
    return parse_sigtap_zip(sigtap_zip)


@pytest.fixture
def defaults() -> Settings:
    # The program's published rule is the default of Settings (an environment could override it).
    assert Settings.model_fields["oci_max_days_oncology"].default == 30
    assert Settings.model_fields["oci_max_days_default"].default == 60
    return Settings(oci_max_days_oncology=30, oci_max_days_default=60)


def test_tm_is_30_days_for_oncology_and_60_for_the_others(defaults: Settings) -> None:
    assert max_days("0901", defaults) == 30
    assert max_days("0901010014", defaults) == 30  # a full OCI code works too
    for subgroup in ("0902", "0903", "0904", "0905", "0906"):
        assert max_days(subgroup, defaults) == 60


def test_tm_is_configurable() -> None:
    settings = Settings(oci_max_days_oncology=15, oci_max_days_default=90)
    assert (max_days("0901", settings), max_days("0905", settings)) == (15, 90)


def test_tm_of_every_official_oci_matches_the_reference(
    catalog: SigtapCatalog, reference: dict[str, dict[str, Any]], defaults: Settings
) -> None:
    for oci in catalog.ocis:
        assert max_days(oci.subgroup_code, defaults) == reference[oci.code]["max_days"], oci.code


def test_pmae_needs_two_secondaries_one_of_them_a_consultation() -> None:
    rule = pmae_requirement(["053", "058"], ["0204030030", CONSULTATION, TELECONSULTATION])
    assert rule.consultation_one_of == (CONSULTATION, TELECONSULTATION)
    assert rule.min_secondaries == 2


def test_only_the_consultation_the_oci_accepts_counts() -> None:
    rule = pmae_requirement(["053"], ["0211060020", CONSULTATION])
    assert rule.consultation_one_of == (CONSULTATION,)
    assert rule.min_secondaries == 2


def test_a_pmae_oci_accepting_neither_code_still_needs_two_secondaries() -> None:
    rule = pmae_requirement(["053"], ["0211060020", "0211060127"])
    assert rule.consultation_one_of == ()
    assert rule.min_secondaries == 2


def test_without_attribute_053_there_is_no_pmae_rule() -> None:
    rule = pmae_requirement(["058"], [CONSULTATION, TELECONSULTATION])
    assert rule.consultation_one_of == ()
    assert rule.min_secondaries is None


def test_consultation_one_of_of_every_official_oci(
    catalog: SigtapCatalog, reference: dict[str, dict[str, Any]], defaults: Settings
) -> None:
    no_teleconsultation = set()
    for oci in catalog.ocis:
        policy = composition_policy(
            subgroup_code=oci.subgroup_code,
            attribute_codes=[a.code for a in oci.attributes],
            secondary_codes=[s.code for s in oci.secondaries],
            settings=defaults,
        )
        ref = reference[oci.code]
        ref_consults = tuple(
            c["code"]
            for g in ref["mandatory_one_of"]
            for c in g["codes"]
            if c["code"] in (CONSULTATION, TELECONSULTATION)
        )
        assert policy.consultation_one_of == ref_consults, oci.code
        assert policy.min_secondaries == ref["min_secondaries"] == 2, oci.code
        if TELECONSULTATION not in policy.consultation_one_of:
            no_teleconsultation.add(oci.code)
    # The known edge cases: cervix II, ENT and ophthalmology OCIs accept only the in-person consultation.
    assert no_teleconsultation == {
        "0901010120",
        "0904010015",
        "0904010023",
        "0904010031",
        "0905010019",
        "0905010027",
        "0905010035",
        "0905010043",
        "0905010051",
        "0905010060",
        "0905010078",
    }


def test_tomography_and_mri_attributes_ask_for_one_exam_of_their_kind(
    catalog: SigtapCatalog, defaults: Settings
) -> None:
    ocis = {oci.code: oci for oci in catalog.ocis}
    for code, attribute, prefix in (("0903010038", "056", "0206"), ("0903010046", "057", "0207")):
        oci = ocis[code]
        policy = composition_policy(
            subgroup_code=oci.subgroup_code,
            attribute_codes=[a.code for a in oci.attributes],
            secondary_codes=[s.code for s in oci.secondaries],
            settings=defaults,
        )
        assert [g.source for g in policy.one_of_groups] == ["053", attribute]
        exams = policy.one_of_groups[1].codes
        assert exams and all(c.startswith(prefix) for c in exams)
        assert set(exams) == {s.code for s in oci.secondaries if s.code.startswith(prefix)}
