"""Users, API tokens and web sessions. Secrets are never stored: passwords as argon2 hashes, tokens and session
ids as SHA-256 digests (they are long random values, so a fast hash is enough and allows an indexed look-up)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Identity, String
from sqlmodel import Field, SQLModel

from regula.db.base import utcnow


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    __audited__ = True
    __audit_exclude__ = frozenset({"password_hash"})

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    full_name: str = Field(sa_column=Column(String(200), nullable=False))
    role: str = Field(sa_column=Column(String(20), nullable=False))
    jurisdiction: str = Field(sa_column=Column(String(32), nullable=False))
    password_hash: str = Field(sa_column=Column(String(200), nullable=False))
    is_active: bool = Field(default=True)
    must_change_password: bool = Field(default=False)
    # Unused since login failures are throttled per (account, address) in memory (regula.access.throttle): a
    # per-account lock let anyone lock anyone out. Kept until a migration drops them.
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_login_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    __audited__ = True
    __audit_exclude__ = frozenset({"token_hash"})

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    user_id: int = Field(sa_column=Column(BigInteger, ForeignKey("app_user.id"), nullable=False, index=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    # The first characters of the token, shown in listings so a person can tell tokens apart.
    prefix: str = Field(sa_column=Column(String(16), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class WebSession(SQLModel, table=True):
    __tablename__ = "web_session"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    user_id: int = Field(sa_column=Column(BigInteger, ForeignKey("app_user.id"), nullable=False, index=True))
    session_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    csrf_token: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    ip: str | None = Field(default=None, sa_column=Column(String(64)))
    user_agent: str | None = Field(default=None, sa_column=Column(String(300)))
