"""Propensity to pay: a monotone-constrained LightGBM classifier with Platt calibration."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
import shap
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from features.catalog import CATEGORICAL_FEATURES, FEATURE_NAMES, spec

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


class PropensityModel(ClassifierMixin, BaseEstimator):
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
        params = {**DEFAULT_PARAMS, **(self.params or {})}
        early_stopping_rounds = params.pop("early_stopping_rounds", None)
        self.feature_names_in_ = np.asarray(list(self.features), dtype=object)
        self.categories_ = {
            name: sorted(X[name].dropna().astype(str).unique())
            for name in self.features
            if name in CATEGORICAL_FEATURES
        }
        train_matrix = self._matrix(X)
        classifier = lgb.LGBMClassifier(
            objective="binary",
            monotone_constraints=[spec(name).monotone for name in self.features],
            # "advanced" let a few predictions move against the constraint on this data
            # (measured); "intermediate" keeps every constraint and loses no accuracy here.
            monotone_constraints_method="intermediate",
            random_state=self.random_state,
            deterministic=True,
            force_col_wise=True,
            verbose=-1,
            **params,
        )
        fit_kwargs: dict[str, object] = {}
        if eval_set is not None:
            X_eval, y_eval = eval_set
            fit_kwargs["eval_X"] = (self._matrix(X_eval),)
            fit_kwargs["eval_y"] = (np.asarray(y_eval),)
            fit_kwargs["eval_metric"] = "auc"
            if early_stopping_rounds:
                fit_kwargs["callbacks"] = [lgb.early_stopping(int(early_stopping_rounds), verbose=False)]
        classifier.fit(train_matrix, np.asarray(y), **fit_kwargs)
        self.classifier_ = classifier
        self.best_iteration_ = int(classifier.best_iteration_ or classifier.n_estimators)
        self.classes_ = classifier.classes_

        X_cal, y_cal = eval_set if eval_set is not None else (X, y)
        margin = self._margin(self._matrix(X_cal)).reshape(-1, 1)
        self.calibrator_ = LogisticRegression(C=1e6).fit(margin, np.asarray(y_cal))
        return self

    # -- prediction --------------------------------------------------------------------------
    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's margin (log-odds before calibration)."""
        check_is_fitted(self, "classifier_")
        return self._margin(self._matrix(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape (n, 2)."""
        margin = self.decision_function(X).reshape(-1, 1)
        if margin.size == 0:
            return np.empty((0, 2))
        return self.calibrator_.predict_proba(margin)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

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

    # -- internals ---------------------------------------------------------------------------
    def _margin(self, matrix: pd.DataFrame) -> np.ndarray:
        if matrix.empty:  # LightGBM refuses empty input; a night with nothing to score is normal
            return np.empty(0)
        return self.classifier_.booster_.predict(matrix, raw_score=True, num_iteration=self.best_iteration_)

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [name for name in self.features if name not in X.columns]
        if missing:
            raise KeyError(f"model inputs missing from the frame: {missing}")
        columns = {}
        for name in self.features:
            column = X[name]
            if name in self.categories_:
                known = self.categories_[name]
                # A category unseen in training is missing to the booster, not an error.
                values = column.astype("object").where(column.isin(known))
                columns[name] = pd.Categorical(values, categories=known)
            else:
                columns[name] = column.astype("float64")
        return pd.DataFrame(columns, index=X.index)
