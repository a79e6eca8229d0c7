"""Authorization numbers: the ranges the state distributes and the numbers issued from them or typed in.

Care delivered under the complementary component needs an authorization with special numbering (Portaria SAES,
componente complementar, art. 13–17); the OCI's APAC has its own numbering (art. 16 §2 as amended). Numbers are
validated when typed in (:mod:`regula.production.authorization`) and issued from the ranges the state distributes,
never twice.
Services flush, never commit: the request, job or command commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.policy import JurisdictionKind
from regula.config import Settings
from regula.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from regula.db.base import utcnow
from regula.production import authorization as auth
from regula.production.models import AuthorizationNumber, AuthorizationRange, OciExecution
from regula.production.service import ensure_execution, entry_cnes, get_execution, load_oci, require_access
from regula.providers.models import Establishment
from regula.territory.reference import UFS, territory
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry

# Statuses in which an authorization may still be issued for an entry (after authorization, before the end).
AUTHORIZABLE: Final = frozenset({"autorizada", "agendada", "confirmada", "em_atendimento"})
ISSUE_ATTEMPTS: Final = 24


# -- authorization numbers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeInput:
    cnes: str
    instrument: str
    program: str
    first: str  # whole numbers (13 / 25 characters) or without the check digit (12 / 24)
    last: str
    note: str | None = None


def _uf_code(uf: str) -> str | None:
    found = UFS.get(uf)
    return found[0] if found else None


async def create_range(session: AsyncSession, data: RangeInput, actor: wl.Actor) -> AuthorizationRange:
    """Register a range the state gave an establishment. Ranges never overlap (one lock, one check)."""
    est = await session.get(Establishment, (data.cnes or "").strip())
    if est is None:
        raise ValidationFailed.for_field("cnes", "estabelecimento_desconhecido", "Estabelecimento não cadastrado.")
    place = territory().municipality(est.municipality_ibge)
    if actor.jurisdiction.kind is not JurisdictionKind.NATIONAL and not actor.jurisdiction.covers_place(
        place, est.cnes
    ):
        raise PermissionDenied("Estabelecimento fora da sua jurisdição.", code="fora_da_jurisdicao")
    bounds = auth.range_bounds(
        data.instrument,
        data.program,
        data.first,
        data.last,
        uf_code=_uf_code(est.uf) if data.instrument != "cmd" else None,
    )
    # Ranges are rare and small: a table lock makes the overlap check exact under concurrency.
    await session.execute(text("LOCK TABLE authorization_range IN SHARE ROW EXCLUSIVE MODE"))
    overlap = (
        await session.execute(
            select(AuthorizationRange).where(
                col(AuthorizationRange.prefix) == bounds.prefix,
                col(AuthorizationRange.first_seq) <= bounds.last_seq,
                col(AuthorizationRange.last_seq) >= bounds.first_seq,
            )
        )
    ).scalar_one_or_none()
    if overlap is not None:
        raise Conflict(
            f"A faixa se sobrepõe a outra já cadastrada (CNES {overlap.cnes}).",
            code="faixa_sobreposta",
            extra={"range_id": overlap.id},
        )
    row = AuthorizationRange(
        instrument=data.instrument,
        program=data.program,
        cnes=est.cnes,
        uf=est.uf,
        prefix=bounds.prefix,
        first_seq=bounds.first_seq,
        last_seq=bounds.last_seq,
        next_seq=bounds.first_seq,
        note=(data.note or "").strip() or None,
        created_by=actor.username,
    )
    session.add(row)
    await session.flush()
    return row


async def list_ranges(session: AsyncSession, actor: wl.Actor, cnes: str | None = None) -> list[AuthorizationRange]:
    stmt = select(AuthorizationRange).order_by(col(AuthorizationRange.cnes), col(AuthorizationRange.id))
    if cnes:
        stmt = stmt.where(col(AuthorizationRange.cnes) == cnes)
    rows = list((await session.execute(stmt)).scalars())
    if actor.jurisdiction.kind is JurisdictionKind.NATIONAL:
        return rows
    ests = {e.cnes: e for e in (await session.execute(select(Establishment))).scalars()}
    t = territory()
    return [
        r
        for r in rows
        if r.cnes in ests and actor.jurisdiction.covers_place(t.municipality(ests[r.cnes].municipality_ibge), r.cnes)
    ]


def program_for(est: Establishment | None) -> str:
    """The program of an establishment's OCI authorizations: the complementary component for its modalities
    (habilitações 38.02–38.04), PMAE otherwise."""
    return "complementar" if est is not None and est.kind.startswith("complementar") else "pmae"


async def pick_range(session: AsyncSession, cnes: str, instrument: str, program: str) -> AuthorizationRange | None:
    stmt = (
        select(AuthorizationRange)
        .where(
            col(AuthorizationRange.cnes) == cnes,
            col(AuthorizationRange.instrument) == instrument,
            col(AuthorizationRange.program) == program,
            col(AuthorizationRange.status) == "ativa",
            col(AuthorizationRange.next_seq) <= col(AuthorizationRange.last_seq),
        )
        .order_by(col(AuthorizationRange.id))
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def issue_number(
    session: AsyncSession,
    range_id: int,
    actor: wl.Actor,
    *,
    entry: WaitlistEntry | None = None,
) -> AuthorizationNumber:
    """The next number of a range. The sequence is taken with one conditional UPDATE (row lock), so concurrent
    callers get different sequences; a number already known (typed in by hand earlier) is skipped, and so are
    APAC/AIH sequences whose check digit would be the ambiguous remainder 10."""
    for _ in range(ISSUE_ATTEMPTS):
        taken = (
            await session.execute(
                text(
                    "UPDATE authorization_range SET next_seq = next_seq + 1, updated_at = now() "
                    "WHERE id = :id AND status = 'ativa' AND next_seq <= last_seq "
                    "RETURNING next_seq - 1 AS seq, prefix, instrument, program, cnes, uf"
                ),
                {"id": range_id},
            )
        ).first()
        if taken is None:
            exists = await session.get(AuthorizationRange, range_id)
            if exists is None:
                raise NotFound("Faixa de numeração não encontrada.", code="faixa_nao_encontrada")
            raise Conflict(
                "A faixa de numeração se esgotou (ou foi encerrada): peça uma nova faixa ao gestor estadual.",
                code="faixa_esgotada",
                extra={"range_id": range_id},
            )
        if not auth.issuable(taken.instrument, taken.prefix, int(taken.seq)):
            continue
        number = AuthorizationNumber(
            number=auth.compose(taken.instrument, taken.prefix, int(taken.seq)),
            instrument=taken.instrument,
            program=taken.program,
            source="emitida",
            range_id=range_id,
            cnes=taken.cnes,
            entry_id=entry.id if entry else None,
            citizen_id=entry.citizen_id if entry else None,
            oci_code=entry.oci_code if entry else None,
            issued_by=actor.username,
            uf=entry.uf if entry else taken.uf,
            municipality_ibge=entry.municipality_ibge if entry else None,
        )
        try:
            async with session.begin_nested():
                session.add(number)
                await session.flush()
        except IntegrityError:
            continue  # someone typed this number in by hand: take the next one
        return number
    raise Conflict("Não foi possível emitir um número nesta faixa.", code="faixa_sem_numero_livre")


async def issue_for_execution(
    session: AsyncSession,
    entry: WaitlistEntry,
    execution: OciExecution,
    actor: wl.Actor,
    *,
    quiet: bool,
) -> AuthorizationNumber | None:
    """The OCI's APAC number from the executing establishment's range; None (quiet) when there is none."""
    if execution.cnes is None:
        if quiet:
            return None
        raise ValidationFailed.for_field("cnes", "obrigatorio", "Informe o estabelecimento executante (CNES).")
    est = await session.get(Establishment, execution.cnes)
    found = await pick_range(session, execution.cnes, "apac", program_for(est))
    if found is None:
        if quiet:
            return None
        raise Conflict(
            f"O estabelecimento {execution.cnes} não tem faixa de numeração APAC ativa do programa "
            f"{auth.PROGRAM_LABELS_PT[program_for(est)]}.",
            code="faixa_inexistente",
        )
    number = await issue_number(session, found.id or 0, actor, entry=entry)
    execution.authorization_number = number.number
    execution.updated_at = utcnow()
    await session.flush()
    return number


async def authorize_entry(
    session: AsyncSession,
    settings: Settings,
    entry_id: int,
    actor: wl.Actor,
    *,
    number: str | None = None,
    cnes: str | None = None,
) -> AuthorizationNumber:
    """The APAC authorization of an entry's OCI: a number typed in from another system (validated: format, check
    digit, program digit, never used before) or the next number of the executing establishment's range."""
    entry = await wl.get_entry(session, entry_id, for_update=True)
    execution = await get_execution(session, entry_id, for_update=True)
    await require_access(session, actor, entry, execution)
    if entry.status not in AUTHORIZABLE:
        raise Conflict(
            f"Só se emite autorização para solicitações autorizadas ou em andamento (situação: {entry.status}).",
            code="entrada_nao_autorizavel",
        )
    if execution is not None and execution.authorization_number is not None:
        raise Conflict(
            "A OCI desta solicitação já tem autorização "
            f"({auth.format_authorization(execution.authorization_number)}).",
            code="autorizacao_existente",
        )
    if cnes is not None and not (cnes.isdigit() and len(cnes) == 7):
        raise ValidationFailed.for_field("cnes", "cnes_formato", "CNES tem 7 dígitos.")
    where = cnes or (execution.cnes if execution else None) or await entry_cnes(session, entry_id)
    oci = await load_oci(session, settings, entry.oci_code, entry.catalog_competencia)
    execution = await ensure_execution(session, entry, oci, where, settings)
    if number is None:
        issued = await issue_for_execution(session, entry, execution, actor, quiet=False)
        assert issued is not None
        return issued
    est = await session.get(Establishment, where) if where else None
    parsed = auth.parse_authorization(number, field="number", instrument="apac", program=program_for(est))
    taken = (
        await session.execute(select(AuthorizationNumber).where(col(AuthorizationNumber.number) == parsed.number))
    ).scalar_one_or_none()
    if taken is not None:
        raise Conflict(
            f"O número {parsed.formatted} já está em uso.", code="autorizacao_duplicada", extra={"id": taken.id}
        )
    row = AuthorizationNumber(
        number=parsed.number,
        instrument=parsed.instrument,
        program=parsed.program,
        source="informada",
        cnes=where,
        entry_id=entry.id,
        citizen_id=entry.citizen_id,
        oci_code=entry.oci_code,
        issued_by=actor.username,
        uf=entry.uf,
        municipality_ibge=entry.municipality_ibge,
    )
    session.add(row)
    await session.flush()
    execution.authorization_number = parsed.number
    execution.updated_at = utcnow()
    await session.flush()
    return row
