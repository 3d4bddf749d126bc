"""Disclosure control: small counts withheld, and no line lets a withheld count be worked out."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.stats.disclosure import Line, protect

T = 5

Cell = tuple[object, object]


def grid_lines(rows: Iterable[object], cols: Iterable[object]) -> list[Line[Cell]]:
    """Lines of a two-way table keyed ``(row, col)`` with margins ``(row, None)``,
    ``(None, col)`` and the grand total ``(None, None)``."""
    rows, cols = list(rows), list(cols)
    lines: list[Line[Cell]] = []
    for r in rows:
        lines.append(Line((r, None), tuple((r, c) for c in cols)))
    for c in cols:
        lines.append(Line((None, c), tuple((r, c) for r in rows)))
    lines.append(Line((None, None), tuple((r, None) for r in rows)))
    lines.append(Line((None, None), tuple((None, c) for c in cols)))
    return lines


def safe(values: dict[object, int], lines: list[Line[object]], hidden: set[object],
         threshold: int) -> bool:
    """What a reader of the output could work out, line by line, reveals no small count."""
    for line in lines:
        withheld = [c for c in line.cells if c in hidden]
        if line.total in hidden:
            if not withheld and any(values[c] for c in line.cells):
                return False  # the shown cells add up to the withheld total
            continue
        if not withheld:
            continue
        if len(withheld) < 2:
            return False  # total minus the shown cells is the one withheld cell
        if line.total not in hidden and sum(values[c] for c in withheld) < threshold:
            return False  # the withheld cells are known to hold very few between them
    return True


def test_small_cells_are_withheld_with_a_partner() -> None:
    values: dict[object, int] = {"a": 2, "b": 9, "c": 30, "t": 41}
    lines: list[Line[object]] = [Line("t", ("a", "b", "c"))]
    hidden = protect(values, lines, T)
    assert hidden == {"a", "b"}  # the smallest other cell goes with it
    assert safe(values, lines, hidden, T)


def test_two_tiny_cells_are_not_enough_on_their_own() -> None:
    values: dict[object, int] = {"a": 1, "b": 1, "c": 7, "d": 20, "t": 29}
    lines: list[Line[object]] = [Line("t", ("a", "b", "c", "d"))]
    hidden = protect(values, lines, T)
    assert hidden == {"a", "b", "c"}  # 1 + 1 would leave "both are 1" open
    assert safe(values, lines, hidden, T)


def test_a_lone_small_cell_hides_the_total_when_nothing_else_can_go() -> None:
    values: dict[object, int] = {"a": 3, "b": 0, "t": 3}
    assert protect(values, [Line("t", ("a", "b"))], T) == {"a", "t"}
    values = {"a": 3, "t": 8, "u": 8, "x": 8}
    lines: list[Line[object]] = [Line("t", ("a",)), Line("u", ("t",)), Line("x", ("u",))]
    hidden = protect(values, lines, T)
    assert {"a", "t", "u", "x"} == hidden  # a chain of equal totals falls together
    assert safe(values, lines, hidden, T)


def test_a_shared_total_is_withheld_everywhere_at_once() -> None:
    # Requests by day and by language share their total; a withheld day forces a partner.
    values: dict[object, int] = {"d1": 1, "d2": 10, "de": 8, "en": 3, "all": 11}
    lines: list[Line[object]] = [Line("all", ("d1", "d2")), Line("all", ("de", "en"))]
    hidden = protect(values, lines, T)
    assert "all" not in hidden and {"d1", "d2", "de", "en"} <= hidden
    assert safe(values, lines, hidden, T)


def test_the_threshold_is_at_least_three() -> None:
    with pytest.raises(ValueError):
        protect({"a": 1}, [], 2)


@settings(max_examples=300, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), threshold=st.integers(3, 10),
       data=st.data())
def test_any_two_way_table_comes_out_safe(rows: int, cols: int, threshold: int,
                                          data: st.DataObject) -> None:
    cells = {(r, c): data.draw(st.sampled_from([0, 0, 1, 2, 3, 4, 5, 7, 12, 40]))
             for r in range(rows) for c in range(cols)}
    values: dict[object, int] = dict(cells)
    for r in range(rows):
        values[(r, None)] = sum(cells[(r, c)] for c in range(cols))
    for c in range(cols):
        values[(None, c)] = sum(cells[(r, c)] for r in range(rows))
    values[(None, None)] = sum(cells.values())
    lines: list[Line[object]] = list(grid_lines(range(rows), range(cols)))
    hidden = protect(values, lines, threshold)
    assert all(key in hidden for key, n in values.items() if 0 < n < threshold)
    assert safe(values, lines, hidden, threshold)
