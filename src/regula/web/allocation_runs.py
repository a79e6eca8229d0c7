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
from regula.core.errors import FieldError, ValidationFailed
from regula.waitlist import repository as waitlist
from regula.web import charts, common, forms, listing
from regula.web.forms import Form

VIEWERS = (Role.REGULADOR, Role.GESTOR, Role.AUDITOR)
DECIDERS = (Role.REGULADOR, Role.GESTOR)
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
    # "efetivada" has no fixed sentence: the page says how many were booked and how many were not, and why.
}
ACTIONS = {"aprovar": "aprovada", "descartar": "descartada"}


async def _runs_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    query: dict[str, str | None] | None = None,
) -> Template:
    p = common.principal(request)
    q = query or {}
    status = listing.choice_param(q.get("situacao"), "situacao", RUN_STATUS_PT, "Situação")
    state = listing.listing(
        "/regulacao/alocacoes",
        runs.RUN_SORTS,
        {"situacao": status},
        ordem=q.get("ordem"),
        sentido=q.get("sentido"),
        cursor=q.get("cursor"),
    )
    state.slice = await runs.run_list(db_session, common.actor(request), status, state.window)
    return Template(
        "regulacao/alocacoes.html",
        context={
            "runs": state.slice.rows,
            "l": state,
            "situacao": status or "",
            "status_pt": RUN_STATUS_PT,
            "scopes": common.sub_scopes(p),
            "form": RUN_FORM,
            "errors": errors or {},
            "problems": _run_problems(errors or {}),
            "values": values
            or {"scope": str(p.jurisdiction), "horizon": str(allocation.DEFAULT_HORIZON_DAYS), "distance": ""},
            "default_travel_km": settings.allocation_max_travel_km,
            "max_widened_km": allocation.MAX_WIDENED_TRAVEL_KM,
            "can_launch": p.role in (*DECIDERS, Role.ADMIN),
        },
        status_code=status_code,
    )


@get("/regulacao/alocacoes", opt=allow(*VIEWERS), include_in_schema=False)
@listing.list_page
async def runs_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    situacao: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    """The form that proposes a run and the runs of the user's territory (sorted, filtered by status, paged)."""
    query = {"situacao": situacao, "ordem": ordem, "sentido": sentido, "cursor": cursor}
    return await _runs_page(request, db_session, settings, query=query)


#: The proposal form (issue 17 item 4): its fields and labels in one place, in the order of its error summary.
#: The scope is a choice; horizon and distance are numbers whose ranges are the allocation's own.
RUN_FORM = forms.register(
    forms.FormSpec(
        "alocacao_rodada",
        (
            forms.FieldSpec("escopo", "Escopo (residência das pessoas)", kind="choice"),
            forms.FieldSpec("horizonte", "Horizonte", kind="number"),
            forms.FieldSpec("distancia", "Distância máxima", kind="number"),
        ),
    )
)
_RUN_FIELDS = {"scope": "escopo", "horizon": "horizonte", "distance": "distancia"}


def _run_problems(errors: dict[str, str]) -> list[forms.FieldProblem]:
    """The error summary: each field by its label, in the form's order."""
    return RUN_FORM.problems(FieldError(_RUN_FIELDS.get(k, k), "invalido", m) for k, m in errors.items())


class RunForm(Struct):
    escopo: str = ""
    horizonte: str = ""
    distancia: str = ""  # the operator widens the travel limit for this run (km); empty: the deployment's limits


@post("/regulacao/alocacoes", opt=allow(*DECIDERS), include_in_schema=False, status_code=303)
async def launch_run(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    data: Form[RunForm],
) -> Redirect | Template:
    # Trimmed, never cut: a scope cut at 40 characters could name another territory; a number too long is refused.
    scope = (data.escopo or "").strip()
    horizon_raw = (data.horizonte or "").strip()
    distance_raw = (data.distancia or "").strip()
    values = {"scope": scope, "horizon": horizon_raw, "distance": distance_raw}
    errors: dict[str, str] = {}
    horizon = int(horizon_raw) if horizon_raw.isdigit() and len(horizon_raw) <= 4 else 0
    if not 1 <= horizon <= allocation.MAX_HORIZON_DAYS:
        errors["horizon"] = f"Informe um horizonte de 1 a {allocation.MAX_HORIZON_DAYS} dias."
    distance: int | None = None
    if distance_raw:
        distance = int(distance_raw) if distance_raw.isdigit() and len(distance_raw) <= 6 else 0
        if not 1 <= distance <= allocation.MAX_WIDENED_TRAVEL_KM:
            errors["distance"] = (
                f"Distância máxima: um número inteiro de 1 a {allocation.MAX_WIDENED_TRAVEL_KM} km, ou deixe em branco."
            )
    if not scope:
        errors["scope"] = "Escolha o escopo da rodada."
    if errors:
        return await _runs_page(request, db_session, settings, errors=errors, values=values, status_code=422)

    async def rerender(refusal: forms.Refusal) -> Template:
        # A conflict (another proposal of this scope queued or being computed right now) is shown on the scope.
        found = refusal.fields if refusal.status_code == 422 else {}
        if "max_travel_km" in found:
            found = {("distance" if k == "max_travel_km" else k): v for k, v in found.items()}
        shown = {k: v for k, v in found.items() if k != "scope"}
        if "distance" not in shown or "scope" in found:
            shown["scope"] = found.get("scope", refusal.message)
        return await _runs_page(
            request, db_session, settings, errors=shown, values=values, status_code=refusal.status_code
        )

    # Queued, not solved here: the jobs process solves it (decision 9); the run's page follows its progress.
    return await forms.submit(
        db_session,
        lambda: allocation.enqueue(
            db_session, settings, scope, common.actor(request), horizon_days=horizon, max_travel_km=distance
        ),
        redirect=lambda run: f"/regulacao/alocacoes/{run.id}?feito=na_fila",
        rerender=rerender,
    )


ASSIGNMENT_COLUMNS = (
    listing.Column("protocolo", "Protocolo"),
    listing.Column("pontuacao", "Pontuação", numeric=True),
    listing.Column("prestador", "Prestador"),
    listing.Column("data", "Data"),
    listing.Column("km", "Distância", numeric=True),
)
OUTCOME_FILTER = {"proposta": "Propostas", "efetivada": "Efetivadas", "conflito": "Conflitos (não efetivadas)"}


def objective_rows(parts: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The objective as a regulator reads it (never the solver's raw sum): label and value, in Portuguese."""
    if not parts:
        return []

    def n(v: Any) -> str:
        return f"{int(v):,}".replace(",", ".")

    served = int(parts.get("served", 0))
    within = int(parts.get("served_within_tm", 0))
    share = f" ({100 * within // served}%)" if served else ""
    mean = f"{float(parts.get('mean_km', 0)):.1f}".replace(".", ",")
    return [
        ("Pessoas atendidas", f"{n(served)} de {n(parts.get('entries', 0))} na fila"),
        ("Atendidas dentro do tM", f"{n(within)}{share}"),
        (
            "Após o prazo do tM",
            f"{n(parts.get('late', 0))} pessoas, {n(parts.get('late_days', 0))} dias de atraso somados",
        ),
        (
            "Deslocamento",
            f"{n(parts.get('total_km', 0))} km no total; média {mean} km; maior {n(parts.get('max_km', 0))} km",
        ),
        (
            "Fora da região de saúde",
            f"{n(parts.get('outside_region', 0))} ({n(parts.get('escalated', 0))} escalonadas)",
        ),
        ("Por teleconsulta", n(parts.get("teleconsultation", 0))),
    ]


def commit_summary(run: Any, base_url: str) -> dict[str, Any] | None:
    """What the commit did, truthfully: booked, and the conflicts by reason with links listing exactly them."""
    result = (run.counts or {}).get("commit")
    if not result:
        return None
    by_reason = [
        (
            allocation.CONFLICT_REASONS[key],
            len(result.get(runs.CONFLICT_LISTS[key], [])),
            f"{base_url}?conflito={key}#h-atribuicoes",
        )
        for key in runs.CONFLICT_LISTS
    ]
    return {
        "booked": int(result.get("booked", 0)),
        "conflicts": int(result.get("conflicts", 0)),
        "by_reason": [r for r in by_reason if r[1]],
        "conflicts_url": f"{base_url}?resultado=conflito#h-atribuicoes",
    }


async def _run_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    run_id: int,
    *,
    query: dict[str, str | None] | None = None,
    done: str | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Template:
    p = common.principal(request)
    actor = common.actor(request)
    run = await runs.run_for(db_session, run_id, actor)
    await db_session.refresh(run)
    q = query or {}
    path = f"/regulacao/alocacoes/{run_id}"
    outcome = listing.choice_param(q.get("resultado"), "resultado", OUTCOME_FILTER, "Resultado")
    conflict = listing.choice_param(q.get("conflito"), "conflito", allocation.CONFLICT_REASONS, "Motivo do conflito")
    outside = listing.choice_param(q.get("fora"), "fora", ("sim",), "Filtro de região")
    state = listing.listing(
        path,
        runs.ASSIGNMENT_SORTS,
        {"resultado": outcome, "conflito": conflict, "fora": outside},
        ordem=q.get("ordem"),
        sentido=q.get("sentido"),
        cursor=q.get("cursor"),
        columns=ASSIGNMENT_COLUMNS,
    )
    # Inside a run wider than the user's jurisdiction, only the assignments of their own residents (audited).
    f = runs.AssignmentFilter(outcome=outcome, conflict=conflict, outside_region=outside == "sim")
    found = await runs.assignment_list(db_session, run, actor, f, state.window)
    state.slice = found
    rows = found.rows
    displaced = await waitlist.protocols_of(
        db_session, [r.assignment.displaced_entry_id for r in rows if r.assignment.displaced_entry_id]
    )
    commit_result = (run.counts or {}).get("commit") or {}
    changed = {int(i) for i in commit_result.get("changed_entries", [])}
    tz = settings.timezone
    assignments = []
    for r in rows:
        assignment, entry, slot, place = r.assignment, r.entry, r.slot, r.establishment
        x = assignment.explanation or {}
        reason = x.get("reason") or {}
        conflict_reason = None
        if assignment.outcome == "conflito":
            key = "entrada_alterada" if entry.id in changed else "vaga_ocupada"
            conflict_reason = allocation.CONFLICT_REASONS[key] if commit_result else None
        assignments.append(
            {
                "entry_id": entry.id,
                "protocol": entry.protocol,
                "name": r.citizen_name,
                "risk": entry.risk_class,
                "score": entry.score,
                "municipality": common.municipality_label(entry.municipality_ibge),
                # The provider's full name (the page wraps it; nothing is cut) and where it is.
                "provider": place.name,
                "provider_cnes": place.cnes,
                "provider_municipality": common.municipality_label(place.municipality_ibge),
                "starts_at": common.fmt_datetime(slot.starts_at, tz),
                "modality": slot.modality,
                "km": x.get("travel_km"),
                "max_km": x.get("max_travel_km"),
                "days_until": x.get("days_until"),
                "late_days": x.get("late_days") or 0,
                "outside_region": bool(x.get("outside_region")),
                "reason": reason.get("text"),
                "explanation": x,
                "displaced": (assignment.displaced_entry_id, displaced.get(assignment.displaced_entry_id or -1)),
                "outcome": OUTCOME_PT.get(assignment.outcome, assignment.outcome),
                "outcome_code": assignment.outcome,
                "conflict_reason": conflict_reason,
            }
        )
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
    counts = run.counts or {}
    params = run.params or {}
    return Template(
        "regulacao/alocacao.html",
        context={
            "run": run,
            "status_pt": RUN_STATUS_PT.get(run.status, run.status),
            "assignments": assignments,
            "l": state,
            "outcome_filter": OUTCOME_FILTER,
            "conflict_filter": allocation.CONFLICT_REASONS,
            "q": {"resultado": outcome or "", "conflito": conflict or "", "fora": outside or ""},
            "objective": objective_rows(counts.get("objective_parts")),
            "greedy_objective": objective_rows(counts.get("greedy_objective_parts")),
            "travel_limit": params.get("max_travel_km"),
            "travel_limit_by_oci": params.get("max_travel_km_by_oci") or {},
            "travel_widened_to": params.get("travel_limit_widened_to"),
            "committed": commit_summary(run, path),
            "by_municipality": [(common.municipality_label(ibge), n) for ibge, n in by_muni],
            "by_provider": [(cnes, name, common.municipality_label(ibge), n) for cnes, name, ibge, n in by_provider],
            "provider_chart": charts.render(provider_chart),
            "municipality_chart": charts.render(municipality_chart),
            # The page reloads itself at the same address (?feito=na_fila): once the run is solved, "Rodada na
            # fila…" would contradict the status shown below it.
            "done": None if done == "na_fila" and run.status not in SOLVING_STATUSES else DONE_PT.get(done or ""),
            "done_code": done,
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
@listing.list_page
async def run_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    run_id: FromPath[int],
    feito: FromQuery[str | None] = None,
    resultado: FromQuery[str | None] = None,
    conflito: FromQuery[str | None] = None,
    fora: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    """A run: the objective as its parts, each assignment with km, days until the slot, the provider's full name and
    the reason when it leaves the person's region; after commit, what was booked and the conflicts by reason, each
    listed by a filter (decision 23's lists: sorted, filtered, paged by cursor)."""
    query = {
        "resultado": resultado,
        "conflito": conflito,
        "fora": fora,
        "ordem": ordem,
        "sentido": sentido,
        "cursor": cursor,
    }
    return await _run_page(request, db_session, settings, run_id, query=query, done=feito)


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
