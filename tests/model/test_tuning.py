"""The hyperparameter search: bounded, seeded, judged on validation, each trial a nested run."""

from __future__ import annotations

import pytest

from models.tuning import search_propensity


@pytest.fixture(scope="module")
def split(trained_outcome):
    return trained_outcome[1]


@pytest.fixture(scope="module")
def base_params():
    from recover.config import load_config

    return {**load_config().training.lightgbm.model_dump(), "n_estimators": 30, "early_stopping_rounds": 10}


def test_the_search_is_bounded_seeded_and_returns_the_best_trial(split, base_params):
    seen = []
    first = search_propensity(
        split,
        base_params,
        n_trials=3,
        timeout_seconds=120,
        seed=4,
        on_trial=lambda n, p, m: seen.append((n, m)),
    )
    again = search_propensity(split, base_params, n_trials=3, timeout_seconds=120, seed=4)
    assert len(first.trials) == 3 and [n for n, _ in seen] == [0, 1, 2]
    assert first.best_params == again.best_params
    assert first.best_value == max(m["auc"] for _, m in seen)
    # Searched keys replace the base ones; the rest (trees, threads) stay.
    assert first.best_params["n_estimators"] == 30 and first.best_params["n_jobs"] == base_params["n_jobs"]
    assert 7 <= first.best_params["num_leaves"] <= 63


def test_the_search_never_looks_at_the_test_block(split, base_params):
    """Scrambling the test labels changes nothing: trials are judged on validation only."""
    scrambled = {**split, "test": split["test"].assign(label=1 - split["test"]["label"])}
    a = search_propensity(split, base_params, n_trials=2, timeout_seconds=120, seed=1)
    b = search_propensity(scrambled, base_params, n_trials=2, timeout_seconds=120, seed=1)
    assert a.best_params == b.best_params and a.best_value == b.best_value


def test_a_search_needs_a_trial(split, base_params):
    with pytest.raises(ValueError):
        search_propensity(split, base_params, n_trials=0, timeout_seconds=10, seed=1)


def test_each_trial_is_a_nested_mlflow_run_and_the_best_parameters_train(split, tmp_path, monkeypatch):
    import mlflow

    from adapters import tracking
    from pipelines.train_flow import search_hyperparameters
    from recover.config import load_config
    from tests.conftest import SMALL_BOOK_AS_OF

    monkeypatch.setenv("RECOVER_STATE_DIR", str(tmp_path / "state"))
    config = load_config()
    lightgbm = config.training.lightgbm.model_copy(update={"n_estimators": 30, "early_stopping_rounds": 10})
    config = config.model_copy(update={"training": config.training.model_copy(update={"lightgbm": lightgbm})})
    tuned, run_id = search_hyperparameters(split, SMALL_BOOK_AS_OF, config, trials=3, timeout_seconds=120)

    experiment = tracking.configure(config)
    children = mlflow.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{run_id}'")
    assert len(children) == 3
    assert set(children["tags.recover.kind"]) == {"search-trial"}
    assert "metrics.valid_auc" in children and children["metrics.valid_auc"].notna().all()
    best = mlflow.artifacts.load_dict(f"runs:/{run_id}/best_params.json")
    assert tuned.training.lightgbm.num_leaves == best["best_params"]["num_leaves"]
    assert mlflow.get_run(run_id).data.metrics["best_valid_auc"] == pytest.approx(
        children["metrics.valid_auc"].max()
    )
