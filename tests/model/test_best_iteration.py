"""``best_iteration``: after a fit without early stopping (lightgbm.dask), the iteration
LightGBM's ``early_stopping(patience)`` callback would have kept, for AUC and log loss; and
``tree_tolerance``: the fewest trees within a tolerance of that point's validation score."""

from __future__ import annotations

import lightgbm
import numpy as np
import pandas as pd
import pytest

from models.boosting import CalibratedBooster, best_iteration, fewest_trees_within, validation_curve

PATIENCE = 10
N_ESTIMATORS = 300
COLUMNS = [f"x{number}" for number in range(6)]


def _classifier(**params) -> lightgbm.LGBMClassifier:
    return lightgbm.LGBMClassifier(
        n_estimators=N_ESTIMATORS,
        learning_rate=0.1,
        num_leaves=15,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
        random_state=3,
        n_jobs=1,
        **params,
    )


@pytest.fixture(scope="module")
def problem():
    """4,000 rows, 6 features (two pure noise), a noisy logistic signal: 300 trees at learning
    rate 0.1 overfit early, so early stopping triggers well before the last tree."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, len(COLUMNS)))
    logit = 0.8 * X[:, 0] - 0.6 * X[:, 1] + 0.4 * X[:, 2] * X[:, 3]
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(int)
    weight = rng.uniform(0.2, 5.0, size=1000)  # validation weights, as the IPW channel model has
    frame = pd.DataFrame(X, columns=COLUMNS)
    return frame.iloc[:3000], y[:3000], frame.iloc[3000:], y[3000:], weight


@pytest.fixture(scope="module")
def unstopped(problem):
    """Every tree grown, no evaluation set: what lightgbm.dask hands back."""
    X_train, y_train, *_ = problem
    model = _classifier().fit(X_train, y_train)
    assert model.booster_.num_trees() == N_ESTIMATORS
    return model


# as the models use it: AUC unweighted (propensity), log loss unweighted and weighted (channel)
METRIC_CASES = pytest.mark.parametrize(
    ("metric", "weighted"),
    [("auc", False), ("binary_logloss", False), ("binary_logloss", True)],
    ids=["auc", "binary_logloss", "binary_logloss-weighted"],
)


def _early_stopped(problem, metric: str, eval_weight) -> lightgbm.LGBMClassifier:
    """A fit with LightGBM's own early stopping, judged by ``metric`` alone (with
    eval_metric="auc" alone LightGBM also tracks binary_logloss and stops on either)."""
    X_train, y_train, X_valid, y_valid, _ = problem
    return _classifier(metric=metric).fit(
        X_train,
        y_train,
        eval_X=(X_valid,),
        eval_y=(y_valid,),
        eval_sample_weight=None if eval_weight is None else [eval_weight],
        eval_metric=metric,
        callbacks=[lightgbm.early_stopping(PATIENCE, first_metric_only=True, verbose=False)],
    )


@METRIC_CASES
def test_best_iteration_is_the_one_early_stopping_keeps(problem, unstopped, metric, weighted):
    _, _, X_valid, y_valid, weight = problem
    eval_weight = weight if weighted else None
    stopped = _early_stopped(problem, metric, eval_weight)
    assert list(stopped.evals_result_["valid_0"]) == [metric]
    assert stopped.best_iteration_ < N_ESTIMATORS
    # it really stopped: evaluated for the patience's rounds past the best one and no more
    assert len(stopped.evals_result_["valid_0"][metric]) == stopped.best_iteration_ + PATIENCE

    found = best_iteration(unstopped.booster_, X_valid, y_valid, eval_weight, metric, PATIENCE)
    assert found == stopped.best_iteration_


def test_auc_with_the_objectives_log_loss_stops_where_lightgbm_does(problem, unstopped):
    """The propensity model's case: eval_metric="auc" and LightGBM's default metric, so LightGBM
    tracks AUC and log loss and stops on whichever first goes the patience without a gain."""
    X_train, y_train, X_valid, y_valid, _ = problem
    stopped = _classifier().fit(
        X_train,
        y_train,
        eval_X=(X_valid,),
        eval_y=(y_valid,),
        eval_metric="auc",
        callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False)],
    )
    assert list(stopped.evals_result_["valid_0"]) == ["auc", "binary_logloss"]
    found = best_iteration(unstopped.booster_, X_valid, y_valid, None, ["auc", "binary_logloss"], PATIENCE)
    assert found == stopped.best_iteration_
    # the AUC alone would keep a different tree here: the second metric matters
    assert best_iteration(unstopped.booster_, X_valid, y_valid, None, "auc", PATIENCE) != found


def test_without_patience_every_tree_is_kept(problem, unstopped):
    """No early-stopping rounds: like a LightGBM fit without the callback, all trees count."""
    _, _, X_valid, y_valid, _ = problem
    found = best_iteration(unstopped.booster_, X_valid, y_valid, None, "binary_logloss", None)
    assert found == N_ESTIMATORS


@METRIC_CASES
def test_validation_curve_is_what_lightgbm_records_during_a_fit(problem, metric, weighted):
    """The Dask path scores every tree itself; it must read the curve LightGBM would record."""
    _, _, X_valid, y_valid, weight = problem
    eval_weight = weight if weighted else None
    fitted = _early_stopped(problem, metric, eval_weight)
    recorded = np.asarray(fitted.evals_result_["valid_0"][metric])
    curve = validation_curve(fitted.booster_, X_valid, y_valid, eval_weight, metric)
    # LightGBM keeps the trees up to the early-stopping point; it recorded the patience's beyond
    assert len(curve) == fitted.best_iteration_ < len(recorded)
    np.testing.assert_allclose(curve, recorded[: len(curve)], rtol=1e-6, atol=1e-9)
    assert len(validation_curve(fitted.booster_, X_valid, y_valid, eval_weight, metric, trees=7)) == 7


def test_fewest_trees_within_reads_auc_up_and_log_loss_down():
    auc = [0.60, 0.70, 0.745, 0.749, 0.750, 0.7505]
    assert fewest_trees_within(auc, 6, 0.0, "auc") == 6
    assert fewest_trees_within(auc, 6, 0.001, "auc") == 5
    assert fewest_trees_within(auc, 6, 0.002, "auc") == 4
    assert fewest_trees_within(auc, 6, 0.01, "auc") == 3
    assert fewest_trees_within(auc, 4, 0.0005, "auc") == 4  # judged against the kept count's score
    loss = [0.69, 0.50, 0.452, 0.4505, 0.4501, 0.4500]
    assert fewest_trees_within(loss, 6, 0.0, "binary_logloss") == 6
    assert fewest_trees_within(loss, 6, 0.001, "binary_logloss") == 4
    assert fewest_trees_within(loss, 6, 0.003, "binary_logloss") == 3
    # a curve that dips and recovers: the first tree within the tolerance, not the last
    assert fewest_trees_within([0.70, 0.749, 0.74, 0.75], 4, 0.002, "auc") == 2


class _ToleranceBooster(CalibratedBooster):
    """The smallest CalibratedBooster: numeric inputs, no constraints, AUC early stopping."""

    def __init__(self, tree_tolerance: float = 0.0):
        self.tree_tolerance = tree_tolerance

    def fit(self, X, y, eval_set):
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.categories_ = {}
        self.random_state = 3
        self._fit_booster(
            X,
            y,
            params={
                "n_estimators": N_ESTIMATORS,
                "learning_rate": 0.05,
                "num_leaves": 7,
                "n_jobs": 1,
                "early_stopping_rounds": 30,
                "tree_tolerance": self.tree_tolerance,
            },
            monotone=[0] * X.shape[1],
            eval_set=eval_set,
            eval_metric="auc",
        )
        return self


def test_a_tree_tolerance_keeps_fewer_trees_and_the_reasons_still_add_up(problem):
    X_train, y_train, X_valid, y_valid, _ = problem
    exact = _ToleranceBooster(0.0).fit(X_train, y_train, eval_set=(X_valid, y_valid))
    lean = _ToleranceBooster(0.003).fit(X_train, y_train, eval_set=(X_valid, y_valid))
    assert exact.best_iteration_ == exact.best_score_iteration_ == lean.best_score_iteration_
    assert lean.best_iteration_ < lean.best_score_iteration_
    curve = np.asarray(lean.classifier_.evals_result_["valid_0"]["auc"])
    assert curve[lean.best_iteration_ - 1] >= curve[lean.best_score_iteration_ - 1] - 0.003
    assert (curve[: lean.best_iteration_ - 1] < curve[lean.best_score_iteration_ - 1] - 0.003).all()
    # the margin uses the kept trees only, and TreeSHAP explains exactly that margin
    booster = lean.classifier_.booster_
    np.testing.assert_allclose(
        lean.decision_function(X_valid),
        booster.predict(X_valid, raw_score=True, num_iteration=lean.best_iteration_),
    )
    contributions, base = lean.shap_values(X_valid.iloc[:200])
    np.testing.assert_allclose(
        contributions.sum(axis=1) + base, lean.decision_function(X_valid.iloc[:200]), atol=1e-9
    )
    empty, empty_base = lean.shap_values(X_valid.iloc[:0])
    assert empty.empty and empty_base == pytest.approx(base)
