"""Referral protocols per OCI as versioned data owned by the managers (decision 0020).

Portaria GM/MS 3.492/2024, art. 10 §1 III: the managers of the SUS define the access and referral protocols of the
OCIs (who is referred, with what). Each OCI has one protocol per version, effective from a date: the checklist the
APS team confirms, the exams it must declare, the CIDs accepted (empty: any the OCI's SIGTAP rol accepts), hints
for the risk class, whether a teleconsultation comes first (art. 10 §3 I) and the OCI's tR and tM (art. 6 §2 III
and IV; art. 10 §4 IV), ``None`` meaning the global defaults of :class:`regula.config.Settings`.

Versions are never changed in place: a manager's edit is a new version, effective from today or a later day, with
a reason (:func:`new_version`). Version 1 of each OCI is its *starting protocol* (:func:`starting_protocol`): the
checklist regula asked by SIGTAP subgroup before protocols were data. Migration 0016 stored it for the OCIs of the
catalog present then; ``regula seed`` and the demo store it for OCIs that have no version yet
(:func:`seed_starting_versions`). An OCI with no stored version at all (a catalog imported by hand, before
``regula seed``) follows the *default protocol* (:func:`default_protocol`, version 0): nothing to confirm, any CID
SIGTAP accepts, the teleconsultation gate of the legacy ``teleconsult_first_ocis`` setting, the global tR/tM.

Pure rules (:func:`check_referral`, :func:`care_times`) take a :class:`Protocol`; the async functions read the
stored versions through :mod:`regula.catalog.repository`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import JurisdictionKind
from regula.catalog import policy
from regula.catalog import repository as repo
from regula.catalog.models import ReferralProtocol
from regula.catalog.schemas import ChecklistItemIO, ProtocolIn, ProtocolOut, ProtocolPage
from regula.config import Settings
from regula.core.errors import FieldError, NotFound, PermissionDenied, ValidationFailed


@dataclass(frozen=True)
class ChecklistItem:
    key: str  # snake_case, stable: referrals answer {key: true}
    label: str  # Portuguese, what the APS team confirms
    required: bool  # a required item must be answered "sim"


@dataclass(frozen=True)
class Protocol:
    """One version of an OCI's referral protocol, effective from a date (version 0: the starting protocol)."""

    oci_code: str
    version: int
    effective_from: date
    checklist: tuple[ChecklistItem, ...]
    required_exams: tuple[str, ...]
    accepted_cids: tuple[str, ...]  # empty = any CID the OCI accepts in SIGTAP
    priority_hints: tuple[str, ...]
    teleconsultation_required: bool
    tr_days: int | None  # None = the global default
    tm_days: int | None  # None = the global default
    created_by: str = field(default="regula", compare=False)
    reason: str = field(default="", compare=False)

    @property
    def stored(self) -> bool:
        """False for the starting protocol (no manager has written a version yet)."""
        return self.version > 0

    def label_of(self, key: str) -> str:
        """The item's label in this version; an item of another version keeps its starting label or its key."""
        for item in self.checklist:
            if item.key == key:
                return item.label
        return _STARTING_LABELS.get(key) or key.replace("_", " ").capitalize()


@dataclass(frozen=True)
class CareTimes:
    tr_days: int
    tm_days: int
    source: Literal["protocolo", "padrao"]


# -- the starting protocol ----------------------------------------------------------------------------------------

#: The checklists regula asked before protocols were data, by SIGTAP subgroup (0901 oncology … 0906 women's health).
#: Frozen, as data, in migration 0016 too (version 1 of every OCI present then).
STARTING_CHECKLISTS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "0901": (
        ("exame_de_imagem_anexado", "Exame de imagem ou laudo que motivou a suspeita anexado"),
        ("historico_clinico_registrado", "História clínica e exame físico registrados"),
    ),
    "0902": (
        ("ecg_anexado", "Eletrocardiograma recente anexado"),
        ("exames_laboratoriais_recentes", "Exames laboratoriais dos últimos seis meses anexados"),
    ),
    "0903": (
        ("exame_fisico_registrado", "Exame físico ortopédico registrado"),
        ("tratamento_conservador_realizado", "Tratamento conservador na APS já realizado (medicação, fisioterapia)"),
    ),
    "0904": (
        ("otoscopia_registrada", "Otoscopia registrada"),
        ("queixa_descrita", "Queixa e tempo de evolução descritos"),
    ),
    "0905": (("acuidade_visual_registrada", "Acuidade visual registrada"),),
    "0906": (
        ("ultrassonografia_previa", "Ultrassonografia pélvica ou transvaginal prévia anexada"),
        ("exame_ginecologico_registrado", "Exame ginecológico registrado"),
    ),
}
STARTING_DEFAULT_CHECKLIST: Final[tuple[tuple[str, str], ...]] = (
    ("protocolo_de_acesso_atendido", "Critérios do protocolo de acesso da OCI atendidos"),
)
STARTING_EFFECTIVE_FROM: Final = date(2024, 1, 1)  # before any referral regula holds
STARTING_REASON: Final = "Versão inicial: checklist por subgrupo usado pelo regula até a migração 0016"
_STARTING_LABELS: Final[dict[str, str]] = {
    key: label for items in (*STARTING_CHECKLISTS.values(), STARTING_DEFAULT_CHECKLIST) for key, label in items
}


def starting_checklist(oci_code: str) -> tuple[ChecklistItem, ...]:
    pairs = STARTING_CHECKLISTS.get(oci_code[:4], STARTING_DEFAULT_CHECKLIST)
    return tuple(ChecklistItem(key, label, True) for key, label in pairs)


def _legacy_gate(oci_code: str, settings: Settings | None) -> bool:
    # Before protocols were data the gate was the deployment's ``teleconsult_first_ocis`` (art. 10 §3 I).
    return settings is not None and oci_code in settings.teleconsult_first_ocis


def starting_protocol(oci_code: str, settings: Settings | None = None) -> Protocol:
    """Version 1 of an OCI's protocol as regula stores it when the OCI has none: the subgroup's checklist, every
    item required; no exams, any CID; the legacy teleconsultation gate; tR/tM the global defaults."""
    return Protocol(
        oci_code=oci_code,
        version=1,
        effective_from=STARTING_EFFECTIVE_FROM,
        checklist=starting_checklist(oci_code),
        required_exams=(),
        accepted_cids=(),
        priority_hints=(),
        teleconsultation_required=_legacy_gate(oci_code, settings),
        tr_days=None,
        tm_days=None,
        reason=STARTING_REASON,
    )


def default_protocol(oci_code: str, settings: Settings | None = None) -> Protocol:
    """The protocol of an OCI with no stored version (version 0): nothing to confirm, any CID, no exams."""
    return Protocol(
        oci_code=oci_code,
        version=0,
        effective_from=STARTING_EFFECTIVE_FROM,
        checklist=(),
        required_exams=(),
        accepted_cids=(),
        priority_hints=(),
        teleconsultation_required=_legacy_gate(oci_code, settings),
        tr_days=None,
        tm_days=None,
        reason="Sem protocolo cadastrado",
    )


# -- content (the JSON of a stored version) ---------------------------------------------------------------------


def content_of(protocol: Protocol) -> dict[str, Any]:
    return {
        "checklist": [{"key": i.key, "label": i.label, "required": i.required} for i in protocol.checklist],
        "required_exams": list(protocol.required_exams),
        "accepted_cids": list(protocol.accepted_cids),
        "priority_hints": list(protocol.priority_hints),
        "teleconsultation_required": protocol.teleconsultation_required,
        "tr_days": protocol.tr_days,
        "tm_days": protocol.tm_days,
    }


def from_row(row: ReferralProtocol) -> Protocol:
    c = row.content
    return Protocol(
        oci_code=row.oci_code,
        version=row.version,
        effective_from=row.effective_from,
        checklist=tuple(
            ChecklistItem(str(i["key"]), str(i["label"]), bool(i.get("required", True))) for i in c.get("checklist", [])
        ),
        required_exams=tuple(str(x) for x in c.get("required_exams", [])),
        accepted_cids=tuple(str(x) for x in c.get("accepted_cids", [])),
        priority_hints=tuple(str(x) for x in c.get("priority_hints", [])),
        teleconsultation_required=bool(c.get("teleconsultation_required", False)),
        tr_days=c.get("tr_days"),
        tm_days=c.get("tm_days"),
        created_by=row.created_by,
        reason=row.reason,
    )


# -- reading the version in force ---------------------------------------------------------------------------------


class ProtocolMap(dict[str, Protocol]):
    """Every OCI's protocol in force on a day: ``protocols[code]`` of an OCI without a stored version is its
    default protocol (use ``[]``, not ``.get``)."""

    def __init__(self, on: date, settings: Settings | None, rows: dict[str, Protocol]) -> None:
        super().__init__(rows)
        self.on = on
        self._settings = settings

    def __missing__(self, oci_code: str) -> Protocol:
        return default_protocol(oci_code, self._settings)


async def protocol_for(session: AsyncSession, oci_code: str, on: date, settings: Settings | None = None) -> Protocol:
    """The version of ``oci_code``'s protocol in force on ``on`` (the default protocol when there is none)."""
    row = await repo.protocol_in_force(session, oci_code, on)
    return from_row(row) if row is not None else default_protocol(oci_code, settings)


async def protocols_on(session: AsyncSession, on: date, settings: Settings | None = None) -> ProtocolMap:
    """Every OCI's version in force on ``on``, in one query; OCIs without a stored version map to the default
    protocol on access (see :class:`ProtocolMap`)."""
    rows = await repo.protocols_in_force(session, on)
    return ProtocolMap(on, settings, {r.oci_code: from_row(r) for r in rows})


async def protocol_version(
    session: AsyncSession, oci_code: str, version: int | None, settings: Settings | None = None
) -> Protocol:
    """A given version of ``oci_code``'s protocol (the one a referral was checked against); ``None`` or 0 (or a
    number not stored) is the default protocol."""
    row = await repo.protocol_by_version(session, oci_code, version) if version else None
    return from_row(row) if row is not None else default_protocol(oci_code, settings)


def care_times(protocol: Protocol, settings: Settings) -> CareTimes:
    """tR and tM of the protocol's OCI: the protocol's values, or the global defaults.

    tM default: ``Settings.oci_max_days_oncology`` (subgroup 0901) or ``oci_max_days_default`` (art. 6 §2 IV;
    :func:`regula.catalog.policy.max_days`). tR default: half of tM, rounded up (art. 6 §2 III; no published value
    per OCI — the rule of ``regula.production.composition.recommended_days``), of the tM in force for the OCI.
    """
    tm = protocol.tm_days if protocol.tm_days is not None else policy.max_days(protocol.oci_code, settings)
    tr = protocol.tr_days if protocol.tr_days is not None else max(1, math.ceil(tm / 2))
    source: Literal["protocolo", "padrao"] = (
        "protocolo" if protocol.tm_days is not None or protocol.tr_days is not None else "padrao"
    )
    return CareTimes(tr_days=tr, tm_days=tm, source=source)


# -- enforcing a protocol on a referral (pure) --------------------------------------------------------------------


def normalize_cid(cid: str | None) -> str:
    return (cid or "").strip().upper().replace(".", "")


def check_referral(
    protocol: Protocol,
    *,
    checklist: dict[str, bool],
    cid_code: str | None,
    exams: list[str] | tuple[str, ...],
    prefix: str = "",
) -> list[FieldError]:
    """What a referral misses of its OCI's protocol (art. 10 §1 III), in the protocol's order.

    * A required checklist item not answered, or answered "não", is ``checklist.<key>`` /
      ``protocolo_item_obrigatorio`` naming the item; only the first missing one is reported (the APS team works
      through the list in order). An optional item may be answered either way. An item the version does not list
      answered "não" is ``checklist`` / ``protocolo_incompleto``.
    * A CID outside ``accepted_cids`` (prefix match, like SIGTAP's) is ``cid_code`` / ``cid_fora_do_protocolo``.
    * A required exam not declared in ``exams`` is ``exams`` / ``exame_obrigatorio`` naming the first one.
    """
    errors: list[FieldError] = []
    for item in protocol.checklist:
        if item.required and checklist.get(item.key) is not True:
            errors.append(
                FieldError(
                    f"{prefix}checklist.{item.key}",
                    "protocolo_item_obrigatorio",
                    f"Item obrigatório do protocolo da OCI não atendido: {item.label}.",  # the label, never the key
                )
            )
            break
    # An answer "não" to an item outside this version (an older version's, another system's) still says a criterion
    # is not met: refused as before protocols were data.
    known = {item.key for item in protocol.checklist}
    unmet = sorted(k for k, v in checklist.items() if k not in known and v is not True)
    if unmet:
        errors.append(
            FieldError(
                f"{prefix}checklist",
                "protocolo_incompleto",
                f"Itens do protocolo não atendidos: {', '.join(unmet)}.",
            )
        )
    cid = normalize_cid(cid_code)
    if cid and protocol.accepted_cids and not any(cid.startswith(c) for c in protocol.accepted_cids):
        errors.append(
            FieldError(
                f"{prefix}cid_code",
                "cid_fora_do_protocolo",
                f"O CID {cid} não está entre os aceitos pelo protocolo da OCI {protocol.oci_code}"
                f" ({', '.join(protocol.accepted_cids)}).",
            )
        )
    declared = {_exam_key(e) for e in exams}
    for exam in protocol.required_exams:
        if _exam_key(exam) not in declared:
            errors.append(
                FieldError(
                    f"{prefix}exams",
                    "exame_obrigatorio",
                    f"Exame exigido pelo protocolo da OCI não informado: {exam}.",
                )
            )
            break
    return errors


def _exam_key(name: str) -> str:
    return " ".join(name.strip().casefold().split())


# -- a manager's new version --------------------------------------------------------------------------------------

_KEY = re.compile(r"^[a-z][a-z0-9_]{1,59}$")
_CID = re.compile(r"^[A-Z][0-9]{2}[0-9A-Z]?$")


@dataclass(frozen=True)
class ProtocolDraft:
    """What a manager writes: the content of a new version, its start date and why."""

    effective_from: date
    reason: str
    checklist: tuple[ChecklistItem, ...]
    required_exams: tuple[str, ...] = ()
    accepted_cids: tuple[str, ...] = ()
    priority_hints: tuple[str, ...] = ()
    teleconsultation_required: bool = False
    tr_days: int | None = None
    tm_days: int | None = None


def validate_draft(draft: ProtocolDraft, today: date) -> ProtocolDraft:
    """Every rule of a new version, all errors at once; returns the draft normalized (CIDs upper, no dots)."""
    errors: list[FieldError] = []
    if draft.effective_from < today:
        errors.append(
            FieldError(
                "effective_from", "vigencia_no_passado", "A nova versão vale a partir de hoje ou de data futura."
            )
        )
    if len(draft.reason.strip()) < 10:
        errors.append(FieldError("reason", "motivo_curto", "Explique o motivo da nova versão (mínimo 10 letras)."))
    seen: set[str] = set()
    for i, item in enumerate(draft.checklist):
        if not _KEY.match(item.key):
            errors.append(
                FieldError(
                    f"checklist[{i}].key",
                    "chave_invalida",
                    "Chave do item: letras minúsculas sem acento, dígitos e _ (2 a 60), começando por letra.",
                )
            )
        elif item.key in seen:
            errors.append(FieldError(f"checklist[{i}].key", "chave_repetida", f"Item repetido: {item.key}."))
        seen.add(item.key)
        if not item.label.strip():
            errors.append(FieldError(f"checklist[{i}].label", "obrigatorio", "Descreva o item do protocolo."))
    cids = tuple(normalize_cid(c) for c in draft.accepted_cids if normalize_cid(c))
    for i, cid in enumerate(cids):
        if not _CID.match(cid):
            errors.append(FieldError(f"accepted_cids[{i}]", "cid_formato", f"CID-10 inválido: {cid}."))
    exams = tuple(e.strip() for e in draft.required_exams if e.strip())
    hints = tuple(h.strip() for h in draft.priority_hints if h.strip())
    for name, value in (("tr_days", draft.tr_days), ("tm_days", draft.tm_days)):
        if value is not None and not 1 <= value <= 365:
            errors.append(FieldError(name, "prazo_invalido", "O prazo vai de 1 a 365 dias."))
    if draft.tr_days is not None and draft.tm_days is not None and draft.tr_days > draft.tm_days:
        errors.append(
            FieldError("tr_days", "tr_maior_que_tm", "O tempo recomendado (tR) não pode passar do tempo máximo (tM).")
        )
    if errors:
        raise ValidationFailed("Protocolo inválido.", errors=errors)
    return ProtocolDraft(
        effective_from=draft.effective_from,
        reason=draft.reason.strip(),
        checklist=tuple(ChecklistItem(i.key, i.label.strip(), i.required) for i in draft.checklist),
        required_exams=exams,
        accepted_cids=cids,
        priority_hints=hints,
        teleconsultation_required=draft.teleconsultation_required,
        tr_days=draft.tr_days,
        tm_days=draft.tm_days,
    )


async def new_version(
    session: AsyncSession, oci_code: str, draft: ProtocolDraft, *, username: str, today: date
) -> Protocol:
    """Store a new version of ``oci_code``'s protocol (art. 10 §1 III): the next number, never an update. The caller
    checks that the OCI exists and that the actor is a manager covering it."""
    clean = validate_draft(draft, today)
    latest = await repo.latest_protocol_version(session, oci_code, for_update=True)
    protocol = Protocol(
        oci_code=oci_code,
        version=latest + 1,
        effective_from=clean.effective_from,
        checklist=clean.checklist,
        required_exams=clean.required_exams,
        accepted_cids=clean.accepted_cids,
        priority_hints=clean.priority_hints,
        teleconsultation_required=clean.teleconsultation_required,
        tr_days=clean.tr_days,
        tm_days=clean.tm_days,
        created_by=username,
        reason=clean.reason,
    )
    await repo.add_protocol_version(
        session,
        ReferralProtocol(
            oci_code=oci_code,
            version=protocol.version,
            effective_from=protocol.effective_from,
            content=content_of(protocol),
            created_by=username,
            reason=clean.reason,
        ),
    )
    return protocol


async def seed_starting_versions(
    session: AsyncSession, settings: Settings | None = None, oci_codes: list[str] | None = None
) -> int:
    """Store version 1 (:func:`starting_protocol`) for each OCI of the catalog (or of ``oci_codes``) that has no
    version yet; how many were stored. Idempotent (``regula seed`` and the demo run it after the catalog import)."""
    codes = oci_codes if oci_codes is not None else await repo.all_oci_codes(session)
    have = await repo.ocis_with_protocol(session)
    stored = 0
    for code in sorted(set(codes) - have):
        protocol = starting_protocol(code, settings)
        await repo.add_protocol_version(
            session,
            ReferralProtocol(
                oci_code=code,
                version=protocol.version,
                effective_from=protocol.effective_from,
                content=content_of(protocol),
                created_by="regula",
                reason=protocol.reason,
            ),
        )
        stored += 1
    return stored


# -- what the API and the pages call ------------------------------------------------------------------------------

#: Who writes protocols: a manager (or the administrator) of the whole installation's territory — the protocols are
#: the regulation center's, one per OCI for every municipality it serves (decision 0020).
WRITER_ROLES: Final = frozenset({"gestor", "admin"})
_WRITER_JURISDICTIONS: Final = frozenset({JurisdictionKind.NATIONAL, JurisdictionKind.UF})


def may_write(actor: Actor) -> bool:
    return actor.role in WRITER_ROLES and actor.jurisdiction.kind in _WRITER_JURISDICTIONS


def to_out(protocol: Protocol, settings: Settings, *, in_force: bool) -> ProtocolOut:
    times = care_times(protocol, settings)
    return ProtocolOut(
        oci_code=protocol.oci_code,
        version=protocol.version,
        effective_from=protocol.effective_from,
        checklist=[ChecklistItemIO(i.key, i.label, i.required) for i in protocol.checklist],
        required_exams=list(protocol.required_exams),
        accepted_cids=list(protocol.accepted_cids),
        priority_hints=list(protocol.priority_hints),
        teleconsultation_required=protocol.teleconsultation_required,
        tr_days=protocol.tr_days,
        tm_days=protocol.tm_days,
        care_tr_days=times.tr_days,
        care_tm_days=times.tm_days,
        care_times_source=times.source,
        created_by=protocol.created_by,
        reason=protocol.reason,
        in_force=in_force,
    )


async def list_versions(
    session: AsyncSession,
    settings: Settings,
    today: date,
    *,
    oci_code: str | None = None,
    in_force_only: bool = False,
    newest_first: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> ProtocolPage:
    """Stored versions (every OCI, or one), paged; ``in_force_only``: only the version in force ``today`` of each.
    Reference data, no personal data: readable by every role."""
    in_force = await protocols_on(session, today, settings)
    if in_force_only:
        chosen = sorted(
            (p for code, p in in_force.items() if oci_code is None or code == oci_code), key=lambda p: p.oci_code
        )
        page = chosen[offset : offset + limit]
        items = [to_out(p, settings, in_force=True) for p in page]
        return ProtocolPage(items, len(chosen), offset, limit)
    rows, total = await repo.protocol_versions(
        session, oci_code=oci_code, offset=offset, limit=limit, newest_first=newest_first
    )
    items = []
    for row in rows:
        p = from_row(row)
        items.append(to_out(p, settings, in_force=in_force[p.oci_code].version == p.version))
    return ProtocolPage(items, total, offset, limit)


def draft_of(data: ProtocolIn) -> ProtocolDraft:
    return ProtocolDraft(
        effective_from=data.effective_from,
        reason=data.reason,
        checklist=tuple(ChecklistItem(i.key.strip(), i.label, i.required) for i in data.checklist),
        required_exams=tuple(data.required_exams),
        accepted_cids=tuple(data.accepted_cids),
        priority_hints=tuple(data.priority_hints),
        teleconsultation_required=data.teleconsultation_required,
        tr_days=data.tr_days,
        tm_days=data.tm_days,
    )


async def write_version(
    session: AsyncSession, settings: Settings, actor: Actor, oci_code: str, draft: ProtocolDraft, today: date
) -> Protocol:
    """A manager's new version of ``oci_code``'s protocol (art. 10 §1 III): refused to anyone but a manager of a UF
    (or the whole country), for an OCI not in the SIGTAP catalog, or when a rule of :func:`validate_draft` fails."""
    if not may_write(actor):
        raise PermissionDenied(
            "Só a gestão estadual (ou nacional) altera protocolos de encaminhamento.", code="gestao_estadual_exigida"
        )
    if oci_code not in set(await repo.all_oci_codes(session)):
        raise NotFound(f"A OCI {oci_code} não está no catálogo SIGTAP.", code="oci_nao_encontrada")
    return await new_version(session, oci_code, draft, username=actor.username, today=today)
