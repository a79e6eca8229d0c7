"""The auditor's audit-trail page (issue 17 item 5): who read or changed a citizen, entry or export, when and from
where; scoped to the auditor's jurisdiction; paged; downloadable as CSV; and the search itself audited."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, citizen_body, refer
from tests.web.test_requester_pages import BrowserFor, MakeUser, _starting_protocols  # noqa: F401

pytestmark = pytest.mark.usefixtures("reference_data")


def event_rows(page: str) -> list[str]:
    body = page.split('<table id="eventos">')[1].split("</table>")[0]
    rows = re.findall(r'<tr id="evento-\d+">(.*?)</tr>', body, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", tr)).strip() for tr in rows]


async def test_the_auditor_finds_who_read_a_citizen_and_the_search_is_audited(
    session: AsyncSession, client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    person = citizen_body(name="Rosângela Auditada Vieira")
    entry = await refer(client, aps, person)
    reader = await make_user("regulador", "uf:SC")
    regulator = await browser_for(reader)
    assert (await regulator.get(f"/regulacao/entradas/{entry['id']}")).status_code == 200

    auditor_login = await make_user("auditor", "uf:SC")
    auditor = await browser_for(auditor_login)
    page = await auditor.get("/auditoria", params={"cidadao": person["cpf"]})
    assert page.status_code == 200, page.text
    assert "Rosângela Auditada Vieira" in page.text
    rows = event_rows(page.text)
    reads = [r for r in rows if reader.username in r and "Leitura" in r and f"Solicitação {entry['id']}" in r]
    assert reads, rows
    assert "127.0.0.1" in reads[0] and re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", reads[0])
    # the creation by the APS team shows too; filtering by action keeps only the reads
    assert any(aps.username in r and "Criação" in r for r in rows)
    only_reads = event_rows((await auditor.get("/auditoria", params={"cidadao": person["cpf"], "acao": "read"})).text)
    assert only_reads and all("Leitura" in r for r in only_reads)
    by_user = event_rows((await auditor.get("/auditoria", params={"usuario": reader.username})).text)
    assert any(f"Solicitação {entry['id']}" in r for r in by_user)
    by_entry = event_rows((await auditor.get("/auditoria", params={"solicitacao": entry["id"]})).text)
    assert any(reader.username in r for r in by_entry)
    by_name = await auditor.get("/auditoria", params={"cidadao": "rosangela auditada"})
    assert any(reader.username in r for r in event_rows(by_name.text))  # one match: that citizen at once
    here = datetime.now(ZoneInfo("America/Sao_Paulo")).date()
    around = {"cidadao": person["cpf"], "de": str(here - timedelta(days=1)), "ate": str(here + timedelta(days=1))}
    assert any(reader.username in r for r in event_rows((await auditor.get("/auditoria", params=around)).text))
    later = {"cidadao": person["cpf"], "de": str(here + timedelta(days=2))}
    assert event_rows((await auditor.get("/auditoria", params=later)).text) == []
    by_address = await auditor.get("/auditoria", params={"cidadao": person["cpf"], "endereco": "127.0."})
    assert any(reader.username in r for r in event_rows(by_address.text))
    elsewhere = await auditor.get("/auditoria", params={"cidadao": person["cpf"], "endereco": "10.9."})
    assert event_rows(elsewhere.text) == []

    # the CSV carries the same search
    csv = await auditor.get("/auditoria.csv", params={"cidadao": person["cpf"]})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert reader.username in csv.text and "Endereço de origem" in csv.text

    # the search itself was recorded: the citizen read by the auditor, and the events shown
    audited = (
        await session.execute(
            text("SELECT action, entity_type, entity_id FROM audit_event WHERE actor_username = :u"),
            {"u": auditor_login.username},
        )
    ).all()
    assert ("read", "Citizen", str(entry["citizen_id"])) in [tuple(r) for r in audited]
    assert any(r[0] == "read_list" and r[1] == "AuditEvent" for r in audited)


async def test_jurisdiction_roles_and_bad_parameters(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    person = citizen_body(name="Cidadão De Santa Catarina")
    entry = await refer(client, aps, person)
    regulator_login = await make_user("regulador", "uf:SC")
    await (await browser_for(regulator_login)).get(f"/regulacao/entradas/{entry['id']}")

    # an auditor of another state finds neither the citizen nor the events about SC residents
    pr = await browser_for(await make_user("auditor", "uf:PR"))
    page = await pr.get("/auditoria", params={"cidadao": person["cpf"]})
    assert page.status_code == 200 and "Nenhum cidadão da sua jurisdição" in page.text
    assert event_rows((await pr.get("/auditoria", params={"solicitacao": entry["id"]})).text) == []
    # a national admin sees them
    admin = await browser_for(await make_user("admin", "br"))
    assert event_rows((await admin.get("/auditoria", params={"solicitacao": entry["id"]})).text)
    # other roles do not reach the page
    regulator = await browser_for(regulator_login)
    assert (await regulator.get("/auditoria")).status_code == 403
    assert (await regulator.get("/auditoria.csv")).status_code == 403

    sc = await browser_for(await make_user("auditor", "uf:SC"))
    for params, name in (
        ({"acao": "apagar"}, "acao"),
        ({"de": "31/02/2026"}, "de"),
        ({"de": "2026-03-10", "ate": "2026-03-01"}, "ate"),
        ({"usuario": "x" * 65}, "usuario"),
        ({"endereco": "<script>"}, "endereco"),
        ({"ordem": "senha"}, "ordem"),
    ):
        response = await sc.client.get("/auditoria", params=params)  # as a program asks: the problem's fields
        assert response.status_code == 400, (params, response.status_code)
        assert [e["field"] for e in response.json()["errors"]] == [name], response.text
    # the search form sends every field, the empty ones too
    empty = dict.fromkeys(("cidadao", "solicitacao", "exportacao", "usuario", "acao", "de", "ate", "endereco"), "")
    assert (await sc.get("/auditoria", params=empty)).status_code == 200
    bad_number = await sc.client.get("/auditoria", params={"solicitacao": "12a"})
    assert bad_number.status_code == 400 and bad_number.json()["errors"][0]["field"] == "solicitacao"
    page = (await sc.get("/auditoria")).text
    assert 'id="usuario" name="usuario" maxlength="64"' in page
    assert 'id="endereco" name="endereco" maxlength="64" pattern=' in page


async def test_the_trail_is_paged_by_cursor(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    entry = await refer(client, aps, citizen_body())
    reader = await browser_for(await make_user("regulador", "uf:SC"))
    for _ in range(55):
        await reader.get(f"/regulacao/entradas/{entry['id']}")
    auditor = await browser_for(await make_user("auditor", "uf:SC"))
    first = await auditor.get("/auditoria", params={"solicitacao": entry["id"], "acao": "read"})
    assert len(event_rows(first.text)) == 50
    assert re.search(r"5[5-9] eventos · mostrando 1–50", first.text)
    next_url = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert next_url
    second = await auditor.get(next_url.group(1).replace("&amp;", "&"))
    assert 5 <= len(event_rows(second.text)) < 50


def test_every_audited_record_type_has_a_portuguese_name() -> None:
    # QA found "AuthorizationNumber (1932)", "ressarcimento_operator: lista de 3 registros" on the auditor's page:
    # every model (the flush listener's name) and its table (the list reads' name) must read in Portuguese.
    from sqlmodel import SQLModel

    from regula.models import load_all_models
    from regula.web.audit import ENTITY_LABELS_PT

    load_all_models()
    missing = [
        f"{m.class_.__name__} ({m.class_.__tablename__})"
        for m in SQLModel._sa_registry.mappers
        if not {m.class_.__name__, m.class_.__tablename__} <= ENTITY_LABELS_PT.keys()
    ]
    assert missing == []


async def test_the_auditor_filters_by_kind_of_record_and_opens_an_event(
    session: AsyncSession, client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    # Walking the demo as the auditor: the trail had no filter by kind of record, and no event could be opened
    # to see what changed (the fields before and after), from which browser, with which request.
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    entry = await refer(client, aps, citizen_body(name="Evento Aberto Pela Auditoria"))
    reader = await make_user("regulador", "uf:SC")
    assert (await (await browser_for(reader)).get(f"/regulacao/entradas/{entry['id']}")).status_code == 200
    auditor_login = await make_user("auditor", "uf:SC")
    auditor = await browser_for(auditor_login)

    page = await auditor.get("/auditoria", params={"registro": "WaitlistEntry", "usuario": reader.username})
    assert page.status_code == 200 and '<option value="WaitlistEntry" selected>Solicitação</option>' in page.text
    rows = event_rows(page.text)
    assert rows and all("Solicitação" in r for r in rows)
    assert event_rows((await auditor.get("/auditoria", params={"registro": "OciExecution"})).text) == []
    bad = await auditor.client.get("/auditoria", params={"registro": "Senha"})
    assert bad.status_code == 400 and [e["field"] for e in bad.json()["errors"]] == ["registro"]

    # the creation of the entry, opened: its fields, the request and the origin
    listing = (await auditor.get("/auditoria", params={"solicitacao": entry["id"], "acao": "create"})).text
    assert event_rows(listing)
    event_id = int(re.findall(r'href="/auditoria/eventos/(\d+)"', listing)[0])
    opened = await auditor.get(f"/auditoria/eventos/{event_id}")
    assert opened.status_code == 200, opened.text
    assert f"Evento de auditoria {event_id}" in opened.text and "Criação" in opened.text
    assert "Florianópolis" in opened.text and '<table id="campos">' in opened.text
    # reading it is audited
    read = (
        await session.execute(
            text(
                "SELECT count(*) FROM audit_event WHERE actor_username = :u AND action = 'read' "
                "AND entity_type = 'AuditEvent' AND entity_id = :id"
            ),
            {"u": auditor_login.username, "id": str(event_id)},
        )
    ).scalar_one()
    assert read == 1
    # outside the jurisdiction, or missing: not found, as on the search
    pr = await browser_for(await make_user("auditor", "uf:PR"))
    assert (await pr.get(f"/auditoria/eventos/{event_id}")).status_code == 404
    assert (await auditor.get("/auditoria/eventos/999999999999")).status_code == 404
    regulator = await browser_for(reader)
    assert (await regulator.get(f"/auditoria/eventos/{event_id}")).status_code == 403


async def test_downloading_the_trail_is_an_export_not_a_list_read(
    session: AsyncSession, client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    # Walking the demo: the CSV download showed on the trail as "Leitura em lista", like a page of results.
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    entry = await refer(client, aps, citizen_body(name="Trilha Exportada Em Csv"))
    exporter_login = await make_user("auditor", "br")
    exporter = await browser_for(exporter_login)
    csv = await exporter.get("/auditoria.csv", params={"solicitacao": entry["id"]})
    assert csv.status_code == 200, csv.text
    n = len(csv.text.strip().splitlines()) - 1
    assert n >= 1
    recorded = (
        await session.execute(
            text("SELECT action, entity_type FROM audit_event WHERE actor_username = :u AND path = '/auditoria.csv'"),
            {"u": exporter_login.username},
        )
    ).all()
    assert [tuple(r) for r in recorded] == [("export", "AuditEvent")]

    reader = await browser_for(await make_user("auditor", "br"))
    mine = {"usuario": exporter_login.username}
    rows = event_rows((await reader.get("/auditoria", params=mine)).text)
    exported = [r for r in rows if "Exportação" in r]
    assert len(exported) == 1, rows
    what = "registro exportado" if n == 1 else "registros exportados"
    assert f"Auditoria: {n} {what} em CSV" in exported[0]
    assert not any("Leitura em lista" in r for r in rows), rows
    # the search by kind of action agrees: an export, not a read
    assert len(event_rows((await reader.get("/auditoria", params=mine | {"acao": "export"})).text)) == 1
    assert event_rows((await reader.get("/auditoria", params=mine | {"acao": "read"})).text) == []


async def test_a_refused_filter_says_its_message_once(make_user: MakeUser, browser_for: BrowserFor) -> None:
    # The demo walk: "A data final vem antes da inicial." twice, and "Solicitação: Solicitação: informe…".
    auditor = await browser_for(await make_user("auditor", "uf:SC"))
    inverted = await auditor.get("/auditoria", params={"de": "2026-12-10", "ate": "2026-12-01"})
    assert inverted.status_code == 400
    assert inverted.text.count("A data final vem antes da inicial.") == 1
    letters = await auditor.get("/auditoria", params={"solicitacao": "abc"})
    assert letters.status_code == 400
    assert "Solicitação: informe um número inteiro positivo." in letters.text
    assert "Solicitação</strong>: Solicitação:" not in letters.text
    assert letters.text.count("informe um número inteiro positivo") == 1
