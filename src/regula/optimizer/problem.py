"""The instance as columns (numpy arrays), the form the solver works on.

A million pydantic entries take more than a gigabyte; a million rows of these columns take about 60 MB. The database
side can fill a :class:`Problem` straight from a query; the CLI builds one from an :class:`Instance`.

Codes (municipalities, regions, macro-regions, UFs, OCIs, CNES) become indices into sorted vocabularies, so every
numbering — and with it every tie the solver breaks — depends only on the data, never on input order.

Also here: the *signature* of an entry (what, besides its municipality and scope, decides which buckets it may use
and at what cost) and the escalation rule, both vectorized.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from regula.optimizer.instance import SCOPE_WIDTH, Bucket, Entry, Fixed, Instance, Params
from regula.optimizer.rules import Travel, travel_limit_km

I8 = npt.NDArray[np.int8]
I16 = npt.NDArray[np.int16]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
S = npt.NDArray[np.str_]

SCOPE_KINDS: Final[tuple[str, ...]] = ("municipality", "region", "macro", "uf")
SEX_CODES: Final[dict[str | None, int]] = {None: 0, "M": 1, "F": 2}
NO_AGE_MAX: Final = 999
#: "No travel limit" in the per-OCI limits column: farther than any trip on Earth.
NO_KM_LIMIT: Final = 1 << 40


def ordinal(d: date) -> int:
    return d.toordinal()


@dataclass(frozen=True, eq=False)
class Problem:
    params: Params
    codes: list[str]  # territory codes (IBGE, region, macro, UF), sorted
    ocis: list[str]
    providers: list[str]
    # entries
    e_id: S
    e_muni: I32
    e_priority: I64
    e_authorized: I32
    e_deadline: I32
    e_oci: I32
    e_sex: I8  # 1 M, 2 F
    e_age: I16
    e_scope_kind: I8  # index in SCOPE_KINDS
    e_scope_code: I32
    e_macro: I32  # -1: unknown
    e_uf: I32
    e_short: B
    e_unav_ptr: I64  # CSR: entry i's unavailable dates are e_unav[e_unav_ptr[i]:e_unav_ptr[i+1]] (ordinals)
    e_unav: I32
    # buckets
    b_id: S
    b_provider: I32
    b_scope: I32  # shape (4, n): municipality, region, macro, uf codes
    b_date: I32
    b_days: I16
    b_oci: I32
    b_cap: I64
    b_tele: B
    b_age_min: I16
    b_age_max: I16
    b_sex: I8  # 0: no restriction
    # quotas
    q_id: S
    q_muni: I32
    q_provider: I32
    q_oci: I32
    q_start: I32
    q_end: I32
    q_limit: I64
    # kilometres: km[km_row[muni], km_col[muni]]
    km_row: I32
    km_col: I32
    km: I32
    # carried over from before the solve (instance ``pinned`` / ``incumbents``): per entry a bucket index or -1;
    # None when the instance has none
    e_pinned: I64 | None = None
    e_incumbent: I64 | None = None

    @property
    def pinned_of(self) -> I64:
        if self.e_pinned is None:
            return np.full(self.n_entries, -1, dtype=np.int64)
        return self.e_pinned

    @property
    def incumbent_of(self) -> I64:
        if self.e_incumbent is None:
            return np.full(self.n_entries, -1, dtype=np.int64)
        return self.e_incumbent

    @property
    def n_entries(self) -> int:
        return int(self.e_id.shape[0])

    @property
    def n_buckets(self) -> int:
        return int(self.b_id.shape[0])

    @property
    def today(self) -> int:
        return ordinal(self.params.today)

    @property
    def b_muni(self) -> I32:
        muni: I32 = self.b_scope[0]
        return muni

    @property
    def km_limit_of_oci(self) -> I64 | None:
        """Per OCI (index into ``ocis``) the maximum travel distance of a face-to-face bucket (``NO_KM_LIMIT`` where
        there is none), or ``None`` when no OCI has one (``rules.travel_limit_km``)."""
        params = self.params
        if params.max_travel_km is None and not params.max_travel_km_by_oci:
            return None
        limits = [travel_limit_km(params, oci) for oci in self.ocis]
        return np.array([NO_KM_LIMIT if v is None else v for v in limits], dtype=np.int64)

    def within_travel_limit(self, entry_muni: I32 | I64, oci: I32 | I64, bucket: I64 | I32) -> B:
        """Whether each (municipality, OCI, bucket) trip is within the OCI's travel limit (teleconsultation: 0 km)."""
        limits = self.km_limit_of_oci
        if limits is None:
            return np.ones(np.broadcast(entry_muni, bucket).shape, dtype=np.bool_)
        out: B = self.travel_km(entry_muni.astype(np.int32), bucket) <= limits[oci]
        return out

    def travel_km(self, entry_muni: I32, bucket: I64 | I32) -> I64:
        """Kilometres from the entries' municipalities to the buckets' (0 for teleconsultation)."""
        km = self.km[self.km_row[entry_muni], self.km_col[self.b_muni[bucket]]].astype(np.int64)
        out: I64 = np.where(self.b_tele[bucket], 0, km).astype(np.int64)
        return out


def _vocab(values: list[str]) -> tuple[list[str], dict[str, int]]:
    words = sorted(set(values))
    return words, {w: i for i, w in enumerate(words)}


def build_km(
    codes: list[str],
    entry_munis: I32,
    bucket_munis: I32,
    travel_km: dict[tuple[str, str], int] | Travel,
    road_munis: I32 | None = None,
) -> tuple[I32, I32, I32]:
    """Dense table of kilometres between the entries' and the buckets' municipalities (indices into ``codes``).
    Columns of municipalities outside ``road_munis`` (given: only teleconsultation buckets there) stay 0 — no
    trip is made, and the instance need not place them (issue 18 item 4)."""
    rows = np.unique(entry_munis)
    cols = np.unique(bucket_munis)
    km_row = np.full(len(codes), -1, dtype=np.int32)
    km_col = np.full(len(codes), -1, dtype=np.int32)
    km_row[rows] = np.arange(rows.size, dtype=np.int32)
    km_col[cols] = np.arange(cols.size, dtype=np.int32)
    km = np.zeros((max(rows.size, 1), max(cols.size, 1)), dtype=np.int32)
    road = None if road_munis is None else set(np.unique(road_munis).tolist())
    for i, r in enumerate(rows.tolist()):
        for j, c in enumerate(cols.tolist()):
            if road is not None and c not in road:
                continue
            a, b = codes[r], codes[c]
            km[i, j] = travel_km.km(a, b) if isinstance(travel_km, Travel) else travel_km[(a, b)]
    return km_row, km_col, km


def take_entries(p: Problem, rows: I64) -> Problem:
    """The same problem restricted to the entries ``rows`` (in that order); buckets and quotas unchanged."""
    lo, hi = p.e_unav_ptr[rows], p.e_unav_ptr[rows + 1]
    counts = hi - lo
    ptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    offs = np.arange(int(ptr[-1]), dtype=np.int64) - np.repeat(ptr[:-1], counts)
    unav = p.e_unav[np.repeat(lo, counts) + offs]
    return replace(
        p,
        e_id=p.e_id[rows],
        e_muni=p.e_muni[rows],
        e_priority=p.e_priority[rows],
        e_authorized=p.e_authorized[rows],
        e_deadline=p.e_deadline[rows],
        e_oci=p.e_oci[rows],
        e_sex=p.e_sex[rows],
        e_age=p.e_age[rows],
        e_scope_kind=p.e_scope_kind[rows],
        e_scope_code=p.e_scope_code[rows],
        e_macro=p.e_macro[rows],
        e_uf=p.e_uf[rows],
        e_short=p.e_short[rows],
        e_unav_ptr=ptr,
        e_unav=unav.astype(np.int32),
        e_pinned=None if p.e_pinned is None else p.e_pinned[rows],
        e_incumbent=None if p.e_incumbent is None else p.e_incumbent[rows],
    )


def pinned_usage(p: Problem) -> tuple[I64, I64]:
    """What the pinned assignments hold: (units per bucket, units counted by each quota)."""
    pin = p.pinned_of
    rows = np.flatnonzero(pin >= 0)
    per_bucket = np.bincount(pin[rows], minlength=p.n_buckets).astype(np.int64)
    per_quota = np.zeros(p.q_id.size, dtype=np.int64)
    if rows.size and p.q_id.size:
        b = pin[rows]
        muni, prov, oci, date = p.e_muni[rows], p.b_provider[b], p.b_oci[b], p.b_date[b]
        for q in range(p.q_id.size):
            per_quota[q] = int(
                (
                    (muni == p.q_muni[q])
                    & (prov == p.q_provider[q])
                    & (oci == p.q_oci[q])
                    & (date >= p.q_start[q])
                    & (date <= p.q_end[q])
                ).sum()
            )
    return per_bucket, per_quota


def without_pinned(p: Problem) -> tuple[Problem, I64]:
    """The problem left to optimize once the pinned assignments (already notified appointments) are taken out:
    the other entries, with the capacity and quota units the pinned ones hold removed. Returns it and the rows
    of ``p`` it keeps. Pinned assignments are facts: their entries are neither re-checked nor escalated."""
    if p.e_pinned is None:
        return p, np.arange(p.n_entries, dtype=np.int64)
    free = np.flatnonzero(p.e_pinned < 0).astype(np.int64)
    per_bucket, per_quota = pinned_usage(p)
    sub = take_entries(p, free)
    return (
        replace(
            sub,
            e_pinned=None,
            b_cap=np.maximum(p.b_cap - per_bucket, 0),
            q_limit=np.maximum(p.q_limit - per_quota, 0),
        ),
        free,
    )


def from_instance(instance: Instance) -> Problem:
    """Columns of an instance (no rule is applied here; only representation changes)."""
    # Rows in id order, so the numbering (and every tie the solver breaks) does not depend on the file's order.
    entries = sorted(instance.entries, key=lambda e: e.id)
    buckets = sorted(instance.buckets, key=lambda b: b.id)
    quotas = sorted(instance.quotas, key=lambda q: q.id)
    n = len(entries)
    # The entries' fields as columns, in one pass (issue 18 item 7: a million entries walked once per field took
    # seconds, and this runs for the solve and for the validator's and the greedy's preparation).
    columns = (
        list(
            zip(
                *(
                    (
                        e.id,
                        e.municipality_ibge,
                        e.scope_code,
                        e.macro_code,
                        e.uf,
                        e.oci_code,
                        e.priority,
                        e.authorized_date,
                        e.deadline,
                        e.sex,
                        e.age_years,
                        e.scope_kind,
                        e.accepts_short_notice,
                    )
                    for e in entries
                ),
                strict=True,
            )
        )
        or [()] * 13
    )
    e_ids, e_munis, e_scopes, e_macros, e_ufs, e_ocis, e_prios, e_auth, e_dead, e_sexes, e_ages, e_kinds, e_shorts = (
        columns
    )
    territory = set(e_munis) | set(e_scopes) | (set(e_macros) - {None}) | (set(e_ufs) - {None})
    for b in buckets:
        territory.update((b.municipality_ibge, b.region_code, b.macro_code, b.uf))
    territory.update(q.municipality_ibge for q in quotas)
    codes, code_ix = _vocab(list(territory))  # None was taken out above
    ocis, oci_ix = _vocab([*set(e_ocis), *(b.oci_code for b in buckets), *(q.oci_code for q in quotas)])
    providers, prov_ix = _vocab([b.provider_cnes for b in buckets] + [q.provider_cnes for q in quotas])
    kinds = {k: i for i, k in enumerate(SCOPE_KINDS)}
    code_or_none: dict[str | None, int] = {None: -1} | {code: i for code, i in code_ix.items()}

    unav_ptr = np.zeros(n + 1, dtype=np.int64)
    unav: list[int] = []
    for i, e in enumerate(entries):
        if e.unavailable_dates:  # most entries list none: no set and no sort for them (a million sorts took ~2 s)
            unav.extend(sorted({d.toordinal() for d in e.unavailable_dates}))
        unav_ptr[i + 1] = len(unav)

    def column(values: tuple[Any, ...], dtype: type[np.generic], key: Callable[[Any], Any] | None = None) -> Any:
        items = values if key is None else map(key, values)
        return np.fromiter(items, dtype=dtype, count=n)

    e_muni = column(e_munis, np.int32, code_ix.__getitem__)
    b_scope = np.array(
        [[code_ix[b.municipality_ibge], code_ix[b.region_code], code_ix[b.macro_code], code_ix[b.uf]] for b in buckets],
        dtype=np.int32,
    ).reshape(-1, 4)
    b_muni = b_scope[:, 0].copy()
    b_tele = np.array([b.teleconsultation for b in buckets], dtype=np.bool_)
    km_row, km_col, km = build_km(codes, e_muni, b_muni, Travel(instance), b_muni[~b_tele])
    return _read_only(
        Problem(
            params=instance.params,
            codes=codes,
            ocis=ocis,
            providers=providers,
            e_id=np.array(e_ids, dtype=np.str_),
            e_muni=e_muni,
            e_priority=column(e_prios, np.int64),
            e_authorized=column(e_auth, np.int32, date.toordinal),
            e_deadline=column(e_dead, np.int32, date.toordinal),
            e_oci=column(e_ocis, np.int32, oci_ix.__getitem__),
            e_sex=column(e_sexes, np.int8, SEX_CODES.__getitem__),
            e_age=column(e_ages, np.int16),
            e_scope_kind=column(e_kinds, np.int8, kinds.__getitem__),
            e_scope_code=column(e_scopes, np.int32, code_ix.__getitem__),
            e_macro=column(e_macros, np.int32, code_or_none.__getitem__),
            e_uf=column(e_ufs, np.int32, code_or_none.__getitem__),
            e_short=column(e_shorts, np.bool_),
            e_unav_ptr=unav_ptr,
            e_unav=np.array(unav, dtype=np.int32),
            b_id=np.array([b.id for b in buckets], dtype=np.str_),
            b_provider=np.array([prov_ix[b.provider_cnes] for b in buckets], dtype=np.int32),
            b_scope=np.ascontiguousarray(b_scope.T),
            b_date=np.array([b.date.toordinal() for b in buckets], dtype=np.int32),
            b_days=np.array([b.days for b in buckets], dtype=np.int16),
            b_oci=np.array([oci_ix[b.oci_code] for b in buckets], dtype=np.int32),
            b_cap=np.array([b.capacity for b in buckets], dtype=np.int64),
            b_tele=b_tele,
            b_age_min=np.array([b.age_min or 0 for b in buckets], dtype=np.int16),
            b_age_max=np.array([NO_AGE_MAX if b.age_max is None else b.age_max for b in buckets], dtype=np.int16),
            b_sex=np.array([SEX_CODES[b.sex] for b in buckets], dtype=np.int8),
            q_id=np.array([q.id for q in quotas], dtype=np.str_),
            q_muni=np.array([code_ix[q.municipality_ibge] for q in quotas], dtype=np.int32),
            q_provider=np.array([prov_ix[q.provider_cnes] for q in quotas], dtype=np.int32),
            q_oci=np.array([oci_ix[q.oci_code] for q in quotas], dtype=np.int32),
            q_start=np.array([q.start.toordinal() for q in quotas], dtype=np.int32),
            q_end=np.array([q.end.toordinal() for q in quotas], dtype=np.int32),
            q_limit=np.array([q.limit for q in quotas], dtype=np.int64),
            km_row=km_row,
            km_col=km_col,
            km=km,
            e_pinned=_carried(instance.pinned, entries, buckets),
            e_incumbent=_carried(instance.incumbents, entries, buckets),
        )
    )


def _read_only(p: Problem) -> Problem:
    """The instance's columns are shared by the solver and the validator's preparation (``allocation.solving``):
    nothing may write to them, and numpy refuses any write (a view of them is read-only too)."""
    for f in fields(p):
        value = getattr(p, f.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return p


def _carried(pairs: list[Fixed], entries: list[Entry], buckets: list[Bucket]) -> I64 | None:
    if not pairs:
        return None
    e_ix = {e.id: i for i, e in enumerate(entries)}
    b_ix = {b.id: j for j, b in enumerate(buckets)}
    out = np.full(len(entries), -1, dtype=np.int64)
    for f in pairs:
        out[e_ix[f.entry_id]] = b_ix[f.bucket_id]
    return out


def group_rows(cols: list[npt.NDArray[np.int64]]) -> tuple[I64, I64]:
    """Group rows by the tuple of ``cols`` (non-negative or -1 integers), in lexicographic order of the tuple:
    (group id per row, first row of each group). One int64 mixed-radix key when it fits, else a lexsort."""
    n = int(cols[0].size) if cols else 0
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    shifted = [c.astype(np.int64) + 1 for c in cols]  # -1 (wildcard) becomes 0
    radix = [int(c.max()) + 1 for c in shifted]
    if float(np.prod(np.array(radix, dtype=np.float64))) < 2.0**62:
        key = np.zeros(n, dtype=np.int64)
        for c, r in zip(shifted, radix, strict=True):
            key = key * r + c
        _, first, gid = np.unique(key, return_index=True, return_inverse=True)
        return gid.reshape(-1).astype(np.int64), first.astype(np.int64)
    order = np.lexsort(shifted[::-1]).astype(np.int64)
    change = np.zeros(n, dtype=np.bool_)
    change[0] = True
    for c in shifted:
        sc = c[order]
        change[1:] |= sc[1:] != sc[:-1]
    gid = np.empty(n, dtype=np.int64)
    gid[order] = np.cumsum(change) - 1
    return gid, order[change]


# -- signatures ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Signatures:
    """Per entry, the facts that decide eligibility and cost against any bucket, reduced to what the buckets can
    tell apart: two entries with equal signatures (and equal municipality and scope) are interchangeable.

    * ``level`` = priority // priority_band (the objective's unit of priority);
    * ``cut`` = how many distinct bucket dates are on or before the deadline (late iff date index >= cut);
    * ``band`` = the entry's age among the buckets' age thresholds; ``age_rep`` a representative age of the band;
    * ``sex`` = the entry's sex, or 0 when no bucket of its OCI restricts sex;
    * ``short`` = accepts short notice, or True when no bucket of its OCI is short-notice;
    * ``unav`` = id of the set of bucket spans the unavailable dates hit (0: none).
    """

    level: I64
    cut: I32
    band: I32
    sex: I8
    short: B
    unav: I32
    age_rep: I16  # per band
    date_index: I32  # per bucket: index of its date among the distinct dates
    span: I32  # per bucket: index of its (date, days) span
    unav_keys: I64  # sorted keys unav_sig * n_spans + span that are unavailable
    n_spans: int
    short_bucket: B  # per bucket: starts inside the short-notice window


def signatures(p: Problem) -> Signatures:
    params = p.params
    dates = np.unique(p.b_date)
    date_index = np.searchsorted(dates, p.b_date).astype(np.int32)
    cut = np.searchsorted(dates, p.e_deadline, side="right").astype(np.int32)

    thresholds = np.unique(
        np.concatenate([p.b_age_min[p.b_age_min > 0], (p.b_age_max[p.b_age_max < NO_AGE_MAX] + 1)]).astype(np.int16)
    )
    band = np.searchsorted(thresholds, p.e_age, side="right").astype(np.int32)
    age_rep = np.concatenate([[0], thresholds]).astype(np.int16)  # band 0: ages below every threshold (0 is one)

    # Sex and short notice only split entries of OCIs where some bucket tells them apart.
    n_oci = len(p.ocis)
    oci_sex = np.zeros(n_oci, dtype=np.bool_)
    oci_sex[p.b_oci[p.b_sex != 0]] = True
    sex = np.where(oci_sex[p.e_oci], p.e_sex, 0).astype(np.int8)
    short_bucket = (p.b_date - p.today) < params.short_notice_days
    oci_short = np.zeros(n_oci, dtype=np.bool_)
    oci_short[p.b_oci[short_bucket]] = True
    short = p.e_short | ~oci_short[p.e_oci]

    span_keys = p.b_date.astype(np.int64) * 64 + p.b_days
    spans, span = np.unique(span_keys, return_inverse=True)
    span_start = (spans // 64).astype(np.int64)
    span_end = span_start + spans % 64
    unav = np.zeros(p.n_entries, dtype=np.int32)
    keys: list[int] = []
    with_dates = np.flatnonzero(np.diff(p.e_unav_ptr) > 0)
    if with_dates.size:
        sig_ids: dict[tuple[int, ...], int] = {(): 0}
        for i in with_dates.tolist():
            days = p.e_unav[p.e_unav_ptr[i] : p.e_unav_ptr[i + 1]].astype(np.int64)
            hit = (span_start[None, :] <= days[:, None]) & (days[:, None] < span_end[None, :])
            hit_spans = tuple(np.flatnonzero(hit.any(axis=0)).tolist())
            sid = sig_ids.get(hit_spans)
            if sid is None:
                sid = sig_ids[hit_spans] = len(sig_ids)
                keys.extend(sid * spans.size + s for s in hit_spans)
            unav[i] = sid
    level = p.e_priority // params.priority_band
    return Signatures(
        level=level,
        cut=cut,
        band=band,
        sex=sex,
        short=short,
        unav=unav,
        age_rep=age_rep,
        date_index=date_index,
        span=span.astype(np.int32),
        unav_keys=np.array(sorted(keys), dtype=np.int64),
        n_spans=int(spans.size),
        short_bucket=short_bucket,
    )


def pair_ok(
    p: Problem,
    sig: Signatures,
    *,
    cut: I32,
    band: I32,
    sex: I8,
    short: B,
    unav: I32,
    bucket: I64,
    forbid_late: bool,
) -> B:
    """Eligibility of (signature, bucket) pairs for every rule except OCI and scope (decided by the structure)."""
    age = sig.age_rep[band]
    ok = p.b_cap[bucket] > 0
    ok &= (p.b_sex[bucket] == 0) | (p.b_sex[bucket] == sex)
    ok &= (age >= p.b_age_min[bucket]) & (age <= p.b_age_max[bucket])
    ok &= short | ~sig.short_bucket[bucket]
    if forbid_late:
        ok &= sig.date_index[bucket] < cut
    if sig.unav_keys.size:
        key = unav.astype(np.int64) * sig.n_spans + sig.span[bucket]
        ok &= ~np.isin(key, sig.unav_keys)
    return ok


# -- escalation ----------------------------------------------------------------------------------------------------


def _feasible_in_scope(p: Problem, sig: Signatures, rows: I64, kinds: I8, scope_codes: I32) -> B:
    """For entries ``rows`` with the given scope: is there a bucket with capacity they may use before their
    deadline (and not closed to their municipality by a zero quota)?"""
    out = np.zeros(rows.size, dtype=np.bool_)
    if rows.size == 0 or p.n_buckets == 0:
        return out
    zero_q = np.flatnonzero(p.q_limit == 0)
    zero_munis = set(p.q_muni[zero_q].tolist())
    muni_key = np.where(np.isin(p.e_muni[rows], list(zero_munis)), p.e_muni[rows], -1) if zero_munis else None
    cols = [
        p.e_oci[rows],
        kinds.astype(np.int32),
        scope_codes,
        sig.cut[rows],
        sig.band[rows],
        sig.sex[rows].astype(np.int32),
        sig.short[rows].astype(np.int32),
        sig.unav[rows],
    ]
    if muni_key is not None:
        cols.append(muni_key.astype(np.int32))
    # With a travel limit the municipality decides which buckets are near enough: it joins the group key.
    limited = p.km_limit_of_oci is not None
    if limited:
        cols.append(p.e_muni[rows].astype(np.int32))
    inverse, first = group_rows([c.astype(np.int64) for c in cols])
    groups = np.stack([c[first] for c in cols], axis=1).astype(np.int64)
    # Every group against every bucket of its OCI in its scope, all at once.
    scope_of, scope_first = group_rows([groups[:, 0], groups[:, 1], groups[:, 2]])
    scopes = groups[scope_first, :3]
    cand_lists = [
        np.flatnonzero((p.b_oci == oci) & (p.b_scope[kind] == code)).astype(np.int64)
        for oci, kind, code in scopes.tolist()
    ]
    counts = np.array([c.size for c in cand_lists], dtype=np.int64)
    ptr = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    items = np.concatenate(cand_lists) if cand_lists else np.zeros(0, np.int64)
    per = counts[scope_of]
    pair_group = np.repeat(np.arange(groups.shape[0], dtype=np.int64), per)
    offs = np.arange(pair_group.size, dtype=np.int64) - np.repeat(np.cumsum(per) - per, per)
    bucket = items[ptr[scope_of][pair_group] + offs]
    g = groups[pair_group]
    ok = pair_ok(
        p,
        sig,
        cut=g[:, 3].astype(np.int32),
        band=g[:, 4].astype(np.int32),
        sex=g[:, 5].astype(np.int8),
        short=g[:, 6].astype(np.bool_),
        unav=g[:, 7].astype(np.int32),
        bucket=bucket,
        forbid_late=True,
    )
    if limited:
        ok &= p.within_travel_limit(g[:, -1], g[:, 0], bucket)
    if muni_key is not None:
        for q in zero_q.tolist():
            ok &= ~(
                (g[:, 8] == p.q_muni[q])
                & (p.b_provider[bucket] == p.q_provider[q])
                & (p.b_oci[bucket] == p.q_oci[q])
                & (p.b_date[bucket] >= p.q_start[q])
                & (p.b_date[bucket] <= p.q_end[q])
            )
    verdict = np.bincount(pair_group[ok], minlength=groups.shape[0]) > 0
    out[:] = verdict[inverse]
    return out


def escalate_problem(p: Problem, sig: Signatures | None = None) -> tuple[Problem, I64]:
    """Widen the scope of entries past ``escalation_percent`` of their tM window that have no feasible bucket
    (capacity, eligibility, dated on or before the deadline) in their scope: to their macro-region when it has one,
    else to their UF when it has one (Portugal's SIGIC transfers at 75% of the maximum guaranteed time). An entry
    with no feasible bucket even in its UF keeps its scope: widening would only send it farther without meeting the
    deadline. Returns the new problem and the escalated entry indices."""
    sig = sig or signatures(p)
    pct = p.params.escalation_percent
    elapsed = (p.today - p.e_authorized).astype(np.int64)
    window = (p.e_deadline - p.e_authorized).astype(np.int64)
    widest = SCOPE_WIDTH["uf"]
    candidate = (100 * elapsed >= pct * window) & (p.e_scope_kind < widest)
    rows = np.flatnonzero(candidate)
    if rows.size == 0:
        return p, rows
    own = _feasible_in_scope(p, sig, rows, p.e_scope_kind[rows], p.e_scope_code[rows])
    rows = rows[~own]
    kind = p.e_scope_kind.copy()
    code = p.e_scope_code.copy()
    macro = SCOPE_WIDTH["macro"]
    try_macro = rows[(p.e_scope_kind[rows] < macro) & (p.e_macro[rows] >= 0)]
    in_macro = _feasible_in_scope(p, sig, try_macro, np.full(try_macro.size, macro, np.int8), p.e_macro[try_macro])
    to_macro = try_macro[in_macro]
    kind[to_macro] = macro
    code[to_macro] = p.e_macro[to_macro]
    rest = np.setdiff1d(rows, to_macro)
    rest = rest[p.e_uf[rest] >= 0]
    to_uf = rest[_feasible_in_scope(p, sig, rest, np.full(rest.size, widest, np.int8), p.e_uf[rest])]
    kind[to_uf] = widest
    code[to_uf] = p.e_uf[to_uf]
    escalated = np.union1d(to_macro, to_uf).astype(np.int64)
    if escalated.size == 0:
        return p, escalated
    return replace(p, e_scope_kind=kind, e_scope_code=code), escalated


def escalate(instance: Instance, *, columns: Problem | None = None) -> tuple[Instance, list[str]]:
    """Instance preparation: the same instance with the escalated entries' scopes widened, and their ids. Pinned
    entries are never escalated, and the capacity and quota units they hold are not there for the others.

    ``columns``: ``from_instance(instance)`` when the caller already has it (``allocation.solving`` hands the one it
    gave the solver: the columns are a representation of the instance, not the solver's model, and nothing writes to
    them; at a million entries each ``from_instance`` takes seconds)."""
    p, _ = without_pinned(columns if columns is not None else from_instance(instance))
    widened, rows = escalate_problem(p)
    if rows.size == 0:
        return instance, []
    by_id = {str(p.e_id[i]): i for i in rows.tolist()}
    entries = list(instance.entries)
    for pos, e in enumerate(entries):
        i = by_id.get(e.id)
        if i is None:
            continue
        entries[pos] = e.model_copy(
            update={
                "scope_kind": SCOPE_KINDS[int(widened.e_scope_kind[i])],
                "scope_code": p.codes[int(widened.e_scope_code[i])],
            }
        )
    ids = sorted(by_id)
    return instance.model_copy(update={"entries": entries}), ids
