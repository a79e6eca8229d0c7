"""Brazil's municipalities, UFs, health macro-regions and (for Santa Catarina) health regions, in memory.

The reference is read once, at first use, from the CSV files shipped in ``regula/data/territory`` (see the
``SOURCE.md`` there for their origin and the repairs made here). It answers the questions every domain asks
without a database round trip: is this IBGE code a municipality, where is it (UF, macro-region, health region,
for jurisdiction checks), and how far apart are two municipalities (travel cost for the scheduler). The
``municipality`` tables hold the same data so SQL can join by jurisdiction; ``service.load_territory`` keeps them
equal to this reference.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from regula.core.errors import ValidationFailed

if TYPE_CHECKING:
    from regula.access.policy import Place

DATA_DIR = ("data", "territory")
MUNICIPALITIES_FILE = "municipios.csv"
SC_REGIONS_FILE = "regioes_saude_sc.csv"

# The CSV carries each UF's IBGE code and abbreviation but not its name. The 27 federative units have not
# changed since 1988 (Tocantins), so they are written here (sigla → IBGE code, name) rather than shipped as
# another file; the loader checks the data against this table.
UFS: Mapping[str, tuple[str, str]] = {
    "RO": ("11", "Rondônia"),
    "AC": ("12", "Acre"),
    "AM": ("13", "Amazonas"),
    "RR": ("14", "Roraima"),
    "PA": ("15", "Pará"),
    "AP": ("16", "Amapá"),
    "TO": ("17", "Tocantins"),
    "MA": ("21", "Maranhão"),
    "PI": ("22", "Piauí"),
    "CE": ("23", "Ceará"),
    "RN": ("24", "Rio Grande do Norte"),
    "PB": ("25", "Paraíba"),
    "PE": ("26", "Pernambuco"),
    "AL": ("27", "Alagoas"),
    "SE": ("28", "Sergipe"),
    "BA": ("29", "Bahia"),
    "MG": ("31", "Minas Gerais"),
    "ES": ("32", "Espírito Santo"),
    "RJ": ("33", "Rio de Janeiro"),
    "SP": ("35", "São Paulo"),
    "PR": ("41", "Paraná"),
    "SC": ("42", "Santa Catarina"),
    "RS": ("43", "Rio Grande do Sul"),
    "MS": ("50", "Mato Grosso do Sul"),
    "MT": ("51", "Mato Grosso"),
    "GO": ("52", "Goiás"),
    "DF": ("53", "Distrito Federal"),
}
UF_NAMES: Mapping[str, str] = {sigla: name for sigla, (_code, name) in UFS.items()}

# The region file writes Santa Catarina's health regions, and the municipality file the macro-regions, in
# capitals without accents (``GRANDE FLORIANOPOLIS``, ``XANXERE``); these are the names as SES/SC writes them.
# Keyed by code; a name not listed keeps the file's spelling. Other UFs' macro-regions stay as DATASUS writes them.
HEALTH_REGION_NAMES: Mapping[str, str] = {
    "42001": "Extremo Oeste",
    "42002": "Oeste",
    "42003": "Xanxerê",
    "42004": "Alto Vale do Itajaí",
    "42005": "Foz do Rio Itajaí",
    "42006": "Médio Vale do Itajaí",
    "42007": "Grande Florianópolis",
    "42008": "Meio Oeste",
    "42009": "Alto Vale do Rio do Peixe",
    "42010": "Alto Uruguai Catarinense",
    "42011": "Nordeste",
    "42012": "Planalto Norte",
    "42013": "Serra Catarinense",
    "42014": "Extremo Sul Catarinense",
    "42015": "Carbonífera",
    "42016": "Laguna",
    "42017": "Vale do Itapocu",
}
MACRO_REGION_NAMES: Mapping[str, str] = {
    "4210": "Sul",
    "4211": "Planalto Norte e Nordeste",
    "4212": "Meio Oeste e Serra Catarinense",
    "4213": "Grande Oeste",
    "4214": "Grande Florianópolis",
    "4215": "Foz do Rio Itajaí",
    "4216": "Alto Vale do Itajaí",
}
# Municipality names the source lost a diacritic in (IBGE's official spelling).
MUNICIPALITY_NAMES: Mapping[str, str] = {"4209607": "Lauro Müller"}

# Mean Earth radius (IUGG), the usual choice for haversine distances; the error against the ellipsoid (< 0.5 %)
# is far below what road distance adds anyway.
EARTH_RADIUS_KM = 6371.0088

DEFAULT_FIELD = "municipality_ibge"


@dataclass(frozen=True, slots=True)
class Uf:
    code: str  # IBGE code, "42"
    sigla: str  # "SC"
    name: str  # "Santa Catarina"


@dataclass(frozen=True, slots=True)
class MacroRegion:
    code: str  # 4 digits, starts with the UF's IBGE code
    name: str
    uf: str


@dataclass(frozen=True, slots=True)
class HealthRegion:
    code: str  # 5 digits, starts with the UF's IBGE code
    name: str
    uf: str
    macro_code: str  # the macro-region holding every municipality of the region


@dataclass(frozen=True, slots=True)
class Municipality:
    """One municipality; satisfies ``regula.access.policy.Place`` so jurisdictions can be checked against it."""

    ibge_code: str  # 7 digits
    ibge_code6: str  # 6 digits, without the check digit
    name: str
    uf: str
    uf_code: str
    latitude: float
    longitude: float
    macro_code: str
    macro_name: str
    health_region_code: str | None  # known for SC only (the data has no other UF's regions)
    health_region_name: str | None
    population: int  # IBGE estimate, 2019

    @property
    def search_name(self) -> str:
        return search_key(self.name)

    @property
    def label(self) -> str:
        """How people read it: ``Florianópolis/SC``."""
        return f"{self.name}/{self.uf}"


def search_key(text: str) -> str:
    """Upper case, no accents, single spaces: the key names are compared by.

    Done in Python because the embedded PostgreSQL has no ``unaccent`` extension; the ``municipality`` table
    stores the result so SQL can match it with plain comparisons.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.upper().split())


def ibge_check_digit(code6: str) -> int:
    """IBGE's check digit for a 6-digit municipality code (weights 1,2,1,2,1,2; digits of each product summed).

    Nine real municipalities break this rule (see ``SOURCE.md``): use it to explain a refusal, never to accept or
    refuse a code on its own.
    """
    if len(code6) != 6 or not (code6.isascii() and code6.isdigit()):
        raise ValueError(f"expected 6 digits, got {code6!r}")
    total = 0
    for position, char in enumerate(code6):
        product = int(char) * (1 if position % 2 == 0 else 2)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def repair_mojibake(text: str) -> str:
    """Undo one round of UTF-8 read as Latin-1 (``FlorianÃ³polis`` → ``Florianópolis``).

    The shipped ``municipios.csv`` has every accented name encoded twice. Reversing is attempted only on
    non-ASCII text and kept only when it decodes, so text that is already right comes back unchanged (its
    accented letters either fall outside Latin-1 or do not form valid UTF-8 sequences).
    """
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _read_package_text(name: str) -> str:
    resource = resources.files("regula").joinpath(*DATA_DIR, name)
    return resource.read_text(encoding="utf-8")


def _rows(text: str) -> list[dict[str, str]]:
    return [{key: value.strip() for key, value in row.items()} for row in csv.DictReader(io.StringIO(text))]


def parse_municipalities(municipalities_csv: str, regions_csv: str) -> list[Municipality]:
    """Build the municipalities from the two CSV texts, checking what the rest of regula relies on."""
    regions = {row["ibge_code6"]: row for row in _rows(regions_csv)}
    result: list[Municipality] = []
    for row in _rows(municipalities_csv):
        code, code6, uf = row["ibge_code"], row["ibge_code6"], row["uf"]
        if len(code) != 7 or not code.isdigit() or code[:6] != code6:
            raise ValueError(f"territory data: bad IBGE code {code!r} / {code6!r}")
        uf_code = UFS[uf][0] if uf in UFS else None
        if uf_code is None or row["uf_code"] != uf_code or code[:2] != uf_code or row["macro_code"][:2] != uf_code:
            raise ValueError(f"territory data: inconsistent UF for {code}")
        region = regions.pop(code6, None)
        result.append(
            Municipality(
                ibge_code=code,
                ibge_code6=code6,
                name=MUNICIPALITY_NAMES.get(code) or repair_mojibake(row["name"]),
                uf=uf,
                uf_code=row["uf_code"],
                latitude=float(row["latitude"]),
                longitude=float(row["longitude"]),
                macro_code=row["macro_code"],
                macro_name=MACRO_REGION_NAMES.get(row["macro_code"]) or repair_mojibake(row["macro_name"]),
                health_region_code=region["health_region_code"] if region else None,
                health_region_name=(
                    HEALTH_REGION_NAMES.get(region["health_region_code"])
                    or repair_mojibake(region["health_region_name"])
                )
                if region
                else None,
                population=int(row["population_2019"]),
            )
        )
    if regions:
        raise ValueError(f"territory data: health regions for unknown municipalities {sorted(regions)}")
    return result


class Territory:
    """Immutable look-ups over the municipalities; build it with ``territory()`` (cached) or ``from_csv``."""

    def __init__(self, municipalities: Iterable[Municipality]) -> None:
        ordered = sorted(municipalities, key=lambda m: m.ibge_code)
        self._municipalities: tuple[Municipality, ...] = tuple(ordered)
        self._by_code: dict[str, Municipality] = {m.ibge_code: m for m in ordered}
        self._by_code6: dict[str, Municipality] = {m.ibge_code6: m for m in ordered}
        if len(self._by_code) != len(ordered) or len(self._by_code6) != len(ordered):
            raise ValueError("territory data: repeated IBGE codes")

        ufs: dict[str, Uf] = {}
        macros: dict[str, MacroRegion] = {}
        regions: dict[str, HealthRegion] = {}
        by_uf: dict[str, list[Municipality]] = {}
        for m in ordered:
            ufs.setdefault(m.uf, Uf(code=m.uf_code, sigla=m.uf, name=UF_NAMES[m.uf]))
            by_uf.setdefault(m.uf, []).append(m)
            macro = macros.setdefault(m.macro_code, MacroRegion(m.macro_code, m.macro_name, m.uf))
            if macro != MacroRegion(m.macro_code, m.macro_name, m.uf):
                raise ValueError(f"territory data: macro-region {m.macro_code} is not consistent")
            if m.health_region_code is not None:
                # A health region is a building block of exactly one macro-region; the region file does not say
                # which, so it is read off the region's municipalities (and the data is refused if they disagree).
                region = HealthRegion(m.health_region_code, m.health_region_name or "", m.uf, m.macro_code)
                if regions.setdefault(region.code, region) != region:
                    raise ValueError(f"territory data: health region {region.code} spans macro-regions")
        self._ufs: dict[str, Uf] = dict(sorted(ufs.items(), key=lambda item: item[1].code))
        self._macros: dict[str, MacroRegion] = dict(sorted(macros.items()))
        self._regions: dict[str, HealthRegion] = dict(sorted(regions.items()))
        self._by_uf: dict[str, tuple[Municipality, ...]] = {uf: tuple(ms) for uf, ms in by_uf.items()}

    @classmethod
    def from_csv(cls, municipalities_csv: str, regions_csv: str) -> Territory:
        return cls(parse_municipalities(municipalities_csv, regions_csv))

    @classmethod
    def from_package(cls) -> Territory:
        return cls.from_csv(_read_package_text(MUNICIPALITIES_FILE), _read_package_text(SC_REGIONS_FILE))

    # --- municipalities -------------------------------------------------------------------------------------

    @property
    def municipalities(self) -> tuple[Municipality, ...]:
        """Every municipality, by IBGE code."""
        return self._municipalities

    def __len__(self) -> int:
        return len(self._municipalities)

    def find(self, code: str) -> Municipality | None:
        """The municipality with this 7- or 6-digit IBGE code, or None (also for a malformed code)."""
        text = code.strip()
        if len(text) == 7:
            return self._by_code.get(text)
        if len(text) == 6:
            return self._by_code6.get(text)
        return None

    def municipality(self, code: str, field: str = DEFAULT_FIELD) -> Municipality:
        """The municipality with this 7- or 6-digit IBGE code; ``ValidationFailed`` on ``field`` otherwise.

        A code is valid when it is in the table. For a 7-digit code that is not, the message says what is wrong
        with it (a known 6-digit prefix with the wrong last digit, or a failing check digit) — the code stays
        ``municipio_desconhecido`` either way, so programs need to handle one case.
        """
        text = code.strip()
        if not (text.isascii() and text.isdigit()) or len(text) not in (6, 7):
            raise ValidationFailed.for_field(
                field,
                "municipio_formato",
                "Código IBGE de município inválido: informe 7 dígitos (como 4205407) ou 6 dígitos (como 420540).",
            )
        found = self.find(text)
        if found is not None:
            return found
        raise ValidationFailed.for_field(field, "municipio_desconhecido", self._unknown_message(text))

    def _unknown_message(self, code: str) -> str:
        if len(code) == 7:
            same_prefix = self._by_code6.get(code[:6])
            if same_prefix is not None:
                return (
                    f"Município não encontrado: o código IBGE {code} não existe; o código de "
                    f"{same_prefix.label} é {same_prefix.ibge_code}."
                )
            if ibge_check_digit(code[:6]) != int(code[6]):
                return f"Município não encontrado: o código IBGE {code} tem dígito verificador inválido."
        return f"Município não encontrado: não há município com o código IBGE {code}."

    def all(self) -> tuple[Municipality, ...]:
        """Every municipality, by IBGE code (same as ``municipalities``)."""
        return self._municipalities

    def by_uf(self, uf: str) -> tuple[Municipality, ...]:
        """The UF's municipalities (sigla, any case), by IBGE code; () for an unknown UF (``uf()`` refuses it)."""
        return self._by_uf.get(uf.strip().upper(), ())

    def search(self, text: str, uf: str | None = None, limit: int | None = None) -> list[Municipality]:
        """Municipalities whose name contains ``text`` (accents and case ignored); names starting with it first."""
        key = search_key(text)
        pool = self.by_uf(uf) if uf else self._municipalities
        hits = [m for m in pool if key in m.search_name]
        hits.sort(key=lambda m: (not m.search_name.startswith(key), m.search_name, m.uf))
        return hits if limit is None else hits[:limit]

    # --- UFs and regions ------------------------------------------------------------------------------------

    def ufs(self) -> tuple[Uf, ...]:
        """The 27 UFs, by IBGE code."""
        return tuple(self._ufs.values())

    def uf(self, uf: str, field: str = "uf") -> Uf:
        """The UF with this sigla (any case); ``ValidationFailed`` with code ``uf_desconhecida`` otherwise."""
        sigla = uf.strip().upper()
        found = self._ufs.get(sigla)
        if found is None:
            raise ValidationFailed.for_field(
                field, "uf_desconhecida", f"UF desconhecida: {uf.strip()!r}; use a sigla, como SC ou SP."
            )
        return found

    def macro_regions(self, uf: str | None = None) -> tuple[MacroRegion, ...]:
        """Health macro-regions (DATASUS 2020 division), of one UF or all, by code; () for an unknown UF."""
        if uf is None:
            return tuple(self._macros.values())
        sigla = uf.strip().upper()
        return tuple(m for m in self._macros.values() if m.uf == sigla)

    def health_regions(self, uf: str | None = None) -> tuple[HealthRegion, ...]:
        """Health regions, of one UF or all, by code. The shipped data has them for SC only: other UFs give ()."""
        if uf is None:
            return tuple(self._regions.values())
        sigla = uf.strip().upper()
        return tuple(r for r in self._regions.values() if r.uf == sigla)

    def macro_region(self, code: str) -> MacroRegion | None:
        return self._macros.get(code.strip())

    def health_region(self, code: str) -> HealthRegion | None:
        return self._regions.get(code.strip())

    # --- geometry -------------------------------------------------------------------------------------------

    def distance_km(self, a: Municipality | str, b: Municipality | str) -> float:
        """Great-circle (haversine) distance between two municipal seats, in km; codes may be 6 or 7 digits.

        A straight line, not a road: callers that need travel cost treat it as a lower bound.
        """
        first = a if isinstance(a, Municipality) else self.municipality(a)
        second = b if isinstance(b, Municipality) else self.municipality(b)
        return haversine_km(first.latitude, first.longitude, second.latitude, second.longitude)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    # min() guards against h creeping past 1 by rounding for antipodal points.
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@functools.cache
def territory() -> Territory:
    """The reference, read from the package data at first use and kept for the life of the process."""
    return Territory.from_package()


if TYPE_CHECKING:

    def _municipality_is_a_place(m: Municipality) -> Place:
        # mypy checks here, once, that Municipality keeps satisfying the Place protocol.
        return m
