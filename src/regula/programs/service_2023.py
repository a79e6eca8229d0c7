"""The 2023 queue-reduction program (Portaria GM/MS 90/2023): the state plans, their approval and the payments.

* A **state plan** (art. 6): procedures (SIGTAP codes, I) per executing service (CNES, II) with quantities, the
  target of queue reduction (III) and the schedule of the money (IV). It is written by the state and municipal
  health secretariats and pactuated in the CIB (art. 4 §1); in regula a **gestor of the whole UF** (``uf:XX``, or a
  national user) writes it, an auditor or a gestor of a region inside the UF reads it. Every change is a new version
  with a reason; the previous version is kept (``substituido``). Nothing is deleted.
* **Approval** (art. 4 §1, §3; art. 8 §2): the CIB resolution approving the plan and distributing the money, then
  the SAES approval.
* **Money** (art. 6 §1, art. 8 §3): the UF's share is the Annex's per-capita value; ⅓ is paid up front (I) and the
  rest against SIA/SIH production (II), registered as eletivo under the program's series (art. 10). Payments are
  recorded only for an approved plan (art. 8 §2), never beyond the third up front nor beyond the rest on
  production; a reversal is a negative payment. The federal complement of each procedure is at most 100% of the SUS
  table value (art. 9).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import JurisdictionKind
from regula.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from regula.db.base import utcnow
from regula.programs import percapita_2023, repository_2023
from regula.programs.models_2023 import INSTRUMENTS, PAYMENT_KINDS, QueuePlan2023, QueuePlan2023Item
from regula.programs.models_2023 import QueuePlan2023Payment as Payment
from regula.programs.money import CENTAVO, ZERO, brl
from regula.territory.reference import UFS

EDITORS: Final = frozenset({"gestor", "admin"})
_PROCEDURE: Final = re.compile(r"^\d{10}$")
_CNES: Final = re.compile(r"^\d{7}$")
_COMPETENCIA: Final = re.compile(r"^(\d{4})(\d{2})$")
_MONTH: Final = re.compile(r"^(\d{4})-(\d{2})$")
MAX_ITEMS: Final = 2000
MAX_TEXT: Final = 4000


@dataclass(frozen=True)
class ItemInput:
    procedure_code: str
    cnes: str
    instrument: str  # apac | aih
    quantity: int
    table_value: str  # money as text ("123.45" or "123,45"): never a float
    complement: str = "0"


@dataclass(frozen=True)
class ScheduleInput:
    month: str  # AAAA-MM
    amount: str


@dataclass(frozen=True)
class PlanInput:
    target_reduction: int
    target_note: str
    schedule: Sequence[ScheduleInput]
    items: Sequence[ItemInput]
    reason: str | None = None  # required from the second version on


@dataclass(frozen=True)
class PlanTotals:
    procedures: int  # Σ quantities
    table_value: Decimal  # Σ quantity × SUS table value
    complement: Decimal  # Σ quantity × federal complement (art. 9)
    scheduled: Decimal  # Σ schedule amounts (art. 6 IV)
    paid_upfront: Decimal
    paid_production: Decimal
    upfront_left: Decimal  # ⅓ not yet paid
    production_left: Decimal  # the rest not yet paid on production


@dataclass(frozen=True)
class PlanView:
    plan: QueuePlan2023
    items: list[QueuePlan2023Item]
    payments: list[Payment]
    totals: PlanTotals
    versions: list[int]
    editable: bool  # may the caller write a new version / approve / record a payment


@dataclass(frozen=True)
class UfRow:
    share: percapita_2023.UfShare
    plan: QueuePlan2023 | None
    paid_upfront: Decimal
    paid_production: Decimal


def may_edit(actor: Actor, uf: str) -> bool:
    """A gestor (or admin) whose jurisdiction is the whole UF or the country (art. 4 §1: the state plan is the UF's)."""
    j = actor.jurisdiction
    whole_uf = j.kind is JurisdictionKind.NATIONAL or (j.kind is JurisdictionKind.UF and j.code == uf)
    return actor.role in EDITORS and whole_uf


def _require_edit(actor: Actor, uf: str) -> None:
    if not may_edit(actor, uf):
        raise PermissionDenied(
            f"Só um gestor com jurisdição sobre toda a UF {uf} altera o seu plano estadual de redução das filas.",
            code="plano_so_gestor_da_uf",
        )


def _uf(raw: str) -> str:
    uf = raw.strip().upper()
    if uf not in UFS:
        raise ValidationFailed.for_field("uf", "uf_invalida", f"UF desconhecida: {raw!r}.")
    return uf


def parse_money(raw: str | int | Decimal, field: str, errors: list[FieldError], *, negative: bool = False) -> Decimal:
    """Money typed by people or programs: ``1234.5``, ``1234,50`` or ``1.234,50``; at most two decimals."""
    text = str(raw).strip().replace("R$", "").strip()
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        errors.append(FieldError(field, "valor_invalido", f"Valor inválido: {raw!r}; use, por exemplo, 1234,50."))
        return ZERO
    if not value.is_finite() or value != value.quantize(CENTAVO) or abs(value) >= Decimal("1e12"):
        errors.append(FieldError(field, "valor_invalido", "Valor em reais com no máximo duas casas decimais."))
        return ZERO
    if value < 0 and not negative:
        errors.append(FieldError(field, "valor_negativo", "O valor não pode ser negativo."))
    return value.quantize(CENTAVO)


def _validate_plan(
    data: PlanInput, *, needs_reason: bool, share: Decimal
) -> tuple[list[dict[str, str]], list[QueuePlan2023Item]]:
    errors: list[FieldError] = []
    if not 0 <= data.target_reduction <= 100_000_000:
        errors.append(
            FieldError(
                "target_reduction", "meta_invalida", "A meta de redução deve ser um número entre 0 e 100 milhões."
            )
        )
    if not data.target_note.strip():
        errors.append(FieldError("target_note", "obrigatorio", "Descreva a meta de redução das filas (art. 6 III)."))
    elif len(data.target_note) > MAX_TEXT:
        errors.append(FieldError("target_note", "texto_longo", f"No máximo {MAX_TEXT} caracteres."))
    if needs_reason and not (data.reason or "").strip():
        errors.append(FieldError("reason", "motivo_obrigatorio", "Informe o motivo da nova versão do plano."))
    if data.reason and len(data.reason) > MAX_TEXT:
        errors.append(FieldError("reason", "texto_longo", f"No máximo {MAX_TEXT} caracteres."))

    schedule: list[dict[str, str]] = []
    seen_months: set[str] = set()
    if not data.schedule:
        errors.append(FieldError("schedule", "obrigatorio", "Informe o cronograma de execução do recurso (art. 6 IV)."))
    for i, s in enumerate(data.schedule):
        m = _MONTH.match(s.month.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            errors.append(FieldError(f"schedule[{i}].month", "mes_invalido", "Mês no formato AAAA-MM."))
        elif s.month.strip() in seen_months:
            errors.append(FieldError(f"schedule[{i}].month", "mes_repetido", "Mês repetido no cronograma."))
        seen_months.add(s.month.strip())
        amount = parse_money(s.amount, f"schedule[{i}].amount", errors)
        schedule.append({"month": s.month.strip(), "amount": f"{amount:.2f}"})
    scheduled = sum((Decimal(s["amount"]) for s in schedule), ZERO)
    if scheduled > share:
        errors.append(
            FieldError(
                "schedule",
                "cronograma_acima_do_recurso",
                f"O cronograma soma {brl(scheduled)}, acima do recurso da UF ({brl(share)}; art. 6 §1 e Anexo).",
            )
        )

    items: list[QueuePlan2023Item] = []
    seen: set[tuple[str, str]] = set()
    if not data.items:
        errors.append(
            FieldError("items", "obrigatorio", "Informe os procedimentos e os serviços executantes (art. 6 I–II).")
        )
    if len(data.items) > MAX_ITEMS:
        errors.append(FieldError("items", "itens_demais", f"No máximo {MAX_ITEMS} itens por plano."))
    for i, it in enumerate(data.items[:MAX_ITEMS]):
        f = f"items[{i}]"
        code, cnes, instrument = it.procedure_code.strip(), it.cnes.strip(), it.instrument.strip().lower()
        if not _PROCEDURE.match(code):
            errors.append(FieldError(f"{f}.procedure_code", "procedimento_invalido", "Código SIGTAP de 10 dígitos."))
        if not _CNES.match(cnes):
            errors.append(FieldError(f"{f}.cnes", "cnes_invalido", "CNES de 7 dígitos."))
        if instrument not in INSTRUMENTS:
            errors.append(
                FieldError(f"{f}.instrument", "instrumento_invalido", "Instrumento: apac ou aih (art. 10 I).")
            )
        if (code, cnes) in seen:
            errors.append(
                FieldError(f"{f}.procedure_code", "item_repetido", "Procedimento repetido para o mesmo CNES.")
            )
        seen.add((code, cnes))
        if not 0 < it.quantity <= 10_000_000:
            errors.append(FieldError(f"{f}.quantity", "quantidade_invalida", "Quantidade deve ser maior que zero."))
        table_value = parse_money(it.table_value, f"{f}.table_value", errors)
        complement = parse_money(it.complement, f"{f}.complement", errors)
        if complement > table_value >= 0:  # art. 9: up to 100% of the SUS table value
            errors.append(
                FieldError(
                    f"{f}.complement",
                    "complemento_acima_do_limite",
                    f"O complemento federal é limitado a 100% do valor da Tabela SUS (até {brl(table_value)}; "
                    "Portaria GM/MS 90/2023, art. 9).",
                )
            )
        items.append(
            QueuePlan2023Item(
                plan_id=0,
                procedure_code=code,
                cnes=cnes,
                instrument=instrument,
                quantity=it.quantity,
                table_value=table_value,
                complement=complement,
            )
        )
    if errors:
        raise ValidationFailed("Plano estadual inválido.", code="plano_invalido", errors=errors)
    return schedule, items


async def submit_plan(session: AsyncSession, actor: Actor, uf: str, data: PlanInput) -> PlanView:
    """Write the UF's plan: its first version, or a new version (with a reason) that supersedes the one in force."""
    uf = _uf(uf)
    _require_edit(actor, uf)
    await repository_2023.lock_uf(session, uf)
    current = await repository_2023.current_plan_or_none(session, actor, uf, for_update=True)
    share = percapita_2023.share_of(uf)
    schedule, items = _validate_plan(data, needs_reason=current is not None, share=share.amount)
    if current is not None:
        current.status = "substituido"
        current.updated_at = utcnow()
        session.add(current)
    plan = QueuePlan2023(
        uf=uf,
        version=await repository_2023.last_version_number(session, uf) + 1,
        status="rascunho",
        reason=(data.reason or "").strip() or None,
        target_reduction=data.target_reduction,
        target_note=data.target_note.strip(),
        schedule=schedule,
        population=share.population,
        amount=share.amount,
        upfront=share.upfront,
        created_by=actor.username,
    )
    session.add(plan)
    await session.flush()
    assert plan.id is not None
    for item in items:
        item.plan_id = plan.id
        session.add(item)
    await session.flush()
    return await view(session, actor, uf)


async def approve(
    session: AsyncSession,
    actor: Actor,
    uf: str,
    *,
    cib_resolution: str,
    cib_resolution_on: date,
    saes_approved_on: date,
    today: date,
) -> PlanView:
    """Record the CIB resolution (art. 4 §1, art. 8 §2 II) and the SAES approval (art. 4 §3) of the plan in force."""
    uf = _uf(uf)
    _require_edit(actor, uf)
    await repository_2023.lock_uf(session, uf)
    plan = await repository_2023.current_plan(session, actor, uf, for_update=True)
    errors: list[FieldError] = []
    number = cib_resolution.strip()
    if not number or len(number) > 60:
        errors.append(
            FieldError("cib_resolution", "obrigatorio", "Informe o número da resolução CIB (até 60 caracteres).")
        )
    if cib_resolution_on > today:
        errors.append(FieldError("cib_resolution_on", "data_futura", "A data da resolução CIB não pode ser futura."))
    if saes_approved_on > today:
        errors.append(FieldError("saes_approved_on", "data_futura", "A data da aprovação SAES não pode ser futura."))
    if saes_approved_on < cib_resolution_on:
        errors.append(
            FieldError(
                "saes_approved_on",
                "aprovacao_antes_da_cib",
                "A SAES aprova o plano depois da pactuação na CIB (art. 4 §1 e §3).",
            )
        )
    if errors:
        raise ValidationFailed("Aprovação inválida.", code="aprovacao_invalida", errors=errors)
    if plan.status == "aprovado":
        raise Conflict(f"A versão {plan.version} do plano de {uf} já está aprovada.", code="plano_ja_aprovado")
    plan.status = "aprovado"
    plan.cib_resolution = number
    plan.cib_resolution_on = cib_resolution_on
    plan.saes_approved_on = saes_approved_on
    plan.updated_at = utcnow()
    session.add(plan)
    await session.flush()
    return await view(session, actor, uf)


async def record_payment(
    session: AsyncSession,
    actor: Actor,
    uf: str,
    *,
    kind: str,
    paid_on: date,
    amount: str,
    competencia: str | None = None,
    instrument: str | None = None,
    note: str | None = None,
    today: date,
) -> PlanView:
    """A transfer to the UF's funds: the up-front third (art. 8 §3 I) or a tranche on production (II)."""
    uf = _uf(uf)
    _require_edit(actor, uf)
    await repository_2023.lock_uf(session, uf)
    plan = await repository_2023.current_plan(session, actor, uf)
    errors: list[FieldError] = []
    if kind not in PAYMENT_KINDS:
        errors.append(FieldError("kind", "tipo_invalido", "Tipo de pagamento: antecipacao ou producao."))
    value = parse_money(amount, "amount", errors, negative=True)
    if value == 0 and not any(e.field == "amount" for e in errors):
        errors.append(FieldError("amount", "valor_zero", "O valor não pode ser zero."))
    if paid_on > today:
        errors.append(FieldError("paid_on", "data_futura", "A data do pagamento não pode ser futura."))
    comp = (competencia or "").strip() or None
    inst = (instrument or "").strip().lower() or None
    if kind == "producao":
        m = _COMPETENCIA.match(comp or "")
        if not m or not 1 <= int(m.group(2)) <= 12:
            errors.append(
                FieldError("competencia", "competencia_invalida", "Competência da produção no formato AAAAMM.")
            )
        if inst not in INSTRUMENTS:
            errors.append(
                FieldError(
                    "instrument",
                    "instrumento_invalido",
                    "A produção do programa é registrada em AIH (5º dígito 5) ou APAC (5º dígito 6) (art. 10).",
                )
            )
    elif comp or inst:
        errors.append(
            FieldError("competencia", "nao_se_aplica", "A antecipação de ⅓ não tem competência nem instrumento.")
        )
    if note and len(note) > MAX_TEXT:
        errors.append(FieldError("note", "texto_longo", f"No máximo {MAX_TEXT} caracteres."))
    if errors:
        raise ValidationFailed("Pagamento inválido.", code="pagamento_invalido", errors=errors)
    if plan.status != "aprovado":
        raise Conflict(
            "O repasse depende do plano aprovado e da resolução CIB (Portaria GM/MS 90/2023, art. 8 §2).",
            code="plano_nao_aprovado",
        )
    paid = await repository_2023.payments(session, actor, uf)
    so_far = sum((p.amount for p in paid if p.kind == kind), ZERO)
    limit = plan.upfront if kind == "antecipacao" else plan.amount - plan.upfront
    after = so_far + value
    if after < 0:
        raise ValidationFailed.for_field(
            "amount", "estorno_maior_que_pago", f"O estorno deixaria o total pago negativo (pago: {brl(so_far)})."
        )
    if after > limit:
        what = "⅓ antecipado (art. 8 §3 I)" if kind == "antecipacao" else "restante pago por produção (art. 8 §3 II)"
        raise ValidationFailed.for_field(
            "amount",
            "acima_do_previsto",
            f"O pagamento ultrapassa o {what}: limite {brl(limit)}, já pago {brl(so_far)}.",
        )
    session.add(
        Payment(
            uf=uf,
            kind=kind,
            competencia=comp if kind == "producao" else None,
            instrument=inst if kind == "producao" else None,
            paid_on=paid_on,
            amount=value,
            note=(note or "").strip() or None,
            created_by=actor.username,
        )
    )
    await session.flush()
    return await view(session, actor, uf)


def _totals(plan: QueuePlan2023, items: Sequence[QueuePlan2023Item], paid: Sequence[Payment]) -> PlanTotals:
    upfront = sum((p.amount for p in paid if p.kind == "antecipacao"), ZERO)
    production = sum((p.amount for p in paid if p.kind == "producao"), ZERO)
    return PlanTotals(
        procedures=sum(i.quantity for i in items),
        table_value=sum((i.quantity * i.table_value for i in items), ZERO),
        complement=sum((i.quantity * i.complement for i in items), ZERO),
        scheduled=sum((Decimal(s["amount"]) for s in plan.schedule), ZERO),
        paid_upfront=upfront,
        paid_production=production,
        upfront_left=plan.upfront - upfront,
        production_left=plan.amount - plan.upfront - production,
    )


async def view(session: AsyncSession, actor: Actor, uf: str, *, version: int | None = None) -> PlanView:
    """The plan in force (or a given version) with its items, the UF's payments and the totals."""
    uf = _uf(uf)
    if version is None:
        plan = await repository_2023.current_plan(session, actor, uf)
    else:
        plan = await repository_2023.plan_version(session, actor, uf, version)
    items = await repository_2023.items(session, plan)
    paid = await repository_2023.payments(session, actor, uf)
    all_versions = [p.version for p in await repository_2023.versions(session, actor, uf)]
    return PlanView(
        plan=plan,
        items=items,
        payments=paid,
        totals=_totals(plan, items, paid),
        versions=all_versions,
        editable=may_edit(actor, uf) and plan.status != "substituido",
    )


async def overview(session: AsyncSession, actor: Actor) -> list[UfRow]:
    """For each UF the caller reads: its Annex share, its plan in force (if any) and what was paid."""
    ufs = repository_2023.readable_ufs(actor)
    shares = [s for s in percapita_2023.per_capita() if ufs is None or s.uf in ufs]
    plans = await repository_2023.current_plans(session, actor)
    paid = await repository_2023.payments_of(session, actor, [s.uf for s in shares])
    rows = []
    for s in shares:
        mine = [p for p in paid if p.uf == s.uf]
        rows.append(
            UfRow(
                share=s,
                plan=plans.get(s.uf),
                paid_upfront=sum((p.amount for p in mine if p.kind == "antecipacao"), ZERO),
                paid_production=sum((p.amount for p in mine if p.kind == "producao"), ZERO),
            )
        )
    return rows
