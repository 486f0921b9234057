"""Fit the propensity model on out-of-time blocks and measure it against its baselines.

Every propensity training also fits, on the same blocks, what the model must beat to earn its
place on the book: the days-past-due heuristic and a plain LightGBM (the library's defaults, no
monotone constraints, the same inputs). Which inputs and whether the catalog's monotone
constraints are kept are decided on the book at hand: a feature constant (or all missing) on the
train block is dropped, and the constraints stay unless the same booster without them does better
on the validation block (never the test block, which stays for measurement and the gate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.catalog import FEATURE_NAMES, spec
from features.responses import sampled_rows
from models.boosting import lgbm_classifier, model_matrix
from models.evaluation import classification_metrics, heuristic_auc
from models.gate import PLAIN_LIGHTGBM_COLUMN
from models.propensity import PropensityModel

# Early-stopping patience of the plain LightGBM baseline on the validation block (its defaults
# otherwise: 100 trees of 31 leaves at learning rate 0.1).
PLAIN_LIGHTGBM_PATIENCE = 20
# The unconstrained variant must beat the constrained one on validation by more than this to
# drop the catalog's monotone constraints: on a few hundred validation rows a smaller gain is
# noise (it dropped them on a shuffled-label book), and the constraints encode credit policy.
AUC_TIE = 0.002


@dataclass(frozen=True)
class TrainingOutcome:
    """A fitted model, its out-of-time metrics and what data it saw.

    ``params``: what training decided on the book (e.g. ``monotone_constraints``,
    ``dropped_features``), logged as MLflow params. ``baseline_scores``: the plain LightGBM
    baseline's p on the test block (index of the test block, column ``baseline_plain_lightgbm``),
    carried into the promotion gate's evidence so the gate re-scores no baseline it cannot.
    """

    model: PropensityModel
    metrics: dict[str, float]
    data_summary: dict[str, object]
    params: dict[str, object] = field(default_factory=dict)
    baseline_scores: pd.DataFrame | None = None


class UnconstrainedPropensityModel(PropensityModel):
    """The propensity model without the catalog's monotone constraints, otherwise the same (same
    parameters, inputs, early stopping and calibration): the variant training fits beside the
    constrained one and keeps only when the validation block prefers it."""

    def _fit_booster(
        self, X: pd.DataFrame, y: npt.ArrayLike, *, monotone: Sequence[int], **kwargs: Any
    ) -> None:
        super()._fit_booster(X, y, monotone=[0] * len(monotone), **kwargs)


def informative_features(
    frame: pd.DataFrame, candidates: Sequence[str], *, by: str | None = "as_of"
) -> tuple[list[str], dict[str, str]]:
    """``candidates`` split into those that vary on ``frame`` and those that cannot carry
    information there, with why: ``all missing``; ``constant (<value>)`` when every row holds
    one value (missing counts as a value: a feature that is either 3 or missing still tells
    rows apart); or ``varies only with the snapshot date`` when it is constant within every
    snapshot of ``by`` (a book whose loans were all opened on one day has a loan age that is
    the calendar, not the account: the model would learn the snapshots' base rates from it and
    extrapolate them to every new night). An empty table upstream (no promises, no contacts)
    makes the constant kind."""
    used: list[str] = []
    dropped: dict[str, str] = {}
    snapshots = frame[by] if by is not None and by in frame.columns else None
    several = snapshots is not None and snapshots.nunique() > 1
    for name in candidates:
        column = frame[name]
        present = column.dropna()
        if present.empty:
            dropped[name] = "all missing"
        elif column.nunique(dropna=False) <= 1:
            dropped[name] = f"constant ({present.iloc[0]})"
        elif (
            several
            and snapshots is not None  # implied by several; says so to the type checker
            and (column.groupby(snapshots, observed=True).nunique(dropna=False) <= 1).all()
        ):
            dropped[name] = "varies only with the snapshot date"
        else:
            used.append(name)
    return used, dropped


def describe_dropped(dropped: Mapping[str, str]) -> str:
    """``dropped`` as one line (an MLflow param): ``name (why), ...`` or ``none``."""
    return ", ".join(f"{name} ({why})" for name, why in dropped.items()) or "none"


@dataclass(frozen=True)
class PlainLightGBM:
    """The untuned baseline: a LightGBM classifier with the library's defaults and no monotone
    constraints, on the propensity model's inputs (early-stopped on the validation block)."""

    classifier: lgb.LGBMClassifier
    features: tuple[str, ...]
    categories: Mapping[str, list[str]]

    def score(self, block: pd.DataFrame) -> np.ndarray:
        """P(pay) of each row of ``block`` (uncalibrated: only its ranking is judged)."""
        if not len(block):
            return np.empty(0)
        # Probabilities of a dense frame are an array (lists and sparse are for pred_contrib).
        proba = self.classifier.predict_proba(model_matrix(block, list(self.features), self.categories))
        return cast(np.ndarray, proba)[:, 1]


def fit_plain_lightgbm(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    features: Sequence[str],
    categories: Mapping[str, list[str]],
    random_state: int,
    n_jobs: int | None = None,
) -> PlainLightGBM:
    """Fit :class:`PlainLightGBM` on ``train``, early-stopped by AUC on ``valid``."""
    columns = list(features)
    classifier = lgbm_classifier("binary", random_state, **({"n_jobs": n_jobs} if n_jobs else {}))
    classifier.fit(
        model_matrix(train, columns, categories),
        train["label"].to_numpy(),
        eval_X=(model_matrix(valid, columns, categories),),
        eval_y=(valid["label"].to_numpy(),),
        eval_metric="auc",
        callbacks=[lgb.early_stopping(PLAIN_LIGHTGBM_PATIENCE, verbose=False)],
    )
    return PlainLightGBM(classifier, tuple(columns), dict(categories))


def _block_summary(block: pd.DataFrame) -> dict[str, object]:
    return {
        "rows": int(len(block)),
        "first_snapshot": str(block["as_of"].min().date()),
        "last_snapshot": str(block["as_of"].max().date()),
        "snapshots": int(block["as_of"].nunique()),
        "pay_rate": round(float(block["label"].mean()), 4),
    }


def _auc(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    y_true = np.asarray(y_true)
    return float(roc_auc_score(y_true, scores)) if len(np.unique(y_true)) == 2 else float("nan")


def train_propensity(
    split: dict[str, pd.DataFrame],
    params: Mapping[str, Any],
    random_state: int,
    *,
    features: Sequence[str] = FEATURE_NAMES,
) -> TrainingOutcome:
    """Fit on ``train``, early-stop and calibrate on ``valid``, report on ``valid`` and ``test``.

    Inputs constant or all missing on ``train`` are dropped (listed in ``data_summary`` and the
    ``dropped_features`` param). The model is fitted with and without the catalog's monotone
    constraints (same parameters); the constrained one is kept unless the other has the higher
    validation AUC (``monotone_constraints``: kept or dropped; both AUCs are metrics). The
    days-past-due heuristic and a plain LightGBM are measured on the same blocks. The test block
    is the newest one and is touched only here, for measurement.
    """
    train, valid, test = split["train"], split["valid"], split["test"]
    used, dropped = informative_features(train, features)
    if not used:
        raise ValueError(
            "every model input is constant or missing on the training block: nothing to learn from "
            f"({describe_dropped(dropped)})"
        )
    variants = {"constrained": PropensityModel, "unconstrained": UnconstrainedPropensityModel}
    if not any(spec(name).monotone for name in used):
        del variants["unconstrained"]  # nothing to constrain: the same booster twice
    fitted: dict[str, PropensityModel] = {}
    valid_auc: dict[str, float] = {}
    for variant, kind in variants.items():
        fitted[variant] = kind(params=params, features=tuple(used), random_state=random_state).fit(
            train, train["label"], eval_set=(valid, valid["label"])
        )
        valid_auc[variant] = _auc(valid["label"], fitted[variant].decision_function(valid))
    valid_auc.setdefault("unconstrained", valid_auc["constrained"])
    kept = not valid_auc["unconstrained"] > valid_auc["constrained"] + AUC_TIE
    model = fitted["constrained" if kept else "unconstrained"]
    plain = fit_plain_lightgbm(
        train, valid, used, model.categories_, random_state, n_jobs=params.get("n_jobs")
    )

    metrics: dict[str, float] = {
        "best_iteration": float(model.best_iteration_),
        "trees_at_early_stopping": float(model.best_score_iteration_),
        "valid_auc_constrained": valid_auc["constrained"],
        "valid_auc_unconstrained": valid_auc["unconstrained"],
        "plain_lightgbm_best_iteration": float(
            plain.classifier.best_iteration_ or plain.classifier.n_estimators
        ),
        "n_features_used": float(len(used)),
    }
    plain_test = None
    for name, block in (("valid", valid), ("test", test)):
        scores = model.predict_proba(block)[:, 1]
        for key, value in classification_metrics(block["label"], scores).items():
            metrics[f"{name}_{key}"] = value
        metrics[f"{name}_heuristic_dpd_auc"] = heuristic_auc(block, block["label"])
        plain_scores = plain.score(block)
        metrics[f"{name}_plain_lightgbm_auc"] = _auc(block["label"], plain_scores)
        if name == "test":
            plain_test = pd.DataFrame({PLAIN_LIGHTGBM_COLUMN: plain_scores}, index=block.index)
    summary: dict[str, object] = {name: _block_summary(block) for name, block in split.items()}
    summary["model_inputs"] = {"used": len(used), "of": len(features), "dropped": dropped}
    summary["monotone_constraints"] = {
        "choice": "kept" if kept else "dropped",
        "valid_auc_constrained": round(valid_auc["constrained"], 6),
        "valid_auc_unconstrained": round(valid_auc["unconstrained"], 6),
    }
    return TrainingOutcome(
        model=model,
        metrics=metrics,
        data_summary=summary,
        params={
            "monotone_constraints": "kept" if kept else "dropped",
            "dropped_features": describe_dropped(dropped),
        },
        baseline_scores=plain_test,
    )


def train_channel(
    split: dict[str, pd.DataFrame],
    params: Mapping[str, Any],
    random_state: int,
    *,
    ipw: bool = True,
    weight_clip: float = 20.0,
    prior_lift: Mapping[str, float] | None = None,
    min_propensity: float = 0.01,
) -> TrainingOutcome:
    """Fit the contact-response model on ``train`` (early-stopped and calibrated on ``valid``).

    Metrics: out-of-time AUC / calibration of the self-cure S-learner on valid and test; AUC of
    the reach model and of the response-when-reached model on the test block's attempts; per
    channel on test the mean predicted uplift, the mean predicted difference reaching makes and
    the observed difference in pay rate between attempts that got through and those that did
    not; and, with ``ipw``, the effect of the weights: effective sample
    size and the mean |standardised difference| between contacted and uncontacted rows before
    and after weighting (the old policy's selection that the weights undo).
    """
    from models.channel import ChannelResponseModel, standardized_differences

    train, valid, test = split["train"], split["valid"], split["test"]
    model = ChannelResponseModel(
        params=params,
        ipw=ipw,
        weight_clip=weight_clip,
        prior_lift=prior_lift,
        min_propensity=min_propensity,
        random_state=random_state,
    ).fit(train, train["label"], reached=train["reached"], eval_set=(valid, valid["label"]))
    metrics: dict[str, float] = {
        "best_iteration": float(model.best_iteration_),
        "trees_at_early_stopping": float(model.best_score_iteration_),
        "response_when_reached_best_iteration": float(model.response_model_.best_iteration_),
        **model.training_weights_,
    }
    # The S-learner is judged, and the old policy's balance measured, on sampled account-days
    # (with and without contact); the funnel on every attempt of the test block.
    for name, block in (("valid", sampled_rows(valid)), ("test", sampled_rows(test))):
        scores = model.predict_proba(block)[:, 1]
        for key, value in classification_metrics(block["label"], scores).items():
            metrics[f"{name}_{key}"] = value
    treated = test[test["channel"] != "none"]
    if len(treated):
        uplift = model.uplift(treated)
        reached = treated["reached"].astype(bool)
        if 0 < reached.mean() < 1:
            metrics["test_reach_auc"] = float(roc_auc_score(reached, uplift["p_reach"]))
        response = model.response_model_.predict_proba(treated)[:, 1]
        metrics["test_response_when_reached_auc"] = float(roc_auc_score(treated["label"], response))
        for channel, rows in uplift.groupby(treated["channel"].to_numpy()):
            metrics[f"test_mean_uplift_{channel}"] = float(rows["uplift"].mean())
            metrics[f"test_mean_reach_effect_{channel}"] = float(
                (rows["p_if_reached"] - rows["p_if_not_reached"]).mean()
            )
            attempts = treated.loc[rows.index]
            got_through = attempts["reached"].astype(bool)
            if got_through.any() and (~got_through).any():
                metrics[f"test_observed_reach_effect_{channel}"] = float(
                    attempts.loc[got_through, "label"].mean() - attempts.loc[~got_through, "label"].mean()
                )
    if ipw:
        columns = [
            "days_past_due",
            "amount_overdue",
            "n_outbound_contacts_30d",
            "on_time_share",
            "days_since_last_payment",
        ]
        balanced = sampled_rows(train)
        weights = model.policy_model_.weights(balanced, balanced["channel"], clip=weight_clip)
        before = standardized_differences(balanced, balanced["channel"], None, columns)
        after = standardized_differences(balanced, balanced["channel"], weights, columns)
        metrics["ipw_mean_abs_smd_before"] = float(before["smd"].abs().mean())
        metrics["ipw_mean_abs_smd_after"] = float(after["smd"].abs().mean())
    summary: dict[str, object] = {name: _block_summary(block) for name, block in split.items()}
    summary["treatments"] = sampled_rows(train)["channel"].value_counts().to_dict()
    summary["attempts"] = train.loc[train["channel"] != "none", "channel"].value_counts().to_dict()
    return TrainingOutcome(model=model, metrics=metrics, data_summary=summary)
