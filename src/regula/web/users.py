"""The administrator's user management page (issue 17 item 5): the users of their jurisdiction, paged and filtered
(role, jurisdiction, active), creating one, deactivating and reactivating (sessions end and tokens are revoked at
once), resetting a password (generated and shown once, or typed with the password rules; the user changes it at the
next login) and changing role and jurisdiction. Every rule is ``regula.access.service``'s, the same the command line
(``regula users …``) and the API use: a username's format, a known role, a jurisdiction that exists, and an
administrator with a UF jurisdiction acting only on users inside it. Every change is audited by the listener on
``app_user`` (before and after; the password hash never)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, PathParameter
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access import repository as access_repo
from regula.access import service
from regula.access.models import User
from regula.access.policy import ROLE_LABELS_PT, Role, allow
from regula.core.errors import DomainError, PermissionDenied
from regula.web import common, forms, listing
from regula.web.forms import Form

ADMINS: tuple[Role, ...] = ()  # allow() always admits the administrator: nobody else
#: Refusals shown on the form: the fixable ones, and an administrator acting outside their jurisdiction.
REFUSALS: tuple[type[DomainError], ...] = (*forms.FIXABLE, PermissionDenied)
BASE: Final = "/admin/usuarios"
Username = Annotated[str, PathParameter(max_length=64)]

DONE_PT: Final = {
    "criado": "Usuário criado.",
    "desativado": "Usuário desativado: as sessões foram encerradas e os tokens revogados.",
    "ativado": "Usuário reativado: ele entra de novo com a sua senha.",
    "acesso": "Papel e jurisdição alterados.",
}
ACTIVE_PT: Final = {"ativos": "Ativos", "inativos": "Desativados"}

# Upper case is accepted and lowered by the service (as the CLI does).
_USERNAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9._\\-]{2,63}"
_PASSWORD = forms.FieldSpec(
    "password",
    "Senha",
    max_length=128,
    min_length=service.MIN_PASSWORD,
    min_message=f"A senha deve ter pelo menos {service.MIN_PASSWORD} caracteres.",
    type="password",
)
_ROLE = forms.FieldSpec("role", "Papel", required=True, kind="choice")
_JURISDICTION = forms.FieldSpec(
    "jurisdiction",
    "Jurisdição",
    max_length=forms.column_length(User, "jurisdiction"),
    pattern="br|(uf|macro|region|municipality|cnes):[A-Za-z0-9]{1,10}",
    pattern_message="Use br, uf:SC, macro:4201, region:42001, municipality:4205407 ou cnes:1234567.",
    required=True,
)

CREATE_FORM = forms.register(
    forms.FormSpec(
        "admin_usuario_novo",
        (
            forms.FieldSpec(
                "username",
                "Usuário",
                max_length=forms.column_length(User, "username"),
                pattern=_USERNAME_PATTERN,
                pattern_message="De 3 a 64 letras, números, ponto, hífen ou sublinhado, começando por letra ou número.",
                required=True,
            ),
            forms.FieldSpec(
                "full_name", "Nome completo", max_length=forms.column_length(User, "full_name"), required=True
            ),
            _ROLE,
            _JURISDICTION,
            _PASSWORD,
        ),
    )
)
FILTER_FORM = forms.register(
    forms.FormSpec(
        "admin_usuarios_filtro",
        (
            forms.FieldSpec("busca", "Nome ou usuário", max_length=64, type="search"),
            forms.FieldSpec("papel", "Papel", kind="choice"),
            forms.FieldSpec("jurisdicao", "Jurisdição", max_length=forms.column_length(User, "jurisdiction")),
            forms.FieldSpec("situacao", "Situação", kind="choice"),
        ),
    )
)
ACCESS_FORM = forms.register(forms.FormSpec("admin_usuario_acesso", (_ROLE, _JURISDICTION)))
PASSWORD_FORM = forms.register(forms.FormSpec("admin_usuario_senha", (_PASSWORD,)))


def _roles() -> list[tuple[str, str]]:
    return [(r.value, ROLE_LABELS_PT[r]) for r in Role]


def _no_store() -> dict[str, str]:
    """A page that shows a password once: never kept by the browser or a proxy."""
    return {"Cache-Control": "no-store"}


# -- the list ----------------------------------------------------------------------------------------------------


@get(BASE, opt=allow(*ADMINS), include_in_schema=False)
@listing.list_page
async def users_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    papel: FromQuery[str | None] = None,
    jurisdicao: FromQuery[str | None] = None,
    situacao: FromQuery[str | None] = None,
    busca: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    """The users the administrator manages (their jurisdiction's), filtered, sorted and paged (decision 23)."""
    p = common.principal(request)
    role = listing.choice_param(papel, "papel", {r.value: r for r in Role}, "Papel")
    active = listing.choice_param(situacao, "situacao", ACTIVE_PT, "Situação")
    juris = (jurisdicao or "").strip() or None
    search = (busca or "").strip() or None
    limits = FILTER_FORM.check({"jurisdicao": juris or "", "busca": search or ""})
    if limits:
        e = limits[0]
        raise listing.ListingError.of(e.field, e.code, f"{FILTER_FORM[e.field].label}: {e.message}")
    state = listing.listing(
        BASE,
        access_repo.USER_SORTS,
        {"papel": role, "jurisdicao": juris, "situacao": active, "busca": search},
        ordem=ordem,
        sentido=sentido,
        cursor=cursor,
    )
    f = access_repo.UserFilter(
        within=service.managed_jurisdictions(p),
        role=role,
        jurisdiction=juris,
        active=None if active is None else active == "ativos",
        search=search,
    )
    state.slice = await access_repo.user_page(db_session, f, state.window)
    return Template(
        "admin/usuarios.html",
        context={
            "l": state,
            "rows": state.slice.rows,
            "q": {"papel": role or "", "jurisdicao": juris or "", "situacao": active or "", "busca": search or ""},
            "roles": _roles(),
            "role_labels": {r.value: label for r, label in ROLE_LABELS_PT.items()},
            "actives": ACTIVE_PT,
            "mine": str(p.jurisdiction),
        },
    )


# -- creating ----------------------------------------------------------------------------------------------------


class CreateForm(Struct):
    username: str = ""
    full_name: str = ""
    role: str = ""
    jurisdiction: str = ""
    password: str = ""


def _new_page(
    request: Request[Any, Any, Any],
    values: dict[str, str],
    *,
    problems: list[forms.FieldProblem] | None = None,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Template:
    p = common.principal(request)
    return Template(
        "admin/usuario_novo.html",
        context={
            "form": CREATE_FORM,
            "v": {"jurisdiction": str(p.jurisdiction)} | values,
            "roles": _roles(),
            "problems": problems or [],
            "errors": errors or {},
            "alert": alert,
        },
        status_code=status_code,
    )


@get(f"{BASE}/novo", opt=allow(*ADMINS), include_in_schema=False)
async def new_user_page(request: Request[Any, Any, Any]) -> Template:
    return _new_page(request, {})


@post(BASE, opt=allow(*ADMINS), include_in_schema=False, status_code=200)
async def create_user(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    data: Form[CreateForm],
) -> Template:
    """Create the user (``service.create_user``, as ``regula users create`` does). With no password typed, one is
    generated and shown once on the answer (never stored, never in a URL); either way the user changes it at the
    first login."""
    p = common.principal(request)
    values = {k: (getattr(data, k) or "").strip() for k in ("username", "full_name", "role", "jurisdiction")}
    typed_password = data.password or ""

    def refused(refusal: forms.Refusal) -> Template:
        return _new_page(
            request,
            values,
            problems=CREATE_FORM.problems(refusal.errors),
            errors=CREATE_FORM.field_messages(refusal.errors),
            alert="Corrija os campos indicados." if refusal.errors else refusal.message,
            status_code=refusal.status_code,
        )

    password = typed_password or service.generate_password()
    # Every objection in one answer: the form's limits, and the service's rules on the fields the limits let through
    # (they were two rounds: the limits, then, once fixed, the rules).
    limits = CREATE_FORM.check(values | {"password": typed_password})
    rules, _role, _juris = service.check_new_user(**values, password=password)
    limited = {e.field for e in limits}
    objections = limits + [e for e in rules if e.field not in limited]
    if objections:
        return refused(forms.Refusal.of_limits(objections))
    try:
        async with db_session.begin_nested():
            user = await service.create_user(
                db_session,
                username=values["username"],
                full_name=values["full_name"],
                role=values["role"],
                jurisdiction=values["jurisdiction"],
                password=password,
                must_change_password=True,
                granted_by=p,
            )
    except REFUSALS as exc:
        return refused(forms.Refusal.of(exc))
    return Template(
        "admin/usuario.html",
        context=await _detail_context(
            db_session, user, done="criado", shown_password=None if typed_password else password
        ),
        headers=_no_store(),
    )


# -- one user ----------------------------------------------------------------------------------------------------


async def _detail_context(
    db_session: AsyncSession,
    user: User,
    *,
    done: str | None = None,
    shown_password: str | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    problems: dict[str, list[forms.FieldProblem]] | None = None,
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    assert user.id is not None
    tokens = await access_repo.tokens_of(db_session, user.id)
    return {
        "u": user,
        "user_role": {r.value: label for r, label in ROLE_LABELS_PT.items()}.get(user.role, user.role),
        "roles": _roles(),
        "tokens_active": sum(1 for t in tokens if t.revoked_at is None),
        "done": DONE_PT.get(done or ""),
        "shown_password": shown_password,
        "errors": errors or {},
        "problems": problems or {},
        "v": {"role": user.role, "jurisdiction": user.jurisdiction} | (values or {}),
        "access_form": ACCESS_FORM,
        "password_form": PASSWORD_FORM,
    }


async def _user(request: Request[Any, Any, Any], db_session: AsyncSession, username: str) -> User:
    """The user the administrator may see (their jurisdiction's): 404 unknown, 403 outside."""
    return await service.managed_user(db_session, username, common.principal(request))


@get(f"{BASE}/{{username:str}}", opt=allow(*ADMINS), include_in_schema=False)
async def user_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    username: Username,
    feito: FromQuery[str | None] = None,
) -> Template:
    user = await _user(request, db_session, username)
    return Template("admin/usuario.html", context=await _detail_context(db_session, user, done=feito))


class AccessForm(Struct):
    role: str = ""
    jurisdiction: str = ""


@post(f"{BASE}/{{username:str}}/acesso", opt=allow(*ADMINS), include_in_schema=False, status_code=303)
async def change_access(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    username: Username,
    data: Form[AccessForm],
) -> Redirect | Template:
    user = await _user(request, db_session, username)
    values = {"role": data.role.strip(), "jurisdiction": data.jurisdiction.strip()}

    async def rerender(refusal: forms.Refusal) -> Template:
        context = await _detail_context(
            db_session,
            user,
            errors={"access": ACCESS_FORM.field_messages(refusal.errors) or {"role": refusal.message}},
            problems={"access": ACCESS_FORM.problems(refusal.errors)},
            values=values,
        )
        return Template("admin/usuario.html", context=context, status_code=refusal.status_code)

    limits = ACCESS_FORM.check(values)
    if limits:
        return await rerender(forms.Refusal.of_limits(limits))
    return await forms.submit(
        db_session,
        lambda: service.change_access(
            db_session,
            user.username,
            role=values["role"],
            jurisdiction=values["jurisdiction"],
            by=common.principal(request),
        ),
        redirect=lambda u: f"{BASE}/{u.username}?feito=acesso",
        rerender=rerender,
        refusals=REFUSALS,
    )


class ActiveForm(Struct):
    ativo: str = ""


@post(f"{BASE}/{{username:str}}/situacao", opt=allow(*ADMINS), include_in_schema=False, status_code=303)
async def set_active(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    username: Username,
    data: Form[ActiveForm],
) -> Redirect | Template:
    """Deactivate (sessions end, tokens revoked) or reactivate: ``service.set_active``, as the CLI."""
    user = await _user(request, db_session, username)
    active = forms.checked(data.ativo)

    async def rerender(refusal: forms.Refusal) -> Template:
        context = await _detail_context(db_session, user)
        context["alert"] = refusal.message
        return Template("admin/usuario.html", context=context, status_code=refusal.status_code)

    return await forms.submit(
        db_session,
        lambda: service.set_active(db_session, user.username, active, by=common.principal(request)),
        redirect=lambda u: f"{BASE}/{u.username}?feito={'ativado' if active else 'desativado'}",
        rerender=rerender,
    )


class PasswordForm(Struct):
    password: str = ""


@post(f"{BASE}/{{username:str}}/senha", opt=allow(*ADMINS), include_in_schema=False, status_code=200)
async def reset_password(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    username: Username,
    data: Form[PasswordForm],
) -> Template:
    """A new password: typed (password rules) or generated and shown once on this answer. The user's sessions end
    and they must change it at the next login."""
    user = await _user(request, db_session, username)
    typed = data.password or ""

    async def refused(refusal: forms.Refusal) -> Template:
        context = await _detail_context(
            db_session,
            user,
            errors={"password": PASSWORD_FORM.field_messages(refusal.errors)},
            problems={"password": PASSWORD_FORM.problems(refusal.errors)},
        )
        return Template("admin/usuario.html", context=context, status_code=refusal.status_code)

    limits = PASSWORD_FORM.check({"password": typed})
    if limits:
        return await refused(forms.Refusal.of_limits(limits))
    try:
        async with db_session.begin_nested():
            _user_row, generated = await service.reset_password(
                db_session, user.username, by=common.principal(request), password=typed or None
            )
    except forms.FIXABLE as exc:
        return await refused(forms.Refusal.of(exc))
    context = await _detail_context(db_session, user, shown_password=generated)
    context["done"] = (
        "Senha redefinida: entregue-a à pessoa; ela deverá trocá-la ao entrar."
        if generated
        else "Senha redefinida; a pessoa deverá trocá-la ao entrar."
    )
    return Template("admin/usuario.html", context=context, headers=_no_store())


ROUTES = [users_page, new_user_page, create_user, user_page, change_access, set_active, reset_password]
