"""What the production flows return: typed results the CLI, the benches and the tests read.

``train_flow`` returns a :class:`TrainResult` (the propensity model's part, the best-channel
model's part and the promotion gate's decisions); ``backfill_flow`` a :class:`BackfillResult`.
Both flows import this module and not one another. :meth:`TrainResult.to_dict` is the flat
document the training summary (review/run_summary.py) renders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from monitoring.outcomes import BackfillFacts
from pipelines.promotion import PromotionDecision


@dataclass(frozen=True)
class PropensityTraining:
    """The propensity model a training run registered, and what it was judged and trained on."""

    model: str  # the registered version's label, "<name>/<version>"
    mlflow_run_id: str
    metrics: dict[str, float]  # out-of-time metrics and the report's
    data: dict  # the rows, labels and inputs it learnt from (models.training's data summary)
    fairness: dict  # performance by group and the proxy check (the run's fairness document)
    out_of_time_plan: str
    search_run_id: str | None  # the hyperparameter search's run, when one ran
    lightgbm: dict  # the parameters it trained with (the search's best, when one ran)


@dataclass(frozen=True)
class ChannelTraining:
    """The best-channel model a training run registered, or why the history could not teach one
    (the queue then values channels by the stated prior)."""

    model: str | None  # the registered version's label; None when not fitted
    not_fitted: str | None  # why no model was fitted; None when one was
    metrics: dict[str, float]
    treatments: list[dict]  # the sampled response rows per treatment


@dataclass(frozen=True)
class TrainResult:
    """A training run: both models, the promotion gate's decision for each, and its inputs."""

    as_of: dt.date
    propensity: PropensityTraining
    channel: ChannelTraining
    promotion: tuple[PromotionDecision, ...]
    tracking_uri: str
    input_rows: dict[str, int]  # rows per validated input table
    validation: dict  # the input validation's summary
    timings: dict[str, float]  # seconds per stage

    def to_dict(self) -> dict:
        """The flat JSON document of the run (the keys the training summary reads)."""
        propensity, channel = self.propensity, self.channel
        return {
            "as_of": str(self.as_of),
            "model": propensity.model,
            "channel_model": channel.model,
            "channel_model_not_fitted": channel.not_fitted,
            "channel_metrics": channel.metrics,
            "treatments": channel.treatments,
            "mlflow_run_id": propensity.mlflow_run_id,
            "tracking_uri": self.tracking_uri,
            "metrics": propensity.metrics,
            "data": propensity.data,
            "input_rows": self.input_rows,
            "validation": self.validation,
            "fairness": propensity.fairness,
            "promotion": [decision.to_dict() for decision in self.promotion],
            "search_run_id": propensity.search_run_id,
            "out_of_time_plan": propensity.out_of_time_plan,
            "lightgbm": propensity.lightgbm,
            "timings": self.timings,
        }


@dataclass(frozen=True)
class BackfillResult:
    """A backfill: its report (tables, facts, metrics), the files written and the MLflow run."""

    tables: dict[str, pd.DataFrame]
    facts: BackfillFacts
    metrics: dict[str, float]
    files: dict[str, str]  # file name -> path
    out: str  # the folder the reports were written to
    mlflow_run_id: str
