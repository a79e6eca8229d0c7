"""The ledger of a PAR's OCI funding, per executing manager (gestor executor): approved, advanced, earned by
production, due and at risk — in total and by month, by OCI and by establishment. Pure arithmetic: the caller
(the PAR service) reads the approved plan, the transfers and production control's concluded OCIs and passes them
in; nothing here touches the database or the clock.

The rules (Portaria GM/MS 3.492/2024 as amended, art. 16; docs/programs.md works an example):

* **approved** — Σ quantity × unit value of the approved PAR version's lines (the SIGTAP value of the competência
  kept with the plan); each line rounded to centavos half up.
* **advanced** — the 30% of the approved value (art. 16 I), rounded half up per manager, released after the PAR's
  approval and the CIB resolution naming the executing managers (§1: ``advance_released``); zero before. Rows get
  the advance in proportion to their approved value (largest remainder).
* **counted production** — only OCIs *concluded adequately* count (art. 16 II: production "aprovada conforme
  apuração da realização e conclusão adequada das OCI"), only in an OCI × establishment line of the plan, and never
  more than that line's approved value (earlier months first); production after ``as_of`` is not yet known.
* **proven / earned** — counted production first proves the use of the 30% advance (§5), then earns the 70%
  balance (II): ``earned = counted − min(counted, 30% of approved)``, so advance + earned never exceed the approved
  total. The first 30% proves the advance's share even while the advance has not been released: it is paid as the
  advance when §1 is met, never twice.
* **due** — what production earned and has not yet been transferred: ``max(0, earned − production transfers)``, and
  only when the PAR's commitments are met (§4: the 70% "fica condicionado a avaliação da implementação dos
  compromissos do PAR").
* **at risk** — (a) earned but withheld while the commitments are not met (§4), net of what was already paid; plus
  (b) the part of the released advance whose planned months are past and that production has not proven: it may be
  deducted from the MAC ceiling (§5). A month is past once ``as_of`` reaches the first day of the next month.

Rows: the amounts are computed per manager and then split over the cells (month × OCI × establishment) by largest
remainder — advance by approved value, earned / due / withheld by counted production, advance at risk by the advance
of the past cells — so every view (month, OCI, establishment) adds up to the manager's totals to the centavo.
Per OCI and per establishment, earned ≤ counted production ≤ approved; per month earned may exceed the month's
approved value when production ran ahead of the plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final, Literal

from regula.core.errors import FieldError, ValidationFailed
from regula.programs.money import ZERO, allocate, centavos, money_text, percent

ADVANCE_RATE: Final = Decimal("0.30")  # Portaria GM/MS 3.492/2024 as amended, art. 16 I
TransferKind = Literal["adiantamento", "producao"]
TRANSFER_KINDS: Final[tuple[TransferKind, ...]] = ("adiantamento", "producao")


@dataclass(frozen=True)
class PlannedLine:
    """One OCI × executing establishment × month of an approved PAR version."""

    manager: str  # executing manager (gestor executor): "uf:SC" or "municipality:4205407"
    oci_code: str
    cnes: str
    month: date  # first day of the month
    quantity: int
    unit_value: Decimal  # SIGTAP value of the competência kept with the plan


@dataclass(frozen=True)
class Transfer:
    """Money actually transferred to a manager (the advance or a production tranche)."""

    manager: str
    kind: TransferKind
    paid_on: date
    amount: Decimal


@dataclass(frozen=True)
class ConcludedOci:
    """One OCI concluded, from production control (``adequate``: composition complete, first→last within tM,
    regulated authorization)."""

    manager: str
    oci_code: str
    cnes: str
    month: date
    value: Decimal
    adequate: bool


@dataclass(frozen=True)
class LedgerRow:
    """The five amounts of a ledger line; ``key`` is the month (``"2025-03"``), the OCI code, the CNES, the
    manager (manager totals) or ``"total"``."""

    key: str
    approved: Decimal
    advanced: Decimal
    earned: Decimal
    due: Decimal
    at_risk: Decimal

    def to_data(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "approved": self.approved,
            "advanced": self.advanced,
            "earned": self.earned,
            "due": self.due,
            "at_risk": self.at_risk,
        }


@dataclass(frozen=True)
class ManagerLedger:
    manager: str
    totals: LedgerRow
    advance_entitlement: Decimal  # 30% of approved, whether released or not
    proven: Decimal  # counted production that proves the advance's use
    withheld: Decimal  # part of at_risk: earned, unpaid, held back while the commitments are not met (§4)
    advance_at_risk: Decimal  # part of at_risk: released advance of past months not proven by production (§5)
    advance_paid: Decimal  # transfers of kind "adiantamento" up to as_of
    production_paid: Decimal  # transfers of kind "producao" up to as_of
    paid_beyond_earned: Decimal  # production transfers above what production earned and may be paid
    adequate_value: Decimal  # value of the adequately concluded OCIs up to as_of
    not_counted: Decimal  # adequate production outside the plan's lines or above their approved value
    inadequate_value: Decimal  # value of OCIs not concluded adequately (never earns)
    by_month: tuple[LedgerRow, ...]
    by_oci: tuple[LedgerRow, ...]
    by_establishment: tuple[LedgerRow, ...]

    def to_data(self) -> dict[str, Any]:
        return {
            "manager": self.manager,
            "totals": self.totals.to_data(),
            "advance_entitlement": self.advance_entitlement,
            "proven": self.proven,
            "withheld": self.withheld,
            "advance_at_risk": self.advance_at_risk,
            "advance_paid": self.advance_paid,
            "production_paid": self.production_paid,
            "paid_beyond_earned": self.paid_beyond_earned,
            "adequate_value": self.adequate_value,
            "not_counted": self.not_counted,
            "inadequate_value": self.inadequate_value,
            "by_month": [r.to_data() for r in self.by_month],
            "by_oci": [r.to_data() for r in self.by_oci],
            "by_establishment": [r.to_data() for r in self.by_establishment],
        }


@dataclass(frozen=True)
class Ledger:
    as_of: date
    advance_released: bool
    commitments_met: bool
    totals: LedgerRow  # key "total": the sum over the managers
    managers: tuple[ManagerLedger, ...]  # sorted by manager

    def manager(self, manager: str) -> ManagerLedger:
        for m in self.managers:
            if m.manager == manager:
                return m
        raise KeyError(manager)

    def to_data(self) -> dict[str, Any]:
        """Plain dicts with money as ``Decimal`` (for :func:`regula.programs.money.dumps`: JSON numbers with two
        decimals, what ``regula programs ledger --json`` prints)."""
        return {
            "as_of": self.as_of.isoformat(),
            "advance_released": self.advance_released,
            "commitments_met": self.commitments_met,
            "totals": self.totals.to_data(),
            "managers": [m.to_data() for m in self.managers],
        }

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dicts with money as exact strings of two decimals (``"1234.50"``): what the API
        returns, so no client ever reads money through a float (docs/programs.md)."""
        data: dict[str, Any] = map_decimals(self.to_data(), money_text)
        return data


def map_decimals(value: Any, convert: Callable[[Decimal], Any]) -> Any:
    if isinstance(value, Decimal):
        return convert(value)
    if isinstance(value, dict):
        return {k: map_decimals(v, convert) for k, v in value.items()}
    if isinstance(value, list):
        return [map_decimals(v, convert) for v in value]
    return value


Cell = tuple[date, str, str]  # month, OCI, CNES


def _first_of_next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def _validate(
    planned: Sequence[PlannedLine], transfers: Sequence[Transfer], production: Sequence[ConcludedOci]
) -> None:
    errors: list[FieldError] = []
    for i, line in enumerate(planned):
        if line.quantity < 0:
            errors.append(FieldError(f"planned[{i}].quantity", "quantidade_negativa", "Quantidade negativa."))
        if line.unit_value < 0:
            errors.append(FieldError(f"planned[{i}].unit_value", "valor_negativo", "Valor unitário negativo."))
        if line.month.day != 1:
            errors.append(
                FieldError(f"planned[{i}].month", "mes_invalido", "O mês deve ser informado pelo primeiro dia.")
            )
    for i, t in enumerate(transfers):
        if t.amount < 0:
            errors.append(FieldError(f"transfers[{i}].amount", "valor_negativo", "Valor de repasse negativo."))
        if t.kind not in TRANSFER_KINDS:
            errors.append(
                FieldError(f"transfers[{i}].kind", "tipo_invalido", "Tipo de repasse: adiantamento ou producao.")
            )
    for i, p in enumerate(production):
        if p.value < 0:
            errors.append(FieldError(f"production[{i}].value", "valor_negativo", "Valor de produção negativo."))
        if p.month.day != 1:
            errors.append(
                FieldError(f"production[{i}].month", "mes_invalido", "O mês deve ser informado pelo primeiro dia.")
            )
    if errors:
        raise ValidationFailed("Dados do razão financeiro inválidos.", code="razao_invalido", errors=errors)


def build_ledger(
    planned: Sequence[PlannedLine],
    transfers: Sequence[Transfer],
    production: Sequence[ConcludedOci],
    *,
    as_of: date,
    advance_released: bool,
    commitments_met: bool,
) -> Ledger:
    """The ledger of one PAR at ``as_of`` (see the module docstring for every rule). Raises ``ValidationFailed``
    for negative amounts or months not given by their first day."""
    _validate(planned, transfers, production)
    managers = sorted({x.manager for x in planned} | {x.manager for x in transfers} | {x.manager for x in production})
    built = tuple(
        _manager_ledger(
            m,
            [x for x in planned if x.manager == m],
            [x for x in transfers if x.manager == m and x.paid_on <= as_of],
            [x for x in production if x.manager == m and x.month <= as_of],
            as_of=as_of,
            advance_released=advance_released,
            commitments_met=commitments_met,
        )
        for m in managers
    )
    return Ledger(
        as_of=as_of,
        advance_released=advance_released,
        commitments_met=commitments_met,
        totals=_sum_rows("total", [m.totals for m in built]),
        managers=built,
    )


def _manager_ledger(
    manager: str,
    planned: Sequence[PlannedLine],
    transfers: Sequence[Transfer],
    production: Sequence[ConcludedOci],
    *,
    as_of: date,
    advance_released: bool,
    commitments_met: bool,
) -> ManagerLedger:
    approved: dict[Cell, Decimal] = defaultdict(lambda: ZERO)
    for line in planned:
        approved[(line.month, line.oci_code, line.cnes)] += centavos(line.quantity * line.unit_value)

    produced: dict[Cell, Decimal] = defaultdict(lambda: ZERO)
    adequate_value = inadequate_value = ZERO
    for p in production:
        value = centavos(p.value)
        if p.adequate:
            produced[(p.month, p.oci_code, p.cnes)] += value
            adequate_value += value
        else:
            inadequate_value += value

    # Counted production: within each planned OCI × establishment line, up to its approved value, earlier months
    # first (art. 16 II pays the value approved in the PAR, never beyond it).
    line_cap: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for (_month, oci, cnes), value in approved.items():
        line_cap[(oci, cnes)] += value
    counted: dict[Cell, Decimal] = {}
    for cell in sorted(produced):
        _month, oci, cnes = cell
        take = min(produced[cell], line_cap.get((oci, cnes), ZERO))
        if (oci, cnes) in line_cap:
            line_cap[(oci, cnes)] -= take
        counted[cell] = take

    cells = sorted(set(approved) | set(produced))
    w_approved = [approved.get(c, ZERO) for c in cells]
    w_counted = [counted.get(c, ZERO) for c in cells]

    total_approved = sum(w_approved, ZERO)
    total_counted = sum(w_counted, ZERO)
    entitlement = percent(total_approved, ADVANCE_RATE)  # art. 16 I
    advanced_total = entitlement if advance_released else ZERO  # art. 16 §1
    proven = min(total_counted, entitlement)
    earned_total = total_counted - proven  # art. 16 II: ≤ approved − entitlement

    advance_paid = sum((t.amount for t in transfers if t.kind == "adiantamento"), ZERO)
    production_paid = sum((t.amount for t in transfers if t.kind == "producao"), ZERO)
    payable = earned_total if commitments_met else ZERO  # art. 16 §4
    due_total = max(ZERO, payable - production_paid)
    withheld_total = ZERO if commitments_met else max(ZERO, earned_total - production_paid)
    paid_beyond = max(ZERO, production_paid - payable)

    # §5: the released advance of the months already past, not proven by production.
    past = [_first_of_next_month(c[0]) <= as_of for c in cells]
    r_advanced = allocate(advanced_total, w_approved)
    w_past_advance = [a if is_past else ZERO for a, is_past in zip(r_advanced, past, strict=True)]
    past_advance = sum(w_past_advance, ZERO)
    advance_at_risk = max(ZERO, past_advance - min(proven, advanced_total)) if advance_released else ZERO

    r_earned = allocate(earned_total, w_counted)
    r_due = allocate(due_total, r_earned)
    r_withheld = allocate(withheld_total, r_earned)
    r_adv_risk = allocate(advance_at_risk, w_past_advance)
    cell_rows = [
        (cell, (w_approved[i], r_advanced[i], r_earned[i], r_due[i], r_withheld[i] + r_adv_risk[i]))
        for i, cell in enumerate(cells)
    ]

    def view(key_of: Callable[[Cell], str]) -> tuple[LedgerRow, ...]:
        grouped: dict[str, list[Decimal]] = {}
        for cell, amounts in cell_rows:
            acc = grouped.setdefault(key_of(cell), [ZERO] * 5)
            for k in range(5):
                acc[k] += amounts[k]
        return tuple(LedgerRow(key, *grouped[key]) for key in sorted(grouped))

    by_month = view(lambda c: c[0].strftime("%Y-%m"))
    return ManagerLedger(
        manager=manager,
        totals=_sum_rows(manager, by_month),
        advance_entitlement=entitlement,
        proven=proven,
        withheld=withheld_total,
        advance_at_risk=advance_at_risk,
        advance_paid=advance_paid,
        production_paid=production_paid,
        paid_beyond_earned=paid_beyond,
        adequate_value=adequate_value,
        not_counted=adequate_value - total_counted,
        inadequate_value=inadequate_value,
        by_month=by_month,
        by_oci=view(lambda c: c[1]),
        by_establishment=view(lambda c: c[2]),
    )


def _sum_rows(key: str, rows: Iterable[LedgerRow]) -> LedgerRow:
    rows = list(rows)
    return LedgerRow(
        key,
        sum((r.approved for r in rows), ZERO),
        sum((r.advanced for r in rows), ZERO),
        sum((r.earned for r in rows), ZERO),
        sum((r.due for r in rows), ZERO),
        sum((r.at_risk for r in rows), ZERO),
    )
