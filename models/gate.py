"""The promotion gate: a challenger replaces the champion only when it is no worse on the same
out-of-time evidence, and a propensity model only when it beats its baselines there.

Pure functions: the evidence is a frame of labelled rows (the challenger's out-of-time test
block, logged with its MLflow run), both models score the same rows, and the gate compares
their metrics under the tolerances and absolute limits of ``promotion`` in the config. A
propensity model must also beat, on those rows, the days-past-due heuristic (``days_past_due``
is a column of the block) and a plain LightGBM fitted with it (its test-block predictions are
the block's ``baseline_plain_lightgbm`` column): ``auc_over_dpd_heuristic`` and
``auc_over_plain_lightgbm`` are the model's AUC minus the baseline's, floored by their limits.
The adapter that loads models, logs the table and moves the alias is :mod:`pipelines.promotion`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import roc_auc_score

from models.evaluation import ProbabilityModel, classification_metrics, heuristic_auc, recovery_captured
from models.performance import group_performance

# Direction of each metric: +1 higher is better, -1 lower is better.
DIRECTION: dict[str, int] = {
    "auc": 1,
    "auc_over_dpd_heuristic": 1,
    "auc_over_plain_lightgbm": 1,
    "brier": -1,
    "ece": -1,
    "recovery_captured_at_capacity": 1,
    "group_auc_gap": -1,
    "worst_group_ece": -1,
}
GATE_COLUMNS = ["metric", "champion", "challenger", "difference", "rule", "passed"]
# The baselines a propensity model must beat out of time: gate metric (its AUC minus the
# baseline's on the evidence) -> what the baseline is, as sentences name it.
BASELINES: dict[str, str] = {
    "auc_over_dpd_heuristic": "the days-past-due heuristic",
    "auc_over_plain_lightgbm": "a plain LightGBM (library defaults, no monotone constraints)",
}
BASELINE_PREFIX = "baseline_"
# The evidence block's column of the plain LightGBM baseline's p_pay (fitted with the model).
PLAIN_LIGHTGBM_COLUMN = f"{BASELINE_PREFIX}plain_lightgbm"


@dataclass(frozen=True)
class GateRules:
    """How much worse than the champion a challenger may be per metric (``tolerance``) and the
    absolute limits it must meet (``limit``: a ceiling for lower-is-better metrics)."""

    tolerance: Mapping[str, float]
    limit: Mapping[str, float]


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict, its table (one row per metric) and its warnings: each baseline the
    challenger does not beat by its margin, or that the evidence cannot measure, whether or not
    that refused it (without a champion nothing refuses the first version, and it says so)."""

    passed: bool
    table: pd.DataFrame
    verdict: str
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "verdict": self.verdict,
            "warnings": list(self.warnings),
            "table": self.table.replace({np.nan: None}).to_dict("records"),
        }


def fairness_evidence(
    y_true: npt.ArrayLike,
    p_pay: npt.ArrayLike,
    groups: pd.DataFrame,
    attributes: Sequence[str],
    min_group_size: int,
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
    model: ProbabilityModel,
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
    evidence = {"auc": metrics["auc"]}
    evidence.update(baseline_evidence(block, metrics["auc"]))
    evidence.update({key: metrics[key] for key in ("brier", "ece")})
    evidence["recovery_captured_at_capacity"] = recovery_captured(block, p_pay, capacity)
    groups = pd.DataFrame({name: block[f"{GROUP_PREFIX}{name}"] for name in attributes}, index=block.index)
    evidence.update(fairness_evidence(block["label"], p_pay, groups, attributes, min_group_size))
    return evidence


def baseline_evidence(block: pd.DataFrame, auc: float) -> dict[str, float]:
    """``auc`` (a model's on ``block``) minus each baseline's AUC on the same rows: the
    days-past-due heuristic's, and the plain LightGBM's from the block's
    ``baseline_plain_lightgbm`` column (NaN when the block has none: trained before it was
    logged)."""
    y = block["label"].to_numpy()
    plain = (
        float(roc_auc_score(y, block[PLAIN_LIGHTGBM_COLUMN].to_numpy(dtype="float64")))
        if PLAIN_LIGHTGBM_COLUMN in block.columns
        else float("nan")
    )
    return {
        "auc_over_dpd_heuristic": auc - heuristic_auc(block, y),
        "auc_over_plain_lightgbm": auc - plain,
    }


def with_baseline_columns(block: pd.DataFrame, scores: pd.DataFrame | None) -> pd.DataFrame:
    """``block`` with the baselines' predictions (``scores``: ``baseline_*`` columns, the
    block's index) as columns: the evidence carries what the gate judges the model against."""
    if scores is None:
        return block
    return block.assign(**{name: scores[name].reindex(block.index).to_numpy() for name in scores.columns})


def training_baseline_excess(metrics: Mapping[str, float], block: str = "test") -> dict[str, float]:
    """The baseline rows of the gate from a training run's metrics (``<block>_auc`` minus
    ``<block>_heuristic_dpd_auc`` and ``<block>_plain_lightgbm_auc``): on the test block, the
    same figures the gate computes on the run's evidence."""
    auc = metrics.get(f"{block}_auc", float("nan"))
    return {
        "auc_over_dpd_heuristic": auc - metrics.get(f"{block}_heuristic_dpd_auc", float("nan")),
        "auc_over_plain_lightgbm": auc - metrics.get(f"{block}_plain_lightgbm_auc", float("nan")),
    }


def baseline_warnings(excess: Mapping[str, float], margins: Mapping[str, float | None]) -> list[str]:
    """A sentence for each baseline of ``excess`` (gate metric -> AUC over the baseline) that
    the model does not beat by its margin (a missing margin is 0), or that was not measured."""
    sentences = []
    for metric, baseline in BASELINES.items():
        if metric not in excess:
            continue
        value = excess[metric]
        margin = margins.get(metric) or 0.0
        if not np.isfinite(value):
            sentences.append(f"{baseline} was not measured on this evidence ({metric}): not judged")
        elif value < margin - 1e-12:
            sentences.append(
                f"does not beat {baseline} out of time: its AUC minus the baseline's is {value:+.4f}, "
                f"the gate needs >= {margin:g} ({metric})"
            )
    return sentences


GROUP_PREFIX = "group_"


def with_group_columns(block: pd.DataFrame, groups: pd.DataFrame, attributes: Sequence[str]) -> pd.DataFrame:
    """``block`` with each attribute of ``groups`` (same index) as a ``group_<attribute>``
    column: the evidence carries the groups it is judged on, never as a model input."""
    return block.assign(**{f"{GROUP_PREFIX}{name}": groups[name].to_numpy() for name in attributes})


def channel_evidence(model: ProbabilityModel, block: pd.DataFrame) -> dict[str, float]:
    """AUC, Brier and calibration error of the best-channel model's response prediction (each
    row under its own treatment) on labelled response rows."""
    metrics = classification_metrics(block["label"], model.predict_proba(block)[:, 1])
    return {key: metrics[key] for key in ("auc", "brier", "ece")}


def _rule_text(metric: str, tolerance: float | None, limit: float | None) -> str:
    parts = []
    if tolerance is not None:
        sign, word = ("-", ">=") if DIRECTION[metric] > 0 else ("+", "<=")
        parts.append(f"challenger {word} champion {sign} {tolerance:g}")
    if limit is not None and metric in BASELINES:
        parts.append(f"challenger AUC - baseline AUC >= {limit:g}")
    elif limit is not None:
        parts.append(f"challenger {'>=' if DIRECTION[metric] > 0 else '<='} {limit:g}")
    return " and ".join(parts) or "reported"


def promotion_gate(
    challenger: Mapping[str, float], champion: Mapping[str, float] | None, rules: GateRules
) -> GateResult:
    """Compare the challenger's evidence with the champion's on the same rows.

    A metric passes when the challenger is no worse than the champion by more than its
    tolerance and meets its absolute limit; a metric NaN for either model (e.g. no group large
    enough to judge) is shown and not judged. The baseline metrics (``auc_over_*``) have limits
    only: the challenger must beat each baseline by its margin. Without a champion there is
    nothing to compare: the gate passes (the first version must serve), the table still shows
    each limit met or not, and the verdict and warnings say which baseline the first version
    does not beat and which limit it misses.
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
            if limit is not None:
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
    warnings = tuple(baseline_warnings({m: v for m, v in challenger.items() if m in BASELINES}, rules.limit))
    failed = table.loc[~table["passed"], "metric"].tolist()
    short = [metric for metric in failed if metric in BASELINES]
    other = [metric for metric in failed if metric not in BASELINES]
    beaten = " or ".join(BASELINES[metric] for metric in short)
    if champion is None:
        verdict = "no champion yet: the first version becomes champion"
        caveats = [f"it does not beat {beaten} out of time ({', '.join(short)})"] if short else []
        if other:
            caveats.append(f"it is outside the limits on {', '.join(other)}")
        if caveats:
            verdict += ", but " + " and ".join(caveats)
        return GateResult(True, table, verdict, warnings)
    reasons = [f"does not beat {beaten} out of time ({', '.join(short)})"] if short else []
    if other:
        reasons.append(f"worse than the champion or outside limits on {', '.join(other)}")
    if failed:
        return GateResult(False, table, f"refused: {'; '.join(reasons)}", warnings)
    verdict = "passed: no worse than the champion on any metric"
    judged = [m for m in challenger if m in BASELINES]
    if judged and all(rules.limit.get(m) is not None and np.isfinite(challenger[m]) for m in judged):
        verdict += " and beats its baselines"
    return GateResult(True, table, verdict, warnings)


__all__ = [
    "BASELINES",
    "DIRECTION",
    "PLAIN_LIGHTGBM_COLUMN",
    "baseline_evidence",
    "baseline_warnings",
    "GateResult",
    "GateRules",
    "channel_evidence",
    "fairness_evidence",
    "promotion_gate",
    "propensity_evidence",
    "training_baseline_excess",
    "with_baseline_columns",
    "with_group_columns",
]
