"""Indicators per provider: first vs return consultations and the "efeito velcro".

* The NGC must seek the balance between "primeiras consultas" and "consultas de retorno" to guarantee and sustain
  access to specialized care (Portaria GM/MS 3.492/2024, art. 10 §4 III).
* The NGR supports strategies against the "efeito velcro" (art. 12 VIII): people kept in specialized care who
  should have gone back to APS (art. 10 §1 VI: "usuário que permanecia desnecessariamente vinculado à AES").

SIGTAP has no separate codes for a first and a return specialist consultation, so regula defines them over the
production lines (docs/production.md):

* **consultation**: a line of one of :data:`CONSULTATION_CODES` — the specialist consultations and
  teleconsultations of SIGTAP subgroup 0301 (0301010072, 0301010307, 0301010048, 0301010315);
* **first consultation**: a person's consultation at an establishment (CNES) with no consultation of that person at
  that establishment in the :data:`LOOKBACK_DAYS` days before; every other one is a **return**;
* **kept in specialized care ("velcro")**: a person with at least :data:`VELCRO_MIN_CONSULTATIONS` consultations at
  the same establishment within :data:`LOOKBACK_DAYS` days, one of them in the period;
* **return after conclusion**: a consultation at an establishment after the person's OCI there was concluded and
  sent back to APS (the contrarreferência was written, yet the person is still being seen).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.production.control import competencia_bounds, load_records, month_bounds, person_key
from regula.production.models import OciExecution
from regula.providers.models import Establishment
from regula.waitlist import service as wl

CONSULTATION_CODES: Final[dict[str, str]] = {
    "0301010072": "Consulta médica em atenção especializada",
    "0301010307": "Teleconsulta médica na atenção especializada",
    "0301010048": "Consulta de profissionais de nível superior na atenção especializada (exceto médico)",
    "0301010315": "Teleconsulta por profissionais de nível superior na atenção especializada",
}
LOOKBACK_DAYS: Final = 365
VELCRO_MIN_CONSULTATIONS: Final = 4  # the first and three returns in a year


@dataclass(frozen=True)
class ProviderIndicators:
    cnes: str
    name: str
    persons: int  # people with a consultation in the period
    consultations: int
    first: int
    returns: int
    velcro_persons: int
    returns_after_conclusion: int

    @property
    def returns_per_first(self) -> float | None:
        return round(self.returns / self.first, 2) if self.first else None

    @property
    def first_share(self) -> float | None:
        return round(self.first / self.consultations, 3) if self.consultations else None

    @property
    def velcro_share(self) -> float | None:
        return round(self.velcro_persons / self.persons, 3) if self.persons else None


async def provider_indicators(
    session: AsyncSession,
    actor: wl.Actor,
    *,
    competencia: str,
    until: str | None = None,
    cnes: str | None = None,
) -> list[ProviderIndicators]:
    """The indicators of every establishment with consultations in the competências ``competencia``..``until``."""
    first_c, last_c = competencia_bounds(competencia, until)
    start, end = month_bounds(first_c, last_c)
    records = await load_records(
        session,
        actor,
        first=first_c,
        last=last_c,
        cnes=cnes,
        since=start - timedelta(days=LOOKBACK_DAYS),
        until=end,
        codes=CONSULTATION_CODES,
    )
    visits: dict[tuple[str, str], list[date]] = defaultdict(list)
    citizen_of: dict[str, int] = {}
    for r in records:
        key = person_key(r)
        visits[(r.cnes, key)].extend([r.performed_on] * r.quantity)
        if r.citizen_id is not None:
            citizen_of[key] = r.citizen_id
    concluded: dict[tuple[str, int], date] = {}
    citizen_ids = set(citizen_of.values())
    if citizen_ids:
        rows = await session.execute(
            select(OciExecution).where(
                col(OciExecution.status) == "concluida",
                col(OciExecution.citizen_id).in_(citizen_ids),
                col(OciExecution.cnes).is_not(None),
            )
        )
        for x in rows.scalars():
            when = x.last_on or (x.concluded_at.date() if x.concluded_at else None)
            if when is not None and x.cnes is not None:
                key_ = (x.cnes, x.citizen_id)
                concluded[key_] = min(concluded.get(key_, when), when)
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (est, person), days in visits.items():
        days.sort()
        in_period = [d for d in days if start <= d <= end]
        if not in_period:
            continue
        t = totals[est]
        t["persons"] += 1
        previous: date | None = None
        for d in days:
            if start <= d <= end:
                t["consultations"] += 1
                if previous is None or (d - previous).days > LOOKBACK_DAYS:
                    t["first"] += 1
                else:
                    t["returns"] += 1
            previous = d
        window = [d for d in days if end - timedelta(days=LOOKBACK_DAYS) <= d <= end]
        if len(window) >= VELCRO_MIN_CONSULTATIONS:
            t["velcro"] += 1
        citizen = citizen_of.get(person)
        back = concluded.get((est, citizen)) if citizen is not None else None
        if back is not None:
            t["after"] += sum(1 for d in in_period if d > back)
    names = {
        e.cnes: e.name
        for e in (
            await session.execute(select(Establishment).where(col(Establishment.cnes).in_(list(totals) or [""])))
        ).scalars()
    }
    return [
        ProviderIndicators(
            cnes=est,
            name=names.get(est, f"CNES {est}"),
            persons=t["persons"],
            consultations=t["consultations"],
            first=t["first"],
            returns=t["returns"],
            velcro_persons=t["velcro"],
            returns_after_conclusion=t["after"],
        )
        for est, t in sorted(totals.items())
    ]
