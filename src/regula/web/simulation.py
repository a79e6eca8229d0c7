"""The manager's policy simulator (issue 15): run a scenario as a background job, follow its progress, read its
report with the dashboard's charts. The request only validates and queues; the jobs process simulates
(``regula.simulation.jobs``, decision 19). Runs are listed to the users whose jurisdiction shares municipalities
with the one of the gestor who asked (``simulation.repository``)."""

from __future__ import annotations

import json
from typing import Any, Final

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import JurisdictionKind, Role, allow
from regula.core.errors import Conflict, FieldError, ValidationFailed
from regula.simulation import repository, service
from regula.simulation.models import RUN_STATUSES, SimulationRun
from regula.simulation.report import dump
from regula.simulation.scenario import SUPPORTED_UFS, Scenario, load_scenario
from regula.territory.reference import territory
from regula.web import common, forms
from regula.web.charts import render
from regula.web.forms import Form
from regula.web.simulation_report import POLICY_LABELS, comparison_charts, report_charts, report_html, summary_table

VIEWERS = (Role.GESTOR, Role.AUDITOR)
LAUNCHERS = (Role.GESTOR,)
PER_PAGE = 25
REFRESH_SECONDS = 3
STATUS_PT: Final = {
    "na_fila": "Na fila",
    "simulando": "Simulando",
    "concluida": "Concluída",
    "falhou": "Falhou",
}
SORTS_PT: Final = {"recentes": "Mais recentes", "antigas": "Mais antigas", "nome": "Nome", "situacao": "Situação"}
MESSAGES_PT: Final = {
    "": "Padrão da política",
    "none": "Nenhuma",
    "one_way": "Lembretes só de ida",
    "two_way": "Confirmação de duas vias",
}
TRISTATE_PT: Final = {"": "Padrão da política", "sim": "Sim", "nao": "Não"}
# Form field → scenario key, and how a form value becomes the scenario's (None: leave the default).
FIELDS: Final = {
    "nome": "name",
    "politica": "policy",
    "uf": "uf",
    "capacidade": "capacity_factor",
    "meses": "months",
    "aquecimento": "warmup_months",
    "replicacoes": "replications",
    "semente": "seed",
    "encaminhamentos": "referrals_per_year",
    "faltas": "no_show_base_rate",
    "mensagens": "messages",
    "encaixe": "backfill",
    "equidade": "equity_weights",
    "escalonamento": "escalation_percent",
}
FORM_OF: Final = {v: k for k, v in FIELDS.items()}
PERCENT_FIELDS: Final = frozenset({"capacidade", "faltas"})
INT_FIELDS: Final = frozenset({"meses", "aquecimento", "replicacoes", "semente", "encaminhamentos", "escalonamento"})


_NUMBER = r"\d{1,6}([.,]\d{1,4})?"
_NUMBER_MESSAGE = "Informe um número (ex.: 100 ou 92,5)."
#: The scenario form (issue 17 item 4): the name is at most its column; the percentages people type are numbers.
#: The ranges (months, replications, …) are the scenario's (``regula.simulation.scenario``), said by the service.
SCENARIO_FORM = forms.register(
    forms.FormSpec(
        "simulacao",
        (
            forms.FieldSpec("nome", "Nome", max_length=forms.column_length(SimulationRun, "name"), required=True),
            forms.FieldSpec("politica", "Política", max_length=40, kind="choice"),
            forms.FieldSpec("uf", "UF", max_length=2, kind="choice"),
            forms.FieldSpec(
                "capacidade",
                "Capacidade (% da atual)",
                max_length=11,
                pattern=_NUMBER,
                pattern_message=_NUMBER_MESSAGE,
                inputmode="decimal",
            ),
            forms.FieldSpec("meses", "Meses medidos", kind="number"),
            forms.FieldSpec("aquecimento", "Meses de aquecimento", kind="number"),
            forms.FieldSpec("replicacoes", "Replicações", kind="number"),
            forms.FieldSpec("semente", "Semente", kind="number"),
            forms.FieldSpec("encaminhamentos", "Encaminhamentos por ano", kind="number"),
            forms.FieldSpec(
                "faltas",
                "Faltas sem lembrete (%)",
                max_length=11,
                pattern=_NUMBER,
                pattern_message=_NUMBER_MESSAGE,
                inputmode="decimal",
            ),
            forms.FieldSpec("mensagens", "Mensagens", max_length=16, kind="choice"),
            forms.FieldSpec("encaixe", "Encaixe de vagas liberadas", max_length=3, kind="choice"),
            forms.FieldSpec("equidade", "Pesos de equidade", max_length=3, kind="choice"),
            forms.FieldSpec("escalonamento", "Escalonamento (% do tM)", kind="number"),
        ),
    )
)


class ScenarioForm(Struct):
    nome: str = ""
    politica: str = ""
    uf: str = ""
    capacidade: str = ""
    meses: str = ""
    aquecimento: str = ""
    replicacoes: str = ""
    semente: str = ""
    encaminhamentos: str = ""
    faltas: str = ""
    mensagens: str = ""
    encaixe: str = ""
    equidade: str = ""
    escalonamento: str = ""


def _default_uf(request: Request[Any, Any, Any]) -> str:
    j = common.principal(request).jurisdiction
    if j.kind is JurisdictionKind.NATIONAL:
        return SUPPORTED_UFS[0]
    for m in territory().all():
        if j.covers_place(m):
            return m.uf
    return SUPPORTED_UFS[0]


def _defaults(request: Request[Any, Any, Any]) -> dict[str, str]:
    d = Scenario()
    return {
        "nome": "cenario",
        "politica": d.policy,
        "uf": _default_uf(request),
        "capacidade": "100",
        "meses": str(d.months),
        "aquecimento": "3",
        "replicacoes": "3",
        "semente": str(d.seed),
        "encaminhamentos": str(d.referrals_per_year),
        "faltas": str(round(100 * d.no_show_base_rate)),
        "mensagens": "",
        "encaixe": "",
        "equidade": "sim",
        "escalonamento": str(d.escalation_percent),
    }


def scenario_data(values: dict[str, str]) -> dict[str, Any]:
    """The scenario of the form's values; raises ValidationFailed naming every bad field of the form at once: its
    limits (``SCENARIO_FORM``), the numbers that are not numbers, and what the scenario itself refuses in the
    fields that are."""
    data: dict[str, Any] = {}
    errors: list[FieldError] = SCENARIO_FORM.check(values)
    bad = {e.field for e in errors}
    for name, key in FIELDS.items():
        raw = values.get(name, "")
        if raw == "" or name in bad:
            continue
        if name in PERCENT_FIELDS or name in INT_FIELDS:
            try:
                number = float(raw.replace(",", ".")) if name in PERCENT_FIELDS else int(raw)
            except ValueError:
                errors.append(FieldError(name, "numero_invalido", "Informe um número."))
                continue
            data[key] = number / 100 if name in PERCENT_FIELDS else number
        elif name in ("encaixe", "equidade"):
            data[key] = raw == "sim"
        else:
            data[key] = raw
    if errors:
        try:  # the scenario's own refusals of the other fields, so that one answer names them all
            load_scenario(data)
        except ValidationFailed as exc:
            errors += [e for e in exc.errors if FORM_OF.get(e.field.split(".")[0].split("[")[0]) not in bad]
        raise ValidationFailed("Cenário inválido.", code="dados_invalidos", errors=errors)
    return data


def _form_errors(refusal: forms.Refusal) -> list[FieldError]:
    """The refusal's errors named by the form's fields (the scenario's ``months`` is the form's ``meses``)."""
    out: list[FieldError] = []
    for e in refusal.errors:
        top = e.field.split(".")[0].split("[")[0]
        out.append(FieldError(FORM_OF.get(top, top), e.code, e.message))
    return out or [FieldError("nome", refusal.code, refusal.message)]


async def _list_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    query: dict[str, str],
    errors: list[FieldError] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    p = common.principal(request)
    page_no = common.page_number(int(query["pagina"]) if query.get("pagina", "").isdigit() else 1)
    status = query.get("situacao") or None
    sort = query.get("ordem") or "recentes"
    listing = await repository.list_runs(
        db_session,
        common.actor(request),
        status=status,
        sort=sort,
        offset=(page_no - 1) * PER_PAGE,
        limit=PER_PAGE,
    )
    return Template(
        "gestao/simulacoes.html",
        context={
            "runs": listing.runs,
            "page": common.Page(page_no, PER_PAGE, listing.total),
            "q": {"situacao": status or "", "ordem": sort},
            "status_pt": STATUS_PT,
            "statuses": [("", "Todas"), *((s, STATUS_PT[s]) for s in RUN_STATUSES)],
            "sorts": list(SORTS_PT.items()),
            "policies": list(POLICY_LABELS.items()),
            "messages": list(MESSAGES_PT.items()),
            "tristate": list(TRISTATE_PT.items()),
            "ufs": [(u, u) for u in SUPPORTED_UFS],
            "form": SCENARIO_FORM,
            "errors": SCENARIO_FORM.field_messages(errors or []),
            "problems": SCENARIO_FORM.problems(errors or []),
            "values": values or _defaults(request),
            "can_launch": p.role in (*LAUNCHERS, Role.ADMIN),
        },
        status_code=status_code,
    )


@get("/gestao/simulacoes", opt=allow(*VIEWERS), include_in_schema=False)
async def runs_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    pagina: FromQuery[int | None] = None,
    situacao: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
) -> Template:
    query = {"pagina": str(common.page_number(pagina)), "situacao": situacao or "", "ordem": ordem or ""}
    return await _list_page(request, db_session, query=query)


@post("/gestao/simulacoes", opt=allow(*LAUNCHERS), include_in_schema=False, status_code=303)
async def launch_run(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: Form[ScenarioForm]
) -> Redirect | Template:
    # Trimmed, never cut: a value beyond its limit is refused by name and shown again as it was typed.
    values = {name: (getattr(data, name) or "").strip() for name in FIELDS}

    async def rerender(refusal: forms.Refusal) -> Template:
        return await _list_page(
            request, db_session, query={}, errors=_form_errors(refusal), values=values, status_code=422
        )

    async def queue() -> SimulationRun:
        return await service.enqueue(db_session, common.actor(request), scenario_data(values))

    return await forms.submit(db_session, queue, redirect=lambda run: f"/gestao/simulacoes/{run.id}", rerender=rerender)


@get("/gestao/simulacoes/{run_id:int}", opt=allow(*VIEWERS), include_in_schema=False)
async def run_page(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], run_id: FromPath[int]
) -> Template:
    run = await repository.run_for(db_session, run_id, common.actor(request))
    report = run.report
    charts = []
    summary = None
    if report is not None:
        made = comparison_charts(report) if "reports" in report else report_charts(report)
        charts = [(c.title, render(c)) for c in made]
        summary = summary_table(report) if "metrics" in report else None
    scenario = run.scenario
    return Template(
        "gestao/simulacao.html",
        context={
            "run": run,
            "status_pt": STATUS_PT.get(run.status, run.status),
            "running": run.status in ("na_fila", "simulando"),
            "refresh_seconds": REFRESH_SECONDS,
            "scope_label": common.jurisdiction_label(run.scope),
            "policy_label": POLICY_LABELS.get(str(scenario.get("policy")), str(scenario.get("policy"))),
            "scenario_json": json.dumps(scenario, ensure_ascii=False, indent=1, sort_keys=True),
            "charts": charts,
            "summary": summary,
        },
    )


@get("/gestao/simulacoes/{run_id:int}/relatorio.json", opt=allow(*VIEWERS), include_in_schema=False)
async def report_json(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], run_id: FromPath[int]
) -> Response[bytes]:
    run = await repository.run_for(db_session, run_id, common.actor(request))
    if run.report is None:
        raise Conflict("A simulação ainda não tem relatório.", code="simulacao_sem_relatorio")
    return Response(
        dump(run.report),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="simulacao-{run.id}.json"'},
    )


@get("/gestao/simulacoes/{run_id:int}/relatorio.html", opt=allow(*VIEWERS), include_in_schema=False)
async def report_page(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], run_id: FromPath[int]
) -> Response[str]:
    run = await repository.run_for(db_session, run_id, common.actor(request))
    if run.report is None:
        raise Conflict("A simulação ainda não tem relatório.", code="simulacao_sem_relatorio")
    return Response(
        report_html(run.report),
        media_type="text/html",  # Litestar adds "; charset=utf-8" itself; naming it here sent it twice
        headers={"Content-Disposition": f'attachment; filename="simulacao-{run.id}.html"'},
    )


ROUTES = [runs_page, launch_run, run_page, report_json, report_page]
