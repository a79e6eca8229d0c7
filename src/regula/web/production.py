"""Care navigation to the end of an OCI, and production control: the pages.

* ``/producao``: the entries in atendimento (or concluded) of the user's territory, with their OCI clock.
* ``/producao/entradas/{id}``: the navigator's / provider's page of one OCI — the mandatory checklist, the PMAE
  rule, the tM clock from the first to the last procedure, the procedures recorded (and the form to record one),
  the conclusion with the return to APS, and the navigator's closing.
* ``/producao/controle``: the findings of production control for a period, and the indicators per provider.

Forms POST and redirect (the request's session commits, redirects included); an invalid form is shown again with
each error next to its field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.audit.service import record_read
from regula.config import Settings
from regula.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from regula.production import authorization as auth
from regula.production import composition as comp
from regula.production import control, execution, indicators, service
from regula.production import repository as care_repo
from regula.waitlist import service as wl
from regula.web import common, forms, listing
from regula.web.forms import Form

RECORDERS = (Role.EXECUTANTE, Role.NAVEGADOR)
CLOSERS = (Role.NAVEGADOR, Role.REGULADOR)
READERS = (Role.EXECUTANTE, Role.NAVEGADOR, Role.REGULADOR, Role.GESTOR, Role.AUDITOR)
CONTROLLERS = (Role.GESTOR, Role.REGULADOR, Role.AUDITOR)
LEVEL_LABELS_PT = {
    "nao_iniciado": "não iniciada",
    "ok": "no prazo",
    "atencao": "passou do tR",
    "alerta": "perto do tM",
    "vencido": "além do tM",
}
# Form field → API field, so service errors land next to the right input.
_FIELDS = {
    "procedure_code": "procedimento",
    "performed_on": "data",
    "cbo": "cbo",
    "cnes": "cnes",
    "cid_code": "cid",
    "quantity": "quantidade",
    "aps_summary": "resumo",
    "counter_referral": "contrarreferencia",
    "procedimentos": "procedimentos",
    "note": "encerramento",
    "reason": "motivo",
}


def clock_view(clock: comp.Clock) -> dict[str, Any] | None:
    """The clock for ``_macros.clock``: days from the first procedure against tM, with regula's tR-based level."""
    if clock.elapsed_days is None:
        return None
    return {
        "days": clock.elapsed_days,
        "max_days": clock.max_days,
        "percent": clock.percent,
        "bar": min(clock.percent, 100),
        "level": {"nao_iniciado": "ok"}.get(clock.level, clock.level),
        "label": LEVEL_LABELS_PT.get(clock.level, clock.level),
    }


def _can(request: Request[Any, Any, Any], roles: tuple[Role, ...]) -> bool:
    return common.principal(request).has_role(*roles)


CARE_STATUSES = {"em_atendimento": "Em atendimento", "concluida": "Concluídas"}


@get("/producao", opt=allow(*READERS), include_in_schema=False)
@listing.list_page
async def in_care_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    situacao: FromQuery[str | None] = None,
    oci: FromQuery[str | None] = None,
    municipio: FromQuery[str | None] = None,
    regiao: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    """The OCIs in care (or concluded) of the user's territory: filtered, sorted, paged by cursor with the true
    total (decision 23; it stopped at 300 rows before)."""
    status = listing.choice_param(situacao, "situacao", CARE_STATUSES, "Situação") or "em_atendimento"
    catalog = await wl.load_catalog(db_session, settings)
    oci = listing.choice_param(oci, "oci", catalog.ocis, "OCI")
    municipality = listing.municipality_param(municipio)
    region = listing.region_param(regiao)
    state = listing.listing(
        "/producao",
        care_repo.CARE_SORTS,
        {
            "situacao": status if status != "em_atendimento" else None,
            "oci": oci,
            "municipio": municipality,
            "regiao": regiao,
        },
        ordem=ordem,
        sentido=sentido,
        cursor=cursor,
    )
    f = care_repo.CareFilter(status=status, oci=oci, municipality=municipality, municipalities=region)
    found = await care_repo.in_care_page(db_session, common.actor(request), f, state.window)
    state.slice = found
    today = wl.local_today(settings)
    items = []
    for r in found.rows:
        x = r.execution
        clock = None
        if x is not None and x.first_on is not None:
            concluded = x.status == "concluida"
            elapsed = (x.last_on - x.first_on).days if concluded and x.last_on else (today - x.first_on).days
            clock = clock_view(
                comp.Clock(x.first_on, x.last_on, None, elapsed, x.max_days, x.recommended_days, concluded)
            )
        items.append({"entry": r.entry, "citizen": r.citizen_name, "execution": x, "clock": clock})
    municipalities = common.visible_municipalities(common.principal(request))
    regions = sorted(
        {(m.health_region_code, m.health_region_name) for m in municipalities if m.health_region_code},
        key=lambda r: r[1] or "",
    )
    return Template(
        "producao/lista.html",
        context={
            "rows": items,
            "l": state,
            "situacao": status,
            "statuses": CARE_STATUSES,
            "levels": LEVEL_LABELS_PT,
            "q": {"oci": oci or "", "municipio": municipality or "", "regiao": regiao or ""},
            "ocis": sorted(catalog.ocis.values(), key=lambda o: o.code),
            "municipalities": municipalities if len(municipalities) <= 600 else [],
            "regions": regions,
        },
    )


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    entry_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    alert: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    v = await execution.view(db_session, settings, entry_id, common.actor(request))
    principal = common.principal(request)
    items = comp.composition_items(v.oci)
    options = [
        (role, label, [(code, item.name) for code, item in items.items() if comp.role_of(v.oci, code) == role])
        for role, label in comp.ROLE_LABELS_PT.items()
    ]
    x = v.execution
    open_ = x is None or x.status == "em_execucao"
    return Template(
        "producao/execucao.html",
        context={
            "v": v,
            "p": v.progress,
            "clock": clock_view(v.progress.clock),
            "level_label": LEVEL_LABELS_PT.get(v.progress.clock.level, ""),
            "options": options,
            "apac": auth.format_authorization(x.authorization_number) if x and x.authorization_number else None,
            "default_cnes": (x.cnes if x else None) or await service.entry_cnes(db_session, entry_id) or "",
            "today": wl.local_today(settings).isoformat(),
            "can_record": open_ and v.entry.status == "em_atendimento" and _can(request, RECORDERS),
            "can_conclude": open_ and v.can_conclude and v.progress.complete,
            "can_close": x is not None
            and x.status == "concluida"
            and x.navigator_closed_at is None
            and _can(request, CLOSERS),
            "role": principal.role.value,
            "errors": errors or {},
            "values": values or {},
            "alert": alert,
            "done": done,
        },
        status_code=status_code,
    )


@get("/producao/entradas/{entry_id:int}", opt=allow(*READERS), include_in_schema=False)
async def execution_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
    feito: FromQuery[str | None] = None,
) -> Template:
    done = {
        "registrado": "Procedimento registrado.",
        "anulado": "Registro anulado.",
        "concluida": "OCI concluída; a contrarreferência foi registrada para a APS.",
        "encerrada": "Navegação encerrada: o cuidado voltou para a APS.",
    }.get(feito or "")
    page = await _page(request, db_session, settings, entry_id, done=done)
    v = page.context["v"]
    await record_read(
        db_session, "oci_execution", str(entry_id), uf=v.entry.uf, municipality_ibge=v.entry.municipality_ibge
    )
    return page


_CID = r"[A-Za-z][0-9]{2}\.?[0-9A-Za-z]?"
#: The execution page's forms (issue 17 item 4): labels and limits, the browser's and the server's. Lengths are the
#: columns' (``oci_procedure.cbo`` 6 digits, typed with or without the hyphen; ``cid_code`` 4 characters, typed with
#: the dot); free texts (the void reason, the APS summary, the counter-referral, the navigator's closing note) are
#: ``text`` columns, limited to what a clinical note needs.
PROCEDURE_FORM = forms.register(
    forms.FormSpec(
        "producao_procedimento",
        (
            forms.FieldSpec("procedimento", "Procedimento (SIGTAP)", required=True, kind="choice"),
            forms.FieldSpec("data", "Data de realização", max_length=10, required=True, type="date"),
            forms.FieldSpec(
                "cbo",
                "CBO do profissional",
                max_length=7,
                pattern=r"[0-9]{4}-?[0-9]{2}",
                pattern_message="CBO tem 6 dígitos (por exemplo, 225125).",
                required=True,
                inputmode="numeric",
            ),
            forms.FieldSpec(
                "cnes",
                "CNES de realização",
                max_length=7,
                pattern=r"[0-9]{7}",
                pattern_message="Use os 7 dígitos do CNES.",
                inputmode="numeric",
            ),
            forms.FieldSpec(
                "cid",
                "CID-10",
                max_length=5,
                pattern=_CID,
                pattern_message="Use o código CID-10: uma letra e dois ou três dígitos (ex.: Z13.6).",
            ),
            forms.FieldSpec("quantidade", "Quantidade", kind="number"),
        ),
    )
)
VOID_FORM = forms.register(
    forms.FormSpec(
        "producao_anular",
        (
            forms.FieldSpec(
                "motivo",
                "Motivo",
                max_length=2000,
                min_length=5,
                min_message="Explique o motivo da anulação (mínimo 5 letras).",
                required=True,
            ),
        ),
    )
)
CONCLUSION_FORM = forms.register(
    forms.FormSpec(
        "producao_concluir",
        (
            forms.FieldSpec("resumo", "Resumo do cuidado para a APS", max_length=4000, required=True, kind="textarea"),
            forms.FieldSpec(
                "contrarreferencia",
                "Contrarreferência (conduta e seguimento na APS)",
                max_length=4000,
                required=True,
                kind="textarea",
            ),
        ),
    )
)
CLOSING_FORM = forms.register(
    forms.FormSpec(
        "producao_encerrar",
        (
            forms.FieldSpec(
                "encerramento", "Como o cuidado voltou à APS", max_length=4000, required=True, kind="textarea"
            ),
        ),
    )
)


class ProcedureForm(Struct):
    procedimento: str = ""
    data: str = ""
    cbo: str = ""
    cnes: str = ""
    cid: str = ""
    quantidade: str = ""


class VoidForm(Struct):
    motivo: str = ""
    entrada: str = ""


class ConclusionForm(Struct):
    resumo: str = ""
    contrarreferencia: str = ""


class ClosingForm(Struct):
    encerramento: str = ""


def _rerender(
    request: Request[Any, Any, Any], db_session: AsyncSession, settings: Settings, entry_id: int, values: dict[str, str]
) -> Callable[[forms.Refusal], Awaitable[Template]]:
    async def rerender(refusal: forms.Refusal) -> Template:
        if refusal.status_code != 422:
            return await _page(
                request,
                db_session,
                settings,
                entry_id,
                values=values,
                alert=refusal.message,
                status_code=refusal.status_code,
            )
        errors: dict[str, str] = {}
        for e in refusal.errors:
            key = _FIELDS.get(e.field, e.field)  # the service's field names, as this page's form calls them
            errors[key] = f"{errors[key]} {e.message}" if key in errors else e.message
        alert = None if errors else refusal.message
        return await _page(
            request, db_session, settings, entry_id, errors=errors, values=values, alert=alert, status_code=422
        )

    return rerender


async def _attempt(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    entry_id: int,
    action: Callable[[], Awaitable[object]],
    values: dict[str, str],
    success: str,
) -> Redirect | Template:
    # Here a refusal for the user's role or unit is shown on the page too (the executante sees why, in place).
    return await forms.submit(
        db_session,
        action,
        redirect=lambda _result: f"/producao/entradas/{entry_id}?feito={success}",
        rerender=_rerender(request, db_session, settings, entry_id, values),
        refusals=(*forms.FIXABLE, PermissionDenied),
    )


@post(
    "/producao/entradas/{entry_id:int}/procedimentos",
    opt=allow(*RECORDERS),
    include_in_schema=False,
    status_code=303,
)
async def record_procedure(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
    data: Form[ProcedureForm],
) -> Redirect | Template:
    values = {k: (getattr(data, k) or "").strip() for k in ProcedureForm.__struct_fields__}
    limits = PROCEDURE_FORM.check(values)
    if limits:  # the form's own limits, by name, before the service is asked
        return await _rerender(request, db_session, settings, entry_id, values)(forms.Refusal.of_limits(limits))
    quantity_text = values["quantidade"] or "1"
    if not quantity_text.isdigit():  # the form's own decoding: a number typed as text
        refused = ValidationFailed.for_field(
            "quantity", "quantidade_invalida", "A quantidade é um número inteiro a partir de 1."
        )
        return await _rerender(request, db_session, settings, entry_id, values)(forms.Refusal.of(refused))
    procedure = execution.ProcedureInput(
        procedure_code=values["procedimento"],
        performed_on=values["data"],
        cbo=values["cbo"],
        cnes=values["cnes"] or None,
        cid_code=values["cid"] or None,
        quantity=int(quantity_text),
    )

    async def action() -> None:
        await execution.record_procedure(db_session, settings, entry_id, procedure, common.actor(request))

    return await _attempt(request, db_session, settings, entry_id, action, values, "registrado")


@post(
    "/producao/procedimentos/{procedure_id:int}/anular",
    opt=allow(*RECORDERS),
    include_in_schema=False,
    status_code=303,
)
async def void_procedure(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    procedure_id: FromPath[int],
    data: Form[VoidForm],
) -> Redirect | Template:
    reason = (data.motivo or "").strip()
    entrada = forms.field_text(data.entrada, 20)
    entry_id = int(entrada) if entrada.isdigit() else 0
    limits = VOID_FORM.check({"motivo": reason})
    if limits:
        return await _rerender(request, db_session, settings, entry_id, {"motivo": reason})(
            forms.Refusal.of_limits(limits)
        )

    async def action() -> None:
        view = await execution.void_procedure(db_session, settings, procedure_id, reason, common.actor(request))
        if view.entry.id != entry_id:
            raise NotFound("Procedimento não encontrado nesta solicitação.", code="procedimento_nao_encontrado")

    return await _attempt(request, db_session, settings, entry_id, action, {"motivo": reason}, "anulado")


@post(
    "/producao/entradas/{entry_id:int}/concluir",
    opt=allow(*RECORDERS),
    include_in_schema=False,
    status_code=303,
)
async def conclude(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
    data: Form[ConclusionForm],
) -> Redirect | Template:
    values = {"resumo": (data.resumo or "").strip(), "contrarreferencia": (data.contrarreferencia or "").strip()}
    limits = CONCLUSION_FORM.check(values)
    if limits:
        return await _rerender(request, db_session, settings, entry_id, values)(forms.Refusal.of_limits(limits))

    async def action() -> None:
        await execution.conclude(
            db_session,
            settings,
            entry_id,
            common.actor(request),
            aps_summary=values["resumo"],
            counter_referral=values["contrarreferencia"],
        )

    return await _attempt(request, db_session, settings, entry_id, action, values, "concluida")


@post(
    "/producao/entradas/{entry_id:int}/encerrar-navegacao",
    opt=allow(*CLOSERS),
    include_in_schema=False,
    status_code=303,
)
async def close_navigation(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
    data: Form[ClosingForm],
) -> Redirect | Template:
    values = {"encerramento": (data.encerramento or "").strip()}
    limits = CLOSING_FORM.check(values)
    if limits:
        return await _rerender(request, db_session, settings, entry_id, values)(forms.Refusal.of_limits(limits))

    async def action() -> None:
        await execution.close_navigation(db_session, settings, entry_id, common.actor(request), values["encerramento"])

    return await _attempt(request, db_session, settings, entry_id, action, values, "encerrada")


def _month(today: date, back: int = 0) -> str:
    y, m = today.year, today.month - back
    while m < 1:
        y, m = y - 1, m + 12
    return f"{y}{m:02d}"


@get("/producao/controle", opt=allow(*CONTROLLERS), include_in_schema=False)
@listing.list_page
async def control_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    competencia: FromQuery[str | None] = None,
    ate: FromQuery[str | None] = None,
    cnes: FromQuery[str | None] = None,
    codigo: FromQuery[str | None] = None,
) -> Template:
    today = wl.local_today(settings)
    first = (competencia or "").replace("-", "") or _month(today, 2)
    last = (ate or "").replace("-", "") or _month(today)
    errors: dict[str, str] = {}
    findings: list[control.Finding] = []
    rows: list[indicators.ProviderIndicators] = []
    act = common.actor(request)
    try:
        findings = await control.check_production(
            db_session, settings, act, competencia=first, until=last, cnes=cnes or None
        )
        rows = await indicators.provider_indicators(db_session, act, competencia=first, until=last, cnes=cnes or None)
    except ValidationFailed as exc:
        errors = {("ate" if e.field == "ate" else "competencia"): e.message for e in exc.errors}
    except DomainError as exc:
        errors = {"competencia": exc.message}
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.code] = counts.get(f.code, 0) + 1
    shown = [f for f in findings if not codigo or f.code == codigo]
    return Template(
        "producao/controle.html",
        context={
            "findings": shown,
            "total": len(findings),
            "counts": counts,
            "labels": control.FINDING_LABELS_PT,
            "articles": control.FINDING_ARTICLES,
            "indicators": rows,
            "q": {"competencia": first, "ate": last, "cnes": cnes or "", "codigo": codigo or ""},
            "errors": errors,
        },
        status_code=422 if errors else 200,
    )


ROUTES = [in_care_page, execution_page, record_procedure, void_procedure, conclude, close_navigation, control_page]
