"""Small instances for the tests: hand-made pieces and seeded random instances."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from regula.optimizer.instance import Bucket, Entry, Fixed, Instance, Params, Quota, Weights

TODAY = date(2026, 11, 23)

# Two UFs' worth of made-up territory: municipality -> (region, macro, uf, lat, lon)
TERRITORY: dict[str, tuple[str, str, str, float, float]] = {
    "4205407": ("42001", "4201", "42", -27.59, -48.55),  # Florianópolis
    "4211900": ("42001", "4201", "42", -27.66, -48.70),  # Palhoça
    "4209102": ("42002", "4201", "42", -26.30, -48.85),  # Joinville
    "4202404": ("42003", "4202", "42", -26.91, -49.07),  # Blumenau
    "4204202": ("42004", "4203", "42", -27.10, -52.62),  # Chapecó
    "4106902": ("41001", "4101", "41", -25.43, -49.27),  # Curitiba
}
MUNIS = sorted(TERRITORY)
COORDS = {m: (t[3], t[4]) for m, t in TERRITORY.items()}


def entry(id: str, muni: str = "4205407", **kw: Any) -> Entry:
    region, macro, uf, _, _ = TERRITORY[muni]
    data: dict[str, Any] = {
        "id": id,
        "municipality_ibge": muni,
        "priority": 10,
        "authorized_date": TODAY - timedelta(days=10),
        "deadline": TODAY + timedelta(days=50),
        "oci_code": "0901010014",
        "sex": "F",
        "age_years": 50,
        "scope_kind": "region",
        "scope_code": region,
        "macro_code": macro,
        "uf": uf,
    }
    data.update(kw)
    return Entry(**data)


def bucket(id: str, muni: str = "4205407", cnes: str | None = None, **kw: Any) -> Bucket:
    region, macro, uf, _, _ = TERRITORY[muni]
    data: dict[str, Any] = {
        "id": id,
        "provider_cnes": cnes or f"P{muni}",
        "municipality_ibge": muni,
        "region_code": region,
        "macro_code": macro,
        "uf": uf,
        "date": TODAY + timedelta(days=7),
        "oci_code": "0901010014",
        "capacity": 1,
    }
    data.update(kw)
    return Bucket(**data)


def instance(entries: list[Entry], buckets: list[Bucket], quotas: list[Quota] | None = None, **params: Any) -> Instance:
    weights = params.pop("weights", None)
    p = Params(today=TODAY, weights=weights or Weights(), **params)
    return Instance(params=p, entries=entries, buckets=buckets, quotas=quotas or [], municipalities=COORDS)


def random_instance(
    seed: int,
    n_entries: int = 30,
    n_buckets: int = 12,
    *,
    n_quotas: int = 0,
    quota_days: int = 0,
    levels: int = 5,
    unavailable: float = 0.1,
    restrictions: bool = True,
    tele: float = 0.2,
    late_policy: str = "penalize",
    short_notice_days: int = 0,
    ocis: tuple[str, ...] = ("0901010014", "0902010018"),
    weights: Weights | None = None,
) -> Instance:
    """A random instance with every feature switched on. ``quota_days`` 0 makes each quota cover one date (a
    network-exact quota); larger periods mix dates and may need the integer fallback."""
    rng = random.Random(seed)
    providers = [(f"{1000000 + i}", rng.choice(MUNIS)) for i in range(max(2, n_buckets // 4))]
    buckets: list[Bucket] = []
    for j in range(n_buckets):
        cnes, muni = rng.choice(providers)
        kw: dict[str, Any] = {}
        if restrictions and rng.random() < 0.2:
            kw["sex"] = rng.choice(["M", "F"])
        if restrictions and rng.random() < 0.2:
            kw["age_min"] = rng.choice([0, 18, 40])
            kw["age_max"] = rng.choice([60, 80, 130])
        buckets.append(
            bucket(
                f"b{j:03d}",
                muni,
                cnes,
                date=TODAY + timedelta(days=rng.choice([0, 3, 7, 14, 21, 28, 42])),
                days=rng.choice([1, 1, 7]),
                oci_code=rng.choice(ocis),
                capacity=rng.randint(0, 4),
                teleconsultation=rng.random() < tele,
                **kw,
            )
        )
    entries: list[Entry] = []
    for i in range(n_entries):
        muni = rng.choice(MUNIS)
        region, macro, uf, _, _ = TERRITORY[muni]
        kind = rng.choice(["municipality", "region", "region", "macro", "uf"])
        code = {"municipality": muni, "region": region, "macro": macro, "uf": uf}[kind]
        authorized = TODAY - timedelta(days=rng.randint(0, 60))
        unav = []
        if rng.random() < unavailable:
            unav = [TODAY + timedelta(days=rng.randint(0, 45)) for _ in range(rng.randint(1, 3))]
        entries.append(
            entry(
                f"e{i:04d}",
                muni,
                priority=rng.randint(0, levels - 1) * 10 + rng.randint(0, 9),
                authorized_date=authorized,
                deadline=authorized + timedelta(days=rng.choice([30, 60, 90])),
                oci_code=rng.choice(ocis),
                sex=rng.choice(["M", "F"]),
                age_years=rng.randint(0, 95),
                scope_kind=kind,
                scope_code=code,
                unavailable_dates=unav,
                accepts_short_notice=rng.random() < 0.5,
            )
        )
    quotas: list[Quota] = []
    for q in range(n_quotas):
        b = rng.choice(buckets)
        start = b.date if quota_days == 0 else TODAY + timedelta(days=rng.randint(0, 20))
        end = b.date if quota_days == 0 else start + timedelta(days=quota_days)
        quotas.append(
            Quota(
                id=f"q{q:02d}",
                municipality_ibge=rng.choice(MUNIS),
                provider_cnes=b.provider_cnes,
                oci_code=b.oci_code,
                start=start,
                end=end,
                limit=rng.randint(0, 3),
            )
        )
    return instance(
        entries,
        buckets,
        quotas,
        priority_band=10,
        late_policy=late_policy,
        short_notice_days=short_notice_days,
        weights=weights,
    )


def quota_heavy_instance(n_entries: int, seed: int = 2026, *, resolve: bool = False) -> Instance:
    """Municipal quotas that cannot stay inside the network: every municipality has a four-week quota at every
    provider of its macro-region and OCI, overlapped by a two-week quota at some of them, over buckets on several
    dates, for entries of several priority levels and eligibilities (issue 18, item 4). Scarce capacity (about 0.6
    place per entry), so the quotas bind.

    ``resolve``: the daily re-solve after churn. Yesterday's proposals for the first 85% of the entries come from
    the greedy baseline (solver-free, so the instance does not depend on the solver under test); every third of them
    is pinned (already notified), the others are incumbents; the remaining 15% are new entries."""
    from regula.optimizer.greedy import solve_greedy

    rng = random.Random(seed)
    ocis = ("0901010014", "0902010018")
    providers = [(f"{3000000 + i}", MUNIS[i % len(MUNIS)]) for i in range(2 * len(MUNIS))]
    dates = [TODAY + timedelta(days=7 * w + d) for w in range(8) for d in range(5)]  # weekdays, eight weeks
    scale = n_entries / 700
    mean_cap = 0.6 * n_entries / (len(providers) * len(ocis) * len(dates))
    buckets: list[Bucket] = []
    for cnes, muni in providers:
        for oci in ocis:
            restrict: dict[str, Any] = {}
            if rng.random() < 0.25:
                restrict["age_min"] = 18
            if rng.random() < 0.15:
                restrict["sex"] = "F"
            for d in dates:
                cap = rng.randint(0, max(1, round(2 * mean_cap)))
                buckets.append(
                    bucket(
                        f"{cnes}-{oci[-4:]}-{d.isoformat()}",
                        muni,
                        cnes,
                        date=d,
                        oci_code=oci,
                        capacity=cap,
                        **restrict,
                    )
                )
    quotas: list[Quota] = []
    for muni in MUNIS:
        macro = TERRITORY[muni][1]
        for cnes, pmuni in providers:
            if TERRITORY[pmuni][1] != macro:
                continue
            for oci in ocis:
                start = TODAY + timedelta(days=7 * rng.randint(0, 2))
                quotas.append(
                    Quota(
                        id=f"q{len(quotas):04d}",
                        municipality_ibge=muni,
                        provider_cnes=cnes,
                        oci_code=oci,
                        start=start,
                        end=start + timedelta(days=7 * rng.randint(2, 4) - 1),
                        limit=max(1, round(rng.randint(1, 6) * scale)),
                    )
                )
                if rng.random() < 0.5:
                    start2 = start + timedelta(days=7 * rng.randint(0, 2))
                    quotas.append(
                        Quota(
                            id=f"q{len(quotas):04d}",
                            municipality_ibge=muni,
                            provider_cnes=cnes,
                            oci_code=oci,
                            start=start2,
                            end=start2 + timedelta(days=13),
                            limit=max(1, round(rng.randint(1, 3) * scale)),
                        )
                    )
    entries: list[Entry] = []
    for i in range(n_entries):
        muni = rng.choice(MUNIS)
        region, macro, uf, _, _ = TERRITORY[muni]
        kind = rng.choice(["region", "macro", "macro", "uf"])
        authorized = TODAY - timedelta(days=rng.randint(0, 60))
        unav = []
        if rng.random() < 0.15:
            unav = [rng.choice(dates) for _ in range(rng.randint(1, 3))]
        entries.append(
            entry(
                f"e{i:05d}",
                muni,
                priority=rng.randint(0, 9) * 10 + rng.randint(0, 9),
                authorized_date=authorized,
                deadline=authorized + timedelta(days=rng.choice([60, 90])),
                oci_code=rng.choice(ocis),
                sex=rng.choice(["M", "F"]),
                age_years=rng.randint(5, 90),
                scope_kind=kind,
                scope_code={"region": region, "macro": macro, "uf": uf}[kind],
                unavailable_dates=unav,
            )
        )
    inst = instance(entries, buckets, quotas, priority_band=10)
    if not resolve:
        return inst
    old = entries[: int(n_entries * 0.85)]
    yesterday = solve_greedy(inst.model_copy(update={"entries": old}))
    pinned = [Fixed(entry_id=a.entry_id, bucket_id=a.bucket_id) for a in yesterday.assignments[::3]]
    held = {f.entry_id for f in pinned}
    incumbents = [
        Fixed(entry_id=a.entry_id, bucket_id=a.bucket_id) for a in yesterday.assignments if a.entry_id not in held
    ]
    return inst.model_copy(update={"pinned": pinned, "incumbents": incumbents})
