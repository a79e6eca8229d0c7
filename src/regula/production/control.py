"""Production control: production lines imported as the SIA/BPA receive them, cross-checked per person and period.

Amendment to Portaria GM/MS 3.492/2024, art. 14 §3 — production control must consider:

I – OCI production registered with OCI-specific codes (SIGTAP group 09; Portaria SAES, componente complementar,
    art. 12): an APAC whose principal procedure is a group-09 code is an OCI;
II – the procedures of each OCI with their codes: ``fora_da_composicao`` and ``acima_da_quantidade`` (SIGTAP's
    QT_PERMITIDA), and ``oci_incompleta`` (mandatory set and PMAE rule, ``regula.production.composition``; the 70%
    share is paid on OCIs "concluídas adequadamente", art. 16 II as amended);
III – the maximum time tM between the first and the last procedure: ``prazo_tm_excedido``;
IV – production cross-checked per person in a unit of time, so that no procedure is billed alone and again
    inside an OCI: ``cobranca_duplicada`` (also the SAES ordinance's duplicate records, art. 25 §2).

Plus care that bypassed regulation: OCI production whose authorization number regula never issued nor recorded
(``sem_autorizacao_regulada``) or was issued for someone else or another OCI (``autorizacao_divergente``) —
authorization is mandatory (SAES ordinance art. 13; the OCI's APAC has its own numbering, art. 16 §2 as amended).

Definitions regula chose where the texts leave room (docs/production.md):

* a person is the citizen found by CPF or CNS, else the document itself;
* the "unit of time" of item IV is the OCI's window: from its first procedure to its last, and at least tM days
  after the first — a procedure of the OCI billed alone (no authorization, or under a non-OCI authorization) for
  the same person inside that window is a duplicate;
* the period checked is a range of competências (AAAAMM).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.policy import JurisdictionKind
from regula.audit import service as audit
from regula.catalog.schemas import OciSummary
from regula.config import Settings
from regula.core.errors import FieldError, NotFound, ValidationFailed
from regula.people import documents
from regula.people.models import Citizen
from regula.production import authorization as auth
from regula.production import composition as comp
from regula.production.execution import parse_date
from regula.production.models import (
    PRODUCTION_INSTRUMENTS,
    AuthorizationNumber,
    OciExecution,
    ProductionImport,
    ProductionRecord,
)
from regula.production.service import load_oci
from regula.providers.models import Establishment
from regula.territory.reference import territory
from regula.waitlist import measures
from regula.waitlist import service as wl

COLUMNS: Final = (
    "cns",
    "cpf",
    "procedimento",
    "data",
    "cnes",
    "competencia",
    "quantidade",
    "autorizacao",
    "instrumento",
    "principal",
    "cbo",
    "cid",
)
REQUIRED_COLUMNS: Final = ("procedimento", "data", "cnes", "competencia")
OCI_GROUP: Final = "09"  # SIGTAP group 09 — Ofertas de Cuidados Integrados (SAES ordinance art. 12)
MAX_WINDOW_DAYS: Final = 120  # how far around an OCI's lines the checks look (above every tM in use)
_COMPETENCIA: Final = re.compile(r"^\d{4}(0[1-9]|1[0-2])$")
_CID: Final = re.compile(r"^[A-Z][0-9]{2}[0-9X]?$")

FINDING_LABELS_PT: Final[dict[str, str]] = {
    "cobranca_duplicada": "Procedimento cobrado isoladamente e dentro da OCI",
    "fora_da_composicao": "Procedimento fora da composição da OCI",
    "acima_da_quantidade": "Quantidade acima da permitida",
    "prazo_tm_excedido": "OCI além do tempo máximo (tM)",
    "oci_incompleta": "OCI sem o conjunto obrigatório",
    "sem_autorizacao_regulada": "Produção sem autorização regulada",
    "autorizacao_divergente": "Autorização de outra pessoa ou OCI",
    "oci_desconhecida": "OCI inexistente no SIGTAP",
}
FINDING_ARTICLES: Final[dict[str, str]] = {
    "cobranca_duplicada": "Portaria GM/MS 3.492/2024 (alterada), art. 14 §3 IV; Portaria SAES (ATE), art. 25 §2",
    "fora_da_composicao": "Portaria GM/MS 3.492/2024 (alterada), art. 14 §3 II",
    "acima_da_quantidade": "Portaria GM/MS 3.492/2024 (alterada), art. 14 §3 II",
    "prazo_tm_excedido": "Portaria GM/MS 3.492/2024 (alterada), art. 14 §3 III",
    "oci_incompleta": "Portaria GM/MS 3.492/2024 (alterada), art. 14 §3 II e art. 16 II",
    "sem_autorizacao_regulada": "Portaria SAES (ATE), art. 13; Portaria GM/MS 3.492/2024 (alterada), art. 16 §2",
    "autorizacao_divergente": "Portaria SAES (ATE), art. 13",
    "oci_desconhecida": "Portaria GM/MS 3.492/2024 (alterada), art. 14 §3 I",
}


# -- import ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int  # 1 = the first line after the header
    field: str
    code: str
    message: str


@dataclass(frozen=True)
class ImportReport:
    import_id: int | None
    filename: str
    rows: int
    imported: int
    refused: int
    unchanged: bool
    errors: list[RowError] = field(default_factory=list)


def parse_production_csv(content: str) -> list[dict[str, str]]:
    """Rows of a production CSV (``;`` or ``,`` separated, header line first; see docs/production.md)."""
    text_ = content.lstrip("\ufeff")
    first = text_.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text_), delimiter=delimiter)
    if reader.fieldnames is None:
        raise ValidationFailed.for_field("arquivo", "arquivo_vazio", "O arquivo está vazio.")
    names = [(n or "").strip().lower() for n in reader.fieldnames]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if "cns" not in names and "cpf" not in names:
        missing.append("cpf ou cns")
    if missing:
        raise ValidationFailed.for_field(
            "arquivo",
            "colunas_ausentes",
            f"Faltam colunas no cabeçalho: {', '.join(missing)}. Colunas aceitas: {';'.join(COLUMNS)}.",
        )
    reader.fieldnames = names
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def _row(raw: dict[str, str], n: int, errors: list[RowError]) -> dict[str, Any] | None:
    """One CSV row checked field by field; None (and its errors) when it is refused."""
    mine: list[RowError] = []

    def err(field_name: str, code: str, message: str) -> None:
        mine.append(RowError(n, field_name, code, message))

    def adopt(exc: ValidationFailed, field_name: str) -> None:
        for e in exc.errors or [FieldError(field_name, exc.code, exc.message)]:
            err(field_name, e.code, e.message)

    cpf = cns = None
    if raw.get("cpf"):
        try:
            cpf = documents.validate_cpf(raw["cpf"], "cpf")
        except ValidationFailed as exc:
            adopt(exc, "cpf")
    if raw.get("cns"):
        try:
            cns = documents.validate_cns(raw["cns"], "cns")
        except ValidationFailed as exc:
            adopt(exc, "cns")
    if not raw.get("cpf") and not raw.get("cns"):
        err("cpf", "documento_obrigatorio", "Informe o CPF ou o CNS da pessoa atendida.")
    code = re.sub(r"[\s.\-]", "", raw.get("procedimento", ""))
    if not (code.isdigit() and len(code) == 10):
        err("procedimento", "procedimento_formato", "O código SIGTAP do procedimento tem 10 dígitos.")
    performed: date | None = None
    try:
        performed = parse_date(raw.get("data", ""), "data")
    except ValidationFailed as exc:
        adopt(exc, "data")
    cnes = raw.get("cnes", "")
    if not (cnes.isdigit() and len(cnes) == 7):
        err("cnes", "cnes_formato", "CNES tem 7 dígitos.")
    competencia = raw.get("competencia", "")
    if "/" in competencia:  # MM/AAAA, as people write it
        month, _, year = competencia.partition("/")
        competencia = f"{year.strip()}{month.strip().zfill(2)}"
    if not _COMPETENCIA.match(competencia):
        err("competencia", "competencia_invalida", "Competência no formato AAAAMM, por exemplo 202601.")
    quantity = 1
    if raw.get("quantidade"):
        try:
            quantity = int(raw["quantidade"])
            if quantity < 1:
                raise ValueError
        except ValueError:
            err("quantidade", "quantidade_invalida", "A quantidade é um número inteiro a partir de 1.")
    instrument = raw.get("instrumento", "").lower() or ("apac" if raw.get("autorizacao") else "bpa")
    if instrument not in PRODUCTION_INSTRUMENTS:
        err("instrumento", "instrumento_invalido", f"Instrumento deve ser um de: {', '.join(PRODUCTION_INSTRUMENTS)}.")
    number = None
    if raw.get("autorizacao"):
        try:
            number = auth.parse_authorization(
                raw["autorizacao"], field="autorizacao", instrument=instrument if instrument != "bpa" else None
            ).number
        except ValidationFailed as exc:
            adopt(exc, "autorizacao")
    principal = re.sub(r"[\s.\-]", "", raw.get("principal", "")) or None
    if principal is not None and not (principal.isdigit() and len(principal) == 10):
        err("principal", "procedimento_formato", "O procedimento principal tem 10 dígitos.")
    cbo = raw.get("cbo", "").replace("-", "") or None
    if cbo is not None and not (cbo.isdigit() and len(cbo) == 6):
        err("cbo", "cbo_formato", "CBO tem 6 dígitos.")
    cid = raw.get("cid", "").upper().replace(".", "") or None
    if cid is not None and not _CID.match(cid):
        err("cid", "cid_formato", "CID-10 no formato letra e números, por exemplo N63.")
    if mine:
        errors.extend(mine)
        return None
    assert performed is not None
    return {
        "line_no": n,
        "cpf": cpf,
        "cns": cns,
        "procedure_code": code,
        "performed_on": performed,
        "cnes": cnes,
        "competencia": competencia,
        "quantity": quantity,
        "instrument": instrument,
        "authorization_number": number,
        "principal_code": principal,
        "cbo": cbo,
        "cid_code": cid,
    }


async def import_production(
    session: AsyncSession,
    content: bytes | str,
    *,
    filename: str = "producao.csv",
    imported_by: str | None = None,
    allowed_cnes: set[str] | None = None,
) -> ImportReport:
    """Import production lines: valid rows go in, refused rows come back with their field errors. The same file
    (SHA-256) is imported once; importing it again changes nothing (``unchanged``). With ``allowed_cnes`` (the
    establishments of the importer's jurisdiction), lines of other establishments are refused."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    digest = hashlib.sha256(data).hexdigest()
    existing = (
        await session.execute(select(ProductionImport).where(col(ProductionImport.sha256) == digest))
    ).scalar_one_or_none()
    if existing is not None:
        return ImportReport(
            existing.id, existing.filename, existing.rows, existing.imported, existing.refused, unchanged=True
        )
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        decoded = data.decode("latin-1")  # SIA/BPA exports are often ISO-8859-1
    raw_rows = parse_production_csv(decoded)
    errors: list[RowError] = []
    rows = [r for r in (_row(raw, i, errors) for i, raw in enumerate(raw_rows, start=1)) if r is not None]
    if allowed_cnes is not None:
        outside = [r for r in rows if r["cnes"] not in allowed_cnes]
        errors.extend(
            RowError(
                r["line_no"],
                "cnes",
                "fora_da_jurisdicao",
                f"O estabelecimento {r['cnes']} não está cadastrado na sua jurisdição.",
            )
            for r in outside
        )
        rows = [r for r in rows if r["cnes"] in allowed_cnes]
    errors.sort(key=lambda e: (e.row, e.field))
    cpfs = {r["cpf"] for r in rows if r["cpf"]}
    cnss = {r["cns"] for r in rows if r["cns"]}
    by_cpf: dict[str, int] = {}
    by_cns: dict[str, int] = {}
    if cpfs:
        found = await session.execute(select(col(Citizen.cpf), col(Citizen.id)).where(col(Citizen.cpf).in_(cpfs)))
        by_cpf = {str(c): int(i or 0) for c, i in found}
    if cnss:
        found = await session.execute(select(col(Citizen.cns), col(Citizen.id)).where(col(Citizen.cns).in_(cnss)))
        by_cns = {str(c): int(i or 0) for c, i in found}
    record = ProductionImport(
        filename=filename[:255],
        sha256=digest,
        rows=len(raw_rows),
        imported=len(rows),
        refused=len({e.row for e in errors}),
        imported_by=imported_by,
    )
    session.add(record)
    await session.flush()
    for r in rows:
        r["import_id"] = record.id
        r["citizen_id"] = by_cpf.get(r["cpf"] or "") or by_cns.get(r["cns"] or "")
    if rows:
        # One executemany, not one ORM object per line; the import itself is audited (the row above) and the
        # lines are recorded as one explicit event, in the same transaction.
        await session.execute(insert(ProductionRecord), rows)
        await audit.record(
            session,
            "import",
            entity_type="production_record",
            entity_id=str(record.id),
            after={"filename": record.filename, "lines": len(rows), "refused": record.refused},
        )
    await session.flush()
    return ImportReport(record.id, record.filename, record.rows, record.imported, record.refused, False, errors)


# -- checks ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    code: str
    message: str  # Portuguese, for people
    person: str  # masked CPF/CNS
    citizen_id: int | None
    cnes: str
    competencia: str
    procedure_code: str | None = None
    oci_code: str | None = None
    authorization_number: str | None = None
    record_ids: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return FINDING_LABELS_PT.get(self.code, self.code)

    @property
    def article(self) -> str:
        return FINDING_ARTICLES.get(self.code, "")


def competencia_bounds(competencia: str, until: str | None = None) -> tuple[str, str]:
    for name, value in (("competencia", competencia), ("ate", until)):
        if value is not None and not _COMPETENCIA.match(value):
            raise ValidationFailed.for_field(name, "competencia_invalida", "Competência no formato AAAAMM.")
    end = until or competencia
    if end < competencia:
        raise ValidationFailed.for_field("ate", "periodo_invertido", "A competência final vem antes da inicial.")
    return competencia, end


def month_bounds(first: str, last: str) -> tuple[date, date]:
    start = date(int(first[:4]), int(first[4:]), 1)
    y, m = int(last[:4]), int(last[4:])
    end = date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)
    return start, end


def person_key(r: ProductionRecord) -> str:
    if r.citizen_id is not None:
        return f"c:{r.citizen_id}"
    return f"cpf:{r.cpf}" if r.cpf else f"cns:{r.cns}"


def _masked(r: ProductionRecord) -> str:
    if r.cpf:
        return f"CPF {documents.mask_cpf(r.cpf)}"
    return f"CNS {documents.mask_cns(r.cns or '')}"


async def visible_cnes(session: AsyncSession, actor: wl.Actor) -> set[str] | None:
    """Establishments whose production the actor may see; None for everything (national)."""
    j = actor.jurisdiction
    if j.kind is JurisdictionKind.NATIONAL:
        return None
    if j.kind is JurisdictionKind.CNES:
        return {j.code}
    t = territory()
    return {
        e.cnes
        for e in (await session.execute(select(Establishment))).scalars()
        if j.covers_place(t.municipality(e.municipality_ibge), e.cnes)
    }


async def load_records(
    session: AsyncSession,
    actor: wl.Actor,
    *,
    first: str,
    last: str,
    cnes: str | None = None,
    since: date | None = None,
    until: date | None = None,
    codes: Iterable[str] | None = None,
) -> list[ProductionRecord]:
    stmt = select(ProductionRecord).order_by(col(ProductionRecord.performed_on), col(ProductionRecord.id))
    if since is not None and until is not None:
        stmt = stmt.where(col(ProductionRecord.performed_on).between(since, until))
    else:
        stmt = stmt.where(col(ProductionRecord.competencia).between(first, last))
    if cnes:
        stmt = stmt.where(col(ProductionRecord.cnes) == cnes)
    if codes is not None:
        stmt = stmt.where(col(ProductionRecord.procedure_code).in_(list(codes)))
    visible = await visible_cnes(session, actor)
    if visible is not None:
        stmt = stmt.where(col(ProductionRecord.cnes).in_(visible or {""}))
    return list((await session.execute(stmt)).scalars())


@dataclass
class _OciApac:
    key: str  # the authorization number, or a stand-in for OCI lines without one
    oci_code: str
    number: str | None
    lines: list[ProductionRecord]

    @property
    def secondaries(self) -> list[ProductionRecord]:
        return [r for r in self.lines if r.procedure_code != self.oci_code]

    @property
    def first(self) -> ProductionRecord:
        return self.lines[0]


def _oci_code_of(lines: Sequence[ProductionRecord]) -> str | None:
    for r in lines:
        if r.procedure_code.startswith(OCI_GROUP):
            return r.procedure_code
    for r in lines:
        if r.principal_code and r.principal_code.startswith(OCI_GROUP):
            return r.principal_code
    return None


def _group(records: Sequence[ProductionRecord]) -> tuple[list[_OciApac], list[ProductionRecord]]:
    """OCI APACs (lines under one authorization whose principal is a group-09 code; OCI lines without a number are
    grouped by person, OCI and establishment) and the lines billed alone."""
    by_number: dict[str, list[ProductionRecord]] = defaultdict(list)
    loose: list[ProductionRecord] = []
    for r in records:
        if r.authorization_number:
            by_number[r.authorization_number].append(r)
        else:
            loose.append(r)
    apacs: list[_OciApac] = []
    alone: list[ProductionRecord] = []
    for number, lines in by_number.items():
        oci = _oci_code_of(lines)
        if oci is None:
            alone.extend(lines)  # an authorization of something else: these lines are not inside an OCI
        else:
            apacs.append(_OciApac(number, oci, number, lines))
    unnumbered: dict[tuple[str, str, str], list[ProductionRecord]] = defaultdict(list)
    for r in loose:
        oci = _oci_code_of([r])
        if oci is None:
            alone.append(r)
        else:
            unnumbered[(person_key(r), oci, r.cnes)].append(r)
    for (person, oci, cnes), lines in unnumbered.items():
        apacs.append(_OciApac(f"sem-numero:{person}:{oci}:{cnes}", oci, None, lines))
    return apacs, alone


async def _related(
    session: AsyncSession, actor: wl.Actor, records: Sequence[ProductionRecord]
) -> list[ProductionRecord]:
    """Lines outside the period that the checks need: the other lines of the period's OCI APACs (an APAC may span
    two competências), and what the same people had billed alone around them (item IV)."""
    apacs, _alone = _group(records)
    if not apacs:
        return []
    seen = {r.id for r in records}
    numbers = [a.number for a in apacs if a.number]
    start = min(min(r.performed_on for r in a.lines) for a in apacs)
    end = max(max(r.performed_on for r in a.lines) for a in apacs) + timedelta(days=MAX_WINDOW_DAYS)
    heads = [a.first for a in apacs]
    people = (
        col(ProductionRecord.cpf).in_({h.cpf for h in heads if h.cpf})
        | col(ProductionRecord.cns).in_({h.cns for h in heads if h.cns})
        | col(ProductionRecord.citizen_id).in_({h.citizen_id for h in heads if h.citizen_id is not None})
    )
    stmt = select(ProductionRecord).where(
        col(ProductionRecord.authorization_number).in_(numbers)
        | (people & col(ProductionRecord.performed_on).between(start - timedelta(days=MAX_WINDOW_DAYS), end))
    )
    visible = await visible_cnes(session, actor)
    if visible is not None:
        stmt = stmt.where(col(ProductionRecord.cnes).in_(visible or {""}))
    return [r for r in (await session.execute(stmt)).scalars() if r.id not in seen]


async def check_production(
    session: AsyncSession,
    settings: Settings,
    actor: wl.Actor,
    *,
    competencia: str,
    until: str | None = None,
    cnes: str | None = None,
) -> list[Finding]:
    """Every finding of the production of the competências ``competencia``..``until`` (AAAAMM), with stable codes
    and Portuguese messages, sorted by establishment, code and person."""
    first, last = competencia_bounds(competencia, until)
    records = await load_records(session, actor, first=first, last=last, cnes=cnes)
    records += await _related(session, actor, records)
    apacs, alone = _group(records)
    findings: list[Finding] = []
    numbers = {a.number for a in apacs if a.number}
    known: dict[str, AuthorizationNumber] = {}
    # The tM each regulated OCI was authorized with (its execution's; decision 22): an OCI whose tM changed since is
    # judged by the tM in force when it was authorized. Unregulated production falls back to the OCI's tM today.
    tm_of: dict[str, int] = {}
    if numbers:
        found = await session.execute(
            select(AuthorizationNumber).where(
                col(AuthorizationNumber.number).in_(numbers), col(AuthorizationNumber.status) == "ativa"
            )
        )
        known = {n.number: n for n in found.scalars()}
        executions = await session.execute(
            select(OciExecution).where(col(OciExecution.authorization_number).in_(numbers))
        )
        for x in executions.scalars():
            assert x.authorization_number is not None
            tm_of[x.authorization_number] = x.max_days
            known.setdefault(
                x.authorization_number,
                AuthorizationNumber(
                    number=x.authorization_number,
                    instrument="apac",
                    source="informada",
                    citizen_id=x.citizen_id,
                    oci_code=x.oci_code,
                    entry_id=x.entry_id,
                ),
            )
    ocis: dict[tuple[str, str], OciSummary | None] = {}

    async def oci_of(code: str, comp_: str) -> OciSummary | None:
        if (code, comp_) not in ocis:
            try:
                ocis[(code, comp_)] = await load_oci(session, settings, code, comp_)
            except NotFound:
                ocis[(code, comp_)] = None
        return ocis[(code, comp_)]

    alone_by_person: dict[tuple[str, str], list[ProductionRecord]] = defaultdict(list)
    for r in alone:
        alone_by_person[(person_key(r), r.procedure_code)].append(r)

    for apac in apacs:
        head = apac.first
        first_competencia = min(r.competencia for r in apac.lines)
        ids = tuple(r.id or 0 for r in apac.lines)

        def finding(
            code: str,
            message: str,
            *,
            procedure_code: str | None = None,
            record_ids: tuple[int, ...] = ids,
            head: ProductionRecord = head,
            apac: _OciApac = apac,
            competencia_: str = first_competencia,
        ) -> Finding:
            return Finding(
                code,
                message,
                person=_masked(head),
                citizen_id=head.citizen_id,
                cnes=head.cnes,
                competencia=competencia_,
                procedure_code=procedure_code,
                oci_code=apac.oci_code,
                authorization_number=apac.number,
                record_ids=record_ids,
            )

        number_text = auth.format_authorization(apac.number) if apac.number else "sem número"
        oci = await oci_of(apac.oci_code, first_competencia)
        if oci is None:
            findings.append(
                finding(
                    "oci_desconhecida",
                    f"A APAC {number_text} tem como principal {apac.oci_code}, que não é uma OCI do SIGTAP.",
                )
            )
            continue
        # Authorization: issued or recorded by regula, for this person and this OCI.
        if apac.number is None or apac.number not in known:
            why = (
                "sem número de autorização"
                if apac.number is None
                else f"com o número {number_text}, que a regulação não emitiu nem registrou"
            )
            findings.append(
                finding(
                    "sem_autorizacao_regulada",
                    f"Produção da OCI {apac.oci_code} {why}: cuidado realizado fora da regulação.",
                )
            )
        else:
            issued = known[apac.number]
            # The number's citizen is known with their documents: a line whose CPF/CNS did not resolve to them is
            # someone else's.
            other_person = issued.citizen_id is not None and issued.citizen_id != head.citizen_id
            other_oci = issued.oci_code is not None and issued.oci_code != apac.oci_code
            if other_person or other_oci:
                what = "outra pessoa" if other_person else f"a OCI {issued.oci_code}"
                findings.append(
                    finding(
                        "autorizacao_divergente",
                        f"A autorização {number_text} foi emitida para {what}, mas foi usada na produção da OCI "
                        f"{apac.oci_code} desta pessoa.",
                    )
                )
        items = comp.composition_items(oci)
        secondaries = apac.secondaries
        for r in secondaries:
            if r.procedure_code not in items:
                findings.append(
                    finding(
                        "fora_da_composicao",
                        f"O procedimento {r.procedure_code} ({r.performed_on:%d/%m/%Y}) foi registrado na APAC "
                        f"{number_text} da OCI {oci.code}, mas não faz parte da composição dela no SIGTAP.",
                        procedure_code=r.procedure_code,
                        record_ids=(r.id or 0,),
                    )
                )
        performed = [comp.Performed(r.procedure_code, r.quantity, r.performed_on) for r in secondaries]
        for code, n in sorted(comp.quantities(performed).items()):
            item = items.get(code)
            if item is not None and item.qty is not None and n > item.qty:
                findings.append(
                    finding(
                        "acima_da_quantidade",
                        f"O procedimento {code} foi registrado {n} vezes na APAC {number_text}; o SIGTAP permite "
                        f"{item.qty} na OCI {oci.code}.",
                        procedure_code=code,
                        record_ids=tuple(r.id or 0 for r in secondaries if r.procedure_code == code),
                    )
                )
        dates = [r.performed_on for r in apac.lines]
        start, end = min(dates), max(dates)
        span = measures.span_days(start, end)
        tm = tm_of.get(apac.number or "", oci.max_days)
        if not measures.within_tm(start, end, tm):
            findings.append(
                finding(
                    "prazo_tm_excedido",
                    f"A OCI {oci.code} (APAC {number_text}) levou {span} dias do primeiro ({start:%d/%m/%Y}) ao "
                    f"último procedimento ({end:%d/%m/%Y}); o tempo máximo (tM) é de {tm} dias.",
                )
            )
        progress = comp.evaluate(oci, [p for p in performed if p.code in items], today=end, concluded=True, max_days=tm)
        if not progress.complete:
            findings.append(
                finding(
                    "oci_incompleta",
                    f"A APAC {number_text} da OCI {oci.code} não tem o conjunto exigido: " + " ".join(progress.missing),
                )
            )
        # Item IV: the OCI's procedures billed alone for the same person inside the OCI's window.
        window_end = max(end, start + timedelta(days=tm))
        person = person_key(head)
        for code in sorted({r.procedure_code for r in secondaries}):
            inside = [r for r in secondaries if r.procedure_code == code]
            for other in alone_by_person.get((person, code), []):
                if start <= other.performed_on <= window_end:
                    findings.append(
                        finding(
                            "cobranca_duplicada",
                            f"O procedimento {code} foi cobrado isoladamente ({other.instrument.upper()}, "
                            f"{other.performed_on:%d/%m/%Y}, CNES {other.cnes}) e também dentro da OCI {oci.code} "
                            f"(APAC {number_text}, {inside[0].performed_on:%d/%m/%Y}) para a mesma pessoa.",
                            procedure_code=code,
                            record_ids=(other.id or 0, *(r.id or 0 for r in inside)),
                        )
                    )
    findings.sort(key=lambda f: (f.cnes, f.code, f.person, f.oci_code or "", f.procedure_code or ""))
    return findings


def findings_as_dicts(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    return [
        {
            "code": f.code,
            "label": f.label,
            "message": f.message,
            "article": f.article,
            "person": f.person,
            "citizen_id": f.citizen_id,
            "cnes": f.cnes,
            "competencia": f.competencia,
            "procedure_code": f.procedure_code,
            "oci_code": f.oci_code,
            "authorization_number": f.authorization_number,
            "record_ids": list(f.record_ids),
        }
        for f in findings
    ]
