"""Citizens: validation of every field (all errors at once, each naming its field), one record per person."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.audit.service import record_list_read
from regula.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from regula.db.base import utcnow
from regula.people import documents
from regula.people import repository as repo
from regula.people.identification import ISSUES, identification_errors, issue_of
from regula.people.models import CHANNELS, RACE_COLORS, Citizen
from regula.people.schemas import CitizenCreate, CitizenPublic, CitizenUpdate
from regula.territory.reference import search_key, territory

# Brazilian mobile and landline numbers in E.164: +55, a two-digit area code (11–99), then 8 or 9 digits.
_E164_BR = re.compile(r"^\+55[1-9][1-9]\d{8,9}$")
_PHONE_CHARS = re.compile(r"[\s().-]")


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def born_by(on: date, years: int) -> date:
    """The latest birth date of someone at least ``years`` old on ``on``, as ``age_on`` counts."""
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # on 29 February, counting back to a common year
        return on.replace(year=on.year - years, day=28)


def legal_priorities(c: Citizen, on: date) -> list[str]:
    """Legal priorities shown to operators (Lei 10.741/2003 art. 3 §2: 80+ before 60+; Lei 13.146/2015;
    Lei 12.764/2012; gestantes)."""
    out: list[str] = []
    age = age_on(c.birth_date, on)
    if age >= 80:
        out.append("idoso_80")
    elif age >= 60:
        out.append("idoso_60")
    if c.pregnant:
        out.append("gestante")
    if c.disability:
        out.append("pessoa_com_deficiencia")
    if c.autism:
        out.append("tea")
    return out


def normalize_phone(raw: str | None, errors: list[FieldError], field: str = "phone") -> str | None:
    if raw is None or not raw.strip():
        return None
    digits = _PHONE_CHARS.sub("", raw.strip())
    if not digits.startswith("+"):
        digits = "+55" + digits.lstrip("0")
    if not _E164_BR.match(digits):
        errors.append(
            FieldError(
                field, "telefone_invalido", "Telefone inválido: use DDD e número, por exemplo +55 48 99999-1234."
            )
        )
        return None
    return digits


@dataclass(frozen=True)
class ValidCitizen:
    values: dict[str, Any]


def validate_citizen(data: CitizenCreate, today: date, prefix: str = "") -> ValidCitizen:
    """Check every field and return the normalized values, or raise one error listing every bad field."""
    errors: list[FieldError] = []
    f = (lambda name: f"{prefix}{name}") if prefix else (lambda name: name)
    cpf = cns = None
    race = (data.race_color or "").strip().lower().replace("í", "i")
    if race not in RACE_COLORS:
        errors.append(
            FieldError(f("race_color"), "raca_cor_invalida", f"Raça/cor deve ser uma de: {', '.join(RACE_COLORS)}.")
        )
    if data.cpf:
        try:
            cpf = documents.validate_cpf(data.cpf, f("cpf"))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if data.cns:
        try:
            cns = documents.validate_cns(data.cns, f("cns"))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    # Portaria SAES (componente complementar), art. 11: CPF for everyone; indigenous people by the CNS (required for
    # them, the CPF optional). See people.identification.
    if race in RACE_COLORS:
        errors.extend(identification_errors(data.cpf, data.cns, race, prefix))
    elif not data.cpf and not data.cns:
        errors.append(FieldError(f("cpf"), "cpf_obrigatorio", "Informe o CPF (ou o CNS, para pessoas indígenas)."))
    name = " ".join((data.name or "").split())
    if len(name) < 3 or not any(ch.isalpha() for ch in name):
        errors.append(FieldError(f("name"), "nome_invalido", "Informe o nome completo."))
    if data.birth_date > today:
        errors.append(FieldError(f("birth_date"), "nascimento_futuro", "A data de nascimento está no futuro."))
    elif age_on(data.birth_date, today) > 130:
        errors.append(FieldError(f("birth_date"), "nascimento_implausivel", "Data de nascimento implausível."))
    sex = (data.sex or "").strip().upper()
    if sex not in ("M", "F"):
        errors.append(FieldError(f("sex"), "sexo_invalido", "Sexo deve ser M ou F, como no CNS."))
    municipality = None
    try:
        municipality = territory().municipality(data.municipality_ibge, f("municipality_ibge"))
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    phone = normalize_phone(data.phone, errors, f("phone"))
    channel = (data.preferred_channel or "sms").strip().lower()
    if channel not in CHANNELS:
        errors.append(FieldError(f("preferred_channel"), "canal_invalido", "Canal deve ser sms, whatsapp ou nenhum."))
    elif channel != "nenhum" and phone is None and not errors:
        errors.append(FieldError(f("phone"), "telefone_obrigatorio", "Informe um telefone para o canal escolhido."))
    if data.vulnerability_index is not None and not 0 <= data.vulnerability_index <= 1:
        errors.append(
            FieldError(
                f("vulnerability_index"), "indice_fora_do_intervalo", "O índice de vulnerabilidade vai de 0 a 1."
            )
        )
    if data.pregnant and sex == "M":
        errors.append(FieldError(f("pregnant"), "gestante_incompativel", "Gestação informada para sexo masculino."))
    if errors:
        raise ValidationFailed("Dados do cidadão inválidos.", errors=errors)
    assert municipality is not None
    return ValidCitizen(
        {
            "cpf": cpf,
            "cns": cns,
            "name": name,
            "social_name": " ".join(data.social_name.split()) if data.social_name else None,
            "search_name": search_key(name),
            "birth_date": data.birth_date,
            "sex": sex,
            "race_color": race,
            "municipality_ibge": municipality.ibge_code,
            "uf": municipality.uf,
            "phone": phone,
            "preferred_channel": channel,
            "contact_consent": data.contact_consent,
            "contact_consent_at": utcnow() if data.contact_consent else None,
            "pregnant": data.pregnant,
            "disability": data.disability,
            "autism": data.autism,
            "cadunico": data.cadunico,
            "vulnerability_index": Decimal(str(data.vulnerability_index))
            if data.vulnerability_index is not None
            else None,
        }
    )


async def find_by_documents(session: AsyncSession, cpf: str | None, cns: str | None) -> list[Citizen]:
    clauses = []
    if cpf:
        clauses.append(Citizen.cpf == cpf)
    if cns:
        clauses.append(Citizen.cns == cns)
    if not clauses:
        return []
    stmt = select(Citizen).where(or_(*clauses), Citizen.merged_into_id.is_(None)).order_by(Citizen.id)  # type: ignore[union-attr,arg-type]
    return list((await session.execute(stmt)).scalars())


async def create_citizen(session: AsyncSession, data: CitizenCreate, today: date) -> Citizen:
    """One record per person: a CPF or CNS already registered is refused (409) with the existing record's id.

    The one merge rule applied automatically: a record known only by CNS that now arrives with a CPF and the
    same CNS gains the CPF (audited as an update), since it is the same card of the same person.
    """
    valid = validate_citizen(data, today).values
    existing = await find_by_documents(session, valid["cpf"], valid["cns"])
    if existing:
        same = existing[0]
        if len(existing) == 1 and same.cpf is None and valid["cpf"] and same.cns == valid["cns"]:
            same.cpf = valid["cpf"]
            same.updated_at = utcnow()
            await session.flush()
            return same
        raise _duplicate(existing, valid["cpf"])
    citizen = Citizen(**valid)
    try:
        async with session.begin_nested():
            session.add(citizen)  # inside the savepoint: a refused insert leaves the session usable
            await session.flush()
    except IntegrityError as exc:
        # Registered by a concurrent request between the look-up and the insert: the unique index decided.
        if not any(name in str(exc.orig) for name in ("uq_citizen_cpf", "uq_citizen_cns")):
            raise
        cpf = valid["cpf"] if "uq_citizen_cpf" in str(exc.orig) else None
        raise _duplicate(await find_by_documents(session, valid["cpf"], valid["cns"]), cpf) from None
    return citizen


def _duplicate(existing: list[Citizen], cpf: str | None) -> Conflict:
    field = "cpf" if cpf and (not existing or any(c.cpf == cpf for c in existing)) else "cns"
    return Conflict(
        "Já existe um cadastro com este documento.",
        code="cidadao_duplicado",
        errors=[FieldError(field, "cidadao_duplicado", "Documento já cadastrado para outro registro.")],
        extra={"existing_id": existing[0].id if existing else None},
    )


async def get_citizen(session: AsyncSession, citizen_id: int) -> Citizen:
    citizen = await session.get(Citizen, citizen_id)
    if citizen is None:
        raise NotFound("Cidadão não encontrado.", code="cidadao_nao_encontrado")
    return citizen


async def update_citizen(session: AsyncSession, citizen: Citizen, data: CitizenUpdate) -> Citizen:
    errors: list[FieldError] = []
    if data.phone is not None:
        citizen.phone = normalize_phone(data.phone, errors)
    if data.preferred_channel is not None:
        if data.preferred_channel not in CHANNELS:
            errors.append(FieldError("preferred_channel", "canal_invalido", "Canal deve ser sms, whatsapp ou nenhum."))
        else:
            citizen.preferred_channel = data.preferred_channel
    if data.contact_consent is not None and data.contact_consent != citizen.contact_consent:
        citizen.contact_consent = data.contact_consent
        citizen.contact_consent_at = utcnow()  # LGPD: when consent was given or withdrawn
    if data.municipality_ibge is not None:
        try:
            m = territory().municipality(data.municipality_ibge)
            citizen.municipality_ibge, citizen.uf = m.ibge_code, m.uf
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    for flag in ("pregnant", "disability", "autism", "cadunico"):
        value = getattr(data, flag)
        if value is not None:
            setattr(citizen, flag, value)
    if data.social_name is not None:
        citizen.social_name = data.social_name.strip() or None
    if data.vulnerability_index is not None:
        if not 0 <= data.vulnerability_index <= 1:
            errors.append(
                FieldError(
                    "vulnerability_index", "indice_fora_do_intervalo", "O índice de vulnerabilidade vai de 0 a 1."
                )
            )
        else:
            citizen.vulnerability_index = data.vulnerability_index
    if errors:
        raise ValidationFailed("Dados do cidadão inválidos.", errors=errors)
    citizen.updated_at = utcnow()
    await session.flush()
    return citizen


def to_public(c: Citizen, today: date) -> CitizenPublic:
    assert c.id is not None
    m = territory().find(c.municipality_ibge)
    return CitizenPublic(
        id=c.id,
        cpf_masked=documents.mask_cpf(c.cpf) if c.cpf else None,
        cns_masked=documents.mask_cns(c.cns) if c.cns else None,
        name=c.name,
        social_name=c.social_name,
        birth_date=c.birth_date,
        age_years=age_on(c.birth_date, today),
        sex=c.sex,
        race_color=c.race_color,
        municipality_ibge=c.municipality_ibge,
        municipality_name=m.name if m else c.municipality_ibge,
        uf=c.uf,
        phone=c.phone,
        preferred_channel=c.preferred_channel,
        contact_consent=c.contact_consent,
        contact_consent_at=c.contact_consent_at,
        legal_priorities=legal_priorities(c, today),
        cadunico=c.cadunico,
        vulnerability_index=float(c.vulnerability_index) if c.vulnerability_index is not None else None,
        created_at=c.created_at,
    )


# -- identification per SAES art. 11: the report of records that break it ----------------------------------------


@dataclass(frozen=True, slots=True)
class IdentificationIssue:
    """A stored citizen whose documents break SAES art. 11 (``people.identification``), as reported."""

    citizen_id: int
    issue: str  # people.identification.ISSUES
    issue_label: str
    name: str
    race_color: str
    municipality_ibge: str
    uf: str
    cpf_masked: str | None
    cns_masked: str | None


@dataclass(frozen=True, slots=True)
class IdentificationReport:
    rows: list[IdentificationIssue]
    total: int
    by_issue: dict[str, int]


async def identification_report(
    session: AsyncSession,
    actor: Actor,
    *,
    issue: str | None = None,
    municipality_ibge: str | None = None,
    order: str = "id",
    offset: int = 0,
    limit: int = 50,
) -> IdentificationReport:
    """Records in the actor's jurisdiction that break SAES art. 11, reported and never changed (decision 0020).
    ``issue`` must be one of ``people.identification.ISSUES`` (or None for all)."""
    if issue is not None and issue not in ISSUES:
        raise ValidationFailed.for_field(
            "issue", "pendencia_desconhecida", f"Pendência desconhecida; use uma de: {', '.join(ISSUES)}."
        )
    found = await repo.identification_issues(
        session, actor, issue=issue, municipality_ibge=municipality_ibge, order=order, offset=offset, limit=limit
    )
    # Names and documents are personal data: one audit event naming the records of the page (API and page alike).
    await record_list_read(
        session,
        "Citizen",
        [c.id for c in found.rows],
        places=[(c.uf, c.municipality_ibge) for c in found.rows],
        detail={"report": "identificacao_saes_art11"},
    )
    rows = []
    for c in found.rows:
        code = issue_of(c.cpf, c.cns, c.race_color)
        assert c.id is not None and code is not None
        rows.append(
            IdentificationIssue(
                citizen_id=c.id,
                issue=code,
                issue_label=ISSUES[code],
                name=c.social_name or c.name,
                race_color=c.race_color,
                municipality_ibge=c.municipality_ibge,
                uf=c.uf,
                cpf_masked=documents.mask_cpf(c.cpf) if c.cpf else None,
                cns_masked=documents.mask_cns(c.cns) if c.cns else None,
            )
        )
    return IdentificationReport(rows, found.total, found.by_issue)
