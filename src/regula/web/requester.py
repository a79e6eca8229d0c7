"""The APS team's pages: the referral form (OCI first, then the CIDs that OCI accepts, the risk class, the access
protocol's checklist and the citizen, with CPF/CNS checked), the team's referrals with their status, and the
pendências the regulation center sent back, to answer and resubmit."""

from __future__ import annotations

import functools
from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import JurisdictionKind, Role, allow
from regula.access.service import Principal
from regula.catalog.protocols import Protocol
from regula.catalog.schemas import OciDetail
from regula.catalog.service import get_oci
from regula.config import Settings
from regula.core.errors import DomainError, FieldError, ValidationFailed
from regula.people.models import Citizen
from regula.people.schemas import CitizenCreate
from regula.territory.reference import search_key
from regula.waitlist import repository as repo
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.schemas import ReferralCreate
from regula.waitlist.states import EntryStatus
from regula.web import common, forms
from regula.web.care_loop import loop_on_referral
from regula.web.entries import EntryFilters, list_entries, load_entry_view, status_options
from regula.web.forms import Form, TransitionForm

S = EntryStatus
APS = (Role.SOLICITANTE,)

CITIZEN_FIELDS = (
    "cpf",
    "cns",
    "name",
    "social_name",
    "birth_date",
    "sex",
    "race_color",
    "municipality_ibge",
    "phone",
    "preferred_channel",
)
REFERRAL_FIELDS = ("cid_code", "risk_class", "risk_justification", "requesting_cnes", "professional_cns")
FLAGS = ("contact_consent", "pregnant", "disability", "autism", "cadunico")

DONE_PT = {
    "criada": "Encaminhamento enviado à regulação.",
    S.SOLICITADA.value: "Pendência respondida: o encaminhamento voltou para a regulação.",
    S.CANCELADA.value: "Encaminhamento cancelado.",
}


# -- the team's referrals --------------------------------------------------------------------------------------


async def _pendency_count(db_session: AsyncSession, p: Principal) -> int:
    return await repo.count_in_status(db_session, wl.Actor.of(p), (S.DEVOLVIDA.value,))


@get("/aps", opt=allow(*APS), include_in_schema=False)
async def referrals_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    situacao: FromQuery[str | None] = None,
    meus: FromQuery[str | None] = None,
    busca: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
) -> Template:
    p = common.principal(request)
    filters = EntryFilters(
        status=situacao or None,
        created_by=p.username if meus else None,
        search=busca or None,
    )
    rows, pg = await list_entries(db_session, settings, p, filters, common.page_number(pagina), order="recent")
    catalog = await wl.load_catalog(db_session, settings)
    return Template(
        "aps/lista.html",
        context={
            "rows": rows,
            "page": pg,
            "q": {"situacao": situacao or "", "meus": meus or "", "busca": busca or ""},
            "statuses": status_options(("em_regulacao", "em_cuidado", "encerradas")),
            "oci_names": {code: o.name for code, o in catalog.ocis.items()},
            "pendencies": await _pendency_count(db_session, p),
        },
    )


# -- the referral form -----------------------------------------------------------------------------------------


async def _default_cnes(db_session: AsyncSession, p: Principal) -> str:
    """The unit's CNES: the jurisdiction's when it is one, else the one this user sent the last referral from."""
    if p.jurisdiction.kind is JurisdictionKind.CNES:
        return p.jurisdiction.code
    return await repo.last_requesting_cnes(db_session, p.username) or ""


async def _form_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    *,
    oci_code: str | None,
    search: str | None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    existing_id: int | None = None,
    status_code: int = 200,
    problems: list[forms.FieldProblem] | None = None,
) -> Template:
    p = common.principal(request)
    catalog = await wl.load_catalog(db_session, settings)
    ocis = sorted(catalog.ocis.values(), key=lambda o: o.code)
    if search:
        key = search_key(search)
        ocis = [o for o in ocis if key in search_key(o.name) or o.code.startswith(search.strip())]
    oci: OciDetail | None = None
    if oci_code:
        try:
            oci = await get_oci(db_session, oci_code, settings)
        except DomainError:
            oci = None
            errors = {**(errors or {}), "oci_code": "OCI não encontrada no catálogo vigente."}
    municipalities = common.visible_municipalities(p)
    defaults: dict[str, Any] = {
        "requesting_cnes": await _default_cnes(db_session, p),
        "preferred_channel": "sms",
        "municipality_ibge": municipalities[0].ibge_code if len(municipalities) == 1 else "",
        "checklist": [],
        "exames": [],
    }
    return Template(
        "aps/encaminhar.html",
        context={
            "ocis": ocis,
            "all_ocis": len(catalog.ocis),
            "oci": oci,
            "cids": _accepted_cids(oci, catalog.protocols[oci.code]) if oci else [],
            # The OCI's protocol in force (decision 0020): its checklist, required exams and risk hints.
            "protocol": catalog.protocols[oci.code] if oci else None,
            "checklist": _checklist_pairs(catalog.protocols[oci.code]) if oci else (),
            "search": search or "",
            "municipalities": municipalities,
            "v": defaults | (values or {}),
            "form": REFERRAL_FORM,
            "oci_search": OCI_SEARCH_FORM,
            "problems": problems
            if problems is not None
            else [forms.FieldProblem(k, REFERRAL_FORM[k].label, m) for k, m in (errors or {}).items()],
            "errors": errors or {},
            "alert": alert,
            "existing_id": existing_id,
            "risks": [(r, common.RISK_LABELS_PT[r], common.RISK_HINTS_PT[r]) for r in common.RISK_LABELS_PT],
            "races": list(common.RACE_LABELS_PT.items()),
            "channels": list(common.CHANNEL_LABELS_PT.items()),
        },
        status_code=status_code,
    )


@get("/aps/encaminhar", opt=allow(*APS), include_in_schema=False)
async def referral_form(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    oci: FromQuery[str | None] = None,
    busca: FromQuery[str | None] = None,
) -> Template:
    limits = OCI_SEARCH_FORM.check({"busca": busca or ""})
    if limits:  # the search box's limit, on the server too
        raise ValidationFailed("Busca longa demais.", code=limits[0].code, errors=limits)
    return await _form_page(request, db_session, settings, oci_code=oci or None, search=busca)


class ReferralForm(Struct):
    """The referral form as typed: text as it came (checked by the service), checkboxes present or not."""

    oci_code: str = ""
    cpf: str = ""
    cns: str = ""
    name: str = ""
    social_name: str = ""
    birth_date: str = ""
    sex: str = ""
    race_color: str = ""
    municipality_ibge: str = ""
    phone: str = ""
    preferred_channel: str = ""
    cid_code: str = ""
    risk_class: str = ""
    risk_justification: str = ""
    requesting_cnes: str = ""
    professional_cns: str = ""
    contact_consent: str = ""
    pregnant: str = ""
    disability: str = ""
    autism: str = ""
    cadunico: str = ""
    checklist: list[str] | str = []
    exames: list[str] | str = []


_DIGITS_CPF = r"[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}"
_DIGITS_CNS = r"[0-9]{3} ?[0-9]{4} ?[0-9]{4} ?[0-9]{4}"

#: The referral form's fields in the page's order, their labels and limits (browser and server alike). The lengths
#: are the columns' the values are stored in; the justification is free text, limited to what a clinical summary
#: needs.
REFERRAL_FORM = forms.register(
    forms.FormSpec(
        "aps_encaminhar",
        (
            forms.FieldSpec("oci_code", "OCI", max_length=10, required=True, kind="choice"),
            forms.FieldSpec(
                "cid_code",
                "CID-10",
                max_length=5,
                pattern=r"[A-Za-z][0-9]{2}\.?[0-9A-Za-z]?",
                pattern_message="Use o código CID-10: uma letra e dois ou três dígitos (ex.: Z13.6).",
                required=True,
            ),
            forms.FieldSpec("risk_class", "Classificação de risco", required=True, kind="choice"),
            forms.FieldSpec(
                "risk_justification",
                "Justificativa clínica da classificação",
                max_length=2000,
                min_length=10,
                min_message="Justifique a classe de risco (mínimo 10 letras).",
                required=True,
                kind="textarea",
            ),
            forms.FieldSpec("checklist", "Protocolo de acesso", kind="checklist"),
            forms.FieldSpec("exams", "Exames exigidos pelo protocolo", kind="checklist"),
            forms.FieldSpec(
                "requesting_cnes",
                "CNES da unidade solicitante",
                max_length=forms.column_length(WaitlistEntry, "requesting_cnes"),
                pattern=r"[0-9]{7}",
                pattern_message="Use os 7 dígitos do CNES.",
                required=True,
                inputmode="numeric",
            ),
            forms.FieldSpec(
                "professional_cns",
                "CNS do profissional",
                max_length=18,
                pattern=_DIGITS_CNS,
                pattern_message="Use os 15 dígitos do CNS (com ou sem espaços).",
                inputmode="numeric",
            ),
            forms.FieldSpec(
                "cpf",
                "CPF",
                max_length=14,
                pattern=_DIGITS_CPF,
                pattern_message="Use os 11 dígitos do CPF (com ou sem pontos e hífen).",
                inputmode="numeric",
            ),
            forms.FieldSpec(
                "cns",
                "CNS (Cartão Nacional de Saúde)",
                max_length=18,
                pattern=_DIGITS_CNS,
                pattern_message="Use os 15 dígitos do CNS (com ou sem espaços).",
                inputmode="numeric",
            ),
            forms.FieldSpec("name", "Nome completo", max_length=forms.column_length(Citizen, "name"), required=True),
            forms.FieldSpec("social_name", "Nome social", max_length=forms.column_length(Citizen, "social_name")),
            forms.FieldSpec("birth_date", "Data de nascimento", max_length=10, required=True, type="date"),
            forms.FieldSpec("sex", "Sexo", required=True, kind="choice"),
            forms.FieldSpec("race_color", "Raça/cor", required=True, kind="choice"),
            forms.FieldSpec("municipality_ibge", "Município de residência", required=True, kind="choice"),
            forms.FieldSpec(
                "phone",
                "Telefone celular com DDD",
                max_length=20,
                pattern=r"[0-9 ()+.\-]{8,20}",
                pattern_message="Use só dígitos, espaços, parênteses e hífen: (48) 99999-9999.",
                inputmode="tel",
                type="tel",
            ),
            forms.FieldSpec("preferred_channel", "Canal de aviso preferido", kind="choice"),
            forms.FieldSpec("contact_consent", "Aceita receber mensagens sobre a fila", kind="checkbox"),
            forms.FieldSpec("pregnant", "Gestante", kind="checkbox"),
            forms.FieldSpec("disability", "Pessoa com deficiência", kind="checkbox"),
            forms.FieldSpec("autism", "Pessoa com transtorno do espectro autista", kind="checkbox"),
            forms.FieldSpec("cadunico", "Inscrita no CadÚnico", kind="checkbox"),
        ),
    )
)


#: The OCI search above the form (a GET form: it narrows the list of OCIs).
OCI_SEARCH_FORM = forms.register(
    forms.FormSpec(
        "aps_busca_oci", (forms.FieldSpec("busca", "Buscar OCI por nome ou código", max_length=100, type="search"),)
    )
)


def _checklist_pairs(protocol: Protocol) -> tuple[tuple[str, str], ...]:
    """(key, label) of each checklist item; optional items say so."""
    return tuple((i.key, i.label if i.required else f"{i.label} (opcional)") for i in protocol.checklist)


def _values(data: ReferralForm) -> dict[str, Any]:
    """The form's values as typed (trimmed, never cut: a value beyond its field's limit is refused by name and shown
    again whole, for the person to shorten; the request body's own limit bounds it)."""
    values: dict[str, Any] = {k: (getattr(data, k) or "").strip() for k in (*CITIZEN_FIELDS, *REFERRAL_FIELDS)}
    values |= {k: forms.checked(getattr(data, k)) for k in FLAGS}
    values["checklist"] = forms.many(data.checklist)
    values["exames"] = forms.many(data.exames)
    values["oci_code"] = (data.oci_code or "").strip()
    return values


def _accepted_cids(oci: OciDetail, protocol: Protocol) -> list[Any]:
    """The OCI's CIDs (SIGTAP), narrowed to those its protocol accepts when it lists them."""
    cids = sorted(oci.cid_details, key=lambda c: c.code)
    if protocol.accepted_cids:
        cids = [c for c in cids if any(c.code.startswith(a) for a in protocol.accepted_cids)]
    return cids


def _citizen_data(values: dict[str, Any], birth: date) -> CitizenCreate:
    return CitizenCreate(
        name=values["name"],
        birth_date=birth,
        sex=values["sex"],
        race_color=values["race_color"],
        municipality_ibge=values["municipality_ibge"],
        cpf=values["cpf"] or None,
        cns=values["cns"] or None,
        social_name=values["social_name"] or None,
        phone=values["phone"] or None,
        preferred_channel=values["preferred_channel"] or "sms",
        contact_consent=values["contact_consent"],
        pregnant=values["pregnant"],
        disability=values["disability"],
        autism=values["autism"],
        cadunico=values["cadunico"],
    )


@post("/aps/encaminhar", opt=allow(*APS), include_in_schema=False, status_code=303)
async def submit_referral(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    data: Form[ReferralForm],
) -> Redirect | Template:
    values = _values(data)
    today = wl.local_today(settings)
    catalog = await wl.load_catalog(db_session, settings)
    oci_code = values["oci_code"]
    # A date the page cannot read is the page's own decoding error; the service checks every other field with it.
    # The form's own limits (length, format) first: a field beyond them is reported as such, and the service's
    # rules about the same field wait until it fits.
    undecoded = REFERRAL_FORM.check(values)
    birth = common.parse_date_br(values["birth_date"])
    if birth is None and "birth_date" not in {e.field for e in undecoded}:
        undecoded.append(FieldError("birth_date", "data_invalida", "Informe a data de nascimento (DD/MM/AAAA)."))
    protocol = catalog.protocols[oci_code] if oci_code in catalog.ocis else None
    items = protocol.checklist if protocol is not None else ()
    referral = ReferralCreate(
        cid_code=values["cid_code"],
        risk_class=values["risk_class"],
        risk_justification=values["risk_justification"],
        requesting_cnes=values["requesting_cnes"],
        oci_code=oci_code or None,
        citizen=_citizen_data(values, birth or today),
        checklist={item.key: item.key in values["checklist"] for item in items},
        exams=[e for e in values["exames"] if protocol is not None and e in protocol.required_exams],
        professional_cns=values["professional_cns"] or None,
    )

    async def rerender(refusal: forms.Refusal) -> Template:
        existing = refusal.extra.get("existing_id")
        form = REFERRAL_FORM.with_items("checklist", ((i.key, i.label) for i in items))
        return await _form_page(
            request,
            db_session,
            settings,
            oci_code=oci_code or None,
            search=None,
            values=values,
            errors=form.field_messages(refusal.errors),
            problems=form.problems(refusal.errors),
            alert="Corrija os campos indicados." if refusal.fields else refusal.message,
            existing_id=existing if isinstance(existing, int) else None,
            status_code=refusal.status_code,
        )

    return await forms.submit(
        db_session,
        lambda: wl.create_referral(db_session, referral, common.actor(request), settings, catalog, undecoded),
        redirect=lambda entry: f"/aps/encaminhamentos/{entry.id}?feito=criada",
        rerender=rerender,
    )


# -- one referral, its pendência ---------------------------------------------------------------------------------


async def _detail(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    entry_id: int,
    *,
    done: str | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, str] | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Template:
    view = await load_entry_view(db_session, settings, common.principal(request), entry_id)
    return Template(
        "aps/entrada.html",
        context={
            "v": view,
            "care": await loop_on_referral(db_session, request, entry_id),
            "done": DONE_PT.get(done or ""),
            "errors": errors or {},
            "values": values or {},
            "alert": alert,
            "action_url": f"/aps/encaminhamentos/{entry_id}/transicao",
        },
        status_code=status_code,
    )


@get("/aps/encaminhamentos/{entry_id:int}", opt=allow(*APS), include_in_schema=False)
async def referral_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
    feito: FromQuery[str | None] = None,
) -> Template:
    return await _detail(request, db_session, settings, entry_id, done=feito)


@post("/aps/encaminhamentos/{entry_id:int}/transicao", opt=allow(*APS), include_in_schema=False, status_code=303)
async def referral_transition(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
    data: Form[TransitionForm],
) -> Redirect | Template:
    return await data.submit(
        db_session,
        settings,
        common.actor(request),
        entry_id,
        detail=functools.partial(_detail, request, db_session, settings, entry_id),
        done_url=f"/aps/encaminhamentos/{entry_id}",
    )


ROUTES = [referrals_page, referral_form, submit_referral, referral_page, referral_transition]
