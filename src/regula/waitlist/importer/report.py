"""What an import reports: row by row errors, counts, progress, and the error of a file that cannot be imported
at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from regula.core.errors import ValidationFailed

ProgressCallback = Callable[["ImportProgress"], None]


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem of one row: ``field`` is the API's name of the field, ``column`` the column (or JSON key) as
    written in the file, when the file has it."""

    row: int
    field: str
    code: str
    message: str
    column: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"row": self.row, "field": self.field, "code": self.code, "message": self.message}
        if self.column is not None:
            out["column"] = self.column
        return out


@dataclass
class ImportReport:
    source: str
    filename: str | None = None
    rows: int = 0  # data rows read (blank lines are not rows)
    imported: int = 0  # rows that created an entry
    unchanged: int = 0  # rows already imported before (same source and external id)
    refused: int = 0  # rows refused, each with one or more errors
    citizens_created: int = 0
    entries_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    ignored_columns: list[str] = field(default_factory=list)
    scores: str = "nao_se_aplica"  # calculados | nao_se_aplica

    @property
    def ok(self) -> bool:
        return self.refused == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "filename": self.filename,
            "rows": self.rows,
            "imported": self.imported,
            "unchanged": self.unchanged,
            "refused": self.refused,
            "citizens_created": self.citizens_created,
            "entries_created": self.entries_created,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "ignored_columns": self.ignored_columns,
            "scores": self.scores,
            "errors": [e.as_dict() for e in self.errors],
        }


@dataclass(frozen=True, slots=True)
class ImportProgress:
    rows: int
    imported: int
    unchanged: int
    refused: int
    bytes_read: int
    bytes_total: int | None


class ImportFileError(ValidationFailed):
    """The file as a whole cannot be imported (unreadable, not UTF-8, required columns missing): nothing is."""

    default_code = "arquivo_invalido"
