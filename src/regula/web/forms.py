"""How every page form is handled, in one place: the page decodes its typed form (a msgspec ``Struct`` read with
``Body(media_type=RequestEncodingType.URL_ENCODED)``), then :func:`submit` runs the service call in a savepoint;
a refusal the person can fix (field errors, a conflict, something not found) re-renders the form with the
messages and the error's status (422, 409, 404), and success is a 303 redirect (POST-redirect-GET).

The rules themselves live in the services the API calls too: a page only translates the form into the service's
arguments and the outcome into a page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.core.errors import Conflict, DomainError, FieldError, NotFound, ValidationFailed
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry
from regula.web.common import field_errors

T = TypeVar("T")

#: A page handler's ``data`` parameter: ``data: Form[MyForm]``.
Form = Annotated[T, Body(media_type=RequestEncodingType.URL_ENCODED)]

#: Refusals a person can act on, shown on the form. PermissionDenied and the rest go to the error pages.
FIXABLE: tuple[type[DomainError], ...] = (ValidationFailed, Conflict, NotFound)


@dataclass(frozen=True, slots=True)
class Refusal:
    """What the service refused, ready for a template: the message, the field errors (field → text), the HTTP
    status to answer with, and the error's extra details (e.g. the id of an existing entry)."""

    message: str
    code: str
    status_code: int
    fields: dict[str, str] = field(default_factory=dict)
    errors: tuple[FieldError, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, exc: DomainError) -> Refusal:
        return cls(
            message=exc.message,
            code=exc.code,
            status_code=exc.status_code,
            fields=field_errors(exc.errors),
            errors=tuple(exc.errors),
            extra=dict(exc.extra),
        )


async def submit(
    db_session: AsyncSession,
    call: Callable[[], Awaitable[T]],
    *,
    redirect: Callable[[T], str],
    rerender: Callable[[Refusal], Awaitable[Template]],
    refusals: tuple[type[DomainError], ...] = FIXABLE,
) -> Redirect | Template:
    """Run ``call`` in a savepoint (a refused change leaves nothing behind but what ``rerender`` shows); on a
    refusal of one of the ``refusals`` types return ``rerender``'s page, else a 303 to ``redirect(result)``."""
    try:
        async with db_session.begin_nested():
            result = await call()
    except refusals as exc:
        return await rerender(Refusal.of(exc))
    return Redirect(path=redirect(result), status_code=303)


def field_text(value: str | None, limit: int = 4000) -> str:
    """A form text field as people mean it: trimmed, and cut at the field's length."""
    return (value or "").strip()[:limit]


def checked(value: str | None) -> bool:
    """An HTML checkbox: present (with one of the usual values) means ticked."""
    return field_text(value) in ("1", "on", "sim", "true")


def many(value: list[str] | str | None) -> list[str]:
    """A field that may repeat (checkboxes of one name): one value arrives as a string, several as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class TransitionForm(Struct):
    """One workflow action (``_macros.html``'s ``action_form``), on the regulation and the APS pages alike."""

    para: str = ""
    motivo_codigo: str = ""
    motivo_texto: str = ""

    @property
    def target(self) -> str:
        return field_text(self.para, 32)

    def values(self) -> dict[str, str]:
        """What the form shows again after a refusal."""
        return {
            "target": self.target,
            "reason_code": field_text(self.motivo_codigo, 32),
            "reason_text": field_text(self.motivo_texto),
        }

    async def apply(
        self, db_session: AsyncSession, settings: Settings, actor: wl.Actor, entry_id: int
    ) -> WaitlistEntry:
        """The same call as ``POST /api/v1/entries/{id}/transitions``: every workflow rule is the service's."""
        return await wl.transition(
            db_session,
            entry_id,
            self.target,
            actor,
            settings,
            field_text(self.motivo_codigo, 32) or None,
            field_text(self.motivo_texto) or None,
        )

    async def submit(
        self,
        db_session: AsyncSession,
        settings: Settings,
        actor: wl.Actor,
        entry_id: int,
        *,
        detail: EntryDetail,
        done_url: str,
    ) -> Redirect | Template:
        """Apply the action and answer as every entry page does: 303 to ``done_url?feito=…``; a refusal shows the
        entry again (``detail``) with the field errors under the action's form (422) or as an alert."""

        async def rerender(refusal: Refusal) -> Template:
            if refusal.status_code == 422:
                errors = {self.target: refusal.fields or {"reason": refusal.message}}
                return await detail(errors=errors, values=self.values(), status_code=422)
            return await detail(alert=refusal.message, status_code=refusal.status_code)

        return await submit(
            db_session,
            lambda: self.apply(db_session, settings, actor, entry_id),
            redirect=lambda _entry: f"{done_url}?feito={self.target}",
            rerender=rerender,
        )


#: An entry's page rendered again after a refused action (keyword arguments: errors, values, alert, status_code).
EntryDetail = Callable[..., Awaitable[Template]]
