"""The queries of program management, scoped to the caller (decision 0012).

A PAR is *readable* by a gestor or auditor whose jurisdiction shares at least one municipality with the PAR's
coverage (the newest version's municipalities), and *editable* only by a gestor (or admin) whose jurisdiction holds
the whole coverage. A PAR the caller cannot read answers "not found", exactly like one that does not exist.
Other roles have no access at all (the routes and pages admit only gestor, auditor and admin).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.access.policy import Jurisdiction, JurisdictionKind, Role
from regula.core.errors import NotFound
from regula.production.models import OciExecution
from regula.programs.models import Par, ParCommitment, ParContract, ParLine, ParStep, ParTransfer, ParVersion
from regula.providers.models import AgendaSlot, Establishment, SlotBooking
from regula.territory.reference import territory
from regula.waitlist import measures as m

EDITORS = frozenset({Role.GESTOR.value, Role.ADMIN.value})
READERS = frozenset({Role.GESTOR.value, Role.AUDITOR.value, Role.ADMIN.value})


@functools.lru_cache(maxsize=512)
def _jurisdiction_municipalities(j: Jurisdiction) -> frozenset[str]:
    return frozenset(x.ibge_code for x in territory().all() if j.covers_place(x))


def readable(actor: Actor, version: ParVersion) -> bool:
    if actor.role not in READERS:
        return False
    if actor.jurisdiction.kind is JurisdictionKind.NATIONAL:
        return True
    return bool(set(version.municipalities) & _jurisdiction_municipalities(actor.jurisdiction))


def editable(actor: Actor, version: ParVersion) -> bool:
    """A gestor edits the PARs of their jurisdiction: every municipality covered must be inside it."""
    if actor.role not in EDITORS:
        return False
    if actor.jurisdiction.kind is JurisdictionKind.NATIONAL:
        return True
    covered = set(version.municipalities)
    return bool(covered) and covered <= _jurisdiction_municipalities(actor.jurisdiction)


def covers_all(actor: Actor, municipalities: Iterable[str]) -> bool:
    if actor.jurisdiction.kind is JurisdictionKind.NATIONAL:
        return True
    wanted = set(municipalities)
    return bool(wanted) and wanted <= _jurisdiction_municipalities(actor.jurisdiction)


def _readable_ufs(actor: Actor) -> set[str] | None:
    if actor.jurisdiction.kind is JurisdictionKind.NATIONAL:
        return None
    t = territory()
    return {t.municipality(code).uf for code in _jurisdiction_municipalities(actor.jurisdiction)}


# -- PARs and versions ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParBundle:
    par: Par
    versions: tuple[ParVersion, ...]  # oldest first

    @property
    def latest(self) -> ParVersion:
        return self.versions[-1]

    @property
    def approved(self) -> ParVersion | None:
        """The version in force: the approved one (older approved versions are ``substituida``)."""
        for v in reversed(self.versions):
            if v.status == "aprovada":
                return v
        return None

    def version(self, number: int) -> ParVersion:
        for v in self.versions:
            if v.version == number:
                return v
        raise NotFound(f"O PAR {self.par.id} não tem a versão {number}.", code="versao_nao_encontrada")


async def _versions(session: AsyncSession, par_ids: Sequence[int]) -> dict[int, list[ParVersion]]:
    out: dict[int, list[ParVersion]] = defaultdict(list)
    if not par_ids:
        return out
    stmt = select(ParVersion).where(col(ParVersion.par_id).in_(par_ids)).order_by(col(ParVersion.version))
    for v in (await session.execute(stmt)).scalars():
        out[v.par_id].append(v)
    return out


async def load(session: AsyncSession, actor: Actor, par_id: int, *, for_update: bool = False) -> ParBundle:
    """The PAR and its versions, if ``actor`` may read it; "not found" otherwise."""
    stmt = select(Par).where(col(Par.id) == par_id)
    if for_update:
        stmt = stmt.with_for_update()
    par = (await session.execute(stmt)).scalar_one_or_none()
    if par is None:
        raise NotFound(f"PAR {par_id} não encontrado.", code="par_nao_encontrado")
    versions = (await _versions(session, [par_id])).get(par_id, [])
    if not versions or not readable(actor, versions[-1]):
        raise NotFound(f"PAR {par_id} não encontrado.", code="par_nao_encontrado")
    return ParBundle(par, tuple(versions))


SORTS = ("id", "title", "status", "population", "approved_on", "updated_at")


async def list_pars(
    session: AsyncSession,
    actor: Actor,
    *,
    status: str | None = None,
    scope_kind: str | None = None,
    uf: str | None = None,
    q: str | None = None,
    sort: str = "id",
    descending: bool = False,
) -> list[ParBundle]:
    """Every PAR ``actor`` may read, filtered and sorted (the caller pages). ``status`` filters by the newest
    version's status; ``q`` by title, case-insensitive."""
    stmt = select(Par)
    ufs = _readable_ufs(actor)
    if ufs is not None:
        stmt = stmt.where(col(Par.uf).in_(ufs or {""}))
    if uf:
        stmt = stmt.where(col(Par.uf) == uf.upper())
    if q:
        stmt = stmt.where(col(Par.title).ilike(f"%{q.strip()}%"))
    pars = list((await session.execute(stmt)).scalars())
    versions = await _versions(session, [p.id or 0 for p in pars])
    bundles = [ParBundle(p, tuple(versions[p.id or 0])) for p in pars if versions.get(p.id or 0)]
    bundles = [b for b in bundles if readable(actor, b.latest)]
    if status:
        bundles = [b for b in bundles if b.latest.status == status]
    if scope_kind:
        bundles = [b for b in bundles if b.latest.scope_kind == scope_kind]

    def key(b: ParBundle) -> Any:
        match sort:
            case "title":
                return (b.par.title.lower(), b.par.id)
            case "status":
                return (b.latest.status, b.par.id)
            case "population":
                return (b.latest.population, b.par.id)
            case "approved_on":
                return (b.par.first_approved_on or date.min, b.par.id)
            case "updated_at":
                return (b.par.updated_at, b.par.id)
        return (b.par.id,)

    return sorted(bundles, key=key, reverse=descending)


async def next_version_number(session: AsyncSession, par_id: int) -> int:
    current = await session.execute(select(func.max(col(ParVersion.version))).where(col(ParVersion.par_id) == par_id))
    return int(current.scalar_one() or 0) + 1


async def lines(session: AsyncSession, version_id: int) -> list[ParLine]:
    stmt = (
        select(ParLine)
        .where(col(ParLine.version_id) == version_id)
        .order_by(col(ParLine.month), col(ParLine.oci_code), col(ParLine.cnes))
    )
    return list((await session.execute(stmt)).scalars())


async def steps(session: AsyncSession, version_ids: Sequence[int]) -> dict[int, list[ParStep]]:
    out: dict[int, list[ParStep]] = defaultdict(list)
    if not version_ids:
        return out
    stmt = (
        select(ParStep)
        .where(col(ParStep.version_id).in_(version_ids))
        .order_by(col(ParStep.step_date), col(ParStep.id))
    )
    for s in (await session.execute(stmt)).scalars():
        out[s.version_id].append(s)
    return out


async def transfers(session: AsyncSession, par_id: int) -> list[ParTransfer]:
    stmt = (
        select(ParTransfer)
        .where(col(ParTransfer.par_id) == par_id)
        .order_by(col(ParTransfer.paid_on), col(ParTransfer.id))
    )
    return list((await session.execute(stmt)).scalars())


async def latest_commitment(session: AsyncSession, par_id: int) -> ParCommitment | None:
    stmt = (
        select(ParCommitment)
        .where(col(ParCommitment.par_id) == par_id)
        .order_by(col(ParCommitment.assessed_on).desc(), col(ParCommitment.id).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def contracts(session: AsyncSession, par_id: int) -> list[ParContract]:
    stmt = (
        select(ParContract)
        .where(col(ParContract.par_id) == par_id)
        .order_by(col(ParContract.month), col(ParContract.cnes), col(ParContract.oci_code))
    )
    return list((await session.execute(stmt)).scalars())


async def contract(session: AsyncSession, par_id: int, cnes: str, oci_code: str, month: date) -> ParContract | None:
    stmt = select(ParContract).where(
        col(ParContract.par_id) == par_id,
        col(ParContract.cnes) == cnes,
        col(ParContract.oci_code) == oci_code,
        col(ParContract.month) == month,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def establishments(session: AsyncSession, cnes: Iterable[str]) -> dict[str, Establishment]:
    wanted = sorted(set(cnes))
    if not wanted:
        return {}
    stmt = select(Establishment).where(col(Establishment.cnes).in_(wanted))
    return {e.cnes: e for e in (await session.execute(stmt)).scalars()}


async def establishments_in(session: AsyncSession, municipalities: Iterable[str]) -> list[Establishment]:
    stmt = (
        select(Establishment)
        .where(col(Establishment.municipality_ibge).in_(sorted(set(municipalities))), col(Establishment.active))
        .order_by(col(Establishment.cnes))
    )
    return list((await session.execute(stmt)).scalars())


# -- what covers a municipality (the six-month window, capacities) ----------------------------------------------------


async def first_approval_covering(session: AsyncSession, municipality_ibge: str) -> date | None:
    """The earliest first-approval date of the PARs whose version in force covers the municipality."""
    stmt = (
        select(func.min(col(Par.first_approved_on)))
        .join(ParVersion, col(ParVersion.par_id) == col(Par.id))
        .where(
            col(ParVersion.status) == "aprovada",
            col(ParVersion.municipalities).contains([municipality_ibge]),  # JSONB @>
            col(Par.first_approved_on).is_not(None),
        )
    )
    found: date | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def approved_lines_for_month(
    session: AsyncSession, month: date, *, cnes: str | None = None, oci_code: str | None = None
) -> list[tuple[int, ParLine]]:
    """(PAR id, line) of every approved version's line of ``month`` (optionally one CNES or OCI)."""
    stmt = (
        select(col(ParVersion.par_id), ParLine)
        .join(ParVersion, col(ParVersion.id) == col(ParLine.version_id))
        .where(col(ParVersion.status) == "aprovada", col(ParLine.month) == month)
        .order_by(col(ParLine.cnes), col(ParLine.oci_code))
    )
    if cnes:
        stmt = stmt.where(col(ParLine.cnes) == cnes)
    if oci_code:
        stmt = stmt.where(col(ParLine.oci_code) == oci_code)
    return [(int(par_id), line) for par_id, line in (await session.execute(stmt)).all()]


# -- production, queue and agenda figures for a PAR -----------------------------------------------------------------


async def concluded_executions(
    session: AsyncSession, cnes: Iterable[str], oci_codes: Iterable[str], *, until: date
) -> list[OciExecution]:
    """OCI executions production control concluded (``production.execution.conclude``) at these establishments,
    for these OCIs, whose last procedure is on or before ``until``."""
    wanted_cnes, wanted_ocis = sorted(set(cnes)), sorted(set(oci_codes))
    if not wanted_cnes or not wanted_ocis:
        return []
    stmt = (
        select(OciExecution)
        .where(
            col(OciExecution.status) == "concluida",
            col(OciExecution.cnes).in_(wanted_cnes),
            col(OciExecution.oci_code).in_(wanted_ocis),
            col(OciExecution.last_on).is_not(None),
            col(OciExecution.last_on) <= until,
        )
        .order_by(col(OciExecution.last_on), col(OciExecution.id))
    )
    return list((await session.execute(stmt)).scalars())


_QUEUE_SQL = """
SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY w.days) AS median
FROM waitlist_entry e
CROSS JOIN LATERAL (SELECT {days} AS days) w
WHERE e.status = 'autorizada' AND e.authorized_at IS NOT NULL
      AND e.municipality_ibge = ANY(CAST(:munis AS text[])) AND e.oci_code = ANY(CAST(:ocis AS text[]))
"""

_NO_SHOW_SQL = """
SELECT {no_shows}
FROM waitlist_entry_event ev
JOIN waitlist_entry e ON e.id = ev.entry_id
WHERE ev.kind = 'transition' AND ({came_due}) AND ev.occurred_at >= :since_at AND ev.occurred_at < :until_at
      AND e.municipality_ibge = ANY(CAST(:munis AS text[])) AND e.oci_code = ANY(CAST(:ocis AS text[]))
"""


@dataclass(frozen=True)
class QueueFigures:
    size: int
    median_days: float | None


async def queue_figures(
    session: AsyncSession, municipalities: Sequence[str], oci_codes: Sequence[str], *, today: date, tz: str
) -> QueueFigures:
    """The queue of the PAR's residents for its OCIs on ``today``: entries waiting (``autorizada``) and the median
    days waited, with the waitlist's own measure (``waitlist.measures``: days waited)."""
    e = m.EntrySql.alias("e")
    query = _QUEUE_SQL.format(days=m.as_text(e.days(m.date_param("today"), tz)))
    row = (
        await session.execute(text(query), {"today": today, "munis": list(municipalities), "ocis": list(oci_codes)})
    ).one()
    return QueueFigures(int(row.n), float(row.median) if row.median is not None else None)


async def no_show_figures(
    session: AsyncSession,
    municipalities: Sequence[str],
    oci_codes: Sequence[str],
    *,
    since: date,
    until: date,
    tz: str,
) -> m.Share:
    """Of the appointments of the PAR's residents for its OCIs that came due in [since, until), the missed ones
    (``waitlist.measures.no_show_rate_sql``)."""
    missed, due = m.no_show_rate_sql(literal_column("ev.to_status"))
    query = _NO_SHOW_SQL.format(
        no_shows=f"{m.as_text(due)} AS due, {m.as_text(missed)} AS missed",
        came_due=m.as_text(m.came_due_sql(literal_column("ev.to_status"))),
    )
    params = {
        "since_at": m.start_of_day(since, tz),
        "until_at": m.start_of_day(until, tz),
        "munis": list(municipalities),
        "ocis": list(oci_codes),
    }
    row = (await session.execute(text(query), params)).one()
    return m.Share(int(row.missed), int(row.due))


async def regulated_counts(
    session: AsyncSession,
    cnes: Iterable[str],
    oci_codes: Iterable[str],
    *,
    since: datetime,
    until: datetime,
    tz: str,
) -> dict[tuple[str, str, date], int]:
    """Bookings the regulation made at these establishments for these OCIs, by (CNES, OCI, month of the slot):
    active, attended or missed — a released booking was not regulated to the provider in the end."""
    wanted_cnes, wanted_ocis = sorted(set(cnes)), sorted(set(oci_codes))
    if not wanted_cnes or not wanted_ocis:
        return {}
    month = func.date_trunc("month", func.timezone(tz, col(AgendaSlot.starts_at)))  # the local month
    stmt = (
        select(col(AgendaSlot.cnes), col(AgendaSlot.oci_code), month, func.count())
        .join(SlotBooking, col(SlotBooking.slot_id) == col(AgendaSlot.id))
        .where(
            col(AgendaSlot.cnes).in_(wanted_cnes),
            col(AgendaSlot.oci_code).in_(wanted_ocis),
            col(AgendaSlot.starts_at) >= since,
            col(AgendaSlot.starts_at) < until,
            col(SlotBooking.status).in_(("ativa", "realizada", "faltou")),
        )
        .group_by(col(AgendaSlot.cnes), col(AgendaSlot.oci_code), month)
    )
    out: dict[tuple[str, str, date], int] = {}
    for cnes_, oci, started, n in (await session.execute(stmt)).all():
        out[(cnes_, oci, started.date().replace(day=1))] = int(n)
    return out
