"""Time-boxed hyperparameter search of the propensity model (optuna's TPE sampler).

Each trial fits on the train block and is judged on the validation block, the same block that
early-stops and calibrates the booster; the test block stays untouched for the final report and
for the promotion gate, so the search cannot flatter the figures the gate compares.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from models.evaluation import classification_metrics
from models.propensity import PropensityModel

if TYPE_CHECKING:
    import optuna

# Called after each trial with (trial number, the trial's LightGBM parameters, its validation
# metrics); the training flow logs each call as a nested MLflow run.
TrialCallback = Callable[[int, dict[str, object], dict[str, float]], None]


def suggest_params(trial: optuna.Trial) -> dict[str, object]:
    """The searched LightGBM parameters: tree size, learning rate, leaf size, row and column
    sampling, L2 penalty. The number of trees is not searched: early stopping sets it."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 7, 63, log=True),
        "max_depth": trial.suggest_int("max_depth", 3, 8),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 20, 400, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }


@dataclass(frozen=True)
class SearchResult:
    """The best parameters (base parameters with the searched ones over them) and every trial."""

    best_params: dict[str, object]
    best_value: float
    best_trial: int
    trials: pd.DataFrame
    seconds: float


def search_propensity(
    split: Mapping[str, pd.DataFrame],
    base_params: Mapping[str, object],
    *,
    n_trials: int,
    timeout_seconds: float | None,
    seed: int,
    on_trial: TrialCallback | None = None,
) -> SearchResult:
    """Search LightGBM parameters maximising the validation AUC; stops after ``n_trials`` or
    ``timeout_seconds``, whichever comes first (a trial under way finishes). The sampler is
    seeded, so the same trials in the same order give the same result."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if n_trials < 1:
        raise ValueError("the search needs at least one trial")
    train, valid = split["train"], split["valid"]
    base = {**base_params, "early_stopping_rounds": base_params.get("early_stopping_rounds", 50)}

    def objective(trial: optuna.Trial) -> float:
        params = {**base, **suggest_params(trial)}
        model = PropensityModel(params=params, random_state=seed).fit(
            train, train["label"], eval_set=(valid, valid["label"])
        )
        metrics = classification_metrics(valid["label"], model.predict_proba(valid)[:, 1])
        metrics["best_iteration"] = float(model.best_iteration_)
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        if on_trial is not None:
            on_trial(trial.number, params, metrics)
        return metrics["auc"]

    started = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, timeout=timeout_seconds)
    trials = study.trials_dataframe(attrs=("number", "value", "params", "user_attrs", "duration"))
    return SearchResult(
        best_params={**base_params, **study.best_params},
        best_value=float(study.best_value),
        best_trial=int(study.best_trial.number),
        trials=trials,
        seconds=time.perf_counter() - started,
    )


__all__ = ["SearchResult", "TrialCallback", "search_propensity", "suggest_params"]
