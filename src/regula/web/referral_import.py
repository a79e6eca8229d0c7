"""The page that imports referrals from a file (``/importar``): the API's import (``POST
/api/v1/referrals/import``, ``regula import referrals``) for people, with the same rules and report — the rows
imported, and each refused row with its line, column and reason. The import is one transaction: the valid rows go
in, a refused row writes nothing (neither its citizen nor its entry), and a file that cannot be read at all
(not UTF-8, required columns missing) imports nothing."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import allow
from regula.config import Settings
from regula.inputs import MAX_IMPORT_BYTES
from regula.waitlist.import_routes import IMPORTERS
from regula.waitlist.importer import DEFAULT_SOURCE, ImportFileError, import_referrals
from regula.waitlist.importer.report import ImportReport

PATH = "/importar"
#: The most refused rows the page lists (the counts cover every row; the API and the CLI give them all).
SHOWN_ERRORS = 500


def _page(
    *,
    errors: dict[str, str] | None = None,
    report: ImportReport | None = None,
    source: str = DEFAULT_SOURCE,
    status_code: int = 200,
) -> Template:
    return Template(
        "importar/encaminhamentos.html",
        context={
            "errors": errors or {},
            "report": report,
            "shown": report.errors[:SHOWN_ERRORS] if report else [],
            "shown_limit": SHOWN_ERRORS,
            "source": source,
        },
        status_code=status_code,
    )


@get(PATH, opt=allow(*IMPORTERS), include_in_schema=False)
async def import_form() -> Template:
    return _page()


@post(PATH, opt=allow(*IMPORTERS), include_in_schema=False, request_max_body_size=MAX_IMPORT_BYTES)
async def import_file(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Template:
    form = await request.form()
    upload = form.get("arquivo")
    raw_source = form.get("origem")
    source = raw_source.strip() if isinstance(raw_source, str) and raw_source.strip() else DEFAULT_SOURCE
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(errors={"arquivo": "Escolha o arquivo CSV ou JSON a importar."}, source=source, status_code=422)
    data = await upload.read()
    if not data.strip():
        return _page(errors={"arquivo": "O arquivo está vazio."}, source=source, status_code=422)
    try:
        report = await import_referrals(
            db_session, settings, data, actor=Actor.of(request.user), source=source, filename=upload.filename
        )
    except ImportFileError as e:
        await db_session.rollback()  # nothing of a file that cannot be read goes in
        field = "origem" if any(fe.field == "source" for fe in e.errors) else "arquivo"
        message = "; ".join(fe.message for fe in e.errors) or e.message
        return _page(errors={field: message}, source=source, status_code=422)
    return _page(report=report, source=source, status_code=200 if report.ok else 422)


ROUTES = [import_form, import_file]
