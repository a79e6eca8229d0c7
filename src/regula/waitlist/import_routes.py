"""``POST /api/v1/referrals/import``: bulk import of referrals through the API, with the CLI's rules and report.

The body is either a multipart upload (field ``file``: CSV or JSON) or the file itself — a JSON array of objects
(``application/json``), JSON lines or CSV. Every row must name a citizen of the caller's jurisdiction
(``fora_da_jurisdicao`` otherwise); only the regulation may import entries already authorized. The answer is the
import report (200), whose ``errors`` list each refused row; a file-level problem is a 422 problem document and
nothing is imported.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.datastructures import UploadFile
from litestar.params import Parameter
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.inputs import MAX_IMPORT_BYTES
from regula.waitlist.importer import DEFAULT_SOURCE, Format, ImportFileError, import_referrals

#: Who imports referrals in bulk: the APS teams that refer and the regulation (the page ``/importar`` too).
IMPORTERS: tuple[Role, ...] = (Role.SOLICITANTE, Role.REGULADOR)


@post(
    "/api/v1/referrals/import",
    opt=allow(*IMPORTERS),
    status_code=200,
    tags=["fila"],
    operation_id="importReferrals",
    summary="Importação de encaminhamentos em lote (CSV ou JSON)",
    request_max_body_size=MAX_IMPORT_BYTES,  # larger: 413 (problem document)
)
async def import_referrals_route(
    request: Request[Principal, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    source: str = Parameter(default=DEFAULT_SOURCE, description="Origem; com o id_externo, identifica a solicitação"),
    fmt: str = Parameter(query="format", default="auto", description="csv, json ou auto"),
) -> dict[str, Any]:
    if fmt not in ("auto", "csv", "json"):
        raise ValidationFailed.for_field("format", "formato_invalido", "Formato deve ser csv, json ou auto.")
    content_type = (request.headers.get("content-type") or "").lower()
    filename: str | None = None
    chosen: Format = fmt  # type: ignore[assignment]  # checked above
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ImportFileError.for_field("file", "arquivo_ausente", "Envie o arquivo no campo 'file'.")
        data = await upload.read()
        filename = upload.filename
    else:
        data = await request.body()
        if chosen == "auto" and "json" in content_type:
            chosen = "json"
    report = await import_referrals(
        db_session,
        settings,
        data,
        actor=Actor.of(request.user),
        source=source,
        fmt=chosen,
        filename=filename,
    )
    return report.as_dict()


ROUTES: list[ControllerRouterHandler] = [import_referrals_route]
