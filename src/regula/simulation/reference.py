"""The reference data a simulation needs, read from the files shipped with regula (never the operational database):
the territory (IBGE municipalities, health regions, macro-regions), the OCI catalog (the bundled SIGTAP file, tM by
``catalog.policy.max_days``) and the demo's provider network (``regula.demo.providers``: which establishments of
each queue's scope offer each OCI, with their restrictions, weights and teleconsultation).

A queue's scope follows the demo's configuration of SC (``demo.loading._scope_kinds``): the health region, except the
Sul's regions (``demo.generation.MACRO_SCOPE_MACROS``), which share one queue per OCI at the macro-region.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from regula.catalog import policy
from regula.catalog.schemas import OciSummary
from regula.catalog.service import bundled_sigtap_zip
from regula.catalog.sigtap import parse_sigtap_zip
from regula.config import Settings
from regula.demo import providers as demo_providers
from regula.demo.generation import MACRO_SCOPE_MACROS
from regula.territory.reference import Municipality, territory

MANDATORY = "5"  # SIGTAP TP_COMPATIBILIDADE of an OCI's mandatory procedures (catalog.sigtap.SigtapSecondary)


@dataclass(frozen=True, slots=True)
class Oci:
    summary: OciSummary
    procedures: int  # mandatory procedures of the OCI (at least 1): how many steps its execution has


@dataclass(frozen=True, slots=True)
class Reference:
    ocis: tuple[Oci, ...]
    municipalities: tuple[Municipality, ...]  # of the UF, in IBGE order
    network: demo_providers.Network


def scope_of(place: Municipality) -> tuple[str, str]:
    """The queue scope of a municipality: its health region, or the macro-region for the Sul (as the demo)."""
    if place.health_region_code is None:
        return "macro", place.macro_code
    if place.macro_code in MACRO_SCOPE_MACROS:
        return "macro", place.macro_code
    return "region", place.health_region_code


@lru_cache(maxsize=1)
def _catalog() -> tuple[Oci, ...]:
    settings = Settings()
    catalog = parse_sigtap_zip(bundled_sigtap_zip())
    out = []
    for o in sorted(catalog.ocis, key=lambda o: o.code):
        summary = OciSummary(
            code=o.code,
            name=o.name,
            competencia=catalog.competencia,
            subgroup=o.subgroup_code,
            subgroup_name=o.subgroup_name,
            forma_organizacao=o.forma_code,
            forma_organizacao_name=o.forma_name,
            value_brl=Decimal(o.value_total),
            max_days=policy.max_days(o.subgroup_code, settings),
            sex=o.sex,
            age_min_months=o.age_min_months,
            age_max_months=o.age_max_months,
            mandatory=[],
            optional=[],
            consultation_one_of=[],
            min_secondaries=None,
            one_of_groups=[],
            cids=[],
            attributes=[],
        )
        mandatory = sum(1 for s in o.secondaries if s.compatibility_type == MANDATORY)
        out.append(Oci(summary, max(1, mandatory)))
    return tuple(out)


@lru_cache(maxsize=4)
def reference(uf: str) -> Reference:
    ocis = _catalog()
    places = tuple(sorted(territory().by_uf(uf), key=lambda m: m.ibge_code))
    network = demo_providers.Network.build([o.summary for o in ocis], scope_of, set())
    return Reference(ocis, places, network)
