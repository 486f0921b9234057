"""Synthetic loan-book simulator for the recover engine.

Generates borrowers, loans, repayment schedules, payments, collection
interactions, account flags and the plans and settlements offered (``arrangements``)
for a lender's collections department,
deterministically for a seed, together with ground truth (latent borrower
traits, the state at ``as_of``, counterfactual pay probabilities and what
happens afterwards).

    from simulation import SimulationConfig, simulate_book, write_book
    book = simulate_book(SimulationConfig(n_loans=5_000, seed=7))
    write_book(book, Path("data/sim"))
"""

from simulation.book import (
    TABLE_NAMES,
    TRUTH_NAMES,
    HistoryRun,
    SimulatedBook,
    estimate_pay_probabilities,
    observed_tables,
    run_history,
    simulate_book,
    write_book,
)
from simulation.config import SimulationConfig, simulation_config
from simulation.engine import (
    ContactPolicy,
    Contacts,
    DayEvents,
    EventLog,
    LoanBookSimulator,
    OfferPolicy,
    Offers,
    SimulationSeeds,
)
from simulation.policies import DailyCapacity, HistoricalPolicy, NoContactPolicy

__all__ = [
    "TABLE_NAMES",
    "TRUTH_NAMES",
    "ContactPolicy",
    "Contacts",
    "DailyCapacity",
    "DayEvents",
    "EventLog",
    "HistoricalPolicy",
    "HistoryRun",
    "LoanBookSimulator",
    "NoContactPolicy",
    "OfferPolicy",
    "Offers",
    "SimulatedBook",
    "SimulationConfig",
    "simulation_config",
    "SimulationSeeds",
    "estimate_pay_probabilities",
    "observed_tables",
    "run_history",
    "simulate_book",
    "write_book",
]
