"""Tables that fit the terminal without cutting a name.

A table is printed as given when its natural width fits the console (rich reads ``COLUMNS``);
otherwise the next, narrower layout is tried; when none fits, the rows are printed in a vertical
form (one block per group, one wrapped line per row) in which no name is ever shortened.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def fits(console: Console, table: Table) -> bool:
    """Whether ``table`` prints at its natural width (nothing wrapped or cut) on ``console``."""
    natural = Measurement.get(console, console.options.update(max_width=100_000), table).maximum
    return natural <= console.width


def pm(value, low, high, digits: int = 3) -> str:
    """``0.380 ±0.065``: a value and the half-width of its CI (``0.380`` without a CI)."""
    if value is None or value != value:
        return "-"
    if low is None or high is None or low != low or high != high:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ±{(high - low) / 2:.{digits}f}"


def vertical(console: Console, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
             group: int | None = 0, label: int = 1) -> None:
    """Rows grouped by column ``group`` (None: not grouped); each row is its ``label`` column, then
    ``header value`` pairs."""
    width = max(40, console.width)
    console.print(f"[bold]{escape(title)}[/]", highlight=False)
    current = None
    for row in rows:
        if group is not None and row[group] != current:
            current = row[group]
            console.print(f"[bold]{escape(str(current))}[/]", highlight=False)
        rest = [f"{h} {v}" if h else str(v) for i, (h, v) in enumerate(zip(headers, row)) if i not in (group, label) and str(v)]
        body = f"{row[label]}: " + ", ".join(rest)
        for line in textwrap.wrap(body, width=width - 2, subsequent_indent="    ", break_long_words=False,
                                  break_on_hyphens=False):
            console.print("  " + escape(line), highlight=False, soft_wrap=True)


def print_fitted(console: Console, tables: Sequence[Table], title: str, headers: Sequence[str],
                 rows: Sequence[Sequence[str]], group: int | None = 0, label: int = 1) -> None:
    """The first of ``tables`` (widest first) that fits, else the vertical form of ``rows``."""
    for table in tables:
        if fits(console, table):
            console.print(table)
            return
    vertical(console, title, headers, rows, group, label)


def print_table(console: Console, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
                short: Sequence[str] | None = None, left: int = 1, group: int | None = None, label: int = 0) -> None:
    """``rows`` as a boxed table with ``headers`` if it fits; else with the ``short`` headers and a light
    box; else vertically. The first ``left`` columns are left-aligned (names), the rest right-aligned
    (numbers). Cells may hold rich markup; names are escaped by the caller."""
    from rich import box

    tables = []
    for names, style in ((headers, box.HEAVY_HEAD), (short or headers, box.SIMPLE_HEAD)):
        t = Table(title=title, box=style)
        for i, h in enumerate(names):
            t.add_column(h, justify="left" if i < left else "right", no_wrap=True)
        for r in rows:
            t.add_row(*r)
        tables.append(t)
    names = list(short or headers)
    plain = [[Text.from_markup(str(c)).plain for c in r] for r in rows]
    print_fitted(console, tables, title, names, plain, group, label)
