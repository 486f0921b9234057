"""Fit the propensity model on out-of-time blocks and measure it against the heuristic."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.metrics import roc_auc_score

from features.responses import sampled_rows
from models.evaluation import classification_metrics, heuristic_auc
from models.propensity import PropensityModel


@dataclass(frozen=True)
class TrainingOutcome:
    """A fitted model, its out-of-time metrics and what data it saw."""

    model: PropensityModel
    metrics: dict[str, float]
    data_summary: dict[str, object]


def _block_summary(block: pd.DataFrame) -> dict[str, object]:
    return {
        "rows": int(len(block)),
        "first_snapshot": str(block["as_of"].min().date()),
        "last_snapshot": str(block["as_of"].max().date()),
        "snapshots": int(block["as_of"].nunique()),
        "pay_rate": round(float(block["label"].mean()), 4),
    }


def train_propensity(split: dict[str, pd.DataFrame], params: dict, random_state: int) -> TrainingOutcome:
    """Fit on ``train``, early-stop and calibrate on ``valid``, report on ``valid`` and ``test``.

    The test block is the newest one and is touched only here, for measurement.
    """
    train, valid, test = split["train"], split["valid"], split["test"]
    model = PropensityModel(params=params, random_state=random_state).fit(
        train, train["label"], eval_set=(valid, valid["label"])
    )
    metrics: dict[str, float] = {"best_iteration": float(model.best_iteration_)}
    for name, block in (("valid", valid), ("test", test)):
        scores = model.predict_proba(block)[:, 1]
        for key, value in classification_metrics(block["label"], scores).items():
            metrics[f"{name}_{key}"] = value
        metrics[f"{name}_heuristic_dpd_auc"] = heuristic_auc(block, block["label"])
    summary = {name: _block_summary(block) for name, block in split.items()}
    return TrainingOutcome(model=model, metrics=metrics, data_summary=summary)


def train_channel(
    split: dict[str, pd.DataFrame],
    params: dict,
    random_state: int,
    *,
    ipw: bool = True,
    weight_clip: float = 20.0,
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
        params=params, ipw=ipw, weight_clip=weight_clip, random_state=random_state
    ).fit(train, train["label"], reached=train["reached"], eval_set=(valid, valid["label"]))
    metrics: dict[str, float] = {"best_iteration": float(model.best_iteration_), **model.training_weights_}
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
    summary = {name: _block_summary(block) for name, block in split.items()}
    summary["treatments"] = sampled_rows(train)["channel"].value_counts().to_dict()
    summary["attempts"] = train.loc[train["channel"] != "none", "channel"].value_counts().to_dict()
    return TrainingOutcome(model=model, metrics=metrics, data_summary=summary)
