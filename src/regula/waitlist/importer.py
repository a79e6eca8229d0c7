"""Bulk import of referrals from a CSV or JSON file (an e-SUS APS or SISREG export, a migration from another
regulation system): every row checked with the rules of the API, each valid row becoming a citizen (found by CPF,
then CNS, or registered) and a waitlist entry, in one transaction.

How a row is judged:

* the same rules as ``POST /api/v1/referrals`` (``people.service.validate_citizen`` and
  ``waitlist.service.check_referral_fields``), reported as ``{row, field, code, message}`` with the API's field
  names and the 1-based data row (for CSV, the line after the header);
* a row already imported (same ``external_source`` and ``external_id``) is ``unchanged``, never duplicated;
* one active entry per citizen per OCI: a row that would create a second one is refused
  (``entrada_ativa_existente``); of two rows of the file for the same citizen and OCI, the first wins;
* a refused row leaves no trace: neither its citizen nor its entry is written.

How it goes fast (a million rows): rows are parsed and validated in Python in chunks, with in-memory look-ups
(territory, a snapshot of the catalog); rows that pass a conservative fast check are accepted as is, any doubt
sends the row through the official validators, which decide and word the errors. Each chunk then costs a handful
of round trips: citizens and entries of the chunk are looked up with ``= ANY(:array)``, and written with binary
``COPY`` into temporary staging tables and ``INSERT … SELECT … ON CONFLICT`` statements whose data-modifying CTEs
also write the entries' ``created`` history events and the audit rows (Core statements bypass the ORM audit
listener). Python validates the next chunk while PostgreSQL writes the current one. A chunk is written in a
savepoint; if the database refuses something unexpected, the chunk is rolled back and its rows are written one by
one, each in its own savepoint, so only the offending row is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import importlib
import io
import json
import os
import time
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any, Final, Literal, cast
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from regula.audit.service import get_context, record
from regula.catalog.schemas import OciSummary
from regula.config import Settings
from regula.core.errors import FieldError, ValidationFailed
from regula.db.base import utcnow
from regula.inputs import NUL, json_problem, nul_error, too_deep_error
from regula.people import documents
from regula.people.models import CHANNELS, Citizen
from regula.people.schemas import CitizenCreate
from regula.people.service import normalize_phone, validate_citizen
from regula.territory.reference import Municipality, search_key, territory
from regula.waitlist import service
from regula.waitlist.models import ACTIVE_STATUS_SQL, RegulationScope
from regula.waitlist.schemas import ReferralCreate
from regula.waitlist.states import ADMIN, REGULADOR, SYSTEM_ROLE, EntryStatus

Format = Literal["auto", "csv", "json"]
ProgressCallback = Callable[["ImportProgress"], None]

DEFAULT_SOURCE: Final = "importacao"
DEFAULT_CHUNK_SIZE: Final = 25_000
MAX_EXTERNAL_ID: Final = 64
MAX_SOURCE: Final = 32
MAX_NAME: Final = 200
MAX_CID: Final = 4
#: Above this many authorized rows, scores are left to the bulk refresh (per-entry ``rescore`` is too slow).
RESCORE_LIMIT: Final = 20_000
#: Roles whose imports may bring entries already authorized (a migration from another regulation system).
AUTHORIZE_ROLES: Final = frozenset({REGULADOR, ADMIN, SYSTEM_ROLE})
IMPORTABLE_STATUSES: Final = ("solicitada", "autorizada")

# -- columns -------------------------------------------------------------------------------------------------

#: Canonical field names (those of the API) in the order rows are held in memory.
FIELDS: Final[tuple[str, ...]] = (
    "external_id",
    "cpf",
    "cns",
    "name",
    "social_name",
    "birth_date",
    "sex",
    "race_color",
    "municipality_ibge",
    "phone",
    "preferred_channel",
    "contact_consent",
    "pregnant",
    "disability",
    "autism",
    "cadunico",
    "vulnerability_index",
    "oci_code",
    "procedure_code",
    "cid_code",
    "risk_class",
    "risk_justification",
    "requesting_cnes",
    "requesting_ine",
    "professional_cns",
    "professional_cbo",
    "checklist",
    "requested_at",
    "status",
    "authorized_at",
)
(
    EXT,
    CPF,
    CNS,
    NAME,
    SOCIAL,
    BIRTH,
    SEX,
    RACE,
    MUNI,
    PHONE,
    CHANNEL,
    CONSENT,
    PREGNANT,
    DISABILITY,
    AUTISM,
    CADUNICO,
    VULN,
    OCI,
    PROC,
    CID,
    RISK,
    JUST,
    CNES,
    INE,
    PCNS,
    CBO,
    CHECK,
    REQ_AT,
    STATUS,
    AUTH_AT,
) = range(len(FIELDS))

#: Accepted column names (compared without accents, case or punctuation); the first is the Portuguese name used
#: in messages and in the documentation (docs/import-referrals.md).
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "external_id": ("id_externo", "external_id", "codigo_solicitacao", "numero_solicitacao", "id_solicitacao"),
    "cpf": ("cpf", "nu_cpf", "cpf_cidadao", "cpf_paciente"),
    "cns": ("cns", "cartao_sus", "nu_cns", "cns_cidadao", "cns_paciente"),
    "name": ("nome", "name", "nome_cidadao", "nome_paciente", "no_cidadao"),
    "social_name": ("nome_social", "social_name"),
    "birth_date": ("data_nascimento", "birth_date", "dt_nascimento", "nascimento"),
    "sex": ("sexo", "sex"),
    "race_color": ("raca_cor", "race_color", "raca", "racacor"),
    "municipality_ibge": ("municipio_ibge", "municipality_ibge", "ibge", "codigo_ibge", "co_municipio_ibge"),
    "phone": ("telefone", "phone", "celular", "fone"),
    "preferred_channel": ("canal", "preferred_channel", "canal_preferido"),
    "contact_consent": ("consentimento", "contact_consent", "consentimento_contato"),
    "pregnant": ("gestante", "pregnant"),
    "disability": ("deficiencia", "disability", "pessoa_com_deficiencia", "pcd"),
    "autism": ("tea", "autism", "autismo"),
    "cadunico": ("cadunico", "cad_unico"),
    "vulnerability_index": ("indice_vulnerabilidade", "vulnerability_index"),
    "oci_code": ("oci", "oci_code", "codigo_oci", "co_oci"),
    "procedure_code": ("procedimento", "procedure_code", "codigo_procedimento", "co_procedimento"),
    "cid_code": ("cid", "cid_code", "cid10", "cid_10"),
    "risk_class": ("classe_risco", "risk_class", "classificacao_risco", "risco"),
    "risk_justification": ("justificativa", "risk_justification", "justificativa_risco"),
    "requesting_cnes": ("cnes_solicitante", "requesting_cnes", "cnes"),
    "requesting_ine": ("ine", "requesting_ine", "ine_equipe"),
    "professional_cns": ("cns_profissional", "professional_cns"),
    "professional_cbo": ("cbo", "professional_cbo", "cbo_profissional"),
    "checklist": ("checklist", "protocolo"),
    "requested_at": ("data_solicitacao", "requested_at", "dt_solicitacao"),
    "status": ("status", "situacao"),
    "authorized_at": ("data_autorizacao", "authorized_at", "dt_autorizacao"),
}
PT_NAMES: Final[dict[str, str]] = {name: aliases[0] for name, aliases in ALIASES.items()}

#: Columns a CSV header must have; a tuple means "one of them".
REQUIRED_COLUMNS: Final[tuple[str | tuple[str, ...], ...]] = (
    "external_id",
    ("cpf", "cns"),
    "name",
    "birth_date",
    "sex",
    "race_color",
    "municipality_ibge",
    ("oci_code", "procedure_code"),
    "cid_code",
    "risk_class",
    "risk_justification",
    "requesting_cnes",
)


def normalize_column(name: str) -> str:
    """``Data de Nascimento`` → ``data_de_nascimento``; accents, case and punctuation do not matter."""
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))
    out = []
    for ch in bare.strip().lower():
        out.append(ch if ch.isalnum() else "_")
    return "_".join(part for part in "".join(out).split("_") if part)


_ALIAS_INDEX: Final[dict[str, int]] = {
    normalize_column(alias): FIELDS.index(name) for name, aliases in ALIASES.items() for alias in aliases
}

# Spellings of exports mapped to the API's values (e-SUS codes race/color 01–05 and 99).
_RACE: Final[dict[str, str]] = {
    **{r: r for r in ("branca", "preta", "parda", "amarela", "indigena", "sem_informacao")},
    "indígena": "indigena",
    "sem informação": "sem_informacao",
    "sem informacao": "sem_informacao",
    "sem_informação": "sem_informacao",
    "01": "branca",
    "1": "branca",
    "02": "preta",
    "2": "preta",
    "03": "parda",
    "3": "parda",
    "04": "amarela",
    "4": "amarela",
    "05": "indigena",
    "5": "indigena",
    "99": "sem_informacao",
}
_SEX: Final[dict[str, str]] = {"M": "M", "F": "F", "MASCULINO": "M", "FEMININO": "F"}
_TRUE = ("1", "s", "sim", "true", "t", "x", "yes", "y", "verdadeiro", "v")
_FALSE = ("", "0", "n", "nao", "não", "false", "f", "no", "falso")
_BOOL: Final[dict[str, bool]] = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
_BOOL_FIELDS: Final = (CONSENT, PREGNANT, DISABILITY, AUTISM, CADUNICO)
_ELIGIBILITY_CODES: Final = frozenset({"idade_abaixo_do_minimo", "idade_acima_do_maximo", "sexo_incompativel"})


# -- results -------------------------------------------------------------------------------------------------


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
    scores: str = "nao_se_aplica"  # calculados | pendentes | nao_se_aplica

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


# -- reading -------------------------------------------------------------------------------------------------

Values = Sequence[str]


@dataclass(slots=True)
class RawRow:
    row: int
    values: Values  # indexed like FIELDS, every value a string ("" when absent)
    checklist: Any = None  # a JSON object given as such (JSON input)
    errors: list[FieldError] | None = None  # problems found while reading the row


class _CountingReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


class RowSource:
    """Rows of a CSV or JSON document, read lazily; ``columns`` maps each known field to the column as written."""

    def __init__(self, stream: IO[bytes], size: int | None, fmt: Format, filename: str | None) -> None:
        self._counter = _CountingReader(stream)
        self.size = size
        self.filename = filename
        self.columns: dict[str, str] = {}
        self.ignored: list[str] = []
        self._text = io.TextIOWrapper(io.BufferedReader(self._counter, 1 << 20), encoding="utf-8-sig", newline="")
        self.format: Literal["csv", "json"] = self._detect(fmt)
        self._rows: Iterator[RawRow] = self._csv() if self.format == "csv" else self._json()

    @property
    def bytes_read(self) -> int:
        return self._counter.count

    def _detect(self, fmt: Format) -> Literal["csv", "json"]:
        if fmt != "auto":
            return fmt
        suffix = Path(self.filename or "").suffix.lower()
        if suffix in (".csv", ".txt", ".tsv"):
            return "csv"
        if suffix in (".json", ".jsonl", ".ndjson"):
            return "json"
        first = self._peek_char()
        return "json" if first in ("[", "{") else "csv"

    def _peek_char(self) -> str:
        # Read the first non-blank character and keep it for the parser.
        buffered = ""
        while True:
            chunk = self._read_text(1)
            if not chunk:
                break
            buffered += chunk
            if not chunk.isspace():
                break
        self._pending = buffered
        return buffered[-1:] if buffered else ""

    _pending = ""

    def _read_text(self, n: int) -> str:
        try:
            return self._text.read(n)
        except UnicodeDecodeError:
            raise _not_utf8() from None

    def _lines(self) -> Iterator[str]:
        pending, self._pending = self._pending.lstrip(), ""
        if pending:
            first = pending + self._readline()
            yield first
        while True:
            line = self._readline()
            if not line:
                return
            yield line

    def _readline(self) -> str:
        try:
            return self._text.readline()
        except UnicodeDecodeError:
            raise _not_utf8() from None

    def __iter__(self) -> Iterator[RawRow]:
        return self._rows

    # CSV

    def _csv(self) -> Iterator[RawRow]:
        lines = self._lines()
        header_line = next(lines, "")
        if not header_line.strip():
            raise ImportFileError("O arquivo está vazio: falta a linha de cabeçalho.", code="arquivo_vazio")
        delimiter = max((";", ",", "\t"), key=header_line.count)
        try:
            header = next(csv.reader([header_line], delimiter=delimiter))
        except csv.Error as exc:  # a header longer than any cell may be (csv.field_size_limit): not a CSV
            raise ImportFileError(f"Cabeçalho do CSV ilegível: {exc}.", code="csv_malformado") from None
        width = len(header)
        indexes = [width] * len(FIELDS)  # index ``width`` is the "" appended to every row
        for position, raw_name in enumerate(header):
            index = _ALIAS_INDEX.get(normalize_column(raw_name))
            if index is None or FIELDS[index] in self.columns:
                if raw_name.strip():
                    self.ignored.append(raw_name.strip())
                continue
            indexes[index] = position
            self.columns[FIELDS[index]] = raw_name.strip()
        _require_columns(self.columns)
        return self._csv_rows(lines, delimiter, width, indexes)

    def _csv_rows(self, lines: Iterator[str], delimiter: str, width: int, indexes: list[int]) -> Iterator[RawRow]:
        from operator import itemgetter

        pick = itemgetter(*indexes)
        reader = csv.reader(lines, delimiter=delimiter, strict=False)
        pad = [""]
        n = 0
        try:
            for record in reader:
                n += 1
                size = len(record)
                if size == width:
                    record.append("")
                elif size == 0 or (size == 1 and not record[0].strip()):
                    continue  # blank line
                elif size < width:
                    record.extend([""] * (width - size + 1))
                elif not any(cell.strip() for cell in record[width:]):
                    del record[width + 1 :]  # trailing separators: empty cells past the header
                    record[width] = ""
                else:
                    yield RawRow(
                        n,
                        pick(record[:width] + pad),
                        errors=[
                            FieldError(
                                "linha",
                                "colunas_a_mais",
                                f"A linha tem {size} colunas; o cabeçalho tem {width}. Confira o separador e as aspas.",
                            )
                        ],
                    )
                    continue
                yield RawRow(n, pick(record))
        except csv.Error as exc:
            raise ImportFileError(
                f"CSV malformado perto da linha {n + 1} de dados: {exc}.", code="csv_malformado"
            ) from None

    # JSON

    def _json(self) -> Iterator[RawRow]:
        first = self._pending.strip()[:1] if self._pending.strip() else self._peek_char()
        if first == "[":
            return self._json_array()
        return self._json_lines()

    def _object_row(self, n: int, obj: Any) -> RawRow:
        if not isinstance(obj, dict):
            return RawRow(
                n, _EMPTY, errors=[FieldError("linha", "linha_nao_objeto", "Cada linha deve ser um objeto JSON.")]
            )
        values = [""] * len(FIELDS)
        checklist: Any = None
        errors: list[FieldError] = []
        for key, value in obj.items():
            index = _ALIAS_INDEX.get(normalize_column(str(key)))
            if index is None:
                if key not in self.ignored:
                    self.ignored.append(str(key))
                continue
            name = FIELDS[index]
            self.columns.setdefault(name, str(key))
            if value is None:
                continue
            if index == CHECK and isinstance(value, dict):
                if (problem := json_problem(value, name)) is not None:
                    errors.append(problem)
                else:
                    checklist = value
            elif isinstance(value, bool):
                values[index] = "true" if value else "false"
            elif isinstance(value, str | int | float):
                values[index] = str(value)
            else:
                errors.append(FieldError(name, "valor_invalido", "Valor inválido: use texto, número ou booleano."))
        return RawRow(n, values, checklist, errors or None)

    def _json_lines(self) -> Iterator[RawRow]:
        for n, line in enumerate(self._lines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RawRow(n, _EMPTY, errors=[FieldError("linha", "json_invalido", f"JSON inválido: {exc.msg}.")])
                continue
            except RecursionError:
                yield RawRow(n, _EMPTY, errors=[too_deep_error("linha")])
                continue
            except ValueError:  # an integer of thousands of digits (Python's int conversion limit)
                yield RawRow(
                    n, _EMPTY, errors=[FieldError("linha", "json_invalido", "JSON inválido: número longo demais.")]
                )
                continue
            yield self._object_row(n, obj)

    def _json_array(self) -> Iterator[RawRow]:
        decoder = json.JSONDecoder()
        buf = self._pending
        self._pending = ""
        pos = buf.index("[") + 1
        eof = False
        n = 0

        def fill() -> bool:
            nonlocal buf, pos, eof
            if eof:
                return False
            more = self._read_text(1 << 20)
            if not more:
                eof = True
                return False
            buf = buf[pos:] + more
            pos = 0
            return True

        def skip_ws() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if not fill():
                    return ""

        expect_value = True
        while True:
            ch = skip_ws()
            if ch == "]" and (expect_value is False or n == 0):
                return
            if not expect_value:
                if ch != ",":
                    raise _bad_json(n)
                pos += 1
                expect_value = True
                continue
            while True:
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError:
                    if fill():
                        continue
                    raise _bad_json(n) from None
                except ValueError:  # an integer of thousands of digits (Python's int conversion limit)
                    raise _bad_json(n) from None
                except RecursionError:
                    raise ImportFileError.for_field(
                        "arquivo", "json_aninhado_demais", f"JSON aninhado demais no objeto {n + 1} da lista."
                    ) from None
                if end == len(buf) and fill():
                    continue  # a value cut at the buffer's end: decode it again whole
                break
            pos = end
            n += 1
            expect_value = False
            yield self._object_row(n, obj)


_EMPTY: Final[tuple[str, ...]] = ("",) * len(FIELDS)


def _not_utf8() -> ImportFileError:
    return ImportFileError(
        "O arquivo não está em UTF-8. Converta-o (por exemplo: iconv -f latin1 -t utf-8 arquivo.csv > novo.csv).",
        code="arquivo_nao_utf8",
    )


def _bad_json(n: int) -> ImportFileError:
    return ImportFileError(f"JSON malformado depois do objeto {n} da lista.", code="json_malformado")


def _require_columns(columns: Mapping[str, str]) -> None:
    missing = []
    for need in REQUIRED_COLUMNS:
        options = need if isinstance(need, tuple) else (need,)
        if not any(o in columns for o in options):
            missing.append(" ou ".join(PT_NAMES[o] for o in options))
    if missing:
        raise ImportFileError(
            f"Colunas obrigatórias ausentes no cabeçalho: {', '.join(missing)}.",
            code="colunas_obrigatorias_ausentes",
            errors=[FieldError(m, "coluna_ausente", "Coluna obrigatória ausente.") for m in missing],
        )


def open_rows(data: Path | bytes, fmt: Format = "auto", filename: str | None = None) -> RowSource:
    """A row source over a file or bytes (an upload, a request body)."""
    if isinstance(data, Path):
        try:
            stream: IO[bytes] = data.open("rb")
            size: int | None = data.stat().st_size
        except OSError as exc:
            raise ImportFileError(
                f"Não foi possível ler o arquivo {data}: {exc.strerror}.", code="arquivo_ilegivel"
            ) from None
        return RowSource(stream, size, fmt, filename or data.name)
    return RowSource(io.BytesIO(data), len(data), fmt, filename)


# -- validation ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Valid:
    """A row that passed every rule that does not depend on the database, normalized."""

    row: int
    external_id: str
    cpf: str | None
    cns: str | None
    name: str
    social_name: str | None
    search_name: str
    birth_date: date
    sex: str
    race_color: str
    municipality_ibge: str
    phone: str | None
    preferred_channel: str
    contact_consent: bool
    pregnant: bool
    disability: bool
    autism: bool
    cadunico: bool
    vulnerability_index: Decimal | None
    oci_code: str
    requested_procedure_code: str | None
    cid_code: str
    risk_class: str
    risk_justification: str
    checklist: str  # JSON text
    requesting_cnes: str
    requesting_ine: str | None
    professional_cns: str | None
    professional_cbo: str | None
    status: str
    requested_at: datetime
    authorized_at: datetime | None
    # Set when the citizen fields fail: the row is good only for a citizen already registered (looked up by CPF
    # or CNS), whose record is then used as it is; the citizen fields above are placeholders.
    citizen_errors: list[FieldError] | None = None


#: Placeholders of a ``Valid`` whose citizen fields failed (never written: such a row needs a registered citizen).
_NO_CITIZEN: Final[dict[str, Any]] = {
    "name": "",
    "social_name": None,
    "search_name": "",
    "birth_date": date.min,
    "sex": "",
    "race_color": "",
    "municipality_ibge": "",
    "phone": None,
    "preferred_channel": "",
    "contact_consent": False,
    "pregnant": False,
    "disability": False,
    "autism": False,
    "cadunico": False,
    "vulnerability_index": None,
}


def _documents(raw: str) -> str | None:
    """The digits a document is looked up by, as ``service.citizen_from_data`` does; None if it has none."""
    if not raw:
        return None
    try:
        return documents.normalize_digits(raw) or None
    except ValidationFailed:
        return None


@dataclass(slots=True)
class Refused:
    row: int
    external_id: str
    errors: list[FieldError]


def _cpf_valid(d: str) -> bool:
    """Check digits of 11 ASCII digits (the rule of ``documents.validate_cpf``), unrolled for speed."""
    b = d.encode()
    s = b[0] * 10 + b[1] * 9 + b[2] * 8 + b[3] * 7 + b[4] * 6 + b[5] * 5 + b[6] * 4 + b[7] * 3 + b[8] * 2 - 2592
    r = s % 11
    d1 = 0 if r < 2 else 11 - r
    if b[9] - 48 != d1:
        return False
    s = b[0] * 11 + b[1] * 10 + b[2] * 9 + b[3] * 8 + b[4] * 7 + b[5] * 6 + b[6] * 5 + b[7] * 4 + b[8] * 3 - 3024
    r = (s + d1 * 2) % 11
    return b[10] - 48 == (0 if r < 2 else 11 - r)


def _cns_valid(d: str) -> bool:
    """The rule of ``documents.validate_cns`` on 15 ASCII digits."""
    b = d.encode()
    first = b[0]
    if first in (49, 50):  # "1", "2": definitive, rebuilt from the PIS
        s = sum(b[i] * (15 - i) for i in range(11)) - 48 * 110
        dv = 11 - s % 11
        if dv == 11:
            dv = 0
        if dv == 10:
            return d[11:] == f"001{11 - (s + 2) % 11}"
        return d[11:] == f"000{dv}"
    if first in (55, 56, 57):  # "7", "8", "9": provisional
        return (sum(b[i] * (15 - i) for i in range(15)) - 48 * 120) % 11 == 0
    return False


def _digits(raw: str, length: int) -> str | None:
    """``raw`` as ``length`` ASCII digits when it is exactly that, or the CPF mask ``000.000.000-00``."""
    if len(raw) == length and raw.isdigit() and raw.isascii():
        return raw
    if length == 11 and len(raw) == 14 and raw[3] == "." and raw[7] == "." and raw[11] == "-":
        bare = raw[:3] + raw[4:7] + raw[8:11] + raw[12:]
        if bare.isdigit() and bare.isascii():
            return bare
    return None


class Validator:
    """Row rules. ``fast`` accepts only rows it is sure about; ``full`` runs the official validators and decides
    (and words the errors) for every other row. Both give the same ``Valid`` for a row they both accept."""

    def __init__(self, catalog: service.Catalog, settings: Settings, actor: service.Actor, now: datetime) -> None:
        self.catalog = catalog
        self.settings = settings
        self.actor = actor
        self.now = now
        self.tz = ZoneInfo(settings.timezone)
        self.today = now.astimezone(self.tz).date()
        self.territory = territory()
        self.ocis = catalog.ocis
        self.may_authorize = actor.role in AUTHORIZE_ROLES
        self.teleconsult = settings.teleconsult_first_ocis
        self._dates: dict[str, date | None] = {}
        self._moments: dict[str, datetime | None] = {}
        self._procedures: dict[str, OciSummary | None] = {}
        self._cid_ok: dict[tuple[str, str], bool] = {}
        self._pcns: dict[str, str | None] = {}
        self._scratch: list[FieldError] = []
        self._words: dict[str, str] = {}

    # parsing helpers

    def parse_date(self, raw: str) -> date | None:
        """``YYYY-MM-DD`` or ``DD/MM/YYYY``; None when it is neither or not a real date."""
        found = self._dates.get(raw)
        if found is not None or raw in self._dates:
            return found
        value: date | None = None
        text = raw.strip()
        try:
            if len(text) == 10 and text[4] == "-" and text[7] == "-":
                value = date(int(text[:4]), int(text[5:7]), int(text[8:]))
            elif len(text) == 10 and text[2] == "/" and text[5] == "/":
                value = date(int(text[6:]), int(text[3:5]), int(text[:2]))
        except ValueError:
            value = None
        if len(self._dates) < 200_000:
            self._dates[raw] = value
        return value

    def parse_moment(self, raw: str) -> datetime | None:
        """A date (local midnight) or a date and time (local when no offset is given), as an aware datetime."""
        found = self._moments.get(raw)
        if found is not None:
            return found
        text = raw.strip()
        value: datetime | None = None
        day = self.parse_date(text) if len(text) == 10 else None
        if day is not None:
            value = datetime(day.year, day.month, day.day, tzinfo=self.tz).astimezone(UTC)
            if len(self._moments) < 200_000:
                self._moments[raw] = value
            return value
        try:
            if len(text) >= 16 and text[2] == "/" and text[5] == "/":
                day = self.parse_date(text[:10])
                if day is None:
                    return None
                clock = text[10:].strip()
                parts = [int(p) for p in clock.split(":")]
                if len(parts) not in (2, 3):
                    return None
                hour, minute, second = (*parts, 0)[:3]
                value = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=self.tz)
            elif len(text) >= 16 and text[4] == "-":
                value = datetime.fromisoformat(text)
                if value.tzinfo is None:
                    value = value.replace(tzinfo=self.tz)
        except ValueError:
            return None
        return value.astimezone(UTC) if value is not None else None

    def search_name(self, name: str) -> str:
        """``search_key`` word by word, each word's key cached (names repeat their words: Silva, Maria…)."""
        cache = self._words
        parts = []
        for word in name.split(" "):
            key = cache.get(word)
            if key is None:
                key = search_key(word)
                if len(cache) < 500_000:
                    cache[word] = key
            if key:
                parts.append(key)
        return " ".join(parts)

    def procedure_oci(self, code: str) -> OciSummary | None:
        if code not in self._procedures:
            matches = self.catalog.ocis_with_procedure(code)
            self._procedures[code] = matches[0] if len(matches) == 1 else None
        return self._procedures[code]

    def cid_ok(self, oci: OciSummary, cid: str) -> bool:
        key = (oci.code, cid)
        ok = self._cid_ok.get(key)
        if ok is None:
            ok = len(cid) <= MAX_CID and not (oci.cids and not any(cid == c or cid.startswith(c) for c in oci.cids))
            self._cid_ok[key] = ok
        return ok

    def professional_cns(self, raw: str) -> str | None:
        if raw not in self._pcns:
            digits = _digits(raw, 15)
            self._pcns[raw] = digits if digits is not None and _cns_valid(digits) else None
        return self._pcns[raw]

    def months(self, birth: date) -> int:
        today = self.today
        return (today.year - birth.year) * 12 + today.month - birth.month - (today.day < birth.day)

    def when(
        self, status_raw: str, requested_raw: str, authorized_raw: str, oci_code: str | None, errors: list[FieldError]
    ) -> tuple[str, datetime, datetime | None]:
        """Status and dates of the source system (a migration keeps the waiting time it had there)."""
        status = status_raw.strip().lower() or "solicitada"
        if status not in IMPORTABLE_STATUSES:
            errors.append(
                FieldError(
                    "status",
                    "status_nao_importavel",
                    f"Status {status_raw.strip()!r} não pode ser importado: use solicitada ou autorizada.",
                )
            )
        requested = authorized = None
        if requested_raw.strip():
            requested = self.parse_moment(requested_raw)
            if requested is None:
                errors.append(_date_error("requested_at"))
            elif requested > self.now:
                errors.append(FieldError("requested_at", "data_futura", "A data da solicitação está no futuro."))
        if authorized_raw.strip():
            authorized = self.parse_moment(authorized_raw)
            if authorized is None:
                errors.append(_date_error("authorized_at"))
            elif authorized > self.now:
                errors.append(FieldError("authorized_at", "data_futura", "A data da autorização está no futuro."))
        if status == "autorizada":
            if not self.may_authorize:
                errors.append(
                    FieldError(
                        "status",
                        "status_nao_permitido",
                        "Só a regulação importa solicitações já autorizadas.",
                    )
                )
            if not authorized_raw.strip():
                errors.append(
                    FieldError(
                        "authorized_at",
                        "data_autorizacao_obrigatoria",
                        "Informe a data da autorização: ela conta o tempo de espera na fila.",
                    )
                )
        elif authorized_raw.strip() and status == "solicitada":
            errors.append(
                FieldError(
                    "authorized_at",
                    "status_incompativel",
                    "Data de autorização informada para uma solicitação não autorizada.",
                )
            )
        if requested is not None and authorized is not None and authorized < requested:
            errors.append(
                FieldError(
                    "authorized_at",
                    "autorizacao_antes_da_solicitacao",
                    "A data da autorização é anterior à da solicitação.",
                )
            )
        if status == "solicitada" and oci_code is not None and oci_code in self.teleconsult:
            status = EntryStatus.AGUARDANDO_TELECONSULTA.value
        return status, requested or authorized or self.now, authorized if status == "autorizada" else None

    def checklist(self, raw: str, given: Any, errors: list[FieldError] | None) -> dict[str, bool] | None:
        value = given
        if value is None and raw.strip():
            try:
                value = json.loads(raw)
            except (ValueError, RecursionError):  # malformed, a number too long, nested too deep
                value = None
            if value is None:
                if errors is not None:
                    errors.append(_checklist_error())
                return None
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
            if errors is not None:
                errors.append(_checklist_error())
            return None
        return {str(k): bool(v) for k, v in value.items()}

    # the fast path

    def fast(self, raw: RawRow) -> Valid | None:
        """One straight line of checks (kept together for speed); None as soon as anything is doubtful."""
        v = raw.values
        if raw.errors:
            return None
        ext = v[EXT].strip()
        if not ext or len(ext) > MAX_EXTERNAL_ID:
            return None
        race = _RACE.get(v[RACE].lower())
        if race is None:
            return None
        cpf: str | None = None
        if v[CPF]:
            cpf = _digits(v[CPF], 11)
            if cpf is None or cpf == cpf[0] * 11 or not _cpf_valid(cpf):
                return None
        cns: str | None = None
        if v[CNS]:
            cns = _digits(v[CNS], 15)
            if cns is None or not _cns_valid(cns):
                return None
        if cpf is None and (cns is None or race != "indigena"):
            return None
        name = " ".join(v[NAME].split())
        if len(name) < 3 or len(name) > MAX_NAME or not any(ch.isalpha() for ch in name):
            return None
        birth = self.parse_date(v[BIRTH])
        if birth is None or birth > self.today:
            return None
        age_months = self.months(birth)
        if age_months >= 131 * 12:
            return None
        sex = _SEX.get(v[SEX].upper())
        if sex is None:
            return None
        muni = self.territory.find(v[MUNI])
        if muni is None:
            return None
        phone: str | None = None
        if v[PHONE]:
            phone = normalize_phone(v[PHONE], self._scratch)
            if phone is None:
                self._scratch.clear()
                return None
        channel = v[CHANNEL].lower() or "sms"
        if channel not in CHANNELS or (channel != "nenhum" and phone is None):
            return None
        consent = _BOOL.get(v[CONSENT].lower())
        pregnant = _BOOL.get(v[PREGNANT].lower())
        disability = _BOOL.get(v[DISABILITY].lower())
        autism = _BOOL.get(v[AUTISM].lower())
        cadunico = _BOOL.get(v[CADUNICO].lower())
        if consent is None or pregnant is None or disability is None or autism is None or cadunico is None:
            return None
        if pregnant and sex == "M":
            return None
        vulnerability: Decimal | None = None
        if v[VULN]:
            return None  # rare: the official path parses it
        social = " ".join(v[SOCIAL].split()) or None
        if social is not None and len(social) > MAX_NAME:
            return None
        oci_code = v[OCI]
        procedure: str | None = None
        if oci_code:
            oci = self.ocis.get(oci_code)
        elif v[PROC]:
            procedure = v[PROC]
            oci = self.procedure_oci(procedure)
        else:
            return None
        if oci is None:
            return None
        cid = v[CID].strip().upper().replace(".", "")
        if not self.cid_ok(oci, cid):
            return None
        if oci.sex and sex != oci.sex:
            return None
        if oci.age_min_months is not None and age_months < oci.age_min_months:
            return None
        if oci.age_max_months is not None and age_months > oci.age_max_months:
            return None
        risk = v[RISK].lower()
        if risk not in service.RISK_CLASSES:
            return None
        justification = v[JUST].strip()
        if len(justification) < 10:
            return None
        cnes = v[CNES]
        if len(cnes) != 7 or not cnes.isdigit():
            return None
        ine = v[INE] or None
        if ine is not None and (len(ine) != 10 or not ine.isdigit()):
            return None
        professional_cns: str | None = None
        if v[PCNS]:
            professional_cns = self.professional_cns(v[PCNS])
            if professional_cns is None:
                return None
        cbo = v[CBO].strip() or None
        if cbo is not None and len(cbo) != 6:
            return None
        if v[CHECK] or raw.checklist is not None:
            checklist = self.checklist(v[CHECK], raw.checklist, None)
            if checklist is None or not all(checklist.values()):
                return None
            checklist_json = json.dumps(checklist, ensure_ascii=False)
        else:
            checklist_json = "{}"
        scratch = self._scratch
        status, requested_at, authorized_at = self.when(v[STATUS], v[REQ_AT], v[AUTH_AT], oci.code, scratch)
        if scratch:
            scratch.clear()
            return None
        return Valid(
            raw.row,
            ext,
            cpf,
            cns,
            name,
            social,
            name.upper() if name.isascii() else self.search_name(name),
            birth,
            sex,
            race,
            muni.ibge_code,
            phone,
            channel,
            consent,
            pregnant,
            disability,
            autism,
            cadunico,
            vulnerability,
            oci.code,
            procedure,
            cid,
            risk,
            justification,
            checklist_json,
            cnes,
            ine,
            professional_cns,
            cbo,
            status,
            requested_at,
            authorized_at,
        )

    # the official path

    def full(self, raw: RawRow) -> Valid | Refused:
        """Every rule, worded by the official validators; the authority on any row the fast path doubts.

        As in ``POST /api/v1/referrals``, the citizen's data only matter when the citizen must be registered: a
        row whose citizen fields fail but whose CPF or CNS may name a registered citizen comes back ``Valid`` with
        ``citizen_errors``, to be refused with them only if the look-up finds nobody.
        """
        v = [value.strip() for value in raw.values]
        errors: list[FieldError] = list(raw.errors or [])
        ext = v[EXT]
        if any(e.field == "linha" for e in errors):
            return Refused(raw.row, ext, errors)  # the row could not be read as a row
        if not ext:
            errors.append(
                FieldError(
                    "external_id",
                    "obrigatorio",
                    "Informe o id_externo (o identificador da solicitação no sistema de origem).",
                )
            )
        elif len(ext) > MAX_EXTERNAL_ID:
            errors.append(
                FieldError("external_id", "id_externo_longo", f"O id_externo tem mais de {MAX_EXTERNAL_ID} caracteres.")
            )
        citizen_errors: list[FieldError] = []
        birth = self.parse_date(v[BIRTH]) if v[BIRTH] else None
        if not v[BIRTH]:
            citizen_errors.append(FieldError("birth_date", "obrigatorio", "Informe a data de nascimento."))
        elif birth is None:
            citizen_errors.append(_date_error("birth_date"))
        flags: dict[int, bool] = {}
        for index in _BOOL_FIELDS:
            parsed = _BOOL.get(v[index].lower())
            if parsed is None:
                citizen_errors.append(
                    FieldError(FIELDS[index], "booleano_invalido", "Valor inválido: use sim ou não (1 ou 0).")
                )
            flags[index] = bool(parsed)
        vulnerability: float | None = None
        if v[VULN]:
            try:
                vulnerability = float(v[VULN].replace(",", "."))
            except ValueError:
                citizen_errors.append(
                    FieldError(
                        "vulnerability_index", "numero_invalido", "Índice de vulnerabilidade: um número de 0 a 1."
                    )
                )
        race = _RACE.get(v[RACE].lower(), v[RACE])
        sex = _SEX.get(v[SEX].upper(), v[SEX])
        citizen_data = CitizenCreate(
            name=v[NAME],
            birth_date=birth or self.today.replace(year=self.today.year - 30, day=1),
            sex=sex,
            race_color=race,
            municipality_ibge=v[MUNI],
            cpf=v[CPF] or None,
            cns=v[CNS] or None,
            social_name=v[SOCIAL] or None,
            phone=v[PHONE] or None,
            preferred_channel=v[CHANNEL].lower() or "sms",
            contact_consent=flags[CONSENT],
            pregnant=flags[PREGNANT],
            disability=flags[DISABILITY],
            autism=flags[AUTISM],
            cadunico=flags[CADUNICO],
            vulnerability_index=vulnerability,
        )
        values: dict[str, Any] | None = None
        try:
            values = validate_citizen(citizen_data, self.today).values
        except ValidationFailed as exc:
            citizen_errors.extend(exc.errors)
        if len(" ".join(v[NAME].split())) > MAX_NAME:
            citizen_errors.append(FieldError("name", "nome_longo", f"O nome tem mais de {MAX_NAME} caracteres."))
        if len(" ".join(v[SOCIAL].split())) > MAX_NAME:
            citizen_errors.append(
                FieldError("social_name", "nome_longo", f"O nome social tem mais de {MAX_NAME} caracteres.")
            )
        checklist = self.checklist(v[CHECK], raw.checklist, errors)
        referral = ReferralCreate(
            cid_code=v[CID],
            risk_class=v[RISK].lower(),
            risk_justification=v[JUST],
            requesting_cnes=v[CNES],
            oci_code=v[OCI] or None,
            procedure_code=v[PROC] or None,
            checklist=checklist or {},
            requesting_ine=v[INE] or None,
            professional_cns=v[PCNS] or None,
            professional_cbo=v[CBO] or None,
            external_id=ext or None,
        )
        referral_errors: list[FieldError] = []
        person = SimpleNamespace(sex=sex.strip().upper(), birth_date=birth or self.today)
        oci = service.check_referral_fields(referral, self.catalog, cast(Citizen, person), self.today, referral_errors)
        if citizen_errors:
            # The OCI's sex and age limits are checked against the citizen the row turns out to name.
            referral_errors = [e for e in referral_errors if e.code not in _ELIGIBILITY_CODES]
        errors.extend(referral_errors)
        cid = v[CID].upper().replace(".", "")
        if oci is not None and len(cid) > MAX_CID and not any(e.field == "cid_code" for e in referral_errors):
            errors.append(FieldError("cid_code", "cid_formato", "O CID-10 tem até 4 caracteres (ex.: C509)."))
        status, requested_at, authorized_at = self.when(
            v[STATUS], v[REQ_AT], v[AUTH_AT], oci.code if oci else None, errors
        )
        cpf, cns = _documents(v[CPF]), _documents(v[CNS])
        if errors or (citizen_errors and not (cpf or cns)):
            return Refused(raw.row, ext, citizen_errors + errors)
        assert oci is not None and checklist is not None
        if citizen_errors:
            # Only the documents count: the row may still name a registered citizen.
            values = {"cpf": cpf, "cns": cns, **_NO_CITIZEN}
        assert values is not None
        return Valid(
            raw.row,
            ext,
            values["cpf"],
            values["cns"],
            values["name"],
            values["social_name"],
            values["search_name"],
            values["birth_date"],
            values["sex"],
            values["race_color"],
            values["municipality_ibge"],
            values["phone"],
            values["preferred_channel"],
            values["contact_consent"],
            values["pregnant"],
            values["disability"],
            values["autism"],
            values["cadunico"],
            values["vulnerability_index"],
            oci.code,
            referral.procedure_code if not referral.oci_code else None,
            cid,
            referral.risk_class,
            referral.risk_justification.strip(),
            json.dumps(checklist, ensure_ascii=False) if checklist else "{}",
            referral.requesting_cnes,
            referral.requesting_ine,
            documents.normalize_digits(referral.professional_cns) if referral.professional_cns else None,
            referral.professional_cbo,
            status,
            requested_at,
            authorized_at,
            citizen_errors or None,
        )

    def validate(self, raw: RawRow) -> Valid | Refused:
        if NUL in "".join(raw.values):  # one C-speed test per row; PostgreSQL refuses NUL in text
            errors = [nul_error(FIELDS[i]) for i, value in enumerate(raw.values) if NUL in value]
            return Refused(raw.row, "", errors)  # no external id: not even looked up
        return self.fast(raw) or self.full(raw)

    def eligibility(self, valid: Valid, sex: str, birth: date) -> list[FieldError]:
        """The OCI's sex and age limits for the registered citizen (whose record may differ from the file)."""
        referral = ReferralCreate(
            cid_code=valid.cid_code,
            risk_class=valid.risk_class,
            risk_justification=valid.risk_justification,
            requesting_cnes=valid.requesting_cnes,
            oci_code=valid.oci_code,
        )
        errors: list[FieldError] = []
        person = cast(Citizen, SimpleNamespace(sex=sex, birth_date=birth))
        service.check_referral_fields(referral, self.catalog, person, self.today, errors)
        return [e for e in errors if e.code in _ELIGIBILITY_CODES]


def _date_error(field_name: str) -> FieldError:
    return FieldError(field_name, "data_formato", "Data inválida: use AAAA-MM-DD ou DD/MM/AAAA.")


def _checklist_error() -> FieldError:
    return FieldError("checklist", "checklist_formato", 'Checklist: um objeto JSON como {"ecg_anexado": true}.')


# -- writing -------------------------------------------------------------------------------------------------


class NewCitizen:
    """A citizen the import registers; shared by the rows of a chunk that name the same person."""

    __slots__ = ("cns", "cpf", "first", "id", "uf")

    def __init__(self, first: Valid, uf: str) -> None:
        self.first = first
        self.cpf = first.cpf
        self.cns = first.cns
        self.uf = uf
        self.id: int | None = None


@dataclass(slots=True)
class Planned:
    valid: Valid
    citizen_id: int | None
    new: NewCitizen | None
    municipality_ibge: str
    uf: str
    scope_kind: str
    scope_code: str
    max_days: int
    protocol: str = ""


class _Retry(Exception):
    """The database did not take every row of a chunk as planned: write its rows one by one."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_CITIZEN_STAGE: Final = "_regula_import_citizen"
_ENTRY_STAGE: Final = "_regula_import_entry"
_CITIZEN_COLUMNS: Final = (
    "cpf",
    "cns",
    "name",
    "social_name",
    "search_name",
    "birth_date",
    "sex",
    "race_color",
    "municipality_ibge",
    "uf",
    "phone",
    "preferred_channel",
    "contact_consent",
    "contact_consent_at",
    "pregnant",
    "disability",
    "autism",
    "cadunico",
    "vulnerability_index",
)
_ENTRY_COLUMNS: Final = (
    "protocol",
    "citizen_id",
    "oci_code",
    "catalog_competencia",
    "requested_procedure_code",
    "cid_code",
    "risk_class",
    "risk_justification",
    "checklist",
    "requesting_cnes",
    "requesting_ine",
    "professional_cns",
    "professional_cbo",
    "municipality_ibge",
    "uf",
    "scope_kind",
    "scope_code",
    "status",
    "status_changed_at",
    "external_id",
    "requested_at",
    "authorized_at",
    "deadline_date",
    "max_days",
)
_STAGING_SQL: Final = (
    f"""CREATE TEMP TABLE IF NOT EXISTS {_CITIZEN_STAGE} (
        seq int, cpf text, cns text, name text, social_name text, search_name text, birth_date date, sex text,
        race_color text, municipality_ibge text, uf text, phone text, preferred_channel text, contact_consent bool,
        contact_consent_at timestamptz, pregnant bool, disability bool, autism bool, cadunico bool,
        vulnerability_index numeric)""",
    f"""CREATE TEMP TABLE IF NOT EXISTS {_ENTRY_STAGE} (
        seq int, protocol text, citizen_id bigint, oci_code text, catalog_competencia text,
        requested_procedure_code text, cid_code text, risk_class text, risk_justification text, checklist jsonb,
        requesting_cnes text, requesting_ine text, professional_cns text, professional_cbo text,
        municipality_ibge text, uf text, scope_kind text, scope_code text, status text,
        status_changed_at timestamptz, external_id text, requested_at timestamptz, authorized_at timestamptz,
        deadline_date date, max_days int)""",
)
_AUDIT_COLUMNS: Final = (
    "actor_user_id",
    "actor_username",
    "actor_role",
    "source",
    "ip",
    "user_agent",
    "request_id",
    "method",
    "path",
)
# Literal statements (no interpolation): the column lists are _CITIZEN_COLUMNS, _ENTRY_COLUMNS and
# _AUDIT_COLUMNS; $1–$9 are the AuditContext's columns in _AUDIT_COLUMNS order.
_INSERT_CITIZENS: Final = """
WITH ins AS (
    INSERT INTO citizen (
        cpf, cns, name, social_name, search_name, birth_date, sex, race_color, municipality_ibge, uf, phone,
        preferred_channel, contact_consent, contact_consent_at, pregnant, disability, autism, cadunico,
        vulnerability_index, created_at, updated_at
    )
    SELECT
        cpf, cns, name, social_name, search_name, birth_date, sex, race_color, municipality_ibge, uf, phone,
        preferred_channel, contact_consent, contact_consent_at, pregnant, disability, autism, cadunico,
        vulnerability_index,
        $10, $10
    FROM _regula_import_citizen
    ON CONFLICT DO NOTHING
    RETURNING *
), audit AS (
    INSERT INTO audit_event (
        actor_user_id, actor_username, actor_role, source, ip, user_agent, request_id, method, path, action,
        entity_type, entity_id, after, uf, municipality_ibge
    )
    SELECT CAST($1 AS bigint), $2, $3, $4, $5, $6, $7, $8, $9,
           'create', 'Citizen', ins.id::text, to_jsonb(ins), ins.uf, ins.municipality_ibge
    FROM ins
)
SELECT id, cpf, cns FROM ins
"""

_INSERT_ENTRIES: Final = """
WITH ins AS (
    INSERT INTO waitlist_entry (
        protocol, citizen_id, oci_code, catalog_competencia, requested_procedure_code, cid_code, risk_class,
        risk_justification, checklist, requesting_cnes, requesting_ine, professional_cns, professional_cbo,
        municipality_ibge, uf, scope_kind, scope_code, status, status_changed_at, external_id, requested_at,
        authorized_at, deadline_date, max_days, external_source, suspended_days, created_by, created_at,
        updated_at
    )
    SELECT
        protocol, citizen_id, oci_code, catalog_competencia, requested_procedure_code, cid_code, risk_class,
        risk_justification, checklist, requesting_cnes, requesting_ine, professional_cns, professional_cbo,
        municipality_ibge, uf, scope_kind, scope_code, status, status_changed_at, external_id, requested_at,
        authorized_at, deadline_date, max_days,
        $10, 0, $11, $12, $12
    FROM _regula_import_entry
    ON CONFLICT (external_source, external_id) DO NOTHING
    RETURNING *
), events AS (
    INSERT INTO waitlist_entry_event (
        entry_id, kind, from_status, to_status, data, actor_user_id, actor_username, actor_role
    )
    SELECT ins.id, 'created', NULL, ins.status,
           jsonb_build_object('importacao', ins.external_source, 'id_externo', ins.external_id),
           CAST($13 AS bigint), $14, $15
    FROM ins
), audit AS (
    INSERT INTO audit_event (
        actor_user_id, actor_username, actor_role, source, ip, user_agent, request_id, method, path, action,
        entity_type, entity_id, after, uf, municipality_ibge
    )
    SELECT CAST($1 AS bigint), $2, $3, $4, $5, $6, $7, $8, $9,
           'create', 'WaitlistEntry', ins.id::text, to_jsonb(ins), ins.uf, ins.municipality_ibge
    FROM ins
)
SELECT id, external_id, status, oci_code, scope_kind, scope_code FROM ins
"""

# Look-ups of a chunk: one index probe per value (LATERAL … OFFSET 0 keeps the planner from turning a long array
# into a sequential scan, which would make a large import quadratic).
_EXTERNAL_SQL: Final = """
SELECT w.external_id FROM unnest($2::text[]) AS u(v),
LATERAL (SELECT external_id FROM waitlist_entry WHERE external_source = $1 AND external_id = u.v OFFSET 0) AS w
"""
_CITIZEN_BY_CPF_SQL: Final = """
SELECT c.id, c.cpf, c.cns, c.sex, c.birth_date, c.municipality_ibge, c.uf FROM unnest($1::text[]) AS u(v),
LATERAL (SELECT * FROM citizen WHERE cpf = u.v AND merged_into_id IS NULL OFFSET 0) AS c
"""
_CITIZEN_BY_CNS_SQL: Final = """
SELECT c.id, c.cpf, c.cns, c.sex, c.birth_date, c.municipality_ibge, c.uf FROM unnest($1::text[]) AS u(v),
LATERAL (SELECT * FROM citizen WHERE cns = u.v AND merged_into_id IS NULL OFFSET 0) AS c
"""
_ACTIVE_SQL: Final = (
    "SELECT w.citizen_id, w.oci_code FROM unnest($1::bigint[]) AS u(v), LATERAL (SELECT citizen_id, oci_code "  # noqa: S608 - constant
    "FROM waitlist_entry WHERE citizen_id = u.v AND " + ACTIVE_STATUS_SQL + " OFFSET 0) AS w"
)
_PROTOCOL_SQL: Final = """
SELECT w.protocol FROM unnest($1::text[]) AS u(v),
LATERAL (SELECT protocol FROM waitlist_entry WHERE protocol = u.v OFFSET 0) AS w
"""


def _random_numbers(n: int) -> list[int]:
    """``n`` numbers below 10⁸ from the operating system's CSPRNG (as ``secrets.randbelow``), in one call."""
    out: list[int] = []
    while len(out) < n:
        words = array("I")
        assert words.itemsize == 4
        words.frombytes(os.urandom(4 * (n - len(out) + 16)))
        out.extend(w % 100_000_000 for w in words if w < 4_200_000_000)  # 42·10⁸ < 2³²: no modulo bias
    return out[:n]


@dataclass
class _Written:
    authorized_ids: list[int] = field(default_factory=list)
    queues: set[service.QueueKey] = field(default_factory=set)


class Importer:
    """One import run on one session: reads, validates, writes chunk by chunk, reports."""

    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        actor: service.Actor,
        source: str,
        progress: ProgressCallback | None,
        chunk_size: int,
    ) -> None:
        self.session = session
        self.settings = settings
        self.actor = actor
        self.source = source
        self.progress = progress
        self.chunk_size = chunk_size
        self.now = utcnow()
        self.report = ImportReport(source=source)
        self.written = _Written()
        self._seen_external: dict[str, int] = {}
        self._covers_map: dict[str, bool] = {}
        self._scopes: dict[str, tuple[str, str]] = {}
        self._conn: Any = None
        self._columns: Mapping[str, str] = {}
        self._rows: RowSource | None = None

    # setup

    async def _prepare(self) -> None:
        self.catalog = await service.load_catalog(self.session, self.settings)
        self.validator = Validator(self.catalog, self.settings, self.actor, self.now)
        configured = (await self.session.execute(select(RegulationScope))).scalars()
        self._region_kinds = {r.health_region_code: r.scope_kind for r in configured}
        raw = await (await self.session.connection()).get_raw_connection()
        self._conn = raw.driver_connection
        for statement in _STAGING_SQL:
            await self._conn.execute(statement)
        ctx = get_context(self.session).columns()
        self._audit = [ctx[c] for c in _AUDIT_COLUMNS]
        self._yy = f"{self.validator.today:%y}"

    def _scope(self, m: Municipality) -> tuple[str, str]:
        """``service.scope_for`` with the regulation scopes read once."""
        found = self._scopes.get(m.ibge_code)
        if found is None:
            kind = "region" if m.health_region_code else "macro"
            if m.health_region_code and m.health_region_code in self._region_kinds:
                kind = self._region_kinds[m.health_region_code]
            code = {"region": m.health_region_code, "macro": m.macro_code, "uf": m.uf}[kind]
            assert code is not None
            found = self._scopes[m.ibge_code] = (kind, code)
        return found

    # run

    async def run(self, rows: RowSource) -> ImportReport:
        started = time.perf_counter()
        self._rows = rows
        self.report.filename = rows.filename
        await self._prepare()
        self._columns = rows.columns
        pending: asyncio.Task[None] | None = None
        iterator = iter(rows)
        try:
            while True:
                chunk = await self._read_chunk(iterator)
                if pending is not None:
                    task, pending = pending, None
                    await task
                    self._notify()
                if not chunk:
                    break
                # The database work of this chunk runs while the next chunk is read and validated.
                pending = asyncio.create_task(self._process(chunk))
        finally:
            if pending is not None:
                # Reading failed (a file-level error): let the chunk in flight finish before the caller rolls back.
                with contextlib.suppress(Exception):
                    await pending
        self.report.ignored_columns = list(rows.ignored)
        await self._after_import()
        self.report.errors.sort(key=lambda e: e.row)
        self.report.elapsed_seconds = time.perf_counter() - started
        await record(
            self.session,
            "import",
            entity_type="WaitlistEntry",
            after={k: v for k, v in self.report.as_dict().items() if k != "errors"},
            reason=f"Importação de encaminhamentos ({self.source})",
        )
        self._notify()
        return self.report

    async def _read_chunk(self, iterator: Iterator[RawRow]) -> list[Valid | Refused]:
        chunk: list[Valid | Refused] = []
        validate = self.validator.validate
        seen = self._seen_external
        for raw in iterator:
            item = validate(raw)
            ext = item.external_id
            if ext:
                first = seen.get(ext)
                if first is None:
                    seen[ext] = item.row
                else:
                    error = FieldError(
                        "external_id", "id_externo_repetido", f"O id_externo {ext!r} já apareceu na linha {first}."
                    )
                    # Refused for good, even when a later import finds that id imported (by the first row).
                    item = Refused(item.row, "", [*item.errors, error] if isinstance(item, Refused) else [error])
            chunk.append(item)
            if len(chunk) >= self.chunk_size:
                break
            if len(chunk) % 512 == 0:
                await asyncio.sleep(0)  # let the previous chunk's statements reach the database
        self.report.rows += len(chunk)
        return chunk

    def _notify(self) -> None:
        if self.progress is not None and self._rows is not None:
            r = self.report
            self.progress(
                ImportProgress(r.rows, r.imported, r.unchanged, r.refused, self._rows.bytes_read, self._rows.size)
            )

    def _refuse(self, row: int, errors: Iterable[FieldError]) -> None:
        self.report.refused += 1
        columns = self._columns
        self.report.errors.extend(RowError(row, e.field, e.code, e.message, columns.get(e.field)) for e in errors)

    # one chunk: look up, decide, write

    async def _process(self, chunk: list[Valid | Refused]) -> None:
        conn = self._conn
        externals = [item.external_id for item in chunk if item.external_id]
        existing_ext = {r[0] for r in await conn.fetch(_EXTERNAL_SQL, self.source, externals)}
        valid: list[Valid] = []
        for item in chunk:
            if item.external_id in existing_ext:
                self.report.unchanged += 1
            elif isinstance(item, Refused):
                self._refuse(item.row, item.errors)
            else:
                valid.append(item)
        plan = await self._plan(valid)
        if plan:
            await self._write_chunk(plan)

    async def _plan(self, rows: list[Valid]) -> list[Planned]:
        conn = self._conn
        cpfs = [r.cpf for r in rows if r.cpf]
        cnss = [r.cns for r in rows if r.cns]
        found = list(await conn.fetch(_CITIZEN_BY_CPF_SQL, cpfs)) if cpfs else []
        if cnss:
            found += await conn.fetch(_CITIZEN_BY_CNS_SQL, cnss)
        found.sort(key=lambda rec: rec["id"])  # of two records, the older one (as find_by_documents)
        by_cpf: dict[str, Any] = {}
        by_cns: dict[str, Any] = {}
        for rec in found:
            if rec["cpf"]:
                by_cpf.setdefault(rec["cpf"], rec)
            if rec["cns"]:
                by_cns.setdefault(rec["cns"], rec)
        active: set[tuple[int, str]] = set()
        if found:
            ids = list({rec["id"] for rec in found})
            active = {(r[0], r[1]) for r in await conn.fetch(_ACTIVE_SQL, ids)}
        new_by_cpf: dict[str, NewCitizen] = {}
        new_by_cns: dict[str, NewCitizen] = {}
        taken: dict[tuple[object, str], int] = {}
        plan: list[Planned] = []
        t = self.validator.territory
        for r in rows:
            rec = (by_cpf.get(r.cpf) if r.cpf else None) or None
            new = new_by_cpf.get(r.cpf) if (rec is None and r.cpf) else None
            if rec is None and new is None and r.cns:
                rec = by_cns.get(r.cns)
                if rec is None:
                    new = new_by_cns.get(r.cns)
            errors: list[FieldError] = []
            if rec is None and new is None and r.citizen_errors:
                self._refuse(r.row, r.citizen_errors)  # nobody registered by these documents: the data must do
                continue
            if rec is not None:
                municipality = t.municipality(rec["municipality_ibge"])
                if (rec["sex"], rec["birth_date"]) != (r.sex, r.birth_date):
                    errors.extend(self.validator.eligibility(r, rec["sex"], rec["birth_date"]))
                key: tuple[object, str] = (rec["id"], r.oci_code)
                if key in active:
                    errors.append(_active_error())
            else:
                # A person named by several rows of the chunk is registered with the data of the first.
                person = new.first if new is not None else r
                municipality = t.municipality(person.municipality_ibge)
                if (person.sex, person.birth_date) != (r.sex, r.birth_date):
                    errors.extend(self.validator.eligibility(r, person.sex, person.birth_date))
                key = (new, r.oci_code)
            if not self._covers_cached(municipality.ibge_code):
                errors.append(
                    FieldError(
                        "municipality_ibge",
                        "fora_da_jurisdicao",
                        f"Cidadão de município fora da sua jurisdição ({self.actor.jurisdiction}).",
                    )
                )
            first = taken.get(key) if key[0] is not None else None
            if first is not None and not errors:
                errors.append(_active_error(first))
            if errors:
                self._refuse(r.row, errors)
                continue
            if rec is None and new is None:
                new = NewCitizen(r, municipality.uf)
                if r.cpf:
                    new_by_cpf[r.cpf] = new
                if r.cns:
                    new_by_cns.setdefault(r.cns, new)
                key = (new, r.oci_code)
            taken[key] = r.row
            kind, code = self._scope(municipality)
            oci = self.catalog.ocis[r.oci_code]
            plan.append(
                Planned(
                    r,
                    rec["id"] if rec is not None else None,
                    new,
                    municipality.ibge_code,
                    municipality.uf,
                    kind,
                    code,
                    oci.max_days,
                )
            )
        await self._protocols(plan)
        return plan

    def _covers_cached(self, ibge: str) -> bool:
        found = self._covers_map.get(ibge)
        if found is None:
            found = self._covers_map[ibge] = self.actor.covers(ibge)
        return found

    async def _protocols(self, plan: list[Planned]) -> None:
        """Protocols as ``service.new_protocol`` makes them, unique in the chunk and new to the database."""
        todo = plan
        used: set[str] = set()
        while todo:
            numbers = _random_numbers(len(todo))
            yy = self._yy
            for p, number in zip(todo, numbers, strict=True):
                p.protocol = f"{p.uf}{yy}{number:08d}"
            fresh: list[Planned] = []
            again: list[Planned] = []
            for p in todo:
                if p.protocol in used:
                    again.append(p)
                else:
                    used.add(p.protocol)
                    fresh.append(p)
            taken = {r[0] for r in await self._conn.fetch(_PROTOCOL_SQL, [p.protocol for p in fresh])}
            if taken:
                for p in fresh:
                    if p.protocol in taken:
                        used.discard(p.protocol)
                        again.append(p)
            todo = again

    # writing

    def _citizen_record(self, seq: int, new: NewCitizen) -> tuple[Any, ...]:
        v = new.first
        return (
            seq,
            v.cpf,
            v.cns,
            v.name,
            v.social_name,
            v.search_name,
            v.birth_date,
            v.sex,
            v.race_color,
            v.municipality_ibge,
            new.uf,
            v.phone,
            v.preferred_channel,
            v.contact_consent,
            self.now if v.contact_consent else None,
            v.pregnant,
            v.disability,
            v.autism,
            v.cadunico,
            v.vulnerability_index,
        )

    def _entry_record(self, seq: int, p: Planned, citizen_id: int) -> tuple[Any, ...]:
        v = p.valid
        authorized = v.authorized_at
        deadline = None
        if authorized is not None:
            deadline = authorized.astimezone(self.validator.tz).date() + timedelta(days=p.max_days)
        return (
            seq,
            p.protocol,
            citizen_id,
            v.oci_code,
            self.catalog.competencia,
            v.requested_procedure_code,
            v.cid_code,
            v.risk_class,
            v.risk_justification,
            v.checklist,
            v.requesting_cnes,
            v.requesting_ine,
            v.professional_cns,
            v.professional_cbo,
            p.municipality_ibge,
            p.uf,
            p.scope_kind,
            p.scope_code,
            v.status,
            authorized or v.requested_at,
            v.external_id,
            v.requested_at,
            authorized,
            deadline,
            p.max_days,
        )

    async def _write(self, plan: Sequence[Planned]) -> tuple[int, list[Any]]:
        """Insert the plan's new citizens and its entries; raise ``_Retry`` when the database skipped any."""
        conn = self._conn
        news: list[NewCitizen] = []
        seen: set[int] = set()
        for p in plan:
            if p.new is not None and p.new.id is None and id(p.new) not in seen:
                seen.add(id(p.new))
                news.append(p.new)
        created = 0
        if news:
            await conn.execute(f"TRUNCATE {_CITIZEN_STAGE}")
            await conn.copy_records_to_table(
                _CITIZEN_STAGE,
                records=[self._citizen_record(i, n) for i, n in enumerate(news)],
                columns=["seq", *_CITIZEN_COLUMNS],
            )
            returned = await conn.fetch(_INSERT_CITIZENS, *self._audit, self.now)
            ids_by_cpf = {r["cpf"]: r["id"] for r in returned if r["cpf"]}
            ids_by_cns = {r["cns"]: r["id"] for r in returned if r["cns"]}
            for n in news:
                n.id = ids_by_cpf.get(n.cpf) if n.cpf else ids_by_cns.get(n.cns or "")
                if n.id is None:
                    raise _Retry("cidadao")
            created = len(returned)
        records = []
        for i, p in enumerate(plan):
            citizen_id = p.citizen_id if p.citizen_id is not None else (p.new.id if p.new else None)
            assert citizen_id is not None
            records.append(self._entry_record(i, p, citizen_id))
        await conn.execute(f"TRUNCATE {_ENTRY_STAGE}")
        await conn.copy_records_to_table(_ENTRY_STAGE, records=records, columns=["seq", *_ENTRY_COLUMNS])
        returned = await conn.fetch(
            _INSERT_ENTRIES,
            *self._audit,
            self.source,
            self.actor.username,
            self.now,
            self.actor.user_id,
            self.actor.username,
            self.actor.role,
        )
        if len(returned) != len(plan):
            raise _Retry("entrada")
        return created, list(returned)

    def _count(self, created: int, entries: list[Any]) -> None:
        self.report.citizens_created += created
        self.report.entries_created += len(entries)
        self.report.imported += len(entries)
        for e in entries:
            if e["status"] == EntryStatus.AUTORIZADA.value:
                self.written.authorized_ids.append(e["id"])
                self.written.queues.add(service.QueueKey(e["oci_code"], e["scope_kind"], e["scope_code"]))

    async def _write_chunk(self, plan: list[Planned]) -> None:
        conn = self._conn
        await conn.execute("SAVEPOINT regula_import_chunk")
        try:
            created, entries = await self._write(plan)
        except (asyncpg.PostgresError, _Retry):
            await conn.execute("ROLLBACK TO SAVEPOINT regula_import_chunk")
            await conn.execute("RELEASE SAVEPOINT regula_import_chunk")
            for p in plan:
                if p.new is not None:
                    p.new.id = None
            await self._write_rows(plan)
            return
        await conn.execute("RELEASE SAVEPOINT regula_import_chunk")
        self._count(created, entries)

    async def _write_rows(self, plan: list[Planned]) -> None:
        """Row by row, each in a savepoint: only the rows the database refuses are refused."""
        conn = self._conn
        for p in plan:
            for attempt in range(3):
                new_id_before = p.new.id if p.new is not None else None
                await conn.execute("SAVEPOINT regula_import_row")
                try:
                    created, entries = await self._write([p])
                except (asyncpg.PostgresError, _Retry) as exc:
                    await conn.execute("ROLLBACK TO SAVEPOINT regula_import_row")
                    await conn.execute("RELEASE SAVEPOINT regula_import_row")
                    if p.new is not None:
                        p.new.id = new_id_before
                    if _constraint(exc) == "uq_waitlist_entry_protocol" and attempt < 2:
                        await self._protocols([p])
                        continue
                    outcome = await self._row_outcome(p, exc)
                    if outcome is None:
                        self.report.unchanged += 1
                    else:
                        self._refuse(p.valid.row, [outcome])
                    break
                await conn.execute("RELEASE SAVEPOINT regula_import_row")
                self._count(created, entries)
                break

    async def _row_outcome(self, p: Planned, exc: Exception) -> FieldError | None:
        """Why the database refused a row (None: it was imported meanwhile, so it is unchanged)."""
        if isinstance(exc, _Retry) and exc.reason == "entrada":
            exists = await self._conn.fetchval(
                "SELECT 1 FROM waitlist_entry WHERE external_source = $1 AND external_id = $2",
                self.source,
                p.valid.external_id,
            )
            if exists:
                return None
        constraint = _constraint(exc)
        if constraint == "uq_waitlist_entry_active_citizen_oci":
            return _active_error()
        if (isinstance(exc, _Retry) and exc.reason == "cidadao") or constraint in ("uq_citizen_cpf", "uq_citizen_cns"):
            return FieldError(
                "cpf" if p.valid.cpf else "cns",
                "cidadao_conflito",
                "O CPF ou o CNS já pertence a outro cadastro; confira os documentos do cidadão.",
            )
        detail = getattr(exc, "constraint_name", None) or getattr(exc, "sqlstate", None) or type(exc).__name__
        return FieldError("linha", "recusada_pelo_banco", f"O banco de dados recusou a linha ({detail}).")

    # after the rows

    async def _after_import(self) -> None:
        """Scores and positions of the queues that received authorized entries."""
        ids = self.written.authorized_ids
        if not ids:
            return
        queues = sorted(self.written.queues, key=str)
        try:
            refresh_all: Any = getattr(importlib.import_module("regula.waitlist.refresh"), "refresh_all", None)
        except ImportError:
            refresh_all = None
        if len(ids) <= RESCORE_LIMIT:
            await service.rescore(self.session, self.settings, entry_ids=ids, actor=self.actor)
            await service.recompute_positions(self.session, self.settings, queues)
            self.report.scores = "calculados"
        elif refresh_all is not None:
            await refresh_all(self.session, self.settings, queues=queues)
            self.report.scores = "calculados"
        else:
            # Ordered by authorization date until the nightly refresh scores them.
            await service.recompute_positions(self.session, self.settings, queues)
            self.report.scores = "pendentes"


def _active_error(first_row: int | None = None) -> FieldError:
    if first_row is not None:
        message = f"O cidadão já tem uma solicitação desta OCI neste arquivo (linha {first_row})."
    else:
        message = "O cidadão já tem uma solicitação ativa desta OCI."
    return FieldError("oci_code", "entrada_ativa_existente", message)


def _constraint(exc: BaseException) -> str | None:
    name = getattr(exc, "constraint_name", None)
    return name if isinstance(name, str) else None


async def import_referrals(
    session: AsyncSession,
    settings: Settings,
    data: Path | bytes | RowSource,
    *,
    actor: service.Actor,
    source: str = DEFAULT_SOURCE,
    fmt: Format = "auto",
    filename: str | None = None,
    progress: ProgressCallback | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> ImportReport:
    """Import referrals from a file (or bytes) into the session's transaction and report row by row.

    File-level problems raise ``ImportFileError`` (nothing should then be committed); row problems are in the
    report. The caller commits.
    """
    source = source.strip()
    if not source or len(source) > MAX_SOURCE:
        raise ImportFileError.for_field(
            "source", "origem_invalida", f"Informe a origem (--source) com 1 a {MAX_SOURCE} caracteres."
        )
    rows = data if isinstance(data, RowSource) else open_rows(data, fmt, filename)
    return await Importer(session, settings, actor, source, progress, chunk_size).run(rows)


__all__ = [
    "ALIASES",
    "FIELDS",
    "ImportFileError",
    "ImportProgress",
    "ImportReport",
    "RowError",
    "RowSource",
    "Validator",
    "import_referrals",
    "open_rows",
]
