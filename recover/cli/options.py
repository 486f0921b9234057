"""Options several commands share, and the parsing of their values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        help="A folder with the six tables, a database URL (postgresql://, sqlite:///, duckdb:///) or 'store'.",
    ),
]
ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", help="YAML merged over configs/default.yaml.")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own logs.")]
ClusterOption = Annotated[
    Optional[str],
    typer.Option(
        "--cluster",
        help="Dask scheduler (e.g. tcp://scheduler:8786) to run the per-loan work and the training on "
        "(default: cluster.address; none: in this process).",
    ),
]
PolicyOption = Annotated[
    Optional[str],
    typer.Option(
        "--policy",
        help="Contact-policy rule pack (us_reg_f, india_rbi, uk_fca, or a YAML file); "
        "default from the config. Region overrides in the config still apply.",
    ),
]
AsOfFilterOption = Annotated[
    Optional[str], typer.Option("--as-of", help="Quarantine events on or after this date.")
]
_RUN_DATE_HELP = "Run date D (YYYY-MM-DD): history strictly before D."
AsOfOption = Annotated[str, typer.Option("--as-of", help=_RUN_DATE_HELP)]
# `recover score` takes either --as-of or --as-of-range.
OptionalAsOfOption = Annotated[Optional[str], typer.Option("--as-of", help=_RUN_DATE_HELP)]
# The book `recover simulate` and `recover demo` write.
LoansOption = Annotated[Optional[int], typer.Option("--loans", help="Number of loans.")]
SeedOption = Annotated[Optional[int], typer.Option("--seed", help="Random seed.")]
# The book the simulation flows (evaluate-policy, simulate-month) run forward.
BookLoansOption = Annotated[Optional[int], typer.Option("--loans", help="Loans in the simulated book.")]
BookSeedOption = Annotated[Optional[int], typer.Option("--seed", help="Seed of the simulated book.")]


def parse_date(value: str) -> dt.date:
    """A YYYY-MM-DD option's date; a usage error (exit 2) otherwise."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def parse_optional_date(value: str | None) -> dt.date | None:
    """:func:`parse_date` of an optional date option (None when not given)."""
    return parse_date(value) if value else None


def config_arg(config_path: Path | None) -> str | None:
    """The --config path as the flows take it (a string; None for the default config)."""
    return str(config_path) if config_path else None
