"""One account's full breakdown: every feature's value and SHAP contribution, and per channel the
response, self-cure and incremental value (``recover explain``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_contracts.enums import CHANNELS
from features.catalog import spec
from features.responses import option_rows
from scoring.allocation import incremental_values
from scoring.choice import response_options


@dataclass(frozen=True)
class AccountExplanation:
    """``contributions``: feature, description, value, shap (log-odds), sorted by |shap|;
    ``base_value`` + the sum of shap = ``margin``; ``p_pay`` the calibrated probability;
    ``channels``: per channel the funnel (p_reach, p_if_reached, p_if_not_reached), p_response,
    p_self_cure, uplift = p_reach x (p_if_reached - p_if_not_reached) and incremental value."""

    loan_id: str
    contributions: pd.DataFrame
    base_value: float
    margin: float
    p_pay: float
    channels: pd.DataFrame


def explain_account(
    features: pd.DataFrame,
    loan_id: str,
    propensity,
    channel_model=None,
    history: pd.DataFrame | None = None,
    channel_cost: Mapping[str, float] | None = None,
    *,
    payment_share=None,
    repeat_contact_discount: float = 1.0,
) -> AccountExplanation:
    """The breakdown of ``loan_id`` (a row of ``features``); KeyError when it has no row."""
    row = features[features["loan_id"] == loan_id]
    if row.empty:
        raise KeyError(loan_id)
    inputs = list(propensity.feature_names_in_)
    contributions, base = propensity.shap_values(row[inputs])
    values = contributions.iloc[0]
    table = pd.DataFrame(
        {
            "feature": inputs,
            "description": [spec(name).description for name in inputs],
            "value": [row.iloc[0][name] for name in inputs],
            "shap": values.to_numpy(),
        }
    )
    table = table.reindex(table["shap"].abs().sort_values(ascending=False, kind="stable").index)
    channels = pd.DataFrame()
    if channel_model is not None and history is not None:
        options = pd.DataFrame({"loan_id": loan_id, "channel": list(CHANNELS)})
        rows = option_rows(row, options, history)
        uplift = channel_model.uplift(rows)
        # The night's own valuation (amount at stake, repeat-contact discount), so the console
        # and the queue agree on what each channel is worth.
        valued = response_options(
            rows, uplift, payment_share=payment_share, repeat_contact_discount=repeat_contact_discount
        )
        channels = pd.DataFrame(
            {
                "channel": rows["channel"].to_numpy(),
                "p_reach": uplift["p_reach"].to_numpy(),
                "p_if_reached": uplift["p_if_reached"].to_numpy(),
                "p_if_not_reached": uplift["p_if_not_reached"].to_numpy(),
                "p_response": valued["p_contact"].to_numpy(),
                "p_self_cure": valued["p_self_cure"].to_numpy(),
                "uplift": (valued["p_contact"] - valued["p_self_cure"]).to_numpy(),
                # 1: the history identifies this channel's effect for the account; 0: the prior.
                "overlap_weight": (
                    uplift["overlap_weight"].to_numpy() if "overlap_weight" in uplift else np.ones(len(rows))
                ),
            }
        )
        if channel_cost is not None:
            scored = channels.rename(columns={"p_response": "p_contact"}).assign(
                amount_overdue=valued["amount_overdue"].to_numpy(),
                amount_at_stake=valued["amount_at_stake"].to_numpy(),
            )
            channels["incremental_value"] = incremental_values(scored, channel_cost).to_numpy()
            channels = channels.sort_values("incremental_value", ascending=False, kind="stable")
    return AccountExplanation(
        loan_id=loan_id,
        contributions=table.reset_index(drop=True),
        base_value=float(base),
        margin=float(base + values.sum()),
        p_pay=float(propensity.predict_proba(row[inputs])[0, 1]),
        channels=channels.reset_index(drop=True),
    )


def waterfall_png(explanation: AccountExplanation, path, max_display: int = 15) -> None:
    """SHAP's waterfall plot of the account's propensity score (log-odds), as a PNG file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    table = explanation.contributions
    numeric = pd.to_numeric(table["value"], errors="coerce").to_numpy(dtype="float64")
    shown = shap.Explanation(
        values=table["shap"].to_numpy(),
        base_values=explanation.base_value,
        data=np.where(np.isnan(numeric), np.nan, numeric),
        feature_names=table["feature"].tolist(),
    )
    plt.figure(figsize=(8, 6))
    shap.plots.waterfall(shown, max_display=max_display, show=False)
    plt.title(f"{explanation.loan_id}: p_pay {explanation.p_pay:.2f}")
    plt.savefig(path, dpi=100, bbox_inches="tight")
    plt.close("all")
