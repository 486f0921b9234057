"""The propensity-to-pay label: a qualifying payment in the window after a snapshot date."""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from features.accounts import paid_between
from features.point_in_time import UTC, local_midnights

QUALIFYING_RULES = ("min_overdue_or_installment", "amount_overdue", "one_installment")


def qualifying_amount(features: pd.DataFrame, rule: str) -> pd.Series:
    """The amount a loan must pay in the label window to count as paying."""
    if rule == "min_overdue_or_installment":
        # A NumPy ufunc of two Series is a Series; the stubs type np.minimum as an ndarray.
        return cast(pd.Series, np.minimum(features["amount_overdue"], features["installment_amount"]))
    if rule == "amount_overdue":
        return features["amount_overdue"]
    if rule == "one_installment":
        return features["installment_amount"]
    raise ValueError(f"unknown qualifying rule {rule!r}; known: {QUALIFYING_RULES}")


def amount_paid_in_window(
    features: pd.DataFrame, payments: pd.DataFrame, *, window_days: int = 30, timezone: str = UTC
) -> pd.Series:
    """What each row's loan paid in [as_of, as_of + window_days): the money a queue built on
    that date could have recovered (the promotion gate's recovery captured at capacity).

    The window runs from the cut-off of the row's as-of day to the cut-off ``window_days`` later,
    both 00:00 on the lender's clock ``timezone``: it starts exactly where the features stop.
    """
    days = features["as_of"].reset_index(drop=True)
    windows = pd.DataFrame(
        {
            "loan_id": features["loan_id"].reset_index(drop=True),
            "start": local_midnights(days, timezone),
            "end": local_midnights(days + pd.Timedelta(days=window_days), timezone),
        }
    )
    paid = paid_between(payments, windows, "start", "end")
    return pd.Series(paid, index=features.index, name="amount_paid_in_window", dtype="float64")


def pays_qualifying_amount(
    features: pd.DataFrame,
    paid: pd.Series,
    *,
    rule: str = "min_overdue_or_installment",
    tolerance: float = 0.01,
) -> pd.Series:
    """1 where ``paid`` (in the label window) reaches the row's qualifying amount, else 0."""
    needed = qualifying_amount(features, rule).to_numpy()
    return pd.Series(
        (paid.to_numpy() >= needed - tolerance).astype("int64"), index=features.index, name="label"
    )


def label_pays(
    features: pd.DataFrame,
    payments: pd.DataFrame,
    *,
    window_days: int = 30,
    rule: str = "min_overdue_or_installment",
    tolerance: float = 0.01,
    timezone: str = UTC,
) -> pd.Series:
    """1 where the loan paid the qualifying amount in [as_of, as_of + window_days), else 0.

    ``features`` rows carry their own snapshot date in ``as_of``; only payments inside each
    row's window (between cut-offs on the lender's clock ``timezone``) count, so the label never
    overlaps the feature window (strictly before as_of's cut-off).
    """
    paid = amount_paid_in_window(features, payments, window_days=window_days, timezone=timezone)
    return pays_qualifying_amount(features, paid, rule=rule, tolerance=tolerance)
