"""Fixtures of the simulator tests: one mid-sized book per session, shared read-only."""

from __future__ import annotations

import pandas as pd
import pytest

from simulation import SimulatedBook, SimulationConfig, simulate_book

# Big enough for the directional/statistical checks, small enough to build in ~2 s.
SIM_BOOK_CONFIG = SimulationConfig(n_loans=3000, seed=11, truth_mc_replicates=8)
EVENT_TIME_COLUMN = {"payments": "paid_at", "interactions": "occurred_at"}


@pytest.fixture(scope="session")
def sim_config() -> SimulationConfig:
    return SIM_BOOK_CONFIG


@pytest.fixture(scope="session")
def sim_book(sim_config: SimulationConfig) -> SimulatedBook:
    return simulate_book(sim_config)


def local_clock(tables: dict[str, pd.DataFrame], events: pd.DataFrame, column: str) -> pd.Series:
    """Each event's wall-clock time (naive) in its borrower's time zone."""
    borrower = events["loan_id"].map(tables["loans"].set_index("loan_id")["borrower_id"])
    zone = borrower.map(tables["borrowers"].set_index("borrower_id")["timezone"])
    clock = pd.Series(pd.NaT, index=events.index, dtype="datetime64[ns]")
    for name, rows in events.groupby(zone).groups.items():
        clock.loc[rows] = events.loc[rows, column].dt.tz_convert(name).dt.tz_localize(None)
    assert clock.notna().all()
    return clock


def local_dates(tables: dict[str, pd.DataFrame], table: str) -> pd.Series:
    """The local calendar date (naive midnight) of every event of ``table``, in its borrower's zone."""
    return local_clock(tables, tables[table], EVENT_TIME_COLUMN[table]).dt.normalize()
