"""The waitlist's rules: referrals into entries, the regulation workflow, scores, positions and estimates.

Sources: Portaria GM/MS 3.492/2024 art. 14 §1–2 as amended (individualized queues by CPF/CNS and municipality of
origin, consolidated by UF; queues by OCI, or by compatible secondary procedure during six months after the PAR's
approval), art. 9 (the PAR defines the regional scope and the quantities), art. 3 VIII (equity), art. 10 §2 V
(tell each citizen their situation in the queue).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import BigInteger, any_, bindparam, func, select, text, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

# Re-exported: callers still write service.Actor / service.local_today (the names' homes are below the domains).
from regula.access.actor import Actor as Actor
from regula.audit import service as audit
from regula.audit.service import record_read
from regula.catalog import protocols as referral_protocols
from regula.catalog.protocols import ProtocolMap
from regula.catalog.schemas import OciSummary
from regula.catalog.service import list_ocis
from regula.config import Settings
from regula.core.clock import local_today as local_today
from regula.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from regula.db.base import utcnow
from regula.db.bulk import unnest_insert, unnest_params
from regula.db.work_mem import work_mem_for_table
from regula.people import documents
from regula.people.models import Citizen
from regula.people.schemas import CitizenCreate
from regula.people.service import age_on, create_citizen, find_by_documents, get_citizen, validate_citizen
from regula.territory.reference import territory
from regula.waitlist import measures, priority, teleconsultation_repository
from regula.waitlist import repository as repo
from regula.waitlist.events import ENTRY_LEFT_BOOKING, ENTRY_TRANSITIONED, EntryLeftBooking, EntryTransitioned
from regula.waitlist.models import (
    ACTIVE_STATUS_SQL,
    EntryEvent,
    PriorityPolicyVersion,
    QueueCapacity,
    RegulationScope,
    WaitlistEntry,
    WaitlistStanding,
)
from regula.waitlist.plans import PAR_APPROVAL
from regula.waitlist.queues import SCOPE_KINDS as SCOPE_KINDS
from regula.waitlist.queues import QueueKey as QueueKey
from regula.waitlist.schemas import ReferralCreate
from regula.waitlist.states import EntryStatus, check_transition, clock_paused, initial_status, path_to

RISK_CLASSES = priority.RISK_CLASSES
DEFAULT_KEY = "*"


# -- queues ----------------------------------------------------------------------------------------------------


async def scope_for(session: AsyncSession, municipality_ibge: str) -> tuple[str, str]:
    """The queue scope of a municipality of origin, as its health region's PAR defines (art. 9): the region
    itself (the default where the region is known), its macro-region, or the whole UF."""
    m = territory().municipality(municipality_ibge)
    kind = "region" if m.health_region_code else "macro"
    if m.health_region_code:
        configured = await session.get(RegulationScope, m.health_region_code)
        if configured is not None:
            kind = configured.scope_kind
    code = {"region": m.health_region_code, "macro": m.macro_code, "uf": m.uf}[kind]
    assert code is not None
    return kind, code


async def set_scope(
    session: AsyncSession, health_region_code: str, scope_kind: str, par_approved_on: date | None = None
) -> RegulationScope:
    if scope_kind not in SCOPE_KINDS:
        raise ValidationFailed.for_field("scope_kind", "escopo_invalido", "Escopo deve ser region, macro ou uf.")
    if territory().health_region(health_region_code) is None:
        raise ValidationFailed.for_field(
            "health_region_code", "regiao_desconhecida", f"Região de saúde desconhecida: {health_region_code}."
        )
    row = await session.get(RegulationScope, health_region_code)
    if row is None:
        row = RegulationScope(
            health_region_code=health_region_code, scope_kind=scope_kind, par_approved_on=par_approved_on
        )
        session.add(row)
    else:
        row.scope_kind = scope_kind
        if par_approved_on is not None:
            row.par_approved_on = par_approved_on
        row.updated_at = utcnow()
    await session.flush()
    return row


async def set_capacity(
    session: AsyncSession, key: QueueKey, weekly_capacity: int, source: str = "par"
) -> QueueCapacity:
    if weekly_capacity < 0:
        raise ValidationFailed.for_field(
            "weekly_capacity", "capacidade_negativa", "A capacidade não pode ser negativa."
        )
    row = await session.get(QueueCapacity, (key.oci_code, key.scope_kind, key.scope_code))
    if row is None:
        row = QueueCapacity(
            oci_code=key.oci_code,
            scope_kind=key.scope_kind,
            scope_code=key.scope_code,
            weekly_capacity=weekly_capacity,
            source=source,
        )
        session.add(row)
    else:
        row.weekly_capacity, row.source, row.updated_at = weekly_capacity, source, utcnow()
    await session.flush()
    return row


# -- catalog snapshot --------------------------------------------------------------------------------------------


@dataclass
class Catalog:
    competencia: str
    ocis: dict[str, OciSummary]
    # The referral protocol of every OCI in force today (art. 10 §1 III; decision 0020): ``protocols[code]``.
    protocols: ProtocolMap

    def oci(self, code: str, field_name: str = "oci_code") -> OciSummary:
        oci = self.ocis.get(code.strip())
        if oci is None:
            raise ValidationFailed.for_field(
                field_name, "oci_desconhecida", f"OCI {code!r} não existe na competência {self.competencia}."
            )
        return oci

    def ocis_with_procedure(self, procedure_code: str) -> list[OciSummary]:
        return [
            o
            for o in self.ocis.values()
            if any(p.code == procedure_code for p in (*o.mandatory, *o.optional, *o.consultation_one_of))
        ]


async def load_catalog(session: AsyncSession, settings: Settings) -> Catalog:
    ocis = await list_ocis(session, settings)
    if not ocis:
        raise Conflict("O catálogo SIGTAP não foi importado: rode `regula seed`.", code="catalogo_vazio")
    in_force = await referral_protocols.protocols_on(session, local_today(settings), settings)
    return Catalog(ocis[0].competencia, {o.code: o for o in ocis}, in_force)


# -- referrals ---------------------------------------------------------------------------------------------------


def check_referral_fields(
    data: ReferralCreate, catalog: Catalog, citizen: Citizen, today: date, errors: list[FieldError], prefix: str = ""
) -> OciSummary | None:
    """Every rule a referral must meet, appended to ``errors``; returns the OCI when it is known."""

    def f(name: str) -> str:
        return f"{prefix}{name}"

    oci: OciSummary | None = None
    if data.oci_code:
        try:
            oci = catalog.oci(data.oci_code, f("oci_code"))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    elif data.procedure_code:
        matches = catalog.ocis_with_procedure(data.procedure_code.strip())
        if len(matches) == 1:
            oci = matches[0]
        elif not matches:
            errors.append(
                FieldError(f("procedure_code"), "procedimento_sem_oci", "Nenhuma OCI contém este procedimento.")
            )
        else:
            codes = ", ".join(sorted(o.code for o in matches))
            errors.append(
                FieldError(
                    f("procedure_code"),
                    "procedimento_ambiguo",
                    f"O procedimento pertence a várias OCIs ({codes}); informe a OCI.",
                )
            )
    else:
        errors.append(FieldError(f("oci_code"), "obrigatorio", "Informe a OCI (ou o procedimento compatível)."))
    cid = (data.cid_code or "").strip().upper().replace(".", "")
    if oci is not None:
        if not cid:
            errors.append(FieldError(f("cid_code"), "obrigatorio", "Informe o CID-10."))
        elif oci.cids and not any(cid == c or cid.startswith(c) for c in oci.cids):
            errors.append(FieldError(f("cid_code"), "cid_nao_aceito", f"O CID {cid} não é aceito pela OCI {oci.code}."))
        # SIGTAP eligibility: sex and age limits of the OCI's principal procedure.
        if oci.sex and citizen.sex != oci.sex:
            errors.append(
                FieldError(f("oci_code"), "sexo_incompativel", f"A OCI {oci.code} é exclusiva do sexo {oci.sex}.")
            )
        months = (today.year - citizen.birth_date.year) * 12 + today.month - citizen.birth_date.month
        months -= today.day < citizen.birth_date.day
        if oci.age_min_months is not None and months < oci.age_min_months:
            errors.append(
                FieldError(
                    f("oci_code"), "idade_abaixo_do_minimo", f"Idade mínima da OCI: {oci.age_min_months // 12} anos."
                )
            )
        if oci.age_max_months is not None and months > oci.age_max_months:
            errors.append(
                FieldError(
                    f("oci_code"), "idade_acima_do_maximo", f"Idade máxima da OCI: {oci.age_max_months // 12} anos."
                )
            )
    elif not cid:
        errors.append(FieldError(f("cid_code"), "obrigatorio", "Informe o CID-10."))
    if data.risk_class not in RISK_CLASSES:
        errors.append(
            FieldError(
                f("risk_class"), "classe_de_risco_invalida", "Classe de risco: vermelho, amarelo, verde ou azul."
            )
        )
    if len((data.risk_justification or "").strip()) < 10:
        errors.append(
            FieldError(
                f("risk_justification"), "justificativa_curta", "Justifique a classe de risco (mínimo 10 letras)."
            )
        )
    if not (data.requesting_cnes or "").isdigit() or len(data.requesting_cnes) != 7:
        errors.append(FieldError(f("requesting_cnes"), "cnes_formato", "CNES tem 7 dígitos."))
    if data.requesting_ine and (not data.requesting_ine.isdigit() or len(data.requesting_ine) != 10):
        errors.append(FieldError(f("requesting_ine"), "ine_formato", "INE tem 10 dígitos."))
    if data.professional_cns and not documents.is_valid_cns(data.professional_cns):
        errors.append(FieldError(f("professional_cns"), "cns_digito_verificador", "CNS do profissional inválido."))
    if data.professional_cbo and len(data.professional_cbo.strip()) != 6:
        errors.append(FieldError(f("professional_cbo"), "cbo_formato", "CBO tem 6 caracteres."))
    if oci is not None:
        # The OCI's referral protocol in force (Portaria 3.492/2024 art. 10 §1 III): every required item answered
        # "sim", the CID among those it accepts, the exams it requires declared. The page, the API and the import
        # all come through here.
        protocol_errors = referral_protocols.check_referral(
            catalog.protocols[oci.code], checklist=data.checklist, cid_code=cid, exams=data.exams, prefix=prefix
        )
        if any(e.field == f("cid_code") for e in errors):
            protocol_errors = [e for e in protocol_errors if e.field != f("cid_code")]
        errors.extend(protocol_errors)
    return oci


PROCEDURE_REFERRAL_WINDOW_MONTHS = 6


async def procedure_referrals_open(session: AsyncSession, citizen: Citizen, today: date) -> bool:
    """Whether the citizen's region may still refer by secondary procedure: until six months after its PAR's
    approval (amendment to Portaria 3.492/2024, art. 14 §2). The approval date is the one of the approved PAR
    covering the citizen's municipality (``regula.programs``, through ``waitlist.plans``); without one, the date
    configured for the health region (``RegulationScope.par_approved_on``). Unknown approval date: closed."""
    approved = await PAR_APPROVAL.approval_for(session, citizen.municipality_ibge)
    if approved is None:
        region = territory().municipality(citizen.municipality_ibge).health_region_code
        config = await session.get(RegulationScope, region) if region else None
        if config is None or config.par_approved_on is None:
            return False
        approved = config.par_approved_on
    month = approved.month - 1 + PROCEDURE_REFERRAL_WINDOW_MONTHS
    year, month = approved.year + month // 12, month % 12 + 1
    day = min(approved.day, 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)
    return today <= date(year, month, day)


def new_protocol(uf: str, today: date) -> str:
    """Protocol numbers are short enough for an SMS and not guessable in sequence (the public look-up also
    needs the birth date and is rate-limited)."""
    return f"{uf}{today:%y}{secrets.randbelow(10**8):08d}"


# Referral errors that depend on who the citizen is (sex, age): meaningless until the citizen's data is valid.
_CITIZEN_DEPENDENT_CODES = frozenset({"sexo_incompativel", "idade_abaixo_do_minimo", "idade_acima_do_maximo"})


def _stand_in(today: date) -> Citizen:
    """A neutral citizen to check a referral's own fields against while the real one's data is invalid."""
    return Citizen(
        birth_date=date(today.year - 30, 1, 1),
        sex="",
        name="",
        search_name="",
        race_color="",
        municipality_ibge="",
        uf="",
    )


async def _registered(session: AsyncSession, data: CitizenCreate) -> Citizen | None:
    """The citizen already registered with the CPF (or CNS) given, when the number is valid."""
    cpf = documents.validate_cpf(data.cpf) if data.cpf and documents.is_valid_cpf(data.cpf) else None
    cns = documents.validate_cns(data.cns) if data.cns and documents.is_valid_cns(data.cns) else None
    if cpf is None and cns is None:
        return None
    found = await find_by_documents(session, cpf, cns)
    return found[0] if found else None


def _typed_citizen(
    data: CitizenCreate, actor: Actor, today: date, undecoded: set[str], errors: list[FieldError]
) -> Citizen | None:
    """The citizen's typed data, every field checked; an unsaved record for the referral's rules when valid."""
    try:
        valid = validate_citizen(data, today).values
    except ValidationFailed as exc:
        for e in exc.errors:
            if e.field in ("sex", "race_color") and not (getattr(data, e.field) or "").strip():
                e = FieldError(e.field, "obrigatorio", "Escolha uma opção.")
            errors.append(e)
        return None
    if not actor.covers(valid["municipality_ibge"]):
        errors.append(FieldError("municipality_ibge", "fora_da_jurisdicao", "Município fora da sua jurisdição."))
        return None
    return None if undecoded else Citizen(**valid)


async def check_referral(
    session: AsyncSession,
    data: ReferralCreate,
    actor: Actor,
    today: date,
    catalog: Catalog,
    input_errors: Sequence[FieldError] = (),
) -> tuple[Citizen | None, list[FieldError]]:
    """Every rule a referral must meet, checked at once so that one answer names every field to correct.

    The citizen is ``citizen_id`` (404 if unknown, 403 outside the actor's jurisdiction), or the one registered
    with the CPF/CNS given (a read of their record: audited; a field error when they live outside the actor's
    jurisdiction), or the typed data, validated, in a municipality the actor covers. The referral's own fields
    are checked against that citizen; while the citizen's data is invalid, against a neutral stand-in, with the
    sex and age checks (which depend on who the citizen is) left until the citizen is valid.

    ``input_errors`` are fields the adapter could not decode (a date typed in another format): they are reported
    as given, this check's errors on the same fields are dropped, and the citizen counts as invalid (unless
    the citizen is a registered one, whose record is used instead of the typed fields).

    Returns the citizen (registered, or unsaved when new; None while invalid) and the errors."""
    undecoded = {e.field for e in input_errors}
    errors: list[FieldError] = []
    citizen: Citizen | None
    if data.citizen_id is not None:
        citizen = await get_citizen(session, data.citizen_id)
        actor.require(citizen.municipality_ibge)
    elif data.citizen is None:
        citizen = None
        errors.append(FieldError("citizen", "obrigatorio", "Informe citizen_id ou os dados do cidadão."))
    else:
        citizen = await _registered(session, data.citizen)
        if citizen is not None and not actor.covers(citizen.municipality_ibge):
            errors.append(FieldError("cpf", "fora_da_jurisdicao", "Este CPF/CNS é de um cidadão de outro município."))
            citizen = None
        elif citizen is not None:
            await record_read(
                session, "Citizen", str(citizen.id), uf=citizen.uf, municipality_ibge=citizen.municipality_ibge
            )
            # Their record is used, not what was typed: the typed citizen fields do not matter.
            input_errors = [e for e in input_errors if e.field not in CitizenCreate.__struct_fields__]
            undecoded = {e.field for e in input_errors}
        else:
            citizen = _typed_citizen(data.citizen, actor, today, undecoded, errors)
    referral_errors: list[FieldError] = []
    check_referral_fields(data, catalog, citizen or _stand_in(today), today, referral_errors)
    if citizen is None:
        referral_errors = [e for e in referral_errors if e.code not in _CITIZEN_DEPENDENT_CODES]
    errors += referral_errors
    if (
        citizen is not None
        and data.procedure_code
        and not data.oci_code
        and not await procedure_referrals_open(session, citizen, today)
    ):
        errors.append(
            FieldError(
                "procedure_code",
                "procedimento_fora_do_prazo",
                "Encaminhar por procedimento só é permitido até seis meses após a aprovação do PAR da região; "
                "informe a OCI.",
            )
        )
    errors = [*input_errors, *(e for e in errors if e.field not in undecoded)]
    return (None if errors else citizen), errors


async def create_referral(
    session: AsyncSession,
    data: ReferralCreate,
    actor: Actor,
    settings: Settings,
    catalog: Catalog | None = None,
    input_errors: Sequence[FieldError] = (),
) -> WaitlistEntry:
    """A new referral, after :func:`check_referral` (the API and the referral page both come here)."""
    today = local_today(settings)
    catalog = catalog or await load_catalog(session, settings)
    checked, errors = await check_referral(session, data, actor, today, catalog, input_errors)
    if errors or checked is None:
        raise ValidationFailed("Encaminhamento inválido.", errors=errors)
    if checked.id is not None:
        citizen = checked
    else:
        assert data.citizen is not None  # a new citizen comes from typed data
        citizen = await create_citizen(session, data.citizen, today)
    if data.oci_code:
        oci = catalog.oci(data.oci_code)
    else:
        oci = catalog.ocis_with_procedure((data.procedure_code or "").strip())[0]
    assert citizen.id is not None
    if data.external_source and data.external_id:
        existing = await _by_external(session, data.external_source, data.external_id)
        if existing is not None:
            return existing  # idempotent re-submission
    await _refuse_second_active(session, citizen.id, oci.code)
    kind, code = await scope_for(session, citizen.municipality_ibge)
    protocol = catalog.protocols[oci.code]
    # The teleconsultation gate is the protocol's (art. 10 §3 I; decision 0020), set by the managers per OCI.
    status = initial_status(actor.role, requires_teleconsultation=protocol.teleconsultation_required)
    entry = WaitlistEntry(
        protocol=new_protocol(citizen.uf, today),
        citizen_id=citizen.id,
        oci_code=oci.code,
        catalog_competencia=catalog.competencia,
        requested_procedure_code=data.procedure_code if not data.oci_code else None,
        cid_code=data.cid_code.strip().upper().replace(".", ""),
        risk_class=data.risk_class,
        risk_justification=data.risk_justification.strip(),
        checklist=dict(data.checklist),
        protocol_version=protocol.version,
        exams=[e.strip() for e in data.exams if e.strip()] or None,
        requesting_cnes=data.requesting_cnes,
        requesting_ine=data.requesting_ine,
        professional_cns=documents.normalize_digits(data.professional_cns) if data.professional_cns else None,
        professional_cbo=data.professional_cbo,
        municipality_ibge=citizen.municipality_ibge,
        uf=citizen.uf,
        scope_kind=kind,
        scope_code=code,
        status=status.value,
        external_source=data.external_source,
        external_id=data.external_id,
        requested_at=data.requested_at or utcnow(),
        max_days=oci.max_days,
        created_by=actor.username,
    )
    session.add(entry)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise _integrity_conflict(exc) from None
    await _event(session, entry, actor, "created", None, status.value)
    return entry


def _integrity_conflict(exc: IntegrityError) -> Conflict:
    if "uq_waitlist_entry_active_citizen_oci" in str(exc.orig):
        return Conflict("O cidadão já tem uma solicitação ativa desta OCI.", code="entrada_ativa_existente")
    return Conflict("Registro em conflito com outro já existente.", code="conflito")


async def _refuse_second_active(session: AsyncSession, citizen_id: int, oci_code: str) -> None:
    # One active entry per citizen per OCI (art. 14 §1); the database's partial unique index is the last word.
    stmt = select(col(WaitlistEntry.id), col(WaitlistEntry.protocol)).where(
        col(WaitlistEntry.citizen_id) == citizen_id,
        col(WaitlistEntry.oci_code) == oci_code,
        text(ACTIVE_STATUS_SQL),
    )
    row = (await session.execute(stmt)).first()
    if row is not None:
        raise Conflict(
            f"O cidadão já tem uma solicitação ativa desta OCI (protocolo {row.protocol}).",
            code="entrada_ativa_existente",
            extra={"existing_id": row.id},
        )


async def citizen_from_data(session: AsyncSession, data: CitizenCreate, today: date) -> Citizen:
    """The registered citizen with these documents, or a new record."""
    cpf = documents.normalize_digits(data.cpf) if data.cpf else None
    cns = documents.normalize_digits(data.cns) if data.cns else None
    found = await find_by_documents(session, cpf, cns)
    if found:
        return found[0]
    return await create_citizen(session, data, today)


async def _by_external(session: AsyncSession, source: str, external_id: str) -> WaitlistEntry | None:
    stmt = select(WaitlistEntry).where(
        WaitlistEntry.external_source == source,  # type: ignore[arg-type]
        WaitlistEntry.external_id == external_id,  # type: ignore[arg-type]
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _event(
    session: AsyncSession,
    entry: WaitlistEntry,
    actor: Actor,
    kind: str,
    from_status: str | None,
    to_status: str | None,
    reason_code: str | None = None,
    reason_text: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    assert entry.id is not None
    session.add(
        EntryEvent(
            entry_id=entry.id,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            reason_code=reason_code,
            reason_text=reason_text,
            data=data,
            actor_user_id=actor.user_id,
            actor_username=actor.username,
            actor_role=actor.role,
        )
    )
    await session.flush()


# -- workflow ----------------------------------------------------------------------------------------------------


async def get_entry(session: AsyncSession, entry_id: int, *, for_update: bool = False) -> WaitlistEntry:
    if for_update:
        locked = await lock_entries(session, [entry_id])
        if entry_id not in locked:
            raise NotFound("Solicitação não encontrada.", code="entrada_nao_encontrada")
        return locked[entry_id]
    stmt = select(WaitlistEntry).where(WaitlistEntry.id == entry_id)  # type: ignore[arg-type]
    entry = (await session.execute(stmt)).scalar_one_or_none()
    if entry is None:
        raise NotFound("Solicitação não encontrada.", code="entrada_nao_encontrada")
    return entry


async def try_lock_entry(session: AsyncSession, entry_id: int) -> WaitlistEntry | None:
    """The entry, locked — or None when another transaction holds it (``SKIP LOCKED``: never waits). For callers
    that already hold a slot (backfill): waiting for an entry there would invert the entries-then-slots order.
    Locked ``FOR NO KEY UPDATE``, as :func:`lock_entries` explains."""
    await session.flush()
    stmt = (
        select(WaitlistEntry)
        .join(WaitlistStanding, col(WaitlistStanding.entry_id) == col(WaitlistEntry.id))
        .options(contains_eager(WaitlistEntry.standing))  # type: ignore[arg-type]
        .where(col(WaitlistEntry.id) == entry_id)
        .with_for_update(skip_locked=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_entries(session: AsyncSession, entry_ids: Iterable[int]) -> dict[int, WaitlistEntry]:
    """Lock entries for a change, in the one order every writer uses: ascending id, in one statement (the rows
    are locked as the sorted rows come out, so two lockers of overlapping sets never wait on each other in a
    cycle). Entries the caller's transaction already holds come back at once; the state returned is the latest
    committed one (READ COMMITTED re-reads a row it had to wait for), refreshed in the identity map.

    The rows are locked ``FOR NO KEY UPDATE`` (decision 0008): exclusive against every other locker of an entry —
    a transition, a commit, the backfill, a repositioning — but not against the ``FOR KEY SHARE`` a foreign key
    check takes. No writer changes an entry's key (its id; nothing is hard-deleted), so a row that only *refers* to
    the entry — a history note, a contact attempt, a message, a booking — has nothing to wait for; with
    ``FOR UPDATE`` it waited for the locker's whole transaction (a suspension in a large queue, a state's commit).
    A statement that did change a key column would take the stronger lock itself."""
    ids = sorted(set(entry_ids))
    if not ids:
        return {}
    await session.flush()  # populate_existing below must not overwrite changes not yet written
    stmt = (
        select(WaitlistEntry)
        # with its standing row, locked too: the repositioning locks the standing rows it writes SKIP LOCKED, and so
        # skips an entry held here (decision 0034)
        .join(WaitlistStanding, col(WaitlistStanding.entry_id) == col(WaitlistEntry.id))
        .options(contains_eager(WaitlistEntry.standing))  # type: ignore[arg-type]
        .where(col(WaitlistEntry.id) == any_(bindparam("lock_ids", ids, type_=ARRAY(BigInteger))))
        .order_by(col(WaitlistEntry.id))
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return {e.id: e for e in (await session.execute(stmt)).scalars() if e.id is not None}


async def transition(
    session: AsyncSession,
    entry_id: int,
    target: str,
    actor: Actor,
    settings: Settings,
    reason_code: str | None = None,
    reason_text: str | None = None,
) -> WaitlistEntry:
    """Move an entry along the workflow (409 with the allowed statuses when the move is illegal). A decision on a
    referral just sent passes through ``em_analise`` first (``states.path_to``): every step is checked before any
    is applied, and each is its own history event. The API and the pages both call this."""
    entry = await get_entry(session, entry_id, for_update=True)
    moves = _check_path(entry, target, actor, reason_code, reason_text)
    await _require_teleconsultation_answer(session, entry, target, actor)
    for move in moves:
        copy = _MovedColumns.of(entry)
        await _take_care_times(session, settings, [(copy, move)])
        _apply_move(copy, move, settings)
        copy.apply_to(entry)  # written by the flush, audited by its listener
        await session.flush()
        await _event(
            session,
            entry,
            actor,
            "transition",
            move.current.value,
            move.wanted.value,
            move.reason_code,
            move.reason_text,
        )
        (entry,) = await _after_moves(session, settings, [(entry_id, entry, move)], actor)
    return entry


async def _require_teleconsultation_answer(
    session: AsyncSession, entry: WaitlistEntry, target: str, actor: Actor
) -> None:
    """A referral waiting for teleconsultoria moves on only by the teleconsultor's recorded answer (Portaria
    3.492/2024 art. 10 §3 I; decision 21): ``teleconsultation_service.answer`` writes the answer, then calls
    :func:`transition`. Any other path — the generic transition route or page, whoever calls it, admin included —
    is refused while no answer exists: towards the queue always, and for the teleconsultor in any direction (their
    "resolved in APS" closes the referral through the answer, with its guidance). The APS team, the regulator and
    the navigator may still cancel a gated referral (withdrawn, duplicate…) as the state table allows."""
    if entry.status != EntryStatus.AGUARDANDO_TELECONSULTA.value:
        return
    if target != EntryStatus.SOLICITADA.value and actor.role != "teleconsultor":
        return
    if await teleconsultation_repository.answer_of(session, entry.id or 0) is None:
        raise Conflict(
            "Este encaminhamento aguarda a resposta da teleconsultoria: só ela o faz seguir "
            "(responda em Teleconsultoria).",
            code="teleconsulta_sem_resposta",
        )


async def transition_many(
    session: AsyncSession,
    entry_ids: Sequence[int],
    target: str,
    actor: Actor,
    settings: Settings,
    reason_code: str | None = None,
    reason_text: str | None = None,
    *,
    locked: Mapping[int, WaitlistEntry] | None = None,
) -> list[WaitlistEntry]:
    """``transition`` for many entries at once (committing an allocation run): the same rules (``states``), checked
    for every entry before any changes; the entries locked in one statement, their rows and history events written
    in one flush each; then their consequences as ``transition``'s, set-based (:func:`_after_moves`: one rescore,
    each touched queue's positions once, the messages and tasks of all through ``ENTRY_TRANSITIONED.emit_many``).
    Unknown ids are refused (404), like ``transition``. A caller that already holds the entries (``lock_entries``
    in this transaction: the commit locks them before the slots) passes them as ``locked`` instead of having them
    selected and locked a second time."""
    entries = dict(locked) if locked is not None else await lock_entries(session, entry_ids)
    missing = sorted(set(entry_ids) - set(entries))
    if missing:
        raise NotFound("Solicitação não encontrada.", code="entrada_nao_encontrada", extra={"entry_ids": missing})
    moves = [(i, entries[i], _check_move(entries[i], target, actor, reason_code, reason_text)) for i in entry_ids]
    # Applied to copies of the moved columns, not to the entries: written by one UPDATE below, never by a flush
    # (an ORM object set attribute by attribute stays "dirty", and every later flush would look at it again).
    copies = [(entry, _MovedColumns.of(entry), move) for _, entry, move in moves]
    await _take_care_times(session, settings, [(copy, move) for _, copy, move in copies])
    for _, copy, move in copies:
        _apply_move(copy, move, settings)
    await _write_moves(session, [(entry, copy) for entry, copy, _ in copies])
    # The history, one event per move, in one statement (not audited: it is the audit of the entries' workflow).
    events = [
        {
            "entry_id": entry_id,
            "kind": "transition",
            "from_status": move.current.value,
            "to_status": move.wanted.value,
            "reason_code": move.reason_code,
            "reason_text": move.reason_text,
            "actor_user_id": actor.user_id,
            "actor_username": actor.username,
            "actor_role": actor.role,
        }
        for entry_id, _, move in moves
    ]
    await session.execute(_INSERT_EVENTS, unnest_params(_EVENT_COLUMNS, events))
    return await _after_moves(session, settings, moves, actor)


@dataclass
class _MovedColumns:
    """A copy of the columns a move reads (``oci_code``) and writes (``_take_care_times``, ``_apply_move``), each
    written column with its PostgreSQL type: a move is applied to the copy, then written to the entry by the ORM
    (``transition``) or set-based (``transition_many``, ``_write_moves``)."""

    oci_code: str
    max_days: int = field(metadata={"pg": "int"})
    suspended_days: int = field(metadata={"pg": "int"})
    paused_since: datetime | None = field(metadata={"pg": "timestamptz"})
    authorized_at: datetime | None = field(metadata={"pg": "timestamptz"})
    status: str = field(metadata={"pg": "text"})
    status_changed_at: datetime = field(metadata={"pg": "timestamptz"})
    updated_at: datetime = field(metadata={"pg": "timestamptz"})

    @classmethod
    def of(cls, entry: WaitlistEntry) -> _MovedColumns:
        return cls(entry.oci_code, **{key: getattr(entry, key) for key in _MOVED})

    def apply_to(self, entry: WaitlistEntry) -> None:
        """Set the entry's changed columns (unchanged ones untouched, so the ORM sees no change in them)."""
        for key in _MOVED:
            if getattr(entry, key) != getattr(self, key):
                setattr(entry, key, getattr(self, key))


#: The columns a move writes, with their PostgreSQL types (from ``_MovedColumns``: one list).
_MOVED: dict[str, str] = {f.name: f.metadata["pg"] for f in fields(_MovedColumns) if "pg" in f.metadata}


async def _write_moves(session: AsyncSession, copies: Sequence[tuple[WaitlistEntry, _MovedColumns]]) -> None:
    """Write moves applied to copies of the entries' columns set-based: one ``UPDATE … FROM unnest`` per set of
    changed columns (one, for a commit's batch) and their audit rows in one statement, the very rows the flush
    listener writes (``audit.updated_events``); the entries then hold the values written, as committed ones (no
    pending change for a later flush)."""
    groups: dict[tuple[str, ...], list[tuple[WaitlistEntry, dict[str, Any]]]] = defaultdict(list)
    updates = []
    for entry, copy in copies:
        old = {key: getattr(entry, key) for key in _MOVED}
        new = {key: getattr(copy, key) for key in _MOVED}
        changed = tuple(key for key in _MOVED if new[key] != old[key])
        if changed:
            groups[changed].append((entry, new))
            updates.append((entry.id, old, new, entry.audit_place()))
    for changed, rows in groups.items():
        columns = [("id", "bigint"), *((key, _MOVED[key]) for key in changed)]
        sets = ", ".join(f"{key} = t.{key}" for key in changed)
        arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns)
        statement = text(
            f"UPDATE waitlist_entry w SET {sets} FROM unnest({arrays}) "  # noqa: S608 - names from code
            f"AS t({', '.join(name for name, _ in columns)}) WHERE w.id = t.id"
        )
        await session.execute(statement, unnest_params(columns, [{"id": e.id} | new for e, new in rows]))
        for entry, new in rows:
            for key in changed:
                set_committed_value(entry, key, new[key])  # written: no longer a pending change for the flush
    await audit.record_changes(session, audit.updated_events(session, WaitlistEntry, updates))


_EVENT_COLUMNS = (
    ("entry_id", "bigint"),
    ("kind", "text"),
    ("from_status", "text"),
    ("to_status", "text"),
    ("reason_code", "text"),
    ("reason_text", "text"),
    ("actor_user_id", "bigint"),
    ("actor_username", "text"),
    ("actor_role", "text"),
)
_INSERT_EVENTS = unnest_insert("waitlist_entry_event", _EVENT_COLUMNS)


@dataclass(frozen=True)
class _Move:
    current: EntryStatus
    wanted: EntryStatus
    reason_code: str | None
    reason_text: str | None


def _wanted(target: str) -> EntryStatus:
    try:
        return EntryStatus(target)
    except ValueError:
        raise ValidationFailed.for_field("to", "status_desconhecido", f"Status desconhecido: {target!r}.") from None


def _check_move(
    entry: WaitlistEntry, target: str, actor: Actor, reason_code: str | None, reason_text: str | None
) -> _Move:
    actor.require(entry.municipality_ibge)
    current = EntryStatus(entry.status)
    wanted = _wanted(target)
    checked = check_transition(current, wanted, actor.role, reason_code, reason_text)
    return _Move(current, wanted, checked.reason_code, checked.reason_text)


def _check_path(
    entry: WaitlistEntry, target: str, actor: Actor, reason_code: str | None, reason_text: str | None
) -> list[_Move]:
    """Every step from the entry's status to ``target``, checked before any is applied; the reason belongs to the
    last step."""
    actor.require(entry.municipality_ibge)
    source = EntryStatus(entry.status)
    steps = path_to(source, _wanted(target), actor.role)
    moves: list[_Move] = []
    for step in steps:
        last = step is steps[-1]
        checked = check_transition(
            source, step, actor.role, reason_code if last else None, reason_text if last else None
        )
        moves.append(_Move(source, step, checked.reason_code, checked.reason_text))
        source = step
    return moves


async def _take_care_times(
    session: AsyncSession, settings: Settings, moves: Sequence[tuple[_MovedColumns, _Move]]
) -> None:
    """An entry authorized for the first time takes the tM of its OCI's protocol in force that day and keeps it
    (Portaria GM/MS 3.492/2024 art. 6 §2 IV, art. 10 §4 IV; decision 22): a later version changes the entries
    authorized from its effective date on, never the deadline of one already waiting. ``_apply_move`` then counts
    the deadline from it."""
    first = [entry for entry, move in moves if move.wanted is EntryStatus.AUTORIZADA and entry.authorized_at is None]
    if not first:
        return
    in_force = await referral_protocols.protocols_on(session, local_today(settings), settings)
    for entry in first:
        entry.max_days = referral_protocols.care_times(in_force[entry.oci_code], settings).tm_days


def _apply_move(entry: _MovedColumns, move: _Move, settings: Settings) -> None:
    current, wanted = move.current, move.wanted
    now = utcnow()
    today = measures.local_date(now, settings.timezone)
    # The waiting clock pauses while suspended, returned to APS or waiting for teleconsultation; the pause counts
    # in local days, as days waited do (waitlist.measures), and moves the tM deadline by as many days.
    if clock_paused(current) and entry.paused_since is not None:
        paused_on = measures.local_date(entry.paused_since, settings.timezone)
        entry.suspended_days = measures.paused_days(entry.suspended_days, paused_on, today)
        entry.paused_since = None
    if clock_paused(wanted) and entry.authorized_at is not None:
        entry.paused_since = now
    if wanted is EntryStatus.AUTORIZADA and entry.authorized_at is None:
        entry.authorized_at = now
    entry.status = wanted.value
    entry.status_changed_at = now
    entry.updated_at = now


async def _after_moves(
    session: AsyncSession, settings: Settings, moves: Sequence[tuple[int, WaitlistEntry, _Move]], actor: Actor
) -> list[WaitlistEntry]:
    """What moves cause — places released (and backfilled), rescores, positions, messages and tasks — for one
    entry or for many (an allocation run's commit) with the same statements: each place released, then one rescore
    of the entries authorized, each touched queue's positions once (or at the end of ``positions_deferred``),
    then ``ENTRY_TRANSITIONED`` for all the moves at once (``Hook.emit_many``: each subscriber's batch variant).
    Returns the entries, current."""
    entries = await _current(session, {entry_id: entry for entry_id, entry, _ in moves})
    keys = {
        QueueKey(entries[i].oci_code, entries[i].scope_kind, entries[i].scope_code)
        for i, _, move in moves
        if EntryStatus.AUTORIZADA in (move.current, move.wanted)
    }
    for entry_id, _, move in moves:
        current, wanted = move.current, move.wanted
        if current.value in ("agendada", "confirmada") and wanted.value not in ("confirmada", "em_atendimento"):
            # Leaving a booked status frees the place, and the next person gets it at once (allocation's backfill).
            reason = wanted.value if wanted is EntryStatus.FALTOU else (move.reason_code or wanted.value)
            entry = (await _current(session, {entry_id: entries[entry_id]}))[entry_id]
            await ENTRY_LEFT_BOOKING.emit(EntryLeftBooking(session, settings, entry, reason))
    authorized = [entry_id for entry_id, _, move in moves if move.wanted is EntryStatus.AUTORIZADA]
    if authorized:
        await rescore(session, settings, entry_ids=authorized, actor=actor, record_events=False)
    if keys:
        deferred = session.info.get(_DEFERRED_POSITIONS)
        if deferred is not None:
            deferred.update(keys)
        else:
            await recompute_positions(session, settings, sorted(keys, key=str))
    # The messages and tasks these changes cause are written in this same transaction (the outbox; issue 5).
    entries = await _current(session, entries)  # reloaded where a recompute (or a backfill) expired them
    await ENTRY_TRANSITIONED.emit_many(
        [EntryTransitioned(session, settings, entries[i], move.current, move.wanted, actor) for i, _, move in moves]
    )
    return [entries[i] for i, _, _ in moves]


async def _current(session: AsyncSession, entries: dict[int, WaitlistEntry]) -> dict[int, WaitlistEntry]:
    """``entries``, those expired by a Core update (positions, scores) reloaded in one statement."""
    stale = [i for i, e in entries.items() if sa_inspect(e).expired_attributes]
    if not stale:
        return entries
    stmt = (
        select(WaitlistEntry)
        .where(col(WaitlistEntry.id) == any_(bindparam("stale_ids", stale, type_=ARRAY(BigInteger))))
        .execution_options(populate_existing=True)
    )
    fresh = {e.id: e for e in (await session.execute(stmt)).scalars() if e.id is not None}
    return {i: fresh.get(i, e) for i, e in entries.items()}


_DEFERRED_POSITIONS = "regula.deferred_positions"


@asynccontextmanager
async def positions_deferred(session: AsyncSession, settings: Settings) -> AsyncIterator[None]:
    """Many transitions in one unit of work (committing an allocation run): recompute each touched queue's
    positions once at the end instead of after every move. Positions are only read after the commit."""
    if session.info.get(_DEFERRED_POSITIONS) is not None:
        yield
        return
    keys: set[QueueKey] = set()
    session.info[_DEFERRED_POSITIONS] = keys
    try:
        yield
    finally:
        session.info.pop(_DEFERRED_POSITIONS, None)
    if keys:
        await recompute_positions(session, settings, sorted(keys, key=str))


# -- policies ----------------------------------------------------------------------------------------------------


def _policy_keys(key: QueueKey) -> list[str]:
    return [str(key), f"{key.oci_code}:*", DEFAULT_KEY]


def policy_label(queue_key: str, version: int) -> str:
    """How a policy version is named to people: its queue key and version ("0901010014:region:42001 v3")."""
    return f"{queue_key} v{version}"


async def latest_policies(session: AsyncSession) -> dict[str, PriorityPolicyVersion]:
    """The newest version of every policy key (ensuring the default exists)."""
    key_col, version_col = col(PriorityPolicyVersion.queue_key), col(PriorityPolicyVersion.version)
    sub_q = select(key_col, func.max(version_col).label("v")).group_by(key_col).subquery()
    stmt = select(PriorityPolicyVersion).join(sub_q, (key_col == sub_q.c.queue_key) & (version_col == sub_q.c.v))
    latest = {p.queue_key: p for p in (await session.execute(stmt)).scalars()}
    if DEFAULT_KEY not in latest:
        default = PriorityPolicyVersion(
            queue_key=DEFAULT_KEY,
            version=1,
            params=priority.policy_to_json(priority.DEFAULT_POLICY),
            note="Política padrão do regula",
            created_by="regula",
        )
        try:
            async with session.begin_nested():
                session.add(default)
        except IntegrityError:
            # Another transaction (another web worker, on a new installation) created it first and committed: the
            # same default, so use theirs rather than answer 500 (issue 18 item 8, tests/test_multiprocess.py).
            default = (
                await session.execute(
                    select(PriorityPolicyVersion).where(key_col == DEFAULT_KEY, version_col == default.version)
                )
            ).scalar_one()
        latest[DEFAULT_KEY] = default
    return latest


def resolve_policy(latest: dict[str, PriorityPolicyVersion], key: QueueKey) -> PriorityPolicyVersion:
    for candidate in _policy_keys(key):
        if candidate in latest:
            return latest[candidate]
    return latest[DEFAULT_KEY]


def _validate_policy_key(raw: str) -> str:
    if raw == DEFAULT_KEY:
        return raw
    parts = raw.split(":")
    if len(parts) == 2 and parts[1] == "*" and parts[0].isdigit() and len(parts[0]) == 10:
        return raw
    QueueKey.parse(raw)
    return raw


async def set_policy(
    session: AsyncSession,
    queue_key: str,
    params: dict[str, Any],
    actor: Actor,
    settings: Settings,
    note: str | None = None,
) -> tuple[PriorityPolicyVersion, int, int]:
    """Add a policy version and, in the same transaction, rescore every entry it governs (old and new score
    and versions recorded in each changed entry's history), then recompute the affected queues' positions."""
    key = _validate_policy_key(queue_key)
    policy = priority.policy_from_json(params)
    latest = await latest_policies(session)
    version = latest[key].version + 1 if key in latest else 1
    row = PriorityPolicyVersion(
        queue_key=key, version=version, params=priority.policy_to_json(policy), note=note, created_by=actor.username
    )
    session.add(row)
    await session.flush()
    if key == DEFAULT_KEY:
        where: dict[str, str] = {}
    elif key.endswith(":*"):
        where = {"oci_code": key.split(":")[0]}
    else:
        q = QueueKey.parse(key)
        where = {"oci_code": q.oci_code, "scope_kind": q.scope_kind, "scope_code": q.scope_code}
    rescored, changed = await rescore(session, settings, where=where, actor=actor, record_events=True)
    await session.refresh(row)
    return row, rescored, changed


# -- scores ------------------------------------------------------------------------------------------------------


def priority_facts(entry: Any, citizen: Any, oci_sex: str | None, today: date, tz: str) -> priority.PriorityFacts:
    """The facts ``priority.compute_score`` scores an authorized entry by on ``today``. ``entry`` is entry-like
    (``measures.entry_clock``), ``citizen`` anything with a citizen's fields (a ``Citizen``, a readout)."""
    # The waiting clock of waitlist.measures: local authorization date, paused days up to today.
    clock = measures.entry_clock(entry, today, tz)
    assert clock is not None
    vi = citizen.vulnerability_index
    return priority.PriorityFacts(
        risk_class=entry.risk_class,
        authorized_on=clock.authorized_on,
        today=today,
        suspended_days=clock.paused,
        max_days=entry.max_days,
        age_years=age_on(citizen.birth_date, today),
        pregnant=citizen.pregnant,
        disability=citizen.disability,
        autism=citizen.autism,
        race_color=citizen.race_color,
        sex=citizen.sex,
        cadunico=citizen.cadunico,
        vulnerability_index=float(vi) if vi is not None else None,
        oci_sex=oci_sex,  # type: ignore[arg-type]
    )


async def rescore(
    session: AsyncSession,
    settings: Settings,
    *,
    where: dict[str, str] | None = None,
    entry_ids: Sequence[int] | None = None,
    actor: Actor | None = None,
    record_events: bool = False,
) -> tuple[int, int]:
    """Recompute the score of waiting entries (all, a queue's, or some) with their queue's policy. Returns (entries
    scored, entries whose score or policy changed). The explanation of a score is not stored: it is computed when
    shown, from the same rule and the same facts (``standing.shown_scores``, decision 0031)."""
    today = local_today(settings)
    catalog = await load_catalog(session, settings)
    latest = await latest_policies(session)
    compiled: dict[int, priority.PriorityPolicy] = {}
    stmt = (
        select(WaitlistEntry, Citizen)
        .join(Citizen, Citizen.id == WaitlistEntry.citizen_id)  # type: ignore[arg-type]
        .where(WaitlistEntry.status == EntryStatus.AUTORIZADA.value)  # type: ignore[arg-type]
    )
    for column, value in (where or {}).items():
        stmt = stmt.where(getattr(WaitlistEntry, column) == value)
    if entry_ids is not None:
        stmt = stmt.where(WaitlistEntry.id.in_(list(entry_ids)))  # type: ignore[union-attr]
    rows = (await session.execute(stmt)).all()
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    actor = actor or Actor.system("regula")
    labels: dict[int, str] = {}
    if record_events:
        previous = {e.policy_id for e, _ in rows if e.policy_id is not None}
        labels = {
            pid: policy_label(p.queue_key, p.version)
            for pid, p in (await repo.policies_by_id(session, previous)).items()
        }
    for entry, citizen in rows:
        pol = resolve_policy(latest, QueueKey(entry.oci_code, entry.scope_kind, entry.scope_code))
        assert pol.id is not None
        if pol.id not in compiled:
            compiled[pol.id] = priority.policy_from_json(pol.params)
        oci = catalog.ocis.get(entry.oci_code)
        facts = priority_facts(entry, citizen, oci.sex if oci else None, today, settings.timezone)
        score = priority.compute_score(facts, compiled[pol.id])
        if score.value != entry.score or pol.id != entry.policy_id:
            updates.append({"b_id": entry.id, "b_score": score.value, "b_policy": pol.id})
            if record_events:
                events.append(
                    {
                        "entry_id": entry.id,
                        "kind": "score",
                        "data": {
                            "score_anterior": entry.score,
                            "score_novo": score.value,
                            "politica_anterior": labels.get(entry.policy_id) if entry.policy_id else None,
                            "politica_nova": policy_label(pol.queue_key, pol.version),
                        },
                        "actor_user_id": actor.user_id,
                        "actor_username": actor.username,
                        "actor_role": actor.role,
                    }
                )
    if updates:
        # Core executemany: derived data, audited through the entry's history events below, not row by row.
        table = WaitlistStanding.__table__  # type: ignore[attr-defined]
        await session.execute(
            update(table)
            .where(table.c.entry_id == bindparam("b_id"))
            .values(score=bindparam("b_score"), policy_id=bindparam("b_policy")),
            updates,
            execution_options={"synchronize_session": False},
        )
    if events:
        await session.execute(EntryEvent.__table__.insert(), events)  # type: ignore[attr-defined]
    changed_queues = {QueueKey(e.oci_code, e.scope_kind, e.scope_code) for e, _ in rows}
    expire_entries(session)  # the Core update bypassed the identity map
    if where is not None or entry_ids is None:
        await recompute_positions(session, settings, sorted(changed_queues, key=str) if where else None)
    return len(rows), len(updates)


# -- positions and estimates ------------------------------------------------------------------------------------

# An honest range: the earliest date assumes every slot offered goes to this queue in order; the latest assumes
# only 80% of them do (no-shows, urgent entries arriving ahead, slots lost), plus the week in progress.
ESTIMATE_USABLE_SHARE = 0.8
#: The same share as an exact fraction (4/5): the estimates are computed in integers from it, here and in
#: ``waitlist.refresh``.
ESTIMATE_USABLE_FRACTION = Fraction(str(ESTIMATE_USABLE_SHARE))

#: ``work_mem`` per row of ``waitlist_entry`` for :func:`recompute_positions`: its window sort of a million
#: waiting rows took 134 MB in memory, its hashes 53–55 MB each (``docs/benchmarks.md``).
_POSITIONS_BYTES_PER_ROW = 160

# The queues to rank, numbered: the window partitions by that number, not by the three text columns of the key.
# Sorting and partitioning by (oci_code, scope_kind, scope_code) cost ~4 µs a row more than by an integer (a 30,000-
# entry queue, one click: ~100 ms; a million rows: 4.3-4.8 s against 3.0 s, docs/benchmarks.md), and the queue's
# weekly capacity is joined once per queue instead of hashed in per row. The same order, the same figures.
_GIVEN_QUEUES = """
    SELECT k.oci_code, k.scope_kind, k.scope_code, k.n
    FROM unnest(CAST(:q_oci AS text[]), CAST(:q_kind AS text[]), CAST(:q_code AS text[]))
         WITH ORDINALITY AS k(oci_code, scope_kind, scope_code, n)"""
_EVERY_QUEUE = """
    SELECT d.oci_code, d.scope_kind, d.scope_code, row_number() OVER () AS n
    FROM (SELECT DISTINCT oci_code, scope_kind, scope_code FROM waitlist_entry WHERE status = 'autorizada') d"""

_POSITIONS_SQL = """
WITH keys AS ({queues}
), queues AS (
    SELECT k.oci_code, k.scope_kind, k.scope_code, k.n, c.weekly_capacity
    FROM keys k
    LEFT JOIN queue_capacity c
      ON c.oci_code = k.oci_code AND c.scope_kind = k.scope_kind AND c.scope_code = k.scope_code
), ranked AS (
    SELECT e.id, s.position, s.queue_size, s.estimate_from, s.estimate_to, s.position_updated_at,
           q.weekly_capacity,
           row_number() OVER w AS pos,
           count(*) OVER (PARTITION BY q.n) AS n
    FROM waitlist_entry e
    JOIN queues q ON e.oci_code = q.oci_code AND e.scope_kind = q.scope_kind AND e.scope_code = q.scope_code
    JOIN waitlist_standing s ON s.entry_id = e.id
    WHERE e.status = 'autorizada'
    WINDOW w AS (PARTITION BY q.n ORDER BY s.score DESC NULLS LAST, e.authorized_at, e.id)
), estimated AS (
    -- in exact integers, as waitlist.refresh computes them: the earliest week floor((pos - 1) / capacity), the
    -- latest ceil(pos / (capacity * share)) with share = share_num / share_den (numeric division cost ~2 µs a row)
    SELECT r.*,
           CASE WHEN r.weekly_capacity > 0
                THEN CAST(:today AS date) + CAST((r.pos - 1) / r.weekly_capacity * 7 AS int) END AS est_from,
           CASE WHEN r.weekly_capacity > 0
                THEN CAST(:today AS date)
                     + CAST((r.pos * :share_den + r.weekly_capacity * :share_num - 1)
                            / (r.weekly_capacity * :share_num) * 7 + 6 AS int) END AS est_to
    FROM ranked r
), changed AS MATERIALIZED (
    -- the figures the rows have now come from the same read that ranked them: no second look-up per row.
    -- MATERIALIZED: inlined into ``free``, the planner looked every ranked row up by id before filtering out
    -- the unchanged ones (14 ms more for a 10,000-entry queue with nothing to write)
    SELECT x.id, x.pos, x.n, x.est_from, x.est_to FROM estimated x
    WHERE x.position IS DISTINCT FROM x.pos OR x.queue_size IS DISTINCT FROM x.n
       OR x.estimate_from IS DISTINCT FROM x.est_from OR x.estimate_to IS DISTINCT FROM x.est_to
       OR x.position_updated_at IS NULL OR x.position_updated_at < CAST(:today AS date)
    -- in id order, about the rows' order on disk: the lock and the UPDATE then visit each page about once (in
    -- the queues' order, at a million rows, they read and wrote ~13 GB of buffers for a 547 MB table)
    ORDER BY x.id
), free AS (
    -- the rows to write, locked in the same pass that joins them to their new figures (a separate lock pass by id
    -- and a second look-up by id for the UPDATE took 24–26 s for a million changed rows; this takes 19 s), and
    -- locked as the UPDATE locks them, FOR NO KEY UPDATE (see recompute_positions). An entry's lockers
    -- (lock_entries) lock its standing row with it, so an entry held by a transition is skipped here.
    SELECT s.entry_id AS id, x.pos, x.n, x.est_from, x.est_to
    FROM waitlist_standing s JOIN changed x ON x.id = s.entry_id
    FOR NO KEY UPDATE OF s SKIP LOCKED
)
UPDATE waitlist_standing s
SET position = f.pos, queue_size = f.n, estimate_from = f.est_from, estimate_to = f.est_to,
    position_updated_at = now()
FROM free f
WHERE s.entry_id = f.id
"""

#: The whole-table pass only (``queues=None``): entries no longer waiting that still show a position. A status
#: change clears them itself (trigger ``waitlist_entry_left_queue``, migration 0023), so a per-queue recompute does
#: not look for them: no index serves ``status <> 'autorizada'``, and the scan took 264 ms at a million entries.
_CLEAR_SQL = """
UPDATE waitlist_standing SET position = NULL, queue_size = NULL, estimate_from = NULL, estimate_to = NULL
WHERE entry_id IN (
    SELECT s.entry_id FROM waitlist_standing s JOIN waitlist_entry e ON e.id = s.entry_id
    WHERE e.status <> 'autorizada' AND s.position IS NOT NULL
    FOR NO KEY UPDATE OF s SKIP LOCKED
)
"""


async def recompute_positions(
    session: AsyncSession, settings: Settings, queues: Iterable[QueueKey] | None = None
) -> int:
    """Positions (row_number in queue order) and estimated date ranges of the waiting entries, in one statement.
    Only rows whose figures changed are written. Returns the number of rows written.

    Rows another transaction holds are skipped (``SKIP LOCKED``), never waited for: a transition holds its own
    entry and then rewrites its whole queue, so waiting here is how a suspension and an allocation commit touching
    the same queue deadlocked (issue 11). A skipped row belongs to a change still in progress, whose own
    recompute (or the next change of the queue, or the nightly refresh) writes it.

    The rows are locked ``FOR NO KEY UPDATE``, as the UPDATE locks them (no key column changes), not ``FOR UPDATE``:
    until this transaction ends — about a million rows for ~15 s in a state's allocation commit — a row that only
    *refers* to a waiting entry (its history, a contact attempt, a navigation task, a message: the foreign key check
    takes ``FOR KEY SHARE`` on the entry) is written at once instead of waiting, and an entry such a row is being
    written for is not skipped. A transition's lock (``lock_entries``, also ``FOR NO KEY UPDATE``) still conflicts,
    so its entry is still skipped (``tests/allocation/test_allocation_concurrency.py``, the repositioning's locks)."""
    share = ESTIMATE_USABLE_FRACTION
    params: dict[str, Any] = {
        "today": local_today(settings),
        "share_num": share.numerator,
        "share_den": share.denominator,
    }
    which = _EVERY_QUEUE
    if queues is not None:
        keys = list(dict.fromkeys(queues))  # each queue once: a key given twice would rank its entries twice
        if not keys:
            return 0
        params |= {
            "q_oci": [k.oci_code for k in keys],
            "q_kind": [k.scope_kind for k in keys],
            "q_code": [k.scope_code for k in keys],
        }
        which = _GIVEN_QUEUES
    if queues is None:
        await session.execute(text(_CLEAR_SQL))
    # Sorts in memory and hash joins in one batch, so the rows keep their id order to the UPDATE
    # (regula.db.work_mem): a ceiling from the table's size; ranking one small queue uses what it needs.
    async with work_mem_for_table(session, "waitlist_entry", _POSITIONS_BYTES_PER_ROW):
        result = await session.execute(text(_POSITIONS_SQL.format(queues=which)), params)
    expire_entries(session)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def expire_entries(session: AsyncSession) -> None:
    """After a Core UPDATE of scores or positions: reload waiting entries on next access, and nothing else
    (expiring every object would make the caller's other objects lazy-load, which async sessions cannot do)."""
    for obj in list(session.sync_session.identity_map.values()):
        if isinstance(obj, WaitlistEntry | WaitlistStanding):
            session.expire(obj)


# -- reads -------------------------------------------------------------------------------------------------------


async def history(session: AsyncSession, entry_id: int) -> list[EntryEvent]:
    stmt = select(EntryEvent).where(EntryEvent.entry_id == entry_id).order_by(EntryEvent.id)  # type: ignore[arg-type]
    return list((await session.execute(stmt)).scalars())


async def public_position(session: AsyncSession, protocol: str, birth_date: date) -> tuple[WaitlistEntry, Citizen]:
    stmt = (
        select(WaitlistEntry, Citizen)
        .join(Citizen, Citizen.id == WaitlistEntry.citizen_id)  # type: ignore[arg-type]
        .where(WaitlistEntry.protocol == protocol.strip().upper(), Citizen.birth_date == birth_date)  # type: ignore[arg-type]
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        # The same answer whether the protocol or the birth date is wrong: nothing to learn by probing.
        raise NotFound("Protocolo ou data de nascimento não conferem.", code="protocolo_nao_encontrado")
    return row[0], row[1]


def days_waiting(entry: Any, today: date, tz: str) -> int | None:
    """Days waited (``waitlist.measures``), counted to the day the entry closed when it is closed; ``entry`` is
    entry-like, as ``measures.entry_clock`` takes it (a ``WaitlistEntry``, a ``repository.EntryReadout``)."""
    clock = measures.entry_clock(entry, today, tz)
    return clock.days if clock is not None else None


def tm_deadline(entry: Any, today: date, tz: str) -> date | None:
    """The day the entry's days waited reach tM (``measures.EntryClock.deadline``), None before authorization.
    Computed, never stored (decision 0032): every paused day moves it, the current pause counted to ``today``."""
    clock = measures.entry_clock(entry, today, tz)
    return clock.deadline if clock is not None else None


def group_by_queue(entries: Iterable[WaitlistEntry]) -> dict[QueueKey, list[WaitlistEntry]]:
    out: dict[QueueKey, list[WaitlistEntry]] = defaultdict(list)
    for e in entries:
        out[QueueKey(e.oci_code, e.scope_kind, e.scope_code)].append(e)
    return out
