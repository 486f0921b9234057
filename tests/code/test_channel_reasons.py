"""Why this channel rather than the runner-up: reasons from SHAP differences, and the runner-up."""

from __future__ import annotations

import pandas as pd
import pytest

from features.catalog import spec
from scoring.choice import runner_up_channels
from scoring.reasons import channel_reasons

COST = {"call": 2.0, "sms": 0.05, "email": 0.02, "whatsapp": 0.05, "field_visit": 25.0, "letter": 1.0}


def _rows(channel: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "loan_id": ["L1", "L2"],
            "channel": channel,
            "days_past_due": [12.0, 40.0],
            "channel_paid_after_share_180d": [0.75, float("nan")],
            "channel_reached_share_180d": [0.5, 0.2],
        }
    )


def test_reasons_favouring_the_chosen_channel_come_first_and_the_rest_say_despite():
    chosen, rival = _rows(["sms", "call"]), _rows(["call", "none"])
    names = ["days_past_due", "channel_paid_after_share_180d", "channel_reached_share_180d"]
    chosen_shap = pd.DataFrame([[0.5, 0.9, 0.1], [0.2, 0.0, 0.3]], columns=names)
    rival_shap = pd.DataFrame([[0.5, 0.1, 0.3], [0.2, 0.0, -0.5]], columns=names)
    reasons = channel_reasons(chosen, rival, chosen_shap, rival_shap, n=2)
    assert list(reasons.columns) == ["channel_reason_1", "channel_reason_2"]
    first = reasons.iloc[0].tolist()
    # A channel's own history is quoted for both channels; what argues against the choice
    # begins with "Despite" and never says it favours the other channel.
    assert first[0] == (
        "Paid within a week after 75% of recent sms attempts, against 75% for call (favours sms over call)"
    )
    assert first[1] == (
        "Despite reached through sms in 50% of recent attempts, against 50% for call "
        "(counts against sms compared with call)"
    )
    second = reasons.iloc[1].tolist()
    assert second[0] == "Reached through call in 20% of recent attempts (favours call over no contact)"
    # Features that make no difference between the options are not reasons.
    assert second[1] == "Nothing else in this account's data separates call from no contact"


def test_every_catalogued_input_can_be_a_channel_reason(small_tables):
    from features.build import build_features
    from features.catalog import CHANNEL_INPUT_NAMES, FEATURE_NAMES
    from tests.conftest import SMALL_BOOK_AS_OF

    names = [*FEATURE_NAMES, *CHANNEL_INPUT_NAMES]
    rows = (
        build_features(small_tables, SMALL_BOOK_AS_OF)
        .head(1)
        .assign(
            channel="sms",
            channel_attempts_180d=2.0,
            channel_reached_share_180d=0.5,
            channel_days_since_last_attempt=3.0,
            channel_paid_after_share_180d=0.5,
        )
    )
    for name in names:  # each feature in turn as the only difference between the options
        chosen_shap = pd.DataFrame([[1.0 if n == name else 0.0 for n in names]], columns=names)
        rival_shap = pd.DataFrame([[0.0] * len(names)], columns=names)
        reasons = channel_reasons(rows, rows.assign(channel="none"), chosen_shap, rival_shap, n=1)
        if name == "channel":  # the option itself: circular, never a reason
            assert reasons.iloc[0, 0].startswith("Nothing else")
        else:
            assert reasons.iloc[0, 0].endswith("(favours sms over no contact)")
        against = channel_reasons(rows, rows.assign(channel="none"), rival_shap, chosen_shap, n=1)
        if name != "channel":
            assert against.iloc[0, 0].startswith("Despite ")


def test_missing_channel_history_is_phrased_not_crashed():
    phrase = spec("channel_paid_after_share_180d").describe_value(
        {"channel": "letter", "channel_paid_after_share_180d": float("nan")}
    )
    assert phrase == "No letter attempts in the last 180 days to learn from"


@pytest.mark.parametrize(
    ("others", "expected"),
    [
        ([("sms", 0.30), ("email", 0.25)], "sms"),  # the next best channel by value
        ([("sms", 0.20)], "none"),  # sms adds nothing (p = self-cure): no contact is the rival
        ([], "none"),  # no other lawful channel
    ],
)
def test_runner_up_is_the_next_best_valuable_channel_else_no_contact(others, expected):
    options = pd.DataFrame(
        [("L1", "call", 0.40), *[("L1", channel, p) for channel, p in others]],
        columns=["loan_id", "channel", "p_contact"],
    ).assign(p_self_cure=0.20, amount_overdue=100.0)
    assignments = pd.DataFrame({"loan_id": ["L1"], "channel": ["call"]})
    assert runner_up_channels(assignments, options, COST).to_dict() == {"L1": expected}
