"""Uplift metrics on randomised data: Qini curve, Qini coefficient, uplift at k.

Rows are randomised units: ``treated`` (contacted) or not (control), an outcome, and the
model's predicted uplift. Ranking by predicted uplift, the Qini curve at the top n rows is
    Y_t(n) - Y_c(n) * N_t(n) / N_c(n)
(the extra responders among the treated, against what the control rate would predict), and
the Qini coefficient is the area between that curve and the straight line of random targeting,
normalised by the number of rows (Radcliffe 2007).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pandas as pd


def _ordered(
    outcome: npt.ArrayLike, treated: npt.ArrayLike, score: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    outcome = np.asarray(outcome, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    score = np.asarray(score, dtype=float)
    if not (len(outcome) == len(treated) == len(score)):
        raise ValueError("outcome, treated and score must have the same length")
    # Ties broken by position so the curve is deterministic.
    order = np.lexsort((np.arange(len(score)), -score))
    return outcome[order], treated[order]


def qini_curve(outcome: npt.ArrayLike, treated: npt.ArrayLike, score: npt.ArrayLike) -> pd.DataFrame:
    """Qini curve: for each cut-off n (rows targeted, best predicted uplift first), the
    incremental responders and the random-targeting line."""
    y, t = _ordered(outcome, treated, score)
    n_t = np.cumsum(t)
    n_c = np.cumsum(~t)
    y_t = np.cumsum(y * t)
    y_c = np.cumsum(y * ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = y_t - np.where(n_c > 0, y_c * n_t / n_c, 0.0)
    n = np.arange(1, len(y) + 1)
    total = gain[-1] if len(gain) else 0.0
    return pd.DataFrame({"targeted": n, "qini": gain, "random": total * n / max(len(y), 1)})


def qini_coefficient(outcome: npt.ArrayLike, treated: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area between the Qini curve and random targeting, per row (0 = no better than random)."""
    curve = qini_curve(outcome, treated, score)
    if curve.empty:
        return float("nan")
    return float((curve["qini"] - curve["random"]).mean())


def uplift_at_k(
    outcome: npt.ArrayLike, treated: npt.ArrayLike, score: npt.ArrayLike, k: float = 0.3
) -> float:
    """Response rate of treated minus control among the top ``k`` share by predicted uplift."""
    if not 0 < k <= 1:
        raise ValueError("k is a share in (0, 1]")
    y, t = _ordered(outcome, treated, score)
    top = max(int(round(k * len(y))), 1)
    y, t = y[:top], t[:top]
    if not t.any() or t.all():
        return float("nan")
    return float(y[t].mean() - y[~t].mean())


def uplift_report(
    outcome: npt.ArrayLike,
    treated: npt.ArrayLike,
    score: npt.ArrayLike,
    *,
    ks: Iterable[float] = (0.1, 0.3, 0.5),
) -> dict[str, float]:
    """Qini coefficient, uplift at each k, and the overall treated-minus-control difference."""
    outcome = np.asarray(outcome, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    report = {
        "rows": float(len(outcome)),
        "treated": float(treated.sum()),
        "control": float((~treated).sum()),
        "qini_coefficient": qini_coefficient(outcome, treated, score),
        "average_uplift": float(outcome[treated].mean() - outcome[~treated].mean())
        if treated.any() and (~treated).any()
        else float("nan"),
    }
    for k in ks:
        report[f"uplift_at_{int(round(k * 100))}pct"] = uplift_at_k(outcome, treated, score, k)
    return report
