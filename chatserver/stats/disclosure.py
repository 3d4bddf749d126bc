"""Disclosure control for statistics: small counts are withheld, and so is enough around them.

Primary suppression withholds every count from 1 to ``threshold - 1``. Secondary suppression
then looks at every *line*, a shown or withheld total and the cells that add up to it, and
withholds more until no line gives a withheld count away by subtraction:

* a line whose total is shown must withhold no cell, or at least two cells that together
  hold at least ``threshold`` (so each stays anywhere between 1 and ``threshold - 1``);
* a line whose total is withheld must withhold at least one of its non-zero cells.

It picks the smallest non-zero cell first, and withholds the total when no cell is left.
This is the usual line-by-line heuristic of statistical offices; it is run to a fixed point
over all lines of a report at once, so a total shared by several tables is withheld
everywhere or nowhere.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

MIN_THRESHOLD = 3


@dataclass(frozen=True)
class Line(Generic[K]):
    """``total`` equals the sum of ``cells`` (or is at least it, which protects the same)."""

    total: K
    cells: tuple[K, ...]


def protect(values: Mapping[K, int], lines: Iterable[Line[K]], threshold: int) -> set[K]:
    """The keys of ``values`` that must be withheld."""
    if threshold < MIN_THRESHOLD:
        raise ValueError(f"the threshold must be at least {MIN_THRESHOLD}")
    lines = list(lines)
    hidden = {key for key, n in values.items() if 0 < n < threshold}
    changed = True
    while changed:
        changed = False
        for line in lines:
            extra = _one_more(values, line, hidden, threshold)
            if extra is not None:
                hidden.add(extra)
                changed = True
    return hidden


def _one_more(values: Mapping[K, int], line: Line[K], hidden: set[K],
              threshold: int) -> K | None:
    """A key this line still needs withheld, or None when it is safe."""
    withheld = [c for c in line.cells if c in hidden]
    shown = sorted((c for c in line.cells if c not in hidden), key=lambda c: values[c])
    positive = [c for c in shown if values[c] > 0]
    if line.total in hidden:
        # Shown cells would add up to the total: hide the smallest one that holds anything.
        if not withheld and positive:
            return positive[0]
        return None
    if not withheld:
        return None
    if len(withheld) >= 2 and sum(values[c] for c in withheld) >= threshold:
        return None
    if positive:
        return positive[0]
    if len(withheld) < 2 and shown and sum(values[c] for c in withheld) >= threshold:
        # A zero cell, withheld, still leaves two unknowns whose sum alone is known.
        return shown[0]
    return line.total

