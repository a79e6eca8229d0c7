"""Reading an import file: CSV (separator guessed from the header) or JSON (an array or one object a line), lazily,
each row as strings indexed like ``columns.FIELDS``; file-level problems raise ``ImportFileError``."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

from regula.core.errors import FieldError
from regula.inputs import json_problem, too_deep_error
from regula.waitlist.importer.columns import ALIASES, CHECK, EXAMS, FIELDS, PT_NAMES, REQUIRED_COLUMNS, normalize_column
from regula.waitlist.importer.report import ImportFileError

Format = Literal["auto", "csv", "json"]

_ALIAS_INDEX: Final[dict[str, int]] = {
    normalize_column(alias): FIELDS.index(name) for name, aliases in ALIASES.items() for alias in aliases
}

Values = Sequence[str]


@dataclass(slots=True)
class RawRow:
    row: int
    values: Values  # indexed like FIELDS, every value a string ("" when absent)
    checklist: Any = None  # a JSON object given as such (JSON input)
    errors: list[FieldError] | None = None  # problems found while reading the row


class _CountingReader(io.RawIOBase):
    """Counts the bytes read (the progress bar) and hashes them (the file's SHA-256 in the import's audit event)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        self.sha256.update(data)
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

    def sha256(self) -> str:
        """The SHA-256 (hex) of the whole file; called once its rows have been read (anything after them, such as
        trailing blank lines, is read here so that the hash is the file's)."""
        while self._counter.read(1 << 20):
            pass
        return self._counter.sha256.hexdigest()

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
            elif index == EXAMS and isinstance(value, list) and all(isinstance(x, str) for x in value):
                values[index] = "|".join(value)  # the exams declared, as a CSV cell writes them
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
            errors=[FieldError(m, "coluna_ausente", f"Coluna obrigatória ausente: {m}.") for m in missing],
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
