"""Row rules that do not need the database: a fast path for rows it is sure about and the official validators
(``people.service.validate_citizen``, ``waitlist.service.check_referral_fields``) for every other row, which decide
and word the errors. The checks that need the database (documents already registered, an active entry, the
actor's jurisdiction) are made when a chunk is planned (``writing``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

from regula.catalog import protocols as referral_protocols
from regula.catalog.schemas import OciSummary
from regula.config import Settings
from regula.core.errors import FieldError, ValidationFailed
from regula.inputs import NUL, nul_error
from regula.people import documents
from regula.people.models import CHANNELS, Citizen
from regula.people.schemas import CitizenCreate
from regula.people.service import normalize_phone, validate_citizen
from regula.territory.reference import search_key, territory
from regula.waitlist import service
from regula.waitlist.importer.columns import (
    AUTH_AT,
    AUTISM,
    BIRTH,
    CADUNICO,
    CBO,
    CHANNEL,
    CHECK,
    CID,
    CNES,
    CNS,
    CONSENT,
    CPF,
    DISABILITY,
    EXAMS,
    EXT,
    FIELDS,
    INE,
    JUST,
    MUNI,
    NAME,
    OCI,
    PCNS,
    PHONE,
    PREGNANT,
    PROC,
    RACE,
    REQ_AT,
    RISK,
    SEX,
    SOCIAL,
    STATUS,
    VULN,
)
from regula.waitlist.importer.reading import RawRow
from regula.waitlist.schemas import ReferralCreate
from regula.waitlist.states import ADMIN, REGULADOR, SYSTEM_ROLE, EntryStatus

MAX_EXTERNAL_ID: Final = 64
MAX_NAME: Final = 200
MAX_CID: Final = 4
#: Roles whose imports may bring entries already authorized (a migration from another regulation system).
AUTHORIZE_ROLES: Final = frozenset({REGULADOR, ADMIN, SYSTEM_ROLE})
IMPORTABLE_STATUSES: Final = ("solicitada", "autorizada")

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
    # The exams declared (JSON list text, None when none) and the version of the OCI's protocol checked against.
    exams: str | None = None
    protocol_version: int | None = None


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


class _Protocols(dict[str, referral_protocols.Protocol]):
    """A protocol map whose entries are read from ``source`` once each."""

    def __init__(self, source: Mapping[str, referral_protocols.Protocol]) -> None:
        super().__init__()
        self._source = source

    def __missing__(self, oci_code: str) -> referral_protocols.Protocol:
        found = self[oci_code] = self._source[oci_code]
        return found


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
        # Every OCI's protocol in force today (decision 0020), each read once: the catalog's map builds an OCI's
        # default protocol anew on every access.
        self.protocols = _Protocols(catalog.protocols)
        self._dates: dict[str, date | None] = {}
        self._moments: dict[str, datetime | None] = {}
        self._procedures: dict[str, OciSummary | None] = {}
        self._cid_ok: dict[tuple[str, str], bool] = {}
        self._pcns: dict[str, str | None] = {}
        self._scratch: list[FieldError] = []
        self._words: dict[str, str] = {}
        # Whether a referral with no checklist answers passes its OCI's protocol, by (OCI, CID, exams): the rule is
        # ``check_referral``'s, asked once per distinct combination instead of once per row.
        self._protocol_ok: dict[tuple[str, str, tuple[str, ...]], bool] = {}

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

    def protocol_ok(
        self, protocol: referral_protocols.Protocol, checklist: dict[str, bool], cid: str, exams: list[str]
    ) -> bool:
        """Whether the referral misses nothing of its OCI's protocol (``check_referral`` decides)."""
        if checklist:
            return not referral_protocols.check_referral(protocol, checklist=checklist, cid_code=cid, exams=exams)
        key = (protocol.oci_code, cid, tuple(exams))
        ok = self._protocol_ok.get(key)
        if ok is None:
            ok = not referral_protocols.check_referral(protocol, checklist={}, cid_code=cid, exams=exams)
            if len(self._protocol_ok) < 100_000:
                self._protocol_ok[key] = ok
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
        if (
            status == "solicitada"
            and oci_code is not None
            and oci_code in self.ocis
            and self.protocols[oci_code].teleconsultation_required
        ):
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

    @staticmethod
    def exams(raw: str) -> list[str]:
        """The exams declared: a JSON list of names, or names separated by ``|`` (one CSV cell)."""
        text = raw.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                value = None
            if isinstance(value, list) and all(isinstance(x, str) for x in value):
                return [x.strip() for x in value if x.strip()]
        return [x.strip() for x in text.split("|") if x.strip()]

    @staticmethod
    def exams_json(exams: list[str]) -> str | None:
        return json.dumps(exams, ensure_ascii=False) if exams else None

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
        if race == "indigena" and cns is None:  # SAES art. 11: identified by the CNS (the full path says so)
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
            if checklist is None:  # a "não" is judged with the protocol below
                return None
            checklist_json = json.dumps(checklist, ensure_ascii=False)
        else:
            checklist = {}
            checklist_json = "{}"
        # The OCI's referral protocol (art. 10 §1 III): anything missing goes to the full path, which words it.
        protocol = self.protocols[oci.code]
        exams = self.exams(v[EXAMS])
        if not self.protocol_ok(protocol, checklist, cid, exams):
            return None
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
            exams=self.exams_json(exams),
            protocol_version=protocol.version,
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
            exams=self.exams(v[EXAMS]),
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
        if checklist is None:  # unreadable: its format error says it all
            referral_errors = [e for e in referral_errors if not e.field.startswith("checklist.")]
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
            exams=self.exams_json(referral.exams),
            protocol_version=self.protocols[oci.code].version,
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
