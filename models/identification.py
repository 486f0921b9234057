"""Where the history identifies a channel's effect, and what the engine says elsewhere.

Historical contact policies are rule ladders: days past due decides the channel (texts for
early arrears, calls in the middle, letters and visits late), so for most accounts only one
channel was ever used and any other channel's "effect" would be read off accounts unlike them.
The data identify an effect of channel ``c`` at an account ``x`` only where the old policy
used ``c`` on accounts like ``x`` with a probability bounded away from zero (overlap). The
old policy's propensity ``e_c(x)`` comes from :class:`models.channel.ContactPolicyModel`; the
overlap weight

    w(x, c) = min(1, e_c(x) / min_propensity)

is 1 where the policy used the channel on such accounts at least ``min_propensity`` of their
days and falls to 0 where it never did. The effect the queue uses is shrunk toward the stated
prior (``channel_model.prior_lift``: the share of the gap to paying one contact closes) by the
same weight:

    effect(x, c) = w x learnt(x, c) + (1 - w) x prior_lift[c] x (1 - p_self_cure(x))

so an unidentified cell says what the lender assumed rather than what the model extrapolated,
and the exploration slots are aimed at those cells (``1 - w``) to identify them next time.
Randomised contacts (the engine's exploration, test cells) are overlap by construction: they
raise ``e_c`` wherever they were made.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.evaluation import dpd_bucket

IDENTIFICATION_COLUMNS = [
    "channel",
    "dpd_bucket",
    "product",
    "account_days",
    "attempts",
    "mean_propensity",
    "identified_share",
    "mean_overlap_weight",
    "identified",
]


def overlap_weights(propensity: npt.ArrayLike, min_propensity: float) -> np.ndarray:
    """w = min(1, e / min_propensity): 1 where the old policy used the channel on such accounts
    at least ``min_propensity`` of their days, 0 where it never did."""
    if min_propensity <= 0:
        return np.ones(np.shape(propensity))
    return np.clip(np.asarray(propensity, dtype="float64") / min_propensity, 0.0, 1.0)


def prior_effect(
    channel: npt.ArrayLike, p_self_cure: npt.ArrayLike, prior_lift: Mapping[str, float]
) -> np.ndarray:
    """The stated prior's effect: ``prior_lift[c]`` of the gap to paying (0 for no contact)."""
    lift = pd.Series(np.asarray(channel, dtype="str")).map(dict(prior_lift)).fillna(0.0)
    return lift.to_numpy(dtype="float64") * (1.0 - np.asarray(p_self_cure, dtype="float64"))


def shrink_to_prior(learnt: npt.ArrayLike, prior: npt.ArrayLike, weight: npt.ArrayLike) -> np.ndarray:
    """The effect the queue uses: the learnt effect where identified, the prior where not."""
    weight = np.asarray(weight, dtype="float64")
    # NumPy types the product of two arrays of unknown dtype as Any.
    effect: np.ndarray = weight * np.asarray(learnt, dtype="float64") + (1.0 - weight) * np.asarray(
        prior, dtype="float64"
    )
    return effect


def identification_table(
    rows: pd.DataFrame,
    propensity: pd.DataFrame,
    min_propensity: float,
    min_share: float = 0.5,
    min_attempts: int = 20,
) -> pd.DataFrame:
    """Per channel x days-past-due bucket x product: account-days, attempts through the channel,
    the old policy's mean propensity, the share of account-days whose overlap weight is 1, the
    mean weight, and ``identified`` (mean weight at least ``min_share`` and at least
    ``min_attempts`` attempts: a propensity the policy model extrapolates is not evidence).

    ``rows`` are the training account-days (``channel``: the treatment that day, ``none`` or a
    channel; ``days_past_due``; ``product``); ``propensity`` holds e_c(x) per channel column,
    same index (a channel the policy never used has no column: its propensity is 0)."""
    segment = pd.DataFrame(
        {
            "dpd_bucket": dpd_bucket(rows["days_past_due"]).astype("str").to_numpy(),
            "product": rows["product"].astype("str").to_numpy(),
        },
        index=rows.index,
    )
    treatment = rows["channel"].astype("str")
    tables = []
    for channel in sorted(c for c in propensity.columns if c != "none"):
        e = propensity[channel].to_numpy(dtype="float64")
        weight = overlap_weights(e, min_propensity)
        frame = segment.assign(
            attempts=(treatment == channel).to_numpy(),
            propensity=e,
            full=weight >= 1.0,
            weight=weight,
        )
        grouped = frame.groupby(["dpd_bucket", "product"], observed=True, sort=True).agg(
            account_days=("weight", "size"),
            attempts=("attempts", "sum"),
            mean_propensity=("propensity", "mean"),
            identified_share=("full", "mean"),
            mean_overlap_weight=("weight", "mean"),
        )
        tables.append(grouped.reset_index().assign(channel=channel))
    if not tables:
        return pd.DataFrame(columns=IDENTIFICATION_COLUMNS)
    table = pd.concat(tables, ignore_index=True)
    table["attempts"] = table["attempts"].astype("int64")
    table["identified"] = (table["mean_overlap_weight"] >= min_share) & (table["attempts"] >= min_attempts)
    return table[IDENTIFICATION_COLUMNS].sort_values(["channel", "dpd_bucket", "product"], ignore_index=True)


def identification_summary(table: pd.DataFrame) -> dict[str, float]:
    """Per channel, the share of account-days in identified cells (for metrics and the card)."""
    out: dict[str, float] = {}
    for channel, part in table.groupby("channel"):
        days = part["account_days"].sum()
        out[str(channel)] = float(part.loc[part["identified"], "account_days"].sum() / days) if days else 0.0
    return out


__all__ = [
    "IDENTIFICATION_COLUMNS",
    "identification_summary",
    "identification_table",
    "overlap_weights",
    "prior_effect",
    "shrink_to_prior",
]
