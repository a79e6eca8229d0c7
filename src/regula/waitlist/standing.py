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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.people.service import age_on
from regula.waitlist import priority
from regula.waitlist import repository as repo
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.queues import QueueKey


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
        scored[e.id] = (key, priority.compute_score(facts, compiled[pol.id]), f"{pol.queue_key} v{pol.version}")
    ahead = await repo.waiting_at_or_above(session, [(i, k, s.value) for i, (k, s, _) in scored.items()])
    out: dict[int, Standing] = {}
    for entry_id, (_key, score, policy) in scored.items():
        at_or_above, size = ahead.get(entry_id, (0, 0))
        breakdown = dict(score.breakdown) | {"politica": policy}
        out[entry_id] = Standing(score.value, breakdown, at_or_above + 1, size + 1)
    return out
