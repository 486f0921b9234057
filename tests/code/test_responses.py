"""Response rows: treatments, labels after the day, and no look-ahead in the features."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

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


def test_a_loan_s_features_and_response_rows_need_only_its_own_rows(small_tables):
    """Attempt-only days build features from the attempted loans' rows alone: that must give
    exactly the rows the whole book gives for them."""
    from features.responses import tables_of_loans
    from tests.conftest import SMALL_BOOK_AS_OF

    day = SMALL_BOOK_AS_OF - dt.timedelta(days=45)
    every = response_rows(
        build_features(small_tables, day),
        small_tables["interactions"],
        small_tables["payments"],
        window_days=7,
    )
    attempted = every.loc[every["channel"] != NO_CONTACT, "loan_id"].unique()
    subset = tables_of_loans(small_tables, attempted)
    assert len(subset["payments"]) < len(small_tables["payments"])
    alone = response_rows(
        build_features(subset, day), subset["interactions"], subset["payments"], window_days=7
    )
    expected = every[every["loan_id"].isin(attempted)].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.reset_index(drop=True), expected)


@pytest.mark.slow
def test_the_response_set_samples_account_days_and_keeps_every_attempt_between(small_tables):
    from features.responses import ResponsePlan, build_response_set, sampled_rows
    from tests.conftest import SMALL_BOOK_AS_OF

    plan = ResponsePlan(every_days=4, attempts_every_days=1)
    rows = build_response_set(small_tables, SMALL_BOOK_AS_OF, plan)
    sampled = sampled_rows(rows)
    between = rows[~rows["sampled_day"]]
    assert (sampled["channel"] == NO_CONTACT).any() and not (between["channel"] == NO_CONTACT).any()
    sampled_days = set(sampled["as_of"].dt.date)
    assert not sampled_days & set(between["as_of"].dt.date)
    assert len(set(rows["as_of"].dt.date)) > 3 * len(sampled_days)  # (nearly) every day has attempts
    assert rows["as_of"].max() <= pd.Timestamp(SMALL_BOOK_AS_OF - dt.timedelta(days=7))
    # Every attempt row is an outbound attempt of its day, and none is counted twice.
    outbound = small_tables["interactions"][small_tables["interactions"]["direction"] == "outbound"]
    day_of = outbound["occurred_at"].dt.tz_convert(None).dt.normalize()
    made = set(zip(outbound["loan_id"], day_of, outbound["channel"], strict=True))
    attempts = rows[rows["channel"] != NO_CONTACT]
    keys = list(
        zip(attempts["loan_id"], attempts["as_of"].astype("datetime64[ns]"), attempts["channel"], strict=True)
    )
    assert len(keys) == len(set(keys)) and set(keys) <= made
    in_span = (day_of >= rows["as_of"].min()) & (day_of <= rows["as_of"].max())
    assert len(keys) > 0.8 * len(
        set(zip(outbound["loan_id"][in_span], day_of[in_span], outbound["channel"][in_span], strict=True))
    )
    thin = build_response_set(
        small_tables, SMALL_BOOK_AS_OF, ResponsePlan(every_days=4, attempts_every_days=4)
    )
    assert thin["sampled_day"].all() and len(thin) == len(sampled)
