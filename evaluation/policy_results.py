"""What a policy evaluation returns: the results tables and the typed facts of the run.

The facts are written as ``policy_evaluation.json`` and logged to MLflow as the same document
(:meth:`PolicyEvaluationFacts.to_dict`); the CLI and the benches read them as attributes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class EvaluationSeeds:
    """Every seed the run drew from: the same seeds give the same book, luck and decisions."""

    simulation: int
    random_policy: int
    oracle: int
    decisions_salt: str


@dataclass(frozen=True)
class SimulatedBook:
    """The simulated book every policy started from and how far it was run forward."""

    n_loans: int
    as_of: dt.date
    horizon_days: int


@dataclass(frozen=True)
class PairedComparison:
    """The engine's net recovery minus another policy's, paired within each future."""

    mean_difference: float
    standard_error: float
    ahead_in_futures: int  # futures in which the engine came out ahead
    futures: int


@dataclass(frozen=True)
class ControlGroup:
    """The engine's control group, and whether every policy left the same loans alone."""

    share: float
    period_days: int
    left_alone_by_every_policy: bool


@dataclass(frozen=True)
class EvaluatedModels:
    """The models the engine ran with: out-of-time AUCs and the IPW diagnostics of the
    best-channel model."""

    propensity_test_auc: float
    channel_test_auc_with_ipw: float
    channel_test_auc_without_ipw: float
    ipw: dict[str, float]


@dataclass(frozen=True)
class PolicyEvaluationFacts:
    """The settings and paired results of a policy evaluation (``policy_evaluation.json``)."""

    seeds: EvaluationSeeds
    book: SimulatedBook
    futures: int
    engine_vs: dict[str, PairedComparison]  # other policy -> the engine's paired gain over it
    control_group: ControlGroup
    capacity_per_day: dict[str, int]
    channel_cost: dict[str, float]
    min_days_between: dict[str, int]
    models: EvaluatedModels
    # Model name -> Qini / uplift at k on the engine's randomised units (pooled and per channel).
    uplift_on_randomised_units: dict[str, dict[str, float]]
    timings_seconds: dict[str, float]
    # The engine with treatments (offers, referrals) minus the engine without, paired per future
    # (None when either was not run); mean_difference > 0: treatments recovered more, net.
    treatments_gain: PairedComparison | None = None

    def to_dict(self) -> dict:
        """The facts as a JSON document, in field order (the book's date as ``YYYY-MM-DD``)."""
        document = dataclasses.asdict(self)
        document["book"]["as_of"] = str(self.book.as_of)
        return document


@dataclass(frozen=True)
class PolicyEvaluationResult:
    """A policy evaluation: the results table, money recovered per day, the facts, the files
    written (name -> path) and the MLflow run (None when not logged)."""

    table: pd.DataFrame
    daily: pd.DataFrame
    facts: PolicyEvaluationFacts
    files: dict[str, str]
    mlflow_run_id: str | None
