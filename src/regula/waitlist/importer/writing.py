"""Writing an import: rows read and validated chunk by chunk, each chunk looked up in the database (already
imported, registered citizens, active entries), planned, and written with binary ``COPY`` into staging tables and
``INSERT … SELECT … ON CONFLICT`` statements that also write the entries' history events; then the scores and
positions of the queues that received authorized entries, and the import's one audit event (decision 0025)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.labels import jurisdiction_label
from regula.audit.service import record_bulk_import
from regula.catalog import protocols as referral_protocols
from regula.config import Settings
from regula.core.errors import FieldError
from regula.db.base import utcnow
from regula.territory.reference import Municipality
from regula.waitlist import service
from regula.waitlist.importer.reading import Format, RawRow, RowSource, open_rows
from regula.waitlist.importer.report import ImportFileError, ImportProgress, ImportReport, ProgressCallback, RowError
from regula.waitlist.importer.validation import Refused, Valid, Validator
from regula.waitlist.models import ACTIVE_STATUS_SQL, RegulationScope
from regula.waitlist.refresh import refresh_all
from regula.waitlist.states import EntryStatus

DEFAULT_SOURCE: Final = "importacao"
DEFAULT_CHUNK_SIZE: Final = 25_000
MAX_SOURCE: Final = 32
#: Above this many authorized rows, scores are left to the bulk refresh (per-entry ``rescore`` is too slow).
RESCORE_LIMIT: Final = 20_000


class NewCitizen:
    """A citizen the import registers; shared by the rows of a chunk that name the same person."""

    __slots__ = ("cns", "cpf", "first", "id", "uf")

    def __init__(self, first: Valid, uf: str) -> None:
        self.first = first
        self.cpf = first.cpf
        self.cns = first.cns
        self.uf = uf
        self.id: int | None = None


@dataclass(slots=True)
class Planned:
    valid: Valid
    citizen_id: int | None
    new: NewCitizen | None
    municipality_ibge: str
    uf: str
    scope_kind: str
    scope_code: str
    max_days: int
    protocol: str = ""


class _Retry(Exception):
    """The database did not take every row of a chunk as planned: write its rows one by one."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: Draws of a protocol for an entry whose protocol the database already holds, before the row is written alone.
_PROTOCOL_DRAWS: Final = 3
#: An entry imported meanwhile (same source and external id) by another transaction: the row is ``unchanged``.
_EXTERNAL_CONSTRAINT: Final = "uq_waitlist_entry_external_source_external_id"
_CITIZEN_STAGE: Final = "_regula_import_citizen"
_ENTRY_STAGE: Final = "_regula_import_entry"
_CITIZEN_COLUMNS: Final = (
    "cpf",
    "cns",
    "name",
    "social_name",
    "search_name",
    "birth_date",
    "sex",
    "race_color",
    "municipality_ibge",
    "uf",
    "phone",
    "preferred_channel",
    "contact_consent",
    "contact_consent_at",
    "pregnant",
    "disability",
    "autism",
    "cadunico",
    "vulnerability_index",
)
_ENTRY_COLUMNS: Final = (
    "protocol",
    "citizen_id",
    "oci_code",
    "catalog_competencia",
    "requested_procedure_code",
    "cid_code",
    "risk_class",
    "risk_justification",
    "checklist",
    "protocol_version",
    "exams",
    "requesting_cnes",
    "requesting_ine",
    "professional_cns",
    "professional_cbo",
    "municipality_ibge",
    "uf",
    "scope_kind",
    "scope_code",
    "status",
    "status_changed_at",
    "external_id",
    "requested_at",
    "authorized_at",
    "max_days",
)
_STAGING_SQL: Final = (
    f"""CREATE TEMP TABLE IF NOT EXISTS {_CITIZEN_STAGE} (
        seq int, cpf text, cns text, name text, social_name text, search_name text, birth_date date, sex text,
        race_color text, municipality_ibge text, uf text, phone text, preferred_channel text, contact_consent bool,
        contact_consent_at timestamptz, pregnant bool, disability bool, autism bool, cadunico bool,
        vulnerability_index numeric)""",
    f"""CREATE TEMP TABLE IF NOT EXISTS {_ENTRY_STAGE} (
        seq int, protocol text, citizen_id bigint, oci_code text, catalog_competencia text,
        requested_procedure_code text, cid_code text, risk_class text, risk_justification text, checklist jsonb,
        protocol_version int, exams jsonb, requesting_cnes text, requesting_ine text, professional_cns text,
        professional_cbo text,
        municipality_ibge text, uf text, scope_kind text, scope_code text, status text,
        status_changed_at timestamptz, external_id text, requested_at timestamptz, authorized_at timestamptz,
        max_days int)""",
)
# Literal statements (no interpolation): the column lists are _CITIZEN_COLUMNS and _ENTRY_COLUMNS. No audit row per
# record: the import is audited as one event naming the ids created (decision 0025).
_INSERT_CITIZENS: Final = """
INSERT INTO citizen (
    cpf, cns, name, social_name, search_name, birth_date, sex, race_color, municipality_ibge, uf, phone,
    preferred_channel, contact_consent, contact_consent_at, pregnant, disability, autism, cadunico,
    vulnerability_index, created_at, updated_at
)
SELECT
    cpf, cns, name, social_name, search_name, birth_date, sex, race_color, municipality_ibge, uf, phone,
    preferred_channel, contact_consent, contact_consent_at, pregnant, disability, autism, cadunico,
    vulnerability_index,
    $1, $1
FROM _regula_import_citizen
ON CONFLICT DO NOTHING
RETURNING id, cpf, cns
"""

_INSERT_ENTRIES: Final = """
WITH ins AS (
    INSERT INTO waitlist_entry (
        protocol, citizen_id, oci_code, catalog_competencia, requested_procedure_code, cid_code, risk_class,
        risk_justification, checklist, protocol_version, exams, requesting_cnes, requesting_ine, professional_cns,
        professional_cbo, municipality_ibge, uf, scope_kind, scope_code, status, status_changed_at, external_id,
        requested_at, authorized_at, max_days, external_source, suspended_days, created_by,
        created_at, updated_at
    )
    SELECT
        protocol, citizen_id, oci_code, catalog_competencia, requested_procedure_code, cid_code, risk_class,
        risk_justification, checklist, protocol_version, exams, requesting_cnes, requesting_ine, professional_cns,
        professional_cbo, municipality_ibge, uf, scope_kind, scope_code, status, status_changed_at, external_id,
        requested_at, authorized_at, max_days,
        $1, 0, $2, $3, $3
    FROM _regula_import_entry
    ON CONFLICT (protocol) DO NOTHING
    RETURNING id, status, external_source, external_id, oci_code, scope_kind, scope_code, uf, municipality_ibge
), events AS (
    INSERT INTO waitlist_entry_event (
        entry_id, kind, from_status, to_status, data, actor_user_id, actor_username, actor_role
    )
    SELECT ins.id, 'created', NULL, ins.status,
           jsonb_build_object('importacao', ins.external_source, 'id_externo', ins.external_id),
           CAST($4 AS bigint), $5, $6
    FROM ins
)
SELECT id, external_id, status, oci_code, scope_kind, scope_code, uf, municipality_ibge FROM ins
"""

# Look-ups of a chunk: one index probe per value (LATERAL … OFFSET 0 keeps the planner from turning a long array
# into a sequential scan, which would make a large import quadratic).
_EXTERNAL_SQL: Final = """
SELECT w.external_id FROM unnest($2::text[]) AS u(v),
LATERAL (SELECT external_id FROM waitlist_entry WHERE external_source = $1 AND external_id = u.v OFFSET 0) AS w
"""
_CITIZEN_BY_CPF_SQL: Final = """
SELECT c.id, c.cpf, c.cns, c.sex, c.birth_date, c.municipality_ibge, c.uf FROM unnest($1::text[]) AS u(v),
LATERAL (SELECT * FROM citizen WHERE cpf = u.v AND merged_into_id IS NULL OFFSET 0) AS c
"""
_CITIZEN_BY_CNS_SQL: Final = """
SELECT c.id, c.cpf, c.cns, c.sex, c.birth_date, c.municipality_ibge, c.uf FROM unnest($1::text[]) AS u(v),
LATERAL (SELECT * FROM citizen WHERE cns = u.v AND merged_into_id IS NULL OFFSET 0) AS c
"""
_ACTIVE_SQL: Final = (
    "SELECT w.citizen_id, w.oci_code FROM unnest($1::bigint[]) AS u(v), LATERAL (SELECT citizen_id, oci_code "  # noqa: S608 - constant
    "FROM waitlist_entry WHERE citizen_id = u.v AND " + ACTIVE_STATUS_SQL + " OFFSET 0) AS w"
)
_PROTOCOL_SQL: Final = """
SELECT w.protocol FROM unnest($1::text[]) AS u(v),
LATERAL (SELECT protocol FROM waitlist_entry WHERE protocol = u.v OFFSET 0) AS w
"""


def _random_numbers(n: int) -> list[int]:
    """``n`` numbers below 10⁸ from the operating system's CSPRNG (as ``secrets.randbelow``), in one call."""
    out: list[int] = []
    while len(out) < n:
        words = array("I")
        assert words.itemsize == 4
        words.frombytes(os.urandom(4 * (n - len(out) + 16)))
        out.extend(w % 100_000_000 for w in words if w < 4_200_000_000)  # 42·10⁸ < 2³²: no modulo bias
    return out[:n]


@dataclass
class _Written:
    authorized_ids: list[int] = field(default_factory=list)
    queues: set[service.QueueKey] = field(default_factory=set)
    # What the import's audit event names (decision 0025): the ids created, and where the entries are.
    citizen_ids: array[int] = field(default_factory=lambda: array("q"))
    entry_ids: array[int] = field(default_factory=lambda: array("q"))
    places: set[tuple[str, str]] = field(default_factory=set)


class Importer:
    """One import run on one session: reads, validates, writes chunk by chunk, reports."""

    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        actor: service.Actor,
        source: str,
        progress: ProgressCallback | None,
        chunk_size: int,
    ) -> None:
        self.session = session
        self.settings = settings
        self.actor = actor
        self.source = source
        self.progress = progress
        self.chunk_size = chunk_size
        self.now = utcnow()
        self.report = ImportReport(source=source)
        self.written = _Written()
        self._seen_external: dict[str, int] = {}
        self._covers_map: dict[str, bool] = {}
        self._scopes: dict[str, tuple[str, str]] = {}
        self._conn: Any = None
        self._columns: Mapping[str, str] = {}
        self._rows: RowSource | None = None
        self._in_force: dict[date, referral_protocols.ProtocolMap] = {}
        self._tm_days: dict[tuple[date, str], int] = {}  # tM by authorization day and OCI

    # setup

    async def _prepare(self) -> None:
        self.catalog = await service.load_catalog(self.session, self.settings)
        self.validator = Validator(self.catalog, self.settings, self.actor, self.now)
        configured = (await self.session.execute(select(RegulationScope))).scalars()
        self._region_kinds = {r.health_region_code: r.scope_kind for r in configured}
        raw = await (await self.session.connection()).get_raw_connection()
        self._conn = raw.driver_connection
        for statement in _STAGING_SQL:
            await self._conn.execute(statement)
        self._yy = f"{self.validator.today:%y}"

    def _scope(self, m: Municipality) -> tuple[str, str]:
        """``service.scope_for`` with the regulation scopes read once."""
        found = self._scopes.get(m.ibge_code)
        if found is None:
            kind = "region" if m.health_region_code else "macro"
            if m.health_region_code and m.health_region_code in self._region_kinds:
                kind = self._region_kinds[m.health_region_code]
            code = {"region": m.health_region_code, "macro": m.macro_code, "uf": m.uf}[kind]
            assert code is not None
            found = self._scopes[m.ibge_code] = (kind, code)
        return found

    # run

    async def run(self, rows: RowSource) -> ImportReport:
        started = time.perf_counter()
        self._rows = rows
        self.report.filename = rows.filename
        await self._prepare()
        self._columns = rows.columns
        pending: asyncio.Task[None] | None = None
        iterator = iter(rows)
        try:
            while True:
                chunk = await self._read_chunk(iterator)
                if pending is not None:
                    task, pending = pending, None
                    await task
                    self._notify()
                if not chunk:
                    break
                # The database work of this chunk runs while the next chunk is read and validated.
                pending = asyncio.create_task(self._process(chunk))
        finally:
            if pending is not None:
                # Reading failed (a file-level error): let the chunk in flight finish before the caller rolls back.
                with contextlib.suppress(Exception):
                    await pending
        self.report.ignored_columns = list(rows.ignored)
        await self._after_import()
        self.report.errors.sort(key=lambda e: e.row)
        self.report.elapsed_seconds = time.perf_counter() - started
        await self._audit(rows.sha256())
        self._notify()
        return self.report

    async def _audit(self, sha256: str) -> None:
        """The import's one audit event, in its transaction (decision 0025): the file's hash, the counts and the
        ids it created; the place of its entries when they all share one (so that an auditor of that place sees
        it)."""
        w = self.written
        ufs = {uf for uf, _ in w.places}
        munis = {muni for _, muni in w.places}
        await record_bulk_import(
            self.session,
            entity_type="WaitlistEntry",
            created={"Citizen": w.citizen_ids, "WaitlistEntry": w.entry_ids},
            detail={k: v for k, v in self.report.as_dict().items() if k != "errors"} | {"sha256": sha256},
            reason=f"Importação de encaminhamentos ({self.source})",
            uf=next(iter(ufs)) if len(ufs) == 1 else None,
            municipality_ibge=next(iter(munis)) if len(munis) == 1 else None,
        )

    async def _read_chunk(self, iterator: Iterator[RawRow]) -> list[Valid | Refused]:
        chunk: list[Valid | Refused] = []
        validate = self.validator.validate
        seen = self._seen_external
        for raw in iterator:
            item = validate(raw)
            ext = item.external_id
            if ext:
                first = seen.get(ext)
                if first is None:
                    seen[ext] = item.row
                else:
                    error = FieldError(
                        "external_id", "id_externo_repetido", f"O id_externo {ext!r} já apareceu na linha {first}."
                    )
                    # Refused for good, even when a later import finds that id imported (by the first row).
                    item = Refused(item.row, "", [*item.errors, error] if isinstance(item, Refused) else [error])
            chunk.append(item)
            if len(chunk) >= self.chunk_size:
                break
            if len(chunk) % 512 == 0:
                await asyncio.sleep(0)  # let the previous chunk's statements reach the database
        self.report.rows += len(chunk)
        return chunk

    def _notify(self) -> None:
        if self.progress is not None and self._rows is not None:
            r = self.report
            self.progress(
                ImportProgress(r.rows, r.imported, r.unchanged, r.refused, self._rows.bytes_read, self._rows.size)
            )

    def _refuse(self, row: int, errors: Iterable[FieldError]) -> None:
        self.report.refused += 1
        columns = self._columns
        self.report.errors.extend(RowError(row, e.field, e.code, e.message, columns.get(e.field)) for e in errors)

    # one chunk: look up, decide, write

    async def _process(self, chunk: list[Valid | Refused]) -> None:
        conn = self._conn
        externals = [item.external_id for item in chunk if item.external_id]
        existing_ext = {r[0] for r in await conn.fetch(_EXTERNAL_SQL, self.source, externals)}
        valid: list[Valid] = []
        for item in chunk:
            if item.external_id in existing_ext:
                self.report.unchanged += 1
            elif isinstance(item, Refused):
                self._refuse(item.row, item.errors)
            else:
                valid.append(item)
        plan = await self._plan(valid)
        if plan:
            await self._write_chunk(plan)

    async def _plan(self, rows: list[Valid]) -> list[Planned]:
        conn = self._conn
        cpfs = [r.cpf for r in rows if r.cpf]
        cnss = [r.cns for r in rows if r.cns]
        found = list(await conn.fetch(_CITIZEN_BY_CPF_SQL, cpfs)) if cpfs else []
        if cnss:
            found += await conn.fetch(_CITIZEN_BY_CNS_SQL, cnss)
        found.sort(key=lambda rec: rec["id"])  # of two records, the older one (as find_by_documents)
        by_cpf: dict[str, Any] = {}
        by_cns: dict[str, Any] = {}
        for rec in found:
            if rec["cpf"]:
                by_cpf.setdefault(rec["cpf"], rec)
            if rec["cns"]:
                by_cns.setdefault(rec["cns"], rec)
        active: set[tuple[int, str]] = set()
        if found:
            ids = list({rec["id"] for rec in found})
            active = {(r[0], r[1]) for r in await conn.fetch(_ACTIVE_SQL, ids)}
        new_by_cpf: dict[str, NewCitizen] = {}
        new_by_cns: dict[str, NewCitizen] = {}
        taken: dict[tuple[object, str], int] = {}
        plan: list[Planned] = []
        t = self.validator.territory
        for r in rows:
            rec = (by_cpf.get(r.cpf) if r.cpf else None) or None
            new = new_by_cpf.get(r.cpf) if (rec is None and r.cpf) else None
            if rec is None and new is None and r.cns:
                rec = by_cns.get(r.cns)
                if rec is None:
                    new = new_by_cns.get(r.cns)
            errors: list[FieldError] = []
            if rec is None and new is None and r.citizen_errors:
                self._refuse(r.row, r.citizen_errors)  # nobody registered by these documents: the data must do
                continue
            if rec is not None:
                municipality = t.municipality(rec["municipality_ibge"])
                if (rec["sex"], rec["birth_date"]) != (r.sex, r.birth_date):
                    errors.extend(self.validator.eligibility(r, rec["sex"], rec["birth_date"]))
                key: tuple[object, str] = (rec["id"], r.oci_code)
                if key in active:
                    errors.append(_active_error())
            else:
                # A person named by several rows of the chunk is registered with the data of the first.
                person = new.first if new is not None else r
                municipality = t.municipality(person.municipality_ibge)
                if (person.sex, person.birth_date) != (r.sex, r.birth_date):
                    errors.extend(self.validator.eligibility(r, person.sex, person.birth_date))
                key = (new, r.oci_code)
            if not self._covers_cached(municipality.ibge_code):
                errors.append(
                    FieldError(
                        "municipality_ibge",
                        "fora_da_jurisdicao",
                        f"Cidadão de município fora da sua jurisdição ({jurisdiction_label(self.actor.jurisdiction)}).",
                    )
                )
            first = taken.get(key) if key[0] is not None else None
            if first is not None and not errors:
                errors.append(_active_error(first))
            if errors:
                self._refuse(r.row, errors)
                continue
            if rec is None and new is None:
                new = NewCitizen(r, municipality.uf)
                if r.cpf:
                    new_by_cpf[r.cpf] = new
                if r.cns:
                    new_by_cns.setdefault(r.cns, new)
                key = (new, r.oci_code)
            taken[key] = r.row
            kind, code = self._scope(municipality)
            oci = self.catalog.ocis[r.oci_code]
            plan.append(
                Planned(
                    r,
                    rec["id"] if rec is not None else None,
                    new,
                    municipality.ibge_code,
                    municipality.uf,
                    kind,
                    code,
                    oci.max_days,
                )
            )
        await self._protocols(plan, look_up=False)
        await self._care_times(plan)
        return plan

    async def _care_times(self, plan: list[Planned]) -> None:
        """An entry imported already authorized takes the tM of its OCI's protocol in force on its authorization
        day, as one authorized in regula does (``service._take_care_times``; decision 22); the others take today's
        (``oci.max_days``) until they are authorized."""
        for p in plan:
            authorized = p.valid.authorized_at
            if authorized is None:
                continue
            day = authorized.astimezone(self.validator.tz).date()
            key = (day, p.valid.oci_code)
            tm = self._tm_days.get(key)
            if tm is None:
                in_force = self._in_force.get(day)
                if in_force is None:
                    in_force = await referral_protocols.protocols_on(self.session, day, self.settings)
                    self._in_force[day] = in_force
                tm = self._tm_days[key] = referral_protocols.care_times(in_force[key[1]], self.settings).tm_days
            p.max_days = tm

    def _covers_cached(self, ibge: str) -> bool:
        found = self._covers_map.get(ibge)
        if found is None:
            found = self._covers_map[ibge] = self.actor.covers(ibge)
        return found

    async def _protocols(self, plan: list[Planned], *, look_up: bool = True) -> None:
        """Protocols as ``service.new_protocol`` makes them, unique in the chunk and, when ``look_up``, new to the
        database. A chunk's first draw is not looked up: its insert skips the rows whose protocol is taken
        (``ON CONFLICT (protocol) DO NOTHING``) and ``_insert_entries`` draws again for those, looked up."""
        todo = plan
        used: set[str] = set()
        while todo:
            numbers = _random_numbers(len(todo))
            yy = self._yy
            for p, number in zip(todo, numbers, strict=True):
                p.protocol = f"{p.uf}{yy}{number:08d}"
            fresh: list[Planned] = []
            again: list[Planned] = []
            for p in todo:
                if p.protocol in used:
                    again.append(p)
                else:
                    used.add(p.protocol)
                    fresh.append(p)
            taken: set[str] = set()
            if look_up:
                taken = {r[0] for r in await self._conn.fetch(_PROTOCOL_SQL, [p.protocol for p in fresh])}
            if taken:
                for p in fresh:
                    if p.protocol in taken:
                        used.discard(p.protocol)
                        again.append(p)
            todo = again

    # writing

    def _citizen_record(self, seq: int, new: NewCitizen) -> tuple[Any, ...]:
        v = new.first
        return (
            seq,
            v.cpf,
            v.cns,
            v.name,
            v.social_name,
            v.search_name,
            v.birth_date,
            v.sex,
            v.race_color,
            v.municipality_ibge,
            new.uf,
            v.phone,
            v.preferred_channel,
            v.contact_consent,
            self.now if v.contact_consent else None,
            v.pregnant,
            v.disability,
            v.autism,
            v.cadunico,
            v.vulnerability_index,
        )

    def _entry_record(self, seq: int, p: Planned, citizen_id: int) -> tuple[Any, ...]:
        v = p.valid
        authorized = v.authorized_at
        return (
            seq,
            p.protocol,
            citizen_id,
            v.oci_code,
            self.catalog.competencia,
            v.requested_procedure_code,
            v.cid_code,
            v.risk_class,
            v.risk_justification,
            v.checklist,
            v.protocol_version,
            v.exams,
            v.requesting_cnes,
            v.requesting_ine,
            v.professional_cns,
            v.professional_cbo,
            p.municipality_ibge,
            p.uf,
            p.scope_kind,
            p.scope_code,
            v.status,
            authorized or v.requested_at,
            v.external_id,
            v.requested_at,
            authorized,
            p.max_days,
        )

    async def _write(self, plan: Sequence[Planned]) -> tuple[list[int], list[Any]]:
        """Insert the plan's new citizens and its entries; raise ``_Retry`` when the database skipped any."""
        conn = self._conn
        news: list[NewCitizen] = []
        seen: set[int] = set()
        for p in plan:
            if p.new is not None and p.new.id is None and id(p.new) not in seen:
                seen.add(id(p.new))
                news.append(p.new)
        created: list[int] = []
        if news:
            await conn.execute(f"TRUNCATE {_CITIZEN_STAGE}")
            await conn.copy_records_to_table(
                _CITIZEN_STAGE,
                records=[self._citizen_record(i, n) for i, n in enumerate(news)],
                columns=["seq", *_CITIZEN_COLUMNS],
            )
            returned = await conn.fetch(_INSERT_CITIZENS, self.now)
            ids_by_cpf = {r["cpf"]: r["id"] for r in returned if r["cpf"]}
            ids_by_cns = {r["cns"]: r["id"] for r in returned if r["cns"]}
            for n in news:
                n.id = ids_by_cpf.get(n.cpf) if n.cpf else ids_by_cns.get(n.cns or "")
                if n.id is None:
                    raise _Retry("cidadao")
            created = [r["id"] for r in returned]
        return created, await self._insert_entries(plan)

    async def _insert_entries(self, plan: Sequence[Planned]) -> list[Any]:
        """Insert the plan's entries; the rows skipped because their protocol was taken meanwhile get new protocols
        and are inserted again. Raise ``_Retry`` when rows are still skipped after a few draws."""
        conn = self._conn
        entries: list[Any] = []
        todo = list(plan)
        for _ in range(_PROTOCOL_DRAWS):
            records = []
            for i, p in enumerate(todo):
                citizen_id = p.citizen_id if p.citizen_id is not None else (p.new.id if p.new else None)
                assert citizen_id is not None
                records.append(self._entry_record(i, p, citizen_id))
            await conn.execute(f"TRUNCATE {_ENTRY_STAGE}")
            await conn.copy_records_to_table(_ENTRY_STAGE, records=records, columns=["seq", *_ENTRY_COLUMNS])
            returned = await conn.fetch(
                _INSERT_ENTRIES,
                self.source,
                self.actor.username,
                self.now,
                self.actor.user_id,
                self.actor.username,
                self.actor.role,
            )
            entries.extend(returned)
            if len(returned) == len(todo):
                return entries
            written = {r["external_id"] for r in returned}
            todo = [p for p in todo if p.valid.external_id not in written]
            await self._protocols(todo)
        raise _Retry("entrada")

    def _count(self, created: list[int], entries: list[Any]) -> None:
        self.report.citizens_created += len(created)
        self.report.entries_created += len(entries)
        self.report.imported += len(entries)
        w = self.written
        w.citizen_ids.extend(created)
        w.entry_ids.extend(e["id"] for e in entries)
        w.places.update((e["uf"], e["municipality_ibge"]) for e in entries)
        for e in entries:
            if e["status"] == EntryStatus.AUTORIZADA.value:
                self.written.authorized_ids.append(e["id"])
                self.written.queues.add(service.QueueKey(e["oci_code"], e["scope_kind"], e["scope_code"]))

    async def _write_chunk(self, plan: list[Planned]) -> None:
        conn = self._conn
        await conn.execute("SAVEPOINT regula_import_chunk")
        try:
            created, entries = await self._write(plan)
        except (asyncpg.PostgresError, _Retry):
            await conn.execute("ROLLBACK TO SAVEPOINT regula_import_chunk")
            await conn.execute("RELEASE SAVEPOINT regula_import_chunk")
            for p in plan:
                if p.new is not None:
                    p.new.id = None
            await self._write_rows(plan)
            return
        await conn.execute("RELEASE SAVEPOINT regula_import_chunk")
        self._count(created, entries)

    async def _write_rows(self, plan: list[Planned]) -> None:
        """Row by row, each in a savepoint: only the rows the database refuses are refused."""
        conn = self._conn
        for p in plan:
            for attempt in range(3):
                new_id_before = p.new.id if p.new is not None else None
                await conn.execute("SAVEPOINT regula_import_row")
                try:
                    created, entries = await self._write([p])
                except (asyncpg.PostgresError, _Retry) as exc:
                    await conn.execute("ROLLBACK TO SAVEPOINT regula_import_row")
                    await conn.execute("RELEASE SAVEPOINT regula_import_row")
                    if p.new is not None:
                        p.new.id = new_id_before
                    if _constraint(exc) == "uq_waitlist_entry_protocol" and attempt < 2:
                        await self._protocols([p])
                        continue
                    outcome = await self._row_outcome(p, exc)
                    if outcome is None:
                        self.report.unchanged += 1
                    else:
                        self._refuse(p.valid.row, [outcome])
                    break
                await conn.execute("RELEASE SAVEPOINT regula_import_row")
                self._count(created, entries)
                break

    async def _row_outcome(self, p: Planned, exc: Exception) -> FieldError | None:
        """Why the database refused a row (None: it was imported meanwhile, so it is unchanged)."""
        if (isinstance(exc, _Retry) and exc.reason == "entrada") or _constraint(exc) == _EXTERNAL_CONSTRAINT:
            exists = await self._conn.fetchval(
                "SELECT 1 FROM waitlist_entry WHERE external_source = $1 AND external_id = $2",
                self.source,
                p.valid.external_id,
            )
            if exists:
                return None
        constraint = _constraint(exc)
        if constraint == "uq_waitlist_entry_active_citizen_oci":
            return _active_error()
        if (isinstance(exc, _Retry) and exc.reason == "cidadao") or constraint in ("uq_citizen_cpf", "uq_citizen_cns"):
            return FieldError(
                "cpf" if p.valid.cpf else "cns",
                "cidadao_conflito",
                "O CPF ou o CNS já pertence a outro cadastro; confira os documentos do cidadão.",
            )
        detail = getattr(exc, "constraint_name", None) or getattr(exc, "sqlstate", None) or type(exc).__name__
        return FieldError("linha", "recusada_pelo_banco", f"O banco de dados recusou a linha ({detail}).")

    # after the rows

    async def _after_import(self) -> None:
        """Scores and positions of the queues that received authorized entries."""
        ids = self.written.authorized_ids
        if not ids:
            return
        queues = sorted(self.written.queues, key=str)
        if len(ids) <= RESCORE_LIMIT:
            await service.rescore(self.session, self.settings, entry_ids=ids, actor=self.actor)
            await service.recompute_positions(self.session, self.settings, queues)
        else:
            # Many entries: the set-based refresh scores and ranks them in one pass.
            await refresh_all(self.session, self.settings, queues=queues)
        self.report.scores = "calculados"


def _active_error(first_row: int | None = None) -> FieldError:
    if first_row is not None:
        message = f"O cidadão já tem uma solicitação desta OCI neste arquivo (linha {first_row})."
    else:
        message = "O cidadão já tem uma solicitação ativa desta OCI."
    return FieldError("oci_code", "entrada_ativa_existente", message)


def _constraint(exc: BaseException) -> str | None:
    name = getattr(exc, "constraint_name", None)
    return name if isinstance(name, str) else None


async def import_referrals(
    session: AsyncSession,
    settings: Settings,
    data: Path | bytes | RowSource,
    *,
    actor: service.Actor,
    source: str = DEFAULT_SOURCE,
    fmt: Format = "auto",
    filename: str | None = None,
    progress: ProgressCallback | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> ImportReport:
    """Import referrals from a file (or bytes) into the session's transaction and report row by row.

    File-level problems raise ``ImportFileError`` (nothing should then be committed); row problems are in the
    report. The caller commits.
    """
    source = source.strip()
    if not source or len(source) > MAX_SOURCE:
        raise ImportFileError.for_field(
            "source", "origem_invalida", f"Informe a origem (--source) com 1 a {MAX_SOURCE} caracteres."
        )
    rows = data if isinstance(data, RowSource) else open_rows(data, fmt, filename)
    return await Importer(session, settings, actor, source, progress, chunk_size).run(rows)
