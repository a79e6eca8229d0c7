"""Pages of the 2023 queue-reduction program (Portaria GM/MS 90/2023) for managers and auditors.

* ``/programas/reducao-filas-2023``: the UFs the user reads — the Annex's share and up-front third, the plan in force
  and what was paid (sortable, filterable, paged; CSV and XLSX downloads).
* ``/programas/reducao-filas-2023/{uf}``: a UF's state plan (or one of its versions): target, schedule, procedures
  per executing service, payments and what is left; a gestor of the UF records the CIB/SAES approval and payments
  here. Writing a plan version (procedures by the hundred) is done through the API
  (``POST /api/v1/programs/queue-reduction-2023/plans/{uf}``) or a spreadsheet import by a script; the page shows it.

Pages only translate forms into the services' arguments (the same the API calls) and their answers into pages.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.config import Settings
from regula.core.clock import local_today
from regula.core.errors import FieldError, ValidationFailed
from regula.programs import reports, service_2023
from regula.programs.models_2023 import QueuePlan2023, QueuePlan2023Payment
from regula.programs.money import brl
from regula.programs.percapita_2023 import NUMBERING_DIGIT
from regula.web import common, forms
from regula.web.forms import Form

READERS = (Role.GESTOR, Role.AUDITOR)
PATH = "/programas/reducao-filas-2023"
STATUS_LABELS_PT = {"": "Sem plano", "rascunho": "Em elaboração", "aprovado": "Aprovado", "substituido": "Substituído"}
KIND_LABELS_PT = {"antecipacao": "⅓ antecipado (art. 8 §3 I)", "producao": "Produção SIA/SIH (art. 8 §3 II)"}
SORTS = {
    "uf": lambda r: r.share.uf_code,
    "populacao": lambda r: r.share.population,
    "valor": lambda r: r.share.amount,
    "pago": lambda r: r.paid_upfront + r.paid_production,
    "situacao": lambda r: r.plan.status if r.plan else "",
}


def _money(value: Decimal | None) -> str:
    return "—" if value is None else brl(value)


def _ctx(**values: Any) -> dict[str, Any]:
    return {"brl": _money, "status_labels": STATUS_LABELS_PT, "kind_labels": KIND_LABELS_PT, **values}


def _download(report: reports.Report, fmt: str, stem: str) -> Response[bytes]:
    if fmt == "csv":
        content, media_type = reports.to_csv(report), reports.CSV_MEDIA_TYPE
    elif fmt == "xlsx":
        content, media_type = reports.to_xlsx(report), reports.XLSX_MEDIA_TYPE
    else:
        raise ValidationFailed.for_field("formato", "formato_invalido", "Formato: csv ou xlsx.")
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'}
    )


def _overview_report(rows: list[service_2023.UfRow]) -> reports.Report:
    return reports.Report(
        title="Programa Nacional de Redução das Filas (Portaria GM/MS 90/2023) — distribuição e pagamentos por UF",
        columns=[
            reports.Column("Cód. UF"),
            reports.Column("UF"),
            reports.Column("População TCU 2021", "integer"),
            reports.Column("Proporção per capita (R$)", "money"),
            reports.Column("⅓ antecipado (R$)", "money"),
            reports.Column("Situação do plano"),
            reports.Column("Versão", "integer"),
            reports.Column("Pago antecipado (R$)", "money"),
            reports.Column("Pago por produção (R$)", "money"),
        ],
        rows=[
            [
                r.share.uf_code,
                r.share.uf,
                r.share.population,
                r.share.amount,
                r.share.upfront,
                STATUS_LABELS_PT[r.plan.status if r.plan else ""],
                r.plan.version if r.plan else None,
                r.paid_upfront,
                r.paid_production,
            ]
            for r in rows
        ],
        notes=["Fonte: Portaria GM/MS 90/2023, Anexo (IBGE/TCU 2021); pagamentos registrados no regula."],
    )


@get(PATH, opt=allow(*READERS), include_in_schema=False)
async def overview_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    uf: FromQuery[str | None] = None,
    situacao: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
    formato: FromQuery[str | None] = None,
) -> Template | Response[bytes]:
    q = {"uf": (uf or "").strip().upper()[:2], "situacao": (situacao or "")[:12], "ordem": (ordem or "")[:12]}
    rows = await service_2023.overview(db_session, common.actor(request))
    choices = [r.share.uf for r in rows]
    if q["uf"]:
        rows = [r for r in rows if r.share.uf == q["uf"]]
    if q["situacao"]:
        rows = [r for r in rows if (r.plan.status if r.plan else "sem") == q["situacao"]]
    key = q["ordem"].lstrip("-") if q["ordem"].lstrip("-") in SORTS else "uf"
    rows.sort(key=SORTS[key], reverse=q["ordem"].startswith("-"))
    if formato:
        return _download(_overview_report(rows), formato, "reducao-filas-2023")
    page_no = common.page_number(pagina)
    page = common.Page(page_no, common.PAGE_SIZE, len(rows))
    return Template(
        "programas/reducao_filas_2023.html",
        context=_ctx(
            rows=rows[page.offset : page.offset + page.size],
            page=page,
            path=PATH,
            q=q,
            ufs=choices,
            totals={
                "amount": sum((r.share.amount for r in rows), Decimal(0)),
                "upfront": sum((r.share.upfront for r in rows), Decimal(0)),
                "paid": sum((r.paid_upfront + r.paid_production for r in rows), Decimal(0)),
            },
        ),
    )


def _items_report(view: service_2023.PlanView) -> reports.Report:
    p = view.plan
    return reports.Report(
        title=f"Plano Estadual de Redução das Filas — {p.uf}, versão {p.version}: procedimentos por serviço",
        columns=[
            reports.Column("Procedimento (SIGTAP)"),
            reports.Column("Serviço executante (CNES)"),
            reports.Column("Instrumento"),
            reports.Column("5º dígito da autorização"),
            reports.Column("Quantidade", "integer"),
            reports.Column("Valor Tabela SUS (R$)", "money"),
            reports.Column("Complemento federal (R$)", "money"),
            reports.Column("Total previsto (R$)", "money"),
        ],
        rows=[
            [
                i.procedure_code,
                i.cnes,
                i.instrument.upper(),
                NUMBERING_DIGIT[i.instrument],
                i.quantity,
                i.table_value,
                i.complement,
                i.quantity * (i.table_value + i.complement),
            ]
            for i in view.items
        ],
        notes=["Portaria GM/MS 90/2023, art. 6 (plano), art. 9 (complemento até 100%) e art. 10 (registro)."],
    )


async def _plan(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    uf: str,
    *,
    version: int | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    problems: list[forms.FieldProblem] | None = None,
    values: dict[str, str] | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Template:
    view = await service_2023.view(db_session, common.actor(request), uf, version=version)
    return Template(
        "programas/reducao_filas_2023_uf.html",
        context=_ctx(
            v=view,
            p=view.plan,
            t=view.totals,
            digits=NUMBERING_DIGIT,
            path=f"{PATH}/{view.plan.uf}",
            errors=errors or {},
            problems=problems or [],
            values=values or {},
            alert=alert,
            done=DONE_PT.get(request.query_params.get("feito") or ""),
        ),
        status_code=status_code,
    )


DONE_PT = {"aprovado": "Aprovação registrada.", "pagamento": "Pagamento registrado."}


@get(PATH + "/{uf:str}", opt=allow(*READERS), include_in_schema=False)
async def plan_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    uf: FromPath[str],
    versao: FromQuery[int | None] = None,
    formato: FromQuery[str | None] = None,
) -> Template | Response[bytes]:
    version = versao if versao and 0 < versao < 100_000 else None
    if formato:
        view = await service_2023.view(db_session, common.actor(request), uf[:2], version=version)
        return _download(_items_report(view), formato, f"plano-reducao-filas-2023-{view.plan.uf}-v{view.plan.version}")
    return await _plan(request, db_session, uf[:2], version=version)


class ApprovalForm(Struct):
    resolucao_cib: str = ""
    data_cib: str = ""
    data_saes: str = ""


class PaymentForm(Struct):
    tipo: str = ""
    data: str = ""
    valor: str = ""
    competencia: str = ""
    instrumento: str = ""
    observacao: str = ""


_APPROVAL_FIELDS = {"cib_resolution": "resolucao_cib", "cib_resolution_on": "data_cib", "saes_approved_on": "data_saes"}
_PAYMENT_FIELDS = {
    "kind": "tipo",
    "paid_on": "data",
    "amount": "valor",
    "competencia": "competencia",
    "instrument": "instrumento",
    "note": "observacao",
}


#: The plan's approval and payment forms (Portaria GM/MS 90/2023, art. 4 §1 and §3, art. 8 §3; issue 17 item 4):
#: limits from the columns, generated into the page, checked again before the service is asked.
APPROVAL_FORM = forms.register(
    forms.FormSpec(
        "reducao_filas_2023_aprovacao",
        (
            forms.FieldSpec(
                "resolucao_cib",
                "Resolução CIB",
                max_length=forms.column_length(QueuePlan2023, "cib_resolution"),
                required=True,
            ),
            forms.FieldSpec("data_cib", "Data da resolução CIB", max_length=10, required=True),
            forms.FieldSpec("data_saes", "Data da aprovação SAES", max_length=10, required=True),
        ),
    )
)
PAYMENT_FORM = forms.register(
    forms.FormSpec(
        "reducao_filas_2023_pagamento",
        (
            forms.FieldSpec("tipo", "Tipo", kind="choice"),
            forms.FieldSpec("data", "Data do pagamento", max_length=10, required=True),
            forms.FieldSpec(
                "valor", "Valor (R$; negativo para estorno)", max_length=30, required=True, inputmode="decimal"
            ),
            forms.FieldSpec(
                "competencia",
                "Competência da produção (AAAAMM)",
                max_length=forms.column_length(QueuePlan2023Payment, "competencia"),
                inputmode="numeric",
            ),
            forms.FieldSpec("instrumento", "Instrumento da produção", kind="choice"),
            # the note is text; 4,000 characters hold any explanation of a payment
            forms.FieldSpec("observacao", "Observação", max_length=4000),
        ),
    )
)


def _named(names: dict[str, str], refusal: forms.Refusal) -> list[FieldError]:
    """The refusal's errors named by the form's fields (the service's ``paid_on`` is the form's ``data``)."""
    return [FieldError(names.get(e.field, e.field), e.code, e.message) for e in refusal.errors]


def _form_date(raw: str, field: str) -> date:
    parsed = common.parse_date_br(raw)
    if parsed is None:
        raise ValidationFailed.for_field(field, "data_invalida", "Data inválida (use DD/MM/AAAA).")
    return parsed


@post(PATH + "/{uf:str}/aprovacao", opt=allow(Role.GESTOR), include_in_schema=False)
async def approval_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    uf: FromPath[str],
    data: Form[ApprovalForm],
) -> Redirect | Template:
    values = {k: (getattr(data, k) or "").strip() for k in ("resolucao_cib", "data_cib", "data_saes")}

    async def call() -> service_2023.PlanView:
        return await service_2023.approve(
            db_session,
            common.actor(request),
            uf[:2],
            cib_resolution=values["resolucao_cib"],
            cib_resolution_on=_form_date(data.data_cib, "cib_resolution_on"),
            saes_approved_on=_form_date(data.data_saes, "saes_approved_on"),
            today=local_today(settings),
        )

    async def rerender(refusal: forms.Refusal) -> Template:
        named = _named(_APPROVAL_FIELDS, refusal)
        return await _plan(
            request,
            db_session,
            uf[:2],
            errors={"aprovacao": APPROVAL_FORM.field_messages(named)},
            problems=APPROVAL_FORM.problems(named),
            values=values,
            alert=refusal.message,
            status_code=refusal.status_code,
        )

    limits = APPROVAL_FORM.check(values)
    if limits:  # refused by name, before the service is asked
        return await rerender(forms.Refusal.of_limits(limits))
    return await forms.submit(
        db_session, call, redirect=lambda v: f"{PATH}/{v.plan.uf}?feito=aprovado", rerender=rerender
    )


@post(PATH + "/{uf:str}/pagamentos", opt=allow(Role.GESTOR), include_in_schema=False)
async def payment_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    uf: FromPath[str],
    data: Form[PaymentForm],
) -> Redirect | Template:
    names = ("tipo", "data", "valor", "competencia", "instrumento", "observacao")
    values = {k: (getattr(data, k) or "").strip() for k in names}

    async def call() -> service_2023.PlanView:
        return await service_2023.record_payment(
            db_session,
            common.actor(request),
            uf[:2],
            kind=values["tipo"],
            paid_on=_form_date(data.data, "paid_on"),
            amount=values["valor"],
            competencia=values["competencia"] or None,
            instrument=values["instrumento"] or None,
            note=values["observacao"] or None,
            today=local_today(settings),
        )

    async def rerender(refusal: forms.Refusal) -> Template:
        named = _named(_PAYMENT_FIELDS, refusal)
        return await _plan(
            request,
            db_session,
            uf[:2],
            errors={"pagamento": PAYMENT_FORM.field_messages(named)},
            problems=PAYMENT_FORM.problems(named),
            values=values,
            alert=refusal.message,
            status_code=refusal.status_code,
        )

    limits = PAYMENT_FORM.check(values)
    if limits:  # refused by name, before the service is asked
        return await rerender(forms.Refusal.of_limits(limits))
    return await forms.submit(
        db_session, call, redirect=lambda v: f"{PATH}/{v.plan.uf}?feito=pagamento", rerender=rerender
    )


ROUTES: list[ControllerRouterHandler] = [overview_page, plan_page, approval_page, payment_page]
