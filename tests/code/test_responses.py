"""Response rows: treatments, labels after the day, and no look-ahead in the features."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from features.build import build_features
from features.responses import NO_CONTACT, attempts_on, channel_history, response_rows, with_channel_features

DAY = dt.date(2025, 3, 1)


def _interactions(rows):
    frame = pd.DataFrame(rows, columns=["loan_id", "occurred_at", "channel", "direction", "outcome"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


def test_attempts_of_the_day_only_outbound_and_reached_if_any_got_through():
    interactions = _interactions(
        [
            ("L1", "2025-03-01 09:00", "call", "outbound", "no_answer"),
            ("L1", "2025-03-01 15:00", "call", "outbound", "promise_to_pay"),
            ("L2", "2025-03-01 10:00", "sms", "outbound", "delivered"),
            ("L2", "2025-03-01 11:00", "email", "outbound", "undelivered"),
            ("L2", "2025-03-01 12:00", "call", "outbound", "wrong_party"),
            ("L3", "2025-03-01 10:00", "call", "inbound", "right_party_contact"),
            ("L4", "2025-02-28 23:59", "call", "outbound", "right_party_contact"),
            ("L5", "2025-03-02 00:00", "call", "outbound", "right_party_contact"),
        ]
    )
    attempts = attempts_on(interactions, DAY).set_index(["loan_id", "channel"])["reached"]
    # A delivered message got through; an undelivered one, or a wrong party, did not.
    assert attempts.to_dict() == {
        ("L1", "call"): True,
        ("L2", "call"): False,
        ("L2", "email"): False,
        ("L2", "sms"): True,
    }


def test_channel_history_ignores_the_as_of_day_and_later():
    interactions = _interactions(
        [
            ("L1", "2025-02-20 09:00", "call", "outbound", "no_answer"),
            ("L1", "2025-02-27 09:00", "call", "outbound", "right_party_contact"),
            ("L1", "2025-03-01 00:00", "call", "outbound", "right_party_contact"),
            ("L1", "2025-03-05 00:00", "sms", "outbound", "delivered"),
        ]
    )
    history = channel_history(interactions, _payments([]), DAY).set_index(["loan_id", "channel"])
    assert list(history.index) == [("L1", "call")]
    assert history.loc[("L1", "call"), "channel_attempts_180d"] == 2
    assert history.loc[("L1", "call"), "channel_reached_share_180d"] == 0.5
    assert history.loc[("L1", "call"), "channel_days_since_last_attempt"] == 1
    assert history.loc[("L1", "call"), "channel_paid_after_share_180d"] == 0.0
    assert history.loc[("L1", "call"), "channel_reached_attempts_180d"] == 1


def _payments(rows):
    frame = pd.DataFrame(rows, columns=["loan_id", "paid_at", "amount"])
    frame["paid_at"] = pd.to_datetime(frame["paid_at"], utc=True)
    return frame


def test_paid_after_share_counts_payments_within_the_window_and_before_as_of():
    interactions = _interactions(
        [
            ("L1", "2025-01-10 09:00", "sms", "outbound", "delivered"),  # paid 3 days later
            ("L1", "2025-01-20 09:00", "sms", "outbound", "delivered"),  # next payment 10 days later
            ("L1", "2025-02-26 09:00", "sms", "outbound", "delivered"),  # paid on as_of: not seen
            ("L2", "2025-02-01 09:00", "sms", "outbound", "delivered"),  # another loan's payment
        ]
    )
    payments = _payments(
        [
            ("L1", "2025-01-13 12:00", 50.0),
            ("L1", "2025-01-30 12:00", 50.0),
            ("L1", "2025-03-01 00:00", 50.0),
            ("L3", "2025-02-02 12:00", 50.0),
        ]
    )
    history = channel_history(interactions, payments, DAY).set_index(["loan_id", "channel"])
    assert history.loc[("L1", "sms"), "channel_paid_after_share_180d"] == 1 / 3
    assert history.loc[("L2", "sms"), "channel_paid_after_share_180d"] == 0.0


def test_response_rows_features_do_not_see_the_day_and_labels_do(small_tables):
    from tests.conftest import SMALL_BOOK_AS_OF

    day = SMALL_BOOK_AS_OF - dt.timedelta(days=30)
    features = build_features(small_tables, day)
    rows = response_rows(features, small_tables["interactions"], small_tables["payments"], window_days=7)
    assert set(rows["channel"]) - {NO_CONTACT} and (rows["channel"] == NO_CONTACT).any()
    treated_loans = set(rows.loc[rows["channel"] != NO_CONTACT, "loan_id"])
    assert not treated_loans & set(rows.loc[rows["channel"] == NO_CONTACT, "loan_id"])
    # Dropping every event on or after the day changes no feature, only (possibly) labels.
    cut = dict(small_tables)
    instant = pd.Timestamp(day, tz="UTC")
    cut["payments"] = small_tables["payments"][small_tables["payments"]["paid_at"] < instant]
    cut["interactions"] = small_tables["interactions"][small_tables["interactions"]["occurred_at"] < instant]
    pd.testing.assert_frame_equal(build_features(cut, day), features)
    blind = response_rows(features, cut["interactions"], cut["payments"], window_days=7)
    assert (blind["label"] == 0).all() and (blind["channel"] == NO_CONTACT).all()
    assert rows["label"].sum() > 0


def test_paid_after_reached_share_counts_only_attempts_that_got_through():
    interactions = _interactions(
        [
            ("L1", "2025-01-10 09:00", "call", "outbound", "no_answer"),  # paid 2 days later
            ("L1", "2025-01-20 09:00", "call", "outbound", "right_party_contact"),  # paid 2 days later
            ("L1", "2025-02-10 09:00", "call", "outbound", "promise_to_pay"),  # no payment after
            ("L2", "2025-02-10 09:00", "call", "outbound", "no_answer"),  # never reached
        ]
    )
    payments = _payments([("L1", "2025-01-12 12:00", 50.0), ("L1", "2025-01-22 12:00", 50.0)])
    history = channel_history(interactions, payments, DAY).set_index(["loan_id", "channel"])
    assert history.loc[("L1", "call"), "channel_paid_after_share_180d"] == 2 / 3
    assert history.loc[("L1", "call"), "channel_reached_attempts_180d"] == 2
    assert history.loc[("L1", "call"), "channel_paid_after_reached_share_180d"] == 0.5
    assert history.loc[("L2", "call"), "channel_reached_attempts_180d"] == 0
    assert pd.isna(history.loc[("L2", "call"), "channel_paid_after_reached_share_180d"])


def test_untried_channels_have_zero_attempts_and_unknown_shares():
    options = pd.DataFrame({"loan_id": ["L1", "L1"], "channel": ["call", "sms"]})
    history = channel_history(
        _interactions([("L1", "2025-02-10 09:00", "call", "outbound", "right_party_contact")]),
        _payments([]),
        DAY,
    )
    rows = with_channel_features(options, history).set_index("channel")
    assert rows.loc["sms", "channel_attempts_180d"] == 0
    assert rows.loc["sms", "channel_reached_attempts_180d"] == 0
    assert (
        rows.loc[["sms"], ["channel_reached_share_180d", "channel_paid_after_reached_share_180d"]]
        .isna()
        .all(axis=None)
    )
    assert rows.loc["call", "channel_reached_attempts_180d"] == 1
