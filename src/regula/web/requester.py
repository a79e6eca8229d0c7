"""The APS team's pages: the referral form (OCI first, then the CIDs that OCI accepts, the risk class, the access
protocol's checklist and the citizen, with CPF/CNS checked), the team's referrals with their status, and the
pendências the regulation center sent back, to answer and resubmit."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import JurisdictionKind, Role, allow
from regula.access.service import Principal
from regula.audit.service import record_read
from regula.catalog.schemas import OciDetail
from regula.catalog.service import get_oci
from regula.config import Settings
from regula.core.errors import Conflict, DomainError, FieldError, ValidationFailed
from regula.people import documents
from regula.people import service as people
from regula.people.models import Citizen
from regula.people.schemas import CitizenCreate
from regula.territory.reference import search_key
from regula.waitlist import repository as repo
from regula.waitlist import service as wl
from regula.waitlist.schemas import ReferralCreate
from regula.waitlist.states import EntryStatus
from regula.web import common
from regula.web.entries import EntryFilters, list_entries, load_entry_view, status_options
from regula.web.protocols import checklist_for
from regula.web.regulation import apply_transition

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

# Referral errors that depend on who the citizen is (sex, age): meaningless until the citizen's data is valid.
CITIZEN_DEPENDENT_CODES = frozenset({"sexo_incompativel", "idade_abaixo_do_minimo", "idade_acima_do_maximo"})

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
    }
    return Template(
        "aps/encaminhar.html",
        context={
            "ocis": ocis,
            "all_ocis": len(catalog.ocis),
            "oci": oci,
            "cids": sorted(oci.cid_details, key=lambda c: c.code) if oci else [],
            "checklist": checklist_for(oci.code) if oci else (),
            "search": search or "",
            "municipalities": municipalities,
            "v": defaults | (values or {}),
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
    return await _form_page(request, db_session, settings, oci_code=oci or None, search=busca)


def _values(form: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = {k: common.text_field(form, k, 300) for k in (*CITIZEN_FIELDS, *REFERRAL_FIELDS)}
    values["risk_justification"] = common.text_field(form, "risk_justification", 2000)
    values |= {k: common.checked(form, k) for k in FLAGS}
    values["checklist"] = [v for v in form.getall("checklist") if isinstance(v, str)] if "checklist" in form else []
    values["oci_code"] = common.text_field(form, "oci_code", 10)
    return values


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


async def _registered(db_session: AsyncSession, values: dict[str, Any]) -> Citizen | None:
    """The citizen already registered with the CPF (or CNS) typed, when the number is valid."""
    cpf = documents.validate_cpf(values["cpf"]) if documents.is_valid_cpf(values["cpf"]) else None
    cns = documents.validate_cns(values["cns"]) if documents.is_valid_cns(values["cns"]) else None
    if cpf is None and cns is None:
        return None
    found = await people.find_by_documents(db_session, cpf, cns)
    return found[0] if found else None


def _check_citizen(values: dict[str, Any], today: date, p: Principal, errors: list[FieldError]) -> Citizen | None:
    """Every citizen field, checked as the service will; returns an unsaved record for the referral's rules."""
    birth = common.parse_date_br(values["birth_date"])
    if birth is None:
        errors.append(FieldError("birth_date", "data_invalida", "Informe a data de nascimento (DD/MM/AAAA)."))
    try:
        valid = people.validate_citizen(_citizen_data(values, birth or today), today).values
    except ValidationFailed as exc:
        for e in exc.errors:
            if e.field == "birth_date" and birth is None:
                continue
            if e.field in ("sex", "race_color") and not values[e.field]:
                e = FieldError(e.field, "obrigatorio", "Escolha uma opção.")
            errors.append(e)
        return None
    if birth is None:
        return None
    if not wl.Actor.of(p).covers(valid["municipality_ibge"]):
        errors.append(FieldError("municipality_ibge", "fora_da_jurisdicao", "Município fora da sua jurisdição."))
    return Citizen(**valid)


@post("/aps/encaminhar", opt=allow(*APS), include_in_schema=False, status_code=303)
async def submit_referral(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Redirect | Template:
    p = common.principal(request)
    act = wl.Actor.of(p)
    form = await common.read_form(request)
    values = _values(form)
    today = wl.local_today(settings)
    catalog = await wl.load_catalog(db_session, settings)
    oci_code = values["oci_code"]
    errors: list[FieldError] = []
    registered = await _registered(db_session, values)
    if registered is not None:
        if not act.covers(registered.municipality_ibge):
            errors.append(FieldError("cpf", "fora_da_jurisdicao", "Este CPF/CNS é de um cidadão de outro município."))
        else:
            # Reading a registered citizen through the form is a read of their record: audited, as in the API.
            await record_read(
                db_session,
                "Citizen",
                str(registered.id),
                uf=registered.uf,
                municipality_ibge=registered.municipality_ibge,
            )
        citizen: Citizen | None = registered
    else:
        citizen = _check_citizen(values, today, p, errors)
    oci = catalog.ocis.get(oci_code)
    items = checklist_for(oci_code) if oci else ()
    data = ReferralCreate(
        cid_code=values["cid_code"],
        risk_class=values["risk_class"],
        risk_justification=values["risk_justification"],
        requesting_cnes=values["requesting_cnes"],
        oci_code=oci_code or None,
        citizen_id=registered.id if registered is not None else None,
        checklist={key: key in values["checklist"] for key, _label in items},
        professional_cns=values["professional_cns"] or None,
    )
    if citizen is not None:
        wl.check_referral_fields(data, catalog, citizen, today, errors)
    else:
        # Without a valid citizen the referral's own fields are still checked, against a neutral record.
        stand_in = Citizen(
            birth_date=date(today.year - 30, 1, 1),
            sex="",
            name="",
            search_name="",
            race_color="",
            municipality_ibge="",
            uf="",
        )
        wl.check_referral_fields(data, catalog, stand_in, today, errors)
        errors[:] = [e for e in errors if e.code not in CITIZEN_DEPENDENT_CODES]
    if errors:
        return await _form_page(
            request,
            db_session,
            settings,
            oci_code=oci_code or None,
            search=None,
            values=values,
            errors=common.field_errors(errors),
            alert="Corrija os campos indicados.",
            status_code=422,
        )
    if registered is None:
        birth = common.parse_date_br(values["birth_date"])
        assert birth is not None
        data.citizen = _citizen_data(values, birth)
    try:
        async with db_session.begin_nested():
            entry = await wl.create_referral(db_session, data, act, settings, catalog)
    except (ValidationFailed, Conflict) as exc:
        existing = exc.extra.get("existing_id") if isinstance(exc, Conflict) else None
        return await _form_page(
            request,
            db_session,
            settings,
            oci_code=oci_code or None,
            search=None,
            values=values,
            errors=common.field_errors(exc.errors),
            alert=exc.message,
            existing_id=existing if isinstance(existing, int) else None,
            status_code=exc.status_code,
        )
    return Redirect(path=f"/aps/encaminhamentos/{entry.id}?feito=criada", status_code=303)


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
) -> Redirect | Template:
    form = await common.read_form(request)
    target = common.text_field(form, "para", 32)
    reason_code = common.text_field(form, "motivo_codigo", 32) or None
    reason_text = common.text_field(form, "motivo_texto") or None
    values = {"target": target, "reason_code": reason_code or "", "reason_text": reason_text or ""}
    try:
        entry = await wl.get_entry(db_session, entry_id)
        if entry.status == S.DEVOLVIDA.value and target == S.SOLICITADA.value and not reason_text:
            # The regulator asked for something: the answer goes with the resubmission, in the history.
            raise ValidationFailed.for_field(
                "reason", "resposta_obrigatoria", "Descreva o que foi feito para atender à pendência."
            )
        await apply_transition(db_session, settings, common.actor(request), entry_id, target, reason_code, reason_text)
    except ValidationFailed as exc:
        errors = {target: common.field_errors(exc.errors) or {"reason": exc.message}}
        return await _detail(request, db_session, settings, entry_id, errors=errors, values=values, status_code=422)
    except Conflict as exc:
        return await _detail(request, db_session, settings, entry_id, alert=exc.message, status_code=409)
    return Redirect(path=f"/aps/encaminhamentos/{entry_id}?feito={target}", status_code=303)


ROUTES = [referrals_page, referral_form, submit_referral, referral_page, referral_transition]
