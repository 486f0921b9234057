"""Drift of tonight's features and scores from the champion's reference rows (population
stability index). Pure functions on frames: the flows load the reference and write the table.

A reference (built at training time, logged with the model as :data:`DRIFT_REFERENCE_ARTIFACT`)
holds, per feature and for the score, the bins of the reference rows (the champion's
out-of-time test block: the newest rows it was judged on) and the share of rows in
each: quantile bins for numbers, one bin per category for categories and flags, and always a
bin for missing values (a feed that starts sending nulls is drift too). Tonight's rows are put
in the same bins and compared with

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

(actual: tonight's share, expected: the training share), the usual reading being < 0.1 stable,
0.1-0.25 a moderate shift, > 0.25 a major one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from data_contracts.artifacts import DRIFT_REFERENCE_ARTIFACT

# The champion's training reference, a JSON artifact of its MLflow run.
REFERENCE_FORMAT = 1

# The score's row in the drift table (the calibrated propensity to pay).
SCORE_NAME = "p_pay"

# Shares are floored here before the logarithm: a bin empty on one side would otherwise give an
# infinite PSI, and one stray row in a bin the training rows never reached is not a catastrophe.
# 1e-4 is the customary floor: a bin going from 0 to 1% contributes 0.046, from 0 to 10% 0.69.
SHARE_FLOOR = 1e-4

MISSING_BIN = "missing"
OTHER_BIN = "other/unseen"

DRIFT_COLUMNS = [
    "name",
    "kind",
    "psi",
    "status",
    "top_bin",
    "top_bin_expected",
    "top_bin_actual",
    "top_bin_psi",
    "rows",
    "missing_share",
]

FailOn = Literal["score", "any"]


def _is_categorical(values: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def _as_float(values: pd.Series) -> np.ndarray:
    """Numbers as float64 with NaN for missing (nullable dtypes, pd.NA, text that is no number)."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _as_text(values: pd.Series) -> pd.Series:
    """Categories as text, missing kept as missing (astype(str) alone would turn None into 'None')."""
    present = values.notna().to_numpy()
    return pd.Series(
        np.where(present, values.astype("object").map(str), None), index=values.index, dtype="object"
    )


def _numeric_reference(values: pd.Series, bins: int) -> dict:
    x = _as_float(values)
    n = len(x)
    missing = np.isnan(x)
    finite = x[np.isfinite(x)]
    if finite.size:
        # Inner quantile edges, duplicates dropped: a count that is 0 on 60% of the rows gets one
        # bin for the zeros instead of six empty copies of it; a constant column gets two bins
        # (the constant, and anything above it) so any departure from it shows.
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    else:
        edges = np.array([], dtype="float64")
    counts = np.bincount(np.searchsorted(edges, x[~missing], side="left"), minlength=len(edges) + 1)
    return {
        "kind": "numeric",
        "edges": [float(e) for e in edges],
        "shares": [float(c / n) if n else 0.0 for c in counts],
        "missing": float(missing.sum() / n) if n else 0.0,
        "rows": int(n),
    }


def _categorical_reference(values: pd.Series, max_categories: int) -> dict:
    text = _as_text(values)
    n = len(text)
    shares = text.value_counts(dropna=True).sort_index()
    # The most frequent categories keep their own bin; the long tail shares one with the
    # categories first seen tonight (a few rows each would only add noise to the index).
    kept = shares.sort_values(ascending=False, kind="stable").head(max_categories).sort_index()
    return {
        "kind": "categorical",
        "categories": [str(c) for c in kept.index],
        "shares": [float(c / n) for c in kept.to_numpy()] if n else [],
        "other": float((shares.sum() - kept.sum()) / n) if n else 0.0,
        "missing": float(text.isna().sum() / n) if n else 0.0,
        "rows": int(n),
    }


def _reference_of(values: pd.Series, bins: int, max_categories: int) -> dict:
    if _is_categorical(values):
        return _categorical_reference(values, max_categories)
    return _numeric_reference(values, bins)


def training_reference(
    frame: pd.DataFrame,
    scores,
    features: Iterable[str],
    *,
    bins: int = 10,
    max_categories: int = 20,
) -> dict:
    """The drift reference of a model's reference rows (the train flow passes its out-of-time test block): for each of ``features`` in ``frame`` and
    for ``scores`` (the model's p_pay on those rows), the bins and the share of rows in each.

    Numeric columns get up to ``bins`` quantile bins (edges made unique, so ties and constant
    columns are fine) and a missing bin; categorical and boolean columns one bin per category
    (the ``max_categories`` most frequent; the rest go to an "other/unseen" bin, which also
    catches categories new tonight) and a missing bin. JSON-serialisable.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    scores = pd.Series(np.asarray(scores, dtype="float64"))
    return {
        "format": REFERENCE_FORMAT,
        "bins": int(bins),
        "rows": int(len(frame)),
        "features": {
            name: _reference_of(frame[name], bins, max_categories) for name in features if name in frame
        },
        "score": {"name": SCORE_NAME, **_numeric_reference(scores, bins)},
    }


def _numeric_labels(edges: Sequence[float]) -> list[str]:
    bounds = ["-inf", *(f"{e:.6g}" for e in edges), "inf"]
    labels = [f"({lo}, {hi}]" for lo, hi in zip(bounds[:-2], bounds[1:-1], strict=True)]
    return [*labels, f"({bounds[-2]}, inf)"]


def _binned(spec: dict, values: pd.Series) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Bin labels, training shares and tonight's shares of one feature, missing bin last."""
    n = len(values)
    if spec["kind"] == "numeric":
        edges = np.asarray(spec["edges"], dtype="float64")
        x = _as_float(values)
        missing = np.isnan(x)
        counts = np.bincount(np.searchsorted(edges, x[~missing], side="left"), minlength=len(edges) + 1)
        labels = _numeric_labels(spec["edges"])
        expected = list(spec["shares"])
    else:
        text = _as_text(values)
        missing = text.isna().to_numpy()
        categories = list(spec["categories"])
        position = pd.Index(categories, dtype="object").get_indexer(text)  # -1: unseen or missing
        counts = np.bincount(position[(position >= 0)], minlength=len(categories))
        counts = np.append(counts, int(((position < 0) & ~missing).sum()))
        labels = [*categories, OTHER_BIN]
        expected = [*spec["shares"], spec["other"]]
    counts = np.append(counts, int(missing.sum()))
    actual = counts / n if n else np.full(len(counts), np.nan)
    return [*labels, MISSING_BIN], np.asarray([*expected, spec["missing"]], dtype="float64"), actual


def psi_contributions(expected, actual, floor: float = SHARE_FLOOR) -> np.ndarray:
    """Each bin's term (a - e) * ln(a / e) of the population stability index, shares floored
    at ``floor`` so empty bins stay finite. Every term is >= 0."""
    e = np.maximum(np.asarray(expected, dtype="float64"), floor)
    a = np.maximum(np.asarray(actual, dtype="float64"), floor)
    return (a - e) * np.log(a / e)


def _status(psi: float, warn: float, fail: float) -> str:
    if psi >= fail:
        return "fail"
    if psi >= warn:
        return "warn"
    return "ok"


def _row(name: str, kind: str, spec: dict, values: pd.Series, warn: float, fail: float) -> dict:
    labels, expected, actual = _binned(spec, values)
    base = {"name": name, "kind": kind, "rows": int(len(values))}
    if not len(values):
        return {**base, "psi": math.nan, "status": "no data", "missing_share": math.nan}
    terms = psi_contributions(expected, actual)
    top = int(np.argmax(terms))
    psi = float(terms.sum())
    return {
        **base,
        "psi": psi,
        "status": _status(psi, warn, fail),
        "top_bin": labels[top],
        "top_bin_expected": float(expected[top]),
        "top_bin_actual": float(actual[top]),
        "top_bin_psi": float(terms[top]),
        "missing_share": float(actual[-1]),
    }


def population_stability(
    reference: Mapping,
    frame: pd.DataFrame,
    scores,
    *,
    warn: float = 0.1,
    fail: float = 0.25,
) -> pd.DataFrame:
    """Tonight's PSI against ``reference`` (see :func:`training_reference`): one row for the
    score, then one per feature, worst first, with its status (``ok``, ``warn`` at PSI >=
    ``warn``, ``fail`` at PSI >= ``fail``) and the bin that contributes most (its label,
    training and tonight's shares, and its term).

    Columns of ``frame`` the reference does not know are reported as ``no reference`` and
    reference features absent from ``frame`` as ``absent`` (PSI NaN, never an error): a model
    trained on other features is a finding, not a crash. Every column of ``frame`` counts as a
    feature, so pass the model's feature columns only (keys such as loan_id would be listed as
    ``no reference``).
    """
    if fail < warn:
        raise ValueError(f"the fail threshold ({fail}) is below the warn threshold ({warn})")
    specs: Mapping[str, dict] = reference.get("features", {})
    score_spec = reference["score"]
    scores = pd.Series(np.asarray(scores, dtype="float64"))
    rows = [_row(score_spec.get("name", SCORE_NAME), "score", score_spec, scores, warn, fail)]
    features = []
    for name, spec in specs.items():
        if name in frame:
            features.append(_row(name, spec["kind"], spec, frame[name], warn, fail))
        else:
            features.append({"name": name, "kind": spec["kind"], "psi": math.nan, "status": "absent"})
    for name in frame.columns:
        if name not in specs:
            kind = "categorical" if _is_categorical(frame[name]) else "numeric"
            features.append({"name": str(name), "kind": kind, "psi": math.nan, "status": "no reference"})
    table = pd.DataFrame([*rows, *features], columns=DRIFT_COLUMNS)
    head, rest = table.iloc[:1], table.iloc[1:].sort_values("psi", ascending=False, na_position="last")
    table = pd.concat([head, rest], ignore_index=True)
    return table.astype({"psi": "float64", "rows": "Int64"})


@dataclass(frozen=True)
class DriftSummary:
    """What a drift table means for the run: the worst PSI, the names over each threshold (with
    their PSI, worst first) and the ones that stop the run under ``fail_on``."""

    fail_on: FailOn
    worst: tuple[str, float] | None
    score_psi: float | None
    warned: dict[str, float] = field(default_factory=dict)
    failed: dict[str, float] = field(default_factory=dict)
    blocking: dict[str, float] = field(default_factory=dict)
    unreferenced: list[str] = field(default_factory=list)

    downgraded: str | None = None

    @property
    def stops_run(self) -> bool:
        return bool(self.blocking) and self.downgraded is None

    @property
    def status(self) -> str:
        if self.stops_run:
            return "fail"
        if self.blocking:
            return "fail (weak reference: published)"
        return "warn" if self.warned or self.failed else "ok"

    def as_dict(self) -> dict:
        """JSON-ready (the manifest's ``drift`` block, without the thresholds)."""
        return {
            "status": self.status,
            "stops_run": self.stops_run,
            "score_psi": self.score_psi,
            "worst": None if self.worst is None else {"name": self.worst[0], "psi": self.worst[1]},
            "warned": self.warned,
            "failed": self.failed,
            "blocking": self.blocking,
            "unreferenced": self.unreferenced,
            # Why drift beyond the fail threshold did not stop this night (None: it would have).
            "downgraded": self.downgraded,
        }

    def with_weak_reference(self, snapshots: int | None, minimum: int) -> DriftSummary:
        """This summary, not stopping the run when the reference spans fewer than ``minimum``
        snapshot days (a short history's one-month test block measures one month's change of a
        young book: stopping on it would leave such a book without any queue). The blocking
        names stay reported; the status says why the night published."""
        if not self.blocking or snapshots is None or snapshots >= minimum:
            return self
        reason = (
            f"the champion's drift reference spans {snapshots} snapshot day(s), fewer than "
            f"monitoring.min_reference_snapshots ({minimum}): reported, not stopping the night"
        )
        return replace(self, downgraded=reason)


def summarise_drift(table: pd.DataFrame, fail_on: FailOn = "score") -> DriftSummary:
    """Summarise a :func:`population_stability` table. With ``fail_on="score"`` only the
    score's PSI beyond the fail threshold stops the run (features beyond it are reported);
    with ``"any"`` any row does."""
    if fail_on not in ("score", "any"):
        raise ValueError(f"fail_on must be 'score' or 'any', got {fail_on!r}")
    measured = table[table["psi"].notna()].sort_values("psi", ascending=False, kind="stable")

    def named(rows: pd.DataFrame) -> dict[str, float]:
        return {str(r.name): round(float(r.psi), 4) for r in rows.itertuples()}

    failed = measured[measured["status"] == "fail"]
    blocking = failed if fail_on == "any" else failed[failed["kind"] == "score"]
    score = table.loc[table["kind"] == "score", "psi"].dropna()
    return DriftSummary(
        fail_on=fail_on,
        worst=(str(measured["name"].iloc[0]), round(float(measured["psi"].iloc[0]), 4))
        if len(measured)
        else None,
        score_psi=round(float(score.iloc[0]), 4) if len(score) else None,
        warned=named(measured[measured["status"] == "warn"]),
        failed=named(failed),
        blocking=named(blocking),
        unreferenced=[str(n) for n in table.loc[table["status"].isin(["no reference", "absent"]), "name"]],
    )


def drift_block(summary: DriftSummary | None, *, warn: float, fail: float, fail_on: FailOn) -> dict:
    """The manifest's ``drift`` block: thresholds and the summary, or a ``no reference`` status
    when the champion was trained before references were logged (nothing to compare with)."""
    thresholds = {"warn_psi": warn, "fail_psi": fail, "fail_on": fail_on}
    if summary is None:
        return {
            "status": "no reference",
            "detail": f"the champion's training run has no {DRIFT_REFERENCE_ARTIFACT} "
            "(trained before drift monitoring): retrain to monitor drift",
            "thresholds": thresholds,
        }
    return {**summary.as_dict(), "thresholds": thresholds}


def _listed(psi: Mapping[str, float], limit: int = 10) -> str:
    """``name PSI`` pairs, worst first; past ``limit`` only how many more (the table has all)."""
    shown = ", ".join(f"{name} {value:.3f}" for name, value in list(psi.items())[:limit])
    return shown + (f" and {len(psi) - limit} more" if len(psi) > limit else "")


def drift_warning(summary: DriftSummary, warn: float, fail: float) -> str | None:
    """A one-line warning naming every score or feature over the warn threshold (None if none)."""
    if summary.status == "ok":
        return None
    parts = []
    if summary.failed:
        parts.append(f"PSI >= {fail:g}: {_listed(summary.failed)}")
    if summary.warned:
        parts.append(f"PSI {warn:g}-{fail:g}: {_listed(summary.warned)}")
    return "drift from the champion's reference (its out-of-time test block): " + "; ".join(parts)


class DriftError(RuntimeError):
    """Tonight's book drifted beyond the fail threshold: the run stops before publishing."""

    def __init__(self, summary: DriftSummary, fail: float, evidence: str | None = None):
        self.summary = summary
        where = f"\ndrift table: {evidence}" if evidence else ""
        others = {k: v for k, v in summary.failed.items() if k not in summary.blocking}
        also = f"; also beyond it: {_listed(others)}" if others else ""
        super().__init__(
            f"drift beyond the fail threshold (PSI >= {fail:g}, drift_fail_on: {summary.fail_on}): "
            f"{_listed(summary.blocking)}{also}; nothing is published.{where}"
        )
