"""The administrator's user management page (issue 17 item 5): list, create, deactivate and reactivate, reset a
password, change role and jurisdiction — the access service's rules (the CLI's), an administrator with a UF
jurisdiction acting only inside it, every change audited."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.web.conftest import HTML, field_error
from tests.web.test_forms_referral import summary
from tests.web.test_requester_pages import BrowserFor, MakeUser

from regula.web.users import CREATE_FORM

pytestmark = pytest.mark.usefixtures("reference_data")


def usernames(page: str) -> list[str]:
    return re.findall(r'<tr id="usuario-([^"]+)">', page)


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/login", data={"username": username, "password": password, "next": "/"}, headers=HTML)


async def test_admin_creates_a_user_with_a_password_shown_once_and_lists_it(
    session: AsyncSession, client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    admin = await browser_for(await make_user("admin", "br"))
    form = (await admin.get("/admin/usuarios/novo")).text
    assert 'id="username" name="username" maxlength="64" pattern=' in form
    created = await admin.post(
        "/admin/usuarios",
        {"username": "Ana.Reguladora", "full_name": "Ana Reguladora", "role": "regulador", "jurisdiction": "uf:SC"},
    )
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    shown = re.search(r'id="senha-gerada".*?<code>([^<]+)</code>', created.text, re.S)
    assert shown and len(shown.group(1)) == 16
    assert "Usuário criado." in created.text
    # the jurisdiction by its name (the code, which the form takes, only as a hint)
    assert '<dd id="jurisdicao">Santa Catarina <span class="dica">(uf:SC' in created.text
    # the new user logs in with it and must change it first
    answer = await login(client, "ana.reguladora", shown.group(1))
    assert answer.status_code == 303 and answer.headers["location"] == "/senha"
    # listed, filtered by role, jurisdiction and situation
    listed = await admin.get("/admin/usuarios", params={"papel": "regulador", "jurisdicao": "uf:SC"})
    assert "ana.reguladora" in usernames(listed.text)
    assert "<td>Santa Catarina<br>" in listed.text and "Usuários da sua jurisdição (Brasil)." in listed.text
    assert "ana.reguladora" not in usernames((await admin.get("/admin/usuarios", params={"papel": "auditor"})).text)
    inactive = await admin.get("/admin/usuarios", params={"situacao": "inativos"})
    assert "ana.reguladora" not in usernames(inactive.text)
    assert (await admin.get("/admin/usuarios", params={"papel": "rei"})).status_code == 400
    # the creation is audited, without the password's hash
    row = (
        await session.execute(
            text(
                "SELECT after FROM audit_event WHERE entity_type = 'User' AND action = 'create' "
                "ORDER BY id DESC LIMIT 1"
            )
        )
    ).scalar_one()
    assert row["username"] == "ana.reguladora" and "password_hash" not in row


async def test_bad_input_is_named_by_label_in_form_order_and_kept(make_user: MakeUser, browser_for: BrowserFor) -> None:
    admin = await browser_for(await make_user("admin", "br"))
    typed = {
        "username": "A b",
        "full_name": "N" * 201,
        "role": "rei",
        "jurisdiction": "uf:SC",
        "password": "curta",
    }
    response = await admin.post("/admin/usuarios", typed)
    assert response.status_code == 422
    lines = summary(response.text)
    labels = [line.split(":")[0] for line in lines]
    # the form's limits and the service's rules in one answer, in the form's order (the role was a second round)
    assert labels == ["Usuário", "Nome completo", "Papel", "Senha"]
    assert "N" * 201 in response.text and 'value="A b"' in response.text
    # within the limits, the service's own rules (the CLI's), still by label and in order
    within = typed | {"username": "abc", "full_name": "Nome", "password": "", "jurisdiction": "uf:ZZ"}
    response = await admin.post("/admin/usuarios", within)
    assert response.status_code == 422
    lines = summary(response.text)
    assert [line.split(":")[0] for line in lines] == ["Papel", "Jurisdição"]
    assert "rei" not in lines[0] or "Papel desconhecido" in lines[0]
    assert 'value="uf:ZZ"' in response.text and 'value="abc"' in response.text
    assert [f.name for f in CREATE_FORM.fields] == ["username", "full_name", "role", "jurisdiction", "password"]


async def test_every_error_of_a_new_user_at_once_and_roles_by_their_names(
    make_user: MakeUser, browser_for: BrowserFor
) -> None:
    """One submission names every field to fix (the form's limits and the service's rules together: a bad username
    and no role, no name, an unknown jurisdiction), and the roles are named as the role list shows them."""
    admin = await browser_for(await make_user("admin", "br"))
    typed = {"username": "A b", "full_name": "", "role": "", "jurisdiction": "uf:ZZ", "password": ""}
    response = await admin.post("/admin/usuarios", typed)
    assert response.status_code == 422
    lines = summary(response.text)
    assert [line.split(":")[0] for line in lines] == ["Usuário", "Nome completo", "Papel", "Jurisdição"]
    role = lines[2]
    assert "Regulador" in role and "Navegador do cuidado (NGC)" in role and "Teleconsultor (especialista)" in role
    assert not re.search(r"\b(admin|gestor|regulador|navegador|solicitante|executante|teleconsultor)\b", role)
    assert field_error(response.text, "role") == role.split(": ", 1)[1]
    # the same names when an unknown role is sent, and on the user's access form
    unknown = summary((await admin.post("/admin/usuarios", typed | {"role": "rei"})).text)[2]
    assert unknown.startswith("Papel: Papel desconhecido; escolha um de: Administrador, Gestor, Regulador")
    other = await make_user("regulador", "uf:SC")
    moved = await admin.post(f"/admin/usuarios/{other.username}/acesso", {"role": "rei", "jurisdiction": "uf:SC"})
    assert moved.status_code == 422 and "Navegador do cuidado (NGC)" in moved.text and "navegador," not in moved.text


async def test_a_state_admin_manages_only_users_inside_the_state(make_user: MakeUser, browser_for: BrowserFor) -> None:
    sc_admin_login = await make_user("admin", "uf:SC")
    sc_admin = await browser_for(sc_admin_login)
    pr_user = await make_user("regulador", "uf:PR")
    sc_user = await make_user("regulador", "municipality:4205407")
    listed = usernames((await sc_admin.get("/admin/usuarios")).text)
    assert sc_user.username in listed and pr_user.username not in listed
    assert (await sc_admin.get(f"/admin/usuarios/{pr_user.username}")).status_code == 403
    assert (await sc_admin.post(f"/admin/usuarios/{pr_user.username}/situacao", {"ativo": "0"})).status_code == 403
    assert (await sc_admin.post(f"/admin/usuarios/{pr_user.username}/senha", {})).status_code == 403
    outside = await sc_admin.post(
        "/admin/usuarios",
        {"username": "fora.do.estado", "full_name": "Fora", "role": "auditor", "jurisdiction": "uf:PR"},
    )
    assert outside.status_code == 403 and "fora da sua" in outside.text
    # moving a user of SC to PR is refused too; inside SC it is done and audited
    moved = await sc_admin.post(
        f"/admin/usuarios/{sc_user.username}/acesso", {"role": "auditor", "jurisdiction": "uf:PR"}
    )
    assert moved.status_code == 403
    done = await sc_admin.post(
        f"/admin/usuarios/{sc_user.username}/acesso", {"role": "auditor", "jurisdiction": "uf:SC"}
    )
    assert done.status_code == 303
    page = (await sc_admin.get(done.headers["location"])).text
    assert "Auditor" in page.split('id="papel"')[1][:40] and "Santa Catarina" in page.split('id="jurisdicao"')[1][:40]
    # nobody changes their own access
    own = await sc_admin.post(
        f"/admin/usuarios/{sc_admin_login.username}/acesso", {"role": "auditor", "jurisdiction": "uf:SC"}
    )
    assert own.status_code == 409 and "próprio" in own.text


async def test_deactivate_ends_sessions_and_tokens_and_reset_password(
    session: AsyncSession, client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    admin = await browser_for(await make_user("admin", "br"))
    target: Login = await make_user("navegador", "uf:SC")
    their_browser = await browser_for(target)
    assert (await client.get("/api/v1/me", headers=target.headers)).status_code == 200

    off = await admin.post(f"/admin/usuarios/{target.username}/situacao", {"ativo": "0"})
    assert off.status_code == 303
    assert "Desativado" in (await admin.get(off.headers["location"])).text
    assert (await client.get("/api/v1/me", headers=target.headers)).status_code == 401
    assert (await their_browser.get("/navegacao")).status_code in (302, 303, 401)
    assert (await login(client, target.username, target.password)).status_code == 401
    on = await admin.post(f"/admin/usuarios/{target.username}/situacao", {"ativo": "1"})
    assert on.status_code == 303
    assert (await login(client, target.username, target.password)).status_code == 303

    short = await admin.post(f"/admin/usuarios/{target.username}/senha", {"password": "curta"})
    assert short.status_code == 422 and "Senha: " in " ".join(summary(short.text))
    reset = await admin.post(f"/admin/usuarios/{target.username}/senha", {})
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    shown = re.search(r'id="senha-gerada".*?<code>([^<]+)</code>', reset.text, re.S)
    assert shown
    assert (await login(client, target.username, target.password)).status_code == 401
    answer = await login(client, target.username, shown.group(1))
    assert answer.status_code == 303 and answer.headers["location"] == "/senha"
    changes = (
        (
            await session.execute(
                text(
                    "SELECT after FROM audit_event WHERE entity_type = 'User' AND action = 'update' "
                    "AND entity_id = (SELECT id::text FROM app_user WHERE username = :u) ORDER BY id"
                ),
                {"u": target.username},
            )
        )
        .scalars()
        .all()
    )
    assert any(c.get("is_active") is False for c in changes)
    assert any(c.get("must_change_password") is True for c in changes)


async def test_only_admins_reach_the_page(make_user: MakeUser, browser_for: BrowserFor) -> None:
    for role in ("gestor", "auditor", "regulador"):
        someone = await browser_for(await make_user(role, "uf:SC"))
        assert (await someone.get("/admin/usuarios")).status_code == 403
