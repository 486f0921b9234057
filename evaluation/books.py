"""Simulated books as a lender's export: the six input tables written to files (`recover
simulate`, `recover demo`), and the simulator's settings a command's options choose."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from recover.config import Config
from simulation import SimulationConfig, simulate_book, simulation_config, write_book
from simulation.corruption import corrupt_tables


def book_settings(
    config: Config, *, loans: int | None = None, seed: int | None = None, as_of: dt.date | None = None
) -> SimulationConfig:
    """The config's simulated book with the given number of loans, seed and as-of (each None
    keeps the config's)."""
    overrides = {k: v for k, v in {"n_loans": loans, "seed": seed, "as_of": as_of}.items() if v is not None}
    return simulation_config(config.simulation, **overrides)


@dataclass(frozen=True)
class WrittenBook:
    """A simulated book on disk: its settings, the rows and file of each input table, the
    corruption log when rows were damaged (else None), and the seconds it took."""

    settings: SimulationConfig
    rows: dict[str, int]
    paths: dict[str, Path]
    corruption: pd.DataFrame | None
    seconds: float


def write_simulated_book(
    config: Config,
    out: Path,
    *,
    loans: int | None = None,
    seed: int | None = None,
    as_of: dt.date | None = None,
    fmt: Literal["parquet", "csv"] = "parquet",
    corrupt: float = 0.0,
) -> WrittenBook:
    """Simulate a book (see :func:`book_settings`) and write its six input tables to ``out``
    and its ground truth to ``out/truth``. ``corrupt`` > 0 damages that share of payment,
    interaction and installment rows the way a broken export does, logged in the truth as
    ``corruption_log``; the tables are then written as CSV, since damaged values cannot be
    stored in typed Parquet columns."""
    settings = book_settings(config, loans=loans, seed=seed, as_of=as_of)
    started = time.perf_counter()
    book = simulate_book(settings)
    log = None
    if corrupt > 0:
        damaged, log = corrupt_tables(book.tables, corrupt, seed=settings.seed, as_of=settings.as_of)
        book = dataclasses.replace(book, tables=damaged, truth={**book.truth, "corruption_log": log})
        fmt = "csv"
    paths = write_book(book, out, fmt=fmt)
    return WrittenBook(
        settings=settings,
        rows={name: len(frame) for name, frame in book.tables.items()},
        paths={name: paths[name] for name in book.tables},
        corruption=log,
        seconds=time.perf_counter() - started,
    )
