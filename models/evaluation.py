"""Out-of-time evaluation metrics for the propensity model and its heuristic baseline."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score


class ProbabilityModel(Protocol):
    """A fitted binary classifier as evaluation sees it: P(class) per row, shape (n, 2)."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...


def expected_calibration_error(y_true: npt.ArrayLike, p_pred: npt.ArrayLike, n_bins: int = 10) -> float:
    """Mean |observed - predicted| over equal-width probability bins, weighted by bin size."""
    y_true = np.asarray(y_true, dtype=float)
    p_pred = np.asarray(p_pred, dtype=float)
    if not len(p_pred):
        return float("nan")
    bins = np.minimum((p_pred * n_bins).astype(int), n_bins - 1)
    error = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        error += in_bin.mean() * abs(y_true[in_bin].mean() - p_pred[in_bin].mean())
    return float(error)


def classification_metrics(y_true: npt.ArrayLike, p_pred: npt.ArrayLike) -> dict[str, float]:
    """AUC, Brier score, log loss, calibration error and base rate of one block."""
    y_true = np.asarray(y_true)
    # ndarray.clip is what np.clip calls; the stubs type only the method's result.
    p_pred = np.asarray(p_pred, dtype=float).clip(1e-6, 1 - 1e-6)
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


def heuristic_auc(features: pd.DataFrame, y_true: npt.ArrayLike) -> float:
    """Out-of-time AUC of the days-past-due heuristic on the same rows."""
    return float(roc_auc_score(np.asarray(y_true), days_past_due_heuristic(features)))


def recovery_captured(frame: pd.DataFrame, p_pay: npt.ArrayLike, capacity: int) -> float:
    """Share of the money paid in the label window that the top ``capacity`` loans of each
    snapshot date, ranked by expected recovery (p_pay x qualifying amount), had paid.

    ``frame`` carries ``as_of``, ``amount_overdue``, ``installment_amount`` and
    ``amount_paid_in_window`` (training snapshots). NaN when nothing was paid at all.
    """
    if capacity < 1:
        raise ValueError("capacity must be at least one loan a day")
    expected = np.asarray(p_pay, dtype="float64") * np.minimum(
        frame["amount_overdue"].to_numpy(dtype="float64"),
        frame["installment_amount"].to_numpy(dtype="float64"),
    )
    ranked = pd.DataFrame(
        {
            "as_of": frame["as_of"].to_numpy(),
            "expected": expected,
            "paid": frame["amount_paid_in_window"].to_numpy(),
        }
    )
    # Ties broken by position (stable), so two models with equal scores capture the same money.
    rank = ranked.groupby("as_of")["expected"].rank(method="first", ascending=False)
    total = float(ranked["paid"].sum())
    return float(ranked.loc[rank <= capacity, "paid"].sum() / total) if total > 0 else float("nan")


def decile_table(
    y_true: npt.ArrayLike, p_pay: npt.ArrayLike, amount_paid: npt.ArrayLike | None = None, n_bins: int = 10
) -> pd.DataFrame:
    """Lift and gains by score decile (decile 1 = the highest scores): rows, mean prediction,
    observed pay rate, lift over the overall rate, cumulative share of payers captured and,
    with ``amount_paid``, of money paid."""
    y = np.asarray(y_true, dtype="float64")
    p = np.asarray(p_pay, dtype="float64")
    order = np.argsort(-p, kind="stable")
    decile = np.empty(len(p), dtype="int64")
    decile[order] = np.arange(len(p)) * n_bins // max(len(p), 1) + 1
    frame = pd.DataFrame({"decile": decile, "p": p, "y": y})
    if amount_paid is not None:
        frame["paid"] = np.asarray(amount_paid, dtype="float64")
    grouped = frame.groupby("decile")
    table = pd.DataFrame(
        {"rows": grouped.size(), "mean_p_pay": grouped["p"].mean(), "pay_rate": grouped["y"].mean()}
    )
    overall = y.mean() if len(y) else float("nan")
    table["lift"] = table["pay_rate"] / overall if overall > 0 else float("nan")
    table["cumulative_payers_share"] = grouped["y"].sum().cumsum() / max(y.sum(), 1.0)
    if amount_paid is not None:
        paid = grouped["paid"].sum()
        table["amount_paid"] = paid
        table["cumulative_paid_share"] = paid.cumsum() / max(float(frame["paid"].sum()), 1e-12)
    return table.reset_index()


def calibration_table(y_true: npt.ArrayLike, p_pay: npt.ArrayLike, n_bins: int = 10) -> pd.DataFrame:
    """Observed pay rate against mean prediction in equal-width probability bins (the points of
    a reliability diagram; empty bins omitted)."""
    y = np.asarray(y_true, dtype="float64")
    p = np.asarray(p_pay, dtype="float64")
    which = np.minimum((p * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": which, "p": p, "y": y})
    grouped = frame.groupby("bin")
    table = pd.DataFrame(
        {"rows": grouped.size(), "mean_p_pay": grouped["p"].mean(), "pay_rate": grouped["y"].mean()}
    )
    table.insert(0, "bin_low", table.index / n_bins)
    return table.reset_index(drop=True)


DPD_BUCKETS = (0, 30, 60, 90, 180, np.inf)


def dpd_bucket(days_past_due: npt.ArrayLike) -> pd.Series:
    """Days past due in the buckets collection reports use: 1-30, 31-60, 61-90, 91-180, 181+."""
    labels = ["1-30", "31-60", "61-90", "91-180", "181+"]
    return pd.cut(
        pd.Series(days_past_due, dtype="float64"), bins=list(DPD_BUCKETS), labels=labels, right=True
    )


def segment_metrics(
    frame: pd.DataFrame, y_true: npt.ArrayLike, p_pay: npt.ArrayLike, segments: dict[str, pd.Series]
) -> pd.DataFrame:
    """Out-of-time metrics per segment value (e.g. product, days-past-due bucket, region): rows,
    pay rate, mean prediction, AUC (NaN with one class), Brier and calibration error."""
    y = pd.Series(np.asarray(y_true, dtype="float64"), index=frame.index)
    p = pd.Series(np.asarray(p_pay, dtype="float64"), index=frame.index)
    rows = []
    for segment, values in segments.items():
        values = pd.Series(np.asarray(values), index=frame.index).astype("str")
        for value, index in values.groupby(values).groups.items():
            ys, ps = y.loc[index], p.loc[index]
            rows.append(
                {
                    "segment": segment,
                    "value": value,
                    "rows": int(len(ys)),
                    "pay_rate": float(ys.mean()),
                    "mean_p_pay": float(ps.mean()),
                    "auc": float(roc_auc_score(ys, ps)) if ys.nunique() == 2 else float("nan"),
                    "brier": float(brier_score_loss(ys, ps)),
                    "ece": expected_calibration_error(ys, ps),
                }
            )
    return pd.DataFrame(
        rows, columns=["segment", "value", "rows", "pay_rate", "mean_p_pay", "auc", "brier", "ece"]
    )
