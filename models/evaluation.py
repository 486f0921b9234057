"""Out-of-time evaluation metrics for the propensity model and its heuristic baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score


def expected_calibration_error(y_true, p_pred, n_bins: int = 10) -> float:
    """Mean |observed - predicted| over equal-width probability bins, weighted by bin size."""
    y_true = np.asarray(y_true, dtype=float)
    p_pred = np.asarray(p_pred, dtype=float)
    bins = np.minimum((p_pred * n_bins).astype(int), n_bins - 1)
    error = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        error += in_bin.mean() * abs(y_true[in_bin].mean() - p_pred[in_bin].mean())
    return float(error)


def classification_metrics(y_true, p_pred) -> dict[str, float]:
    """AUC, Brier score, log loss, calibration error and base rate of one block."""
    y_true = np.asarray(y_true)
    p_pred = np.clip(np.asarray(p_pred, dtype=float), 1e-6, 1 - 1e-6)
    return {
        "auc": float(roc_auc_score(y_true, p_pred)),
        "brier": float(brier_score_loss(y_true, p_pred)),
        "log_loss": float(log_loss(y_true, p_pred, labels=[0, 1])),
        "ece": expected_calibration_error(y_true, p_pred),
        "pay_rate": float(y_true.mean()),
        "mean_p_pay": float(p_pred.mean()),
        "rows": float(len(y_true)),
    }


def days_past_due_heuristic(features: pd.DataFrame) -> np.ndarray:
    """The classic collections heuristic: the fewer days past due, the likelier to pay."""
    return -features["days_past_due"].to_numpy(dtype=float)


def heuristic_auc(features: pd.DataFrame, y_true) -> float:
    """Out-of-time AUC of the days-past-due heuristic on the same rows."""
    return float(roc_auc_score(np.asarray(y_true), days_past_due_heuristic(features)))
