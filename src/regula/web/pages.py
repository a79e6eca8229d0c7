"""The home page: what each role can do from here."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template

from regula.access.policy import ROLE_LABELS_PT, public
from regula.access.service import Principal


@get("/", opt=public(), include_in_schema=False)
async def home(request: Request[Any, Any, Any]) -> Template | Redirect:
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        return Redirect(path="/login")
    return Template("home.html", context={"role_label": ROLE_LABELS_PT[user.role]})


ROUTES = [home]
