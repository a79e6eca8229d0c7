"""Who may call what: 401 without a valid token, 403 for the wrong role or jurisdiction, every denial audited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login

MakeUser = Callable[..., Awaitable[Login]]


async def _denials(session: AsyncSession, path: str) -> list[Any]:
    rows = await session.execute(
        text("SELECT status_code, reason, actor_username FROM audit_event WHERE action = 'deny' AND path = :p"),
        {"p": path},
    )
    return list(rows)


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/users", "/api/v1/audit", "/api/v1/no-such-route"])
async def test_api_without_token_is_401_problem_and_audited(
    client: httpx.AsyncClient, session: AsyncSession, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 401 and body["code"] == "token_ausente"
    assert "token" in body["detail"].lower()
    assert [d.status_code for d in await _denials(session, path)] == [401]


async def test_invalid_expired_or_revoked_token_is_401(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    login = await make_user("regulador", "uf:SC")
    assert (await client.get("/api/v1/me", headers={"Authorization": "Bearer rgl_nope"})).status_code == 401
    ok = await client.get("/api/v1/me", headers=login.headers)
    assert ok.status_code == 200 and ok.json()["role"] == "regulador"
    tokens = (await client.get("/api/v1/tokens", headers=login.headers)).json()
    revoked = await client.post(f"/api/v1/tokens/{tokens[0]['id']}/revoke", headers=login.headers)
    assert revoked.status_code == 201 and revoked.json()["revoked_at"] is not None
    after = await client.get("/api/v1/me", headers=login.headers)
    assert after.status_code == 401 and after.json()["code"] == "token_invalido"


async def test_wrong_role_is_403_and_audited_with_actor(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    aps = await make_user("solicitante", "municipality:4205407")
    response = await client.get("/api/v1/audit", headers=aps.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "papel_sem_acesso"
    assert "Solicitante (APS)" in response.text  # the role as people call it, not its code
    denials = await _denials(session, "/api/v1/audit")
    assert denials and denials[-1].actor_username == aps.username


async def test_manager_cannot_grant_outside_jurisdiction(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    body = {
        "username": "op.curitiba",
        "full_name": "Operador Curitiba",
        "role": "regulador",
        "jurisdiction": "municipality:4106902",
        "password": "senha-segura-1",
    }
    denied = await client.post("/api/v1/users", json=body, headers=gestor.headers)
    assert denied.status_code == 403 and denied.json()["code"] == "fora_da_jurisdicao"
    inside = await client.post(
        "/api/v1/users",
        json=body | {"username": "op.floripa", "jurisdiction": "municipality:4205407"},
        headers=gestor.headers,
    )
    assert inside.status_code == 201, inside.text
    assert inside.json()["jurisdiction"] == "municipality:4205407"
    # nothing half-saved from the denied request
    count = (await session.execute(text("SELECT count(*) FROM app_user WHERE username = 'op.curitiba'"))).scalar_one()
    assert count == 0


async def test_invalid_user_input_names_each_field(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user("admin", "br")
    response = await client.post(
        "/api/v1/users",
        json={"username": "X", "full_name": "", "role": "rei", "jurisdiction": "uf:ZZ", "password": "curta"},
        headers=admin.headers,
    )
    assert response.status_code == 422
    fields = {e["field"]: e["code"] for e in response.json()["errors"]}
    assert fields == {
        "username": "usuario_formato",
        "role": "papel_desconhecido",
        "jurisdiction": "jurisdicao_desconhecida",
        "password": "senha_curta",
        "full_name": "obrigatorio",
    }


async def test_malformed_body_is_422_problem_with_field(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user("admin", "br")
    response = await client.post("/api/v1/tokens", json={"days": "muitos"}, headers=admin.headers)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "dados_invalidos"
    assert any("days" in e["field"] for e in body["errors"])


async def test_admin_sees_audit_of_writes(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user("admin", "br")
    page = (await client.get("/api/v1/audit?entity_type=User&action=create", headers=admin.headers)).json()
    assert any(item["after"]["username"] == admin.username for item in page["items"])
