"""Demand of a simulation: the referrals of a UF over the simulated months, drawn from the demo generator's
distributions (``regula.demo.generation``: municipality by population, race/colour close to the 2022 Census, sex,
age bands, the OCI by its referral volume and the person's sex and age, the risk class, phone, channel, consent,
CadÚnico and vulnerability) — the same tables the demonstration database is generated from, never a copy.

Everything is drawn from ``numpy.random.Generator(PCG64(seed))`` in a fixed order, so a seed gives the same
referrals, and the per-referral draws that decide behaviour (:func:`uniform`) are a hash of (seed, referral, event,
attempt): every policy compared on the same seed meets the same people making the same choices (common random
numbers), whatever order the policy handles them in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from regula.demo import generation as demo
from regula.simulation.reference import Reference, scope_of
from regula.simulation.scenario import Scenario

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

RISK_CLASSES: Final = demo.RISK_CLASSES
CHANNELS: Final = ("whatsapp", "sms", "nenhum")
RACES: Final = tuple(demo.RACE_WEIGHTS)
SEXES: Final = ("M", "F")
WOMEN_SHARE: Final = 0.56  # the demo generator's share of women among people referred
CADUNICO_SHARE: Final = 0.25
MASK: Final = (1 << 64) - 1


def _mix(x: int) -> int:
    """SplitMix64's finalizer (Steele, Lea and Flood 2014): a well-spread 64-bit hash."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & MASK
    return x ^ (x >> 31)


def uniform(seed: int, referral: int, event: int, attempt: int = 0) -> float:
    """A uniform [0, 1) draw owned by one referral's one decision: the same for every policy (common random numbers)."""
    x = _mix((seed * 0x9E3779B97F4A7C15 + referral) & MASK)
    x = _mix((x + event * 0xD1B54A32D192ED03 + attempt * 0x8CB92BA72F3D8DD7) & MASK)
    return (x >> 11) / 9007199254740992.0


@dataclass(frozen=True, eq=False)
class Demand:
    """The referrals, as columns; referral i is authorized on day ``day[i]`` (days from the scenario's start)."""

    seed: int  # the replication's seed, for :func:`uniform`
    day: I32
    hour: F64  # local time of the authorization, for the messages
    muni: I32  # index into Reference.municipalities
    oci: I32  # index into Reference.ocis
    risk: I32  # index into RISK_CLASSES
    sex: I32  # index into SEXES
    age: I32
    race: I32  # index into RACES
    channel: I32  # index into CHANNELS ("nenhum": no phone)
    consent: B
    cadunico: B
    vulnerability: F64  # NaN: unknown
    pregnant: B
    disability: B
    autism: B
    leave_day: I32  # the day the person would leave a queue while still waiting (withdrawal or death)
    leave_death: B

    @property
    def n(self) -> int:
        return int(self.day.shape[0])

    def reachable(self, i: int) -> bool:
        """Has a phone (a channel) and consented to messages."""
        return bool(self.channel[i] != 2 and self.consent[i])


def _weights(values: list[float]) -> F64:
    w = np.asarray(values, dtype=np.float64)
    out: F64 = w / w.sum()
    return out


def _oci_table(ref: Reference) -> F64:
    """P(OCI | sex, age in years): the demo's volumes times its age/sex factors, within the catalog's limits."""
    table = np.zeros((2, 111, len(ref.ocis)), dtype=np.float64)
    for s, sex in enumerate(SEXES):
        for age in range(111):
            months = age * 12 + 6
            band = demo._age_band(age)
            for k, o in enumerate(ref.ocis):
                oci = o.summary
                if oci.sex and oci.sex != sex:
                    continue
                if oci.age_min_months is not None and months < oci.age_min_months:
                    continue
                if oci.age_max_months is not None and months > oci.age_max_months:
                    continue
                table[s, age, k] = demo.OCI_WEIGHTS.get(oci.code, 1.0) * demo._age_sex_factor(oci, sex, band)
            total = table[s, age].sum()
            if total > 0:
                table[s, age] /= total
    return table


def generate(scenario: Scenario, ref: Reference, seed: int) -> Demand:
    rng = np.random.Generator(np.random.PCG64(seed))
    days = scenario.days
    n = int(rng.poisson(scenario.referrals_per_year * days / 365.25))
    start_weekday = scenario.start_date.weekday()
    workdays = np.array([d for d in range(days) if (start_weekday + d) % 7 < 5], dtype=np.int32)
    day = np.sort(workdays[rng.integers(0, workdays.size, n)]).astype(np.int32)
    hour = np.round(rng.uniform(8.0, 17.5, n), 2)

    places = ref.municipalities
    pop = _weights([float(m.population) for m in places])
    muni = rng.choice(len(places), size=n, p=pop).astype(np.int32)
    races = _weights([demo.RACE_WEIGHTS[r] for r in RACES])
    race = rng.choice(len(RACES), size=n, p=races).astype(np.int32)
    # The indigenous people of SC's villages (demo.INDIGENOUS_SHARE), over the lands' municipalities.
    villages = [ix for ix, m in enumerate(places) if m.ibge_code in demo.INDIGENOUS_MUNICIPALITIES]
    if villages:
        vw = _weights([demo.INDIGENOUS_MUNICIPALITIES[places[ix].ibge_code] for ix in villages])
        indigenous = rng.random(n) < demo.INDIGENOUS_SHARE
        k = int(indigenous.sum())
        muni[indigenous] = np.asarray(villages, dtype=np.int32)[rng.choice(len(villages), size=k, p=vw)]
        race[indigenous] = RACES.index("indigena")
    sex = (rng.random(n) < WOMEN_SHARE).astype(np.int32)  # 1: F
    bands = demo.AGE_BANDS
    band = rng.choice(len(bands), size=n, p=_weights([w for _, _, w in bands]))
    low = np.array([lo for lo, _, _ in bands])[band]
    high = np.array([hi for _, hi, _ in bands])[band]
    age = (low + np.floor(rng.random(n) * (high - low + 1))).astype(np.int32)

    table = _oci_table(ref)
    cum = np.cumsum(table, axis=2)
    u = rng.random(n)
    rows = cum[sex, np.minimum(age, 110)]
    oci = np.minimum((rows < u[:, None]).sum(axis=1), len(ref.ocis) - 1).astype(np.int32)
    oncology = np.array([o.summary.subgroup == demo.ONCOLOGY for o in ref.ocis])[oci]
    risk_general = rng.choice(4, size=n, p=_weights(list(demo.RISK_WEIGHTS)))
    risk_onco = rng.choice(4, size=n, p=_weights(list(demo.RISK_WEIGHTS_ONCOLOGY)))
    risk = np.where(oncology, risk_onco, risk_general).astype(np.int32)

    b = scenario.behaviour
    phone = rng.random(n) < b.phone_share
    cw = _weights([b.whatsapp_share, b.sms_share, max(0.0, 1.0 - b.whatsapp_share - b.sms_share)])
    channel = np.where(phone, rng.choice(3, size=n, p=cw), 2).astype(np.int32)
    consent = (channel != 2) & (rng.random(n) < b.contact_consent)
    cadunico = rng.random(n) < CADUNICO_SHARE
    partial = rng.random(n) < 0.3
    vulnerability = np.where(
        cadunico, rng.uniform(0.35, 0.95, n), np.where(partial, rng.uniform(0.05, 0.5, n), np.nan)
    ).round(3)
    pregnant = (sex == 1) & (age >= 15) & (age <= 44) & (rng.random(n) < 0.04)
    disability = rng.random(n) < 0.035
    autism = rng.random(n) < np.where(age < 18, 0.03, 0.005)

    # Leaving the queue while waiting: constant monthly hazards (withdrawal; death, higher from 80 years).
    per_day = 1.0 / 30.44
    withdraw_rate = -math.log(1.0 - min(b.withdrawal_per_month, 0.999999)) * per_day
    death_month = np.where(age >= 80, b.death_per_month_80_plus, b.death_per_month)
    death_rate = -np.log(1.0 - np.minimum(death_month, 0.999999)) * per_day
    t_withdraw = rng.exponential(1.0, n) / max(withdraw_rate, 1e-12)
    t_death = rng.exponential(1.0, n) / np.maximum(death_rate, 1e-12)
    leave = np.minimum(t_withdraw, t_death)
    leave_day = np.minimum(day + np.ceil(leave), 10 * days + 10).astype(np.int32)
    return Demand(
        seed=seed,
        day=day,
        hour=hour,
        muni=muni,
        oci=oci,
        risk=risk,
        sex=sex,
        age=age,
        race=race,
        channel=channel,
        consent=consent,
        cadunico=cadunico,
        vulnerability=vulnerability,
        pregnant=pregnant,
        disability=disability,
        autism=autism,
        leave_day=leave_day,
        leave_death=t_death < t_withdraw,
    )


def queue_counts(demand: Demand, ref: Reference) -> dict[tuple[int, tuple[str, str]], int]:
    """Referrals per (OCI index, queue scope): what the capacity is sized on."""
    scopes = [scope_of(m) for m in ref.municipalities]
    counts: dict[tuple[int, tuple[str, str]], int] = {}
    keys = demand.oci.astype(np.int64) * 100_000 + demand.muni.astype(np.int64)
    uniq, cnt = np.unique(keys, return_counts=True)
    for key, c in zip(uniq.tolist(), cnt.tolist(), strict=True):
        k = (key // 100_000, scopes[key % 100_000])
        counts[k] = counts.get(k, 0) + c
    return counts
