"""Ressarcimento pages for managers and auditors (Portaria Conjunta MS/AGU 7.702/2025).

* ``/ressarcimento``: the operators of the user's territory (paged, sortable, filterable), and a form to register
  one (gestor);
* ``/ressarcimento/operadoras/{id}``: an operator — eligibility, adhesion steps with their dates, units, offer matrix,
  annual maximum, its monthly attestations and the "Atestar competência" form;
* ``/ressarcimento/operadoras/{id}/competencias/{AAAAMM}``: one attested month — what was counted, the expected COR
  against the COR issued, SAES homologation and the proposed sanction with its challenge window;
* ``/ressarcimento/atestados``, ``/ressarcimento/sancoes``, ``/ressarcimento/tetos``: every attestation, every
  sanction (runs below 90%) and the caps used per region; each downloads as CSV or XLSX.

Pages only translate forms into the services' arguments (the same the API calls) and their answers into pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.config import Settings
from regula.core.clock import local_today
from regula.core.errors import FieldError, ValidationFailed
from regula.http.input_guard import OptionalId
from regula.ressarcimento import evaluation as ev
from regula.ressarcimento import reports, rules, service
from regula.ressarcimento import repository as repo
from regula.ressarcimento.models import (
    OPERATOR_SIZES,
    AnnualMaximum,
    Attestation,
    MatrixItem,
    Operator,
    OperatorUnit,
)
from regula.territory.reference import UF_NAMES
from regula.web import common, forms
from regula.web.forms import Form

READERS = (Role.GESTOR, Role.AUDITOR)
MANAGERS = (Role.GESTOR,)
SORTS_PT = {"nome": "Nome", "ans": "Registro ANS", "situacao": "Situação", "porte": "Porte", "desde": "Desde"}


def brl(value: Decimal | None) -> str:
    """``Decimal('1234.5')`` → ``R$ 1.234,50`` (rounded half up to centavos, never through float)."""
    if value is None:
        return "—"
    q = ev.round_money(Decimal(value))
    sign = "-" if q < 0 else ""
    whole, _, cents = f"{abs(q):.2f}".partition(".")
    groups = f"{int(whole):,}".replace(",", ".")
    return f"{sign}R$ {groups},{cents}"


def pct(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}".replace(".", ",") + "%"


def comp_label(competencia: str) -> str:
    return f"{competencia[4:]}/{competencia[:4]}" if len(competencia) == 6 else competencia


def _ctx(**values: Any) -> dict[str, Any]:
    return {
        "brl": brl,
        "pct": pct,
        "comp_label": comp_label,
        "status_label": service.status_label,
        "size_labels": service.SIZE_LABELS_PT,
        "attestation_labels": service.ATTESTATION_STATUS_LABELS_PT,
        "sanction_labels": service.SANCTION_STATUS_LABELS_PT,
        "sanction_kinds": service.SANCTION_KIND_LABELS_PT,
        "region_labels": {r.value: label for r, label in ev.REGION_LABELS_PT.items()},
        **values,
    }


def _is_manager(request: Request[Any, Any, Any]) -> bool:
    return common.principal(request).has_role(*MANAGERS, Role.ADMIN)


def _date(raw: str, field: str, today: date) -> date:
    if not (raw or "").strip():
        return today
    parsed = common.parse_date_br(raw)
    if parsed is None:
        raise ValidationFailed.for_field(field, "data_invalida", "Data inválida (use DD/MM/AAAA).")
    return parsed


def _download(report: reports.Report, fmt: str) -> Response[bytes]:
    if fmt not in reports.FORMATS:
        raise ValidationFailed.for_field("formato", "formato_invalido", "Formato: csv ou xlsx.")
    content, media_type, filename = reports.render(report, fmt)
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


# -- operators ---------------------------------------------------------------------------------------------------------


class OperatorForm(Struct):
    registro_ans: str = ""
    nome: str = ""
    porte: str = ""
    uf: str = ""
    abrangencia_nacional: str = ""
    capacidade_tecnica: str = ""
    envio_ans_regular: str = ""
    em_liquidacao: str = ""
    excecao_minimo: str = ""


_OPERATOR_FIELDS = {"ans_registration": "registro_ans", "name": "nome", "size": "porte", "uf": "uf"}

#: The operators' filter: a search longer than any name stored is refused, not cut.
OPERATORS_FILTER_FORM = forms.register(
    forms.FormSpec(
        "ressarcimento_operadoras_filtro",
        (
            forms.FieldSpec("busca", "Nome ou registro ANS", max_length=200, type="search"),
            forms.FieldSpec("situacao", "Situação", kind="choice"),
            forms.FieldSpec("porte", "Porte", kind="choice"),
        ),
    )
)
#: The manifestation of interest (Portaria SAES/MS 2.485/2025, art. 3): the ANS registration is its six digits,
#: the name at most its column (a 260-character name was cut to 200; now it is refused by name).
OPERATOR_FORM = forms.register(
    forms.FormSpec(
        "ressarcimento_operadora",
        (
            forms.FieldSpec(
                "registro_ans",
                "Registro ANS",
                max_length=forms.column_length(Operator, "ans_registration"),
                pattern="[0-9]{6}",
                pattern_message="O registro ANS tem 6 dígitos.",
                required=True,
                inputmode="numeric",
            ),
            forms.FieldSpec(
                "nome", "Nome da operadora", max_length=forms.column_length(Operator, "name"), required=True
            ),
            forms.FieldSpec("porte", "Porte", kind="choice"),
            forms.FieldSpec("uf", "UF do ente", kind="choice"),
        ),
    )
)


async def _operators(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    q: dict[str, str],
    pagina: int | None,
    errors: list[FieldError] | None = None,
    values: dict[str, str] | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Template:
    actor = common.actor(request)
    sort = q.get("ordem") or "nome"
    filter_limits = OPERATORS_FILTER_FORM.check(q)
    if filter_limits:  # the list is shown unfiltered, the search kept in its box with its error
        status_code = 422
    page_no = common.page_number(pagina)
    query = repo.OperatorQuery(
        q=None if filter_limits else (q.get("busca") or None),
        status=q.get("situacao") or None,
        size=q.get("porte") or None,
        sort=sort.lstrip("-"),
        descending=sort.startswith("-"),
        offset=(page_no - 1) * common.PAGE_SIZE,
        limit=common.PAGE_SIZE,
    )
    rows, total = await service.list_operators(db_session, actor, query)
    p = common.principal(request)
    ufs = sorted(UF_NAMES) if p.jurisdiction.kind.value == "br" else [p.jurisdiction.code]
    return Template(
        "ressarcimento/operadoras.html",
        context=_ctx(
            rows=rows,
            page=common.Page(page_no, common.PAGE_SIZE, total),
            path="/ressarcimento",
            q=q,
            sorts=SORTS_PT,
            statuses=list(rules.STATUS_LABELS_PT.items()),
            sizes=OPERATOR_SIZES,
            ufs=ufs if p.jurisdiction.kind.value in ("br", "uf") else [],
            can_manage=_is_manager(request),
            filter_form=OPERATORS_FILTER_FORM,
            filter_errors=OPERATORS_FILTER_FORM.field_messages(filter_limits),
            form=OPERATOR_FORM,
            errors=OPERATOR_FORM.field_messages(errors or []),
            problems=OPERATOR_FORM.problems(errors or []),
            values=values or {},
            alert=alert,
        ),
        status_code=status_code,
    )


@get("/ressarcimento", opt=allow(*READERS), include_in_schema=False)
async def operators_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    busca: FromQuery[str | None] = None,
    situacao: FromQuery[str | None] = None,
    porte: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
    formato: FromQuery[str | None] = None,
) -> Template | Response[bytes]:
    q = {"busca": busca or "", "situacao": situacao or "", "porte": porte or "", "ordem": ordem or ""}
    if formato:
        report = await service.build_report(db_session, common.actor(request), "operadoras", 0)
        return _download(report, formato)
    return await _operators(request, db_session, q=q, pagina=pagina)


@post("/ressarcimento/operadoras", opt=allow(*MANAGERS), include_in_schema=False)
async def create_operator_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    data: Form[OperatorForm],
) -> Redirect | Template:
    # Trimmed, never cut: what is beyond a limit is refused by the field's label and shown again whole.
    values = {name: (getattr(data, name) or "").strip() for name in ("registro_ans", "nome", "porte", "uf")}
    ticks = ("abrangencia_nacional", "capacidade_tecnica", "envio_ans_regular", "em_liquidacao", "excecao_minimo")
    values |= {name: "1" for name in ticks if forms.checked(getattr(data, name))}
    item = service.OperatorInput(
        ans_registration=values["registro_ans"],
        name=values["nome"],
        size=values["porte"],
        uf=values["uf"],
        national_reach=forms.checked(data.abrangencia_nacional),
        technical_capacity=forms.checked(data.capacidade_tecnica),
        ans_reports_regular=forms.checked(data.envio_ans_regular),
        in_liquidation=forms.checked(data.em_liquidacao),
        minimum_exception=forms.checked(data.excecao_minimo),
    )

    async def rerender(refusal: forms.Refusal) -> Template:
        errors = [FieldError(_OPERATOR_FIELDS.get(e.field, e.field), e.code, e.message) for e in refusal.errors]
        return await _operators(
            request,
            db_session,
            q={},
            pagina=1,
            errors=errors,
            values=values,
            alert=refusal.message,
            status_code=refusal.status_code,
        )

    limits = OPERATOR_FORM.check(values)
    if limits:  # refused by name, before the service is asked
        return await rerender(forms.Refusal.of_limits(limits))
    return await forms.submit(
        db_session,
        lambda: service.create_operator(db_session, item, common.actor(request), local_today(settings)),
        redirect=lambda op: f"/ressarcimento/operadoras/{op.id}?feito=cadastrada",
        rerender=rerender,
    )


DONE_PT = {
    "cadastrada": "Operadora cadastrada: manifestação de interesse registrada.",
    "passo": "Passo registrado no histórico da operadora.",
    "valor_maximo": "Valor máximo anual registrado.",
    "unidade": "Unidade vinculada à operadora.",
    "matriz": "Item incluído na matriz de oferta.",
    "fatos": "Dados de elegibilidade e porte atualizados.",
    "atestada": "Competência atestada.",
    "homologada": "Homologação da SAES registrada.",
    "cor": "COR emitido pelo FNS registrado.",
    "notificada": "Notificação registrada: o prazo de impugnação começou.",
    "impugnada": "Impugnação registrada.",
    "decidida": "Decisão sobre a impugnação registrada.",
}


async def _operator(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    operator_id: int,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    problems: dict[str, list[forms.FieldProblem]] | None = None,
    values: dict[str, str] | None = None,
    alert: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    actor = common.actor(request)
    d = await service.operator_detail(db_session, operator_id, actor)
    attestations, _ = await service.list_attestations(
        db_session, actor, repo.AttestationQuery(operator_id=operator_id, limit=24)
    )
    today = local_today(settings)
    last = attestations[0][0].competencia if attestations else None
    suggested = (
        ev.competencia_of(ev.month_index(last) + 1) if last else ev.competencia_of(ev.month_index(f"{today:%Y%m}") - 1)
    )
    return Template(
        "ressarcimento/operadora.html",
        context=_ctx(
            d=d,
            op=d.operator,
            attestations=[a for a, _o in attestations],
            suggested=suggested,
            today=today,
            can_manage=d.can_manage and _is_manager(request),
            errors=errors or {},
            problems=problems or {},
            page_forms=OPERATOR_PAGE_FORMS,
            values=values or {},
            alert=alert,
            done=done,
            sizes=OPERATOR_SIZES,
            minimum=ev.minimum(d.operator.minimum_exception),
        ),
        status_code=status_code,
    )


@get("/ressarcimento/operadoras/{operator_id:int}", opt=allow(*READERS), include_in_schema=False)
async def operator_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operator_id: FromPath[int],
    feito: FromQuery[str | None] = None,
) -> Template:
    return await _operator(request, db_session, settings, operator_id, done=DONE_PT.get(feito or ""))


def _spec(name: str, *fields: forms.FieldSpec) -> forms.FormSpec:
    return forms.register(forms.FormSpec(name, fields))


_NOTE = 500  # a note on a step or an attestation: the page has always said 500 characters
#: The operator page's forms (issue 17 item 4): each field's label and limit in one place (the columns' lengths
#: where stored), generated into the page and checked again before the service is asked; a refusal names the
#: fields by label in the form's order and keeps what was typed. ``_SERVICE_NAMES``: form field → service field.
OPERATOR_PAGE_FORMS: dict[str, forms.FormSpec] = {
    "atestar": _spec(
        "ressarcimento_atestar",
        forms.competencia_field(required=True),
        forms.FieldSpec("observacao", "Observação", max_length=_NOTE),
    ),
    "passo": _spec(
        "ressarcimento_passo",
        forms.FieldSpec("para", "Próximo passo", kind="choice"),
        forms.FieldSpec("data", "Data", max_length=10, type="date"),
        forms.FieldSpec("observacao", "Observação", max_length=_NOTE),
        forms.FieldSpec("prorrogar", "Prorrogar a consulta", kind="checkbox"),
    ),
    "valor_maximo": _spec(
        "ressarcimento_valor_maximo",
        forms.FieldSpec(
            "ano",
            "Ano",
            max_length=4,
            pattern="[0-9]{4}",
            pattern_message="Ano com quatro dígitos.",
            required=True,
            inputmode="numeric",
        ),
        forms.FieldSpec("valor", "Valor (R$)", max_length=20, required=True, inputmode="decimal"),
        forms.FieldSpec("ato", "Ato da SAES", max_length=forms.column_length(AnnualMaximum, "act")),
    ),
    "unidade": _spec(
        "ressarcimento_unidade",
        forms.FieldSpec(
            "cnes", "CNES", max_length=forms.column_length(OperatorUnit, "cnes"), required=True, inputmode="numeric"
        ),
        forms.FieldSpec("vinculo", "Vínculo", kind="choice"),
    ),
    "matriz": _spec(
        "ressarcimento_matriz",
        forms.FieldSpec(
            "cnes",
            "CNES da unidade",
            max_length=forms.column_length(MatrixItem, "cnes"),
            required=True,
            inputmode="numeric",
        ),
        forms.FieldSpec("componente", "Componente", kind="choice"),
        forms.FieldSpec("procedimento", "Código SIGTAP", max_length=14, required=True, inputmode="numeric"),
        # the surgery's name is text; 300 characters hold any SIGTAP procedure name
        forms.FieldSpec("nome", "Nome (cirurgia)", max_length=300),
        forms.FieldSpec(
            "valor_principal", "Valor SIGTAP do principal (cirurgia, R$)", max_length=20, inputmode="decimal"
        ),
        forms.FieldSpec("ivr", "IVR (cirurgia)", max_length=12, inputmode="decimal"),
        forms.FieldSpec("qtd_mensal", "Quantidade mensal", max_length=9, required=True, inputmode="numeric"),
        forms.FieldSpec("qtd_anual", "Quantidade anual", max_length=9, required=True, inputmode="numeric"),
        forms.FieldSpec("sublimite", "Sublimite anual (R$)", max_length=20, inputmode="decimal"),
        forms.FieldSpec("estrategico", "Serviço estratégico", kind="checkbox"),
    ),
}
#: The attested month's forms (homologation, COR, sanction: Portaria SAES/MS 2.485/2025, arts. 12 to 14).
OPERATOR_PAGE_FORMS |= {
    "homologacao": _spec(
        "ressarcimento_homologacao",
        forms.FieldSpec("data", "Homologada pela SAES em", max_length=10, type="date"),
        forms.FieldSpec("ato", "Ato", max_length=forms.column_length(Attestation, "homologation_act")),
    ),
    "cor": _spec(
        "ressarcimento_cor",
        forms.FieldSpec(
            "numero", "Número do COR", max_length=forms.column_length(Attestation, "cor_number"), required=True
        ),
        forms.FieldSpec("data", "Emitido em", max_length=10, type="date"),
        forms.FieldSpec("valor", "Valor emitido (R$)", max_length=20, required=True, inputmode="decimal"),
    ),
    "sancao": _spec(
        "ressarcimento_sancao",
        forms.FieldSpec("acao", "Ação", kind="choice"),
        forms.FieldSpec("data", "Data", max_length=10, type="date"),
        forms.FieldSpec("resultado", "Resultado", kind="choice"),
        # the challenge's summary or the decision's grounds (text columns): 2,000 characters, as the page said
        forms.FieldSpec("texto", "Resumo ou fundamentação", max_length=2000),
    ),
}
_SERVICE_NAMES: dict[str, dict[str, str]] = {
    "homologacao": {"data": "on", "ato": "act"},
    "cor": {"numero": "number", "data": "issued_on", "valor": "value_brl"},
    "sancao": {"data": "on", "resultado": "outcome", "texto": "note"},
    "atestar": {"competencia": "competencia", "observacao": "note"},
    "passo": {"para": "to_status", "data": "on_date", "observacao": "note"},
    "valor_maximo": {"ano": "year", "valor": "value_brl", "ato": "act"},
    "unidade": {"cnes": "cnes", "vinculo": "relation"},
    "matriz": {
        "cnes": "cnes",
        "componente": "component",
        "procedimento": "procedure_code",
        "nome": "name",
        "valor_principal": "unit_value_brl",
        "ivr": "ivr",
        "qtd_mensal": "monthly_qty",
        "qtd_anual": "annual_qty",
        "sublimite": "sublimit_brl",
    },
}


def _typed(form: str, data: Struct) -> dict[str, str]:
    """The form's values as typed, trimmed and never cut (a checkbox: "1" when ticked)."""
    out: dict[str, str] = {}
    for f in OPERATOR_PAGE_FORMS[form].fields:
        raw = getattr(data, f.name, "") or ""
        out[f.name] = ("1" if forms.checked(raw) else "") if f.kind == "checkbox" else raw.strip()
    return out


def _limits(form: str, values: dict[str, str]) -> forms.Refusal | None:
    """The form's limits refused by the service's field names (so each message shows next to its field)."""
    names = _SERVICE_NAMES[form]
    errors = OPERATOR_PAGE_FORMS[form].check(values)
    if not errors:
        return None
    return forms.Refusal.of_limits([FieldError(names.get(e.field, e.field), e.code, e.message) for e in errors])


def _operator_form(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    operator_id: int,
    form: str,
    values: dict[str, str],
) -> Callable[[forms.Refusal], Awaitable[Template]]:
    async def rerender(refusal: forms.Refusal) -> Template:
        fields = refusal.fields or {"_": refusal.message}
        spec = OPERATOR_PAGE_FORMS.get(form)
        problems: list[forms.FieldProblem] = []
        if spec is not None:
            back = {v: k for k, v in _SERVICE_NAMES[form].items()}
            problems = spec.problems(FieldError(back.get(e.field, e.field), e.code, e.message) for e in refusal.errors)
        return await _operator(
            request,
            db_session,
            settings,
            operator_id,
            errors={form: fields},
            problems={form: problems},
            values={**values, "_form": form},
            alert=refusal.message,
            status_code=refusal.status_code,
        )

    return rerender


class StepForm(Struct):
    para: str = ""
    data: str = ""
    observacao: str = ""
    prorrogar: str = ""


@post("/ressarcimento/operadoras/{operator_id:int}/passo", opt=allow(*MANAGERS), include_in_schema=False)
async def step_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operator_id: FromPath[int],
    data: Form[StepForm],
) -> Redirect | Template:
    today = local_today(settings)
    values = _typed("passo", data)

    async def call() -> object:
        step = service.StepInput(
            to_status=values["para"],
            on_date=_date(data.data, "on_date", today),
            note=values["observacao"] or None,
            extend_consultation=forms.checked(data.prorrogar),
        )
        return await service.take_step(db_session, operator_id, step, common.actor(request), today)

    rerender = _operator_form(request, db_session, settings, operator_id, "passo", values)
    if (refused := _limits("passo", values)) is not None:
        return await rerender(refused)
    return await forms.submit(
        db_session,
        call,
        redirect=lambda _op: f"/ressarcimento/operadoras/{operator_id}?feito=passo",
        rerender=rerender,
    )


class AnnualMaxForm(Struct):
    ano: str = ""
    valor: str = ""
    ato: str = ""


@post("/ressarcimento/operadoras/{operator_id:int}/valor-maximo", opt=allow(*MANAGERS), include_in_schema=False)
async def annual_max_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operator_id: FromPath[int],
    data: Form[AnnualMaxForm],
) -> Redirect | Template:
    values = _typed("valor_maximo", data)

    async def call() -> object:
        year_text = values["ano"]
        if not year_text.isdigit():
            raise ValidationFailed.for_field("year", "ano_invalido", "Ano com quatro dígitos.")
        value = service.money(data.valor, "value_brl", positive=True)
        assert value is not None
        return await service.set_annual_max(
            db_session,
            operator_id,
            int(year_text),
            value,
            values["ato"] or None,
            common.actor(request),
        )

    rerender = _operator_form(request, db_session, settings, operator_id, "valor_maximo", values)
    if (refused := _limits("valor_maximo", values)) is not None:
        return await rerender(refused)
    return await forms.submit(
        db_session,
        call,
        redirect=lambda _m: f"/ressarcimento/operadoras/{operator_id}?feito=valor_maximo",
        rerender=rerender,
    )


class UnitForm(Struct):
    cnes: str = ""
    vinculo: str = "propria"


@post("/ressarcimento/operadoras/{operator_id:int}/unidades", opt=allow(*MANAGERS), include_in_schema=False)
async def unit_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operator_id: FromPath[int],
    data: Form[UnitForm],
) -> Redirect | Template:
    values = _typed("unidade", data)
    rerender = _operator_form(request, db_session, settings, operator_id, "unidade", values)
    if (refused := _limits("unidade", values)) is not None:
        return await rerender(refused)
    return await forms.submit(
        db_session,
        lambda: service.add_unit(db_session, operator_id, values["cnes"], values["vinculo"], common.actor(request)),
        redirect=lambda _u: f"/ressarcimento/operadoras/{operator_id}?feito=unidade",
        rerender=rerender,
    )


class MatrixForm(Struct):
    cnes: str = ""
    componente: str = "oci"
    procedimento: str = ""
    nome: str = ""
    valor_principal: str = ""
    ivr: str = ""
    qtd_mensal: str = ""
    qtd_anual: str = ""
    sublimite: str = ""
    estrategico: str = ""


def _int(raw: str, field: str) -> int:
    text = (raw or "").strip()
    if not text.isdigit() or len(text) > 9:
        raise ValidationFailed.for_field(field, "quantidade_invalida", "Quantidade: número inteiro, a partir de 0.")
    return int(text)


@post("/ressarcimento/operadoras/{operator_id:int}/matriz", opt=allow(*MANAGERS), include_in_schema=False)
async def matrix_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operator_id: FromPath[int],
    data: Form[MatrixForm],
) -> Redirect | Template:
    values = _typed("matriz", data)

    async def call() -> object:
        ivr_text = values["ivr"].replace(",", ".")
        try:
            ivr = Decimal(ivr_text) if ivr_text else None
        except ArithmeticError:
            raise ValidationFailed.for_field("ivr", "ivr_invalido", "IVR inválido (por exemplo 1,5).") from None
        item = service.MatrixInput(
            cnes=values["cnes"],
            component=values["componente"],
            procedure_code=values["procedimento"],
            monthly_qty=_int(data.qtd_mensal, "monthly_qty"),
            annual_qty=_int(data.qtd_anual, "annual_qty"),
            unit_value_brl=service.money(data.valor_principal, "unit_value_brl", required=False),
            ivr=ivr,
            name=values["nome"] or None,
            sublimit_brl=service.money(data.sublimite, "sublimit_brl", required=False),
            strategic=forms.checked(data.estrategico),
        )
        return await service.add_matrix_item(db_session, settings, operator_id, item, common.actor(request))

    rerender = _operator_form(request, db_session, settings, operator_id, "matriz", values)
    if (refused := _limits("matriz", values)) is not None:
        return await rerender(refused)
    return await forms.submit(
        db_session,
        call,
        redirect=lambda _i: f"/ressarcimento/operadoras/{operator_id}?feito=matriz",
        rerender=rerender,
    )


class AttestForm(Struct):
    competencia: str = ""
    observacao: str = ""


@post("/ressarcimento/operadoras/{operator_id:int}/atestar", opt=allow(*MANAGERS), include_in_schema=False)
async def attest_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operator_id: FromPath[int],
    data: Form[AttestForm],
) -> Redirect | Template:
    values = _typed("atestar", data)
    rerender = _operator_form(request, db_session, settings, operator_id, "atestar", values)
    if (refused := _limits("atestar", values)) is not None:
        return await rerender(refused)
    return await forms.submit(
        db_session,
        lambda: service.attest(
            db_session,
            settings,
            operator_id,
            values["competencia"],
            common.actor(request),
            local_today(settings),
            values["observacao"] or None,
        ),
        redirect=lambda out: (
            f"/ressarcimento/operadoras/{operator_id}/competencias/{out.attestation.competencia}?feito=atestada"
        ),
        rerender=rerender,
    )


# -- one attested month ------------------------------------------------------------------------------------------------


async def _month(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    operator_id: int,
    competencia: str,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    problems: dict[str, list[forms.FieldProblem]] | None = None,
    values: dict[str, str] | None = None,
    alert: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    actor = common.actor(request)
    d = await service.attestation_detail(db_session, operator_id, competencia, actor)
    can = _is_manager(request) and await repo.manageable(db_session, actor, d.operator)
    by_region: dict[str, Decimal] = {}
    unauthorized: dict[str, Decimal] = {}
    for i in d.items:
        target = by_region if i.authorized else unauthorized
        target[i.region] = target.get(i.region, Decimal(0)) + i.value_brl
    today = local_today(settings)
    window_open = (
        d.sanction is not None
        and d.sanction.status == "notificada"
        and d.sanction.challenge_deadline is not None
        and today <= d.sanction.challenge_deadline
    )
    return Template(
        "ressarcimento/competencia.html",
        context=_ctx(
            d=d,
            op=d.operator,
            a=d.attestation,
            s=d.sanction,
            difference=service.cor_difference(d.attestation),
            by_region=sorted(by_region.items()),
            unauthorized=sorted(unauthorized.items()),
            threshold=ev.cor_threshold(d.operator.minimum_exception),
            window_open=window_open,
            days_left=(d.sanction.challenge_deadline - today).days
            if d.sanction is not None and d.sanction.challenge_deadline is not None
            else None,
            window_days=rules.CHALLENGE_DAYS,
            today=today,
            can_manage=can,
            errors=errors or {},
            problems=problems or {},
            page_forms=OPERATOR_PAGE_FORMS,
            values=values or {},
            alert=alert,
            done=done,
        ),
        status_code=status_code,
    )


def _month_url(operator_id: int, competencia: str, done: str) -> str:
    return f"/ressarcimento/operadoras/{operator_id}/competencias/{competencia}?feito={done}"


@get(
    "/ressarcimento/operadoras/{operator_id:int}/competencias/{competencia:str}",
    opt=allow(*READERS),
    include_in_schema=False,
)
async def month_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operator_id: FromPath[int],
    competencia: FromPath[str],
    feito: FromQuery[str | None] = None,
) -> Template:
    return await _month(request, db_session, settings, operator_id, competencia, done=DONE_PT.get(feito or ""))


def _month_form(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    operator_id: int,
    competencia: str,
    form: str,
    spec_key: str | None = None,
    values: dict[str, str] | None = None,
) -> Callable[[forms.Refusal], Awaitable[Template]]:
    key = spec_key or form

    async def rerender(refusal: forms.Refusal) -> Template:
        back = {v: k for k, v in _SERVICE_NAMES[key].items()}
        named = (FieldError(back.get(e.field, e.field), e.code, e.message) for e in refusal.errors)
        return await _month(
            request,
            db_session,
            settings,
            operator_id,
            competencia,
            errors={form: refusal.fields or {"_": refusal.message}},
            problems={form: OPERATOR_PAGE_FORMS[key].problems(named)},
            values={**(values or {}), "_form": form},
            alert=refusal.message,
            status_code=refusal.status_code,
        )

    return rerender


class HomologationForm(Struct):
    data: str = ""
    ato: str = ""


@post(
    "/ressarcimento/operadoras/{operator_id:int}/competencias/{competencia:str}/homologacao",
    opt=allow(*MANAGERS),
    include_in_schema=False,
)
async def homologation_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operator_id: FromPath[int],
    competencia: FromPath[str],
    data: Form[HomologationForm],
) -> Redirect | Template:
    today = local_today(settings)
    values = _typed("homologacao", data)
    rerender = _month_form(request, db_session, settings, operator_id, competencia, "homologacao", values=values)
    if (refused := _limits("homologacao", values)) is not None:
        return await rerender(refused)
    return await forms.submit(
        db_session,
        lambda: service.record_homologation(
            db_session,
            operator_id,
            competencia,
            _date(data.data, "on", today),
            values["ato"] or None,
            common.actor(request),
            today,
        ),
        redirect=lambda _a: _month_url(operator_id, competencia, "homologada"),
        rerender=rerender,
    )


class CorForm(Struct):
    numero: str = ""
    data: str = ""
    valor: str = ""


@post(
    "/ressarcimento/operadoras/{operator_id:int}/competencias/{competencia:str}/cor",
    opt=allow(*MANAGERS),
    include_in_schema=False,
)
async def cor_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operator_id: FromPath[int],
    competencia: FromPath[str],
    data: Form[CorForm],
) -> Redirect | Template:
    today = local_today(settings)
    values = _typed("cor", data)

    async def call() -> object:
        value = service.money(data.valor, "value_brl")
        assert value is not None
        return await service.record_cor(
            db_session,
            operator_id,
            competencia,
            number=values["numero"],
            issued_on=_date(data.data, "issued_on", today),
            value=value,
            actor=common.actor(request),
            today=today,
        )

    rerender = _month_form(request, db_session, settings, operator_id, competencia, "cor", values=values)
    if (refused := _limits("cor", values)) is not None:
        return await rerender(refused)
    return await forms.submit(
        db_session,
        call,
        redirect=lambda _a: _month_url(operator_id, competencia, "cor"),
        rerender=rerender,
    )


class SanctionForm(Struct):
    acao: str = ""  # notificar | impugnar | decidir
    data: str = ""
    texto: str = ""
    resultado: str = ""


@post(
    "/ressarcimento/operadoras/{operator_id:int}/competencias/{competencia:str}/sancao",
    opt=allow(*MANAGERS),
    include_in_schema=False,
)
async def sanction_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operator_id: FromPath[int],
    competencia: FromPath[str],
    data: Form[SanctionForm],
) -> Redirect | Template:
    today = local_today(settings)
    actor = common.actor(request)
    values = _typed("sancao", data)
    action = values["acao"]

    async def call() -> str:
        d = await service.attestation_detail(db_session, operator_id, competencia, actor)
        if d.sanction is None:
            raise ValidationFailed.for_field("acao", "sem_sancao", "Não há sanção proposta nesta competência.")
        sid = d.sanction.id or 0
        if action == "notificar":
            await service.notify_sanction(db_session, sid, _date(data.data, "on", today), actor, today)
            return "notificada"
        if action == "impugnar":
            await service.record_challenge(
                db_session, sid, _date(data.data, "on", today), values["texto"], actor, today
            )
            return "impugnada"
        if action == "decidir":
            await service.decide_challenge(
                db_session,
                sid,
                values["resultado"],
                values["texto"] or None,
                actor,
                today,
            )
            return "decidida"
        raise ValidationFailed.for_field("acao", "acao_invalida", "Ação desconhecida.")

    # the form's errors are shown under the action's form (notificar, impugnar or decidir)
    form = action if action in ("notificar", "impugnar", "decidir") else "sancao"
    rerender = _month_form(request, db_session, settings, operator_id, competencia, form, "sancao", values)
    if (refused := _limits("sancao", values)) is not None:
        return await rerender(refused)
    return await forms.submit(
        db_session,
        call,
        redirect=lambda done: _month_url(operator_id, competencia, done),
        rerender=rerender,
    )


# -- lists across operators ------------------------------------------------------------------------------------------


#: The attestations' filter: the month as AAAAMM (its meaning — a real month — is the service's to check).
ATTESTATIONS_FILTER_FORM = forms.register(
    forms.FormSpec(
        "ressarcimento_atestados_filtro",
        (
            forms.FieldSpec("operadora", "Operadora", kind="choice"),
            forms.competencia_field("Competência"),
            forms.FieldSpec("situacao", "Situação", kind="choice"),
            forms.FieldSpec("abaixo_90", "Só meses abaixo de 90%", kind="checkbox"),
        ),
    )
)


@get("/ressarcimento/atestados", opt=allow(*READERS), include_in_schema=False)
async def attestations_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    operadora: OptionalId = None,
    competencia: FromQuery[str | None] = None,
    situacao: FromQuery[str | None] = None,
    abaixo_90: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
    formato: FromQuery[str | None] = None,
) -> Template | Response[bytes]:
    actor = common.actor(request)
    if formato:
        return _download(await service.build_report(db_session, actor, "atestados", 0), formato)
    errors: dict[str, str] = ATTESTATIONS_FILTER_FORM.field_messages(
        ATTESTATIONS_FILTER_FORM.check({"competencia": (competencia or "").strip()})
    )
    comp = None
    if competencia and not errors:
        try:
            comp = service.competencia(competencia)
        except ValidationFailed as exc:
            errors["competencia"] = exc.message
    sort = ordem or "-competencia"
    page_no = common.page_number(pagina)
    query = repo.AttestationQuery(
        operator_id=operadora,
        competencia=comp,
        status=situacao or None,
        below_90=forms.checked(abaixo_90),
        sort=sort.lstrip("-"),
        descending=sort.startswith("-"),
        offset=(page_no - 1) * common.PAGE_SIZE,
        limit=common.PAGE_SIZE,
    )
    rows, total = await service.list_attestations(db_session, actor, query)
    q = {
        "operadora": str(operadora or ""),
        "competencia": competencia or "",
        "situacao": situacao or "",
        "abaixo_90": abaixo_90 or "",
        "ordem": ordem or "",
    }
    return Template(
        "ressarcimento/atestados.html",
        context=_ctx(
            rows=[(a, o, service.cor_difference(a)) for a, o in rows],
            page=common.Page(page_no, common.PAGE_SIZE, total),
            path="/ressarcimento/atestados",
            q=q,
            operators=await repo.all_readable_operators(db_session, actor),
            errors=errors,
        ),
        status_code=422 if errors else 200,
    )


@get("/ressarcimento/sancoes", opt=allow(*READERS), include_in_schema=False)
async def sanctions_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    operadora: OptionalId = None,
    situacao: FromQuery[str | None] = None,
    tipo: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
    formato: FromQuery[str | None] = None,
) -> Template | Response[bytes]:
    actor = common.actor(request)
    if formato:
        return _download(await service.build_report(db_session, actor, "sancoes", 0), formato)
    sort = ordem or "-competencia"
    page_no = common.page_number(pagina)
    query = repo.SanctionQuery(
        operator_id=operadora,
        status=situacao or None,
        kind=tipo or None,
        sort=sort.lstrip("-"),
        descending=sort.startswith("-"),
        offset=(page_no - 1) * common.PAGE_SIZE,
        limit=common.PAGE_SIZE,
    )
    rows, total = await service.list_sanctions(db_session, actor, query)
    q = {"operadora": str(operadora or ""), "situacao": situacao or "", "tipo": tipo or "", "ordem": ordem or ""}
    return Template(
        "ressarcimento/sancoes.html",
        context=_ctx(
            rows=rows,
            page=common.Page(page_no, common.PAGE_SIZE, total),
            path="/ressarcimento/sancoes",
            q=q,
            operators=await repo.all_readable_operators(db_session, actor),
            today=local_today(settings),
        ),
    )


@get("/ressarcimento/tetos", opt=allow(*READERS), include_in_schema=False)
async def caps_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    ano: FromQuery[int | None] = None,
    pagina: FromQuery[int | None] = None,
    formato: FromQuery[str | None] = None,
) -> Template | Response[bytes]:
    actor = common.actor(request)
    year = ano if ano is not None and 2025 <= ano <= 2100 else local_today(settings).year
    if formato:
        return _download(await service.build_report(db_session, actor, "tetos", year), formato)
    operators = await repo.all_readable_operators(db_session, actor)
    page_no = common.page_number(pagina)
    size = 20
    pg = common.Page(page_no, size, len(operators))
    views = [
        await service.caps_used(db_session, o.id or 0, year, actor) for o in operators[pg.offset : pg.offset + size]
    ]
    return Template(
        "ressarcimento/tetos.html",
        context=_ctx(views=views, year=year, page=pg, path="/ressarcimento/tetos", q={"ano": str(year)}),
    )


ROUTES = [
    operators_page,
    create_operator_page,
    operator_page,
    step_page,
    annual_max_page,
    unit_page,
    matrix_page,
    attest_page,
    month_page,
    homologation_page,
    cor_page,
    sanction_page,
    attestations_page,
    sanctions_page,
    caps_page,
]
