"""Small-cell protection of the public transparency panel (Portaria GM/MS 3.492/2024, art. 10 §2 VI: transparency
and the public's capacity to oversee, which never extends to a person's data — LGPD, Lei 13.709/2018, art. 6 III
and art. 11).

Pure module: no database, no I/O. The panel publishes counts of people in a tree — the UF's total for an OCI, its
health regions, the municipalities of residence of each region — and the tree's sums are public too (a region is
the sum of its municipalities). The rule, stated in ``docs/decisions/0022-transparency-and-care-times.md``:

1. **Primary suppression.** A count of 1 to 4 people is shown as "<5" (:attr:`Mark.SMALL`), and what lies under it
   (the municipalities of a region with fewer than 5 people) is not published at all: listing four "<5"
   municipalities under a "<5" region would tell that each holds exactly one person.
2. **Complementary suppression.** A reader knows every published number, that a "<5" cell holds 1 to 4 people, that
   a hidden cell (:attr:`Mark.HIDDEN`, shown as "—") holds 5 or more, and that each published total is the sum of
   its published parts. :func:`audit` works out, by interval propagation over those sums until nothing changes,
   the range every cell can take in the reader's eyes. While some "<5" cell's range is a single value (it could be
   recovered by subtraction from a total, or by adding up its neighbours), the smallest visible cell of the same
   sum is hidden as well — or, when none is left, the total itself — and the audit runs again. A cell hidden this
   way whose parts are all shown would be their sum, so its smallest part is hidden with it (and so on down).

The sums form a tree (every cell is the part of one sum and the total of at most one), and on such systems the
interval propagation reaches the exact bounds, so "no '<5' cell has a single possible value" is what a reader can
learn at best. Counts of zero are not cells (nobody to protect); medians and other statistics of a cell are shown
only where its count is visible or hidden, never for a "<5" cell.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

#: The smallest count of people the panel shows as a number.
MIN_CELL: Final = 5
_SMALL_RANGE: Final = (1.0, float(MIN_CELL - 1))
_HIDDEN_RANGE: Final = (float(MIN_CELL), math.inf)


class Mark(enum.StrEnum):
    VISIBLE = "visivel"
    SMALL = "menos_de_5"  # primary suppression: 1 to 4 people
    HIDDEN = "suprimido"  # complementary suppression: 5 or more, hidden so that no "<5" cell can be recovered


@dataclass(eq=False)
class Cell:
    """One published count: ``key`` names it (unique in the tree), ``value`` is the true count (never zero)."""

    key: str
    value: int
    children: list[Cell] = field(default_factory=list)
    mark: Mark = Mark.VISIBLE

    def shown(self) -> str:
        """What the panel writes for the count."""
        if self.mark is Mark.SMALL:
            return f"<{MIN_CELL}"
        if self.mark is Mark.HIDDEN:
            return "—"
        return str(self.value)

    @property
    def published_value(self) -> int | None:
        return self.value if self.mark is Mark.VISIBLE else None


def walk(root: Cell) -> Iterator[Cell]:
    """Every published cell: the children of a "<5" cell are not published."""
    yield root
    if root.mark is not Mark.SMALL:
        for child in root.children:
            yield from walk(child)


def _sums(root: Cell) -> Iterator[tuple[Cell, list[Cell]]]:
    for cell in walk(root):
        if cell.mark is not Mark.SMALL and cell.children:
            yield cell, cell.children


def _known(cell: Cell) -> tuple[float, float]:
    if cell.mark is Mark.SMALL:
        return _SMALL_RANGE
    if cell.mark is Mark.HIDDEN:
        return _HIDDEN_RANGE
    return float(cell.value), float(cell.value)


def audit(roots: list[Cell]) -> dict[int, tuple[float, float]]:
    """The range of every published cell as a reader can work it out (by ``id`` of the cell)."""
    bounds: dict[int, tuple[float, float]] = {}
    sums: list[tuple[Cell, list[Cell]]] = []
    for root in roots:
        for cell in walk(root):
            bounds[id(cell)] = _known(cell)
        sums += list(_sums(root))
    changed = True
    while changed:
        changed = False
        for total, parts in sums:
            lows = [bounds[id(p)][0] for p in parts]
            highs = [bounds[id(p)][1] for p in parts]
            low_sum = sum(lows)  # lows are never infinite
            finite_high = sum(h for h in highs if not math.isinf(h))
            unbounded = sum(1 for h in highs if math.isinf(h))
            t_low, t_high = bounds[id(total)]
            new = (max(t_low, low_sum), min(t_high, finite_high if not unbounded else math.inf))
            if new != bounds[id(total)]:
                bounds[id(total)] = new
                changed = True
            t_low, t_high = new
            for i, part in enumerate(parts):
                others_low = low_sum - lows[i]
                # the others' highest sum: unbounded while any other part is
                others_unbounded = unbounded - (1 if math.isinf(highs[i]) else 0)
                others_high = (
                    math.inf if others_unbounded else finite_high - (0.0 if math.isinf(highs[i]) else highs[i])
                )
                p_low, p_high = bounds[id(part)]
                updated = (max(p_low, t_low - others_high), min(p_high, t_high - others_low))
                if updated != (p_low, p_high):
                    bounds[id(part)] = updated
                    changed = True
    return bounds


def _parents(roots: list[Cell]) -> dict[int, Cell]:
    parents: dict[int, Cell] = {}
    for root in roots:
        for cell in walk(root):
            for child in cell.children:
                parents[id(child)] = cell
    return parents


def _hide_one_near(cell: Cell, parents: dict[int, Cell]) -> bool:
    """Hide the smallest visible sibling of ``cell``; without one, its total; without a visible total, go up."""
    current = cell
    while True:
        parent = parents.get(id(current))
        if parent is None:
            return False
        siblings = [c for c in parent.children if c is not current and c.mark is Mark.VISIBLE]
        if siblings:
            _hide(min(siblings, key=lambda c: (c.value, c.key)))
            return True
        if parent.mark is Mark.VISIBLE:
            _hide(parent)
            return True
        current = parent


def _hide(cell: Cell) -> None:
    """Hide ``cell`` so that it stays hidden: a hidden total whose parts are all shown is their sum, so the smallest
    part goes too (and so on down)."""
    cell.mark = Mark.HIDDEN
    while cell.children and all(c.mark is Mark.VISIBLE for c in cell.children):
        cell = min(cell.children, key=lambda c: (c.value, c.key))
        cell.mark = Mark.HIDDEN


def protect(roots: list[Cell]) -> None:
    """Mark every cell of the trees ``roots`` (one tree per OCI) following the rule of this module's docstring."""
    for root in roots:
        for cell in _every(root):
            cell.mark = Mark.SMALL if 0 < cell.value < MIN_CELL else Mark.VISIBLE
    parents = _parents(roots)
    while True:
        bounds = audit(roots)
        pinned = [
            cell
            for root in roots
            for cell in walk(root)
            if cell.mark is Mark.SMALL and bounds[id(cell)][0] >= bounds[id(cell)][1]
        ]
        if not pinned:
            return
        progressed = False
        for cell in pinned:
            progressed |= _hide_one_near(cell, parents)
        if not progressed:  # pragma: no cover - a root "<5" has no sum above it, so it is never pinned alone
            raise RuntimeError("small-cell protection cannot progress")


def _every(root: Cell) -> Iterator[Cell]:
    yield root
    for child in root.children:
        yield from _every(child)
