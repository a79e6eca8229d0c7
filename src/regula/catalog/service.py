"""The SIGTAP catalog: importing a monthly file as a new version, and reading OCIs with their composition.

Rules:

* Each competência (AAAAMM) is one version; importing another month adds a version and keeps the others, so an
  OCI can always be read as a given month defined it. "Current" is the newest competência.
* Importing the very same file again (same SHA-256) changes nothing and says so (``unchanged=True``). A
  different file for a competência already imported is refused (``Conflict``): DATASUS re-exports a month under
  a new version suffix, and silently replacing the rules an authorization was issued under would rewrite history.
* All or nothing: the file is parsed completely (and rejected with ``ValidationFailed``) before anything is
  written, and the rows are written in the caller's transaction, which the boundary commits or rolls back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from regula.audit import service as audit
from regula.catalog import policy, protocols
from regula.catalog import repository as repo
from regula.catalog.models import (
    CatalogOci,
    CatalogOciAttribute,
    CatalogOciCid,
    CatalogOciHabilitacao,
    CatalogOciProcedure,
    CatalogOciRule,
    CatalogVersion,
)
from regula.catalog.schemas import (
    COMPLEXITY_PT,
    CidItem,
    CodeName,
    HabilitacaoItem,
    ImportResult,
    OciDetail,
    OciSummary,
    OneOfGroupItem,
    RuleItem,
    SecondaryItem,
    ValueComponents,
    VersionInfo,
)
from regula.catalog.sigtap import ProgressCallback, SigtapCatalog, parse_sigtap_zip, sha256_of
from regula.config import Settings
from regula.core.clock import local_today
from regula.core.errors import Conflict, NotFound, ValidationFailed
from regula.db.base import utcnow

BUNDLED_SIGTAP: Final = "TabelaUnificada_202601_v2601291504.zip"
MANDATORY: Final = "5"
OPTIONAL: Final = "1"
_COMPETENCIA = re.compile(r"^\d{4}(0[1-9]|1[0-2])$")


def bundled_sigtap_zip() -> Path:
    """The SIGTAP 2026-01 file shipped inside the package (see src/regula/data/sigtap/SOURCE.md)."""
    resource = files("regula").joinpath("data", "sigtap", BUNDLED_SIGTAP)
    if isinstance(resource, Path):
        return resource
    # Imported from a zip (zipimport): copy it out once, to a path that outlives this call.
    target = Path(tempfile.gettempdir()) / "regula-sigtap" / BUNDLED_SIGTAP  # pragma: no cover
    if not target.is_file():  # pragma: no cover
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(resource.read_bytes())
    return target  # pragma: no cover


# ----------------------------------------------------------------------------------------------------------------
# Import
# ----------------------------------------------------------------------------------------------------------------


async def import_sigtap(
    session: AsyncSession,
    source: Path | bytes,
    settings: Settings,
    *,
    source_name: str | None = None,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """Import a SIGTAP zip (a path or its bytes) as the version of its competência.

    ``settings`` is accepted for symmetry with the read side: tM and the PMAE rule are program policy applied
    when OCIs are read (catalog.policy), never frozen into the imported rows, so a change of policy needs no
    re-import.
    """
    del settings  # see the docstring
    name = source_name or (source.name if isinstance(source, Path) else "upload.zip")
    sha256 = await asyncio.to_thread(sha256_of, source)
    already = await repo.version_by_sha256(session, sha256)
    if already is not None:
        return await _result(session, already, unchanged=True)

    # Parsing is CPU work on a 2 MB zip (a fraction of a second): keep it off the event loop.
    catalog = await asyncio.to_thread(parse_sigtap_zip, source, source_name=name, progress=progress)
    existing = await repo.get_version(session, catalog.competencia)
    if existing is not None:
        raise _divergent(catalog.competencia, existing)

    rows = _rows(catalog)
    version = {
        "competencia": catalog.competencia,
        "source_filename": name[:255],
        "sha256": sha256,
        "imported_at": utcnow(),  # a Core insert does not run the model's default factory
        "oci_count": len(rows[CatalogOci]),
        "procedure_count": len(rows[CatalogOciProcedure]),
        "cid_count": len(rows[CatalogOciCid]),
        "attribute_count": len(rows[CatalogOciAttribute]),
        "habilitacao_count": len(rows[CatalogOciHabilitacao]),
        "rule_count": len(rows[CatalogOciRule]),
    }
    # A savepoint makes the writes all or nothing even for a caller that catches an error and goes on.
    async with session.begin_nested():
        if not await repo.insert_version(session, version):
            # Another import of this competência (or file) committed between our check and our insert.
            winner = await repo.get_version(session, catalog.competencia) or await repo.version_by_sha256(
                session, sha256
            )
            assert winner is not None
            if winner.sha256 == sha256:
                return await _result(session, winner, unchanged=True)
            raise _divergent(catalog.competencia, winner)
        for model in (
            CatalogOci,
            CatalogOciProcedure,
            CatalogOciCid,
            CatalogOciAttribute,
            CatalogOciHabilitacao,
            CatalogOciRule,
        ):
            await repo.bulk_insert(session, model, rows[model])
        # Rows are bulk-inserted (no ORM flush for the audit listener to see): record the import explicitly, in
        # the same transaction, so a rolled-back import leaves no audit row.
        await audit.record(
            session,
            "import",
            entity_type="catalog_version",
            entity_id=catalog.competencia,
            after={key: value for key, value in version.items() if key != "imported_at"},
        )
        await repo.flush(session)
    stored = await repo.get_version(session, catalog.competencia)
    assert stored is not None
    return await _result(session, stored, unchanged=False)


def _divergent(competencia: str, existing: CatalogVersion) -> Conflict:
    return Conflict(
        f"A competência {competencia} já foi importada de outro arquivo ({existing.source_filename}, SHA-256"
        f" {existing.sha256[:12]}…). Um arquivo diferente para a mesma competência não substitui o anterior.",
        code="sigtap_competencia_divergente",
        extra={"competencia": competencia, "existing_sha256": existing.sha256},
    )


async def _result(session: AsyncSession, version: CatalogVersion, *, unchanged: bool) -> ImportResult:
    current = await repo.current_competencia(session)
    return ImportResult(
        competencia=version.competencia,
        source_filename=version.source_filename,
        sha256=version.sha256,
        unchanged=unchanged,
        oci_count=version.oci_count,
        procedure_count=version.procedure_count,
        cid_count=version.cid_count,
        attribute_count=version.attribute_count,
        habilitacao_count=version.habilitacao_count,
        rule_count=version.rule_count,
        current_competencia=current or version.competencia,
    )


def _rows(catalog: SigtapCatalog) -> dict[type[Any], list[dict[str, Any]]]:
    rows: dict[type[Any], list[dict[str, Any]]] = defaultdict(list)
    competencia = catalog.competencia
    for oci in catalog.ocis:
        rows[CatalogOci].append(
            {
                "competencia": competencia,
                "code": oci.code,
                "name": oci.name,
                "group_code": oci.group_code,
                "group_name": oci.group_name,
                "subgroup_code": oci.subgroup_code,
                "subgroup_name": oci.subgroup_name,
                "forma_code": oci.forma_code,
                "forma_name": oci.forma_name,
                "complexity": oci.complexity,
                "sex_sigtap": oci.sex_sigtap,
                "age_min_months": oci.age_min_months,
                "age_max_months": oci.age_max_months,
                "max_executions": oci.max_executions,
                "value_sa": oci.value_sa,
                "value_sh": oci.value_sh,
                "value_sp": oci.value_sp,
                "value_total": oci.value_total,
                "financing_code": oci.financing_code,
                "financing_name": oci.financing_name,
                "rubrica_code": oci.rubrica_code,
                "rubrica_name": oci.rubrica_name,
                "description": oci.description,
            }
        )
        key = {"competencia": competencia, "oci_code": oci.code}
        rows[CatalogOciProcedure].extend(
            {
                **key,
                "procedure_code": s.code,
                "name": s.name,
                "compatibility_type": s.compatibility_type,
                "qty_allowed": s.qty_allowed,
            }
            for s in oci.secondaries
        )
        rows[CatalogOciCid].extend(
            {**key, "cid_code": c.code, "name": c.name, "principal": c.principal} for c in oci.cids
        )
        rows[CatalogOciAttribute].extend({**key, "attribute_code": a.code, "name": a.name} for a in oci.attributes)
        rows[CatalogOciHabilitacao].extend(
            {**key, "habilitacao_code": h.code, "habilitacao_group": h.group, "name": h.name} for h in oci.habilitacoes
        )
        rows[CatalogOciRule].extend(
            {**key, "rule_code": r.code, "name": r.name, "description": r.description} for r in oci.rules
        )
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Queries
# ----------------------------------------------------------------------------------------------------------------


async def resolve_competencia(session: AsyncSession, competencia: str | None = None) -> str:
    """``competencia`` when it was imported; the current (newest) one when None."""
    if competencia is None:
        current = await repo.current_competencia(session)
        if current is None:
            raise NotFound(
                "Nenhuma competência SIGTAP foi importada: rode `regula catalog import-sigtap --bundled`.",
                code="catalogo_vazio",
            )
        return current
    if not _COMPETENCIA.match(competencia):
        raise ValidationFailed.for_field(
            "competencia", "competencia_invalida", f"Competência inválida: {competencia!r} (use AAAAMM)."
        )
    if await repo.get_version(session, competencia) is None:
        raise NotFound(f"A competência {competencia} não foi importada.", code="competencia_nao_encontrada")
    return competencia


async def list_versions(session: AsyncSession) -> list[VersionInfo]:
    versions = await repo.list_versions(session)
    current = versions[0].competencia if versions else None
    return [
        VersionInfo(
            competencia=v.competencia,
            source_filename=v.source_filename,
            sha256=v.sha256,
            imported_at=v.imported_at,
            oci_count=v.oci_count,
            procedure_count=v.procedure_count,
            cid_count=v.cid_count,
            attribute_count=v.attribute_count,
            habilitacao_count=v.habilitacao_count,
            rule_count=v.rule_count,
            current=v.competencia == current,
        )
        for v in versions
    ]


async def _with_care_times(
    session: AsyncSession, summaries: list[OciSummary], settings: Settings, today: date | None
) -> list[OciSummary]:
    """Each OCI's tM as its referral protocol in force ``today`` sets it, the global settings by default (Portaria
    GM/MS 3.492/2024 art. 6 §2 III–IV, art. 10 §4 IV; decision 22): whoever reads ``OciSummary.max_days`` — a new
    referral, the import, the demo, production control — gets the OCI's own value."""
    if not summaries:
        return summaries
    in_force = await protocols.protocols_on(session, today or local_today(settings), settings)
    return [
        dataclasses.replace(s, max_days=protocols.care_times(in_force[s.code], settings).tm_days) for s in summaries
    ]


async def list_ocis(
    session: AsyncSession, settings: Settings, competencia: str | None = None, *, today: date | None = None
) -> list[OciSummary]:
    """Every OCI of ``competencia`` (default: the current one), by code, with its composition and policy; tM is
    the one in force ``today`` (default: the local date)."""
    competencia = await resolve_competencia(session, competencia)
    ocis = await repo.ocis(session, competencia)
    procedures = _by_oci(await repo.procedures(session, competencia))
    cids = _by_oci(await repo.cids(session, competencia))
    attributes = _by_oci(await repo.attributes(session, competencia))
    summaries = [
        _summary(oci, procedures.get(oci.code, []), cids.get(oci.code, []), attributes.get(oci.code, []), settings)
        for oci in ocis
    ]
    return await _with_care_times(session, summaries, settings, today)


async def get_oci(session: AsyncSession, code: str, settings: Settings, competencia: str | None = None) -> OciDetail:
    """One OCI of ``competencia`` (default: the current one) with everything SIGTAP says about it."""
    competencia = await resolve_competencia(session, competencia)
    found = await repo.ocis(session, competencia, code)
    if not found:
        raise NotFound(f"A OCI {code} não existe na competência {competencia} do SIGTAP.", code="oci_nao_encontrada")
    oci = found[0]
    procedures = await repo.procedures(session, competencia, code)
    cids = await repo.cids(session, competencia, code)
    attributes = await repo.attributes(session, competencia, code)
    habilitacoes = await repo.habilitacoes(session, competencia, code)
    rules = await repo.rules(session, competencia, code)
    (summary,) = await _with_care_times(
        session, [_summary(oci, procedures, cids, attributes, settings)], settings, None
    )
    fields = {name: getattr(summary, name) for name in OciSummary.__dataclass_fields__}
    return OciDetail(
        **fields,
        sex_sigtap=oci.sex_sigtap,
        complexity=oci.complexity,
        complexity_name=COMPLEXITY_PT.get(oci.complexity, oci.complexity),
        max_executions=oci.max_executions,
        value_components=ValueComponents(sa=oci.value_sa, sh=oci.value_sh, sp=oci.value_sp),
        financing=CodeName(oci.financing_code, oci.financing_name),
        rubrica=None if oci.rubrica_code is None else CodeName(oci.rubrica_code, oci.rubrica_name or ""),
        description=oci.description,
        cid_details=[CidItem(c.cid_code, c.name, c.principal) for c in cids],
        attribute_details=[CodeName(a.attribute_code, a.name) for a in attributes],
        habilitacoes=[HabilitacaoItem(h.habilitacao_code, h.habilitacao_group, h.name) for h in habilitacoes],
        rules=[RuleItem(r.rule_code, r.name, r.description) for r in rules],
        other_compatible=[_item(p) for p in procedures if p.compatibility_type not in (MANDATORY, OPTIONAL)],
    )


class _OfOci(Protocol):
    @property
    def oci_code(self) -> str: ...


_R = TypeVar("_R", bound=_OfOci)


def _by_oci(rows: Iterable[_R]) -> dict[str, list[_R]]:
    grouped: dict[str, list[_R]] = defaultdict(list)
    for row in rows:
        grouped[row.oci_code].append(row)
    return grouped


def _item(procedure: CatalogOciProcedure) -> SecondaryItem:
    # QT_PERMITIDA 0 means SIGTAP fixes no quantity for the secondary.
    return SecondaryItem(procedure.procedure_code, procedure.name, procedure.qty_allowed or None)


def _summary(
    oci: CatalogOci,
    procedures: Sequence[CatalogOciProcedure],
    cids: Sequence[CatalogOciCid],
    attributes: Sequence[CatalogOciAttribute],
    settings: Settings,
) -> OciSummary:
    secondaries = {p.procedure_code: p for p in procedures if p.compatibility_type in (MANDATORY, OPTIONAL)}
    rules = policy.composition_policy(
        subgroup_code=oci.subgroup_code,
        attribute_codes=[a.attribute_code for a in attributes],
        secondary_codes=secondaries,
        settings=settings,
    )
    one_of = set(rules.consultation_one_of)
    return OciSummary(
        code=oci.code,
        name=oci.name,
        competencia=oci.competencia,
        subgroup=oci.subgroup_code,
        subgroup_name=oci.subgroup_name,
        forma_organizacao=oci.forma_code,
        forma_organizacao_name=oci.forma_name,
        value_brl=oci.value_total,
        max_days=rules.max_days,
        sex=oci.sex_sigtap if oci.sex_sigtap in ("M", "F") else None,
        age_min_months=oci.age_min_months,
        age_max_months=oci.age_max_months,
        mandatory=[_item(p) for p in secondaries.values() if p.compatibility_type == MANDATORY],
        optional=[
            _item(p)
            for p in secondaries.values()
            if p.compatibility_type == OPTIONAL and p.procedure_code not in one_of
        ],
        consultation_one_of=[_item(secondaries[code]) for code in rules.consultation_one_of],
        min_secondaries=rules.min_secondaries,
        one_of_groups=[
            OneOfGroupItem(g.source, g.rule, [_item(secondaries[code]) for code in g.codes])
            for g in rules.one_of_groups
        ],
        cids=[c.cid_code for c in cids],
        attributes=[a.attribute_code for a in attributes],
    )
