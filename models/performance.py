"""Model performance by protected group (training time): AUC and calibration error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import roc_auc_score

from models.evaluation import expected_calibration_error


def group_performance(
    y_true: npt.ArrayLike,
    p: npt.ArrayLike,
    groups: pd.DataFrame,
    attributes: Sequence[str],
    min_group_size: int = 30,
) -> pd.DataFrame:
    """AUC, expected calibration error, mean prediction and observed rate per group of each
    attribute (AUC is NaN for a group with one class or fewer than ``min_group_size`` rows)."""
    y_true = pd.Series(np.asarray(y_true), index=groups.index)
    p = pd.Series(np.asarray(p, dtype="float64"), index=groups.index)
    rows = []
    for attribute in attributes:
        for group, index in groups.groupby(attribute, observed=True).groups.items():
            y, q = y_true.loc[index], p.loc[index]
            enough = len(y) >= min_group_size and y.nunique() == 2
            rows.append(
                {
                    "attribute": attribute,
                    "group": str(group),
                    "rows": int(len(y)),
                    "auc": float(roc_auc_score(y, q)) if enough else float("nan"),
                    "calibration_error": expected_calibration_error(y, q),
                    "mean_prediction": float(q.mean()),
                    "observed_rate": float(y.mean()),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "attribute",
            "group",
            "rows",
            "auc",
            "calibration_error",
            "mean_prediction",
            "observed_rate",
        ],
    )
