"""The address of the person behind a request, the one thing rate limits, login throttling and the audit's ``ip``
key on.

uvicorn runs with proxy headers off (``regula serve``), so the ASGI ``client`` is always the immediate peer. A
``X-Forwarded-For`` header is honoured only when that peer is one of ``REGULA_TRUSTED_PROXIES``: then the hops
are read from the right (the one appended by our own proxy) and the first address that is not itself a trusted
proxy is the client. Anything to its left was written by the client and proves nothing. Without trusted proxies
(the default) the header is ignored, so spoofing it cannot buy a fresh rate-limit bucket.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import TypeAlias

from litestar.types import Scope

from regula.config import Settings

UNKNOWN = "desconhecido"
_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _parse(raw: str) -> _Address | None:
    value = raw.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:51234"
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: _Address, networks: Iterable[_Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def resolve(peer: str | None, forwarded_for: list[str], trusted_proxies: Iterable[str]) -> str:
    """The client's address from the immediate ``peer`` and the ``X-Forwarded-For`` header values (pure)."""
    if not peer:
        return UNKNOWN
    current = _parse(peer)
    if current is None:
        return peer[:64]
    networks = _networks(tuple(trusted_proxies))
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    while hops and _trusted(current, networks):
        hop = _parse(hops.pop())
        if hop is None:  # a garbled hop: stop at the last proxy we trust rather than believe it
            break
        current = hop
    return str(current)


def client_address_from_scope(scope: Scope, settings: Settings) -> str:
    client = scope.get("client")
    peer = client[0] if client else None
    forwarded = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"x-forwarded-for"]
    return resolve(peer, forwarded, settings.trusted_proxies)
