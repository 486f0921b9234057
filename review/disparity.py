"""Group disparities of a run's decisions, flagged by the four-fifths rule.

Group means are one vectorised group-by per attribute and metric: fairlearn's MetricFrame gives
the same figures (a test holds them equal) but converts every row in Python, which cost most of
the review at a million overdue loans.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, ttest_ind

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


def group_means(values: pd.Series, sensitive: pd.Series) -> pd.Series:
    """The mean of ``values`` (missing skipped; NaN for a group with none) per group of
    ``sensitive``, groups in sorted order, as fairlearn's ``MetricFrame.by_group`` of a mean."""
    means = values.groupby(sensitive.to_numpy(), sort=True).mean()
    means.index = means.index.astype("str")
    return means.astype("float64")


def disparity_table(
    outcomes: pd.DataFrame,
    groups: pd.DataFrame,
    attributes: Sequence[str],
    *,
    bounds: tuple[float, float] = (0.8, 1.25),
    min_group_size: int = 30,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Each metric by group of each attribute, with its ratio to the reference group (the
    largest one), whether that ratio falls outside ``bounds`` (four-fifths rule), and the
    p-value of the difference.

    A disparity is flagged when it is both material (outside the bounds) and unlikely to be
    chance (Benjamini-Hochberg adjusted p < ``alpha`` over the whole table) in a group of at
    least ``min_group_size`` loans: with rare events (a few field visits a day) ratios swing
    widely on a handful of loans. A ratio to a reference value of 0 is undefined (NaN).
    """
    rows = []
    low, high = bounds
    for attribute in attributes:
        sensitive = groups.loc[outcomes.index, attribute].astype("str")
        sizes = sensitive.value_counts()
        reference = str(sizes.index[0]) if len(sizes) else None
        codes, labels = pd.factorize(sensitive)
        members = {str(label): codes == k for k, label in enumerate(labels)}
        nobody = np.zeros(len(outcomes), dtype=bool)
        for metric in DECISION_METRICS:
            values = outcomes[metric].astype("float64")
            by_group = group_means(values, sensitive)
            base = by_group.get(reference, np.nan)
            reference_values = values[members.get(str(reference), nobody)].dropna()
            for group, value in by_group.items():
                ratio = value / base if base and base == base and base != 0 else np.nan
                size = int(sizes.get(group, 0))
                p_value = _difference_p_value(values[members[str(group)]].dropna(), reference_values)
                outside = bool(ratio == ratio and not (low <= ratio <= high))
                rows.append(
                    {
                        "attribute": attribute,
                        "group": str(group),
                        "loans": size,
                        "metric": metric,
                        "value": float(value),
                        "reference_group": reference,
                        "ratio_to_reference": float(ratio),
                        "p_value": p_value,
                        "outside_bounds": outside,
                        "eligible": size >= min_group_size,
                    }
                )
    table = pd.DataFrame(rows, columns=[*DISPARITY_COLUMNS[:-3], "outside_bounds", "eligible"])
    # Dozens of groups x metrics are tested each night: the Benjamini-Hochberg adjustment keeps
    # the expected share of false alarms among the flags at ``alpha``.
    tested = table["p_value"].notna()
    table["p_adjusted"] = np.nan
    if tested.any():
        table.loc[tested, "p_adjusted"] = false_discovery_control(table.loc[tested, "p_value"].to_numpy())
    table["flagged"] = table["outside_bounds"] & table["eligible"] & (table["p_adjusted"] < alpha)
    return table[DISPARITY_COLUMNS]


DISPARITY_COLUMNS = [
    "attribute",
    "group",
    "loans",
    "metric",
    "value",
    "reference_group",
    "ratio_to_reference",
    "p_value",
    "p_adjusted",
    "outside_bounds",
    "flagged",
]


def _difference_p_value(group: pd.Series, reference: pd.Series) -> float:
    """Two-sided Welch t-test of the difference in means (for shares, the same test on 0/1
    values): small groups and rare events give large p-values, so chance is not flagged."""
    if len(group) < 2 or len(reference) < 2:
        return float("nan")
    if group.var() == 0 and reference.var() == 0:
        return 1.0 if group.mean() == reference.mean() else 0.0
    return float(ttest_ind(group, reference, equal_var=False).pvalue)
