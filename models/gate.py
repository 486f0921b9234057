"""The promotion gate: a challenger replaces the champion only when it is no worse on the same
out-of-time evidence.

Pure functions: the evidence is a frame of labelled rows (the challenger's out-of-time test
block, logged with its MLflow run), both models score the same rows, and the gate compares
their metrics under the tolerances and absolute limits of ``promotion`` in the config. The
adapter that loads models, logs the table and moves the alias is :mod:`pipelines.promote`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.evaluation import classification_metrics, recovery_captured
from review.performance import group_performance

# Direction of each metric: +1 higher is better, -1 lower is better.
DIRECTION: dict[str, int] = {
    "auc": 1,
    "brier": -1,
    "ece": -1,
    "recovery_captured_at_capacity": 1,
    "group_auc_gap": -1,
    "worst_group_ece": -1,
}
GATE_COLUMNS = ["metric", "champion", "challenger", "difference", "rule", "passed"]


@dataclass(frozen=True)
class GateRules:
    """How much worse than the champion a challenger may be per metric (``tolerance``) and the
    absolute limits it must meet (``limit``: a ceiling for lower-is-better metrics)."""

    tolerance: Mapping[str, float]
    limit: Mapping[str, float]


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict and its table (one row per metric)."""

    passed: bool
    table: pd.DataFrame
    verdict: str

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "verdict": self.verdict,
            "table": self.table.replace({np.nan: None}).to_dict("records"),
        }


def fairness_evidence(
    y_true, p_pay, groups: pd.DataFrame, attributes: Sequence[str], min_group_size: int
) -> dict[str, float]:
    """The review report's model-fairness figures: the widest gap in AUC between two groups of
    one attribute, and the worst calibration error of any group large enough to be judged."""
    table = group_performance(y_true, p_pay, groups, attributes, min_group_size)
    judged = table[table["rows"] >= min_group_size]
    gaps = judged.dropna(subset=["auc"]).groupby("attribute")["auc"].agg(lambda auc: auc.max() - auc.min())
    return {
        "group_auc_gap": float(gaps.max()) if len(gaps) else float("nan"),
        "worst_group_ece": float(judged["calibration_error"].max()) if len(judged) else float("nan"),
    }


def propensity_evidence(
    model,
    block: pd.DataFrame,
    *,
    capacity: int,
    attributes: Sequence[str],
    min_group_size: int,
) -> dict[str, float]:
    """AUC, Brier, calibration error, recovery captured at the daily capacity and the fairness
    figures of a propensity model on labelled snapshot rows; each reviewed attribute is a
    ``group_<attribute>`` column of ``block`` (:func:`with_group_columns`)."""
    p_pay = model.predict_proba(block)[:, 1]
    metrics = classification_metrics(block["label"], p_pay)
    evidence = {key: metrics[key] for key in ("auc", "brier", "ece")}
    evidence["recovery_captured_at_capacity"] = recovery_captured(block, p_pay, capacity)
    groups = pd.DataFrame({name: block[f"{GROUP_PREFIX}{name}"] for name in attributes}, index=block.index)
    evidence.update(fairness_evidence(block["label"], p_pay, groups, attributes, min_group_size))
    return evidence


GROUP_PREFIX = "group_"


def with_group_columns(block: pd.DataFrame, groups: pd.DataFrame, attributes: Sequence[str]) -> pd.DataFrame:
    """``block`` with each attribute of ``groups`` (same index) as a ``group_<attribute>``
    column: the evidence carries the groups it is judged on, never as a model input."""
    return block.assign(**{f"{GROUP_PREFIX}{name}": groups[name].to_numpy() for name in attributes})


def channel_evidence(model, block: pd.DataFrame) -> dict[str, float]:
    """AUC, Brier and calibration error of the best-channel model's response prediction (each
    row under its own treatment) on labelled response rows."""
    metrics = classification_metrics(block["label"], model.predict_proba(block)[:, 1])
    return {key: metrics[key] for key in ("auc", "brier", "ece")}


def _rule_text(metric: str, tolerance: float | None, limit: float | None) -> str:
    parts = []
    if tolerance is not None:
        sign, word = ("-", ">=") if DIRECTION[metric] > 0 else ("+", "<=")
        parts.append(f"challenger {word} champion {sign} {tolerance:g}")
    if limit is not None:
        parts.append(f"challenger {'>=' if DIRECTION[metric] > 0 else '<='} {limit:g}")
    return " and ".join(parts) or "reported"


def promotion_gate(
    challenger: Mapping[str, float], champion: Mapping[str, float] | None, rules: GateRules
) -> GateResult:
    """Compare the challenger's evidence with the champion's on the same rows.

    A metric passes when the challenger is no worse than the champion by more than its
    tolerance and meets its absolute limit; a metric NaN for either model (e.g. no group large
    enough to judge) is shown and not judged. Without a champion there is nothing to compare:
    the gate passes (the first version must serve) and the table still shows the limits.
    """
    rows = []
    for metric, value in challenger.items():
        if metric not in DIRECTION:
            raise KeyError(f"the gate has no rule for metric {metric!r}")
        tolerance = rules.tolerance.get(metric)
        limit = rules.limit.get(metric)
        best = champion.get(metric, np.nan) if champion is not None else np.nan
        direction = DIRECTION[metric]
        ok = True
        if np.isfinite(value):
            if tolerance is not None and np.isfinite(best):
                ok &= bool(direction * (value - best) >= -tolerance - 1e-12)
            if limit is not None and champion is not None:
                ok &= bool(direction * (value - limit) >= -1e-12)
        rows.append(
            {
                "metric": metric,
                "champion": best,
                "challenger": value,
                "difference": value - best,
                "rule": _rule_text(metric, tolerance, limit),
                "passed": ok,
            }
        )
    table = pd.DataFrame(rows, columns=GATE_COLUMNS)
    if champion is None:
        return GateResult(True, table, "no champion yet: the first version becomes champion")
    failed = table.loc[~table["passed"], "metric"].tolist()
    if failed:
        return GateResult(
            False, table, f"refused: worse than the champion or outside limits on {', '.join(failed)}"
        )
    return GateResult(True, table, "passed: no worse than the champion on any metric")


__all__ = [
    "DIRECTION",
    "GateResult",
    "GateRules",
    "channel_evidence",
    "fairness_evidence",
    "promotion_gate",
    "propensity_evidence",
    "with_group_columns",
]
