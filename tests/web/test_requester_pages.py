"""The APS team's pages: the referral form (OCI, the CIDs it accepts, risk, protocol checklist, CPF/CNS checked)
with errors named next to each field, the team's referrals, and answering a pendência."""

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

from regula.catalog.protocols import seed_starting_versions
from regula.config import Settings
from regula.people.documents import generate_cns, generate_cpf

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")
rng = random.Random(62)
OCI = "0902010026"  # cardiology evaluation: CIDs Z136 and Z848; checklist ECG and lab tests


def referral_form(**over: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "oci_code": OCI,
        "cid_code": "Z136",
        "risk_class": "amarelo",
        "risk_justification": "Hipertensão de difícil controle com dor torácica aos esforços.",
        "checklist": ["ecg_anexado", "exames_laboratoriais_recentes"],
        "requesting_cnes": "2691868",
        "cpf": generate_cpf(rng),
        "name": "Helena Maria Duarte",
        "birth_date": "1958-03-09",
        "sex": "F",
        "race_color": "preta",
        "municipality_ibge": FLORIANOPOLIS,
        "phone": "(48) 99911-2233",
        "preferred_channel": "sms",
        "contact_consent": "1",
    }
    return form | over


@pytest.fixture(autouse=True)
async def _starting_protocols(session: AsyncSession, settings: Settings) -> None:
    """Each OCI's protocol at version 1, as `regula seed` leaves it (the form shows its checklist; decision 0020)."""
    await seed_starting_versions(session, settings)


async def count(session: AsyncSession, table: str) -> int:
    return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_form_lists_only_the_cids_the_oci_accepts(make_user: MakeUser, browser_for: BrowserFor) -> None:
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    start = await aps.get("/aps/encaminhar")
    assert start.status_code == 200
    assert 'name="oci"' in start.text and "0902010026" in start.text
    assert 'name="cid_code"' not in start.text  # the OCI comes first
    searched = await aps.get("/aps/encaminhar", params={"busca": "cardiol"})
    assert "0902010026" in searched.text and "0905010035" not in searched.text
    form = await aps.get("/aps/encaminhar", params={"oci": OCI})
    cid_options = form.text.split('id="cid_code"')[1].split("</select>")[0]
    assert 'value="Z136"' in cid_options
    assert 'value="H25"' not in cid_options  # a cataract CID belongs to ophthalmology
    assert "Eletrocardiograma recente anexado" in form.text
    assert 'value="Florianópolis/SC"' not in form.text and "Florianópolis/SC</option>" in form.text


async def test_bad_input_is_named_next_to_each_field_and_nothing_is_saved(
    session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    citizens, entries = await count(session, "citizen"), await count(session, "waitlist_entry")
    bad = referral_form(
        cpf="123.456.789-00",
        cid_code="",
        checklist=["ecg_anexado"],
        risk_class="",
        risk_justification="dor",
        phone="123",
        birth_date="31/02/1960",
        race_color="",
    )
    response = await aps.post("/aps/encaminhar", bad)
    assert response.status_code == 422
    html = response.text
    assert "CPF inválido" in (field_error(html, "cpf") or "")
    assert field_error(html, "cid_code") == "Informe o CID-10."
    checklist_error = field_error(html, "checklist") or ""
    assert "Exames laboratoriais dos últimos seis meses" in checklist_error  # the item's label, never its key
    assert "exames_laboratoriais_recentes" not in checklist_error
    assert "Classe de risco" in (field_error(html, "risk_class") or "")
    assert "mínimo 10 letras" in (field_error(html, "risk_justification") or "")
    assert "data de nascimento" in (field_error(html, "birth_date") or "")
    assert field_error(html, "race_color") == "Escolha uma opção."
    assert 'aria-invalid="true"' in html and 'aria-describedby="erro-cpf"' in html
    assert "Helena Maria Duarte" in html  # what was typed stays in the form
    assert await count(session, "citizen") == citizens and await count(session, "waitlist_entry") == entries

    cns_only = await aps.post("/aps/encaminhar", referral_form(cpf="", cns=generate_cns(rng)))
    assert cns_only.status_code == 422
    assert "só pessoas indígenas" in (field_error(cns_only.text, "cpf") or "")
    elsewhere = await aps.post("/aps/encaminhar", referral_form(municipality_ibge=JOINVILLE))
    assert elsewhere.status_code == 422
    assert field_error(elsewhere.text, "municipality_ibge") == "Município fora da sua jurisdição."


async def test_referral_is_sent_and_listed_with_its_status(
    session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    login = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    aps = await browser_for(login)
    form = referral_form(name="Iara Ribeiro Campos")
    sent = await aps.post("/aps/encaminhar", form)
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    assert location.startswith("/aps/encaminhamentos/") and location.endswith("?feito=criada")
    page = await aps.get(location)
    assert "Encaminhamento enviado à regulação." in page.text
    assert "Solicitada" in page.text and "Z136" in page.text
    protocol = (
        await session.execute(
            text(
                "SELECT e.protocol FROM waitlist_entry e JOIN citizen c ON c.id = e.citizen_id "
                "WHERE c.name = 'Iara Ribeiro Campos'"
            )
        )
    ).scalar_one()
    assert protocol in page.text
    listed = await aps.get("/aps", params={"meus": "1"})
    assert protocol in listed.text and "Iara Ribeiro Campos" in listed.text
    again = await aps.get("/aps/encaminhar", params={"oci": OCI})
    assert 'value="2691868"' in again.text  # the unit's CNES comes filled in the next time
    assert "Iara Ribeiro Campos" not in (await aps.get("/aps/encaminhar", params={"oci": OCI})).text


async def test_registered_citizen_is_found_by_cpf_and_a_second_active_referral_refused(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    login = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    cpf = generate_cpf(rng)
    await refer(client, login, citizen_body(name="Jorge Já Cadastrado") | {"cpf": cpf})
    aps = await browser_for(login)
    # Only the CPF: the registered record is used, the rest of the citizen fields are not needed.
    blank = {k: "" for k in ("name", "birth_date", "sex", "race_color", "phone")}
    response = await aps.post("/aps/encaminhar", referral_form(cpf=cpf) | blank)
    assert response.status_code == 409
    assert "já tem uma solicitação ativa desta OCI" in response.text
    assert "Ver a solicitação ativa" in response.text
    orthopedics = referral_form(
        cpf=cpf,
        oci_code="0903010011",
        cid_code="M170",
        checklist=["exame_fisico_registrado", "tratamento_conservador_realizado"],
    )
    other_oci = await aps.post("/aps/encaminhar", orthopedics | blank)
    assert other_oci.status_code == 303, other_oci.text


async def test_pendency_is_answered_and_resubmitted(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    login = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    admin = await make_user("admin", "br")
    entry = await refer(client, login, citizen_body(name="Lia Pendente") | {"cpf": generate_cpf(rng)})
    for target, reason in (("em_analise", None), ("devolvida", "Anexar o ECG com laudo.")):
        r = await client.post(
            f"/api/v1/entries/{entry['id']}/transitions",
            json={"to": target, "reason_text": reason},
            headers=admin.headers,
        )
        assert r.status_code == 201, r.text
    aps = await browser_for(login)
    listing = await aps.get("/aps")
    assert "1 encaminhamento devolvido" in listing.text
    pendencies = await aps.get("/aps", params={"situacao": "devolvida"})
    assert entry["protocol"] in pendencies.text
    page = await aps.get(f"/aps/encaminhamentos/{entry['id']}")
    assert "Anexar o ECG com laudo." in page.text and "Responder e reenviar" in page.text
    url = f"/aps/encaminhamentos/{entry['id']}/transicao"
    empty = await aps.post(url, {"para": "solicitada", "motivo_texto": " "})
    assert empty.status_code == 422
    assert field_error(empty.text, "solicitada") == "Descreva o que foi feito para atender à pendência."
    answered = await aps.post(url, {"para": "solicitada", "motivo_texto": "ECG anexado ao prontuário."})
    assert answered.status_code == 303
    status = (
        await session.execute(text("SELECT status FROM waitlist_entry WHERE id = :i"), {"i": entry["id"]})
    ).scalar()
    assert status == "solicitada"
    after = await aps.get(answered.headers["location"])
    assert "Pendência respondida" in after.text and "ECG anexado ao prontuário." in after.text


async def test_a_referral_of_another_municipality_is_refused_naming_the_place(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    # The demo walk: "Solicitação fora da sua jurisdição (municipality:4205407)" — a code, not a place.
    other = await make_user("solicitante", f"municipality:{JOINVILLE}")
    entry = await refer(client, other, citizen_body(name="Caio Joinvilense", municipality_ibge=JOINVILLE))
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    page = await aps.get(f"/aps/encaminhamentos/{entry['id']}")
    assert page.status_code == 403
    assert "Florianópolis/SC" in page.text and "municipality:" not in page.text
