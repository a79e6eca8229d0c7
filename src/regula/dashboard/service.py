"""The public transparency panel (Portaria GM/MS 3.492/2024, art. 10 §2 VI: "transparência e maior capacidade de
fiscalização por parte da sociedade"): per OCI and health region or municipality of residence, how many people wait,
the median and p90 of their wait, the estimated wait of a new referral, the share concluded within tM in the last
12 months and the monthly trend — for anyone, without login, with no personal data.

The numbers are ``waitlist.measures``' (days waited, tM compliance, percentiles, the expected wait by Little's law);
the queries are ``dashboard.repository``'s; small cells are protected by ``dashboard.disclosure`` before anything
leaves this module. Decision 22 (``docs/decisions/0022-transparency-and-care-times.md``) states the estimator, the
suppression rule and the cache.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.core.clock import local_today
from regula.core.errors import FieldError, ValidationFailed
from regula.dashboard import repository as repo
from regula.dashboard.disclosure import MIN_CELL, Cell, Mark, protect
from regula.territory.reference import UF_NAMES, territory
from regula.waitlist import measures as m
from regula.waitlist import service as wl

Level = Literal["regiao", "municipio"]
LEVELS: Final[tuple[str, ...]] = ("regiao", "municipio")
#: How long a built panel is served from memory (seconds); a new day always builds a new one.
CACHE_SECONDS: Final = 300
#: How many filters the cache keeps (least recently used go first): the filters come from anyone.
CACHE_ENTRIES: Final = 256
NO_REGION_PT: Final = "Sem região de saúde"


@dataclass(frozen=True)
class Filter:
    """What the reader chose, validated: a UF, the level of the areas, optionally one OCI and one area (a health
    region code at level ``regiao``, a municipality's IBGE code at level ``municipio``)."""

    uf: str
    level: Level = "regiao"
    oci: str | None = None
    area: str | None = None


def parse_filter(uf: str | None, level: str | None, oci: str | None, area: str | None, default_uf: str) -> Filter:
    """The reader's filter from query parameters; a value that is not one the panel knows is refused naming the
    field (``ValidationFailed``: 422 for the API, the page shows the message)."""
    errors: list[FieldError] = []
    uf_value = (uf or default_uf).strip().upper()
    if uf_value not in UF_NAMES:
        errors.append(FieldError("uf", "uf_invalida", "UF desconhecida; use a sigla, por exemplo SC."))
    level_value = (level or "regiao").strip().lower()
    if level_value not in LEVELS:
        errors.append(FieldError("nivel", "nivel_invalido", "Nível deve ser 'regiao' ou 'municipio'."))
    oci_value = (oci or "").strip() or None
    if oci_value is not None and not (oci_value.isdigit() and len(oci_value) == 10):
        errors.append(FieldError("oci", "oci_invalida", "Código de OCI tem 10 dígitos."))
    area_value = (area or "").strip() or None
    if area_value is not None and not errors:
        if level_value == "regiao":
            region = territory().health_region(area_value)
            if region is None or region.uf != uf_value:
                errors.append(FieldError("area", "regiao_invalida", f"Região de saúde não encontrada em {uf_value}."))
        else:
            municipality = territory().find(area_value)
            if municipality is None or municipality.uf != uf_value:
                errors.append(FieldError("area", "municipio_invalido", f"Município não encontrado em {uf_value}."))
            else:
                area_value = municipality.ibge_code
    if errors:
        raise ValidationFailed("Filtro inválido.", code="filtro_invalido", errors=errors)
    return Filter(uf_value, level_value, oci_value, area_value)  # type: ignore[arg-type]


# -- the panel --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One OCI in one area, as published: ``waiting`` is the count when it is shown, ``waiting_text`` what is
    written ("123", "<5" or "—"); statistics are None where they are not shown (a "<5" cell, too little data)."""

    oci_code: str
    oci_name: str
    level: Literal["uf", "regiao", "municipio", "demais"]
    area_code: str
    area_name: str
    mark: Mark
    waiting: int | None
    waiting_text: str
    median_days: float | None
    p90_days: float | None
    expected_wait_days: int | None
    within_tm_percent: float | None


@dataclass(frozen=True)
class Month:
    month: str  # AAAA-MM
    enough: bool  # at least MIN_CELL people booked in the month (else only "<5" is said)
    median_days: float | None
    p90_days: float | None


@dataclass(frozen=True)
class Panel:
    filter: Filter
    today: date
    rows: list[Row]
    trend: list[Month]
    ocis: list[tuple[str, str]]  # (code, name) of the OCIs with data in the UF, for the filter
    regions: list[tuple[str, str]]  # (code, name) of the UF's health regions
    ufs: list[str]
    built_at: float = field(default=0.0)


@dataclass
class _Node:
    figures: repo.AreaFigures
    cell: Cell


def _statistics(node: _Node) -> tuple[float | None, float | None, int | None, float | None]:
    """Median, p90, expected wait and share within tM of a cell, or Nones where they are not shown: never for a
    "<5" cell; the expected wait only when at least MIN_CELL people were served in the window (the pace is itself a
    count of people); the share within tM only when at least MIN_CELL OCIs were concluded."""
    f = node.figures
    if node.cell.mark is Mark.SMALL:
        return None, None, None, None
    expected = m.expected_wait_days(f.waiting, f.served) if f.served >= MIN_CELL else None
    share = m.Share(f.within, f.concluded).percent if f.concluded >= MIN_CELL else None
    median = round(f.median, 1) if f.median is not None else None
    p90 = round(f.p90, 1) if f.p90 is not None else None
    return median, p90, expected, round(share) if share is not None else None


def area_name(level: str, code: str) -> str:
    if level == "uf":
        return UF_NAMES.get(code, code)
    if level == "regiao":
        region = territory().health_region(code) if code else None
        return region.name if region else NO_REGION_PT
    municipality = territory().find(code)
    return municipality.label if municipality else code


class _Tree:
    """Every OCI of a UF as a tree of cells (UF → health regions → municipalities), protected."""

    def __init__(self, uf: str, figures: list[repo.AreaFigures]) -> None:
        self.uf = uf
        self.roots: dict[str, _Node] = {}
        self.regions: dict[tuple[str, str], _Node] = {}
        self.municipalities: dict[tuple[str, str], _Node] = {}
        self.parent_region: dict[tuple[str, str], str] = {}
        for f in figures:
            if f.waiting <= 0:
                continue  # served or concluded only: nobody waits there now
            if f.region is None:
                self.roots[f.oci_code] = _Node(f, Cell(f.oci_code, f.waiting))
            elif f.municipality is None:
                self.regions[(f.oci_code, f.region)] = _Node(f, Cell(f"{f.oci_code}:{f.region}", f.waiting))
            else:
                key = (f.oci_code, f.municipality)
                self.municipalities[key] = _Node(f, Cell(f"{f.oci_code}:{f.municipality}", f.waiting))
                self.parent_region[key] = f.region
        for (oci, _region), node in self.regions.items():
            self.roots[oci].cell.children.append(node.cell)
        for key, node in self.municipalities.items():
            self.regions[(key[0], self.parent_region[key])].cell.children.append(node.cell)
        protect([n.cell for n in self.roots.values()])

    def row(
        self, node: _Node, level: Literal["uf", "regiao", "municipio"], code: str, oci_names: dict[str, str]
    ) -> Row:
        cell = node.cell
        median, p90, expected, share = _statistics(node)
        return Row(
            oci_code=node.figures.oci_code,
            oci_name=oci_names.get(node.figures.oci_code, ""),
            level=level,
            area_code=code,
            area_name=area_name(level, code),
            mark=cell.mark,
            waiting=cell.published_value,
            waiting_text=cell.shown(),
            median_days=median,
            p90_days=p90,
            expected_wait_days=expected,
            within_tm_percent=share,
        )

    def small_region_row(self, oci: str, region: str, oci_names: dict[str, str]) -> Row:
        """The municipalities of a region with fewer than 5 people, folded: they are not published one by one."""
        return self._folded(oci, "demais", region, f"Municípios de {area_name('regiao', region)}", oci_names)

    def rows(self, f: Filter, oci_names: dict[str, str]) -> list[Row]:
        ocis = [f.oci] if f.oci else sorted(self.roots)
        out: list[Row] = []
        if f.area is not None:
            for oci in ocis:
                row = self._area_row(oci, f, oci_names)
                if row is not None:
                    out.append(row)
            return out
        if f.oci is None:
            return [self.row(self.roots[oci], "uf", self.uf, oci_names) for oci in ocis]
        root = self.roots.get(f.oci)
        if root is None:
            return []
        out.append(self.row(root, "uf", self.uf, oci_names))
        if root.cell.mark is Mark.SMALL:
            return out  # nothing under a "<5" total is published
        regions = sorted(
            ((r, n) for (o, r), n in self.regions.items() if o == f.oci), key=lambda rn: area_name("regiao", rn[0])
        )
        for region, node in regions:
            if f.level == "regiao":
                out.append(self.row(node, "regiao", region, oci_names))
            elif node.cell.mark is Mark.SMALL:
                out.append(self.small_region_row(f.oci, region, oci_names))
            else:
                munis = [
                    (k[1], n)
                    for k, n in self.municipalities.items()
                    if k[0] == f.oci and self.parent_region[k] == region
                ]
                for code, muni in sorted(munis, key=lambda cn: area_name("municipio", cn[0])):
                    out.append(self.row(muni, "municipio", code, oci_names))
        return out

    def _area_row(self, oci: str, f: Filter, oci_names: dict[str, str]) -> Row | None:
        """One OCI in the area the reader chose. Under a "<5" total nothing is published one by one, not even
        whether the area has anyone (listing the areas with someone under a total of 4 could say each holds one):
        the row is the folded total instead, whether the area has people or not."""
        assert f.area is not None
        root = self.roots[oci]
        if root.cell.mark is Mark.SMALL:
            return self._folded(oci, "uf", self.uf, f"Todo o estado ({area_name('uf', self.uf)})", oci_names)
        if f.level == "regiao":
            node = self.regions.get((oci, f.area))
            return self.row(node, "regiao", f.area, oci_names) if node is not None else None
        municipality = territory().find(f.area)
        region_code = (municipality.health_region_code or "") if municipality else ""
        region = self.regions.get((oci, region_code))
        if region is not None and region.cell.mark is Mark.SMALL:
            return self._folded(
                oci, "demais", region_code, f"Municípios de {area_name('regiao', region_code)}", oci_names
            )
        node = self.municipalities.get((oci, f.area))
        return self.row(node, "municipio", f.area, oci_names) if node is not None else None

    def _folded(self, oci: str, level: Literal["uf", "demais"], code: str, name: str, oci_names: dict[str, str]) -> Row:
        return Row(
            oci_code=oci,
            oci_name=oci_names.get(oci, ""),
            level=level,
            area_code=code,
            area_name=name,
            mark=Mark.SMALL,
            waiting=None,
            waiting_text=f"<{MIN_CELL}",
            median_days=None,
            p90_days=None,
            expected_wait_days=None,
            within_tm_percent=None,
        )


async def build_tree(session: AsyncSession, uf: str, today: date, tz: str) -> _Tree:
    """Every OCI of ``uf`` at the three levels, protected: what every filter of the UF reads."""
    return _Tree(uf, await repo.public_area_figures(session, uf, today, tz))


async def build_panel(
    session: AsyncSession, f: Filter, today: date, tz: str, oci_names: dict[str, str], ufs: list[str], tree: _Tree
) -> Panel:
    """The panel for ``f`` on ``today`` from the UF's ``tree`` (no cache: see :class:`PanelCache`)."""
    region = f.area if f.level == "regiao" else None
    municipality = f.area if f.level == "municipio" else None
    months = await repo.public_trend(session, f.uf, today, tz, oci=f.oci, region=region, municipality=municipality)
    trend = [
        Month(x.month, True, round(x.median, 1) if x.median is not None else None, round(x.p90, 1) if x.p90 else None)
        if x.booked >= MIN_CELL
        else Month(x.month, False, None, None)
        for x in months
    ]
    return Panel(
        filter=f,
        today=today,
        rows=tree.rows(f, oci_names),
        trend=trend,
        ocis=[(code, oci_names.get(code, "")) for code in sorted(tree.roots)],
        regions=sorted(((r.code, r.name) for r in territory().health_regions(f.uf)), key=lambda cn: cn[1]),
        ufs=ufs,
    )


# -- the cache --------------------------------------------------------------------------------------------------

Loader = Callable[[str], Awaitable[_Tree]]


class PanelCache:
    """Built panels kept in memory for :data:`CACHE_SECONDS`, keyed by the filter and the day, at most
    :data:`CACHE_ENTRIES` of them (least recently used out first). One per application (``app.state``): each web
    worker keeps its own; figures are at most ``ttl`` seconds old, and a new local day always rebuilds."""

    def __init__(
        self, ttl: float = CACHE_SECONDS, entries: int = CACHE_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.entries = entries
        self.clock = clock
        self._items: OrderedDict[tuple[Filter, date], tuple[float, Panel]] = OrderedDict()
        self._ufs: tuple[float, list[str]] | None = None
        self._trees: dict[tuple[str, date], tuple[float, _Tree]] = {}
        self.builds = 0
        self.tree_builds = 0

    async def get(self, f: Filter, today: date, build: Callable[[_Tree], Awaitable[Panel]], load: Loader) -> Panel:
        """The panel of ``f``; built from the UF's tree (itself kept, so that every filter of a UF shares one set of
        the heavy queries) and kept as long as that tree: no figure is older than ``ttl``."""
        key = (f, today)
        now = self.clock()
        hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            self._items.move_to_end(key)
            return hit[1]
        built_at, tree = await self._tree(f.uf, today, load)
        panel = await build(tree)
        self.builds += 1
        self._items[key] = (built_at, panel)
        self._items.move_to_end(key)
        for stale in [k for k, (at, _) in self._items.items() if now - at >= self.ttl or k[1] != today]:
            del self._items[stale]
        while len(self._items) > self.entries:
            self._items.popitem(last=False)
        return panel

    async def _tree(self, uf: str, today: date, load: Loader) -> tuple[float, _Tree]:
        now = self.clock()
        hit = self._trees.get((uf, today))
        if hit is not None and now - hit[0] < self.ttl:
            return hit
        built = (now, await load(uf))
        self.tree_builds += 1
        self._trees = {k: v for k, v in self._trees.items() if now - v[0] < self.ttl and k[1] == today}
        self._trees[(uf, today)] = built
        return built

    def clear(self) -> None:
        self._items.clear()
        self._trees.clear()
        self._ufs = None

    async def ufs(self, load: Callable[[], Awaitable[list[str]]]) -> list[str]:
        """The UFs with data, kept as long as a panel."""
        now = self.clock()
        if self._ufs is None or now - self._ufs[0] >= self.ttl:
            self._ufs = (now, await load())
        return self._ufs[1]


CACHE_STATE_KEY: Final = "regula_transparency_cache"


def cache_of(state: MutableMapping[str, Any]) -> PanelCache:
    """The application's panel cache (``app.state``), made on first use."""
    cache = state.get(CACHE_STATE_KEY)
    if not isinstance(cache, PanelCache):
        cache = PanelCache()
        state[CACHE_STATE_KEY] = cache
    return cache


async def public_panel(
    session: AsyncSession,
    settings: Settings,
    cache: PanelCache,
    *,
    uf: str | None = None,
    level: str | None = None,
    oci: str | None = None,
    area: str | None = None,
    today: date | None = None,
) -> Panel:
    """The panel for the reader's filter (validated), from the cache when it is fresh."""
    day = today or local_today(settings)
    ufs = await cache.ufs(lambda: repo.public_ufs(session))
    f = parse_filter(uf, level, oci, area, ufs[0] if ufs else sorted(UF_NAMES)[0])

    async def load(uf: str) -> _Tree:
        return await build_tree(session, uf, day, settings.timezone)

    async def build(tree: _Tree) -> Panel:
        catalog = await wl.load_catalog(session, settings)
        names = {code: o.name for code, o in catalog.ocis.items()}
        return await build_panel(session, f, day, settings.timezone, names, ufs, tree)

    return await cache.get(f, day, build, load)
