"""What the LightGBM models share: the input matrix, the booster settings, and a calibrated
binary booster (early-stopped and Platt-calibrated on the out-of-time validation block)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
import shap
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from distributed import Client


def model_matrix(
    X: pd.DataFrame, columns: Sequence[str], categories: Mapping[str, list[str]]
) -> pd.DataFrame:
    """Model inputs in ``columns`` order: categories fixed at fit time (a category unseen in
    training is missing to the booster, not an error), everything else float64."""
    missing = [name for name in columns if name not in X.columns]
    if missing:
        raise KeyError(f"model inputs missing from the frame: {missing}")
    matrix: dict[str, pd.Categorical | pd.Series] = {}
    for name in columns:
        if name in categories:
            known = categories[name]
            values = X[name].astype("object")
            matrix[name] = pd.Categorical(values.where(values.isin(known)), categories=known)
        else:
            matrix[name] = X[name].astype("float64")
    return pd.DataFrame(matrix, index=X.index)


def lgbm_classifier(objective: str, random_state: int, **params: Any) -> lgb.LGBMClassifier:
    """A reproducible, quiet LightGBM classifier."""
    return lgb.LGBMClassifier(
        objective=objective,
        random_state=random_state,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
        **params,
    )


_DASK_CLIENT: ContextVar[Client | None] = ContextVar("recover_dask_client", default=None)


@contextmanager
def fitting_on_dask(client: Client | None) -> Iterator[None]:
    """Within the block, :class:`CalibratedBooster` fits its booster through ``lightgbm.dask`` on
    ``client``'s cluster (None: in process, as outside the block)."""
    token = _DASK_CLIENT.set(client)
    try:
        yield
    finally:
        _DASK_CLIENT.reset(token)


def _dask_fit(
    client: Client,
    workers: int,
    classifier: lgb.LGBMClassifier,
    matrix: pd.DataFrame,
    y: npt.ArrayLike,
    sample_weight: npt.ArrayLike | None,
) -> lgb.LGBMClassifier:
    """``classifier`` fitted by lightgbm.dask on the cluster, as a local LGBMClassifier. The rows
    are cut into one partition per worker (``workers`` of them); LightGBM's own network joins them."""
    import dask.dataframe as dd

    params = {k: v for k, v in classifier.get_params().items() if k != "n_jobs"}  # the workers' threads
    frame = matrix.assign(_label=np.asarray(y))
    if sample_weight is not None:
        frame["_weight"] = np.asarray(sample_weight, dtype="float64")
    frame = frame.reset_index(drop=True)
    with client.as_current(), warnings.catch_warnings():
        # lightgbm.dask sets each worker's threads itself, and says so about n_jobs.
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        # dask.dataframe.from_pandas carries no annotations.
        rows = client.persist(dd.from_pandas(frame, npartitions=workers, sort=False))  # type: ignore[no-untyped-call]
        model = lgb.DaskLGBMClassifier(client=client, **params)
        model.fit(
            rows[list(matrix.columns)],
            rows["_label"],
            sample_weight=rows["_weight"] if sample_weight is not None else None,
        )
    return model.to_local()


def validation_curve(
    booster: lgb.Booster,
    X: pd.DataFrame,
    y: npt.ArrayLike,
    weight: npt.ArrayLike | None,
    metric: str,
    trees: int | None = None,
) -> np.ndarray:
    """``metric`` ("auc" or "binary_logloss") on ``X`` after each of the first ``trees`` trees
    (all by default), as LightGBM's ``evals_result_`` records it during a fit."""
    trees = booster.num_trees() if trees is None else trees
    margin = np.zeros(len(X))
    y = np.asarray(y)
    curve = np.empty(trees)
    for i in range(trees):
        margin += booster.predict(X, raw_score=True, start_iteration=i, num_iteration=1)
        if metric == "auc":
            curve[i] = roc_auc_score(y, margin, sample_weight=weight)
        else:
            curve[i] = log_loss(y, 1 / (1 + np.exp(-margin)), sample_weight=weight, labels=[0, 1])
    return curve


def best_iteration(
    booster: lgb.Booster,
    X: pd.DataFrame,
    y: npt.ArrayLike,
    weight: npt.ArrayLike | None,
    metric: str | Sequence[str],
    patience: int | None,
) -> int:
    """The iteration LightGBM's early stopping would keep, found after a fit without it: each
    ``metric`` ("auc", "binary_logloss") on ``X`` after every tree; the first metric to go
    ``patience`` trees without a gain stops the count at its best tree (every tree without
    ``patience``). Like LightGBM, a fit judged by AUC also tracks the binary objective's log
    loss: pass both, in LightGBM's order (the eval metric first)."""
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if not patience:
        return booster.num_trees()
    return stopping_point({name: validation_curve(booster, X, y, weight, name) for name in metrics}, patience)


def stopping_point(curves: Mapping[str, npt.ArrayLike], patience: int) -> int:
    """Where LightGBM's early stopping ends on these validation ``curves`` (metric -> one score
    per tree, in LightGBM's order: the eval metric first): the first metric to go ``patience``
    trees without a gain stops the count at its best tree."""
    metrics = list(curves)
    trees = len(np.asarray(curves[metrics[0]]))
    # Scores with higher = better, so AUC and log loss compare alike.
    scores = {
        name: np.asarray(curve, dtype="float64") * (1 if name == "auc" else -1)
        for name, curve in curves.items()
    }
    best = dict.fromkeys(metrics, (-np.inf, 0))  # (score, 0-based tree) per metric
    for i in range(trees):
        for name in metrics:
            score = scores[name][i]
            if score > best[name][0]:
                best[name] = (score, i)
            elif i - best[name][1] >= patience:
                return best[name][1] + 1
    return best[metrics[0]][1] + 1


def fewest_trees_within(curve: npt.ArrayLike, trees: int, tolerance: float, metric: str) -> int:
    """The fewest trees whose validation ``metric`` in ``curve`` (one score per tree, as
    :func:`validation_curve` gives) is within ``tolerance`` of its score after ``trees`` trees.

    Explanations cost in proportion to trees (TreeSHAP is linear in them), and the last trees
    before early stopping buy little: a model stops adding trees where the validation score is
    as good as at the early-stopping point, give or take ``tolerance`` (AUC: higher is better;
    log loss: lower is better). ``tolerance`` 0 keeps ``trees``.
    """
    scores = np.asarray(curve, dtype="float64")[:trees]
    if metric != "auc":
        scores = -scores
    if not tolerance or len(scores) == 0:
        return trees
    good_enough = scores >= scores[trees - 1] - tolerance
    return int(np.argmax(good_enough)) + 1


# sklearn ships no type information, so its base classes are Any to the type checker.
class CalibratedBooster(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A monotone binary LightGBM booster whose margin is Platt-calibrated.

    Subclasses set ``feature_names_in_`` (column order) and ``categories_`` before calling
    :meth:`_fit_booster`. Calibration keeps the ranking (AUC of raw and calibrated scores is
    equal) and maps scores to observed frequencies.
    """

    def _fit_booster(
        self,
        X: pd.DataFrame,
        y: npt.ArrayLike,
        *,
        params: Mapping[str, Any],
        monotone: Sequence[int],
        eval_set: tuple[pd.DataFrame, npt.ArrayLike] | None,
        eval_metric: str,
        sample_weight: np.ndarray | None = None,
        eval_weight: np.ndarray | None = None,
    ) -> None:
        params = dict(params)
        early_stopping_rounds = params.pop("early_stopping_rounds", None)
        tree_tolerance = float(params.pop("tree_tolerance", 0.0) or 0.0)
        classifier = lgbm_classifier(
            "binary",
            self.random_state,
            monotone_constraints=list(monotone),
            # "advanced" let a few predictions move against the constraint on this data
            # (measured); "intermediate" keeps every constraint and loses no accuracy here.
            monotone_constraints_method="intermediate",
            **params,
        )
        fit_kwargs: dict[str, Any] = {}  # LightGBM's fit arguments, each of its own type
        if eval_set is not None:
            X_eval, y_eval = eval_set
            fit_kwargs.update(
                eval_X=(self._matrix(X_eval),), eval_y=(np.asarray(y_eval),), eval_metric=eval_metric
            )
            if eval_weight is not None:
                fit_kwargs["eval_sample_weight"] = [eval_weight]
            if early_stopping_rounds:
                fit_kwargs["callbacks"] = [lgb.early_stopping(int(early_stopping_rounds), verbose=False)]
        client = _DASK_CLIENT.get()
        # Validation score after each tree, per metric (the eval metric first), as LightGBM's
        # early stopping read it.
        curves: dict[str, npt.ArrayLike] = {}
        if client is None:
            classifier.fit(self._matrix(X), np.asarray(y), sample_weight=sample_weight, **fit_kwargs)
            self.best_iteration_ = int(classifier.best_iteration_ or classifier.n_estimators)
            self.fitted_with_ = "lightgbm"
            curves = dict(next(iter((classifier.evals_result_ or {}).values()), {}))
        else:
            # lightgbm.dask cannot early-stop (each worker would stop on its own share of the
            # validation rows), nor record an evaluation: every tree is grown, scored here once,
            # and the same rule picks the iteration after.
            workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
            classifier = _dask_fit(client, workers, classifier, self._matrix(X), y, sample_weight)
            self.best_iteration_ = classifier.n_estimators
            if eval_set is not None:
                curves = {
                    name: validation_curve(
                        classifier.booster_, self._matrix(eval_set[0]), eval_set[1], eval_weight, name
                    )
                    for name in dict.fromkeys([eval_metric, "binary_logloss"])
                }
                if early_stopping_rounds:
                    self.best_iteration_ = stopping_point(curves, int(early_stopping_rounds))
            self.fitted_with_ = f"lightgbm.dask ({workers} workers)"
        # Trees at the early-stopping point; best_iteration_ may keep fewer (tree_tolerance).
        self.best_score_iteration_ = self.best_iteration_
        if tree_tolerance and eval_metric in curves:
            self.best_iteration_ = fewest_trees_within(
                curves[eval_metric], self.best_iteration_, tree_tolerance, eval_metric
            )
        self.classifier_ = classifier
        self.classes_ = classifier.classes_

        X_cal, y_cal = eval_set if eval_set is not None else (X, y)
        cal_weight = eval_weight if eval_set is not None else sample_weight
        margin = self._margin(self._matrix(X_cal)).reshape(-1, 1)
        self.calibrator_ = LogisticRegression(C=1e6).fit(margin, np.asarray(y_cal), sample_weight=cal_weight)

    def shap_values(self, X: pd.DataFrame) -> tuple[pd.DataFrame, float]:
        """Exact TreeSHAP contributions to the margin, one column per feature, and the base value.

        Contributions plus the base value add up to :meth:`decision_function`.
        """
        check_is_fitted(self, "classifier_")
        if len(X) == 0:
            # The base value of the trees the margin uses, read off one row with nothing known.
            _, base = self.shap_values(pd.DataFrame({name: [np.nan] for name in self.feature_names_in_}))
            return pd.DataFrame(columns=list(self.feature_names_in_), dtype="float64"), base
        explainer = shap.TreeExplainer(self.classifier_.booster_)
        with warnings.catch_warnings():
            # shap announces a change of output type for LightGBM; both types are handled below.
            warnings.filterwarnings("ignore", message=".*shap values output has changed.*")
            # The trees the margin uses, not every tree the booster holds (see tree_tolerance).
            values = explainer.shap_values(self._matrix(X), tree_limit=self.best_iteration_)
        values = values[1] if isinstance(values, list) else values
        base = explainer.expected_value
        base = float(base[1] if np.ndim(base) else base)
        return pd.DataFrame(values, index=X.index, columns=list(self.feature_names_in_)), base

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's margin (log-odds before calibration)."""
        check_is_fitted(self, "classifier_")
        return self._margin(self._matrix(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape (n, 2)."""
        margin = self.decision_function(X).reshape(-1, 1)
        if margin.size == 0:
            return np.empty((0, 2))
        probabilities: np.ndarray = self.calibrator_.predict_proba(margin)  # sklearn: untyped
        return probabilities

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def _margin(self, matrix: pd.DataFrame) -> np.ndarray:
        if matrix.empty:  # LightGBM refuses empty input; a night with nothing to score is normal
            return np.empty(0)
        # Raw scores of a dense frame are an array (lists and sparse matrices are for pred_contrib).
        return cast(
            np.ndarray,
            self.classifier_.booster_.predict(matrix, raw_score=True, num_iteration=self.best_iteration_),
        )

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        return model_matrix(X, list(self.feature_names_in_), self.categories_)
