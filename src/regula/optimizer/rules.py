"""The allocation rules for one entry and one bucket, written plainly (scalar Python).

This is the reference the validator and the greedy baseline use; the flow model implements the same rules over
numpy arrays at class level (``problem.py``), and the validator — which only uses this module — is what checks that
both agree on every solution.

Rules (the docstring of ``docs/allocation-instance.md`` says the same for people):

* OCI: the bucket's OCI is the entry's.
* Sex and age: the provider's restrictions for the OCI (``bucket.sex``, ``age_min``/``age_max``, inclusive).
* Regionalization: the bucket's municipality/region/macro/UF code (by the entry's scope kind) equals the entry's
  scope code, after escalation (Portaria GM/MS 3.492/2024 art. 9 IV: the executing providers of the region).
* Unavailable dates: none of the entry's unavailable dates falls in ``[bucket.date, bucket.date + days)``.
* Short notice: a bucket starting less than ``short_notice_days`` after ``today`` only for entries that accept it.
* Deadline: a bucket dated after the entry's deadline is late: forbidden or penalized (``late_policy``).
* Travel: a face-to-face bucket farther from the entry's municipality than the OCI's maximum travel distance
  (``params.max_travel_km_by_oci``, else ``params.max_travel_km``) is not eligible; teleconsultation is 0 km. The
  limit keeps care regionalized (Portaria GM/MS 3.492/2024 art. 3 III: specialized care organized by region, PRI) and
  avoids unnecessary travel (art. 5 §3 and art. 10 §2 III: "evitar deslocamentos ... desnecessários").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from regula.optimizer.instance import Bucket, Entry, Instance, Params, Quota

EARTH_RADIUS_KM: Final = 6371.0088

#: Stable codes and Portuguese messages of the pair rules.
PAIR_RULES: Final[dict[str, str]] = {
    "oci_incompativel": "a vaga é de outra OCI",
    "sexo_incompativel": "o estabelecimento não atende este sexo nesta OCI",
    "idade_incompativel": "a idade está fora da faixa atendida pelo estabelecimento nesta OCI",
    "fora_da_abrangencia": "o estabelecimento está fora da abrangência da entrada",
    "data_indisponivel": "a pessoa declarou indisponibilidade nesta data",
    "aviso_curto": "a vaga é de aviso curto e a pessoa não aceita",
    "apos_prazo": "a vaga é posterior ao prazo do tM",
    "distancia_acima_do_limite": "o estabelecimento fica além da distância máxima de deslocamento desta OCI",
}


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> int:
    """Great-circle distance in whole kilometres (rounded half up), the one function every component uses."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return math.floor(2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h))) + 0.5)


class Travel:
    """Kilometres between municipalities: an explicit distance wins, then the haversine of the coordinates."""

    def __init__(self, instance: Instance) -> None:
        self._explicit = {(d.from_ibge, d.to_ibge): d.km for d in instance.distances}
        self._coords = instance.municipalities
        self._cache: dict[tuple[str, str], int] = {}

    def km(self, origin: str, destination: str) -> int:
        key = (origin, destination)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if key in self._explicit:
            value = self._explicit[key]
        elif (destination, origin) in self._explicit:
            value = self._explicit[(destination, origin)]
        elif origin in self._coords and destination in self._coords:
            value = haversine_km(self._coords[origin], self._coords[destination])
        elif origin == destination:
            value = 0
        else:
            raise KeyError(f"sem distância entre {origin} e {destination}")
        self._cache[key] = value
        return value


def scope_matches(scope_kind: str, scope_code: str, bucket: Bucket) -> bool:
    attr = {
        "municipality": bucket.municipality_ibge,
        "region": bucket.region_code,
        "macro": bucket.macro_code,
        "uf": bucket.uf,
    }[scope_kind]
    return attr == scope_code


def is_late(entry: Entry, bucket: Bucket) -> bool:
    return bucket.date > entry.deadline


def travel_limit_km(params: Params, oci_code: str, *, teleconsultation: bool = False) -> int | None:
    """The maximum travel distance for a bucket of ``oci_code`` (``None``: no limit). The OCI's own limit wins over
    the general one; a teleconsultation involves no trip, so it has none (Portaria GM/MS 3.492/2024 art. 3 III,
    art. 10 §2 III)."""
    if teleconsultation:
        return None
    return params.max_travel_km_by_oci.get(oci_code, params.max_travel_km)


def pair_violations(
    entry: Entry,
    bucket: Bucket,
    params: Params,
    scope: tuple[str, str] | None = None,
    *,
    deadline_hard: bool = False,
    travel: Travel | None = None,
) -> list[str]:
    """Codes of the pair rules this (entry, bucket) breaks; empty when the entry may use the bucket.

    ``scope`` overrides the entry's own scope (after escalation); ``deadline_hard`` treats a late bucket as
    ineligible whatever the policy (the escalation test asks for a bucket *before* the deadline). ``travel`` gives
    the kilometres for the travel limit: it is required whenever a limit applies to the pair (a caller that forgot
    it would silently skip the rule)."""
    kind, code = scope or (entry.scope_kind, entry.scope_code)
    out: list[str] = []
    if bucket.oci_code != entry.oci_code:
        out.append("oci_incompativel")
    if bucket.sex is not None and bucket.sex != entry.sex:
        out.append("sexo_incompativel")
    if (bucket.age_min is not None and entry.age_years < bucket.age_min) or (
        bucket.age_max is not None and entry.age_years > bucket.age_max
    ):
        out.append("idade_incompativel")
    if not scope_matches(kind, code, bucket):
        out.append("fora_da_abrangencia")
    end = bucket.date + timedelta(days=bucket.days)
    if any(bucket.date <= d < end for d in entry.unavailable_dates):
        out.append("data_indisponivel")
    if not entry.accepts_short_notice and (bucket.date - params.today).days < params.short_notice_days:
        out.append("aviso_curto")
    if is_late(entry, bucket) and (deadline_hard or params.late_policy == "forbid"):
        out.append("apos_prazo")
    limit = travel_limit_km(params, entry.oci_code, teleconsultation=bucket.teleconsultation)
    if limit is not None:
        if travel is None:
            raise ValueError("pair_violations: a travel limit applies; pass travel=Travel(instance)")
        if travel.km(entry.municipality_ibge, bucket.municipality_ibge) > limit:
            out.append("distancia_acima_do_limite")
    return out


@dataclass(frozen=True)
class CostParts:
    value: int
    earliness: int
    travel_km: int
    travel_cost: int
    lateness: int

    @property
    def cost(self) -> int:
        return -self.value + self.earliness + self.travel_cost + self.lateness


def level_of(priority: int, params: Params) -> int:
    return priority // params.priority_band


def cost_parts(entry: Entry, bucket: Bucket, params: Params, travel: Travel) -> CostParts:
    w = params.weights
    level = level_of(entry.priority, params)
    days = max(0, (bucket.date - params.today).days)
    km = 0 if bucket.teleconsultation else travel.km(entry.municipality_ibge, bucket.municipality_ibge)
    late = w.lateness_penalty if is_late(entry, bucket) else 0
    return CostParts(
        value=w.value_base + w.value_per_level * level,
        earliness=w.earliness_per_level_day * (level + 1) * days,
        travel_km=km,
        travel_cost=w.travel_per_km * km,
        lateness=late,
    )


def quota_counts(entry: Entry, bucket: Bucket, quota: Quota) -> bool:
    """A quota counts an assignment when the entry lives in the quota's municipality and the bucket is of the
    quota's provider and OCI, dated inside ``[start, end]`` (the PPI/PAR agreements)."""
    return (
        entry.municipality_ibge == quota.municipality_ibge
        and bucket.provider_cnes == quota.provider_cnes
        and bucket.oci_code == quota.oci_code
        and quota.start <= bucket.date <= quota.end
    )
