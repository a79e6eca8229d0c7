"""Parser of the official SIGTAP monthly export (DATASUS ``TabelaUnificada_AAAAMM_vXXXXXXXXXX.zip``).

The zip holds one fixed-width ``<table>.txt`` per table, encoded ISO-8859-1, and one ``<table>_layout.txt`` per
table describing its columns (CSV: ``Coluna,Tamanho,Inicio,Fim,Tipo``, positions 1-based and inclusive). DATASUS
changes the layouts from time to time, so column positions are always read from those files, never assumed.

Only what regula needs is kept: every procedure of group 09 (the OCIs, Portaria GM/MS 3.492/2024 art. 5–6; group
09 of SIGTAP per the SAES ordinance of the complementary component, art. 12) with its classification, limits,
values, description, secondaries, CID-10 codes, complementary attributes, habilitações and conditioned rules.
Large tables (``rl_procedimento_cid``, ``tb_descricao``, ``tb_cid``) are streamed line by line and filtered as
they are read.

Pure: no database. Errors in the file raise :class:`regula.core.errors.ValidationFailed` with a Portuguese message,
a stable code and the table/column concerned.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import IO, Final, TypeVar

from regula.core.errors import FieldError, ValidationFailed

ENCODING: Final = "iso-8859-1"
OCI_GROUP: Final = "09"
# VL_IDADE_MINIMA/MAXIMA = 9999 is SIGTAP's "idade não se aplica" (596 procedures of 202601 carry 9999 in both
# fields): no age limit, stored as NULL. None of the OCIs uses it. Their usual maximum, 1571 months (130 years
# and 11 months), is SIGTAP's widest explicit range rather than a sentinel; it is kept as SIGTAP states it (and
# as the reference catalog lists it), and behaves as "no upper limit" in any age check.
AGE_NOT_APPLICABLE: Final = 9999
# TP_SEXO: M, F, I (indiferente = both) and N (não se aplica). Only M and F restrict who may receive it.
SEX_CODES: Final = frozenset({"M", "F", "I", "N"})
_CENTS = Decimal("0.01")
_COMPETENCIA = re.compile(r"^(\d{4})(0[1-9]|1[0-2])$")
_FILE_COMPETENCIA = re.compile(r"TabelaUnificada_(\d{6})", re.IGNORECASE)
_LAYOUT_HEADER = ("COLUNA", "TAMANHO", "INICIO", "FIM", "TIPO")
_PROGRESS_EVERY = 2000  # lines between two progress reports
_T = TypeVar("_T")
# Widest code regula stores per column (the database columns are sized for them): a layout that widened one
# would otherwise fail only when the rows reach the database.
_CODE_WIDTH: Final = {
    "CO_PROCEDIMENTO": 10,
    "CO_PROCEDIMENTO_PRINCIPAL": 10,
    "CO_PROCEDIMENTO_COMPATIVEL": 10,
    "TP_COMPATIBILIDADE": 1,
    "CO_GRUPO": 2,
    "CO_SUB_GRUPO": 2,
    "CO_FORMA_ORGANIZACAO": 2,
    "TP_SEXO": 1,
    "CO_FINANCIAMENTO": 2,
    "CO_RUBRICA": 6,
    "CO_CID": 4,
    "CO_DETALHE": 3,
    "CO_HABILITACAO": 4,
    "NU_GRUPO_HABILITACAO": 4,
    "CO_REGRA_CONDICIONADA": 4,
}

# (table, bytes read so far, total bytes): called while a table is streamed, and once more when it ends.
ProgressCallback = Callable[[str, int, int], None]


# ----------------------------------------------------------------------------------------------------------------
# What the parser returns
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigtapSecondary:
    """A procedure compatible with an OCI (``rl_procedimento_compativel``, the OCI as CO_PROCEDIMENTO_PRINCIPAL)."""

    code: str
    name: str
    # TP_COMPATIBILIDADE: "5" = mandatory, "1" = compatible (optional). The layout documents no "5"; DATASUS
    # uses it for the OCIs' mandatory procedures (regula's reference-data notes, shared/data/README.md: four
    # independent sources agree).
    compatibility_type: str
    # QT_PERMITIDA: how many times it may be registered in the OCI; 0 = SIGTAP sets no quantity.
    qty_allowed: int


@dataclass(frozen=True, slots=True)
class SigtapCid:
    code: str
    name: str
    principal: bool | None  # ST_PRINCIPAL = "S"; None when the layout has no such column


@dataclass(frozen=True, slots=True)
class SigtapCodeName:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class SigtapHabilitacao:
    code: str
    group: str  # NU_GRUPO_HABILITACAO, "" when blank
    name: str


@dataclass(frozen=True, slots=True)
class SigtapRule:
    code: str
    name: str
    description: str | None


@dataclass(frozen=True, slots=True)
class SigtapOci:
    code: str
    name: str
    group_code: str
    group_name: str
    subgroup_code: str  # 4 digits, e.g. "0901"
    subgroup_name: str
    forma_code: str  # 6 digits, e.g. "090101"
    forma_name: str
    complexity: str  # TP_COMPLEXIDADE as in SIGTAP
    sex_sigtap: str  # TP_SEXO letter: M, F, I or N
    age_min_months: int | None
    age_max_months: int | None
    max_executions: int | None  # QT_MAXIMA_EXECUCAO
    value_sa: Decimal
    value_sh: Decimal
    value_sp: Decimal
    financing_code: str
    financing_name: str
    rubrica_code: str | None
    rubrica_name: str | None
    description: str | None
    secondaries: tuple[SigtapSecondary, ...] = ()
    cids: tuple[SigtapCid, ...] = ()
    attributes: tuple[SigtapCodeName, ...] = ()
    habilitacoes: tuple[SigtapHabilitacao, ...] = ()
    rules: tuple[SigtapRule, ...] = ()

    @property
    def value_total(self) -> Decimal:
        return self.value_sa + self.value_sh + self.value_sp

    @property
    def sex(self) -> str | None:
        """ "M" or "F" when the OCI is restricted to one sex; None when anyone may receive it (I or N)."""
        return self.sex_sigtap if self.sex_sigtap in ("M", "F") else None


@dataclass(frozen=True, slots=True)
class SigtapCatalog:
    competencia: str  # AAAAMM
    ocis: tuple[SigtapOci, ...]
    source_name: str | None = None
    sha256: str = ""
    rows_read: Mapping[str, int] = field(default_factory=dict)  # lines kept per table (after filtering)


# ----------------------------------------------------------------------------------------------------------------
# Layouts and tables
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LayoutColumn:
    name: str
    size: int
    start: int  # 1-based, inclusive
    end: int  # 1-based, inclusive
    type: str

    @property
    def trailing_may_be_trimmed(self) -> bool:
        # Some tools strip trailing blanks; that can only shorten a text column, never a number or a code.
        return self.type.upper().startswith("VARCHAR")


@dataclass(frozen=True, slots=True)
class _TableSpec:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


_TABLES: Final = {
    spec.name: spec
    for spec in (
        _TableSpec("tb_grupo", ("CO_GRUPO", "NO_GRUPO"), ("DT_COMPETENCIA",)),
        _TableSpec("tb_sub_grupo", ("CO_GRUPO", "CO_SUB_GRUPO", "NO_SUB_GRUPO"), ("DT_COMPETENCIA",)),
        _TableSpec(
            "tb_forma_organizacao",
            ("CO_GRUPO", "CO_SUB_GRUPO", "CO_FORMA_ORGANIZACAO", "NO_FORMA_ORGANIZACAO"),
            ("DT_COMPETENCIA",),
        ),
        _TableSpec(
            "tb_procedimento",
            (
                "CO_PROCEDIMENTO",
                "NO_PROCEDIMENTO",
                "TP_COMPLEXIDADE",
                "TP_SEXO",
                "VL_IDADE_MINIMA",
                "VL_IDADE_MAXIMA",
                "VL_SH",
                "VL_SA",
                "VL_SP",
                "CO_FINANCIAMENTO",
                "CO_RUBRICA",
            ),
            ("QT_MAXIMA_EXECUCAO", "DT_COMPETENCIA"),
        ),
        _TableSpec("tb_financiamento", ("CO_FINANCIAMENTO", "NO_FINANCIAMENTO"), ("DT_COMPETENCIA",)),
        _TableSpec("tb_rubrica", ("CO_RUBRICA", "NO_RUBRICA"), ("DT_COMPETENCIA",)),
        _TableSpec("tb_descricao", ("CO_PROCEDIMENTO", "DS_PROCEDIMENTO"), ("DT_COMPETENCIA",)),
        _TableSpec(
            "rl_procedimento_compativel",
            ("CO_PROCEDIMENTO_PRINCIPAL", "CO_PROCEDIMENTO_COMPATIVEL", "TP_COMPATIBILIDADE", "QT_PERMITIDA"),
            ("DT_COMPETENCIA",),
        ),
        _TableSpec("rl_procedimento_cid", ("CO_PROCEDIMENTO", "CO_CID"), ("ST_PRINCIPAL", "DT_COMPETENCIA")),
        _TableSpec("tb_cid", ("CO_CID", "NO_CID")),
        _TableSpec("rl_procedimento_detalhe", ("CO_PROCEDIMENTO", "CO_DETALHE"), ("DT_COMPETENCIA",)),
        _TableSpec("tb_detalhe", ("CO_DETALHE", "NO_DETALHE"), ("DT_COMPETENCIA",)),
        _TableSpec(
            "rl_procedimento_habilitacao",
            ("CO_PROCEDIMENTO", "CO_HABILITACAO"),
            ("NU_GRUPO_HABILITACAO", "DT_COMPETENCIA"),
        ),
        _TableSpec("tb_habilitacao", ("CO_HABILITACAO", "NO_HABILITACAO"), ("DT_COMPETENCIA",)),
        _TableSpec("rl_procedimento_regra_cond", ("CO_PROCEDIMENTO", "CO_REGRA_CONDICIONADA"), ("DT_COMPETENCIA",)),
        _TableSpec(
            "tb_regra_condicionada",
            ("CO_REGRA_CONDICIONADA", "NO_REGRA_CONDICIONADA"),
            ("DS_REGRA_CONDICIONADA", "DT_COMPETENCIA"),
        ),
    )
}
REQUIRED_TABLES: Final = tuple(_TABLES)


def _invalid(code: str, field_name: str, message: str, /, **extra: object) -> ValidationFailed:
    return ValidationFailed(message, code=code, errors=[FieldError(field_name, code, message)], extra=dict(extra))


def parse_layout(table: str, text: str) -> dict[str, LayoutColumn]:
    """Columns of ``table`` from the text of its ``<table>_layout.txt``."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = [[cell.strip() for cell in row] for row in reader if any(cell.strip() for cell in row)]
    if not rows or tuple(cell.upper() for cell in rows[0][:5]) != _LAYOUT_HEADER:
        raise _invalid(
            "sigtap_layout_invalido",
            f"{table}_layout.txt",
            f"O layout da tabela {table} não começa pelo cabeçalho Coluna,Tamanho,Inicio,Fim,Tipo.",
            table=table,
        )
    columns: dict[str, LayoutColumn] = {}
    for number, row in enumerate(rows[1:], start=2):
        try:
            name, size, start, end, kind = row[0].upper(), int(row[1]), int(row[2]), int(row[3]), row[4]
        except (IndexError, ValueError):
            raise _invalid(
                "sigtap_layout_invalido",
                f"{table}_layout.txt",
                f"O layout da tabela {table} tem a linha {number} inválida: {','.join(row)!r}.",
                table=table,
                line=number,
            ) from None
        if not name or start < 1 or end < start or size != end - start + 1:
            raise _invalid(
                "sigtap_layout_invalido",
                f"{table}.{name or '?'}",
                f"O layout da tabela {table} tem posições incoerentes para a coluna {name or '?'} (linha {number}).",
                table=table,
                line=number,
            )
        columns[name] = LayoutColumn(name, size, start, end, kind)
    return columns


class _Table:
    """One data file of the zip, with the columns of its layout that regula reads."""

    def __init__(self, archive: _Archive, spec: _TableSpec) -> None:
        self.name = spec.name
        self._archive = archive
        layout = parse_layout(spec.name, archive.read_text(f"{spec.name}_layout.txt", spec.name, layout=True))
        for column in spec.required:
            if column not in layout:
                raise _invalid(
                    "sigtap_layout_invalido",
                    f"{spec.name}.{column}",
                    f"O layout da tabela {spec.name} não tem a coluna {column}, necessária para importar as OCIs.",
                    table=spec.name,
                    column=column,
                )
        self.columns = {name: layout[name] for name in (*spec.required, *spec.optional) if name in layout}
        self.info = archive.member(f"{spec.name}.txt", spec.name)
        # The shortest line that still holds every column read (text columns may have lost trailing blanks).
        self._min_length = max(c.start if c.trailing_may_be_trimmed else c.end for c in self.columns.values())

    def has(self, column: str) -> bool:
        return column in self.columns

    def slice(self, column: str) -> slice:
        c = self.columns[column]
        return slice(c.start - 1, c.end)

    def rows(
        self,
        progress: ProgressCallback | None,
        keep: Callable[[bytes], bool] | None = None,
    ) -> Iterator[_Row]:
        """Stream the table's lines; ``keep`` looks at the raw line and skips it before anything is decoded."""
        total = self.info.file_size
        done = 0
        if progress:
            progress(self.name, 0, total)
        with self._archive.open(self.info) as stream:
            for number, raw in enumerate(stream, start=1):
                done += len(raw)
                if progress and number % _PROGRESS_EVERY == 0:
                    progress(self.name, done, total)
                line = raw.rstrip(b"\r\n")
                if not line.strip():
                    continue
                if len(line) < self._min_length:
                    raise _invalid(
                        "sigtap_linha_invalida",
                        f"{self.name}.txt",
                        f"A linha {number} de {self.name}.txt tem {len(line)} caracteres, menos do que o layout"
                        f" exige ({self._min_length}).",
                        table=self.name,
                        line=number,
                    )
                if keep is not None and not keep(line):
                    continue
                self._archive.rows_read[self.name] = self._archive.rows_read.get(self.name, 0) + 1
                yield _Row(self, line, number)
        if progress:
            progress(self.name, total, total)


class _Row:
    __slots__ = ("line", "number", "table")

    def __init__(self, table: _Table, line: bytes, number: int) -> None:
        self.table = table
        self.line = line
        self.number = number

    def text(self, column: str) -> str:
        return self.line[self.table.slice(column)].decode(ENCODING).strip()

    def long_text(self, column: str) -> str:
        """A free-text column: SIGTAP writes each line break of its long texts as "||"."""
        lines = self.text(column).replace("||", "\n").split("\n")
        return "\n".join(line.strip() for line in lines).strip()

    def optional_text(self, column: str) -> str | None:
        return self.text(column) if self.table.has(column) else None

    def integer(self, column: str) -> int:
        value = self.text(column)
        if not value.isdigit():
            raise self.error(column, f"o valor {value!r} não é um número")
        return int(value)

    def code(self, column: str) -> str:
        value = self.text(column)
        if not value:
            raise self.error(column, "o código está em branco")
        if len(value) > _CODE_WIDTH.get(column, len(value)):
            raise self.error(column, f"o código {value!r} tem mais de {_CODE_WIDTH[column]} caracteres")
        return value

    def code_or_blank(self, column: str) -> str:
        """A code that SIGTAP may leave blank ("" then); absent from the layout counts as blank."""
        if not self.table.has(column) or not self.text(column):
            return ""
        return self.code(column)

    def error(self, column: str, reason: str) -> ValidationFailed:
        table = self.table.name
        return _invalid(
            "sigtap_linha_invalida",
            f"{table}.{column}",
            f"A linha {self.number} de {table}.txt é inválida na coluna {column}: {reason}.",
            table=table,
            column=column,
            line=self.number,
        )


class _Archive:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self._zf = zf
        # Members by lower-case base name: DATASUS has shipped both upper- and lower-case names over the years.
        self._members = {PurePosixPath(info.filename).name.lower(): info for info in zf.infolist() if not info.is_dir()}
        self.rows_read: dict[str, int] = {}

    def member(self, filename: str, table: str, *, layout: bool = False) -> zipfile.ZipInfo:
        info = self._members.get(filename.lower())
        if info is None:
            if layout:
                raise _invalid(
                    "sigtap_layout_ausente",
                    filename,
                    f"O arquivo SIGTAP não tem o layout {filename} da tabela {table}.",
                    table=table,
                )
            raise _invalid(
                "sigtap_tabela_ausente",
                filename,
                f"O arquivo SIGTAP não tem a tabela {table} ({filename}), necessária para importar as OCIs.",
                table=table,
            )
        return info

    def read_text(self, filename: str, table: str, *, layout: bool = False) -> str:
        with self._zf.open(self.member(filename, table, layout=layout)) as stream:
            return stream.read().decode(ENCODING)

    def open(self, info: zipfile.ZipInfo) -> IO[bytes]:
        return self._zf.open(info)


# ----------------------------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------------------------


def sha256_of(source: Path | bytes) -> str:
    """SHA-256 of the zip (hex). A path that is not a file raises ValidationFailed."""
    digest = hashlib.sha256()
    if isinstance(source, bytes):
        digest.update(source)
        return digest.hexdigest()
    if not source.is_file():
        raise _invalid("sigtap_arquivo_ausente", "arquivo", f"Arquivo não encontrado: {source}.")
    with source.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def competencia_from_filename(name: str | None) -> str | None:
    """``TabelaUnificada_202601_v2601291504.zip`` → ``"202601"``; None when the name does not say."""
    if not name:
        return None
    match = _FILE_COMPETENCIA.search(name)
    return match.group(1) if match else None


def parse_sigtap_zip(
    source: Path | bytes,
    *,
    source_name: str | None = None,
    progress: ProgressCallback | None = None,
) -> SigtapCatalog:
    """Read the OCIs (group 09) of a SIGTAP zip. Raises ValidationFailed when the file is not a usable export."""
    name = source_name or (source.name if isinstance(source, Path) else None)
    try:
        if isinstance(source, Path) and not source.is_file():
            raise _invalid("sigtap_arquivo_ausente", "arquivo", f"Arquivo não encontrado: {source}.")
        with zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source)) as zf:
            catalog = _parse(_Archive(zf), name, progress)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError) as exc:
        raise _invalid(
            "sigtap_zip_invalido",
            "arquivo",
            f"O arquivo {name or 'enviado'} não é um zip SIGTAP legível ({exc}).",
        ) from None
    return SigtapCatalog(
        competencia=catalog.competencia,
        ocis=catalog.ocis,
        source_name=name,
        sha256=sha256_of(source),
        rows_read=catalog.rows_read,
    )


def _parse(archive: _Archive, source_name: str | None, progress: ProgressCallback | None) -> SigtapCatalog:
    # Open every table first: a missing table, layout or column is reported before any data is read.
    tables = {name: _Table(archive, spec) for name, spec in _TABLES.items()}
    competencias: set[str] = set()

    def check_competencia(row: _Row) -> None:
        # Every row of an export belongs to one competência; a mix means a hand-edited or truncated file.
        value = row.optional_text("DT_COMPETENCIA")
        if value is None:
            return
        if not _COMPETENCIA.match(value):
            raise row.error("DT_COMPETENCIA", f"{value!r} não é uma competência AAAAMM")
        competencias.add(value)
        if len(competencias) > 1:
            raise _invalid(
                "sigtap_competencia_inconsistente",
                f"{row.table.name}.DT_COMPETENCIA",
                f"O arquivo mistura competências ({', '.join(sorted(competencias))}).",
                table=row.table.name,
                line=row.number,
            )

    def starts_with_oci(table: _Table, column: str) -> Callable[[bytes], bool]:
        where = table.slice(column)
        prefix = OCI_GROUP.encode()
        return lambda line: line[where].startswith(prefix)

    # Classification of group 09 (small tables).
    t = tables["tb_grupo"]
    groups: dict[str, str] = {}
    for row in t.rows(progress, starts_with_oci(t, "CO_GRUPO")):
        check_competencia(row)
        groups[row.code("CO_GRUPO")] = row.text("NO_GRUPO")
    t = tables["tb_sub_grupo"]
    subgroups: dict[str, str] = {}
    for row in t.rows(progress, starts_with_oci(t, "CO_GRUPO")):
        check_competencia(row)
        subgroups[row.code("CO_GRUPO") + row.code("CO_SUB_GRUPO")] = row.text("NO_SUB_GRUPO")
    t = tables["tb_forma_organizacao"]
    formas: dict[str, str] = {}
    for row in t.rows(progress, starts_with_oci(t, "CO_GRUPO")):
        check_competencia(row)
        key = row.code("CO_GRUPO") + row.code("CO_SUB_GRUPO") + row.code("CO_FORMA_ORGANIZACAO")
        formas[key] = row.text("NO_FORMA_ORGANIZACAO")

    # Relations of the OCIs: filtered on the principal procedure's code before decoding.
    t = tables["rl_procedimento_compativel"]
    compat: dict[str, dict[str, tuple[str, int]]] = {}
    for row in t.rows(progress, starts_with_oci(t, "CO_PROCEDIMENTO_PRINCIPAL")):
        check_competencia(row)
        oci, secondary = row.code("CO_PROCEDIMENTO_PRINCIPAL"), row.code("CO_PROCEDIMENTO_COMPATIVEL")
        entry = (row.code("TP_COMPATIBILIDADE"), row.integer("QT_PERMITIDA"))
        previous = compat.setdefault(oci, {}).setdefault(secondary, entry)
        # The same pair can appear once per registration instrument (CO_REGISTRO_*); they must agree.
        if previous != entry:
            raise row.error(
                "TP_COMPATIBILIDADE",
                f"a compatibilidade {oci} → {secondary} aparece com tipos ou quantidades diferentes",
            )

    t = tables["rl_procedimento_cid"]
    oci_cids: dict[str, dict[str, bool | None]] = {}
    for row in t.rows(progress, starts_with_oci(t, "CO_PROCEDIMENTO")):
        check_competencia(row)
        flag = row.optional_text("ST_PRINCIPAL")
        oci_cids.setdefault(row.code("CO_PROCEDIMENTO"), {})[row.code("CO_CID")] = None if flag is None else flag == "S"

    t = tables["rl_procedimento_detalhe"]
    oci_attributes: dict[str, list[str]] = {}
    for row in t.rows(progress, starts_with_oci(t, "CO_PROCEDIMENTO")):
        check_competencia(row)
        codes = oci_attributes.setdefault(row.code("CO_PROCEDIMENTO"), [])
        if (code := row.code("CO_DETALHE")) not in codes:
            codes.append(code)

    t = tables["rl_procedimento_habilitacao"]
    oci_habilitacoes: dict[str, list[tuple[str, str]]] = {}
    for row in t.rows(progress, starts_with_oci(t, "CO_PROCEDIMENTO")):
        check_competencia(row)
        pairs = oci_habilitacoes.setdefault(row.code("CO_PROCEDIMENTO"), [])
        if (pair := (row.code("CO_HABILITACAO"), row.code_or_blank("NU_GRUPO_HABILITACAO"))) not in pairs:
            pairs.append(pair)

    t = tables["rl_procedimento_regra_cond"]
    oci_rules: dict[str, list[str]] = {}
    for row in t.rows(progress, starts_with_oci(t, "CO_PROCEDIMENTO")):
        check_competencia(row)
        codes = oci_rules.setdefault(row.code("CO_PROCEDIMENTO"), [])
        if (code := row.code("CO_REGRA_CONDICIONADA")) not in codes:
            codes.append(code)

    # Procedures: the OCIs in full, and the names of their secondaries.
    secondary_codes = {code for entries in compat.values() for code in entries}
    wanted = {code.encode() for code in secondary_codes}
    t = tables["tb_procedimento"]
    code_at = t.slice("CO_PROCEDIMENTO")
    oci_prefix = OCI_GROUP.encode()
    procedure_names: dict[str, str] = {}
    oci_rows: dict[str, _Row] = {}
    for row in t.rows(progress):
        # The competência is checked on every line of tb_procedimento, the table that defines the month.
        check_competencia(row)
        code_bytes = row.line[code_at].strip()
        if code_bytes.startswith(oci_prefix):
            oci_rows[row.code("CO_PROCEDIMENTO")] = row
        if code_bytes in wanted:
            procedure_names[row.code("CO_PROCEDIMENTO")] = row.text("NO_PROCEDIMENTO")

    t = tables["tb_descricao"]
    descriptions: dict[str, str] = {}
    for row in t.rows(progress, starts_with_oci(t, "CO_PROCEDIMENTO")):
        check_competencia(row)
        descriptions[row.code("CO_PROCEDIMENTO")] = row.long_text("DS_PROCEDIMENTO")

    # Names of what the OCIs reference.
    cid_codes = {cid for cids in oci_cids.values() for cid in cids}
    cid_names = _names(tables["tb_cid"], "CO_CID", "NO_CID", cid_codes, progress, check_competencia)
    attribute_codes = {code for codes in oci_attributes.values() for code in codes}
    attribute_names = _names(
        tables["tb_detalhe"], "CO_DETALHE", "NO_DETALHE", attribute_codes, progress, check_competencia
    )
    habilitacao_codes = {code for pairs in oci_habilitacoes.values() for code, _ in pairs}
    habilitacao_names = _names(
        tables["tb_habilitacao"], "CO_HABILITACAO", "NO_HABILITACAO", habilitacao_codes, progress, check_competencia
    )
    rule_codes = {code for codes in oci_rules.values() for code in codes}
    t = tables["tb_regra_condicionada"]
    rules: dict[str, tuple[str, str | None]] = {}
    for row in t.rows(progress):
        if (code := row.code("CO_REGRA_CONDICIONADA")) in rule_codes:
            check_competencia(row)
            description = row.long_text("DS_REGRA_CONDICIONADA") if t.has("DS_REGRA_CONDICIONADA") else ""
            rules[code] = (row.text("NO_REGRA_CONDICIONADA"), description or None)
    financing_codes = {row.code("CO_FINANCIAMENTO") for row in oci_rows.values()}
    financing_names = _names(
        tables["tb_financiamento"], "CO_FINANCIAMENTO", "NO_FINANCIAMENTO", financing_codes, progress, check_competencia
    )
    rubrica_codes = {code for row in oci_rows.values() if (code := row.code_or_blank("CO_RUBRICA"))}
    rubrica_names = _names(tables["tb_rubrica"], "CO_RUBRICA", "NO_RUBRICA", rubrica_codes, progress, check_competencia)

    competencia = _competencia(competencias, source_name)
    ocis = []
    for code in sorted(oci_rows):
        row = oci_rows[code]
        ocis.append(
            _build_oci(
                row,
                groups=groups,
                subgroups=subgroups,
                formas=formas,
                financing_names=financing_names,
                rubrica_names=rubrica_names,
                description=descriptions.get(code) or None,
                secondaries=tuple(
                    SigtapSecondary(
                        secondary,
                        _referenced(procedure_names, secondary, "rl_procedimento_compativel", "tb_procedimento", code),
                        kind,
                        qty,
                    )
                    for secondary, (kind, qty) in sorted(compat.get(code, {}).items())
                ),
                cids=tuple(
                    SigtapCid(cid, _referenced(cid_names, cid, "rl_procedimento_cid", "tb_cid", code), principal)
                    for cid, principal in sorted(oci_cids.get(code, {}).items())
                ),
                attributes=tuple(
                    SigtapCodeName(
                        attr, _referenced(attribute_names, attr, "rl_procedimento_detalhe", "tb_detalhe", code)
                    )
                    for attr in sorted(oci_attributes.get(code, []))
                ),
                habilitacoes=tuple(
                    SigtapHabilitacao(
                        hab,
                        group,
                        _referenced(habilitacao_names, hab, "rl_procedimento_habilitacao", "tb_habilitacao", code),
                    )
                    for hab, group in sorted(oci_habilitacoes.get(code, []))
                ),
                rules=tuple(
                    SigtapRule(
                        rule,
                        *_referenced(rules, rule, "rl_procedimento_regra_cond", "tb_regra_condicionada", code),
                    )
                    for rule in sorted(oci_rules.get(code, []))
                ),
            )
        )
    if not ocis:
        raise _invalid(
            "sigtap_sem_oci",
            "tb_procedimento",
            "O arquivo SIGTAP não tem nenhum procedimento do grupo 09 (OCI).",
            table="tb_procedimento",
        )
    return SigtapCatalog(competencia=competencia, ocis=tuple(ocis), rows_read=dict(archive.rows_read))


def _names(
    table: _Table,
    code_column: str,
    name_column: str,
    codes: set[str],
    progress: ProgressCallback | None,
    check: Callable[[_Row], None],
) -> dict[str, str]:
    where = table.slice(code_column)
    wanted = {code.encode() for code in codes}
    names: dict[str, str] = {}
    for row in table.rows(progress, lambda line: line[where].strip() in wanted):
        check(row)
        names[row.code(code_column)] = row.text(name_column)
    return names


def _referenced(names: Mapping[str, _T], code: str, relation: str, table: str, oci: str) -> _T:
    try:
        return names[code]
    except KeyError:
        raise _invalid(
            "sigtap_referencia_ausente",
            f"{relation}.{oci}",
            f"A OCI {oci} referencia o código {code} em {relation}, mas {table} não o tem.",
            table=table,
            code=code,
        ) from None


def _competencia(found: set[str], source_name: str | None) -> str:
    from_name = competencia_from_filename(source_name)
    if found:
        (competencia,) = found
        # The data are authoritative; a file name that says otherwise means a renamed or mixed-up file.
        if from_name is not None and from_name != competencia:
            raise _invalid(
                "sigtap_competencia_inconsistente",
                "arquivo",
                f"O nome do arquivo indica a competência {from_name}, mas os dados são de {competencia}.",
            )
        return competencia
    if from_name is not None and _COMPETENCIA.match(from_name):
        return from_name
    raise _invalid(
        "sigtap_competencia_ausente",
        "tb_procedimento.DT_COMPETENCIA",
        "Não foi possível saber a competência do arquivo: sem DT_COMPETENCIA e sem AAAAMM no nome do arquivo.",
    )


def _money(row: _Row, column: str) -> Decimal:
    # Values are stored in cents without a separator: 000000012500 → R$ 125,00.
    return (Decimal(row.integer(column)) / 100).quantize(_CENTS)


def _age(row: _Row, column: str) -> int | None:
    months = row.integer(column)
    return None if months == AGE_NOT_APPLICABLE else months


def _build_oci(
    row: _Row,
    *,
    groups: Mapping[str, str],
    subgroups: Mapping[str, str],
    formas: Mapping[str, str],
    financing_names: Mapping[str, str],
    rubrica_names: Mapping[str, str],
    description: str | None,
    secondaries: tuple[SigtapSecondary, ...],
    cids: tuple[SigtapCid, ...],
    attributes: tuple[SigtapCodeName, ...],
    habilitacoes: tuple[SigtapHabilitacao, ...],
    rules: tuple[SigtapRule, ...],
) -> SigtapOci:
    code = row.code("CO_PROCEDIMENTO")
    if len(code) != 10 or not code.isdigit():
        raise row.error("CO_PROCEDIMENTO", f"{code!r} não é um código de procedimento de 10 dígitos")
    # A procedure code is GG SS FF NNN D: group, subgroup and forma de organização are its first 2, 4, 6 digits.
    group, subgroup, forma = code[:2], code[:4], code[:6]
    sex = row.code("TP_SEXO")
    if sex not in SEX_CODES:
        raise row.error("TP_SEXO", f"{sex!r} não é M, F, I ou N")
    financing = row.code("CO_FINANCIAMENTO")
    rubrica = row.code_or_blank("CO_RUBRICA") or None
    return SigtapOci(
        code=code,
        name=row.code("NO_PROCEDIMENTO"),
        group_code=group,
        group_name=_referenced(groups, group, "tb_procedimento", "tb_grupo", code),
        subgroup_code=subgroup,
        subgroup_name=_referenced(subgroups, subgroup, "tb_procedimento", "tb_sub_grupo", code),
        forma_code=forma,
        forma_name=_referenced(formas, forma, "tb_procedimento", "tb_forma_organizacao", code),
        complexity=row.text("TP_COMPLEXIDADE"),
        sex_sigtap=sex,
        age_min_months=_age(row, "VL_IDADE_MINIMA"),
        age_max_months=_age(row, "VL_IDADE_MAXIMA"),
        max_executions=row.integer("QT_MAXIMA_EXECUCAO") if row.table.has("QT_MAXIMA_EXECUCAO") else None,
        value_sa=_money(row, "VL_SA"),
        value_sh=_money(row, "VL_SH"),
        value_sp=_money(row, "VL_SP"),
        financing_code=financing,
        financing_name=_referenced(financing_names, financing, "tb_procedimento", "tb_financiamento", code),
        rubrica_code=rubrica,
        rubrica_name=None
        if rubrica is None
        else _referenced(rubrica_names, rubrica, "tb_procedimento", "tb_rubrica", code),
        description=description,
        secondaries=secondaries,
        cids=cids,
        attributes=attributes,
        habilitacoes=habilitacoes,
        rules=rules,
    )
