"""Allocation runs for operators: launch one for a scope, review what it proposes (each assignment with its
explanation, and a summary by municipality and by provider), approve or discard it, and commit it."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.allocation import repository as runs
from regula.allocation import service as allocation
from regula.allocation.models import SOLVING_STATUSES
from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.waitlist import repository as waitlist
from regula.web import charts, common, forms
from regula.web.forms import Form

VIEWERS = (Role.REGULADOR, Role.GESTOR, Role.AUDITOR)
DECIDERS = (Role.REGULADOR, Role.GESTOR)
ASSIGNMENTS_PER_PAGE = 100
#: How often the page of a run being solved reloads itself (no script: a meta refresh, allowed by the CSP).
REFRESH_SECONDS = 3

RUN_STATUS_PT = {
    "na_fila": "Na fila: aguarda o cálculo",
    "resolvendo": "Sendo calculada",
    "falhou": "Falhou: o cálculo não terminou",
    "proposta": "Proposta: aguarda revisão",
    "aprovada": "Aprovada: aguarda efetivação",
    "efetivada": "Efetivada: vagas reservadas e pessoas agendadas",
    "descartada": "Descartada",
    "substituida": "Substituída por uma rodada mais recente",
}
OUTCOME_PT = {"proposta": "Proposta", "efetivada": "Efetivada", "conflito": "Conflito (não efetivada)"}
DONE_PT = {
    "na_fila": "Rodada na fila: o processo de tarefas vai calculá-la. Esta página se atualiza sozinha.",
    "proposta": "Rodada calculada. Revise as atribuições e aprove ou descarte.",
    "aprovada": "Rodada aprovada. Efetive para reservar as vagas e agendar as pessoas.",
    "descartada": "Rodada descartada; nada foi agendado.",
    "efetivada": "Rodada efetivada: as pessoas foram agendadas.",
}
ACTIONS = {"aprovar": "aprovada", "descartar": "descartada"}


async def _runs_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    p = common.principal(request)
    visible = await runs.readable_runs(db_session, common.actor(request), limit=50)
    return Template(
        "regulacao/alocacoes.html",
        context={
            "runs": visible,
            "status_pt": RUN_STATUS_PT,
            "scopes": common.sub_scopes(p),
            "errors": errors or {},
            "values": values or {"scope": str(p.jurisdiction), "horizon": str(allocation.DEFAULT_HORIZON_DAYS)},
            "can_launch": p.role in (*DECIDERS, Role.ADMIN),
        },
        status_code=status_code,
    )


@get("/regulacao/alocacoes", opt=allow(*VIEWERS), include_in_schema=False)
async def runs_page(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
    return await _runs_page(request, db_session)


class RunForm(Struct):
    escopo: str = ""
    horizonte: str = ""


@post("/regulacao/alocacoes", opt=allow(*DECIDERS), include_in_schema=False, status_code=303)
async def launch_run(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    data: Form[RunForm],
) -> Redirect | Template:
    scope = forms.field_text(data.escopo, 40)
    horizon_raw = forms.field_text(data.horizonte, 5)
    values = {"scope": scope, "horizon": horizon_raw}
    errors: dict[str, str] = {}
    horizon = int(horizon_raw) if horizon_raw.isdigit() else 0
    if not 1 <= horizon <= allocation.MAX_HORIZON_DAYS:
        errors["horizon"] = f"Informe um horizonte de 1 a {allocation.MAX_HORIZON_DAYS} dias."
    if not scope:
        errors["scope"] = "Escolha o escopo da rodada."
    if errors:
        return await _runs_page(request, db_session, errors=errors, values=values, status_code=422)

    async def rerender(refusal: forms.Refusal) -> Template:
        # A conflict (another proposal of this scope queued or being computed right now) is shown on the scope.
        found = refusal.fields if refusal.status_code == 422 else {}
        shown = {"scope": found.get("scope", refusal.message)} | {k: v for k, v in found.items() if k != "scope"}
        return await _runs_page(request, db_session, errors=shown, values=values, status_code=refusal.status_code)

    # Queued, not solved here: the jobs process solves it (decision 9); the run's page follows its progress.
    return await forms.submit(
        db_session,
        lambda: allocation.enqueue(db_session, settings, scope, common.actor(request), horizon_days=horizon),
        redirect=lambda run: f"/regulacao/alocacoes/{run.id}?feito=na_fila",
        rerender=rerender,
    )


async def _run_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    run_id: int,
    *,
    page: int = 1,
    done: str | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Template:
    p = common.principal(request)
    actor = common.actor(request)
    run = await runs.run_for(db_session, run_id, actor)
    await db_session.refresh(run)
    # Inside a run wider than the user's jurisdiction, only the assignments of their own residents.
    pg = common.Page(max(1, page), ASSIGNMENTS_PER_PAGE, await runs.count_assignments(db_session, run, actor))
    rows = await runs.assignment_page(db_session, run, actor, offset=pg.offset, limit=pg.size)
    await runs.record_assignments_read(db_session, run, [r.entry for r in rows])
    displaced = await waitlist.protocols_of(
        db_session, [r.assignment.displaced_entry_id for r in rows if r.assignment.displaced_entry_id]
    )
    tz = settings.timezone
    assignments = [
        {
            "entry_id": entry.id,
            "protocol": entry.protocol,
            "name": name,
            "risk": entry.risk_class,
            "score": entry.score,
            "municipality": common.municipality_label(entry.municipality_ibge),
            "establishment": f"{place.name} ({common.municipality_label(place.municipality_ibge)})",
            "starts_at": common.fmt_datetime(slot.starts_at, tz),
            "modality": slot.modality,
            "explanation": assignment.explanation or {},
            "displaced": (assignment.displaced_entry_id, displaced.get(assignment.displaced_entry_id or -1)),
            "outcome": OUTCOME_PT.get(assignment.outcome, assignment.outcome),
        }
        for assignment, entry, slot, place, name in (
            (r.assignment, r.entry, r.slot, r.establishment, r.citizen_name) for r in rows
        )
    ]
    by_muni = await runs.assignments_by_municipality(db_session, run, actor)
    by_provider = await runs.assignments_by_provider(db_session, run, actor)
    provider_chart = charts.Chart(
        key="prestadores",
        title="Atribuições por prestador",
        compact=True,
        bars=[charts.Bar(f"{name} ({common.municipality_label(ibge)})", n) for _c, name, ibge, n in by_provider],
    )
    municipality_chart = charts.Chart(
        key="municipios",
        title="Atribuições por município de residência (os 15 com mais)",
        compact=True,
        bars=[charts.Bar(common.municipality_label(ibge), n) for ibge, n in by_muni[:15]],
    )
    return Template(
        "regulacao/alocacao.html",
        context={
            "run": run,
            "status_pt": RUN_STATUS_PT.get(run.status, run.status),
            "assignments": assignments,
            "page": pg,
            "by_municipality": [(common.municipality_label(ibge), n) for ibge, n in by_muni],
            "by_provider": [(cnes, name, common.municipality_label(ibge), n) for cnes, name, ibge, n in by_provider],
            "provider_chart": charts.render(provider_chart),
            "municipality_chart": charts.render(municipality_chart),
            "done": DONE_PT.get(done or ""),
            "alert": alert,
            "can_decide": p.role in (*DECIDERS, Role.ADMIN) and runs.decidable(actor, run),
            # Queued or being solved: the page reloads itself every few seconds to show the progress.
            "solving": run.status in SOLVING_STATUSES,
            "refresh_seconds": REFRESH_SECONDS,
            "scope_label": common.jurisdiction_label(run.scope),
        },
        status_code=status_code,
    )


@get("/regulacao/alocacoes/{run_id:int}", opt=allow(*VIEWERS), include_in_schema=False)
async def run_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    run_id: FromPath[int],
    feito: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
) -> Template:
    return await _run_page(request, db_session, settings, run_id, page=common.page_number(pagina), done=feito)


@post("/regulacao/alocacoes/{run_id:int}/{action:str}", opt=allow(*DECIDERS), include_in_schema=False, status_code=303)
async def decide_run(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    run_id: FromPath[int],
    action: FromPath[str],
) -> Redirect | Template:
    act = common.actor(request)
    await runs.run_for(db_session, run_id, act, deciding=True)

    async def apply() -> str:
        if action == "efetivar":
            await allocation.commit(db_session, settings, run_id, act)
            return "efetivada"
        if action in ACTIONS:
            await allocation.decide(db_session, run_id, ACTIONS[action], act)
            return ACTIONS[action]
        raise ValidationFailed.for_field("acao", "acao_desconhecida", "Ação desconhecida.")

    async def rerender(refusal: forms.Refusal) -> Template:
        # The run's page has no field to point at: the refusal is its alert (a run already decided is a 409).
        status = 409 if refusal.status_code == 422 else refusal.status_code
        return await _run_page(request, db_session, settings, run_id, alert=refusal.message, status_code=status)

    return await forms.submit(
        db_session, apply, redirect=lambda done: f"/regulacao/alocacoes/{run_id}?feito={done}", rerender=rerender
    )


ROUTES = [runs_page, launch_run, run_page, decide_run]
