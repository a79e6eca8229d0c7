"""Login, logout and password change (server-rendered, usable without JavaScript)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlparse

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access import service
from regula.access.policy import Role, allow, public
from regula.access.throttle import login_throttle
from regula.audit.service import record, record_in_own_transaction
from regula.config import Settings
from regula.core.errors import NotAuthenticated, TooManyRequests, ValidationFailed
from regula.http.state import audit_context_for, client_address, sessionmaker_from
from regula.web.forms import LOGIN_FORM, PASSWORD_CHANGE_FORM
from regula.web.guards import CSRF_FIELD, SESSION_COOKIE


class LoginForm(Struct):
    username: str = ""
    password: str = ""
    next: FromQuery[str] = "/"


class PasswordForm(Struct):
    current_password: str = ""
    new_password: str = ""
    confirm_password: str = ""
    _csrf: str = ""


def _safe_next(target: str) -> str:
    """Only same-site relative paths: an open redirect after login is a phishing tool."""
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


class LoginController(Controller):
    path = "/"
    include_in_schema = False

    @get("/login", opt=public())
    async def login_page(self, request: Request[Any, Any, Any], next: FromQuery[str] = "/") -> Template:
        return Template("login.html", context={"next": _safe_next(next), "error": None, "username": ""})

    @post("/login", opt=public(), status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        address = client_address(request)
        limits = LOGIN_FORM.check({"username": data.username, "password": data.password})
        if limits:  # longer than any account's: refused by name before a hash is computed
            problems = LOGIN_FORM.problems(limits)
            return Template(
                "login.html",
                context={
                    "next": _safe_next(data.next),
                    "error": " ".join(f"{p.label}: {p.message}" for p in problems),
                    "username": data.username[:64],
                },
                status_code=422,
            )
        try:
            user = await service.authenticate_password(
                db_session, data.username, data.password, address=address, throttle=login_throttle(request.app.state)
            )
        except (NotAuthenticated, TooManyRequests) as exc:
            # Audited in a transaction of its own: this request's is rolled back.
            throttled = isinstance(exc, TooManyRequests)
            await record_in_own_transaction(
                sessionmaker_from(request.app.state),
                audit_context_for(request),
                "login_throttled" if throttled else "login_failed",
                entity_type="User",
                reason=f"{exc.code}: {data.username[:64]}",
                status_code=exc.status_code,
            )
            return Template(
                "login.html",
                context={"next": _safe_next(data.next), "error": exc.message, "username": data.username},
                status_code=exc.status_code,
                headers={"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None,
            )
        _web, secret = await service.open_session(
            db_session,
            user,
            max_age=timedelta(minutes=settings.session_max_age_minutes),
            ip=address,
            user_agent=request.headers.get("user-agent"),
        )
        await record(db_session, "login", entity_type="User", entity_id=str(user.id))
        target = "/senha" if user.must_change_password else _safe_next(data.next)
        return Redirect(
            path=target,
            status_code=303,
            cookies=[
                Cookie(
                    key=SESSION_COOKIE,
                    value=secret,
                    httponly=True,
                    samesite="lax",
                    secure=settings.public_base_url.startswith("https://"),
                    max_age=settings.session_max_age_minutes * 60,
                    path="/",
                )
            ],
        )

    @post("/logout", opt=allow(*Role), status_code=303)
    async def logout(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Redirect:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            await service.close_session(db_session, cookie)
        await record(db_session, "logout", entity_type="User", entity_id=str(request.user.user_id))
        return Redirect(path="/login", status_code=303, cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0)])

    @get("/senha", opt=allow(*Role))
    async def password_page(self, request: Request[Any, Any, Any]) -> Template:
        return Template("password.html", context={"errors": [], "done": False})

    @post("/senha", opt=allow(*Role), status_code=200)
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        data: Annotated[PasswordForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        current, new, confirm = data.current_password, data.new_password, data.confirm_password
        typed = {"current_password": current, "new_password": new, "confirm_password": confirm}
        limits = PASSWORD_CHANGE_FORM.check(typed)
        try:
            if limits:
                raise ValidationFailed("Verifique os campos indicados.", code=limits[0].code, errors=limits)
            if new != confirm:
                raise ValidationFailed.for_field(
                    "confirm_password", "senhas_diferentes", "A confirmação não confere com a nova senha."
                )
            await service.change_password(
                db_session, request.user.user_id, current, new, keep_session=request.cookies.get(SESSION_COOKIE)
            )
        except ValidationFailed as exc:
            # In the form's order, each line naming its field by label.
            problems = PASSWORD_CHANGE_FORM.problems(exc.errors)
            return Template("password.html", context={"errors": problems, "done": False}, status_code=422)
        return Template("password.html", context={"errors": [], "done": True})


ROUTES = [LoginController]
__all__ = ["CSRF_FIELD", "ROUTES"]
