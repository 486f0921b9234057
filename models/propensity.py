"""Propensity to pay: a monotone-constrained LightGBM classifier with Platt calibration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.catalog import CATEGORICAL_FEATURES, FEATURE_NAMES, spec
from models.boosting import CalibratedBooster

DEFAULT_PARAMS: dict[str, object] = {
    "n_estimators": 400,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "max_depth": 5,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_jobs": 2,
}


class PropensityModel(CalibratedBooster):
    """P(qualifying payment within the label window) for an overdue loan.

    Monotone constraints come from the feature catalog (e.g. more broken promises can never
    raise the score). Calibration is Platt scaling of the booster's margin on the out-of-time
    validation block: it keeps the ranking intact (AUC of raw and calibrated scores is equal)
    and maps scores to observed frequencies.

    Parameters
    ----------
    params : LightGBM parameters; ``early_stopping_rounds`` is honoured when ``fit`` gets an
        ``eval_set``.
    features : model inputs, every one with a catalog entry.
    random_state : seed of the booster (bagging, feature sampling).
    """

    def __init__(
        self,
        params: Mapping[str, object] | None = None,
        features: Sequence[str] = FEATURE_NAMES,
        random_state: int = 7,
    ) -> None:
        self.params = params
        self.features = features
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------------------
    def fit(
        self, X: pd.DataFrame, y: npt.ArrayLike, *, eval_set: tuple[pd.DataFrame, npt.ArrayLike] | None = None
    ) -> Self:
        """Fit the booster (early-stopped on ``eval_set``) and calibrate on ``eval_set``."""
        for name in self.features:
            spec(name)  # every input must be catalogued
        self.feature_names_in_ = np.asarray(list(self.features), dtype=object)
        self.categories_ = {
            name: sorted(X[name].dropna().astype(str).unique())
            for name in self.features
            if name in CATEGORICAL_FEATURES
        }
        self._fit_booster(
            X,
            y,
            params={**DEFAULT_PARAMS, **(self.params or {})},
            monotone=[spec(name).monotone for name in self.features],
            eval_set=eval_set,
            eval_metric="auc",
        )
        return self
