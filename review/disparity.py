"""Group disparities of a run's decisions (fairlearn MetricFrame), flagged by the four-fifths rule."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

# What the review compares between groups, per overdue loan.
DECISION_METRICS: dict[str, str] = {
    "queued": "share of overdue loans queued for contact",
    "field_visit": "share recommended a field visit (the most intrusive channel)",
    "contacts_30d": "outbound contacts in the last 30 days per loan (contact intensity)",
    "suppressed": "share held back by a contact rule",
    "p_pay": "mean predicted propensity to pay (30 days)",
}


def loan_outcomes(
    features: pd.DataFrame, dispositions: pd.DataFrame, queue: pd.DataFrame, p_pay: pd.Series
) -> pd.DataFrame:
    """One row per overdue loan with the decision metrics (see :data:`DECISION_METRICS`)."""
    disposition = features["loan_id"].map(dispositions.set_index("loan_id")["disposition"])
    channel = features["loan_id"].map(queue.set_index("loan_id")["recommended_channel"])
    return pd.DataFrame(
        {
            "loan_id": features["loan_id"].to_numpy(),
            "queued": (disposition == "queued").to_numpy(dtype=bool),
            "field_visit": (channel == "field_visit").fillna(False).to_numpy(dtype=bool),
            "contacts_30d": features["n_outbound_contacts_30d"].astype("float64").to_numpy(),
            "suppressed": (disposition == "suppressed").to_numpy(dtype=bool),
            "p_pay": p_pay.reindex(features.index).astype("float64").to_numpy(),
        },
        index=features.index,
    )


def _mean_of_truth(y_true, y_pred) -> float:
    values = np.asarray(y_true, dtype="float64")
    return float(np.nanmean(values)) if values.size and not np.isnan(values).all() else float("nan")


def disparity_table(
    outcomes: pd.DataFrame,
    groups: pd.DataFrame,
    attributes: Sequence[str],
    *,
    bounds: tuple[float, float] = (0.8, 1.25),
    min_group_size: int = 30,
) -> pd.DataFrame:
    """Each metric by group of each attribute, with its ratio to the reference group (the
    largest one) and a flag when the ratio falls outside ``bounds`` (four-fifths rule).

    Groups smaller than ``min_group_size`` are reported but never flagged (too few loans to
    tell a disparity from chance); a ratio to a reference value of 0 is undefined (NaN).
    """
    rows = []
    low, high = bounds
    for attribute in attributes:
        sensitive = groups.loc[outcomes.index, attribute].astype("str")
        sizes = sensitive.value_counts()
        reference = str(sizes.index[0]) if len(sizes) else None
        for metric in DECISION_METRICS:
            frame = MetricFrame(
                metrics=_mean_of_truth,
                y_true=outcomes[metric].astype("float64").to_numpy(),
                y_pred=np.zeros(len(outcomes)),
                sensitive_features=sensitive.to_numpy(),
            )
            by_group = frame.by_group
            base = by_group.get(reference, np.nan)
            for group, value in by_group.items():
                ratio = value / base if base and base == base and base != 0 else np.nan
                size = int(sizes.get(group, 0))
                flagged = bool(size >= min_group_size and ratio == ratio and not (low <= ratio <= high))
                rows.append(
                    {
                        "attribute": attribute,
                        "group": str(group),
                        "loans": size,
                        "metric": metric,
                        "value": float(value),
                        "reference_group": reference,
                        "ratio_to_reference": float(ratio),
                        "flagged": flagged,
                    }
                )
    columns = [
        "attribute",
        "group",
        "loans",
        "metric",
        "value",
        "reference_group",
        "ratio_to_reference",
        "flagged",
    ]
    return pd.DataFrame(rows, columns=columns)
