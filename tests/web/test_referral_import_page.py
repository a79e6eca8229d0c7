"""The page that imports referrals from a file (``/importar``): the API's import for people — the rows imported,
each refused row named by line, column and reason, nothing of a refused row saved, and a file that cannot be read
named as the field ``arquivo`` with nothing imported."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.waitlist.test_import_referrals import FLORIANOPOLIS, accepted_cid, catalog, csv_bytes, row  # noqa: F401
from tests.web.conftest import field_error
from tests.web.test_requester_pages import BrowserFor, MakeUser

from regula.waitlist import service

pytestmark = pytest.mark.usefixtures("reference_data")


async def _count(session: AsyncSession, sql: str, **params: str) -> int:
    return int((await session.execute(text(sql), params)).scalar_one())


async def test_an_aps_team_imports_a_file_with_bad_rows_and_sees_each_one(
    session: AsyncSession,
    catalog: service.Catalog,  # noqa: F811
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    # Walking the demo: the bulk import existed only as the API and the CLI; the web had no page for it.
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    form = await aps.get("/importar")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    assert 'href="/importar"' in form.text  # in the team's navigation

    cid = accepted_cid(catalog)
    good = [row(cid=cid, nome="Importada Uma Silva"), row(cid=cid, nome="Importada Duas Souza")]
    bad_oci = row(cid=cid, oci="0999999999", nome="Recusada Pela Oci")
    bad_date = row(cid=cid, data_nascimento="31/02/1990", nome="Recusada Pela Data")
    data = csv_bytes([good[0], bad_oci, good[1], bad_date])
    answer = await aps.post("/importar", {"origem": "esus"}, files={"arquivo": ("encaminhamentos.csv", data)})
    assert answer.status_code == 422, answer.text
    assert "4 linhas lidas" in answer.text and "2 importadas" in answer.text and "2 recusadas" in answer.text
    refused = re.findall(
        r"<tr><td class=\"num\">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>",
        answer.text.split('<table id="linhas-recusadas">')[1],
    )
    assert [(n, column) for n, column, _ in refused] == [("2", "oci"), ("4", "data_nascimento")], refused
    assert all(message and "_" not in message for _, _, message in refused)  # Portuguese, no internal codes
    # the valid rows went in; nothing of a refused row did (neither the citizen nor the entry)
    imported = "SELECT count(*) FROM citizen WHERE cpf = :cpf"
    assert await _count(session, imported, cpf=good[0]["cpf"]) == 1
    assert await _count(session, imported, cpf=good[1]["cpf"]) == 1
    assert await _count(session, imported, cpf=bad_oci["cpf"]) == 0
    assert await _count(session, imported, cpf=bad_date["cpf"]) == 0

    # the same file again: nothing duplicated
    again = await aps.post("/importar", {"origem": "esus"}, files={"arquivo": ("encaminhamentos.csv", data)})
    assert "0 importadas" in again.text and "2 já importadas antes" in again.text

    # a file that cannot be read: the field is named, nothing imported
    latin1 = csv_bytes([row(cid=cid, nome="João Açaí")]).decode().encode("latin-1")
    unreadable = await aps.post("/importar", {}, files={"arquivo": ("latin1.csv", latin1)})
    assert unreadable.status_code == 422 and field_error(unreadable.text, "arquivo")
    missing_columns = await aps.post("/importar", {}, files={"arquivo": ("x.csv", b"nome;cpf\nAna;123\n")})
    assert missing_columns.status_code == 422 and field_error(missing_columns.text, "arquivo")
    # each missing column is named (the demo walk saw "Coluna obrigatória ausente." twelve times, none named)
    assert "Coluna obrigatória ausente: data_nascimento." in missing_columns.text
    no_file = await aps.post("/importar", {}, files={"arquivo": ("", b"")})
    assert no_file.status_code == 422 and field_error(no_file.text, "arquivo")


async def test_only_who_refers_imports(make_user: MakeUser, browser_for: BrowserFor) -> None:
    regulator = await browser_for(await make_user("regulador", "uf:SC"))
    assert (await regulator.get("/importar")).status_code == 200
    auditor = await browser_for(await make_user("auditor", "uf:SC"))
    assert (await auditor.get("/importar")).status_code == 403
