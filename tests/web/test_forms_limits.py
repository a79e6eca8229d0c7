"""Every page form's typed fields carry the server's limits (issue 17 item 4): the test renders the pages, finds
each form with a field a person types into, and checks that the form names its registered spec
(``data-form``, ``regula.web.forms.REGISTRY``) and that each typed field has the spec's ``maxlength`` (and its
``pattern``, ``minlength``, ``required``) — generated from the one place the server checks them. Then the server
refuses, by label, what the browser would not let through."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.programs.test_par_pages import par_id  # noqa: F401  (fixture: an approved PAR)
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, citizen_body, refer
from tests.web.conftest import HTML, field_error
from tests.web.test_navigation_pages import _booked_no_show
from tests.web.test_requester_pages import OCI, BrowserFor, MakeUser, _starting_protocols  # noqa: F401

from regula.config import Settings
from regula.web.forms import REGISTRY

pytestmark = pytest.mark.usefixtures("reference_data")
TYPED = {None, "text", "search", "tel", "password", "email", "date", "url"}


@dataclass
class FoundForm:
    attrs: dict[str, str | None]
    typed: list[dict[str, str | None]] = field(default_factory=list)


class Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[FoundForm] = []
        self._open: FoundForm | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._open = FoundForm(a)
            self.forms.append(self._open)
        elif (
            self._open is not None
            and a.get("name")
            and (tag == "textarea" or (tag == "input" and a.get("type") in TYPED))
        ):
            self._open.typed.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def check_page(html: str, where: str) -> set[str]:
    """The problems of one page's forms; returns the specs seen."""
    parser = Forms()
    parser.feed(html)
    seen: set[str] = set()
    for form in parser.forms:
        if not form.typed:
            continue  # a button (log out, deactivate): nothing typed
        name = form.attrs.get("data-form")
        assert name in REGISTRY, f"{where}: form {form.attrs.get('action')} does not name its limits (data-form)"
        spec = REGISTRY[name]
        seen.add(name)
        for f in form.typed:
            spec_field = spec.get(str(f["name"]))
            assert spec_field is not None, f"{where}: {name} has no field {f['name']}"
            assert spec_field.max_length is not None, f"{where}: {name}.{f['name']} has no length limit"
            assert f.get("maxlength") == str(spec_field.max_length), (where, name, f)
            if spec_field.pattern:
                assert f.get("pattern") == spec_field.pattern, (where, name, f)
            if spec_field.min_length:
                assert f.get("minlength") == str(spec_field.min_length), (where, name, f)
            if spec_field.required:  # (an action's reason is required by some actions only: the page says which)
                assert "required" in f, (where, name, f)
    return seen


async def test_every_typed_field_carries_the_servers_limit(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps_login = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    entry = await refer(client, aps_login, citizen_body())
    aps = await browser_for(aps_login)
    regulator = await browser_for(await make_user("regulador", "uf:SC"))
    auditor = await browser_for(await make_user("auditor", "uf:SC"))
    admin = await browser_for(await make_user("admin", "br"))
    anonymous = await browser_for(None)
    pages = [
        (anonymous, "/login"),
        (anonymous, "/posicao"),
        (aps, "/senha"),
        (aps, "/aps/encaminhar"),
        (aps, f"/aps/encaminhar?oci={OCI}"),
        (aps, f"/aps/encaminhamentos/{entry['id']}"),
        (regulator, f"/regulacao/entradas/{entry['id']}"),
        (regulator, "/regulacao/agendas"),
        (auditor, "/auditoria"),
        (admin, "/admin/usuarios"),
        (admin, "/admin/usuarios/novo"),
        (admin, f"/admin/usuarios/{aps_login.username}"),
    ]
    seen: set[str] = set()
    for who, path in pages:
        response = await who.get(path)
        assert response.status_code == 200, (path, response.status_code)
        seen |= check_page(response.text, path)
    expected = {"login", "posicao", "senha", "aps_busca_oci", "aps_encaminhar", "acao", "auditoria_busca"}
    expected |= {
        "agendas_filtro",
        "admin_usuarios_filtro",
        "admin_usuario_novo",
        "admin_usuario_acesso",
        "admin_usuario_senha",
    }
    assert expected <= seen, expected - seen


def test_each_registered_limit_is_checked_by_the_server_side_spec() -> None:
    for spec in REGISTRY.values():
        for f in spec.fields:
            if f.limited and f.max_length is not None:
                errors = spec.check({f.name: "1" * (f.max_length + 1)})
                assert [(e.field, e.code) for e in errors] == [(f.name, "texto_longo_demais")], (spec.name, f.name)
                assert all("_" not in e.message for e in errors)


async def test_the_server_refuses_what_the_browser_would_not_send(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    login: Login = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    anonymous = await browser_for(None)
    too_long = await anonymous.client.post(
        "/login", data={"username": "u" * 65, "password": "x", "next": "/"}, headers=HTML
    )
    assert too_long.status_code == 422 and "Usuário: Texto longo demais: no máximo 64 caracteres" in too_long.text
    lookup = await anonymous.client.post(
        "/posicao", data={"protocolo": "SC26 1234 5678 9012 34", "nascimento": "1960-05-17"}, headers=HTML
    )
    assert lookup.status_code == 422
    assert field_error(lookup.text, "protocolo") == "Texto longo demais: no máximo 20 caracteres (foram 22)."
    assert 'value="SC26 1234 5678 9012 34"' in lookup.text and 'value="1960-05-17"' in lookup.text
    aps = await browser_for(login)
    password = await aps.post(
        "/senha", {"current_password": login.password, "new_password": "n" * 129, "confirm_password": "n" * 129}
    )
    assert password.status_code == 422 and "Nova senha: Texto longo demais: no máximo 128 caracteres" in password.text
    assert "Confirme a nova senha: Texto longo demais" in password.text
    entry = await refer(client, login, citizen_body())
    regulator = await browser_for(await make_user("regulador", "uf:SC"))
    text = "Motivo " * 300  # 2,100 characters
    refused = await regulator.post(
        f"/regulacao/entradas/{entry['id']}/transicao",
        {"para": "cancelada", "motivo_codigo": "outro", "motivo_texto": text},
    )
    assert refused.status_code == 422
    assert "Descrição: Texto longo demais: no máximo 2000 caracteres" in refused.text
    assert text.strip() in refused.text  # what was typed stays, whole
    assert field_error(refused.text, "cancelada") is not None
    agendas = await regulator.get("/regulacao/agendas", params={"de": "2026-01-01" + "x" * 20})
    assert field_error(agendas.text, "de") == "Texto longo demais: no máximo 10 caracteres (foram 30)."
    searched = await aps.get("/aps/encaminhar", params={"busca": "c" * 101})
    assert searched.status_code == 422


async def test_the_navigators_contact_form_carries_its_limit_and_keeps_what_was_typed(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    e = await _booked_no_show(client, session, settings, make_user)
    nav_login = await make_user("navegador", "uf:SC")
    faltou = await client.post(
        f"/api/v1/entries/{e['id']}/transitions", json={"to": "faltou"}, headers=nav_login.headers
    )
    assert faltou.status_code == 201, faltou.text
    nav = await browser_for(nav_login)
    worklist = await nav.get("/navegacao")
    assert {"navegacao_contato", "navegacao_filtro"} <= check_page(worklist.text, "/navegacao")
    task_id = (
        await session.execute(text("SELECT id FROM navigation_task WHERE entry_id = :e"), {"e": e["id"]})
    ).scalar_one()
    notes = "Ligou de novo; " * 134  # 2,010 characters
    refused = await nav.post(
        f"/navegacao/tarefas/{task_id}/contatos", {"resultado": "reagendar", "anotacao": notes, "encerrar": "1"}
    )
    assert refused.status_code == 422
    assert "Anotação: Texto longo demais: no máximo 2000 caracteres" in refused.text
    form = refused.text.split(f'action="/navegacao/tarefas/{task_id}/contatos"')[1].split("</form>")[0]
    assert notes.strip() in form and re.search(r'value="reagendar"\s+selected', form)
    assert re.search(r'name="encerrar" value="1"\s+checked', form)
    contacts = (
        await session.execute(text("SELECT count(*) FROM contact_attempt WHERE task_id = :t"), {"t": task_id})
    ).scalar_one()
    assert contacts == 0


async def test_the_managers_forms_carry_their_limits(make_user: MakeUser, browser_for: BrowserFor) -> None:
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    seen: set[str] = set()
    for path in ("/gestao/simulacoes", "/ressarcimento", "/ressarcimento/atestados"):
        response = await gestor.get(path)
        assert response.status_code == 200, (path, response.status_code)
        seen |= check_page(response.text, path)
    expected = {"simulacao", "ressarcimento_operadoras_filtro", "ressarcimento_operadora"}
    assert expected | {"ressarcimento_atestados_filtro"} <= seen, seen
    month = await gestor.get("/ressarcimento/atestados", params={"competencia": "2026011"})
    assert month.status_code == 422
    assert field_error(month.text, "competencia") == "Competência no formato AAAAMM."
    assert 'value="2026011"' in month.text


async def test_an_overlong_operator_name_is_refused_by_label_with_the_other_values_kept(
    session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    """A 260-character operator name was cut to 200 and saved; now it is refused naming "Nome da operadora"."""
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    name = "Operadora de Saúde Suplementar " * 8 + "Ltda"  # 252 characters
    refused = await gestor.post(
        "/ressarcimento/operadoras",
        {"registro_ans": "41950x", "nome": name, "porte": "medio", "uf": "SC", "capacidade_tecnica": "1"},
    )
    assert refused.status_code == 422
    summary = refused.text.split('<div class="aviso-erro" role="alert">')[1].split("</div>")[0]
    assert summary.index("Registro ANS: O registro ANS tem 6 dígitos.") < summary.index(
        f"Nome da operadora: Texto longo demais: no máximo 200 caracteres (foram {len(name)})."
    )
    assert f'value="{name}"' in refused.text and 'value="41950x"' in refused.text
    assert 'value="medio" selected' in refused.text
    assert re.search(r'name="capacidade_tecnica" value="1"\s+checked', refused.text)
    assert not re.search(r'name="em_liquidacao" value="1"\s+checked', refused.text)
    count = (await session.execute(text("SELECT count(*) FROM ressarcimento_operator"))).scalar_one()
    assert count == 0
    searched = await gestor.get("/ressarcimento", params={"busca": "b" * 201})
    assert searched.status_code == 422
    assert field_error(searched.text, "busca") == "Texto longo demais: no máximo 200 caracteres (foram 201)."


async def test_the_par_forms_carry_their_limits_and_refuse_by_label_keeping_what_was_typed(
    par_id: int,  # noqa: F811
    session: AsyncSession,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    gestor = await browser_for(await make_user("gestor", "region:42007"))
    page = await gestor.get(f"/programas/{par_id}")
    assert {"programas_relatorio_cib", "programas_repasse", "programas_contrato"} <= check_page(page.text, "PAR")
    reference = "Ordem bancária 2026OB000123 " * 10  # 280 characters
    refused = await gestor.post(
        f"/programas/{par_id}/repasses",
        {"tipo": "incentivo_1", "gestor": "uf:SC", "data": "2026-01-05", "valor": "1.000,00", "referencia": reference},
    )
    assert refused.status_code == 422
    summary = refused.text.split('role="alert"')[1].split("</div>")[0]
    assert (
        "Referência (ordem bancária, portaria): Texto longo demais: no máximo 200 caracteres "
        f"(foram {len(reference.strip())})." in summary
    )
    assert f'value="{reference.strip()}"' in refused.text
    assert 'value="1.000,00"' in refused.text and 'value="2026-01-05"' in refused.text
    transfers = (
        await session.execute(text("SELECT count(*) FROM par_transfer WHERE par_id = :p"), {"p": par_id})
    ).scalar_one()
    assert transfers == 0
    number = "CT " + "9" * 70
    refused = await gestor.post(
        f"/programas/{par_id}/contratos",
        {"contrato": number, "gestor": "uf:SC", "cnes": "12345678", "oci": "0902010026", "mes": "01/2026"},
    )
    assert refused.status_code == 422
    summary = refused.text.split('role="alert"')[1].split("</div>")[0]
    assert summary.index("Contrato nº: Texto longo demais: no máximo 60") < summary.index(
        "CNES: Texto longo demais: no máximo 7"
    )
    assert f'value="{number}"' in refused.text and 'value="12345678"' in refused.text
    cib = await gestor.get(f"/programas/{par_id}/relatorios/cib", params={"competencia": "2026011"})
    assert cib.status_code == 422
    listing = await gestor.get("/programas")
    assert "programas_filtro" in check_page(listing.text, "/programas")
    searched = await gestor.get("/programas", params={"busca": "Grande Florianópolis" + "x" * 190})
    assert searched.status_code == 422  # was cut at 200 characters and searched
    assert field_error(searched.text, "busca") == "Texto longo demais: no máximo 200 caracteres (foram 210)."
    assert 'value="Grande Florianópolis' in searched.text


async def test_the_allocation_proposal_refuses_by_label_in_form_order_keeping_what_was_typed(
    session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    regulator = await browser_for(await make_user("regulador", "uf:SC"))
    page = await regulator.get("/regulacao/alocacoes")
    assert 'data-form="alocacao_rodada"' in page.text
    check_page(page.text, "/regulacao/alocacoes")
    horizon = "9" * 5000  # was cut to 5 digits; int() of it must not be a 500 either
    refused = await regulator.post(
        "/regulacao/alocacoes", {"escopo": "uf:SC", "horizonte": horizon, "distancia": "muito longe"}
    )
    assert refused.status_code == 422
    summary = refused.text.split('<div class="aviso-erro" role="alert">')[1].split("</div>")[0]
    assert summary.index("Horizonte: Informe um horizonte de 1 a") < summary.index("Distância máxima: ")
    assert f'value="{horizon}"' in refused.text and 'value="muito longe"' in refused.text
    runs = (await session.execute(text("SELECT count(*) FROM allocation_run"))).scalar_one()
    assert runs == 0


async def test_the_operator_page_forms_refuse_by_label_keeping_what_was_typed(
    session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    """The act of the SAES was cut at 200 characters and the surgery's name at 300; now both are refused by label,
    every other value of the form stays, and nothing is saved."""
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    created = await gestor.post(
        "/ressarcimento/operadoras",
        {"registro_ans": "419509", "nome": "Operadora Limites", "porte": "medio", "uf": "SC"},
    )
    assert created.status_code == 303, created.text
    path = created.headers["location"].split("?")[0]
    page = await gestor.get(path)
    seen = check_page(page.text, path)
    assert {"ressarcimento_passo", "ressarcimento_valor_maximo", "ressarcimento_unidade"} <= seen, seen
    act = "Portaria SAES/MS nº 1.234, de 2 de janeiro de 2026, " * 5  # 260 characters
    refused = await gestor.post(f"{path}/valor-maximo", {"ano": "2026", "valor": "120.000,00", "ato": act})
    assert refused.status_code == 422
    assert f"Ato da SAES: Texto longo demais: no máximo 200 caracteres (foram {len(act.strip())})." in refused.text
    assert f'value="{act.strip()}"' in refused.text and 'value="120.000,00"' in refused.text
    maxima = (await session.execute(text("SELECT count(*) FROM ressarcimento_annual_max"))).scalar_one()
    assert maxima == 0
    note = "Consulta aos entes concluída sem objeções. " * 12  # 516 characters
    refused = await gestor.post(f"{path}/passo", {"para": "consulta_entes", "data": "2026-01-05", "observacao": note})
    assert refused.status_code == 422
    assert "Observação: Texto longo demais: no máximo 500 caracteres" in refused.text
    assert f'value="{note.strip()}"' in refused.text and 'value="2026-01-05"' in refused.text
