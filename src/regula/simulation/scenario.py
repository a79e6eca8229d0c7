"""The scenario of a policy simulation: every parameter, with its default (sources in ``docs/simulation.md``).

Pure types (pydantic v2, frozen, unknown fields refused). A scenario file is JSON; :func:`load_scenario` names each
bad field in Portuguese with a stable code (``ValidationFailed``), as the allocation instance does.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from regula.core.errors import ValidationFailed
from regula.optimizer.instance import field_errors

SCENARIO_FORMAT: Final = "regula.simulation.scenario/1"
Policy = Literal["fifo", "fifo_reminders", "regula"]
Messages = Literal["none", "one_way", "two_way"]
Allocator = Literal["optimizer", "greedy", "fifo"]

#: What each policy does unless the scenario says otherwise (``messages``, ``backfill``, ``allocator``).
POLICY_DEFAULTS: Final[dict[str, tuple[str, bool, str]]] = {
    "fifo": ("none", False, "fifo"),
    "fifo_reminders": ("one_way", False, "fifo"),
    "regula": ("two_way", True, "optimizer"),
}
#: UFs with a provider network in the shipped reference data (the demo's network, ``regula.demo.providers``).
SUPPORTED_UFS: Final = ("SC",)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Behaviour(_Frozen):
    """How citizens behave. Probabilities are per event unless the name says per month."""

    no_show_teleconsultation_rr: float = Field(
        default=0.75, gt=0, le=2.0, description="Falta em teleconsulta / presencial"
    )
    no_show_lead_reference_days: int = Field(default=14, ge=0, le=365)
    no_show_per_week_of_lead: float = Field(
        default=0.01, ge=0.0, le=0.2, description="Acréscimo absoluto da taxa de faltas por semana de antecedência"
    )
    no_show_max_rate: float = Field(default=0.9, gt=0, le=1.0)
    sms_reminder_rr: float = Field(default=0.77, gt=0, le=2.0, description="Risco relativo de falta com lembrete SMS")
    whatsapp_one_way_rr: float = Field(default=1.0, gt=0, le=2.0, description="WhatsApp só de ida: sem efeito")
    confirmation_reply_probability: float = Field(default=0.65, ge=0.0, le=1.0)
    confirmation_no_share: float = Field(
        default=0.10, ge=0.0, le=1.0, description="Dos que respondem, quantos dizem NÃO"
    )
    confirmed_no_show_rr: float = Field(default=0.5, gt=0, le=2.0, description="Falta de quem confirmou / base")
    navigator_call_reach_probability: float = Field(default=0.5, ge=0.0, le=1.0)
    offer_answer_2h_probability: float = Field(default=0.45, ge=0.0, le=1.0)
    offer_accept_probability: float = Field(default=0.8, ge=0.0, le=1.0)
    booked_cancel_probability: float = Field(default=0.03, ge=0.0, le=1.0)
    withdrawal_per_month: float = Field(default=0.02, ge=0.0, le=1.0, description="Desistência/resolvido na APS")
    death_per_month: float = Field(default=0.001, ge=0.0, le=1.0)
    death_per_month_80_plus: float = Field(default=0.006, ge=0.0, le=1.0)
    no_show_requeue_probability: float = Field(default=0.5, ge=0.0, le=1.0, description="Falta devolvida à fila")
    procedure_interval_days: float = Field(default=7.0, ge=0.0, le=120.0, description="Média entre procedimentos")
    phone_share: float = Field(default=0.93, ge=0.0, le=1.0)
    whatsapp_share: float = Field(default=0.62, ge=0.0, le=1.0, description="Entre quem tem telefone")
    sms_share: float = Field(default=0.33, ge=0.0, le=1.0, description="Entre quem tem telefone")
    contact_consent: float = Field(default=0.9, ge=0.0, le=1.0)


class Scenario(_Frozen):
    format: Literal["regula.simulation.scenario/1"] = SCENARIO_FORMAT
    name: str = Field(default="cenario", min_length=1, max_length=80)
    uf: str = Field(default="SC", min_length=2, max_length=2)
    months: int = Field(default=12, ge=1, le=36)
    warmup_months: int = Field(
        default=0, ge=0, le=24, description="Meses simulados antes do período medido (filas já formadas)"
    )
    seed: int = Field(default=1, ge=0, le=2**62)
    replications: int = Field(default=1, ge=1, le=50)
    start_date: dt.date = Field(default=dt.date(2026, 1, 5), description="Primeiro dia simulado")
    referrals_per_year: int = Field(default=200_000, ge=1, le=5_000_000)
    policy: Policy = "regula"
    allocator: Allocator | None = Field(default=None, description="Padrão da política quando ausente")
    capacity_factor: float = Field(default=1.0, gt=0.0, le=20.0)
    supply_ratio: float = Field(
        default=1.0,
        gt=0.0,
        le=20.0,
        description="Vagas por encaminhamento esperado (capacidade atual)",
    )
    no_show_base_rate: float = Field(default=0.30, ge=0.0, le=1.0)
    messages: Messages | None = Field(default=None, description="Padrão da política quando ausente")
    backfill: bool | None = Field(default=None, description="Padrão da política quando ausente")
    equity_weights: bool = True
    escalation_percent: int = Field(default=75, ge=0, le=100)
    allocation_lead_days: int = Field(default=7, ge=1, le=60)
    behaviour: Behaviour = Field(default_factory=Behaviour)

    @property
    def effective_messages(self) -> str:
        return self.messages if self.messages is not None else POLICY_DEFAULTS[self.policy][0]

    @property
    def effective_backfill(self) -> bool:
        return self.backfill if self.backfill is not None else POLICY_DEFAULTS[self.policy][1]

    @property
    def effective_allocator(self) -> str:
        return self.allocator if self.allocator is not None else POLICY_DEFAULTS[self.policy][2]

    @property
    def warmup_days(self) -> int:
        """Days simulated before the measured period: ``warmup_months`` of 30.44 days, whole weeks."""
        return 7 * round(self.warmup_months * 30.44 / 7)

    @property
    def days(self) -> int:
        """Simulated days, warm-up included: ``months`` of 30.44 days (the mean month), whole weeks."""
        return self.warmup_days + 7 * max(1, round(self.months * 30.44 / 7))


def _check(scenario: Scenario) -> Scenario:
    if scenario.uf.upper() not in SUPPORTED_UFS:
        raise ValidationFailed.for_field(
            "uf", "uf_sem_rede", f"Sem rede de prestadores de referência para a UF {scenario.uf} (há: SC)."
        )
    return scenario


def load_scenario(raw: bytes | str | dict[str, Any]) -> Scenario:
    """Parse a scenario; raises :class:`ValidationFailed` naming each bad field."""
    try:
        scenario = Scenario.model_validate(raw) if isinstance(raw, dict) else Scenario.model_validate_json(raw)
    except ValidationError as exc:
        raise ValidationFailed("Cenário inválido.", code="dados_invalidos", errors=field_errors(exc)) from exc
    return _check(scenario)


def dump_scenario(scenario: Scenario) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(scenario.model_dump_json())
    return data
