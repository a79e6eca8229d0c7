"""Rate limits and the audit key on the real client: X-Forwarded-For counts only when the immediate peer is a
trusted proxy, and the public look-up is limited per protocol as well as per address."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from regula.config import Settings
from regula.core.ratelimit import LOOKUPS_PER_ADDRESS, LOOKUPS_PER_PROTOCOL
from regula.http.client import resolve

PROXY = "10.0.0.2"
HTML = {"Accept": "text/html"}


def test_resolve_believes_only_trusted_proxies() -> None:
    # No trusted proxies (the default): the header is ignored, whatever it says.
    assert resolve("127.0.0.1", ["6.6.6.6"], []) == "127.0.0.1"
    assert resolve("203.0.113.9", ["6.6.6.6, 7.7.7.7"], []) == "203.0.113.9"
    # A peer that is not trusted cannot speak for anyone else, even when proxies are configured.
    assert resolve("203.0.113.9", ["6.6.6.6"], ["10.0.0.0/8"]) == "203.0.113.9"
    # From our proxy: the hop it appended (the right-most) is the client.
    assert resolve(PROXY, ["198.51.100.7"], ["10.0.0.0/8"]) == "198.51.100.7"
    # The client prepended a forged hop: the right-most untrusted one still wins.
    assert resolve(PROXY, ["6.6.6.6, 198.51.100.7"], ["10.0.0.0/8"]) == "198.51.100.7"
    # Two proxies of ours in a row, and the header split over two lines.
    assert resolve(PROXY, ["6.6.6.6, 198.51.100.7", "10.0.0.9"], ["10.0.0.0/8"]) == "198.51.100.7"
    # Only our proxies in the chain: the left-most of them.
    assert resolve(PROXY, ["10.0.0.7"], ["10.0.0.0/8"]) == "10.0.0.7"
    # A garbled hop is not believed: the last trusted proxy stands for the client.
    assert resolve(PROXY, ["not-an-ip"], ["10.0.0.0/8"]) == PROXY
    # Ports and IPv6 forms, IPv4-mapped IPv6 peers.
    assert resolve(PROXY, ["198.51.100.7:4444"], [PROXY]) == "198.51.100.7"
    assert resolve(PROXY, ["[2001:db8::5]:443"], [PROXY]) == "2001:db8::5"
    assert resolve("::ffff:10.0.0.2", ["198.51.100.7"], ["10.0.0.0/8"]) == "198.51.100.7"
    assert resolve(None, ["198.51.100.7"], ["10.0.0.0/8"]) == "desconhecido"


def test_trusted_proxies_setting_is_checked() -> None:
    assert Settings(trusted_proxies=[" 10.0.0.0/8", "::1"]).trusted_proxies == ["10.0.0.0/8", "::1"]
    with pytest.raises(ValidationError, match="not an IP address"):
        Settings(trusted_proxies=["proxy.example"])


ClientFor = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def client_for(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Callable[..., Any]]:
    """Clients of ONE application (shared buckets), each connecting from the peer address given."""
    from regula.web.app import create_app

    apps: dict[tuple[str, ...], Any] = {}
    clients: list[httpx.AsyncClient] = []

    def _open(peer: str, trusted: tuple[str, ...] = ()) -> httpx.AsyncClient:
        if trusted not in apps:
            apps[trusted] = create_app(settings.model_copy(update={"trusted_proxies": list(trusted)}), sessionmaker)
        transport = httpx.ASGITransport(app=apps[trusted], client=(peer, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver.local")
        clients.append(client)
        return client

    yield _open
    for c in clients:
        await c.aclose()


async def _lookup(client: httpx.AsyncClient, protocol: str, **headers: str) -> httpx.Response:
    return await client.get(
        "/public/position", params={"protocol": protocol, "birth_date": "1960-05-17"}, headers=headers
    )


async def test_spoofed_header_from_untrusted_peer_does_not_change_the_key(client_for: Callable[..., Any]) -> None:
    attacker = client_for("203.0.113.9")
    statuses = []
    for n in range(LOOKUPS_PER_ADDRESS + 1):
        # A new forged address every time, and a new protocol, so that only the per-address bucket counts.
        r = await _lookup(attacker, f"SC26{n:08d}", **{"X-Forwarded-For": f"198.51.100.{n}"})
        statuses.append(r.status_code)
    assert statuses[:LOOKUPS_PER_ADDRESS] == [404] * LOOKUPS_PER_ADDRESS
    assert statuses[-1] == 429
    body = r.json()
    assert body["code"] == "muitas_consultas_do_endereco" and int(r.headers["retry-after"]) >= 1
    # The page shares the bucket: the attacker is refused there too.
    page = await attacker.post("/posicao", data={"protocolo": "SC2699999999", "nascimento": "17/05/1960"})
    assert page.status_code == 429 and "a partir deste endereço" in page.text


async def test_forwarded_client_from_trusted_proxy_is_the_key(client_for: Callable[..., Any]) -> None:
    proxy = client_for(PROXY, ("10.0.0.0/8",))
    for n in range(LOOKUPS_PER_ADDRESS):
        assert (await _lookup(proxy, f"SC27{n:08d}", **{"X-Forwarded-For": "198.51.100.1"})).status_code == 404
    assert (await _lookup(proxy, "SC2711111111", **{"X-Forwarded-For": "198.51.100.1"})).status_code == 429
    # Another citizen behind the same proxy has a bucket of their own.
    assert (await _lookup(proxy, "SC2722222222", **{"X-Forwarded-For": "198.51.100.2"})).status_code == 404
    # A forged hop to the left of the real one changes nothing.
    forged = await _lookup(proxy, "SC2733333333", **{"X-Forwarded-For": "6.6.6.6, 198.51.100.1"})
    assert forged.status_code == 429


async def test_per_protocol_limit_holds_across_addresses(client_for: Callable[..., Any]) -> None:
    protocol = "SC2612345678"
    for n in range(LOOKUPS_PER_PROTOCOL):
        assert (await _lookup(client_for(f"198.51.100.{n + 10}"), protocol)).status_code == 404
    fresh = client_for("198.51.100.99")
    refused = await _lookup(fresh, protocol.lower())  # another spelling of the same protocol
    assert refused.status_code == 429
    assert refused.json()["code"] == "muitas_consultas_do_protocolo"
    assert int(refused.headers["retry-after"]) >= 60
    # The page counts against the same protocol bucket, from yet another address.
    page = await client_for("198.51.100.98").post("/posicao", data={"protocolo": protocol, "nascimento": "17/05/1960"})
    assert page.status_code == 429 and "para este protocolo" in page.text
    # The fresh address is not penalised for other protocols.
    assert (await _lookup(fresh, "SC2687654321")).status_code == 404


async def test_audit_and_session_record_the_resolved_address(
    client_for: Callable[..., Any], session: AsyncSession, make_user: Any
) -> None:
    spoofer = client_for("203.0.113.9")
    await spoofer.get("/api/v1/me", headers={"X-Forwarded-For": "6.6.6.6"})
    proxied = client_for(PROXY, ("10.0.0.0/8",))
    await proxied.get("/api/v1/me", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.4"})
    ips = (
        await session.execute(
            text("SELECT ip FROM audit_event WHERE action = 'deny' AND path = '/api/v1/me' ORDER BY id DESC LIMIT 2")
        )
    ).scalars()
    assert list(ips) == ["198.51.100.4", "203.0.113.9"]

    login = await make_user("navegador", "uf:SC")
    response = await proxied.post(
        "/login",
        data={"username": login.username, "password": login.password},
        headers={**HTML, "X-Forwarded-For": "198.51.100.5"},
    )
    assert response.status_code == 303
    ip = await session.scalar(
        text("SELECT ip FROM web_session WHERE user_id = :u ORDER BY id DESC LIMIT 1"), {"u": login.user_id}
    )
    assert ip == "198.51.100.5"


def test_secret_key_setting_is_gone() -> None:
    # Nothing was signed with it (sessions and CSRF tokens are random values stored hashed): no false comfort.
    assert "secret_key" not in Settings.model_fields
