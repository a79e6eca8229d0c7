"""Running a waitlist export: the files, the audit record, and when the files appear.

Every export is audited (action ``export``, entity ``waitlist_export``) in the transaction that reads the rows,
with the filter, the format, the row count and each file's name, size and SHA-256. Files are written under a
hidden staging name (``.NAME.part``, mode 0600: they hold CPFs) and published — renamed to their final name — by the
caller only after that transaction commits (:meth:`Staging.publish`); when anything fails they are deleted
(:meth:`Staging.discard`). So an export file exists only if its audit record does.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from sqlalchemy.ext.asyncio import AsyncSession

from regula.audit import service as audit
from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.exports import fhir
from regula.exports.waitlist import (
    ExportMeta,
    ExportRow,
    Format,
    HashingWriter,
    Totals,
    WaitlistFilter,
    check_oci_known,
    stream_rows,
    write_csv,
    write_json,
)

AUDIT_ACTION: Final = "export"
AUDIT_ENTITY: Final = "waitlist_export"
EXTENSIONS: Final[dict[str, str]] = {"csv": ".csv", "json": ".json", "fhir": ".fhir.json"}


@dataclass
class StagedFile:
    final: Path
    staging: Path
    raw: BinaryIO
    writer: HashingWriter

    @property
    def name(self) -> str:
        return self.final.name


@dataclass
class Staging:
    """Files written under a staging name, published (renamed) after the commit or discarded."""

    files: list[StagedFile] = field(default_factory=list)

    def open(self, final: Path) -> HashingWriter:
        staging = final.with_name(f".{final.name}.part")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        raw = os.fdopen(fd, "wb", buffering=1 << 20)
        writer = HashingWriter(raw)
        self.files.append(StagedFile(final, staging, raw, writer))
        return writer

    def close(self) -> None:
        for f in self.files:
            if not f.raw.closed:
                f.raw.close()

    def publish(self) -> list[Path]:
        self.close()
        for f in self.files:
            os.replace(f.staging, f.final)
        return [f.final for f in self.files]

    def discard(self) -> None:
        self.close()
        for f in self.files:
            f.staging.unlink(missing_ok=True)
        self.files.clear()


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ExportReport:
    export_id: str
    fmt: Format
    filter: WaitlistFilter
    competencia: str
    totals: Totals
    files: list[ExportedFile]
    elapsed_seconds: float

    @property
    def rows(self) -> int:
        return self.totals.rows

    def audit_after(self) -> dict[str, Any]:
        return {
            "format": self.fmt,
            "competencia": self.competencia,
            "filter": self.filter.as_dict(),
            "rows": self.totals.rows,
            "active": self.totals.active,
            "booked": self.totals.booked,
            "files": [{"name": f.path.name, "bytes": f.bytes, "sha256": f.sha256} for f in self.files],
        }


def default_filename(flt: WaitlistFilter, fmt: Format, competencia: str) -> str:
    """``lista-espera-SC-202611[-oci0902010026][-mun4205407][-todas].csv`` (``.json``, ``.fhir.json``)."""
    parts = ["lista-espera", flt.uf, competencia]
    if flt.oci_code:
        parts.append(f"oci{flt.oci_code}")
    if flt.municipality_ibge:
        parts.append(f"mun{flt.municipality_ibge}")
    if flt.include_terminal:
        parts.append("todas")
    return "-".join(parts) + EXTENSIONS[fmt]


def resolve_destination(out: Path | None, filename: str) -> Path:
    """An existing directory (default: the current one) receives ``filename``; anything else is the file itself,
    whose directory must exist. Raises ``destino_invalido``."""
    target = Path.cwd() if out is None else out.expanduser()
    if target.is_dir():
        return (target / filename).resolve()
    if not target.parent.is_dir():
        raise ValidationFailed.for_field(
            "out", "destino_invalido", f"A pasta de destino não existe: {target.parent}. Crie-a ou informe outra."
        )
    return target.resolve()


def fhir_part_path(base: Path, part: int) -> Path:
    """``NAME.fhir.json`` → ``NAME.fhir-0002.json`` (several Bundles)."""
    suffix = base.suffix
    return base.with_name(f"{base.name[: -len(suffix)] if suffix else base.name}-{part:04d}{suffix}")


async def export_waitlist(
    session: AsyncSession,
    settings: Settings,
    flt: WaitlistFilter,
    fmt: Format,
    destination: Path,
    staging: Staging,
    *,
    meta: ExportMeta | None = None,
    bundle_size: int = fhir.DEFAULT_BUNDLE_SIZE,
    jobs: int = 1,
) -> ExportReport:
    """Write the UF's waitlist to ``destination`` (FHIR: several numbered files when it takes several Bundles)
    under staging names, and audit it in the caller's transaction. The caller publishes ``staging`` after the
    commit. ``jobs``: FHIR validation processes (see :func:`fhir.write_bundles`)."""
    started = time.perf_counter()
    meta = meta or ExportMeta.new(settings)
    if flt.oci_code is not None:
        await check_oci_known(session, flt.oci_code)
    totals: Totals
    exported: list[int] = []  # the entries that left, named in the audit event
    if fmt == "csv":
        totals = await write_csv(
            _noting(stream_rows(session, settings, flt, now=meta.generated_at), exported),
            staging.open(destination),
            meta,
        )
    elif fmt == "json":
        rows = _noting(stream_rows(session, settings, flt, now=meta.generated_at), exported)
        totals = await write_json(rows, staging.open(destination), flt, meta)
    else:
        rows = _noting(stream_rows(session, settings, flt, order="citizen", now=meta.generated_at), exported)
        totals, parts = await fhir.write_bundles(
            rows,
            lambda n: staging.open(fhir_part_path(destination, n)),
            settings,
            meta,
            bundle_size=bundle_size,
            jobs=jobs,
        )
        if parts == 1:
            staging.files[0].final = destination
    staging.close()
    report = ExportReport(
        export_id=meta.export_id,
        fmt=fmt,
        filter=flt,
        competencia=meta.competencia,
        totals=totals,
        files=[ExportedFile(f.final, f.writer.bytes, f.writer.sha256) for f in staging.files],
        elapsed_seconds=time.perf_counter() - started,
    )
    await audit.record_list_read(
        session,
        AUDIT_ENTITY,
        exported,
        action=AUDIT_ACTION,
        entity_id=meta.export_id,
        detail=report.audit_after() | {"ids_are": "WaitlistEntry"},
        uf=flt.uf,
        municipality_ibge=flt.municipality_ibge,
        even_if_empty=True,
    )
    return report


async def _noting(rows: AsyncIterator[ExportRow], seen: list[int]) -> AsyncIterator[ExportRow]:
    async for row in rows:
        seen.append(row.entry_id)
        yield row
