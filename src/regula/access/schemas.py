"""API types of the access domain (never table models)."""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct


class UserCreate(Struct, forbid_unknown_fields=True):
    username: str
    full_name: str
    role: str
    jurisdiction: str
    password: str


class UserPublic(Struct):
    id: int
    username: str
    full_name: str
    role: str
    jurisdiction: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class TokenCreate(Struct, forbid_unknown_fields=True):
    name: str = "api"
    days: int = 90


class TokenPublic(Struct):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(Struct):
    token: str
    info: TokenPublic


class Me(Struct):
    id: int
    username: str
    full_name: str
    role: str
    jurisdiction: str
