"""The demonstration's providers: fictitious establishments in SC's larger municipalities, the OCIs each offers,
six weeks of agenda, the bookings of the entries already scheduled and a few PPI quotas.

Every health region has a reference unit (a municipal policlinic, a contracted hospital or a unit of the
complementary component) in its largest town; oncology and the rarer ophthalmology are in the bigger centres.
A queue is served only by providers inside its scope (allocation widens it only by escalation), so the PAR of
each scope names a provider for every OCI it regulates: whatever the list below leaves out of a scope falls to
that scope's reference unit (:meth:`Network.build`).

The CNES numbers (9900001, 9900002, …) are fictitious, taken from a range that reads as reserved; the names are
invented and do not designate real units. The municipalities are the real IBGE ones.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from regula.catalog.schemas import OciSummary
from regula.seed import PROVIDER_DAY_CNES
from regula.territory.reference import Municipality, territory

Scope = tuple[str, str]  # (scope kind, scope code) of a queue
QueueKey = tuple[str, str, str]  # (OCI, scope kind, scope code)

#: The establishment of the demo's executante user (``regula.seed.DEMO_USERS``) is the first one, the Policlínica
#: Municipal Centro of Florianópolis (on a database where nobody registered that number before the demo).
FIRST_CNES: Final = int(PROVIDER_DAY_CNES)
WEEKS: Final = 6  # agenda published ahead
SESSIONS: Final = (8 * 60, 13 * 60 + 30)  # morning and afternoon sessions, minutes after midnight (local)
TELE_SHARE: Final = 0.3  # of the sessions of an OCI offered by teleconsultation

# Offer groups (besides 4-digit subgroups, which mean all their OCIs, and single 10-digit OCI codes).
GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "onco_mulher": ("0901010014", "0901010090", "0901010103", "0901010057", "0901010111", "0901010120"),
    "olhos": ("0905010035", "0905010043"),  # from 9 years, diabetic retinopathy
    "olhos_infantil": ("0905010019", "0905010027"),  # 0 to 8 years, strabismus
    "olhos_especial": ("0905010051", "0905010060", "0905010078"),  # ocular oncology, neuro, under sedation
    "orto_basica": ("0903010011", "0903010020"),  # radiology, ultrasound
    "orto_imagem": ("0903010038", "0903010046"),  # tomography, magnetic resonance
}


@dataclass(frozen=True)
class EstablishmentSpec:
    name: str
    municipality: str  # IBGE
    kind: str
    offers: tuple[str, ...]  # groups, subgroups or OCI codes
    weight: float = 1.0  # share of its scope's capacity for the OCIs it offers, relative to the others
    habilitacoes: tuple[str, ...] = ()
    teleconsultation: tuple[str, ...] = ()  # OCIs (or groups) also offered by teleconsultation
    age_max_years: int | None = None  # a restriction of its own on every offer (a paediatric service)


BASIC: Final = ("0902", "0903", "0904", "0906", "olhos")

ESTABLISHMENTS: Final[tuple[EstablishmentSpec, ...]] = (
    # Grande Florianópolis (42007)
    EstablishmentSpec(
        "Policlínica Municipal Centro", "4205407", "proprio", BASIC, 3.0, teleconsultation=("0902010026", "0904")
    ),
    EstablishmentSpec(
        "Instituto Ilha de Oncologia e Oftalmologia", "4205407", "contratado", ("0901", "olhos", "olhos_especial"), 3.0
    ),
    EstablishmentSpec(
        "Hospital Infantil Ilha Verde",
        "4205407",
        "proprio",
        ("olhos_infantil", "0905010078"),
        1.0,
        age_max_years=14,
    ),
    EstablishmentSpec("Centro de Especialidades de São José", "4216602", "proprio", ("0902", "0903", "0906"), 2.0),
    EstablishmentSpec(
        "Unidade Agora Tem Especialistas São José",
        "4216602",
        "complementar_1",
        ("orto_imagem", "onco_mulher", "olhos"),
        1.5,
        habilitacoes=("3802",),
    ),
    # Nordeste (42011)
    EstablishmentSpec(
        "Policlínica Municipal Boa Vista",
        "4209102",
        "proprio",
        (*BASIC, "olhos_infantil"),
        3.0,
        teleconsultation=("0902010026",),
    ),
    EstablishmentSpec(
        "Hospital Filantrópico Dona Francisca", "4209102", "contratado", ("0901", "olhos_especial", "0902010034"), 2.0
    ),
    # Médio Vale do Itajaí (42006)
    EstablishmentSpec(
        "Policlínica Municipal de Blumenau", "4202404", "proprio", ("0902", "0904", "0906", "olhos", "olhos_infantil")
    ),
    EstablishmentSpec(
        "Hospital Beneficente Vale Europeu", "4202404", "contratado", ("0901", "0903", "olhos_especial"), 2.0
    ),
    EstablishmentSpec(
        "Vale Saúde Operadora de Planos (Ressarcimento)",
        "4202404",
        "operadora",
        ("orto_imagem", "0902010034"),
        0.8,
    ),
    EstablishmentSpec(
        "Centro de Especialidades de Brusque", "4202909", "proprio", ("0902", "orto_basica", "0906", "olhos"), 1.2
    ),
    # Foz do Rio Itajaí (42005)
    EstablishmentSpec(
        "Policlínica Municipal de Itajaí",
        "4208203",
        "proprio",
        (*BASIC, "olhos_infantil"),
        2.0,
        teleconsultation=("0902010026", "0902010018"),
    ),
    EstablishmentSpec(
        "Hospital Litoral Norte", "4208203", "contratado", ("0901", "olhos_especial", "orto_imagem"), 1.5
    ),
    # Oeste (42002)
    EstablishmentSpec(
        "Centro Agora Tem Especialistas Chapecó",
        "4204202",
        "complementar_1",
        ("0902", "0903", "olhos", "olhos_infantil"),
        2.0,
        habilitacoes=("3802",),
        teleconsultation=("0902010026",),
    ),
    EstablishmentSpec(
        "Hospital Filantrópico Oeste Catarinense", "4204202", "contratado", ("0901", "0904", "0906", "olhos_especial")
    ),
    # Xanxerê (42003)
    EstablishmentSpec("Centro de Especialidades de Xanxerê", "4219507", "contratado", BASIC),
    # Extremo Oeste (42001)
    EstablishmentSpec("Hospital Fronteira Oeste", "4217204", "contratado", ("0901", "0903", "0906", "olhos_especial")),
    EstablishmentSpec(
        "Equipes Volantes de Especialidades do Extremo Oeste",
        "4217204",
        "complementar_2",
        ("0902", "0904", "olhos", "olhos_infantil"),
        habilitacoes=("3803",),
    ),
    # Alto Uruguai Catarinense (42010)
    EstablishmentSpec("Policlínica Municipal de Concórdia", "4204301", "proprio", BASIC),
    # Meio Oeste (42008)
    EstablishmentSpec(
        "Hospital Escola do Meio-Oeste", "4209003", "contratado", (*BASIC, "0901", "olhos_infantil", "olhos_especial")
    ),
    # Alto Vale do Rio do Peixe (42009)
    EstablishmentSpec(
        "Policlínica Municipal de Caçador",
        "4203006",
        "proprio",
        (*BASIC, "onco_mulher", "olhos_infantil"),
        teleconsultation=("0902010026",),
    ),
    # Serra Catarinense (42013)
    EstablishmentSpec("Policlínica da Serra", "4209300", "proprio", (*BASIC, "olhos_infantil"), 2.0),
    EstablishmentSpec("Hospital Araucária", "4209300", "contratado", ("0901", "olhos_especial")),
    # Alto Vale do Itajaí (42004)
    EstablishmentSpec(
        "Centro Regional de Especialidades do Alto Vale",
        "4214805",
        "proprio",
        (*BASIC, "onco_mulher", "0901010081", "olhos_infantil"),
        teleconsultation=("0902010026", "0906010012"),
    ),
    # Planalto Norte (42012)
    EstablishmentSpec("Policlínica do Planalto Norte", "4210100", "proprio", (*BASIC, "onco_mulher")),
    # Vale do Itapocu (42017)
    EstablishmentSpec(
        "Policlínica Municipal de Jaraguá do Sul", "4208906", "proprio", (*BASIC, "onco_mulher", "olhos_infantil"), 2.0
    ),
    # Carbonífera (42015), Laguna (42016) and Extremo Sul (42014): one queue per OCI for the Sul macro-region
    EstablishmentSpec(
        "Policlínica Municipal de Criciúma",
        "4204608",
        "proprio",
        (*BASIC, "olhos_infantil"),
        2.0,
        teleconsultation=("0902010026",),
    ),
    EstablishmentSpec("Hospital Carbonífero", "4204608", "contratado", ("0901", "olhos_especial", "orto_imagem")),
    EstablishmentSpec(
        "Centro de Especialidades de Tubarão", "4218707", "contratado", ("0902", "0903", "0906", "olhos", "onco_mulher")
    ),
    EstablishmentSpec(
        "Unidade Móvel Saúde da Mulher do Extremo Sul",
        "4201406",
        "complementar_3",
        ("onco_mulher", "0906010012", "0906010020"),
        0.6,
        habilitacoes=("3804",),
    ),
)

# PPI agreements shown in the demo: (establishment name, OCI, municipality, share of the establishment's free places
# of each agenda day that the municipality may use at most, besides what it already holds).
QUOTAS: Final[tuple[tuple[str, str, str, float], ...]] = (
    ("Policlínica Municipal Boa Vista", "0905010035", "4216206", 0.06),  # São Francisco do Sul
    ("Policlínica Municipal Boa Vista", "0905010035", "4201307", 0.04),  # Araquari
    ("Policlínica Municipal de Itajaí", "0902010026", "4202008", 0.12),  # Balneário Camboriú
    ("Policlínica Municipal de Itajaí", "0902010026", "4211306", 0.08),  # Navegantes
)


@dataclass(slots=True)
class Offer:
    cnes: str
    oci_code: str
    age_max_years: int | None
    teleconsultation: bool
    weight: float


@dataclass(slots=True)
class Establishment:
    cnes: str
    spec: EstablishmentSpec
    place: Municipality
    scope: Scope
    offers: dict[str, Offer] = field(default_factory=dict)


@dataclass(frozen=True)
class Booked:
    """An entry already scheduled: where and when (days after today's local midnight)."""

    entry_id: int
    oci_code: str
    scope: Scope
    cnes: str
    at: float
    booked_at: datetime


def _expand(items: Iterable[str], codes: Sequence[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item in GROUPS:
            wanted = [c for c in GROUPS[item] if c in codes]
        elif len(item) == 4:
            wanted = [c for c in codes if c.startswith(item)]
        else:
            wanted = [item] if item in codes else []
        out.extend(c for c in wanted if c not in out)
    return out


class Network:
    """The establishments and their offers, and which one serves a person of a queue."""

    def __init__(self, establishments: list[Establishment], ocis: dict[str, OciSummary], filled: int) -> None:
        self.establishments = establishments
        self.ocis = ocis
        self.filled = filled  # offers given to a scope's reference unit because nobody else in the scope had them
        self.by_name = {e.spec.name: e for e in establishments}
        self.by_cnes = {e.cnes: e for e in establishments}
        self._in_scope: dict[tuple[str, Scope], list[tuple[Establishment, Offer]]] = {}
        for est in establishments:
            for offer in est.offers.values():
                self._in_scope.setdefault((offer.oci_code, est.scope), []).append((est, offer))
        self._nearest: dict[tuple[str, str], list[tuple[Establishment, Offer]]] = {}

    @classmethod
    def build(
        cls,
        ocis: Sequence[OciSummary],
        scope_of: Callable[[Municipality], Scope],
        taken_cnes: set[str],
        specs: Sequence[EstablishmentSpec] = ESTABLISHMENTS,
    ) -> Network:
        t = territory()
        codes = [o.code for o in ocis]
        by_code = {o.code: o for o in ocis}
        establishments: list[Establishment] = []
        number = FIRST_CNES
        for spec in specs:
            while str(number) in taken_cnes:  # never touch an establishment somebody registered
                number += 1
            place = t.municipality(spec.municipality)
            est = Establishment(str(number), spec, place, scope_of(place))
            number += 1
            tele = set(_expand(spec.teleconsultation, codes))
            for code in _expand(spec.offers, codes):
                weight = spec.weight * (0.5 if spec.age_max_years is not None else 1.0)
                est.offers[code] = Offer(est.cnes, code, spec.age_max_years, code in tele, weight)
            establishments.append(est)
        # Every OCI of the catalog needs a provider in every scope that regulates it, without restrictions
        # narrower than the catalog's: what is missing goes to the scope's reference unit (its first one).
        reference: dict[Scope, Establishment] = {}
        covered: set[tuple[str, Scope]] = set()
        for est in establishments:
            reference.setdefault(est.scope, est)
            for offer in est.offers.values():
                if _unrestricted(offer, by_code[offer.oci_code]):
                    covered.add((offer.oci_code, est.scope))
        scopes = sorted({scope_of(m) for m in t.by_uf("SC")})
        filled = 0
        for scope in scopes:
            ref = reference.get(scope)
            if ref is None:
                raise ValueError(f"no demo establishment in scope {scope}")
            for code in codes:
                if (code, scope) not in covered:
                    ref.offers[code] = Offer(ref.cnes, code, None, False, ref.spec.weight)
                    filled += 1
        return cls(establishments, by_code, filled)

    def offers(self, oci_code: str, scope: Scope) -> list[tuple[Establishment, Offer]]:
        return self._in_scope.get((oci_code, scope), [])

    def provider_for(self, oci_code: str, scope: Scope, place: Municipality, age: int) -> Establishment:
        """The nearest establishment of the queue's scope offering the OCI to a person of this age."""
        key = (oci_code, place.ibge_code)
        ranked = self._nearest.get(key)
        if ranked is None:
            t = territory()
            ranked = sorted(self.offers(oci_code, scope), key=lambda p: (t.distance_km(place, p[0].place), p[0].cnes))
            self._nearest[key] = ranked
        for est, offer in ranked:
            if offer.age_max_years is None or age <= offer.age_max_years:
                return est
        raise LookupError(f"no demo provider of {oci_code} in {scope}")

    # -- rows ----------------------------------------------------------------------------------------------------

    def establishment_rows(self, now: datetime) -> list[dict[str, Any]]:
        return [
            {
                "cnes": e.cnes,
                "name": e.spec.name,
                "municipality_ibge": e.place.ibge_code,
                "uf": e.place.uf,
                "kind": e.spec.kind,
                "habilitacoes": list(e.spec.habilitacoes),
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            for e in self.establishments
        ]

    def offer_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "cnes": o.cnes,
                "oci_code": o.oci_code,
                "age_min_years": None,
                "age_max_years": o.age_max_years,
                "sex": None,
                "teleconsultation": o.teleconsultation,
                "active": True,
            }
            for e in self.establishments
            for o in sorted(e.offers.values(), key=lambda o: o.oci_code)
        ]


def _unrestricted(offer: Offer, oci: OciSummary) -> bool:
    """The offer takes everyone the catalog allows (a paediatric unit covers an OCI for children only)."""
    if offer.age_max_years is None:
        return True
    return oci.age_max_months is not None and oci.age_max_months < (offer.age_max_years + 1) * 12


SlotRow = tuple[str, str, float, str, int, int, str]  # cnes, OCI, at (days), modality, capacity, booked, external id


def _stamp(at: float, anchor: datetime) -> str:
    when = anchor + timedelta(days=at)
    return f"{when:%Y%m%d}{round((at - math.floor(at)) * 1440):04d}"


def agenda(
    network: Network,
    capacities: dict[QueueKey, int],
    booked: Sequence[Booked],
    *,
    weekday_today: int,
    anchor: datetime,
    rng: random.Random,
) -> list[SlotRow]:
    """Six weeks of agenda from tomorrow: the slots of the entries already scheduled (full), then morning and
    afternoon sessions on weekdays so that each queue's places per week add up to its weekly capacity (what the
    scheduled entries already took of a week is not offered again)."""
    rows: list[SlotRow] = []
    taken: Counter[tuple[str, str, float]] = Counter((b.cnes, b.oci_code, b.at) for b in booked)
    for (cnes, oci, at), n in sorted(taken.items()):
        rows.append((cnes, oci, at, "presencial", n, n, f"demo-{oci}-{_stamp(at, anchor)}-agendados"))
    used: Counter[tuple[str, str, str, int]] = Counter()
    for b in booked:
        used[(b.oci_code, *b.scope, (math.floor(b.at) - 1) // 7)] += 1
    weekdays = [[d for d in range(1 + 7 * k, 8 + 7 * k) if (weekday_today + d) % 7 < 5] for k in range(WEEKS)]
    for (oci, kind, code), weekly in sorted(capacities.items()):
        offers = network.offers(oci, (kind, code))
        if not offers or weekly <= 0:
            continue
        given = [0] * len(offers)
        for week in range(WEEKS):
            places = max(0, weekly - used[(oci, kind, code, week)])
            share = [0] * len(offers)
            for _ in range(places):  # each place to the provider furthest below its share so far
                i = min(range(len(offers)), key=lambda j: ((given[j] + 1) / offers[j][1].weight, j))
                given[i] += 1
                share[i] += 1
            for (est, offer), n in zip(offers, share, strict=True):
                if n:
                    rows.extend(_sessions(est.cnes, offer, n, weekdays[week], anchor, rng))
    return rows


def _sessions(
    cnes: str, offer: Offer, places: int, days: list[int], anchor: datetime, rng: random.Random
) -> list[SlotRow]:
    sessions = [day + minutes / 1440 for day in days for minutes in SESSIONS]
    count = min(places, len(sessions))
    start = rng.randrange(len(sessions))
    chosen = sorted({sessions[(start + i * len(sessions) // count) % len(sessions)] for i in range(count)})
    out: list[SlotRow] = []
    for i, at in enumerate(chosen):
        capacity = places // len(chosen) + (1 if i < places % len(chosen) else 0)
        modality = "teleconsulta" if offer.teleconsultation and rng.random() < TELE_SHARE else "presencial"
        out.append(
            (
                cnes,
                offer.oci_code,
                at,
                modality,
                capacity,
                0,
                f"demo-{offer.oci_code}-{_stamp(at, anchor)}-{modality[0]}",
            )
        )
    return out
