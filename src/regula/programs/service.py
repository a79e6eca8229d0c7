"""The rules of program management: PARs as versioned data, their approval, transfers, commitments, contracts, the
funding ledger, the monitoring indicators and the CIB/CIT reports (Portaria GM/MS 3.492/2024 art. 8–16 as amended;
decision 0016).

Services flush, never commit (decision 2); every change is audited by the flush listener (the tables are
``__audited__``). ``today`` is always passed in (core.clock): nothing here depends on the day it runs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.labels import jurisdiction_label
from regula.catalog import repository as catalog_repo
from regula.catalog.service import resolve_competencia
from regula.config import Settings
from regula.core.errors import Conflict, DomainError, FieldError, PermissionDenied, ValidationFailed
from regula.db.base import utcnow
from regula.production.models import OciExecution
from regula.programs import funding, reports, steps
from regula.programs import repository as repo
from regula.programs.ledger import ConcludedOci, Ledger, PlannedLine, Transfer, build_ledger, map_decimals
from regula.programs.models import (
    TRANSFER_KINDS,
    Par,
    ParCommitment,
    ParContract,
    ParLine,
    ParStep,
    ParTransfer,
    ParVersion,
)
from regula.programs.money import ZERO, brl, centavos, money_text
from regula.programs.schemas import (
    CommitmentIn,
    ContractIn,
    LineIn,
    ParContentIn,
    ParCreate,
    StepIn,
    TransferIn,
    VersionCreate,
)
from regula.territory.reference import Municipality, territory
from regula.waitlist import measures
from regula.waitlist import service as wl

#: Where a PAR's population comes from: the municipalities table regula ships (regula/data/territory).
POPULATION_SOURCE: Final = "IBGE, estimativa populacional 2019 (tabela de municípios distribuída com o regula)"
MAX_QUANTITY: Final = 1_000_000
MAX_TEXT: Final = 20_000
_MONTH = re.compile(r"^(\d{4})-?(\d{2})$")
#: A month as people in Brazil write it (and as the pages show it): MM/AAAA.
_MONTH_BR = re.compile(r"^(\d{2})/(\d{4})$")
_CNES = re.compile(r"^\d{7}$")
_COMPETENCIA = re.compile(r"^(\d{4})(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$", re.IGNORECASE)
SCOPE_KINDS: Final = ("region", "macro", "uf", "municipalities")
SCOPE_KIND_LABELS_PT: Final = {
    "region": "Região de saúde",
    "macro": "Macrorregião de saúde",
    "uf": "Estado",
    "municipalities": "Lista de municípios",
}
TRANSFER_KIND_LABELS_PT: Final = {
    "incentivo_1": "Incentivo — 1ª parcela (art. 15, §2º, I)",
    "incentivo_2": "Incentivo — 2ª parcela (art. 15, §2º, II)",
    "adiantamento": "Fomento de 30% (art. 16, I)",
    "producao": "Produção — parcela dos 70% (art. 16, II)",
}


# -- parsing -------------------------------------------------------------------------------------------------------


def parse_month(raw: str, field_name: str, errors: list[FieldError]) -> date | None:
    text = (raw or "").strip()
    match = _MONTH.match(text)
    br = None if match else _MONTH_BR.match(text)
    year, month = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if br:
        year, month = int(br.group(2)), int(br.group(1))
    if not (match or br) or not 1 <= month <= 12:
        errors.append(FieldError(field_name, "mes_invalido", f"Mês inválido: {raw!r} (use MM/AAAA ou AAAA-MM)."))
        return None
    return date(year, month, 1)


def parse_date(raw: str | None, field_name: str, errors: list[FieldError], *, required: bool = True) -> date | None:
    text = (raw or "").strip()
    if not text:
        if required:
            errors.append(FieldError(field_name, "data_obrigatoria", "Informe a data (AAAA-MM-DD)."))
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append(FieldError(field_name, "data_invalida", f"Data inválida: {raw!r} (use AAAA-MM-DD)."))
        return None


def parse_competencia(raw: str) -> date:
    """``AAAAMM`` → the first day of that month; 422 naming ``competencia`` otherwise."""
    match = _COMPETENCIA.match((raw or "").strip())
    if match is None:
        raise ValidationFailed.for_field(
            "competencia", "competencia_invalida", f"Competência inválida: {raw!r} (use AAAAMM)."
        )
    return date(int(match.group(1)), int(match.group(2)), 1)


def parse_quarter(raw: str) -> tuple[date, date]:
    """``AAAAQn`` → (first day of the quarter, first day after it); 422 naming ``trimestre`` otherwise."""
    match = _QUARTER.match((raw or "").strip())
    if match is None:
        raise ValidationFailed.for_field(
            "trimestre", "trimestre_invalido", f"Trimestre inválido: {raw!r} (use AAAAQn, ex.: 2026Q1)."
        )
    year, q = int(match.group(1)), int(match.group(2))
    start = date(year, 3 * q - 2, 1)
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return start, end


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def _text(raw: str | None, field_name: str, label: str, errors: list[FieldError], *, limit: int = MAX_TEXT) -> str:
    text = (raw or "").strip()
    if not text:
        errors.append(FieldError(field_name, "campo_obrigatorio", f"Informe {label}."))
    elif len(text) > limit:
        errors.append(FieldError(field_name, "texto_longo", f"{label[:1].upper()}{label[1:]}: até {limit} caracteres."))
    return text


# -- coverage and managers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    scope_kind: str
    scope_code: str
    uf: str
    municipalities: tuple[Municipality, ...]

    @property
    def codes(self) -> list[str]:
        return sorted(m.ibge_code for m in self.municipalities)

    @property
    def population(self) -> int:
        return sum(m.population for m in self.municipalities)


def coverage_of(
    scope_kind: str, scope_code: str, municipalities: Sequence[str], errors: list[FieldError]
) -> Coverage | None:
    """The municipalities a PAR covers (art. 9 I: "definição de território de abrangência"): a health region, a
    macro-region, the UF (art. 8 II) or an explicit list (a plan "de caráter parcial", art. 8 III a as amended)."""
    t = territory()
    kind = (scope_kind or "").strip()
    code = (scope_code or "").strip().upper() if kind == "uf" else (scope_code or "").strip()
    if kind not in SCOPE_KINDS:
        errors.append(
            FieldError("scope_kind", "escopo_invalido", "Abrangência deve ser region, macro, uf ou municipalities.")
        )
        return None
    places: list[Municipality]
    if kind == "region":
        region = t.health_region(code)
        if region is None:
            errors.append(FieldError("scope_code", "regiao_desconhecida", f"Região de saúde desconhecida: {code!r}."))
            return None
        places = [x for x in t.all() if x.health_region_code == code]
    elif kind == "macro":
        if t.macro_region(code) is None:
            errors.append(
                FieldError("scope_code", "macrorregiao_desconhecida", f"Macrorregião desconhecida: {code!r}.")
            )
            return None
        places = [x for x in t.all() if x.macro_code == code]
    elif kind == "uf":
        places = [x for x in t.all() if x.uf == code]
        if not places:
            errors.append(FieldError("scope_code", "uf_desconhecida", f"UF desconhecida: {code!r}."))
            return None
    else:
        code = ""
        places = []
        if not municipalities:
            errors.append(FieldError("municipalities", "municipios_obrigatorios", "Informe os municípios do PAR."))
            return None
        for i, raw in enumerate(municipalities):
            found = t.find(str(raw).strip())
            if found is None:
                errors.append(
                    FieldError(f"municipalities[{i}]", "municipio_desconhecido", f"Município desconhecido: {raw!r}.")
                )
            elif found not in places:
                places.append(found)
        if not places:
            return None
    ufs = {x.uf for x in places}
    if len(ufs) != 1:
        errors.append(FieldError("municipalities", "ufs_diferentes", "Os municípios de um PAR devem ser da mesma UF."))
        return None
    return Coverage(kind, code, ufs.pop(), tuple(sorted(places, key=lambda x: x.ibge_code)))


def check_manager(raw: str, uf: str, field_name: str, errors: list[FieldError]) -> str | None:
    """An executing manager (gestor executor, art. 16 I as amended): the state (``uf:SC``) or a municipality of the
    PAR's UF (``municipality:4205407``)."""
    text = (raw or "").strip()
    kind, _, code = text.partition(":")
    if kind == "uf" and code.upper() == uf:
        return f"uf:{uf}"
    if kind == "municipality":
        found = territory().find(code)
        if found is not None and found.uf == uf:
            return f"municipality:{found.ibge_code}"
    errors.append(
        FieldError(
            field_name,
            "gestor_invalido",
            f"Gestor executor inválido: {raw!r}; use uf:{uf} ou municipality:<código IBGE de município de {uf}>.",
        )
    )
    return None


def manager_label(manager: str) -> str:
    kind, _, code = manager.partition(":")
    if kind == "uf":
        return f"Secretaria Estadual de Saúde ({code})"
    found = territory().find(code)
    return f"Secretaria Municipal de Saúde de {found.label}" if found else manager


# -- content validation --------------------------------------------------------------------------------------------


@dataclass
class _Content:
    coverage: Coverage
    competencia: str
    lines: list[dict[str, Any]]
    values: dict[str, Any] = field(default_factory=dict)


async def _oci_values(session: AsyncSession, competencia: str) -> dict[str, Decimal]:
    return {o.code: o.value_total for o in await catalog_repo.ocis(session, competencia)}


async def check_lines(
    session: AsyncSession,
    lines: Sequence[LineIn],
    *,
    uf: str,
    competencia: str,
    errors: list[FieldError],
    prefix: str = "lines",
) -> list[dict[str, Any]]:
    """Planned lines checked field by field (art. 9 IV as amended: quantity of OCIs and the executing entes). The
    value of each line is its quantity × the SIGTAP value of the OCI in ``competencia``, kept with the plan."""
    values = await _oci_values(session, competencia)
    known = await repo.establishments(session, [x.cnes.strip() for x in lines])
    seen: set[tuple[str, str, date]] = set()
    out: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        f = f"{prefix}[{i}]"
        before = len(errors)
        manager = check_manager(line.manager, uf, f"{f}.manager", errors)
        oci = line.oci_code.strip()
        if oci not in values:
            errors.append(
                FieldError(f"{f}.oci_code", "oci_desconhecida", f"OCI {oci!r} não existe na competência {competencia}.")
            )
        cnes = line.cnes.strip()
        if not _CNES.match(cnes):
            errors.append(FieldError(f"{f}.cnes", "cnes_invalido", "CNES deve ter 7 dígitos."))
        elif cnes not in known:
            errors.append(
                FieldError(f"{f}.cnes", "estabelecimento_desconhecido", f"Estabelecimento {cnes} não cadastrado.")
            )
        month = parse_month(line.month, f"{f}.month", errors)
        if not 0 < line.quantity <= MAX_QUANTITY:
            errors.append(
                FieldError(f"{f}.quantity", "quantidade_invalida", f"A quantidade deve ser de 1 a {MAX_QUANTITY}.")
            )
        if len(errors) > before or manager is None or month is None:
            continue
        key = (oci, cnes, month)
        if key in seen:
            errors.append(
                FieldError(f"{f}.oci_code", "linha_duplicada", f"OCI {oci}, CNES {cnes} e mês {line.month} repetidos.")
            )
            continue
        seen.add(key)
        unit = values[oci]
        out.append(
            {
                "manager": manager,
                "oci_code": oci,
                "cnes": cnes,
                "month": month,
                "quantity": line.quantity,
                "unit_value": unit,
                "value": centavos(unit * line.quantity),
            }
        )
    return out


async def _content(session: AsyncSession, data: ParContentIn, errors: list[FieldError]) -> _Content | None:
    coverage = coverage_of(data.scope_kind, data.scope_code, data.municipalities, errors)
    diagnosis = _text(data.diagnosis, "diagnosis", "o diagnóstico", errors)
    priorities = _text(data.priorities, "priorities", "as prioridades", errors)
    competencia = ""
    try:
        competencia = await resolve_competencia(session, (data.catalog_competencia or "").strip() or None)
    except DomainError as exc:
        errors.append(FieldError("catalog_competencia", exc.code, exc.message))
    for name in ("target_queue_size", "target_wait_days"):
        value = getattr(data, name)
        if value is not None and not 0 <= value <= 10_000_000:
            errors.append(FieldError(name, "meta_invalida", "A meta deve ser um número inteiro não negativo."))
    target_date = parse_date(data.target_date, "target_date", errors, required=False)
    schedule = []
    for i, item in enumerate(data.schedule):
        what = _text(item.milestone, f"schedule[{i}].milestone", "a etapa do cronograma", errors, limit=500)
        due = parse_date(item.due_on, f"schedule[{i}].due_on", errors)
        if what and due:
            schedule.append({"milestone": what, "due_on": due.isoformat()})
    responsibilities = []
    for i, resp in enumerate(data.responsibilities):
        ente = _text(resp.ente, f"responsibilities[{i}].ente", "o ente", errors, limit=100)
        what = _text(resp.text, f"responsibilities[{i}].text", "as responsabilidades", errors, limit=5000)
        if ente and what:
            responsibilities.append({"ente": ente, "text": what})
    if coverage is None or not competencia:
        return None
    lines = await check_lines(session, data.lines, uf=coverage.uf, competencia=competencia, errors=errors)
    return _Content(
        coverage,
        competencia,
        lines,
        {
            "diagnosis": diagnosis,
            "priorities": priorities,
            "target_queue_size": data.target_queue_size,
            "target_wait_days": data.target_wait_days,
            "target_date": target_date,
            "schedule": schedule,
            "responsibilities": responsibilities,
        },
    )


def _require_editor(actor: Actor) -> None:
    if actor.role not in repo.EDITORS:
        raise PermissionDenied("Somente o gestor da jurisdição altera o PAR.", code="acesso_negado")


def _require_coverage(actor: Actor, coverage: Coverage) -> None:
    if not repo.covers_all(actor, coverage.codes):
        raise PermissionDenied(
            f"A abrangência do PAR sai da sua jurisdição ({jurisdiction_label(actor.jurisdiction)}).",
            code="fora_da_jurisdicao",
        )


def _new_version(par_id: int, number: int, content: _Content, actor: Actor, reason: str | None) -> ParVersion:
    c = content.coverage
    return ParVersion(
        par_id=par_id,
        version=number,
        reason=reason,
        scope_kind=c.scope_kind,
        scope_code=c.scope_code,
        municipalities=c.codes,
        population=c.population,
        population_source=POPULATION_SOURCE,
        catalog_competencia=content.competencia,
        created_by=actor.username,
        **content.values,
    )


async def create_par(session: AsyncSession, data: ParCreate, actor: Actor) -> Par:
    """A new PAR with its first version (``rascunho``)."""
    _require_editor(actor)
    errors: list[FieldError] = []
    title = _text(data.title, "title", "o título", errors, limit=200)
    content = await _content(session, data, errors)
    if errors or content is None:
        raise ValidationFailed("PAR inválido.", errors=errors)
    _require_coverage(actor, content.coverage)
    par = Par(title=title, uf=content.coverage.uf, created_by=actor.username)
    session.add(par)
    await session.flush()
    version = _new_version(par.id or 0, 1, content, actor, None)
    session.add(version)
    await session.flush()
    session.add_all(ParLine(version_id=version.id or 0, **line) for line in content.lines)
    await session.flush()
    return par


async def new_version(session: AsyncSession, par_id: int, data: VersionCreate, actor: Actor) -> ParVersion:
    """An adjustment: a new version with its reason (art. 11: SAES approves the PAR "e seus eventuais ajustes").
    Only one version may be in preparation at a time; approved versions never change."""
    _require_editor(actor)
    bundle = await repo.load(session, actor, par_id, for_update=True)
    if not repo.editable(actor, bundle.latest):
        raise PermissionDenied("Este PAR sai da sua jurisdição.", code="fora_da_jurisdicao")
    open_ = [v for v in bundle.versions if v.status in ("rascunho", "em_pactuacao")]
    if open_:
        raise Conflict(
            f"A versão {open_[-1].version} ainda está em preparação ou pactuação; conclua-a antes de criar outra.",
            code="versao_em_andamento",
        )
    errors: list[FieldError] = []
    reason = _text(data.reason, "reason", "o motivo do ajuste", errors, limit=5000)
    content = await _content(session, data, errors)
    if content is not None and content.coverage.uf != bundle.par.uf:
        errors.append(FieldError("scope_code", "uf_diferente", f"O PAR é da UF {bundle.par.uf}."))
    if errors or content is None:
        raise ValidationFailed("Versão do PAR inválida.", errors=errors)
    _require_coverage(actor, content.coverage)
    version = _new_version(par_id, await repo.next_version_number(session, par_id), content, actor, reason)
    session.add(version)
    await session.flush()
    session.add_all(ParLine(version_id=version.id or 0, **line) for line in content.lines)
    bundle.par.updated_at = utcnow()
    await session.flush()
    return version


async def _editable_bundle(session: AsyncSession, actor: Actor, par_id: int) -> repo.ParBundle:
    _require_editor(actor)
    bundle = await repo.load(session, actor, par_id, for_update=True)
    if not repo.editable(actor, bundle.latest):
        raise PermissionDenied("Este PAR sai da sua jurisdição.", code="fora_da_jurisdicao")
    return bundle


async def put_lines(session: AsyncSession, par_id: int, number: int, lines: Sequence[LineIn], actor: Actor) -> int:
    """Add lines to a draft version, or change the quantity and manager of a line it already has (same OCI, CNES
    and month). A version under pactuação or approved is immutable: adjust it with a new version."""
    bundle = await _editable_bundle(session, actor, par_id)
    version = bundle.version(number)
    if version.status != "rascunho":
        raise Conflict(
            f"A versão {number} não é mais rascunho ({version.status}); crie uma nova versão para ajustá-la.",
            code="versao_imutavel",
        )
    errors: list[FieldError] = []
    if not lines:
        errors.append(FieldError("lines", "linhas_obrigatorias", "Informe ao menos uma linha."))
    checked = await check_lines(
        session, lines, uf=bundle.par.uf, competencia=version.catalog_competencia, errors=errors
    )
    if errors:
        raise ValidationFailed("Linhas do PAR inválidas.", errors=errors)
    existing = {(x.oci_code, x.cnes, x.month): x for x in await repo.lines(session, version.id or 0)}
    for line in checked:
        current = existing.get((line["oci_code"], line["cnes"], line["month"]))
        if current is None:
            session.add(ParLine(version_id=version.id or 0, **line))
        else:
            current.manager, current.quantity, current.value = line["manager"], line["quantity"], line["value"]
    version.updated_at = bundle.par.updated_at = utcnow()
    await session.flush()
    return len(checked)


# -- approval --------------------------------------------------------------------------------------------------------


def recorded_steps(rows: Iterable[ParStep]) -> dict[str, date]:
    return {s.kind: s.step_date for s in rows}


async def record_step(
    session: AsyncSession, settings: Settings, par_id: int, number: int, data: StepIn, actor: Actor, today: date
) -> ParStep:
    """Record an approval step of a version (``programs.steps``). The SAES approval makes the version approved:
    the earlier approved version is superseded, the PAR's first approval date is set once (the six-month window of
    art. 14 §2 as amended counts from it) and the PAR's planned capacities and queue scope reach the queues
    (:func:`apply_to_queues`)."""
    bundle = await _editable_bundle(session, actor, par_id)
    version = bundle.version(number)
    if version.status == "substituida":
        raise Conflict(f"A versão {number} foi substituída por uma versão posterior.", code="versao_substituida")
    errors: list[FieldError] = []
    on = parse_date(data.step_date, "step_date", errors)
    doc = _text(data.number, "number", "o número do ato", errors, limit=60)
    if errors or on is None:
        raise ValidationFailed("Etapa de aprovação inválida.", errors=errors)
    kind = steps.plan_kind(version.scope_kind, bundle.par.uf)
    recorded = recorded_steps((await repo.steps(session, [version.id or 0]))[version.id or 0])
    rule = steps.check_step(kind, recorded, data.kind.strip(), on, today)
    lines = await repo.lines(session, version.id or 0)
    if rule.freezes and not lines:
        raise ValidationFailed.for_field(
            "kind", "par_sem_linhas", "O PAR precisa de ao menos uma linha de OCI planejada antes da pactuação."
        )
    step = ParStep(
        version_id=version.id or 0,
        kind=rule.kind,
        number=doc,
        step_date=on,
        note=(data.note or "").strip() or None,
        created_by=actor.username,
    )
    session.add(step)
    recorded[rule.kind] = on
    status = steps.status_after(kind, recorded)
    now = utcnow()
    if status is steps.VersionStatus.APROVADA and version.status != "aprovada":
        for other in bundle.versions:
            if other.status == "aprovada" and other.id != version.id:
                other.status, other.updated_at = "substituida", now
        version.approved_on = on
        if bundle.par.first_approved_on is None:
            bundle.par.first_approved_on = on
        version.status = status.value
        await session.flush()
        await apply_to_queues(session, version, lines)
    else:
        version.status = status.value
    version.updated_at = bundle.par.updated_at = now
    await session.flush()
    return step


# -- the PAR and the queues (art. 14 §2 as amended; art. 9 IV as amended) ------------------------------------------

_WEEKS_PER_MONTH: Final = Decimal(52) / Decimal(12)


def weekly_capacity(lines: Sequence[ParLine], oci_code: str) -> int:
    """The weekly capacity an approved PAR plans for an OCI: its planned quantity per month (the mean over the
    months it plans that OCI) spread over the 52/12 weeks of a month, rounded half up."""
    of_oci = [x for x in lines if x.oci_code == oci_code]
    months = {x.month for x in of_oci}
    if not months:
        return 0
    monthly = Decimal(sum(x.quantity for x in of_oci)) / Decimal(len(months))
    return int((monthly / _WEEKS_PER_MONTH).quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def queue_scope(version: ParVersion) -> tuple[str, str] | None:
    """The queue scope an approved PAR defines (art. 9 I; waitlist ``RegulationScope``): its region, macro-region
    or UF. A plan over an explicit list of municipalities defines none (a queue scope is a region, a macro-region
    or a UF), so it leaves the queues' scopes and capacities as they are."""
    if version.scope_kind in ("region", "macro", "uf"):
        return version.scope_kind, version.scope_code
    return None


async def apply_to_queues(session: AsyncSession, version: ParVersion, lines: Sequence[ParLine]) -> None:
    """What an approved PAR sets in the waitlist: the queue scope of its health regions (a macro-regional plan
    makes its regions' queues macro-regional, a state plan state-wide) and the weekly capacity of each planned OCI
    in that scope (``QueueCapacity`` with ``source = 'par'``: the figure the waiting-time estimates read until
    agendas give the real one)."""
    scope = queue_scope(version)
    if scope is None:
        return
    kind, code = scope
    regions = sorted({m for m in (territory().municipality(x).health_region_code for x in version.municipalities) if m})
    for region in regions:
        await wl.set_scope(session, region, kind)
    for oci in sorted({x.oci_code for x in lines}):
        await wl.set_capacity(session, wl.QueueKey(oci, kind, code), weekly_capacity(lines, oci), source="par")


async def par_approval_for_municipality(session: AsyncSession, municipality_ibge: str) -> date | None:
    """The approval date of the PAR covering a municipality (the first approval of its earliest-approved PAR in
    force): the start of the six-month window of art. 14 §2 as amended. Connected to the waitlist in
    ``regula.wiring``."""
    return await repo.first_approval_covering(session, municipality_ibge)


@dataclass(frozen=True)
class PlannedCapacity:
    par_id: int
    cnes: str
    oci_code: str
    month: date
    quantity: int
    manager: str


async def planned_capacities(
    session: AsyncSession, actor: Actor, month: date, *, cnes: str | None = None, oci_code: str | None = None
) -> list[PlannedCapacity]:
    """The monthly quantities approved PARs plan per establishment and OCI (art. 9 IV as amended: "considerando-se
    a capacidade instalada dos prestadores"): capacity information for the agendas and the allocation, limited to
    the establishments of the caller's jurisdiction."""
    rows = await repo.approved_lines_for_month(session, month, cnes=cnes, oci_code=oci_code)
    places = await repo.establishments(session, [line.cnes for _, line in rows])
    out = []
    for par_id, line in rows:
        e = places.get(line.cnes)
        if e is None or not actor.covers(e.municipality_ibge):
            continue
        out.append(PlannedCapacity(par_id, line.cnes, line.oci_code, line.month, line.quantity, line.manager))
    return out


# -- transfers, commitments, contracts --------------------------------------------------------------------------------


def _amount(value: Decimal, errors: list[FieldError], field_name: str = "amount") -> Decimal | None:
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        errors.append(FieldError(field_name, "valor_invalido", "Valor inválido."))
        return None
    if not amount.is_finite() or amount <= 0 or amount != centavos(amount) or amount >= Decimal("1e12"):
        errors.append(
            FieldError(field_name, "valor_invalido", "O valor deve ser positivo, em reais com até dois decimais.")
        )
        return None
    return amount


async def _approved(
    session: AsyncSession, actor: Actor, par_id: int, *, edit: bool
) -> tuple[repo.ParBundle, ParVersion]:
    bundle = await (_editable_bundle(session, actor, par_id) if edit else repo.load(session, actor, par_id))
    approved = bundle.approved
    if approved is None:
        raise Conflict("O PAR ainda não foi aprovado pela SAES.", code="par_nao_aprovado")
    return bundle, approved


async def record_transfer(
    session: AsyncSession, par_id: int, data: TransferIn, actor: Actor, today: date
) -> ParTransfer:
    bundle, approved = await _approved(session, actor, par_id, edit=True)
    errors: list[FieldError] = []
    kind = data.kind.strip()
    if kind not in TRANSFER_KINDS:
        errors.append(FieldError("kind", "tipo_invalido", f"Tipo de repasse: {', '.join(TRANSFER_KINDS)}."))
    manager = check_manager(data.manager, bundle.par.uf, "manager", errors)
    if manager and kind in ("adiantamento", "producao"):
        planned = {x.manager for x in await repo.lines(session, approved.id or 0)}
        if manager not in planned:
            errors.append(
                FieldError("manager", "gestor_nao_executor", "Este gestor não executa nenhuma linha do PAR aprovado.")
            )
    paid_on = parse_date(data.paid_on, "paid_on", errors)
    if paid_on is not None and paid_on > today:
        errors.append(FieldError("paid_on", "data_futura", "A data do repasse não pode estar no futuro."))
    amount = _amount(data.amount, errors)
    if errors or manager is None or paid_on is None or amount is None:
        raise ValidationFailed("Repasse inválido.", errors=errors)
    row = ParTransfer(
        par_id=par_id,
        manager=manager,
        kind=kind,
        paid_on=paid_on,
        amount=amount,
        reference=(data.reference or "").strip() or None,
        created_by=actor.username,
    )
    session.add(row)
    bundle.par.updated_at = utcnow()
    await session.flush()
    return row


async def record_commitment(
    session: AsyncSession, par_id: int, data: CommitmentIn, actor: Actor, today: date
) -> ParCommitment:
    bundle, _ = await _approved(session, actor, par_id, edit=True)
    errors: list[FieldError] = []
    on = parse_date(data.assessed_on, "assessed_on", errors)
    if on is not None and on > today:
        errors.append(FieldError("assessed_on", "data_futura", "A data da avaliação não pode estar no futuro."))
    if errors or on is None:
        raise ValidationFailed("Avaliação inválida.", errors=errors)
    row = ParCommitment(
        par_id=par_id, assessed_on=on, met=data.met, note=(data.note or "").strip() or None, created_by=actor.username
    )
    session.add(row)
    bundle.par.updated_at = utcnow()
    await session.flush()
    return row


async def put_contract(session: AsyncSession, par_id: int, data: ContractIn, actor: Actor) -> ParContract:
    """Record (or amend) what a manager contracted from an establishment for an OCI in a month (art. 12 VII)."""
    bundle, approved = await _approved(session, actor, par_id, edit=True)
    errors: list[FieldError] = []
    number = _text(data.contract_number, "contract_number", "o número do contrato", errors, limit=60)
    manager = check_manager(data.manager, bundle.par.uf, "manager", errors)
    values = await _oci_values(session, approved.catalog_competencia)
    oci = data.oci_code.strip()
    if oci not in values:
        errors.append(FieldError("oci_code", "oci_desconhecida", f"OCI {oci!r} não existe na competência do PAR."))
    cnes = data.cnes.strip()
    if not _CNES.match(cnes):
        errors.append(FieldError("cnes", "cnes_invalido", "CNES deve ter 7 dígitos."))
    elif cnes not in await repo.establishments(session, [cnes]):
        errors.append(FieldError("cnes", "estabelecimento_desconhecido", f"Estabelecimento {cnes} não cadastrado."))
    month = parse_month(data.month, "month", errors)
    if not 0 <= data.quantity <= MAX_QUANTITY:
        errors.append(FieldError("quantity", "quantidade_invalida", f"A quantidade deve ser de 0 a {MAX_QUANTITY}."))
    unit: Decimal | None = values.get(oci)
    if data.unit_value is not None:
        unit = _amount(data.unit_value, errors, "unit_value")
    if errors or manager is None or month is None or unit is None:
        raise ValidationFailed("Contrato inválido.", errors=errors)
    value = centavos(unit * data.quantity)
    row = await repo.contract(session, par_id, cnes, oci, month)
    if row is None:
        row = ParContract(
            par_id=par_id,
            contract_number=number,
            manager=manager,
            cnes=cnes,
            oci_code=oci,
            month=month,
            quantity=data.quantity,
            unit_value=unit,
            value=value,
            created_by=actor.username,
        )
        session.add(row)
    else:
        row.contract_number, row.manager, row.quantity, row.unit_value, row.value = (
            number,
            manager,
            data.quantity,
            unit,
            value,
        )
    bundle.par.updated_at = utcnow()
    await session.flush()
    return row


# -- production as the ledger and the indicators read it ------------------------------------------------------------


def adequate(x: OciExecution) -> bool:
    """Concluded adequately (art. 16 II as amended), as production control records it: concluded (which requires
    the mandatory composition complete, ``production.execution.conclude``), first → last procedure within tM
    (``within_tm``, art. 14 §3 III) and under an authorization number the regulation issued or recorded
    (``authorization_number``; SAES ordinance art. 13)."""
    return x.status == "concluida" and x.within_tm is True and x.authorization_number is not None


def _month_of(day: date) -> date:
    return day.replace(day=1)


@dataclass(frozen=True)
class Production:
    """The concluded OCIs of a PAR's plan (its OCI × establishment pairs) up to a day."""

    executions: tuple[OciExecution, ...]
    unit_values: dict[tuple[str, str], Decimal]  # (OCI, CNES) → the plan's unit value
    managers: dict[tuple[str, str], str]

    def concluded(self) -> list[ConcludedOci]:
        out = []
        for x in self.executions:
            key = (x.oci_code, x.cnes or "")
            if key not in self.managers or x.last_on is None:
                continue
            out.append(
                ConcludedOci(
                    manager=self.managers[key],
                    oci_code=x.oci_code,
                    cnes=x.cnes or "",
                    month=_month_of(x.last_on),
                    value=self.unit_values[key],
                    adequate=adequate(x),
                )
            )
        return out


async def production_of(session: AsyncSession, lines: Sequence[ParLine], until: date) -> Production:
    pairs = {(x.oci_code, x.cnes) for x in lines}
    managers: dict[tuple[str, str], str] = {}
    units: dict[tuple[str, str], Decimal] = {}
    for x in sorted(lines, key=lambda x: x.month):
        managers.setdefault((x.oci_code, x.cnes), x.manager)
        units.setdefault((x.oci_code, x.cnes), x.unit_value)
    executions = await repo.concluded_executions(session, [c for _, c in pairs], [o for o, _ in pairs], until=until)
    kept = tuple(x for x in executions if (x.oci_code, x.cnes or "") in pairs)
    return Production(kept, units, managers)


# -- the ledger ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerView:
    bundle: repo.ParBundle
    approved: ParVersion
    lines: tuple[ParLine, ...]
    ledger: Ledger
    incentive: funding.Incentive
    incentive_due: funding.IncentiveDue
    incentive_paid: Decimal
    commitments_assessed: bool
    executores_late: bool

    def to_data(self) -> dict[str, Any]:
        """The ledger with the PAR, its version in force and the incentive, money as ``Decimal``:
        ``regula programs ledger --json`` writes it with ``money.dumps`` (JSON numbers with two decimals, decision
        0015)."""
        return {
            "par_id": self.bundle.par.id,
            "title": self.bundle.par.title,
            "version": self.approved.version,
            "population": self.approved.population,
            "incentive": {
                "amount": self.incentive.amount,
                "first": self.incentive.first,
                "second": self.incentive.second,
                "first_due": self.incentive_due.first,
                "second_due": self.incentive_due.second,
                "due": self.incentive_due.amount,
                "paid": self.incentive_paid,
            },
            "commitments_assessed": self.commitments_assessed,
            "executores_late": self.executores_late,
            **self.ledger.to_data(),
        }

    def to_json(self) -> dict[str, Any]:
        """What ``GET /api/v1/programs/pars/{id}/ledger`` returns: :meth:`to_data` with money as exact strings of
        two decimals (decision 0015: no client reads money through a float)."""
        data: dict[str, Any] = map_decimals(self.to_data(), money_text)
        return data


async def ledger_view(session: AsyncSession, par_id: int, actor: Actor, today: date) -> LedgerView:
    """Gather the approved plan, the transfers, production control's concluded OCIs and the commitments'
    assessment, and build the ledger (``programs.ledger``) as of ``today``."""
    bundle, approved = await _approved(session, actor, par_id, edit=False)
    lines = tuple(await repo.lines(session, approved.id or 0))
    rows = await repo.transfers(session, par_id)
    transfers = [
        Transfer(t.manager, "adiantamento" if t.kind == "adiantamento" else "producao", t.paid_on, t.amount)
        for t in rows
        if t.kind in ("adiantamento", "producao")
    ]
    production = await production_of(session, lines, today)
    concluded = production.concluded()
    # §1: the advance is released by the CIB resolution naming the executing managers, recorded on any version
    # that was approved (an adjustment does not release it a second time).
    approved_ids = [v.id or 0 for v in bundle.versions if v.status in ("aprovada", "substituida")]
    recorded: dict[str, date] = {}
    for version_steps in (await repo.steps(session, approved_ids)).values():
        for kind, on in recorded_steps(version_steps).items():
            recorded.setdefault(kind, on)
    commitment = await repo.latest_commitment(session, par_id)
    # §4: without an assessment the commitments are not (yet) shown to be met: the 70% waits.
    met = commitment is not None and commitment.met
    ledger = build_ledger(
        [PlannedLine(x.manager, x.oci_code, x.cnes, x.month, x.quantity, x.unit_value) for x in lines],
        transfers,
        concluded,
        as_of=today,
        advance_released=steps.advance_released(recorded),
        commitments_met=met,
    )
    executed = sum((c.value for c in concluded if c.adequate), ZERO)
    inc = funding.incentive(approved.population)
    due = funding.incentive_due(
        approved.population, saes_approved=True, executed_value=executed, planned_value=ledger.totals.approved
    )
    paid = sum((t.amount for t in rows if t.kind in ("incentivo_1", "incentivo_2") and t.paid_on <= today), ZERO)
    return LedgerView(
        bundle,
        approved,
        lines,
        ledger,
        inc,
        due,
        paid,
        commitment is not None,
        steps.executores_late(recorded, today),
    )


# -- monitoring (art. 13) ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthFigures:
    month: date
    planned_quantity: int
    planned_value: Decimal
    executed_quantity: int  # concluded OCIs (adequately or not)
    adequate_quantity: int
    executed_value: Decimal  # value of the adequately concluded OCIs (what the 70% pays on)


@dataclass(frozen=True)
class Indicators:
    par_id: int
    version: int
    as_of: date
    months: tuple[MonthFigures, ...]
    queue_size: int
    queue_target: int | None
    median_wait_days: float | None
    wait_target_days: int | None
    tm: measures.Share
    no_shows: measures.Share

    @property
    def planned_value(self) -> Decimal:
        return sum((x.planned_value for x in self.months), ZERO)

    @property
    def executed_value(self) -> Decimal:
        return sum((x.executed_value for x in self.months), ZERO)

    def to_json(self) -> dict[str, Any]:
        return {
            "par_id": self.par_id,
            "version": self.version,
            "as_of": self.as_of.isoformat(),
            "months": [
                {
                    "month": x.month.strftime("%Y-%m"),
                    "planned_quantity": x.planned_quantity,
                    "planned_value": money_text(x.planned_value),
                    "executed_quantity": x.executed_quantity,
                    "adequate_quantity": x.adequate_quantity,
                    "executed_value": money_text(x.executed_value),
                }
                for x in self.months
            ],
            "queue": {
                "size": self.queue_size,
                "target": self.queue_target,
                "median_wait_days": self.median_wait_days,
                "target_wait_days": self.wait_target_days,
            },
            "tm_compliance": {"within": self.tm.part, "concluded": self.tm.whole, "percent": self.tm.percent},
            "no_shows": {"missed": self.no_shows.part, "due": self.no_shows.whole, "percent": self.no_shows.percent},
        }


async def indicators(session: AsyncSession, settings: Settings, par_id: int, actor: Actor, today: date) -> Indicators:
    """Monitoring per PAR (art. 13; art. 12 VI and VIII): planned vs executed by month, queue size and waiting
    time of the covered residents for the planned OCIs against the targets, tM compliance of the concluded OCIs of
    the plan, and no-shows — every measure from ``waitlist.measures``."""
    _bundle, approved = await _approved(session, actor, par_id, edit=False)
    lines = await repo.lines(session, approved.id or 0)
    production = await production_of(session, lines, today)
    by_month: dict[date, list[Any]] = defaultdict(lambda: [0, ZERO, 0, 0, ZERO])
    for x in lines:
        acc = by_month[x.month]
        acc[0] += x.quantity
        acc[1] += x.value
    for c in production.concluded():
        acc = by_month[c.month]
        acc[2] += 1
        if c.adequate:
            acc[3] += 1
            acc[4] += c.value
    months = tuple(MonthFigures(k, *v) for k, v in sorted(by_month.items()))
    ocis = sorted({x.oci_code for x in lines})
    queue = await repo.queue_figures(session, approved.municipalities, ocis, today=today, tz=settings.timezone)
    tm = measures.tm_compliance(
        (x.first_on, x.last_on, x.max_days) for x in production.executions if x.first_on and x.last_on
    )
    first = min((x.month for x in lines), default=_month_of(today))
    no_shows = await repo.no_show_figures(
        session,
        approved.municipalities,
        ocis,
        since=first,
        until=date.fromordinal(today.toordinal() + 1),
        tz=settings.timezone,
    )
    return Indicators(
        par_id,
        approved.version,
        today,
        months,
        queue.size,
        approved.target_queue_size,
        queue.median_days,
        approved.target_wait_days,
        tm,
        no_shows,
    )


# -- contracts ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractView:
    contract: ParContract
    delivered: int  # OCIs concluded at the establishment in the month (production control)
    regulated: int  # bookings the regulation made there for the OCI in the month
    month_closed: bool

    @property
    def under_delivered(self) -> bool:
        """A closed month in which the establishment delivered less than contracted (art. 12 VII)."""
        return self.month_closed and self.delivered < self.contract.quantity

    @property
    def delivery_percent(self) -> float | None:
        q = self.contract.quantity
        return round(100 * self.delivered / q, 1) if q else None


async def contracts(
    session: AsyncSession, settings: Settings, par_id: int, actor: Actor, today: date
) -> list[ContractView]:
    """Every contract of the PAR with what was delivered (OCIs concluded at the establishment, by the month of the
    last procedure) and what was regulated to it (bookings). A month is closed once ``today`` is past it."""
    await repo.load(session, actor, par_id)
    rows = await repo.contracts(session, par_id)
    if not rows:
        return []
    cnes = {c.cnes for c in rows}
    ocis = {c.oci_code for c in rows}
    executions = await repo.concluded_executions(session, cnes, ocis, until=today)
    delivered: dict[tuple[str, str, date], int] = defaultdict(int)
    for x in executions:
        if x.last_on is not None:
            delivered[(x.cnes or "", x.oci_code, _month_of(x.last_on))] += 1
    first, last = min(c.month for c in rows), next_month(max(c.month for c in rows))
    tz = settings.timezone
    regulated = await repo.regulated_counts(
        session, cnes, ocis, since=measures.start_of_day(first, tz), until=measures.start_of_day(last, tz), tz=tz
    )
    return [
        ContractView(
            c,
            delivered.get((c.cnes, c.oci_code, c.month), 0),
            regulated.get((c.cnes, c.oci_code, c.month), 0),
            next_month(c.month) <= today,
        )
        for c in rows
    ]


# -- reports (art. 13 §1–§2) -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFile:
    report: reports.Report
    filename: str  # without extension


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.001")) if whole else None


async def cib_report(
    session: AsyncSession, settings: Settings, par_id: int, actor: Actor, competencia: str, today: date
) -> ReportFile:
    """The monthly report to the CIB (art. 13 §1: the execution "monitorad[a] em reuniões das CIBs"): for each
    planned OCI × establishment of the month, planned vs executed, contracted and regulated; the month's ledger
    per executing manager in the notes."""
    month = parse_competencia(competencia)
    view = await ledger_view(session, par_id, actor, today)
    contracted = {
        (c.contract.cnes, c.contract.oci_code): c
        for c in await contracts(session, settings, par_id, actor, today)
        if c.contract.month == month
    }
    production = await production_of(session, view.lines, today)
    done: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for c in production.concluded():
        if c.month == month:
            done[(c.oci_code, c.cnes)][0] += 1
            done[(c.oci_code, c.cnes)][1] += int(c.adequate)
    places = await repo.establishments(session, [x.cnes for x in view.lines])
    rows: list[list[reports.Value]] = []
    for x in view.lines:
        if x.month != month:
            continue
        executed, adequate_n = done.get((x.oci_code, x.cnes), [0, 0])
        contract = contracted.get((x.cnes, x.oci_code))
        rows.append(
            [
                manager_label(x.manager),
                x.oci_code,
                x.cnes,
                places[x.cnes].name if x.cnes in places else "",
                x.quantity,
                x.value,
                executed,
                adequate_n,
                centavos(x.unit_value * adequate_n),
                _share(adequate_n, x.quantity),
                contract.contract.quantity if contract else None,
                contract.regulated if contract else None,
            ]
        )
    key = month.strftime("%Y-%m")
    notes = [
        f"Razão de {manager_label(m_.manager)} em {month:%m/%Y}: aprovado {brl(r.approved)}; adiantado (30%) "
        f"{brl(r.advanced)}; ganho pela produção {brl(r.earned)}; devido {brl(r.due)}; em risco {brl(r.at_risk)}."
        for m_ in view.ledger.managers
        for r in m_.by_month
        if r.key == key
    ]
    notes.append(
        "OCIs concluídas adequadamente: composição obrigatória completa, do primeiro ao último procedimento dentro "
        "do tM e com autorização regulada (Portaria GM/MS 3.492/2024, art. 16, II, alterado)."
    )
    columns = (
        reports.Column("Gestor executor"),
        reports.Column("OCI"),
        reports.Column("CNES"),
        reports.Column("Estabelecimento"),
        reports.Column("Quantidade planejada", "integer"),
        reports.Column("Valor planejado (R$)", "money"),
        reports.Column("OCIs concluídas", "integer"),
        reports.Column("Concluídas adequadamente", "integer"),
        reports.Column("Valor da produção adequada (R$)", "money"),
        reports.Column("Execução da quantidade planejada", "percent"),
        reports.Column("Quantidade contratada", "integer"),
        reports.Column("Agendamentos regulados", "integer"),
    )
    title = f"Relatório mensal à CIB — PAR {par_id} ({view.bundle.par.title}) — competência {month:%m/%Y}"
    return ReportFile(reports.Report(title, columns, rows, notes=notes), f"par-{par_id}-cib-{month:%Y%m}")


async def cit_report(
    session: AsyncSession, settings: Settings, par_id: int, actor: Actor, trimestre: str, today: date
) -> ReportFile:
    """The quarterly summary to the CIT (art. 13 §2: the program's situation "apresentada trimestralmente na
    CIT"): per month of the quarter, planned vs executed and the ledger's amounts; the queue against its targets,
    tM compliance and no-shows in the notes."""
    start, end = parse_quarter(trimestre)
    view = await ledger_view(session, par_id, actor, today)
    ind = await indicators(session, settings, par_id, actor, today)
    by_month: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * 4)
    for m_ in view.ledger.managers:
        for r in m_.by_month:
            acc = by_month[r.key]
            for i, v in enumerate((r.advanced, r.earned, r.due, r.at_risk)):
                acc[i] += v
    rows: list[list[reports.Value]] = []
    for x in ind.months:
        if start <= x.month < end:
            advanced, earned, due, at_risk = by_month[x.month.strftime("%Y-%m")]
            rows.append(
                [
                    x.month.strftime("%m/%Y"),
                    x.planned_quantity,
                    x.planned_value,
                    x.executed_quantity,
                    x.adequate_quantity,
                    x.executed_value,
                    advanced,
                    earned,
                    due,
                    at_risk,
                ]
            )

    def target(value: int | None) -> str:
        return "sem meta" if value is None else str(value)

    median = "sem dados" if ind.median_wait_days is None else f"{ind.median_wait_days:.0f} dias"
    notes = [
        f"Fila em {today:%d/%m/%Y}: {ind.queue_size} pessoas aguardando (meta: {target(ind.queue_target)}); "
        f"mediana de espera {median} (meta: {target(ind.wait_target_days)} dias).",
        f"OCIs concluídas dentro do tM: {ind.tm.part} de {ind.tm.whole}"
        + (f" ({ind.tm.percent}%)." if ind.tm.percent is not None else "."),
        f"Absenteísmo: {ind.no_shows.part} faltas em {ind.no_shows.whole} atendimentos previstos"
        + (f" ({ind.no_shows.percent}%)." if ind.no_shows.percent is not None else "."),
        f"Incentivo de implantação (art. 15): {brl(view.incentive.amount)}; recebido {brl(view.incentive_paid)}.",
    ]
    columns = (
        reports.Column("Mês"),
        reports.Column("Quantidade planejada", "integer"),
        reports.Column("Valor planejado (R$)", "money"),
        reports.Column("OCIs concluídas", "integer"),
        reports.Column("Concluídas adequadamente", "integer"),
        reports.Column("Valor da produção adequada (R$)", "money"),
        reports.Column("Adiantado (R$)", "money"),
        reports.Column("Ganho pela produção (R$)", "money"),
        reports.Column("Devido (R$)", "money"),
        reports.Column("Em risco (R$)", "money"),
    )
    q = (start.month + 2) // 3
    title = f"Resumo trimestral à CIT — PAR {par_id} ({view.bundle.par.title}) — {q}º trimestre de {start.year}"
    return ReportFile(reports.Report(title, columns, rows, notes=notes), f"par-{par_id}-cit-{start.year}t{q}")


async def establishment_names(session: AsyncSession, cnes: Iterable[str]) -> dict[str, str]:
    return {k: e.name for k, e in (await repo.establishments(session, cnes)).items()}


# -- detail --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParDetail:
    bundle: repo.ParBundle
    steps_by_version: dict[int, list[ParStep]]
    lines_by_version: dict[int, list[ParLine]]
    transfers: tuple[ParTransfer, ...]
    commitment: ParCommitment | None
    editable: bool

    def next_steps(self, version: ParVersion) -> tuple[steps.StepRule, ...]:
        if version.status == "substituida":
            return ()
        kind = steps.plan_kind(version.scope_kind, self.bundle.par.uf)
        return steps.next_steps(kind, recorded_steps(self.steps_by_version.get(version.id or 0, [])))


async def detail(session: AsyncSession, par_id: int, actor: Actor) -> ParDetail:
    bundle = await repo.load(session, actor, par_id)
    ids = [v.id or 0 for v in bundle.versions]
    all_steps = await repo.steps(session, ids)
    all_lines = {i: await repo.lines(session, i) for i in ids}
    return ParDetail(
        bundle,
        dict(all_steps),
        all_lines,
        tuple(await repo.transfers(session, par_id)),
        await repo.latest_commitment(session, par_id),
        repo.editable(actor, bundle.latest),
    )


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
) -> list[repo.ParBundle]:
    if actor.role not in repo.READERS:
        raise PermissionDenied("Acesso aos PARs: gestores e auditores.", code="acesso_negado")
    if sort not in repo.SORTS:
        raise ValidationFailed.for_field("sort", "ordenacao_invalida", f"Ordene por {', '.join(repo.SORTS)}.")
    return await repo.list_pars(
        session, actor, status=status, scope_kind=scope_kind, uf=uf, q=q, sort=sort, descending=descending
    )
