"""Users, credentials and who may do what where."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access import repository as repo
from regula.access.labels import jurisdiction_label
from regula.access.models import ApiToken, User, WebSession
from regula.access.policy import ROLE_LABELS_PT, Jurisdiction, JurisdictionKind, Place, Role
from regula.access.throttle import LoginThrottle
from regula.core.errors import (
    Conflict,
    FieldError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    ValidationFailed,
)
from regula.db.base import utcnow
from regula.territory.reference import territory

_hasher = PasswordHasher()
TOKEN_PREFIX = "rgl_"  # noqa: S105 - marks regula tokens for secret scanners
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD = 10


@dataclass(frozen=True)
class Principal:
    """The authenticated person behind a request."""

    user_id: int
    username: str
    full_name: str
    role: Role
    jurisdiction: Jurisdiction
    via: str  # "token" | "session"
    csrf_token: str | None = None
    must_change_password: bool = False

    def has_role(self, *roles: Role) -> bool:
        return self.role is Role.ADMIN or self.role in roles

    def covers(self, place: Place, cnes: str | None = None) -> bool:
        return self.jurisdiction.covers_place(place, cnes)

    def require_place(self, place: Place, cnes: str | None = None) -> None:
        if not self.covers(place, cnes):
            raise PermissionDenied(
                f"Fora da sua jurisdição ({jurisdiction_label(self.jurisdiction)}).", code="fora_da_jurisdicao"
            )


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    return str(_hasher.hash(password))


def check_password_rules(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed.for_field(
            field, "senha_curta", f"A senha deve ter pelo menos {MIN_PASSWORD} caracteres."
        )


def _jurisdiction_covers(outer: Jurisdiction, inner: Jurisdiction) -> bool:
    """Whether ``outer`` contains every place of ``inner`` (for managers granting access)."""
    if outer.kind is JurisdictionKind.NATIONAL:
        return True
    if inner.kind is JurisdictionKind.NATIONAL:
        return False
    if outer == inner:
        return True
    places: list[Place]
    t = territory()
    match inner.kind:
        case JurisdictionKind.UF:
            places = list(t.by_uf(inner.code))
        case JurisdictionKind.MACRO:
            places = [m for m in t.all() if m.macro_code == inner.code]
        case JurisdictionKind.REGION:
            places = [m for m in t.all() if m.health_region_code == inner.code]
        case JurisdictionKind.MUNICIPALITY:
            places = [t.municipality(inner.code)]
        case JurisdictionKind.CNES:
            # An establishment's place is known once providers are registered; until then only an equal
            # jurisdiction (handled above) or a national one covers it.
            return False
    return bool(places) and all(outer.covers_place(p) for p in places)


def validate_jurisdiction(raw: str, field: str = "jurisdiction") -> Jurisdiction:
    """Parse and check that the code exists in the territory."""
    j = Jurisdiction.parse(raw, field)
    if j.kind in (JurisdictionKind.NATIONAL, JurisdictionKind.CNES):
        return j
    t = territory()
    known = True
    match j.kind:
        case JurisdictionKind.UF:
            known = bool(list(t.by_uf(j.code)))
        case JurisdictionKind.MACRO:
            known = any(m.macro_code == j.code for m in t.all())
        case JurisdictionKind.REGION:
            known = any(m.health_region_code == j.code for m in t.all())
        case JurisdictionKind.MUNICIPALITY:
            known = t.find(j.code) is not None
        case _:
            pass
    if not known:
        raise ValidationFailed.for_field(field, "jurisdicao_desconhecida", f"Jurisdição desconhecida: {j}")
    return j


def _role_of(role: str, errors: list[FieldError]) -> Role | None:
    """The role a form or a command names by its code; an unknown one is an error that lists the roles by the names
    people read (``ROLE_LABELS_PT``: the page shows it next to the field; programs have the code)."""
    try:
        return Role(role.strip().lower())
    except ValueError:
        labels = [ROLE_LABELS_PT[r] for r in Role]
        options = ", ".join(labels[:-1]) + f" ou {labels[-1]}"
        message = f"Papel desconhecido; escolha um de: {options}." if role.strip() else f"Escolha o papel: {options}."
        errors.append(FieldError("role", "papel_desconhecido", message))
        return None


def check_new_user(
    *, username: str, full_name: str, role: str, jurisdiction: str, password: str
) -> tuple[list[FieldError], Role | None, Jurisdiction | None]:
    """Every objection to a new user's fields at once (no database): the username's format, a known role, a
    jurisdiction that exists, the password's length and a full name. :func:`create_user` applies it, and a form
    reports it with its own limits in one answer."""
    errors: list[FieldError] = []
    if not _USERNAME.match(username.strip().lower()):
        errors.append(
            FieldError(
                "username",
                "usuario_formato",
                "Use de 3 a 64 letras minúsculas, números, ponto, hífen ou sublinhado.",
            )
        )
    role_value = _role_of(role, errors)
    try:
        juris: Jurisdiction | None = validate_jurisdiction(jurisdiction)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        juris = None
    if len(password) < MIN_PASSWORD:
        errors.append(FieldError("password", "senha_curta", f"A senha deve ter pelo menos {MIN_PASSWORD} caracteres."))
    if not full_name.strip():
        errors.append(FieldError("full_name", "obrigatorio", "Informe o nome completo."))
    return errors, role_value, juris


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    full_name: str,
    role: str,
    jurisdiction: str,
    password: str,
    must_change_password: bool = False,
    granted_by: Principal | None = None,
) -> User:
    uname = username.strip().lower()
    errors, role_value, juris = check_new_user(
        username=username, full_name=full_name, role=role, jurisdiction=jurisdiction, password=password
    )
    if errors:
        raise ValidationFailed("Não foi possível criar o usuário.", errors=errors)
    assert role_value is not None and juris is not None
    if granted_by is not None:
        # A manager grants only inside their own jurisdiction, and never the admin role.
        if role_value is Role.ADMIN and granted_by.role is not Role.ADMIN:
            raise PermissionDenied("Somente administradores criam administradores.", code="papel_nao_concedivel")
        if not _jurisdiction_covers(granted_by.jurisdiction, juris):
            raise PermissionDenied(
                f"A jurisdição {jurisdiction_label(juris)} está fora da sua "
                f"({jurisdiction_label(granted_by.jurisdiction)}).",
                code="fora_da_jurisdicao",
            )
    if await repo.user_by_username(session, uname) is not None:
        raise Conflict.for_field("username", "usuario_existente", f"Já existe um usuário {uname!r}.")
    user = User(
        username=uname,
        full_name=full_name.strip(),
        role=role_value.value,
        jurisdiction=str(juris),
        password_hash=hash_password(password),
        must_change_password=must_change_password,
    )
    session.add(user)
    await session.flush()
    return user


async def authenticate_password(
    session: AsyncSession, username: str, password: str, *, address: str, throttle: LoginThrottle
) -> User:
    """Check a login from ``address``. Failures slow down that address for that account (regula.access.throttle),
    never the account itself: nobody can lock another person out by typing wrong passwords for them."""
    wait = throttle.wait(username, address)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(
            f"Muitas tentativas erradas para este usuário a partir deste endereço. Aguarde {seconds} segundos e "
            "tente de novo.",
            code="muitas_tentativas",
            retry_after=seconds,
        )
    user = await repo.user_by_username(session, username.strip().lower())
    if user is None or not user.is_active:
        _hasher.hash(password)  # same cost whether or not the user exists
        throttle.failed(username, address)
        raise NotAuthenticated("Usuário ou senha incorretos.", code="credenciais_invalidas")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        throttle.failed(username, address)
        raise NotAuthenticated("Usuário ou senha incorretos.", code="credenciais_invalidas") from None
    throttle.succeeded(username, address)
    now = utcnow()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    await session.flush()
    return user


def password_matches(user: User, password: str) -> bool:
    try:
        return bool(_hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


async def change_password(
    session: AsyncSession, user_id: int, current: str, new: str, *, keep_session: str | None = None
) -> None:
    """Change a password and end every other session of the user (whoever knew the old password is out); the
    session ``keep_session`` (the secret of the one making the change) stays open."""
    user = await repo.get_user(session, user_id)
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise ValidationFailed.for_field(
            "current_password", "senha_atual_incorreta", "A senha atual está incorreta."
        ) from None
    check_password_rules(new, "new_password")
    if new == current:
        raise ValidationFailed.for_field("new_password", "senha_igual", "A nova senha deve ser diferente da atual.")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.updated_at = utcnow()
    await session.flush()
    await repo.revoke_sessions_of(
        session, user_id, utcnow(), keep_hash=digest(keep_session) if keep_session is not None else None
    )


async def set_active(session: AsyncSession, username: str, active: bool, *, by: Principal | None = None) -> User:
    """Deactivate (or reactivate) a user. Deactivation ends every session and revokes every token at once; a
    reactivated user logs in again and asks for new tokens. Nothing is deleted (the audit keeps the history)."""
    user = await repo.user_by_username(session, username.strip().lower())
    if user is None:
        raise NotFound.for_field("username", "usuario_desconhecido", "Usuário não encontrado.")
    assert user.id is not None
    if by is not None and not _jurisdiction_covers(by.jurisdiction, Jurisdiction.parse(user.jurisdiction)):
        # An administrator acts on the users of their own jurisdiction only (a national one on everyone).
        raise PermissionDenied(
            f"Este usuário está fora da sua jurisdição ({jurisdiction_label(by.jurisdiction)}).",
            code="fora_da_jurisdicao",
        )
    if by is not None and by.user_id == user.id and not active:
        raise Conflict.for_field("username", "desativar_a_si_mesmo", "Você não pode desativar o seu próprio usuário.")
    now = utcnow()
    if user.is_active != active:
        user.is_active = active
        user.updated_at = now
        await session.flush()
    if not active:
        for token in await repo.tokens_of(session, user.id):
            if token.revoked_at is None:
                token.revoked_at = now  # one audited change per token
        await session.flush()
        await repo.revoke_sessions_of(session, user.id, now)
    return user


async def create_token(
    session: AsyncSession, username: str, *, name: str = "cli", days: int = 90
) -> tuple[ApiToken, str]:
    """Return the token row and the secret, which is shown once and never stored."""
    user = await repo.user_by_username(session, username.strip().lower())
    if user is None or not user.is_active:
        raise NotFound.for_field("username", "usuario_desconhecido", f"Usuário {username!r} não encontrado.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert user.id is not None
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[:12],
        token_hash=digest(secret),
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(token)
    await session.flush()
    return token, secret


async def revoke_token(session: AsyncSession, token_id: int, by: Principal | None = None) -> ApiToken:
    token = await repo.get_token(session, token_id)
    if by is not None and token.user_id != by.user_id:
        owner = await repo.get_user(session, token.user_id)
        # Administrators revoke others' tokens, inside their own jurisdiction only (as they create users).
        if by.role is not Role.ADMIN or not _jurisdiction_covers(
            by.jurisdiction, Jurisdiction.parse(owner.jurisdiction)
        ):
            raise PermissionDenied("Você só pode revogar os seus próprios tokens.", code="token_de_outro_usuario")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()
    return token


def _principal(found: repo.Credential, via: str) -> Principal:
    return Principal(
        user_id=found.user_id,
        username=found.username,
        full_name=found.full_name,
        role=Role(found.role),
        jurisdiction=Jurisdiction.parse(found.jurisdiction),
        via=via,
        csrf_token=found.csrf_token,
        must_change_password=found.must_change_password,
    )


async def principal_from_token(session: AsyncSession, secret: str) -> Principal | None:
    now = utcnow()
    found = await repo.active_token(session, digest(secret), now)
    if found is None:
        return None
    # Record use at most once a minute: a write per request would be waste.
    if found.last_used_at is None or now - found.last_used_at > timedelta(minutes=1):
        await repo.touch_token(session, found.credential_id, now)
    return _principal(found, "token")


async def open_session(
    session: AsyncSession, user: User, *, max_age: timedelta, ip: str | None, user_agent: str | None
) -> tuple[WebSession, str]:
    secret = secrets.token_urlsafe(32)
    assert user.id is not None
    web = WebSession(
        user_id=user.id,
        session_hash=digest(secret),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + max_age,
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(web)
    await session.flush()
    return web, secret


async def principal_from_session(session: AsyncSession, secret: str) -> Principal | None:
    found = await repo.active_session(session, digest(secret), utcnow())
    return _principal(found, "session") if found is not None else None


async def close_session(session: AsyncSession, secret: str) -> None:
    await repo.revoke_session(session, digest(secret), utcnow())


# -- what an administrator does to other users (issue 17 item 5; the web page and the CLI share these) -------------


def managed_jurisdictions(by: Principal) -> frozenset[str] | None:
    """The jurisdictions (as stored: ``uf:SC``, ``region:42001``…) of the users ``by`` manages: every one inside
    theirs, by the rule of :func:`_jurisdiction_covers`; None for a national administrator (everyone)."""
    outer = by.jurisdiction
    if outer.kind is JurisdictionKind.NATIONAL:
        return None
    inside = [m for m in territory().all() if outer.covers_place(m)]
    candidates = {str(outer)}
    for m in inside:
        candidates.add(f"uf:{m.uf}")
        candidates.add(f"municipality:{m.ibge_code}")
        if m.macro_code:
            candidates.add(f"macro:{m.macro_code}")
        if m.health_region_code:
            candidates.add(f"region:{m.health_region_code}")
    return frozenset(c for c in candidates if _jurisdiction_covers(outer, Jurisdiction.parse(c)))


async def managed_user(session: AsyncSession, username: str, by: Principal) -> User:
    """The user ``by`` may act on: known, and inside ``by``'s jurisdiction (a national administrator: anyone)."""
    user = await repo.user_by_username(session, username.strip().lower())
    if user is None:
        raise NotFound.for_field("username", "usuario_desconhecido", "Usuário não encontrado.")
    if not _jurisdiction_covers(by.jurisdiction, Jurisdiction.parse(user.jurisdiction)):
        raise PermissionDenied(
            f"Este usuário está fora da sua jurisdição ({jurisdiction_label(by.jurisdiction)}).",
            code="fora_da_jurisdicao",
        )
    return user


def generate_password() -> str:
    """A temporary password: 16 characters from an alphabet without look-alikes (no 0/O, 1/l/I), ~94 bits."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


async def reset_password(
    session: AsyncSession, username: str, *, by: Principal, password: str | None = None
) -> tuple[User, str | None]:
    """An administrator sets a user's password: the one given (the password rules apply) or a generated one,
    returned to be shown once and never stored. The user must change it at the next login (``/senha``), and every
    open session of theirs ends (whoever knew the old password is out). Returns the user and the generated
    password (None when the administrator typed it)."""
    user = await managed_user(session, username, by)
    generated = None
    if password is None:
        generated = password = generate_password()
    check_password_rules(password, "password")
    assert user.id is not None
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.updated_at = utcnow()
    await session.flush()
    await repo.revoke_sessions_of(session, user.id, utcnow())
    return user, generated


async def change_access(session: AsyncSession, username: str, *, role: str, jurisdiction: str, by: Principal) -> User:
    """Change a user's role and jurisdiction, with the rules of :func:`create_user`: a known role, a jurisdiction
    that exists, inside the administrator's (the user's current one and the new one alike), the admin role granted
    by administrators only; nobody changes their own access. The change is audited by the listener (before and
    after); it applies at the user's next request (the principal is read from the user at each request)."""
    user = await managed_user(session, username, by)
    errors: list[FieldError] = []
    role_value = _role_of(role, errors)
    try:
        juris: Jurisdiction | None = validate_jurisdiction(jurisdiction)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        juris = None
    if errors:
        raise ValidationFailed("Não foi possível mudar o acesso.", errors=errors)
    assert role_value is not None and juris is not None
    if by.user_id == user.id:
        raise Conflict.for_field(
            "role", "mudar_o_proprio_acesso", "Você não pode mudar o seu próprio papel ou jurisdição."
        )
    if role_value is Role.ADMIN and by.role is not Role.ADMIN:
        raise PermissionDenied("Somente administradores criam administradores.", code="papel_nao_concedivel")
    if not _jurisdiction_covers(by.jurisdiction, juris):
        raise PermissionDenied(
            f"A jurisdição {jurisdiction_label(juris)} está fora da sua ({jurisdiction_label(by.jurisdiction)}).",
            code="fora_da_jurisdicao",
        )
    if user.role != role_value.value or user.jurisdiction != str(juris):
        user.role = role_value.value
        user.jurisdiction = str(juris)
        user.updated_at = utcnow()
        await session.flush()
    return user


def now() -> datetime:
    return utcnow()
