"""The public page: a citizen types the protocol number and their birth date and sees where they stand — the
situation, the position and the estimated date, or the date booked — with their name masked and nothing else
personal. No login; limited per client address (Portaria GM/MS 3.492/2024 art. 10 §2 V: a regular channel telling
each citizen their situation in the queue)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import public
from regula.config import Settings
from regula.core.errors import NotFound
from regula.core.ratelimit import Refusal, public_lookup_limits
from regula.http.state import client_address
from regula.people import documents
from regula.waitlist import service as wl
from regula.waitlist.states import EntryStatus
from regula.web import common, forms
from regula.web.entries import active_booking
from regula.web.forms import Form

S = EntryStatus

# What each situation means for the person waiting, in plain words.
EXPLANATIONS_PT: dict[str, str] = {
    S.AGUARDANDO_TELECONSULTA.value: "Seu pedido aguarda a avaliação de um especialista por teleconsultoria antes "
    "de entrar na fila.",
    S.SOLICITADA.value: "Seu pedido chegou à central de regulação e aguarda análise.",
    S.EM_ANALISE.value: "Seu pedido está sendo analisado pela central de regulação.",
    S.DEVOLVIDA.value: "A central de regulação pediu mais informações à sua unidade de saúde. Procure a sua unidade.",
    S.NEGADA.value: "O pedido não foi autorizado. Procure a sua unidade de saúde para saber o motivo e os próximos "
    "passos.",
    S.AUTORIZADA.value: "Seu pedido foi autorizado e você está na fila de espera.",
    S.AGENDADA.value: "Seu atendimento foi agendado. Você receberá a confirmação com o local; se não receber, "
    "procure a sua unidade de saúde.",
    S.CONFIRMADA.value: "Seu atendimento está agendado e a presença foi confirmada.",
    S.EM_ATENDIMENTO.value: "Seu atendimento está em andamento.",
    S.CONCLUIDA.value: "O cuidado deste pedido foi concluído.",
    S.FALTOU.value: "Foi registrada falta no atendimento agendado. Procure a sua unidade de saúde.",
    S.CANCELADA.value: "Este pedido foi cancelado.",
    S.SUSPENSA.value: "Este pedido está suspenso no momento. Procure a sua unidade de saúde.",
    S.TRANSFERIDA.value: "Este pedido foi transferido para outra fila ou central de regulação.",
}


def _refused(refusal: Refusal, values: dict[str, str]) -> Template:
    return Template(
        "publico/consulta.html",
        context={"values": values, "errors": {}, "result": None, "alert": refusal.message},
        status_code=429,
        headers={"Retry-After": str(refusal.seconds)},
    )


@get("/posicao", opt=public(), include_in_schema=False)
async def lookup_page(request: Request[Any, Any, Any], protocolo: FromQuery[str | None] = None) -> Template:
    """The address the citizen's messages link to; a protocol in the link comes filled in."""
    values = {"protocolo": protocolo.strip().upper()[:20]} if protocolo else {}
    return Template("publico/consulta.html", context={"values": values, "errors": {}, "result": None})


@get("/consulta", opt=public(), include_in_schema=False)
async def lookup_alias() -> Redirect:
    return Redirect(path="/posicao", status_code=301)


#: The citizen's look-up form: a protocol (``waitlist_entry.protocol``, 16 characters, typed with spaces at most 20)
#: and a birth date; the same limits in the page and on the server.
LOOKUP_FORM = forms.register(
    forms.FormSpec(
        "posicao",
        (
            forms.FieldSpec(
                "protocolo",
                "Número do protocolo",
                max_length=20,
                pattern="[A-Za-z0-9 ]{1,20}",
                pattern_message="Use só as letras e os números do protocolo (ex.: SC2612345678).",
                required=True,
            ),
            forms.FieldSpec("nascimento", "Data de nascimento", max_length=10, required=True, type="date"),
        ),
    )
)


class LookupForm(Struct):
    protocolo: str = ""
    nascimento: str = ""


@post("/posicao", opt=public(), include_in_schema=False, status_code=200)
async def lookup(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    data: Form[LookupForm],
) -> Template:
    limits = public_lookup_limits(request.app.state)
    if refusal := limits.check_address(client_address(request)):
        return _refused(refusal, {})
    typed = {"protocolo": (data.protocolo or "").strip(), "nascimento": (data.nascimento or "").strip()}
    protocol = typed["protocolo"].upper().replace(" ", "")
    birth_raw = typed["nascimento"]
    values = {"protocolo": protocol, "nascimento": birth_raw}
    # The form's limits first (a refused value is named and shown again as typed).
    errors: dict[str, str] = LOOKUP_FORM.field_messages(LOOKUP_FORM.check(typed))
    if errors:
        values = typed
    elif not protocol:
        errors["protocolo"] = "Informe o número do protocolo."
    birth = common.parse_date_br(birth_raw)
    if birth is None and "nascimento" not in errors:
        errors["nascimento"] = "Informe a data de nascimento (DD/MM/AAAA)."
    if errors or birth is None:
        return Template(
            "publico/consulta.html", context={"values": values, "errors": errors, "result": None}, status_code=422
        )
    if refusal := limits.check_protocol(protocol):
        return _refused(refusal, {"protocolo": protocol})
    try:
        entry, citizen = await wl.public_position(db_session, protocol, birth)
    except NotFound as exc:
        return Template(
            "publico/consulta.html",
            context={"values": values, "errors": {}, "result": None, "alert": exc.message},
            status_code=404,
        )
    booking = None
    if entry.status in (S.AGENDADA.value, S.CONFIRMADA.value):
        found = await active_booking(db_session, entry.id or 0)
        # The date and the town only: the citizen learns the rest from the confirmation message or their unit.
        booking = {"starts_at": found["starts_at"], "municipality": found["municipality"]} if found else None
    result = {
        "protocol": entry.protocol,
        "name": documents.mask_name(citizen.social_name or citizen.name),
        "status": entry.status,
        "status_label": common.status_label(entry.status),
        "explanation": EXPLANATIONS_PT.get(entry.status, ""),
        "position": entry.position,
        "queue_size": entry.queue_size,
        "estimate_from": entry.estimate_from,
        "estimate_to": entry.estimate_to,
        "updated_at": entry.position_updated_at or entry.status_changed_at,
        "booking": booking,
    }
    return Template("publico/consulta.html", context={"values": {}, "errors": {}, "result": result})


ROUTES = [lookup_page, lookup_alias, lookup]
