"""The APS referral form's limits and errors (issue 17 item 4): a value beyond a field's limit is refused by the
server naming the field by its label, in the form's order, without internal codes or repeated lines, and nothing
the person typed is lost; the browser gets the same limits as HTML attributes."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS
from tests.web.test_requester_pages import (  # noqa: F401  (the protocols fixture is used by name)
    OCI,
    BrowserFor,
    MakeUser,
    _starting_protocols,
    count,
    referral_form,
)

from regula.web.requester import REFERRAL_FORM

pytestmark = pytest.mark.usefixtures("reference_data")


def summary(page: str) -> list[str]:
    """The error summary's lines, as read."""
    box = re.search(r'class="aviso-erro".*?</div>', page, re.S)
    assert box, "no error summary"
    return [htmllib.unescape(re.sub(r"<[^>]+>", "", li)).strip() for li in re.findall(r"<li>(.*?)</li>", box.group(0))]


def value_of(page: str, name: str) -> str | None:
    match = re.search(rf'<input id="{name}" name="{name}"[^>]*value="([^"]*)"', page)
    return htmllib.unescape(match.group(1)) if match else None


async def test_a_546_character_name_is_refused_by_name_and_everything_typed_stays(
    session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    entries = await count(session, "waitlist_entry")
    long_name = "Maria" + " Aparecida" * 54 + "s"  # 546 characters
    assert len(long_name) == 546
    typed = referral_form(name=long_name, social_name="Mari", cns="", pregnant="1", cadunico="1")
    response = await aps.post("/aps/encaminhar", typed)
    assert response.status_code == 422
    page = response.text
    assert "Erro interno" not in page
    assert summary(page) == ["Nome completo: Texto longo demais: no máximo 200 caracteres (foram 546)."]
    assert value_of(page, "name") == long_name
    for name in ("cpf", "social_name", "requesting_cnes", "phone", "birth_date"):
        assert value_of(page, name) == typed[name], name
    assert typed["risk_justification"] in page
    for select, value in (("race_color", "preta"), ("municipality_ibge", FLORIANOPOLIS), ("cid_code", "Z136")):
        options = page.split(f'id="{select}"')[1].split("</select>")[0]
        assert re.search(rf'value="{value}"[^>]*selected', options), select
    assert re.search(r'id="risco-amarelo"[^>]*checked', page)
    assert re.search(r'id="sexo-F"[^>]*checked', page)
    for key in ("ecg_anexado", "exames_laboratoriais_recentes"):
        assert re.search(rf'id="check-{key}"[^>]*checked', page), key
    for flag in ("contact_consent", "pregnant", "cadunico"):
        assert re.search(rf'id="{flag}"[^>]*checked', page), flag
    assert not re.search(r'id="autism"[^>]*checked', page)
    assert await count(session, "waitlist_entry") == entries


async def test_errors_follow_the_form_order_with_labels_and_no_codes(
    make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    bad = referral_form(
        cid_code="",
        risk_justification="dor",
        checklist=[],
        requesting_cnes="12a",
        sex="",
        race_color="",
        phone="abc",
        name="",
    )
    response = await aps.post("/aps/encaminhar", bad)
    assert response.status_code == 422
    lines = summary(response.text)
    labels = [line.split(":")[0] for line in lines]
    form_order = [f.label for f in REFERRAL_FORM.fields]
    # every line names a field by its label (a checklist item by its own), in the form's order, once
    assert labels == sorted(labels, key=lambda label: form_order.index(label.split(" — ")[0]))
    assert len(lines) == len(set(lines)) and len(labels) == len(set(labels))
    assert labels[0] == "CID-10" and "Informe o CID-10." in lines[0]
    assert any(label.startswith("Protocolo de acesso — Eletrocardiograma") for label in labels)
    assert {"Sexo", "Raça/cor", "Nome completo", "CNES da unidade solicitante", "Telefone celular com DDD"} <= set(
        labels
    )
    text = " ".join(lines)
    for code in ("ecg_anexado", "exames_laboratoriais_recentes", "(vazio)", "cid_code", "obrigatorio", "_"):
        assert code not in text, code


async def test_the_form_carries_the_servers_limits(make_user: MakeUser, browser_for: BrowserFor) -> None:
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    page = (await aps.get("/aps/encaminhar", params={"oci": OCI})).text
    assert re.search(r'id="name" name="name" maxlength="200" required', page)
    assert re.search(r'id="requesting_cnes" name="requesting_cnes" maxlength="7" pattern="\[0-9\]\{7\}"', page)
    assert 'id="phone" name="phone" type="tel" maxlength="20"' in page
    # the server refuses what the browser would not let through, for a request that does not come from the page
    response = await aps.post("/aps/encaminhar", referral_form(requesting_cnes="12345678", social_name="x" * 201))
    assert response.status_code == 422
    assert summary(response.text) == [
        "CNES da unidade solicitante: Texto longo demais: no máximo 7 caracteres (foram 8).",
        "Nome social: Texto longo demais: no máximo 200 caracteres (foram 201).",
    ]
