"""Fixtures of the catalog tests: the shipped SIGTAP zip, modified copies of it, and the reference catalog."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from regula.catalog.service import bundled_sigtap_zip

REFERENCE = Path(__file__).parent / "data" / "oci_catalog_reference.json"

Transform = Callable[[str, bytes], bytes | None]  # (member name, data) → new data, or None to drop it


def layout_columns(text: str) -> dict[str, tuple[int, int]]:
    """COLUMN → (start, end), 1-based inclusive, from a *_layout.txt."""
    rows = list(csv.reader(io.StringIO(text)))
    return {row[0].strip(): (int(row[2]), int(row[3])) for row in rows[1:] if row and row[0].strip()}


class SigtapFiles:
    """Build modified copies of the official zip, the way a broken or a newer export would look."""

    def __init__(self, original: Path, workdir: Path) -> None:
        self.original = original
        self.workdir = workdir
        with zipfile.ZipFile(original) as zf:
            self.members = {info.filename: zf.read(info) for info in zf.infolist()}

    def layout(self, table: str) -> dict[str, tuple[int, int]]:
        return layout_columns(self.members[f"{table}_layout.txt"].decode("iso-8859-1"))

    def build(self, name: str, transform: Transform) -> Path:
        target = self.workdir / name
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for member, data in self.members.items():
                new = transform(member, data)
                if new is not None:
                    zf.writestr(member, new)
        return target

    def edit_lines(self, table: str, edit: Callable[[bytes], bytes]) -> Transform:
        def transform(member: str, data: bytes) -> bytes | None:
            if member != f"{table}.txt":
                return data
            return b"\r\n".join(edit(line) if line else line for line in data.split(b"\r\n"))

        return transform

    def with_competencia(self, competencia: str, *, oci_value_cents: dict[str, int] | None = None) -> Path:
        """A copy whose every DT_COMPETENCIA says ``competencia``; optionally with new VL_SA for some OCIs."""
        changes = oci_value_cents or {}
        proc = self.layout("tb_procedimento")
        code_start, code_end = proc["CO_PROCEDIMENTO"]
        sa_start, sa_end = proc["VL_SA"]

        def transform(member: str, data: bytes) -> bytes | None:
            if not member.endswith(".txt") or member.endswith("_layout.txt") or member == "layout.txt":
                return data
            layout_name = member.removesuffix(".txt") + "_layout.txt"
            if layout_name not in self.members:
                return data
            columns = layout_columns(self.members[layout_name].decode("iso-8859-1"))
            lines = data.split(b"\r\n")
            if "DT_COMPETENCIA" in columns:
                start, end = columns["DT_COMPETENCIA"]
                lines = [
                    line[: start - 1] + competencia.encode() + line[end:] if len(line) >= end else line
                    for line in lines
                ]
            if member == "tb_procedimento.txt" and changes:
                new_lines = []
                for line in lines:
                    code = line[code_start - 1 : code_end].decode()
                    if code in changes:
                        width = sa_end - sa_start + 1
                        line = line[: sa_start - 1] + str(changes[code]).zfill(width).encode() + line[sa_end:]
                    new_lines.append(line)
                lines = new_lines
            return b"\r\n".join(lines)

        return self.build(f"TabelaUnificada_{competencia}_vtest.zip", transform)


@pytest.fixture(scope="session")
def sigtap_zip() -> Path:
    """The SIGTAP 2026-01 zip shipped in the package (identical to shared/data/sigtap/)."""
    return bundled_sigtap_zip()


@pytest.fixture(scope="session")
def sigtap_bytes(sigtap_zip: Path) -> bytes:
    return sigtap_zip.read_bytes()


@pytest.fixture
def sigtap_files(sigtap_zip: Path, tmp_path: Path) -> SigtapFiles:
    return SigtapFiles(sigtap_zip, tmp_path)


@pytest.fixture(scope="session")
def reference() -> dict[str, dict[str, Any]]:
    """The 34 official OCIs of the reference catalog (status "official …"), by code."""
    items = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return {item["code"]: item for item in items if item["status"].startswith("official")}
