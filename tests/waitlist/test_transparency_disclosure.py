"""Small-cell protection of the transparency panel (``regula.dashboard.disclosure``): no "<5" cell can be recovered
from what is published. The audit's interval propagation is checked against brute force: every assignment of counts
consistent with the published numbers is enumerated, and each "<5" cell must keep at least two possible values."""

from __future__ import annotations

import itertools
import random

import pytest

from regula.dashboard.disclosure import MIN_CELL, Cell, Mark, audit, protect, walk


def _tree(rng: random.Random, regions: int, munis: int) -> Cell:
    children = []
    for r in range(regions):
        leaves = [Cell(f"m{r}.{i}", rng.choice([1, 1, 2, 3, 4, 5, 6, 8, 12])) for i in range(rng.randint(1, munis))]
        children.append(Cell(f"r{r}", sum(c.value for c in leaves), leaves))
    return Cell("uf", sum(c.value for c in children), children)


def _possible_values(root: Cell, cap: int) -> dict[str, set[int]]:
    """Brute force: every assignment of the published cells' unknowns consistent with what is published (visible
    numbers, "<5" = 1..4, "—" = 5..cap, every published total the sum of its published parts)."""
    cells = list(walk(root))
    unknown = [c for c in cells if c.mark is not Mark.VISIBLE]
    domains = [range(1, MIN_CELL) if c.mark is Mark.SMALL else range(MIN_CELL, cap + 1) for c in unknown]
    possible: dict[str, set[int]] = {c.key: set() for c in unknown}
    for values in itertools.product(*domains):
        value = {c.key: c.value for c in cells if c.mark is Mark.VISIBLE} | {
            c.key: v for c, v in zip(unknown, values, strict=True)
        }
        consistent = all(
            value[c.key] == sum(value[k.key] for k in c.children)
            for c in cells
            if c.mark is not Mark.SMALL and c.children
        )
        if consistent:
            for c, v in zip(unknown, values, strict=True):
                possible[c.key].add(v)
    return possible


def test_a_lone_small_municipality_is_not_left_to_subtraction() -> None:
    # Region of 9: a municipality of 2 and one of 7. Showing 7 would give the 2 away (9 - 7).
    small, big = Cell("m1", 2), Cell("m2", 7)
    region = Cell("r", 9, [small, big])
    root = Cell("uf", 30, [region, Cell("r2", 21, [Cell("m3", 21)])])
    protect([root])
    assert small.mark is Mark.SMALL and small.shown() == "<5"
    assert big.mark is not Mark.VISIBLE
    bounds = audit([root])
    assert bounds[id(small)][0] < bounds[id(small)][1]


def test_what_lies_under_a_small_total_is_not_published() -> None:
    # Four municipalities of one person each under a region of 4: listing them would say each holds exactly one.
    munis = [Cell(f"m{i}", 1) for i in range(4)]
    region = Cell("r", 4, munis)
    root = Cell("uf", 20, [region, Cell("r2", 16, [Cell("m9", 16)])])
    protect([root])
    assert region.mark is Mark.SMALL
    assert not any(c in list(walk(root)) for c in munis)


def test_visible_numbers_are_the_true_ones_and_nothing_small_shows() -> None:
    rng = random.Random(7)
    for _ in range(300):
        root = _tree(rng, rng.randint(1, 5), 5)
        protect([root])
        for cell in walk(root):
            if cell.mark is Mark.VISIBLE:
                assert cell.value >= MIN_CELL and cell.shown() == str(cell.value)
            elif cell.mark is Mark.SMALL:
                assert 0 < cell.value < MIN_CELL and cell.shown() == "<5"
            else:
                assert cell.value >= MIN_CELL and cell.shown() == "—"


@pytest.mark.parametrize("seed", range(40))
def test_no_small_cell_can_be_recovered_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    root = _tree(rng, rng.randint(1, 3), 3)
    protect([root])
    if sum(c.mark is Mark.HIDDEN for c in walk(root)) > 3:
        pytest.skip("too many hidden cells to enumerate quickly")
    cap = root.value + 2 * MIN_CELL  # "—" is unbounded for a reader; past the true total is enough to tell
    possible = _possible_values(root, cap)
    for cell in walk(root):
        if cell.mark is Mark.SMALL:
            assert cell.value in possible[cell.key]
            assert len(possible[cell.key]) >= 2, (cell.key, possible[cell.key])
    # the audit's bounds contain every brute-force possibility (it never claims more than a reader knows)
    bounds = audit([root])
    for cell in walk(root):
        if cell.mark is not Mark.VISIBLE:
            low, high = bounds[id(cell)]
            assert all(low <= v <= high for v in possible[cell.key])
