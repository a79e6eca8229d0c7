"""The APAC export of OCI production: the OCIs an establishment concluded in a competência, with their procedures.

The registration of an OCI's start, conclusion and procedures goes to the SIA in an APAC with specific numbering
(Portaria GM/MS 3.492/2024 as amended, art. 16 §2); OCI production is SIGTAP group 09 (Portaria SAES, componente
complementar, art. 12).

**Format.** The SIA reads APACs in the fixed-width layout of DATASUS's "layout de exportação APAC" (header record,
APAC body record, procedure records). That layout document is not among regula's reference texts, and the public
ordinances do not describe its fields, so regula writes **a documented CSV with the same content** instead — one
line per APAC procedure, the OCI as principal procedure followed by its secondaries, the APAC's body fields
(patient, CID, validity dates, requesting unit) repeated on each line. docs/production.md describes every column.
A fixed-width writer can be added on top of :func:`apac_lines` once the layout is at hand.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.audit import service as audit
from regula.config import Settings
from regula.core.errors import NotFound, PermissionDenied
from regula.people.models import Citizen
from regula.production.control import COLUMNS as PRODUCTION_COLUMNS
from regula.production.control import competencia_bounds, month_bounds, visible_cnes
from regula.production.models import OciExecution, OciProcedure
from regula.production.service import load_oci
from regula.providers.models import Establishment
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry

EXPORT_COLUMNS: Final = (
    "competencia",
    "cnes_executante",
    "numero_apac",
    "registro",
    "oci_codigo",
    "oci_nome",
    "procedimento_codigo",
    "procedimento_nome",
    "quantidade",
    "data_realizacao",
    "cnes_realizacao",
    "cbo",
    "cid",
    "cns_paciente",
    "cpf_paciente",
    "nome_paciente",
    "data_nascimento",
    "sexo",
    "raca_cor",
    "municipio_residencia_ibge",
    "cid_principal",
    "data_inicio",
    "data_fim",
    "dias_primeiro_ultimo",
    "tm_dias",
    "dentro_do_tm",
    "cnes_solicitante",
    "cns_profissional_solicitante",
    "protocolo_regula",
)


def _d(value: date | None) -> str:
    """Dates as the SIA writes them: AAAAMMDD."""
    return f"{value:%Y%m%d}" if value else ""


@dataclass
class ApacExport:
    competencia: str
    cnes: str
    establishment_name: str
    apacs: int = 0
    lines: list[dict[str, str]] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # concluded OCIs left out, and why (Portuguese)

    @property
    def filename(self) -> str:
        return f"apac_oci_{self.cnes}_{self.competencia}.csv"

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, delimiter=";", lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(self.lines)
        return out.getvalue()

    def production_csv(self) -> str:
        """The same lines in the production-import format (``production.control``): what the SIA would return."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=PRODUCTION_COLUMNS, delimiter=";", lineterminator="\r\n")
        writer.writeheader()
        for line in self.lines:
            performed = line["data_realizacao"]
            writer.writerow(
                {
                    "cns": line["cns_paciente"],
                    "cpf": line["cpf_paciente"],
                    "procedimento": line["procedimento_codigo"],
                    "data": f"{performed[:4]}-{performed[4:6]}-{performed[6:]}",
                    "cnes": line["cnes_executante"],
                    "competencia": line["competencia"],
                    "quantidade": line["quantidade"],
                    "autorizacao": line["numero_apac"],
                    "instrumento": "apac",
                    "principal": line["oci_codigo"],
                    "cbo": line["cbo"],
                    "cid": line["cid"],
                }
            )
        return out.getvalue()


async def apac_lines(
    session: AsyncSession,
    settings: Settings,
    competencia: str,
    cnes: str,
) -> ApacExport:
    """The OCIs concluded at ``cnes`` whose last procedure falls in ``competencia`` (AAAAMM), as APAC lines."""
    competencia, _ = competencia_bounds(competencia)
    start, end = month_bounds(competencia, competencia)
    est = await session.get(Establishment, cnes)
    export = ApacExport(competencia, cnes, est.name if est else f"CNES {cnes}")
    stmt = (
        select(OciExecution, WaitlistEntry, Citizen)
        .join(WaitlistEntry, col(WaitlistEntry.id) == col(OciExecution.entry_id))
        .join(Citizen, col(Citizen.id) == col(OciExecution.citizen_id))
        .where(
            col(OciExecution.cnes) == cnes,
            col(OciExecution.status) == "concluida",
            col(OciExecution.last_on).between(start, end),
        )
        .order_by(col(OciExecution.last_on), col(OciExecution.id))
    )
    for execution, entry, citizen in (await session.execute(stmt)).all():
        if not execution.authorization_number:
            export.pending.append(
                f"Protocolo {entry.protocol} (OCI {execution.oci_code}): concluída sem número de APAC; emita a "
                "autorização antes de apresentar a produção."
            )
            continue
        procedures = (
            await session.execute(
                select(OciProcedure)
                .where(col(OciProcedure.execution_id) == execution.id, col(OciProcedure.status) == "valido")
                .order_by(col(OciProcedure.performed_on), col(OciProcedure.id))
            )
        ).scalars()
        procs = list(procedures)
        if not procs:
            continue
        oci = await load_oci(session, settings, execution.oci_code, execution.catalog_competencia)
        body: dict[str, Any] = {
            "competencia": competencia,
            "cnes_executante": cnes,
            "numero_apac": execution.authorization_number,
            "oci_codigo": execution.oci_code,
            "oci_nome": oci.name,
            "cns_paciente": citizen.cns or "",
            "cpf_paciente": citizen.cpf or "",
            "nome_paciente": citizen.name,
            "data_nascimento": _d(citizen.birth_date),
            "sexo": citizen.sex,
            "raca_cor": citizen.race_color,
            "municipio_residencia_ibge": entry.municipality_ibge,
            "cid_principal": entry.cid_code,
            "data_inicio": _d(execution.first_on),
            "data_fim": _d(execution.last_on),
            "dias_primeiro_ultimo": "" if execution.span_days is None else str(execution.span_days),
            "tm_dias": str(execution.max_days),
            "dentro_do_tm": "" if execution.within_tm is None else ("S" if execution.within_tm else "N"),
            "cnes_solicitante": entry.requesting_cnes,
            "cns_profissional_solicitante": entry.professional_cns or "",
            "protocolo_regula": entry.protocol,
        }
        last = procs[-1]
        export.lines.append(
            body
            | {
                "registro": "principal",
                "procedimento_codigo": execution.oci_code,
                "procedimento_nome": oci.name,
                "quantidade": "1",
                "data_realizacao": _d(execution.last_on),
                "cnes_realizacao": cnes,
                "cbo": last.cbo,
                "cid": entry.cid_code,
            }
        )
        for p in procs:
            export.lines.append(
                body
                | {
                    "registro": "secundario",
                    "procedimento_codigo": p.procedure_code,
                    "procedimento_nome": p.procedure_name,
                    "quantidade": str(p.quantity),
                    "data_realizacao": _d(p.performed_on),
                    "cnes_realizacao": p.cnes,
                    "cbo": p.cbo,
                    "cid": p.cid_code,
                }
            )
        export.apacs += 1
    return export


async def apac_export(
    session: AsyncSession, settings: Settings, actor: wl.Actor, *, competencia: str, cnes: str
) -> ApacExport:
    """:func:`apac_lines` for an establishment inside the actor's jurisdiction; the export is audited (it carries
    citizens' data)."""
    est = await session.get(Establishment, cnes)
    if est is None:
        raise NotFound(f"Estabelecimento {cnes} não cadastrado.", code="estabelecimento_desconhecido")
    visible = await visible_cnes(session, actor)
    if visible is not None and cnes not in visible:
        raise PermissionDenied("Estabelecimento fora da sua jurisdição.", code="fora_da_jurisdicao")
    export = await apac_lines(session, settings, competencia, cnes)
    await audit.record(
        session,
        "export",
        entity_type="apac_oci",
        entity_id=f"{cnes}:{export.competencia}",
        after={"apacs": export.apacs, "lines": len(export.lines), "pending": len(export.pending)},
        uf=est.uf,
        municipality_ibge=est.municipality_ibge,
    )
    return export
