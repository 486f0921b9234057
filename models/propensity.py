"""Propensity to pay: a monotone-constrained LightGBM classifier with Platt calibration."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import shap
from sklearn.utils.validation import check_is_fitted

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
        params: dict | None = None,
        features: Sequence[str] = FEATURE_NAMES,
        random_state: int = 7,
    ):
        self.params = params
        self.features = features
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y, *, eval_set: tuple[pd.DataFrame, object] | None = None):
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

    def shap_values(self, X: pd.DataFrame) -> tuple[pd.DataFrame, float]:
        """Exact TreeSHAP contributions to the margin, one column per feature, and the base value.

        Contributions plus the base value add up to :meth:`decision_function`.
        """
        check_is_fitted(self, "classifier_")
        explainer = shap.TreeExplainer(self.classifier_.booster_)
        if len(X) == 0:
            base = explainer.expected_value
            return pd.DataFrame(columns=list(self.feature_names_in_), dtype="float64"), float(
                np.ravel(base)[-1]
            )
        with warnings.catch_warnings():
            # shap announces a change of output type for LightGBM; both types are handled below.
            warnings.filterwarnings("ignore", message=".*shap values output has changed.*")
            values = explainer.shap_values(self._matrix(X))
        values = values[1] if isinstance(values, list) else values
        base = explainer.expected_value
        base = float(base[1] if np.ndim(base) else base)
        return pd.DataFrame(values, index=X.index, columns=list(self.feature_names_in_)), base
