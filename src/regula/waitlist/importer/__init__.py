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
also write the entries' ``created`` history events. The import is audited as one event, at its end and in its
transaction, naming the file's SHA-256, the counts and the ids created (decision 0025), not one audit row per
record. Python validates the next chunk while PostgreSQL writes the current one. A chunk is written in a
savepoint; if the database refuses something unexpected, the chunk is rolled back and its rows are written one by
one, each in its own savepoint, so only the offending row is refused.

The package follows the steps of an import: ``columns`` (the fields and the column names accepted for them),
``reading`` (CSV or JSON rows), ``validation`` (the row rules), ``writing`` (look-ups, plan and bulk writes, chunk by
chunk) and ``report`` (what the caller gets back). Callers import from ``regula.waitlist.importer``.
"""

from regula.waitlist.importer.columns import ALIASES, FIELDS, PT_NAMES, REQUIRED_COLUMNS, normalize_column
from regula.waitlist.importer.reading import Format, RawRow, RowSource, open_rows
from regula.waitlist.importer.report import ImportFileError, ImportProgress, ImportReport, ProgressCallback, RowError
from regula.waitlist.importer.validation import Refused, Valid, Validator
from regula.waitlist.importer.writing import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_SOURCE,
    MAX_SOURCE,
    RESCORE_LIMIT,
    Importer,
    import_referrals,
)

__all__ = [
    "ALIASES",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_SOURCE",
    "FIELDS",
    "MAX_SOURCE",
    "PT_NAMES",
    "REQUIRED_COLUMNS",
    "RESCORE_LIMIT",
    "Format",
    "ImportFileError",
    "ImportProgress",
    "ImportReport",
    "Importer",
    "ProgressCallback",
    "RawRow",
    "Refused",
    "RowError",
    "RowSource",
    "Valid",
    "Validator",
    "import_referrals",
    "normalize_column",
    "open_rows",
]
