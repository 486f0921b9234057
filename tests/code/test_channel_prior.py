"""Books without a usable contact history: no channel model is fitted, the stated prior values
channels, and every output says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_contracts.enums import CHANNELS
from models.channel_history import channel_history_gap
from models.channel_prior import ChannelPriorModel, is_prior
from recover.config import ChannelModelConfig
from scoring.choice import explain_channels

PRIOR = ChannelModelConfig().prior_lift


class FixedPropensity:
    """A propensity model that returns the row's own ``p`` column."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = X["p"].to_numpy(dtype="float64")
        return np.column_stack([1 - p, p])


def _prior() -> ChannelPriorModel:
    return ChannelPriorModel(FixedPropensity(), PRIOR, "no contacts in the history").fit()


def test_the_prior_closes_its_share_of_the_gap_and_no_contact_adds_nothing():
    rows = pd.DataFrame({"p": [0.2, 0.2, 0.9, 0.5], "channel": ["call", "letter", "call", "none"]})
    out = _prior().uplift(rows)
    assert out["p_self_cure"].tolist() == pytest.approx([0.2, 0.2, 0.9, 0.5])
    assert out["uplift"].tolist() == pytest.approx(
        [PRIOR["call"] * 0.8, PRIOR["letter"] * 0.8, PRIOR["call"] * 0.1, 0.0]
    )
    assert out["p_reach"].isna().all()  # reach is not modelled, and not pretended
    assert is_prior(_prior()) and not is_prior(FixedPropensity())


def test_a_prior_must_name_every_channel_with_a_lift_between_zero_and_one():
    with pytest.raises(ValueError, match="no lift"):
        ChannelPriorModel(FixedPropensity(), {"call": 0.1}).fit()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ChannelPriorModel(FixedPropensity(), {**PRIOR, "call": 1.5}).fit()
    with pytest.raises(ValueError):
        ChannelModelConfig(prior_lift={**PRIOR, "sms": -0.1})


def test_the_channel_reasons_state_the_prior_not_a_learnt_effect():
    queued = pd.DataFrame({"loan_id": ["L1", "L2"], "recommended_channel": ["call", "sms"]}, index=[10, 11])
    runner_up = pd.Series({"L1": "sms", "L2": "none"})
    reasons = explain_channels(queued, runner_up, pd.DataFrame(), _prior(), n=3)
    assert reasons.index.tolist() == [10, 11]
    assert reasons["runner_up_channel"].tolist() == ["sms", "none"]
    assert reasons["channel_reason_1"].str.startswith("No channel model: no contacts in the history").all()
    assert "6% of the gap" in reasons.loc[10, "channel_reason_2"]
    assert "over no contact" in reasons.loc[11, "channel_reason_3"].lower()
    assert not reasons.stack().str.contains("favours").any()


def _responses(attempts: int, reached_share: float, days: int = 400) -> pd.DataFrame:
    channels = ["none"] * days + ["call"] * attempts
    reached = [False] * days + [i < reached_share * attempts for i in range(attempts)]
    return pd.DataFrame({"channel": channels, "reached": reached})


@pytest.mark.parametrize(
    ("attempts", "reached_share", "expected"),
    [
        (0, 0.0, "no outbound contact"),
        (50, 0.5, "50 outbound contacts, fewer than the 200"),
        (500, 1.0, "reached the borrower"),
        (500, 0.0, "failed to reach the borrower"),
        (500, 0.3, None),
    ],
)
def test_a_channel_model_is_fitted_only_where_the_history_can_teach_one(attempts, reached_share, expected):
    gap = channel_history_gap(_responses(attempts, reached_share), min_attempts=200)
    if expected is None:
        assert gap is None
    else:
        assert expected in gap


def test_the_default_prior_covers_every_channel_and_ranks_conversations_first():
    assert set(PRIOR) == set(CHANNELS)
    assert PRIOR["field_visit"] > PRIOR["call"] > max(PRIOR["sms"], PRIOR["email"], PRIOR["letter"])
