"""Closing the loop with primary care (issue 16, decision 21): the teleconsultor's worklist and answer form
(Portaria GM/MS 3.492/2024 art. 10 §3 I), and the APS team's counter-referrals with the acknowledgement of reading
(art. 5 §2; art. 10 §1 IV and VI). The services decide; these pages read forms, call them and show the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.catalog.protocols import protocol_version
from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.db.base import utcnow
from regula.inputs import MAX_AGE_YEARS
from regula.navigation import care_loop as nav
from regula.navigation import counter_referral_repository as nav_repo
from regula.navigation.models import COUNTER_REFERRAL_RECIPIENTS, CounterReferral
from regula.navigation.routes import check_counter_referral_order, counter_referral_filter
from regula.people.service import age_on
from regula.waitlist import service as wl
from regula.waitlist import teleconsultation_repository as tele_repo
from regula.waitlist import teleconsultation_service as tele
from regula.waitlist.teleconsultation import MAX_GUIDANCE, OUTCOME_LABELS_PT, Outcome, check_answer
from regula.waitlist.teleconsultation_models import TeleconsultationAnswer
from regula.waitlist.teleconsultation_routes import check_order, worklist_filter
from regula.web import common, forms
from regula.web.forms import Form

TELE_READERS = (Role.TELECONSULTOR, Role.REGULADOR, Role.NAVEGADOR, Role.GESTOR, Role.AUDITOR)
APS_READERS = (Role.SOLICITANTE, Role.NAVEGADOR, Role.REGULADOR, Role.GESTOR, Role.AUDITOR)
ORDER_LABELS_PT = (
    ("espera", "Mais tempo esperando primeiro"),
    ("recentes", "Mais recentes primeiro"),
    ("oci", "Por OCI"),
    ("idade", "Mais idosos primeiro"),
)
CR_ORDER_LABELS_PT = (
    ("recentes", "Mais recentes primeiro"),
    ("antigas", "Mais antigas primeiro"),
    ("nao_lidas", "Não lidas primeiro"),
)
CR_READ_LABELS_PT = (("nao_lidas", "Não lidas"), ("lidas", "Lidas"))
OUTCOME_OPTIONS = tuple((o.value, OUTCOME_LABELS_PT[o]) for o in Outcome)


def _age(raw: str | None, field: str) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_AGE_YEARS:
        raise ValidationFailed.for_field(field, "idade_invalida", f"Idade inválida: use de 0 a {MAX_AGE_YEARS} anos.")
    return int(text)


# -- the teleconsultor's worklist ------------------------------------------------------------------------------


@get("/teleconsultoria", opt=allow(*TELE_READERS), include_in_schema=False)
async def worklist_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    oci: FromQuery[str | None] = None,
    municipio: FromQuery[str | None] = None,
    idade_min: FromQuery[str | None] = None,
    idade_max: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
    feito: FromQuery[str | None] = None,
) -> Template:
    act = common.actor(request)
    today = wl.local_today(settings)
    q = {
        "oci": oci or "",
        "municipio": municipio or "",
        "idade_min": idade_min or "",
        "idade_max": idade_max or "",
        "ordem": ordem or "espera",
    }
    errors: dict[str, str] = {}
    try:
        f = worklist_filter(today, oci, municipio, _age(idade_min, "idade_min"), _age(idade_max, "idade_max"))
        order = check_order(q["ordem"])
    except ValidationFailed as exc:
        errors = common.field_errors(exc.errors)
        f, order = tele_repo.WorklistFilter(today=today), "espera"
    total = await tele_repo.count_waiting(db_session, act, f)
    page = common.Page(common.page_number(pagina), common.PAGE_SIZE, total)
    rows = await tele_repo.list_waiting(db_session, act, f, order=order, offset=page.offset, limit=page.size)
    now = utcnow()
    catalog = await wl.load_catalog(db_session, settings)
    return Template(
        "teleconsulta/lista.html",
        context={
            "rows": [
                {"v": tele.waiting_view(r.entry, r.citizen, settings, now), "age": age_on(r.citizen.birth_date, today)}
                for r in rows
            ],
            "page": page,
            "q": q,
            "errors": errors,
            "ocis": [
                (code, f"{code} · {catalog.ocis[code].name if code in catalog.ocis else ''} ({n})")
                for code, n in await tele_repo.waiting_ocis(db_session, act)
            ],
            "municipalities": [(m.ibge_code, m.name) for m in common.visible_municipalities(common.principal(request))],
            "orders": ORDER_LABELS_PT,
            "oci_names": {code: o.name for code, o in catalog.ocis.items()},
            "sla_hours": settings.teleconsultation_sla_hours,
            "done": "Resposta registrada." if feito else None,
            "can_answer": common.principal(request).role in (Role.TELECONSULTOR, Role.ADMIN),
        },
        status_code=422 if errors else 200,
    )


async def _answer_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    entry_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Template:
    v = await tele.view(db_session, settings, entry_id, common.actor(request))
    catalog = await wl.load_catalog(db_session, settings)
    oci = catalog.ocis.get(v.entry.oci_code)
    # The protocol version the referral was checked against names its items (decision 0020), as on the
    # regulator's and the APS team's pages: the teleconsultor reads labels, not keys like ``ecg_anexado``.
    protocol = await protocol_version(db_session, v.entry.oci_code, v.entry.protocol_version, settings)
    return Template(
        "teleconsulta/responder.html",
        context={
            "v": v,
            "checklist": [(protocol.label_of(k), ok is True) for k, ok in (v.entry.checklist or {}).items()],
            "age": age_on(v.citizen.birth_date, wl.local_today(settings)),
            "oci_name": oci.name if oci else v.entry.oci_code,
            "outcomes": OUTCOME_OPTIONS,
            "outcome_labels": {o.value: label for o, label in OUTCOME_LABELS_PT.items()},
            "errors": errors or {},
            "values": values or {},
            "alert": alert,
            "can_answer": common.principal(request).role in (Role.TELECONSULTOR, Role.ADMIN)
            and v.entry.status == "aguardando_teleconsulta",
        },
        status_code=status_code,
    )


@get("/teleconsultoria/{entry_id:int}", opt=allow(*TELE_READERS), include_in_schema=False)
async def answer_form(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
) -> Template:
    return await _answer_page(request, db_session, settings, entry_id)


#: The teleconsultor's answer: the guidance's limit is the rule's (``teleconsultation.MAX_GUIDANCE``).
ANSWER_FORM = forms.register(
    forms.FormSpec(
        "teleconsulta_resposta",
        (
            forms.FieldSpec("resposta", "Resposta", required=True, kind="choice"),
            forms.FieldSpec("classe_sugerida", "Classe de risco sugerida", kind="choice"),
            forms.FieldSpec("orientacao", "Orientação à equipe da APS", max_length=MAX_GUIDANCE, kind="textarea"),
        ),
    )
)


class AnswerForm(Struct):
    """The teleconsultor's answer (``waitlist.teleconsultation.check_answer`` names the fields)."""

    resposta: str = ""
    orientacao: str = ""
    classe_sugerida: str = ""


_FORM_FIELDS = {"outcome": "resposta", "guidance": "orientacao", "suggested_risk_class": "classe_sugerida"}


@post(
    "/teleconsultoria/{entry_id:int}/resposta",
    opt=allow(Role.TELECONSULTOR),
    include_in_schema=False,
    status_code=303,
    request_class=forms.CheckedFormRequest,  # every field is ANSWER_FORM's, checked below
)
async def submit_answer(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
    data: Form[AnswerForm],
) -> Redirect | Template:
    values = {
        "resposta": forms.field_text(data.resposta, 30),
        "orientacao": (data.orientacao or "").strip(),  # whole: beyond the limit it is refused, not cut
        "classe_sugerida": forms.field_text(data.classe_sugerida, 10),
    }

    async def rerender(refusal: forms.Refusal) -> Template:
        if refusal.status_code == 422:
            errors = {_FORM_FIELDS.get(k, k): text for k, text in refusal.fields.items()}
            named = ", ".join(f.label for f in ANSWER_FORM.fields if f.name in errors)
            return await _answer_page(
                request,
                db_session,
                settings,
                entry_id,
                errors=errors,
                values=forms.shown(values),
                alert=f"Verifique: {named}." if named else None,
                status_code=422,
            )
        return await _answer_page(
            request, db_session, settings, entry_id, alert=refusal.message, status_code=refusal.status_code
        )

    # A NUL in a field (``forms.CheckedFormRequest``) is refused with the rule's other objections, all at once.
    refused = ANSWER_FORM.nul_errors(values)
    if refused:
        clean = forms.shown(values)
        try:
            check_answer(clean["resposta"], clean["orientacao"], clean["classe_sugerida"])
        except ValidationFailed as exc:
            refused += [e for e in exc.errors if _FORM_FIELDS.get(e.field, e.field) not in {r.field for r in refused}]
        return await rerender(forms.Refusal.of_limits(refused))
    return await forms.submit(
        db_session,
        lambda: tele.answer(
            db_session,
            settings,
            entry_id,
            common.actor(request),
            outcome=values["resposta"],
            guidance=values["orientacao"] or None,
            suggested_risk_class=values["classe_sugerida"] or None,
        ),
        redirect=lambda _v: "/teleconsultoria?feito=1",
        rerender=rerender,
    )


# -- the APS team's counter-referrals ---------------------------------------------------------------------------


@get("/aps/contrarreferencias", opt=allow(*APS_READERS), include_in_schema=False)
async def counter_referrals_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    leitura: FromQuery[str | None] = None,
    oci: FromQuery[str | None] = None,
    cnes: FromQuery[str | None] = None,
    busca: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
) -> Template:
    act = common.actor(request)
    q = {"leitura": leitura or "", "oci": oci or "", "cnes": cnes or "", "busca": busca or "", "ordem": ordem or ""}
    errors: dict[str, str] = {}
    try:
        f = counter_referral_filter(leitura or None, oci, cnes, busca)
        order = check_counter_referral_order(ordem or "recentes")
    except ValidationFailed as exc:
        errors = common.field_errors(exc.errors)
        f, order = nav_repo.CounterReferralFilter(), "recentes"
    total = await nav_repo.count_counter_referrals(db_session, act, f)
    page = common.Page(common.page_number(pagina), common.PAGE_SIZE, total)
    rows = await nav_repo.list_counter_referrals(db_session, act, f, order=order, offset=page.offset, limit=page.size)
    catalog = await wl.load_catalog(db_session, settings)
    return Template(
        "aps/contrarreferencias.html",
        context={
            "rows": rows,
            "page": page,
            "q": q,
            "errors": errors,
            "unread": await nav_repo.count_unread_counter_referrals(db_session, act),
            "read_options": CR_READ_LABELS_PT,
            "orders": CR_ORDER_LABELS_PT,
            "recipients": COUNTER_REFERRAL_RECIPIENTS,
            "oci_names": {code: o.name for code, o in catalog.ocis.items()},
        },
        status_code=422 if errors else 200,
    )


async def _counter_referral_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    counter_referral_id: int,
    *,
    done: bool = False,
) -> Template:
    row = await nav.counter_referral(db_session, counter_referral_id, common.actor(request))
    catalog = await wl.load_catalog(db_session, settings)
    oci = catalog.ocis.get(row.counter_referral.oci_code)
    return Template(
        "aps/contrarreferencia.html",
        context={
            "r": row,
            "x": row.counter_referral,
            "oci_name": oci.name if oci else row.counter_referral.oci_code,
            "age": age_on(row.birth_date, wl.local_today(settings)),
            "recipients": COUNTER_REFERRAL_RECIPIENTS,
            "done": done,
            "can_acknowledge": common.principal(request).role in (Role.SOLICITANTE, Role.ADMIN),
        },
    )


@get("/aps/contrarreferencias/{counter_referral_id:int}", opt=allow(*APS_READERS), include_in_schema=False)
async def counter_referral_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    counter_referral_id: FromPath[int],
    feito: FromQuery[str | None] = None,
) -> Template:
    return await _counter_referral_page(request, db_session, settings, counter_referral_id, done=bool(feito))


@post(
    "/aps/contrarreferencias/{counter_referral_id:int}/lida",
    opt=allow(Role.SOLICITANTE),
    include_in_schema=False,
    status_code=303,
)
async def acknowledge(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    counter_referral_id: FromPath[int],
) -> Redirect:
    await nav.acknowledge_counter_referral(db_session, counter_referral_id, common.actor(request))
    return Redirect(path=f"/aps/contrarreferencias/{counter_referral_id}?feito=1", status_code=303)


# -- what the APS referral page shows of the loop -----------------------------------------------------------------


@dataclass(frozen=True)
class LoopOnReferral:
    """The teleconsultoria's answer and the counter-referrals of one referral, for the APS team's page."""

    answer: TeleconsultationAnswer | None
    answer_label: str | None
    counter_referrals: list[CounterReferral]


async def loop_on_referral(db_session: AsyncSession, request: Request[Any, Any, Any], entry_id: int) -> LoopOnReferral:
    """Called after the referral page checked the reader's access to the entry (and audited the read)."""
    answer = await tele_repo.answer_of(db_session, entry_id)
    label = OUTCOME_LABELS_PT.get(Outcome(answer.outcome)) if answer else None
    rows = await nav_repo.counter_referrals_of_entry(db_session, common.actor(request), entry_id)
    return LoopOnReferral(answer, label, rows)


ROUTES = [
    worklist_page,
    answer_form,
    submit_answer,
    counter_referrals_page,
    counter_referral_page,
    acknowledge,
]
