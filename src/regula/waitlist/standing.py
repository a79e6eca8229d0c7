"""Where a referral under review would stand if it were authorized today: its score under its queue's policy, and
its place in the queue (issue 17: the analysis list showed "—" for position, score and wait on every row).

Why "—": a referral is scored and ranked only once authorized (``service.rescore`` and the positions SQL read
``status = 'autorizada'``), and days waited starts at the authorization (``measures``). A regulator deciding which
referral to look at first still needs to compare them; so the analysis list shows the **provisional** figures,
labelled so: the score the queue's current policy gives the person today with the waiting clock at zero, the place
that score would take behind everyone already waiting with an equal or higher score (ties go to the earlier
authorization: ``WINDOW … ORDER BY score DESC, authorized_at, id``), and the days since the request
(``measures.days_since_request``). Nothing is written: these are read-only projections of the same rules
(``waitlist.priority``, Portaria GM/MS 3.492/2024 art. 10 §2, queue management with transparency).

And the score an authorized entry shows, with its explanation (:func:`shown_scores`, :func:`shown_score`). The
database keeps each entry's ``score`` and ``policy_id`` (the queue is ordered by them) but not the explanation: it is
computed when shown, by ``priority.compute_score`` on the entry's facts under the policy that gave the stored score
(decision 0031). A stored explanation went stale the first night: the refresh rewrites every score and left the
explanation of the authorization day beside it, so the page said "waiting 3 days: +3" under a total that counted 40.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from regula.catalog import repository as catalog_repo
from regula.config import Settings
from regula.people.service import age_on
from regula.waitlist import measures, priority
from regula.waitlist import repository as repo
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.queues import QueueKey
from regula.waitlist.states import EntryStatus


@dataclass(frozen=True)
class Standing:
    score: int
    breakdown: dict[str, int | str]
    position: int  # 1-based place the entry would take
    queue_size: int  # the queue's size with the entry in it


async def provisional(
    session: AsyncSession, settings: Settings, entries: Sequence[WaitlistEntry], today: date
) -> dict[int, Standing]:
    """The provisional standing of each entry (by id), as if authorized on ``today``."""
    if not entries:
        return {}
    citizens = await repo.citizens_by_id(session, [e.citizen_id for e in entries])
    catalog = await wl.load_catalog(session, settings)
    latest = await wl.latest_policies(session)
    compiled: dict[int, priority.PriorityPolicy] = {}
    scored: dict[int, tuple[QueueKey, priority.Score, str]] = {}
    for e in entries:
        citizen = citizens.get(e.citizen_id)
        if citizen is None or e.id is None:
            continue
        key = QueueKey(e.oci_code, e.scope_kind, e.scope_code)
        pol = wl.resolve_policy(latest, key)
        assert pol.id is not None
        if pol.id not in compiled:
            compiled[pol.id] = priority.policy_from_json(pol.params)
        oci = catalog.ocis.get(e.oci_code)
        vi = citizen.vulnerability_index
        facts = priority.PriorityFacts(
            risk_class=e.risk_class,  # type: ignore[arg-type]
            authorized_on=today,  # as if authorized today: the waiting clock at zero
            today=today,
            suspended_days=0,
            max_days=e.max_days,
            age_years=age_on(citizen.birth_date, today),
            pregnant=citizen.pregnant,
            disability=citizen.disability,
            autism=citizen.autism,
            race_color=citizen.race_color,  # type: ignore[arg-type]
            sex=citizen.sex,  # type: ignore[arg-type]
            cadunico=citizen.cadunico,
            vulnerability_index=float(vi) if vi is not None else None,
            oci_sex=(oci.sex if oci else None),  # type: ignore[arg-type]
        )
        scored[e.id] = (
            key,
            priority.compute_score(facts, compiled[pol.id]),
            wl.policy_label(pol.queue_key, pol.version),
        )
    ahead = await repo.waiting_at_or_above(session, [(i, k, s.value) for i, (k, s, _) in scored.items()])
    out: dict[int, Standing] = {}
    for entry_id, (_key, score, policy) in scored.items():
        at_or_above, size = ahead.get(entry_id, (0, 0))
        breakdown = dict(score.breakdown) | {"politica": policy}
        out[entry_id] = Standing(score.value, breakdown, at_or_above + 1, size + 1)
    return out


# -- the score an authorized entry shows ----------------------------------------------------------------------------


def score_day(entry: Any, today: date, tz: str) -> date:
    """The day an entry's shown score is computed for: today while it waits in the queue; once it left (scheduled,
    suspended, closed), the local day it left, the last day the nightly refresh scored it."""
    if entry.status == EntryStatus.AUTORIZADA.value:
        return today
    return min(today, measures.local_date(entry.status_changed_at, tz))


def restricted_sex(sex_sigtap: str | None) -> str | None:
    """The sex an OCI is restricted to (SIGTAP TP_SEXO M or F), as ``priority.PriorityFacts.oci_sex`` takes it."""
    return sex_sigtap if sex_sigtap in ("M", "F") else None


@lru_cache(maxsize=256)
def compiled_policy(params_json: str) -> priority.PriorityPolicy:
    """A policy compiled from its stored JSON, once per distinct text (policy versions are never changed)."""
    return priority.policy_from_json(params_json)


def shown_score(
    entry: Any, citizen: Any, policy: priority.PriorityPolicy, label: str, oci_sex: str | None, today: date, tz: str
) -> priority.Score:
    """The score of an authorized entry (``policy_id`` set) with its explanation, computed on :func:`score_day`
    with the policy that gave its stored score; its breakdown names that policy under ``politica``."""
    facts = wl.priority_facts(entry, citizen, oci_sex, score_day(entry, today, tz), tz)
    score = priority.compute_score(facts, policy)
    return priority.Score(score.value, dict(score.breakdown) | {"politica": label})


async def shown_scores(
    session: AsyncSession, settings: Settings, entries: Sequence[WaitlistEntry], today: date
) -> dict[int, priority.Score]:
    """:func:`shown_score` of each entry that has been scored, by id: three small reads for any number of
    entries (their citizens, their policies, the OCIs' sex restrictions)."""
    scored = [e for e in entries if e.id is not None and e.policy_id is not None and e.authorized_at is not None]
    if not scored:
        return {}
    citizens = await repo.citizens_by_id(session, [e.citizen_id for e in scored])
    policies = await repo.policies_by_id(session, {e.policy_id for e in scored if e.policy_id is not None})
    sexes = await catalog_repo.oci_sexes(session)
    compiled = {pid: priority.policy_from_json(p.params) for pid, p in policies.items()}
    out: dict[int, priority.Score] = {}
    for e in scored:
        citizen, policy = citizens.get(e.citizen_id), policies.get(e.policy_id or 0)
        if citizen is None or policy is None or e.id is None:
            continue
        out[e.id] = shown_score(
            e,
            citizen,
            compiled[e.policy_id or 0],
            wl.policy_label(policy.queue_key, policy.version),
            restricted_sex(sexes.get(e.oci_code)),
            today,
            settings.timezone,
        )
    return out
