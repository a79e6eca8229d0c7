"""Access API: who am I, users (admin and managers, within their jurisdiction), my tokens."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access import repository as repo
from regula.access import service
from regula.access.models import ApiToken, User
from regula.access.policy import Jurisdiction, Role, allow
from regula.access.schemas import Me, TokenCreate, TokenCreated, TokenPublic, UserCreate, UserPublic
from regula.core.errors import ValidationFailed


def _user_public(u: User) -> UserPublic:
    assert u.id is not None
    return UserPublic(
        id=u.id,
        username=u.username,
        full_name=u.full_name,
        role=u.role,
        jurisdiction=u.jurisdiction,
        is_active=u.is_active,
        created_at=u.created_at,
        last_login_at=u.last_login_at,
    )


def _token_public(t: ApiToken) -> TokenPublic:
    assert t.id is not None
    return TokenPublic(
        id=t.id,
        name=t.name,
        prefix=t.prefix,
        created_at=t.created_at,
        expires_at=t.expires_at,
        revoked_at=t.revoked_at,
        last_used_at=t.last_used_at,
    )


class AccessController(Controller):
    path = "/api/v1"
    tags = ["acesso"]

    @get("/me", opt=allow(*Role), operation_id="me", summary="Usuário do token")
    async def me(self, request: Request[service.Principal, Any, Any]) -> Me:
        p = request.user
        return Me(p.user_id, p.username, p.full_name, p.role.value, str(p.jurisdiction))

    @get("/users", opt=allow(Role.GESTOR), operation_id="listUsers", summary="Usuários da jurisdição")
    async def list_users(
        self, request: Request[service.Principal, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[UserPublic]:
        me = request.user
        users = await repo.list_users(db_session)
        visible = [
            u for u in users if service._jurisdiction_covers(me.jurisdiction, Jurisdiction.parse(u.jurisdiction))
        ]
        return [_user_public(u) for u in visible]

    @post("/users", opt=allow(Role.GESTOR), operation_id="createUser", summary="Criar usuário")
    async def create_user(
        self,
        request: Request[service.Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[UserCreate],
    ) -> UserPublic:
        user = await service.create_user(
            db_session,
            username=data.username,
            full_name=data.full_name,
            role=data.role,
            jurisdiction=data.jurisdiction,
            password=data.password,
            must_change_password=True,
            granted_by=request.user,
        )
        return _user_public(user)

    @post(
        "/users/{username:str}/deactivate",
        opt=allow(),  # admin only
        operation_id="deactivateUser",
        summary="Desativar usuário (encerra sessões e revoga tokens)",
        status_code=200,
    )
    async def deactivate_user(
        self,
        request: Request[service.Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        username: Annotated[str, PathParameter(max_length=64, description="Nome de usuário")],
    ) -> UserPublic:
        return _user_public(await service.set_active(db_session, username, False, by=request.user))

    @post(
        "/users/{username:str}/activate",
        opt=allow(),  # admin only
        operation_id="activateUser",
        summary="Reativar usuário",
        status_code=200,
    )
    async def activate_user(
        self,
        request: Request[service.Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        username: Annotated[str, PathParameter(max_length=64, description="Nome de usuário")],
    ) -> UserPublic:
        return _user_public(await service.set_active(db_session, username, True, by=request.user))

    @get("/tokens", opt=allow(*Role), operation_id="listMyTokens", summary="Meus tokens")
    async def my_tokens(
        self, request: Request[service.Principal, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[TokenPublic]:
        return [_token_public(t) for t in await repo.tokens_of(db_session, request.user.user_id)]

    @post("/tokens", opt=allow(*Role), operation_id="createToken", summary="Criar token (mostrado uma vez)")
    async def create_token(
        self,
        request: Request[service.Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[TokenCreate],
    ) -> TokenCreated:
        if not 1 <= data.days <= 365:
            raise ValidationFailed.for_field("days", "validade_fora_do_limite", "A validade vai de 1 a 365 dias.")
        token, secret = await service.create_token(db_session, request.user.username, name=data.name, days=data.days)
        return TokenCreated(token=secret, info=_token_public(token))

    @post("/tokens/{token_id:int}/revoke", opt=allow(*Role), operation_id="revokeToken", summary="Revogar token")
    async def revoke_token(
        self,
        request: Request[service.Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        token_id: Annotated[int, PathParameter(gt=0, description="Identificador do token")],
    ) -> TokenPublic:
        return _token_public(await service.revoke_token(db_session, token_id, by=request.user))


ROUTES = [AccessController]
