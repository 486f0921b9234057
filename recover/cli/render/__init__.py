"""Everything the command line prints, one module per command group; each reads the results of
its flows (the validation result, the train flow's result and the promotion decisions, the
night's manifest, the policy evaluation's and the backfill's results), so a change to a
result's shape is made here. This module: the consoles and the table helpers they share.

Like the command modules, the renderers import pandas, MLflow and the flows' modules inside
functions only: they run after :func:`recover.cli.runtime.setup`, and `recover --help` loads
none of them.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

console = Console()
# Error messages carry paths and rule names: never break them mid-word to fit a terminal width.
errors = Console(stderr=True, soft_wrap=True)
# Tables of model versions and gate results stay readable when output is not a terminal (80).
WIDE = 120


def wide_console() -> Console:
    """A console at least WIDE columns wide, made at call time so captured output is honoured."""
    return Console(width=max(console.width, WIDE))


def print_rows(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """A compact table (fits 80 columns): first column left and wrapping, numbers right."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(headers[0], overflow="fold")
    for header in headers[1:]:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def rate_se(value: float, se: float, spec: str) -> str:
    """``value ± se`` in ``spec`` (the standard error unsigned); empty for a missing value."""
    if value != value:
        return ""
    return f"{value:{spec}}" if se != se else f"{value:{spec}} ± {se:{spec.lstrip('+')}}"
