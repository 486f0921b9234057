"""Fixtures of the simulator tests: one mid-sized book per session, shared read-only."""

from __future__ import annotations

import pytest

from simulation import SimulatedBook, SimulationConfig, simulate_book

# Big enough for the directional/statistical checks, small enough to build in ~2 s.
SIM_BOOK_CONFIG = SimulationConfig(n_loans=3000, seed=11, truth_mc_replicates=8)


@pytest.fixture(scope="session")
def sim_config() -> SimulationConfig:
    return SIM_BOOK_CONFIG


@pytest.fixture(scope="session")
def sim_book(sim_config: SimulationConfig) -> SimulatedBook:
    return simulate_book(sim_config)
