"""Queries of the access domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, bindparam, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.models import ApiToken, User, WebSession
from regula.core.errors import NotFound
from regula.db.listing import Slice, SortKey, Sorts, Window, fetch


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    result = await session.execute(select(User).where(User.username == username))  # type: ignore[arg-type]
    return result.scalar_one_or_none()


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("Usuário não encontrado.", code="usuario_desconhecido")
    return user


async def list_users(session: AsyncSession) -> list[User]:
    result = await session.execute(select(User).order_by(User.username))
    return list(result.scalars())


async def get_token(session: AsyncSession, token_id: int) -> ApiToken:
    token = await session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("Token não encontrado.", code="token_desconhecido")
    return token


async def tokens_of(session: AsyncSession, user_id: int) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)  # type: ignore[arg-type]
    return list((await session.execute(stmt)).scalars())


@dataclass(frozen=True)
class Credential:
    """Who an API token or a session cookie belongs to: the user's fields a ``Principal`` needs, and the
    credential's own (the token's id and last use, the session's CSRF token)."""

    credential_id: int
    last_used_at: datetime | None
    csrf_token: str | None
    user_id: int
    username: str
    full_name: str
    role: str
    jurisdiction: str
    must_change_password: bool


_USER_FIELDS = (
    col(User.id),
    col(User.username),
    col(User.full_name),
    col(User.role),
    col(User.jurisdiction),
    col(User.must_change_password),
)


# Every signed-in request runs one of these two look-ups first, so each is built once, with its values as bound
# parameters, and reads columns rather than ORM objects: rebuilding the statement and loading two entities per
# request was most of the look-up's CPU, which this halved (benchmarks/bench_principal.py, docs/benchmarks.md).
def _active(model: Any, hash_column: Any, last_used_at: Any, csrf_token: Any) -> Executable:
    """The look-up of an unrevoked, unexpired credential of an active user by its hash, as ``Credential`` columns."""
    return (
        select(col(model.id), last_used_at, csrf_token, *_USER_FIELDS)
        .join(User, col(User.id) == col(model.user_id))
        .where(
            col(hash_column) == bindparam("credential_hash"),
            col(model.revoked_at).is_(None),
            col(model.expires_at) > bindparam("now"),
            col(User.is_active).is_(True),
        )
    )


_ACTIVE_TOKEN = _active(ApiToken, ApiToken.token_hash, col(ApiToken.last_used_at), null().label("csrf_token"))
_ACTIVE_SESSION = _active(WebSession, WebSession.session_hash, null().label("last_used_at"), col(WebSession.csrf_token))


async def _credential(
    session: AsyncSession, stmt: Executable, credential_hash: str, now: datetime
) -> Credential | None:
    row = (await session.execute(stmt, {"credential_hash": credential_hash, "now": now})).first()
    return Credential(*row) if row is not None else None


async def active_token(session: AsyncSession, token_hash: str, now: datetime) -> Credential | None:
    """The active token with this hash, of an active user (``credential_id`` is the token's id)."""
    return await _credential(session, _ACTIVE_TOKEN, token_hash, now)


async def touch_token(session: AsyncSession, token_id: int, now: datetime) -> None:
    # A Core update: a last-used stamp is operational data, not a change worth an audit row per request.
    await session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)  # type: ignore[arg-type]
    )


async def active_session(session: AsyncSession, session_hash: str, now: datetime) -> Credential | None:
    """The open web session with this hash, of an active user (``credential_id`` is the session's id)."""
    return await _credential(session, _ACTIVE_SESSION, session_hash, now)


async def revoke_session(session: AsyncSession, session_hash: str, now: datetime) -> None:
    await session.execute(
        update(WebSession)
        .where(WebSession.session_hash == session_hash, WebSession.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(revoked_at=now)
    )


async def revoke_sessions_of(
    session: AsyncSession, user_id: int, now: datetime, *, keep_hash: str | None = None
) -> int:
    """End every open session of a user but ``keep_hash``'s; return how many were ended."""
    stmt = update(WebSession).where(
        WebSession.user_id == user_id,  # type: ignore[arg-type]
        WebSession.revoked_at.is_(None),  # type: ignore[union-attr]
    )
    if keep_hash is not None:
        stmt = stmt.where(WebSession.session_hash != keep_hash)  # type: ignore[arg-type]
    result = await session.execute(stmt.values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


# -- the admin's list of users (issue 17 item 5) ---------------------------------------------------------------------

USER_SORTS = Sorts(
    keys=(
        SortKey("usuario", col(User.username), str),
        SortKey("nome", col(User.full_name), str),
        SortKey("papel", col(User.role), str),
        SortKey("jurisdicao", col(User.jurisdiction), str),
        SortKey("criado", col(User.created_at), datetime, descending_first=True),
    ),
    default="usuario",
    default_descending=False,
    tiebreak=col(User.id),
)


@dataclass(frozen=True)
class UserFilter:
    """``within``: the jurisdictions (as stored, ``uf:SC``…) the reader manages, None for every one."""

    within: frozenset[str] | None
    role: str | None = None
    jurisdiction: str | None = None
    active: bool | None = None
    search: str | None = None


async def user_page(session: AsyncSession, f: UserFilter, window: Window) -> Slice[User]:
    """One window of the users ``f`` selects (keyset, decision 23)."""
    stmt = select(User)
    if f.within is not None:
        stmt = stmt.where(col(User.jurisdiction).in_(sorted(f.within)))
    if f.role is not None:
        stmt = stmt.where(col(User.role) == f.role)
    if f.jurisdiction is not None:
        stmt = stmt.where(col(User.jurisdiction) == f.jurisdiction)
    if f.active is not None:
        stmt = stmt.where(col(User.is_active).is_(f.active))
    if f.search:
        typed = f.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{typed}%"
        stmt = stmt.where(
            or_(col(User.username).like(like, escape="\\"), func.lower(col(User.full_name)).like(like, escape="\\"))
        )
    found = await fetch(session, stmt, USER_SORTS, window)
    return found.map([row[0] for row in found.rows])
