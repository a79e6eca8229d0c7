"""Managers' pages for what regula asks and checks about each referral (decision 0020):

* ``/gestao/protocolos`` — every OCI with its referral protocol in force (Portaria GM/MS 3.492/2024 art. 10 §1 III):
  filter by name/code and by the teleconsultation gate, sort, pages; ``/gestao/protocolos/{code}`` — the version in
  force, every version with its reason, and (for a state manager) the form of a new version effective from a date;
* ``/gestao/identificacao`` — citizens' records that break Portaria SAES art. 11 (indigenous people identified by
  CNS), reported for correction, never changed by regula.

The rules are ``regula.catalog.protocols``' and ``regula.people.identification``'s; these pages only translate.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.catalog import protocols
from regula.catalog.protocols import ChecklistItem, ProtocolDraft
from regula.config import Settings
from regula.core.errors import FieldError, NotFound, ValidationFailed
from regula.people import service as people
from regula.people.identification import ISSUES
from regula.territory.reference import search_key
from regula.waitlist import service as wl
from regula.web import common, forms
from regula.web.forms import Form

READERS = (Role.GESTOR, Role.AUDITOR, Role.REGULADOR)
IDENTIFICATION_VIEWERS = (Role.GESTOR, Role.AUDITOR)
ORDERS: Final = {"codigo": "Código da OCI", "nome": "Nome da OCI", "alteracao": "Versão mais recente"}
TELECONSULTA: Final = {"": "Todas", "sim": "Com teleconsulta prévia", "nao": "Sem teleconsulta prévia"}
IDENTIFICATION_ORDERS: Final = {"id": "Cadastro", "name": "Nome", "municipality": "Município"}
BLANK_ROWS: Final = 3  # empty checklist rows offered on the form
DONE_PT: Final = {"criada": "Nova versão do protocolo gravada."}


# -- the list of OCIs with their protocol in force ------------------------------------------------------------------


#: The OCIs' filter: an OCI's name fits in 200 characters; a longer search is refused by its label.
LIST_FILTER_FORM = forms.register(
    forms.FormSpec(
        "protocolos_filtro",
        (
            forms.FieldSpec("busca", "OCI (nome ou código)", max_length=200, type="search"),
            forms.FieldSpec("teleconsulta", "Teleconsulta prévia", kind="choice"),
            forms.FieldSpec("ordem", "Ordenar por", kind="choice"),
        ),
    )
)


@get("/gestao/protocolos", opt=allow(*READERS), include_in_schema=False)
async def protocol_list(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    busca: FromQuery[str | None] = None,
    teleconsulta: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
) -> Template:
    catalog = await wl.load_catalog(db_session, settings)
    order = ordem if ordem in ORDERS else "codigo"
    gate = teleconsulta if teleconsulta in TELECONSULTA else ""
    rows = [(oci, catalog.protocols[oci.code]) for oci in catalog.ocis.values()]
    limits = LIST_FILTER_FORM.check({"busca": (busca or "").strip()})
    if busca and busca.strip() and not limits:
        key = search_key(busca)
        rows = [(o, p) for o, p in rows if key in search_key(o.name) or o.code.startswith(busca.strip())]
    if gate:
        rows = [(o, p) for o, p in rows if p.teleconsultation_required == (gate == "sim")]
    if order == "nome":
        rows.sort(key=lambda r: (search_key(r[0].name), r[0].code))
    elif order == "alteracao":
        rows.sort(key=lambda r: (-r[1].version, r[0].code))
    else:
        rows.sort(key=lambda r: r[0].code)
    page = common.Page(common.page_number(pagina), common.PAGE_SIZE, len(rows))
    shown = [
        {"oci": o, "protocol": p, "times": protocols.care_times(p, settings)}
        for o, p in rows[page.offset : page.offset + page.size]
    ]
    return Template(
        "gestao/protocolos.html",
        context={
            "rows": shown,
            "page": page,
            "q": {"busca": busca or "", "teleconsulta": gate, "ordem": order},
            "orders": ORDERS,
            "gates": TELECONSULTA,
            "filter_form": LIST_FILTER_FORM,
            "filter_errors": LIST_FILTER_FORM.field_messages(limits),
        },
        status_code=422 if limits else 200,
    )


# -- one OCI: its versions and the form of a new one ---------------------------------------------------------------


_DAYS_MESSAGE = "Informe o prazo em dias (número inteiro) ou deixe vazio."
#: The new-version form (Portaria SAES/MS 2.485/2025, art. 10 §1 III; issue 17 item 4): every field's limit in one
#: place, generated into the page and checked again before the service is asked. The service keeps the rules (a
#: reason of at least 10 letters, the key's format, the CIDs, 1 to 365 days).
PROTOCOL_FORM = forms.register(
    forms.FormSpec(
        "protocolo_versao",
        (
            forms.FieldSpec("vigencia", "Vigente a partir de", max_length=10, type="date", required=True),
            forms.FieldSpec(
                "motivo",
                "Motivo da mudança",
                max_length=2000,
                min_length=10,
                min_message="Explique o motivo da nova versão (mínimo 10 letras).",
                required=True,
                kind="textarea",
            ),
            forms.FieldSpec("checklist", "Checklist que a APS confirma", kind="checklist"),
            forms.FieldSpec("item_chave", "Chave do item", max_length=60),
            forms.FieldSpec("item_rotulo", "O que a APS confirma", max_length=300),
            forms.FieldSpec("item_tipo", "Tipo", kind="choice"),
            forms.FieldSpec("exames", "Exames exigidos", max_length=4000, kind="textarea"),
            forms.FieldSpec("cids", "CIDs aceitos", max_length=2000),
            forms.FieldSpec(
                "orientacoes", "Orientações para a classificação de risco", max_length=4000, kind="textarea"
            ),
            forms.FieldSpec("teleconsulta", "Exigir teleconsulta", kind="checkbox"),
            forms.FieldSpec(
                "tr_dias",
                "tR, tempo recomendado (dias)",
                max_length=3,
                pattern="[0-9]{1,3}",
                pattern_message=_DAYS_MESSAGE,
                inputmode="numeric",
            ),
            forms.FieldSpec(
                "tm_dias",
                "tM, tempo máximo (dias)",
                max_length=3,
                pattern="[0-9]{1,3}",
                pattern_message=_DAYS_MESSAGE,
                inputmode="numeric",
            ),
        ),
    )
)


def _limits(values: dict[str, Any]) -> list[FieldError]:
    """The form's limits, a checklist row's named by its row (``checklist[n].key``, as the service names them)."""
    errors = PROTOCOL_FORM.check(values)
    for n, (key, label, _kind) in enumerate(values["items"]):
        for name, part, value in (("item_chave", "key", key), ("item_rotulo", "label", label)):
            errors += [
                FieldError(f"checklist[{n}].{part}", e.code, f"{PROTOCOL_FORM[name].label}: {e.message}")
                for e in PROTOCOL_FORM.check({name: value})
            ]
    return errors


class ProtocolForm(Struct):
    """The new-version form as typed: rows of checklist items (key, label, required or optional), one exam and
    one hint per line, CIDs separated by commas or spaces."""

    vigencia: str = ""
    motivo: str = ""
    item_chave: list[str] | str = []
    item_rotulo: list[str] | str = []
    item_tipo: list[str] | str = []
    exames: str = ""
    cids: str = ""
    orientacoes: str = ""
    teleconsulta: str = ""
    tr_dias: str = ""
    tm_dias: str = ""


def _values_of(protocol: protocols.Protocol, today: date) -> dict[str, Any]:
    """The form prefilled with the version in force (a new version usually changes a little of it)."""
    return {
        "vigencia": today.isoformat(),
        "motivo": "",
        "items": [(i.key, i.label, "obrigatorio" if i.required else "opcional") for i in protocol.checklist],
        "exames": "\n".join(protocol.required_exams),
        "cids": ", ".join(protocol.accepted_cids),
        "orientacoes": "\n".join(protocol.priority_hints),
        "teleconsulta": protocol.teleconsultation_required,
        "tr_dias": "" if protocol.tr_days is None else str(protocol.tr_days),
        "tm_dias": "" if protocol.tm_days is None else str(protocol.tm_days),
    }


def _form_values(data: ProtocolForm) -> dict[str, Any]:
    keys, labels, kinds = forms.many(data.item_chave), forms.many(data.item_rotulo), forms.many(data.item_tipo)
    items = []
    for n in range(max(len(keys), len(labels))):
        # trimmed, never cut: a value beyond its limit is refused by name and shown again as typed
        key = (keys[n] if n < len(keys) else "").strip()
        label = (labels[n] if n < len(labels) else "").strip()
        kind = kinds[n] if n < len(kinds) else "obrigatorio"
        if key or label:
            items.append((key, label, "opcional" if kind == "opcional" else "obrigatorio"))
    return {
        "vigencia": (data.vigencia or "").strip(),
        "motivo": (data.motivo or "").strip(),
        "items": items,
        "exames": (data.exames or "").strip(),
        "cids": (data.cids or "").strip(),
        "orientacoes": (data.orientacoes or "").strip(),
        "teleconsulta": forms.checked(data.teleconsulta),
        "tr_dias": (data.tr_dias or "").strip(),
        "tm_dias": (data.tm_dias or "").strip(),
    }


def _days(raw: str, name: str, errors: list[FieldError]) -> int | None:
    if not raw:
        return None
    if not raw.isdigit():
        errors.append(FieldError(name, "prazo_invalido", "Informe o prazo em dias (número inteiro) ou deixe vazio."))
        return None
    return int(raw)


def _draft(values: dict[str, Any]) -> ProtocolDraft:
    """The form as the service's draft; what the page cannot read (a date, a number) is a field error."""
    errors: list[FieldError] = []
    day = common.parse_date_br(values["vigencia"])
    if day is None:
        errors.append(FieldError("effective_from", "data_invalida", "Informe a data de início da vigência."))
    tr, tm = _days(values["tr_dias"], "tr_days", errors), _days(values["tm_dias"], "tm_days", errors)
    if errors:
        raise ValidationFailed("Protocolo inválido.", errors=errors)
    assert day is not None
    return ProtocolDraft(
        effective_from=day,
        reason=values["motivo"],
        checklist=tuple(ChecklistItem(k, label, kind == "obrigatorio") for k, label, kind in values["items"]),
        required_exams=tuple(line for line in values["exames"].splitlines() if line.strip()),
        accepted_cids=tuple(values["cids"].replace(",", " ").split()),
        priority_hints=tuple(line for line in values["orientacoes"].splitlines() if line.strip()),
        teleconsultation_required=values["teleconsulta"],
        tr_days=tr,
        tm_days=tm,
    )


_FIELD_NAMES: Final = {
    "effective_from": "vigencia",
    "reason": "motivo",
    "accepted_cids": "cids",
    "tr_days": "tr_dias",
    "tm_days": "tm_dias",
}


def _form_errors(errors: tuple[FieldError, ...]) -> list[FieldError]:
    """Service field names → the form's; a checklist row's error is the checklist's, naming its row."""
    named: list[FieldError] = []
    for e in errors:
        name = e.field.split("[")[0].split(".")[0]
        if name == "checklist" and "[" in e.field:
            row = int(e.field.split("[")[1].split("]")[0]) + 1
            named.append(FieldError("checklist", e.code, f"Item {row}: {e.message}"))
            continue
        named.append(FieldError(_FIELD_NAMES.get(name, name), e.code, e.message))
    return named


def _page_errors(errors: tuple[FieldError, ...]) -> dict[str, str]:
    """The message next to each field (the first one of a field)."""
    shown: dict[str, str] = {}
    for e in _form_errors(errors):
        shown.setdefault(e.field, e.message)
    return shown


async def _detail(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    code: str,
    *,
    done: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    problems: list[forms.FieldProblem] | None = None,
    alert: str | None = None,
    pagina: int | None = None,
    status_code: int = 200,
) -> Template:
    catalog = await wl.load_catalog(db_session, settings)
    oci = catalog.ocis.get(code)
    if oci is None:
        raise NotFound(f"A OCI {code} não está no catálogo SIGTAP vigente.", code="oci_nao_encontrada")
    today = wl.local_today(settings)
    in_force = catalog.protocols[code]
    page_no = common.page_number(pagina)
    history = await protocols.list_versions(
        db_session, settings, today, oci_code=code, offset=(page_no - 1) * common.PAGE_SIZE, limit=common.PAGE_SIZE
    )
    page = common.Page(page_no, common.PAGE_SIZE, history.total)
    form_values = values or _values_of(in_force, today)
    return Template(
        "gestao/protocolo.html",
        context={
            "oci": oci,
            "protocol": in_force,
            "times": protocols.care_times(in_force, settings),
            "history": history.items,
            "page": page,
            "may_write": protocols.may_write(common.actor(request)),
            "v": form_values,
            "blank_rows": range(BLANK_ROWS),
            "form": PROTOCOL_FORM,
            "errors": errors or {},
            "problems": problems or [],
            "alert": alert,
            "done": DONE_PT.get(done or ""),
            "today": today,
        },
        status_code=status_code,
    )


@get("/gestao/protocolos/{code:str}", opt=allow(*READERS), include_in_schema=False)
async def protocol_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    code: str,
    feito: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
) -> Template:
    return await _detail(request, db_session, settings, code, done=feito, pagina=pagina)


@post("/gestao/protocolos/{code:str}", opt=allow(Role.GESTOR), include_in_schema=False, status_code=303)
async def submit_protocol(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    code: str,
    data: Form[ProtocolForm],
) -> Redirect | Template:
    values = _form_values(data)
    today = wl.local_today(settings)

    async def write() -> protocols.Protocol:
        return await protocols.write_version(db_session, settings, common.actor(request), code, _draft(values), today)

    async def rerender(refusal: forms.Refusal) -> Template:
        return await _detail(
            request,
            db_session,
            settings,
            code,
            values=values,
            errors=_page_errors(refusal.errors),
            problems=PROTOCOL_FORM.problems(_form_errors(refusal.errors)),
            alert=None if refusal.errors else refusal.message,
            status_code=refusal.status_code,
        )

    limits = _limits(values)
    if limits:  # refused by name, before the service is asked; with the rules' refusals of the other fields
        try:
            protocols.validate_draft(_draft(values), today)
        except ValidationFailed as exc:
            flagged = {e.field for e in _form_errors(tuple(limits))}
            limits += [e for e in exc.errors if _form_errors((e,))[0].field not in flagged]
        return await rerender(forms.Refusal.of_limits(limits))
    return await forms.submit(
        db_session, write, redirect=lambda _p: f"/gestao/protocolos/{code}?feito=criada", rerender=rerender
    )


# -- records that break SAES art. 11 -------------------------------------------------------------------------------


@get("/gestao/identificacao", opt=allow(*IDENTIFICATION_VIEWERS), include_in_schema=False)
async def identification_list(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    municipio: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
) -> Template:
    order = ordem if ordem in IDENTIFICATION_ORDERS else "id"
    town = (municipio or "").strip()
    town = town if town.isdigit() and len(town) == 7 else ""
    page_no = common.page_number(pagina)
    report = await people.identification_report(
        db_session,
        common.actor(request),
        municipality_ibge=town or None,
        order=order,
        offset=(page_no - 1) * common.PAGE_SIZE,
        limit=common.PAGE_SIZE,
    )
    return Template(
        "gestao/identificacao.html",
        context={
            "rows": report.rows,
            "total": report.total,
            "by_issue": report.by_issue,
            "issues": ISSUES,
            "page": common.Page(page_no, common.PAGE_SIZE, report.total),
            "q": {"municipio": town, "ordem": order},
            "orders": IDENTIFICATION_ORDERS,
            "municipalities": common.visible_municipalities(common.principal(request)),
        },
    )


ROUTES = [protocol_list, protocol_page, submit_protocol, identification_list]
