"""A month's production of an operator, as the evaluation reads it (Portaria Conjunta MS/AGU 7.702/2025, art. 10,
12, 15 §6; art. 4 §3).

The operator's units are ordinary establishments: their production arrives through production control's import
(SIA/BPA/CMD lines) and is checked there like any provider's. For the attestation regula takes, of the operator's
active units, the lines of the competência whose procedure is in the unit's offer matrix:

* an **OCI** line (the APAC's principal, a SIGTAP group-09 code) is one OCI performed; its value is the matrix
  value, the OCI's SIGTAP value (art. 10 I: it already includes the IVR);
* a **surgery** line (the AIH's principal procedure) is one surgery; its value is the matrix value, the principal
  procedure's SIGTAP value × IVR (art. 10 II);

times the line's quantity. A line is **authorized** (art. 15 §6: "serviços não autorizados ... vedada a
possibilidade de serem computados") when it carries a regulated authorization: for an OCI, production control found
neither ``sem_autorizacao_regulada`` nor ``autorizacao_divergente`` for its APAC (SAES ordinance art. 13); for a
surgery, its AIH number was issued or recorded by regula and is active, for this person when the number names one.
The **region** is the unit's (its UF's macro-region, art. 4 §3 I–V) and **strategic** comes from the matrix item
(art. 4 §3 VI). Lines keep production control's order (date, then line), the evaluation's input order.

A line already counted by another attestation (a unit shared by two operators) is not counted again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.config import Settings
from regula.production import control
from regula.production.models import ProductionRecord
from regula.ressarcimento import repository as repo
from regula.ressarcimento.evaluation import Item, Region
from regula.ressarcimento.models import MatrixItem

#: The findings of production control that mean "no regulated authorization" (SAES ordinance art. 13).
UNAUTHORIZED_FINDINGS: Final = frozenset({"sem_autorizacao_regulada", "autorizacao_divergente"})

#: Art. 4 §3 I–V name the five geographic macro-regions; a unit's region is its UF's (IBGE).
REGION_OF_UF: Final[dict[str, Region]] = {
    **dict.fromkeys(("AC", "AM", "AP", "PA", "RO", "RR", "TO"), Region.N),
    **dict.fromkeys(("AL", "BA", "CE", "MA", "PB", "PE", "PI", "RN", "SE"), Region.NE),
    **dict.fromkeys(("DF", "GO", "MS", "MT"), Region.CO),
    **dict.fromkeys(("ES", "MG", "RJ", "SP"), Region.SE),
    **dict.fromkeys(("PR", "RS", "SC"), Region.S),
}


def region_of(uf: str) -> Region:
    return REGION_OF_UF[uf.upper()]


@dataclass(frozen=True)
class ValuedLine:
    record: ProductionRecord
    matrix_item: MatrixItem
    value: Decimal
    authorized: bool
    region: Region
    strategic: bool

    def as_item(self) -> Item:
        return Item(value=self.value, authorized=self.authorized, region=self.region, strategic=self.strategic)


def planned_value(matrix: list[MatrixItem]) -> Decimal:
    """The month's planned value (art. 17: "prestação de serviço prevista na matriz de oferta aprovada"): every
    active item's monthly quantity × its value."""
    return sum((i.value_brl * i.monthly_qty for i in matrix if i.active), Decimal(0))


async def month_lines(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    *,
    operator_id: int,
    competencia: str,
    matrix: list[MatrixItem],
) -> list[ValuedLine]:
    """The operator's checked production of ``competencia``, valued and flagged as described above."""
    units = await repo.units_of(session, operator_id)
    uf_of = {u.establishment.cnes: u.establishment.uf for u in units}
    by_key = {(i.cnes, i.procedure_code): i for i in matrix if i.active and i.cnes in uf_of}
    codes = sorted({code for _cnes, code in by_key})
    records = [
        r
        for r in await repo.production_of_units(session, sorted(uf_of), competencia, codes)
        if (r.cnes, r.procedure_code) in by_key
    ]
    if not records:
        return []
    taken = await repo.attested_record_ids(session, [r.id or 0 for r in records])
    records = [r for r in records if r.id not in taken]

    # OCIs: production control's own verdict on the APAC's authorization.
    unauthorized_ids: set[int] = set()
    oci_units = sorted({r.cnes for r in records if by_key[(r.cnes, r.procedure_code)].component == "oci"})
    for cnes in oci_units:
        findings = await control.check_production(session, settings, actor, competencia=competencia, cnes=cnes)
        for f in findings:
            if f.code in UNAUTHORIZED_FINDINGS:
                unauthorized_ids.update(f.record_ids)
    # Surgeries: the AIH number is a regulated authorization, active, for this person.
    numbers = sorted(
        {
            r.authorization_number
            for r in records
            if r.authorization_number and by_key[(r.cnes, r.procedure_code)].component == "cirurgia"
        }
    )
    known = await repo.active_authorizations(session, numbers)

    out: list[ValuedLine] = []
    for r in records:
        item = by_key[(r.cnes, r.procedure_code)]
        if item.component == "oci":
            authorized = (r.id or 0) not in unauthorized_ids
        else:
            issued = known.get(r.authorization_number or "")
            authorized = issued is not None and (issued.citizen_id is None or issued.citizen_id == r.citizen_id)
        out.append(
            ValuedLine(
                record=r,
                matrix_item=item,
                value=item.value_brl * r.quantity,
                authorized=authorized,
                region=region_of(uf_of[r.cnes]),
                strategic=item.strategic,
            )
        )
    return out


def production_by_region(lines: list[ValuedLine]) -> dict[Region, Decimal]:
    """Authorized production value per region (before any cap)."""
    out: dict[Region, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.authorized:
            out[line.region] += line.value
    return dict(out)
