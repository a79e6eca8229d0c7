"""Pages of program management for managers (gestores) and auditors: the PARs of their jurisdiction, a PAR with its
versions and approval steps, planned vs executed as charts, the funding ledger (advance, earned, due, at risk), the
contracts with under-delivery highlighted, the CIB/CIT reports to download (CSV/XLSX) and a print-ready CIB page
(Portaria GM/MS 3.492/2024 art. 8–16 as amended, art. 12 VII, art. 13). The numbers are the services'
(``regula.programs.service``); these pages only show them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.config import Settings
from regula.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from regula.http.input_guard import Id
from regula.programs import reports, service
from regula.programs.models import ParContract, ParStep
from regula.programs.money import brl
from regula.programs.schemas import ContractIn, StepIn, TransferIn
from regula.programs.steps import PLAN_KIND_LABELS_PT, STEP_LABELS_PT, VERSION_STATUS_LABELS_PT, VersionStatus
from regula.programs.steps import plan_kind as plan_kind_of
from regula.waitlist import service as wl
from regula.web import charts, common, forms
from regula.web.charts import Bar, Chart

VIEWERS = (Role.GESTOR, Role.AUDITOR)
SORTS_PT = {
    "id": "Número",
    "title": "Título",
    "status": "Situação",
    "population": "População",
    "approved_on": "Data da aprovação",
    "updated_at": "Última alteração",
}
STATUS_PT = {s.value: label for s, label in VERSION_STATUS_LABELS_PT.items() if s is not VersionStatus.SUBSTITUIDA}


def _month_label(month: date) -> str:
    return f"{month:%m/%Y}"


def _competencia(today: date, raw: str | None) -> str:
    text = (raw or "").replace("-", "").strip()
    return text or f"{today:%Y%m}"


#: The PARs' filter (issue 17 item 4): a search beyond 200 characters was cut; now it is refused by its label.
LIST_FILTER_FORM = forms.register(
    forms.FormSpec(
        "programas_filtro",
        (
            forms.FieldSpec("busca", "Título contém", max_length=200),
            forms.FieldSpec("situacao", "Situação da versão mais recente", kind="choice"),
            forms.FieldSpec("ordem", "Ordenar por", kind="choice"),
        ),
    )
)


@get("/programas", opt=allow(*VIEWERS), include_in_schema=False)
async def par_list_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    situacao: FromQuery[str | None] = None,
    busca: FromQuery[str | None] = None,
    ordem: FromQuery[str] = "id",
    decrescente: FromQuery[bool] = False,
    pagina: FromQuery[int | None] = None,
) -> Template:
    status = situacao if situacao in STATUS_PT else None
    sort = ordem if ordem in SORTS_PT else "id"
    search = (busca or "").strip()
    limits = LIST_FILTER_FORM.check({"busca": search})
    found = await service.list_pars(
        db_session,
        common.actor(request),
        status=status,
        q=None if limits else (search or None),
        sort=sort,
        descending=decrescente,
    )
    page = common.Page(common.page_number(pagina), common.PAGE_SIZE, len(found))
    rows = found[page.offset : page.offset + page.size]
    return Template(
        "programas/lista.html",
        context={
            "rows": rows,
            "page": page,
            "q": {"situacao": status or "", "busca": busca or "", "ordem": sort, "decrescente": decrescente},
            "statuses": STATUS_PT,
            "all_statuses": {s.value: label for s, label in VERSION_STATUS_LABELS_PT.items()},
            "sorts": SORTS_PT,
            "scope_kinds": service.SCOPE_KIND_LABELS_PT,
            "filter_form": LIST_FILTER_FORM,
            "filter_errors": LIST_FILTER_FORM.field_messages(limits),
        },
        status_code=422 if limits else 200,
    )


def _charts(ind: service.Indicators) -> list[dict[str, Any]]:
    quantity_bars: list[Bar] = []
    value_bars: list[Bar] = []
    for x in ind.months:
        label = _month_label(x.month)
        quantity_bars.append(Bar(f"{label} · planejado", x.planned_quantity))
        quantity_bars.append(
            Bar(
                f"{label} · executado",
                x.executed_quantity,
                value_text=f"{x.executed_quantity} ({x.adequate_quantity} adequadas)",
            )
        )
        value_bars.append(Bar(f"{label} · planejado", float(x.planned_value), value_text=brl(x.planned_value)))
        value_bars.append(Bar(f"{label} · executado", float(x.executed_value), value_text=brl(x.executed_value)))
    quantity = Chart(
        key="par-quantidade",
        title="OCIs planejadas e executadas por mês",
        bars=quantity_bars,
        description="Executadas: OCIs concluídas no mês do último procedimento; adequadas: dentro do tM e com "
        "autorização regulada.",
        csv_header=("mes", "planejado", "concluidas", "concluidas_adequadamente"),
        csv_rows=[
            (_month_label(x.month), x.planned_quantity, x.executed_quantity, x.adequate_quantity) for x in ind.months
        ],
    )
    value = Chart(
        key="par-valor",
        title="Valor planejado e produção adequada por mês (R$)",
        bars=value_bars,
        csv_header=("mes", "valor_planejado", "valor_producao_adequada"),
        csv_rows=[(_month_label(x.month), x.planned_value, x.executed_value) for x in ind.months],
    )
    return [
        {"chart": c, "svg": charts.render(c), "rows": charts.table_rows(c), "header": charts.table_header(c)}
        for c in (quantity, value)
    ]


async def _par_context(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    par_id: int,
    competencia: str | None = None,
) -> dict[str, Any]:
    act = common.actor(request)
    today = wl.local_today(settings)
    detail = await service.detail(db_session, par_id, act)
    par = detail.bundle.par
    versions = []
    for v in reversed(detail.bundle.versions):
        lines = detail.lines_by_version.get(v.id or 0, [])
        versions.append(
            {
                "v": v,
                "status": VERSION_STATUS_LABELS_PT[VersionStatus(v.status)],
                "steps": detail.steps_by_version.get(v.id or 0, []),
                "next": detail.next_steps(v),
                "lines": lines,
                "quantity": sum(x.quantity for x in lines),
                "value": sum((x.value for x in lines), Decimal("0")),
                "plan_kind": PLAN_KIND_LABELS_PT[plan_kind_of(v.scope_kind, par.uf)],
            }
        )
    approved = detail.bundle.approved
    context: dict[str, Any] = {
        "par": par,
        "versions": versions,
        "approved": approved,
        "transfers": detail.transfers,
        "commitment": detail.commitment,
        "editable": detail.editable,
        "step_labels": STEP_LABELS_PT,
        "transfer_labels": service.TRANSFER_KIND_LABELS_PT,
        "scope_kinds": service.SCOPE_KIND_LABELS_PT,
        "manager_label": service.manager_label,
        "brl": brl,
        "today": today,
        "competencia": _competencia(today, competencia),
        "trimestre": f"{today.year}Q{(today.month + 2) // 3}",
        "trimestre_label": f"{(today.month + 2) // 3}º trimestre de {today.year}",
        "next_steps": detail.next_steps(detail.bundle.latest),
        "managers": sorted({f"uf:{par.uf}"} | {x.manager for lines in detail.lines_by_version.values() for x in lines}),
        "transfer_kinds": service.TRANSFER_KIND_LABELS_PT,
    }
    if approved is not None:
        view = await service.ledger_view(db_session, par_id, act, today)
        ind = await service.indicators(db_session, settings, par_id, act, today)
        contracts = await service.contracts(db_session, settings, par_id, act, today)
        places = await service.establishment_names(db_session, [c.contract.cnes for c in contracts])
        catalog = await wl.load_catalog(db_session, settings)
        context |= {
            "oci_names": {code: common.short_oci_name(o.name) for code, o in catalog.ocis.items()},
            "ledger": view.ledger,
            "view": view,
            "indicators": ind,
            "charts": _charts(ind),
            "contracts": contracts,
            "under": sum(1 for c in contracts if c.under_delivered),
            "places": places,
        }
    return context


@get("/programas/{par_id:int}", opt=allow(*VIEWERS), include_in_schema=False)
async def par_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    par_id: Id,
    competencia: FromQuery[str | None] = None,
    feito: FromQuery[str | None] = None,
) -> Template:
    context = await _par_context(request, db_session, settings, par_id, competencia)
    context |= {"done": DONE_PT.get(feito or ""), "errors": {}, "problems": [], "values": {}, "alert": None}
    return Template("programas/par.html", context=context)


# -- forms: a gestor records approval steps, transfers and contracts (the rules are the service's) ---------------

DONE_PT = {
    "etapa": "Etapa de aprovação registrada.",
    "repasse": "Repasse registrado.",
    "contrato": "Contrato registrado.",
}
#: The service's field names as each form calls them (errors are shown next to the form's own fields).
_FIELDS: dict[str, dict[str, str]] = {
    "etapa": {"kind": "etapa", "number": "numero", "step_date": "data"},
    "repasse": {"manager": "gestor", "kind": "tipo", "paid_on": "data", "amount": "valor", "reference": "referencia"},
    "contrato": {
        "contract_number": "contrato",
        "manager": "gestor",
        "cnes": "cnes",
        "oci_code": "oci",
        "month": "mes",
        "quantity": "quantidade",
    },
}


#: The PAR page's forms (issue 17 item 4): limits in one place, the HTML attributes generated from them, checked
#: again before the service is asked; a refusal names the field by its label and keeps what was typed.
STEP_FORM = forms.register(
    forms.FormSpec(
        "programas_etapa",
        (
            forms.FieldSpec("etapa", "Etapa", kind="choice"),
            forms.FieldSpec("numero", "Número do ato", max_length=forms.column_length(ParStep, "number")),
            forms.FieldSpec("data", "Data", max_length=10, type="date"),
        ),
    )
)
TRANSFER_FORM = forms.register(
    forms.FormSpec(
        "programas_repasse",
        (
            forms.FieldSpec("tipo", "Repasse", kind="choice"),
            forms.FieldSpec("gestor", "Gestor", kind="choice"),
            forms.FieldSpec("data", "Data", max_length=10, type="date"),
            forms.FieldSpec("valor", "Valor (R$)", max_length=20, inputmode="decimal"),
            # par_transfer.reference is text; an FNS order or a portaria's number fits in 200 characters.
            forms.FieldSpec("referencia", "Referência (ordem bancária, portaria)", max_length=200),
        ),
    )
)
CONTRACT_FORM = forms.register(
    forms.FormSpec(
        "programas_contrato",
        (
            forms.FieldSpec("contrato", "Contrato nº", max_length=forms.column_length(ParContract, "contract_number")),
            forms.FieldSpec("gestor", "Gestor contratante", kind="choice"),
            forms.FieldSpec("cnes", "CNES", max_length=forms.column_length(ParContract, "cnes"), inputmode="numeric"),
            forms.FieldSpec("oci", "OCI", max_length=forms.column_length(ParContract, "oci_code"), inputmode="numeric"),
            forms.FieldSpec("mes", "Mês (MM/AAAA)", max_length=7),
            forms.FieldSpec("quantidade", "Quantidade", max_length=9, inputmode="numeric"),
        ),
    )
)
CIB_REPORT_FORM = forms.register(
    forms.FormSpec(
        "programas_relatorio_cib",
        (
            forms.competencia_field(),
            forms.FieldSpec("formato", "Formato", kind="choice"),
        ),
    )
)
FORM_SPECS = {"etapa": STEP_FORM, "repasse": TRANSFER_FORM, "contrato": CONTRACT_FORM}


class StepForm(Struct):
    etapa: str = ""
    numero: str = ""
    data: str = ""


class TransferForm(Struct):
    gestor: str = ""
    tipo: str = ""
    data: str = ""
    valor: str = ""
    referencia: str = ""


class ContractForm(Struct):
    contrato: str = ""
    gestor: str = ""
    cnes: str = ""
    oci: str = ""
    mes: str = ""
    quantidade: str = ""


def _iso(raw: str) -> str:
    """A date as the service reads it (AAAA-MM-DD) from what people type (DD/MM/AAAA) or a date input sends."""
    parsed = common.parse_date_br(raw or "")
    return parsed.isoformat() if parsed else (raw or "").strip()


def _money(raw: str) -> Decimal | None:
    """``1.234,56`` or ``1234.56`` → Decimal; None when it is not a number."""
    text = (raw or "").strip().replace("R$", "").strip()
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _int(raw: str) -> int:
    text = (raw or "").strip().replace(".", "")
    return int(text) if text.isdigit() and len(text) <= 9 else -1


async def _attempt(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    par_id: int,
    form: str,
    values: dict[str, str],
    action: Callable[[], Awaitable[object]],
) -> Redirect | Template:
    spec = FORM_SPECS[form]

    async def rerender(refusal: forms.Refusal) -> Template:
        context = await _par_context(request, db_session, settings, par_id)
        named = [FieldError(f"{form}.{_FIELDS[form].get(e.field, e.field)}", e.code, e.message) for e in refusal.errors]
        problems = spec.problems(named)
        context |= {
            "done": None,
            "errors": {e.field: e.message for e in reversed(named)},
            "problems": [forms.FieldProblem(f"{form}-{p.field}", p.label, p.message) for p in problems],
            "values": {f"{form}.{k}": v for k, v in values.items()},
            "alert": refusal.message if not named else None,
        }
        return Template("programas/par.html", context=context, status_code=refusal.status_code)

    limits = spec.check(values)
    if limits:  # refused by name, before the service is asked
        return await rerender(forms.Refusal.of_limits(limits))
    return await forms.submit(
        db_session,
        action,
        redirect=lambda _result: f"/programas/{par_id}?feito={form}#formularios",
        rerender=rerender,
        refusals=(*forms.FIXABLE, PermissionDenied),
    )


@post("/programas/{par_id:int}/etapas", opt=allow(Role.GESTOR), include_in_schema=False, status_code=303)
async def record_step(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    par_id: Id,
    data: forms.Form[StepForm],
) -> Redirect | Template:
    """The approval step of the newest version (art. 8 III, 11, 15 §5 and 16 §1 as amended)."""
    today = wl.local_today(settings)
    act = common.actor(request)

    async def action() -> object:
        latest = (await service.detail(db_session, par_id, act)).bundle.latest
        step = StepIn(values["etapa"], values["numero"], _iso(data.data))
        return await service.record_step(db_session, settings, par_id, latest.version, step, act, today)

    values = {k: (getattr(data, k) or "").strip() for k in ("etapa", "numero", "data")}
    return await _attempt(request, db_session, settings, par_id, "etapa", values, action)


@post("/programas/{par_id:int}/repasses", opt=allow(Role.GESTOR), include_in_schema=False, status_code=303)
async def record_transfer(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    par_id: Id,
    data: forms.Form[TransferForm],
) -> Redirect | Template:
    today = wl.local_today(settings)
    act = common.actor(request)

    async def action() -> object:
        amount = _money(data.valor)
        if amount is None:
            raise ValidationFailed.for_field("amount", "valor_invalido", "Informe o valor em reais, ex.: 1.234,56.")
        transfer = TransferIn(values["gestor"], values["tipo"], _iso(data.data), amount, values["referencia"] or None)
        return await service.record_transfer(db_session, par_id, transfer, act, today)

    values = {k: (getattr(data, k) or "").strip() for k in ("tipo", "gestor", "data", "valor", "referencia")}
    return await _attempt(request, db_session, settings, par_id, "repasse", values, action)


@post("/programas/{par_id:int}/contratos", opt=allow(Role.GESTOR), include_in_schema=False, status_code=303)
async def record_contract(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    par_id: Id,
    data: forms.Form[ContractForm],
) -> Redirect | Template:
    act = common.actor(request)

    async def action() -> object:
        contract = ContractIn(
            values["contrato"], values["gestor"], values["cnes"], values["oci"], values["mes"], _int(data.quantidade)
        )
        return await service.put_contract(db_session, par_id, contract, act)

    values = {k: (getattr(data, k) or "").strip() for k in ("contrato", "gestor", "cnes", "oci", "mes", "quantidade")}
    return await _attempt(request, db_session, settings, par_id, "contrato", values, action)


def _cell(value: reports.Value, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "money" and isinstance(value, Decimal):
        return brl(value)
    if kind == "percent" and isinstance(value, Decimal):
        return f"{common.fmt_decimal(float(value * 100))}%"
    if kind == "integer" and isinstance(value, int):
        return common.fmt_int(value)
    return reports.csv_cell(value, "text")


def _download(file: service.ReportFile, fmt: str) -> Response[bytes]:
    if fmt == "xlsx":
        body, media, ext = reports.to_xlsx(file.report), reports.XLSX_MEDIA_TYPE, "xlsx"
    else:
        body, media, ext = reports.to_csv(file.report), reports.CSV_MEDIA_TYPE, "csv"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{file.filename}.{ext}"'}
    )


@get("/programas/{par_id:int}/relatorios/cib", opt=allow(*VIEWERS), include_in_schema=False)
async def cib_download(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    par_id: Id,
    competencia: FromQuery[str | None] = None,
    formato: FromQuery[str] = "csv",
) -> Response[bytes]:
    today = wl.local_today(settings)
    limits = CIB_REPORT_FORM.check({"competencia": competencia or ""})
    if limits:
        raise ValidationFailed(f"{CIB_REPORT_FORM['competencia'].label}: {limits[0].message}", code=limits[0].code)
    file = await service.cib_report(
        db_session, settings, par_id, common.actor(request), _competencia(today, competencia), today
    )
    return _download(file, formato)


@get("/programas/{par_id:int}/relatorios/cit", opt=allow(*VIEWERS), include_in_schema=False)
async def cit_download(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    par_id: Id,
    trimestre: FromQuery[str | None] = None,
    formato: FromQuery[str] = "csv",
) -> Response[bytes]:
    today = wl.local_today(settings)
    quarter = (trimestre or "").strip() or f"{today.year}Q{(today.month + 2) // 3}"
    file = await service.cit_report(db_session, settings, par_id, common.actor(request), quarter, today)
    return _download(file, formato)


@get("/programas/{par_id:int}/imprimir", opt=allow(*VIEWERS), include_in_schema=False)
async def print_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    par_id: Id,
    competencia: FromQuery[str | None] = None,
) -> Template:
    """The monthly CIB report as a page to print (or save as PDF from the browser)."""
    today = wl.local_today(settings)
    comp = _competencia(today, competencia)
    try:
        file = await service.cib_report(db_session, settings, par_id, common.actor(request), comp, today)
    except (ValidationFailed, Conflict) as exc:
        return Template(
            "programas/imprimir.html", context={"error": exc.message, "par_id": par_id}, status_code=exc.status_code
        )
    rep = file.report
    rows = [[_cell(v, c.kind) for v, c in zip(row, rep.columns, strict=True)] for row in rep.rows]
    kinds = [c.kind for c in rep.columns]
    return Template(
        "programas/imprimir.html",
        context={"report": rep, "rows": rows, "kinds": kinds, "par_id": par_id, "today": today, "error": None},
    )


ROUTES = [
    par_list_page,
    par_page,
    record_step,
    record_transfer,
    record_contract,
    cib_download,
    cit_download,
    print_page,
]
