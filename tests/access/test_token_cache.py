"""A valid API token is remembered for a few seconds per process (regula.access.token_cache): a revocation made
by another process takes effect within that bound; one made through this process's ORM at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login

from regula.access.token_cache import TOKEN_CACHE_SECONDS, TOKENS

MakeUser = Callable[..., Awaitable[Login]]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    now = [1_000.0]
    monkeypatch.setattr(TOKENS, "clock", lambda: now[0])
    TOKENS.clear()
    yield now
    TOKENS.clear()


async def test_a_token_revoked_by_another_process_stops_working_within_the_bound(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession, clock: list[float]
) -> None:
    login = await make_user("regulador", "uf:SC")
    assert (await client.get("/api/v1/me", headers=login.headers)).status_code == 200
    # Another worker or `regula users deactivate` revokes it: a write this process's ORM never sees.
    await session.execute(text("UPDATE api_token SET revoked_at = now() WHERE user_id = :u"), {"u": login.user_id})
    await session.commit()
    clock[0] += TOKEN_CACHE_SECONDS - 0.5
    assert (await client.get("/api/v1/me", headers=login.headers)).status_code == 200  # still remembered
    clock[0] += 1.0
    after = await client.get("/api/v1/me", headers=login.headers)
    assert after.status_code == 401 and after.json()["code"] == "token_invalido"


async def test_a_role_changed_by_another_process_applies_within_the_bound(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession, clock: list[float]
) -> None:
    login = await make_user("regulador", "uf:SC")
    assert (await client.get("/api/v1/me", headers=login.headers)).json()["role"] == "regulador"
    await session.execute(text("UPDATE app_user SET role = 'auditor' WHERE id = :u"), {"u": login.user_id})
    await session.commit()
    clock[0] += TOKEN_CACHE_SECONDS + 0.1
    assert (await client.get("/api/v1/me", headers=login.headers)).json()["role"] == "auditor"


async def test_a_token_revoked_through_this_process_stops_at_once(
    client: httpx.AsyncClient, make_user: MakeUser, clock: list[float]
) -> None:
    login = await make_user("regulador", "uf:SC")
    assert (await client.get("/api/v1/me", headers=login.headers)).status_code == 200  # now remembered
    tokens = (await client.get("/api/v1/tokens", headers=login.headers)).json()
    assert (await client.post(f"/api/v1/tokens/{tokens[0]['id']}/revoke", headers=login.headers)).status_code == 201
    assert (await client.get("/api/v1/me", headers=login.headers)).status_code == 401  # same clock: no expiry


async def test_an_invalid_token_is_never_remembered(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession, clock: list[float]
) -> None:
    login = await make_user("regulador", "uf:SC")
    await session.execute(text("UPDATE api_token SET revoked_at = now() WHERE user_id = :u"), {"u": login.user_id})
    await session.commit()
    assert (await client.get("/api/v1/me", headers=login.headers)).status_code == 401
    await session.execute(text("UPDATE api_token SET revoked_at = NULL WHERE user_id = :u"), {"u": login.user_id})
    await session.commit()
    assert (await client.get("/api/v1/me", headers=login.headers)).status_code == 200
