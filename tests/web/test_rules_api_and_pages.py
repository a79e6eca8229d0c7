"""The workflow rules that once lived only in the pages hold through the API too: each rule is run through
``/api/v1`` and through the page form, and both refuse (and accept) the same way, leaving the same history.

1. A returned referral (devolvida) is resubmitted only with the answer to the pendência (states.py, art. 10 §1 V).
2. A decision on a referral just sent starts its analysis first (``states.path_to``): two history steps, and a
   refused decision leaves no half-move behind.
3. The referral pre-check (``waitlist.service.check_referral``): the citizen's and the referral's errors are named
   together, checking the referral against a neutral stand-in while the citizen's data is invalid; a registered
   citizen of another municipality is a field error."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, JOINVILLE, citizen_body, refer
from tests.web.conftest import Browser, field_error
from tests.web.test_requester_pages import referral_form

from regula.people.documents import generate_cpf

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")
rng = random.Random(1212)
CHANNELS = ("api", "page")
ANSWER_REQUIRED = "Descreva o que foi feito para atender à pendência."


async def history(session: AsyncSession, entry_id: int) -> list[tuple[str | None, str, str | None, str | None]]:
    rows = await session.execute(
        text(
            "SELECT from_status, to_status, actor_role, reason_text FROM waitlist_entry_event "
            "WHERE entry_id = :i AND kind = 'transition' ORDER BY id"
        ),
        {"i": entry_id},
    )
    return [(r.from_status, r.to_status, r.actor_role, r.reason_text) for r in rows]


async def status_of(session: AsyncSession, entry_id: int) -> str:
    found = await session.execute(text("SELECT status FROM waitlist_entry WHERE id = :i"), {"i": entry_id})
    return str(found.scalar_one())


def bad_cpf() -> str:
    cpf = generate_cpf(rng)
    return cpf[:-1] + str((int(cpf[-1]) + 1) % 10)


# -- 1. the answer to a pendência --------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
async def test_resubmitting_a_returned_referral_needs_the_answer(
    channel: str,
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    entry = await refer(client, aps, citizen_body(name="Lia Pendente"))
    returned = await client.post(
        f"/api/v1/entries/{entry['id']}/transitions",
        json={"to": "devolvida", "reason_text": "Anexar o ECG com laudo."},
        headers=reg.headers,
    )
    assert returned.status_code == 201, returned.text

    if channel == "api":
        refused = await client.post(
            f"/api/v1/entries/{entry['id']}/transitions", json={"to": "solicitada"}, headers=aps.headers
        )
        assert refused.status_code == 422, refused.text
        assert [(e["field"], e["code"], e["message"]) for e in refused.json()["errors"]] == [
            ("reason", "resposta_obrigatoria", ANSWER_REQUIRED)
        ]
        accepted = await client.post(
            f"/api/v1/entries/{entry['id']}/transitions",
            json={"to": "solicitada", "reason_text": "ECG anexado ao prontuário."},
            headers=aps.headers,
        )
        assert accepted.status_code == 201, accepted.text
    else:
        page = await browser_for(aps)
        url = f"/aps/encaminhamentos/{entry['id']}/transicao"
        refused = await page.post(url, {"para": "solicitada", "motivo_texto": "  "})
        assert refused.status_code == 422
        assert field_error(refused.text, "solicitada") == ANSWER_REQUIRED
        accepted = await page.post(url, {"para": "solicitada", "motivo_texto": "ECG anexado ao prontuário."})
        assert accepted.status_code == 303, accepted.text

    assert await status_of(session, entry["id"]) == "solicitada"
    assert (await history(session, entry["id"]))[-1] == (
        "devolvida",
        "solicitada",
        "solicitante",
        "ECG anexado ao prontuário.",
    )


# -- 2. deciding a referral just sent -----------------------------------------------------------------------------


async def _decide(
    channel: str, client: httpx.AsyncClient, page: Browser, who: Login, entry_id: int, target: str, reason: str = ""
) -> int:
    if channel == "api":
        body = {"to": target} | ({"reason_text": reason} if reason else {})
        response = await client.post(f"/api/v1/entries/{entry_id}/transitions", json=body, headers=who.headers)
    else:
        form = {"para": target} | ({"motivo_texto": reason} if reason else {})
        response = await page.post(f"/regulacao/entradas/{entry_id}/transicao", form)
    return response.status_code


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_decision_on_a_referral_just_sent_starts_its_analysis_first(
    channel: str,
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    page = await browser_for(reg)
    entry = await refer(client, aps, citizen_body(name="Ana Direta"))
    assert await status_of(session, entry["id"]) == "solicitada"
    # The API offers what the page offers: the decisions, from a referral just sent.
    detail = await client.get(f"/api/v1/entries/{entry['id']}", headers=reg.headers)
    assert {"em_analise", "autorizada", "devolvida", "negada"} <= set(detail.json()["allowed_transitions"])

    # A decision that needs a reason, without one: refused before any step, so the entry did not move at all.
    assert await _decide(channel, client, page, reg, entry["id"], "negada") == 422
    assert await status_of(session, entry["id"]) == "solicitada"
    assert await history(session, entry["id"]) == []

    expected = 201 if channel == "api" else 303
    assert await _decide(channel, client, page, reg, entry["id"], "autorizada") == expected
    assert await status_of(session, entry["id"]) == "autorizada"
    assert await history(session, entry["id"]) == [
        ("solicitada", "em_analise", "regulador", None),
        ("em_analise", "autorizada", "regulador", None),
    ]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_who_may_not_start_the_analysis_may_not_decide_a_referral_just_sent(
    channel: str,
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    nav = await make_user("navegador", "uf:SC")
    page = await browser_for(nav)
    entry = await refer(client, aps, citizen_body(name="Rui Sem Atalho"))
    assert await _decide(channel, client, page, nav, entry["id"], "autorizada") == 409
    assert await status_of(session, entry["id"]) == "solicitada"
    assert await history(session, entry["id"]) == []


# -- 3. the referral pre-check -------------------------------------------------------------------------------------


async def _submit(
    channel: str, client: httpx.AsyncClient, page: Browser, who: Login, form: dict[str, Any]
) -> tuple[int, dict[str, str]]:
    """The same referral through the API (JSON) or the page (its form); the status and field → error code (the
    page shows messages, so its codes are matched by message against the API's)."""
    if channel == "api":
        citizen = {k: form[k] for k in ("cpf", "name", "sex", "race_color", "municipality_ibge", "phone")}
        body = {
            "citizen": citizen | {"birth_date": form["birth_date"], "contact_consent": True},
            "oci_code": form["oci_code"],
            "cid_code": form["cid_code"],
            "risk_class": form["risk_class"],
            "risk_justification": form["risk_justification"],
            "requesting_cnes": form["requesting_cnes"],
            "checklist": {key: True for key in form["checklist"]},
        }
        response = await client.post("/api/v1/referrals", json=body, headers=who.headers)
        errors = {e["field"]: e["message"] for e in response.json().get("errors", [])}
        return response.status_code, errors
    response = await page.post("/aps/encaminhar", form)
    fields = ("cpf", "name", "municipality_ibge", "cid_code", "risk_class", "oci_code")
    return response.status_code, {f: m for f in fields if (m := field_error(response.text, f))}


@pytest.mark.parametrize("channel", CHANNELS)
async def test_citizen_and_referral_errors_are_named_together(
    channel: str,
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    page = await browser_for(aps)
    before = (await session.execute(text("SELECT count(*) FROM citizen"))).scalar_one()
    # An invalid CPF and a CID the OCI does not accept: both named at once (the referral checked against a
    # stand-in citizen), and nothing saved.
    bad = referral_form(cpf=bad_cpf(), cid_code="A000", birth_date="1958-03-09")
    status, errors = await _submit(channel, client, page, aps, bad)
    assert status == 422
    assert set(errors) == {"cpf", "cid_code"}
    assert "CID A000 não é aceito" in errors["cid_code"]
    assert (await session.execute(text("SELECT count(*) FROM citizen"))).scalar_one() == before

    good = referral_form(birth_date="1958-03-09")
    status, errors = await _submit(channel, client, page, aps, good)
    assert (status, errors) == ((201 if channel == "api" else 303), {})


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_registered_citizen_of_another_municipality_is_a_field_error(
    channel: str,
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    joinville = await make_user("solicitante", f"municipality:{JOINVILLE}")
    cpf = generate_cpf(rng)
    created = await client.post(
        "/api/v1/citizens",
        json=citizen_body(cpf=cpf, name="Otto Joinvilense", municipality_ibge=JOINVILLE),
        headers=joinville.headers,
    )
    assert created.status_code == 201, created.text
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    page = await browser_for(aps)
    status, errors = await _submit(channel, client, page, aps, referral_form(cpf=cpf, birth_date="1958-03-09"))
    assert (status, errors) == (422, {"cpf": "Este CPF/CNS é de um cidadão de outro município."})
    entries = await session.execute(
        text("SELECT count(*) FROM waitlist_entry e JOIN citizen c ON c.id = e.citizen_id WHERE c.name = :n"),
        {"n": "Otto Joinvilense"},
    )
    assert entries.scalar_one() == 0
