"""The indexed response-set builder gives exactly the frame of the plain per-day computation.

``build_response_set`` indexes the history once (attempts and payments sorted by time, each
table's rows grouped by loan, a superset of the overdue loans per day) instead of scanning it
every day. The references below are the plain computations it replaced, kept here verbatim in
meaning: every day filters the whole history again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.labels import label_pays
from features.point_in_time import Cutoff, as_of_instant, business_dates
from features.responses import (
    NO_CONTACT,
    PAID_AFTER_DAYS,
    REACHED_OUTCOMES,
    ResponsePlan,
    attempts_on,
    build_response_set,
    channel_history,
    response_rows,
    tables_of_loans,
    with_channel_features,
)
from features.snapshots import planned_dates, rows_by_date, snapshot_dates
from tests.conftest import LENDER_TIMEZONE, SMALL_BOOK_AS_OF


def _reference_followed_by_payment(
    attempts: pd.DataFrame, payments: pd.DataFrame, instant: pd.Timestamp, within_days: int
) -> np.ndarray:
    """Per attempt: was the loan's next payment (at or after the attempt, before ``instant``)
    made within ``within_days``? An as-of merge of the payments known at ``instant``."""
    paid = payments.loc[payments["paid_at"] < instant, ["loan_id", "paid_at"]]
    if attempts.empty or paid.empty:
        return np.zeros(len(attempts), dtype=bool)
    left = pd.DataFrame(
        {
            "position": np.arange(len(attempts)),
            "loan_id": attempts["loan_id"].astype("str").to_numpy(),
            "at": attempts["occurred_at"].astype("datetime64[us, UTC]").array,
        }
    ).sort_values("at", kind="stable")
    right = pd.DataFrame(
        {
            "loan_id": paid["loan_id"].astype("str").to_numpy(),
            "at": paid["paid_at"].astype("datetime64[us, UTC]").array,
        }
    ).sort_values("at", kind="stable")
    right["next_payment_at"] = right["at"]
    joined = pd.merge_asof(left, right, on="at", by="loan_id", direction="forward")
    followed = joined["next_payment_at"].notna() & (
        joined["next_payment_at"] < joined["at"] + pd.Timedelta(days=within_days)
    )
    out = np.zeros(len(attempts), dtype=bool)
    out[joined["position"].to_numpy()] = followed.to_numpy()
    return out


def _brute_force_followed_by_payment(
    attempts: pd.DataFrame, payments: pd.DataFrame, instant: pd.Timestamp, within_days: int
) -> np.ndarray:
    """The same flag by brute force: a payment of the attempt's loan at or after it, before
    ``instant`` and within ``within_days`` of it."""
    paid = payments[payments["paid_at"] < instant]
    out = []
    for loan_id, at in zip(attempts["loan_id"], attempts["occurred_at"], strict=True):
        times = paid.loc[paid["loan_id"] == loan_id, "paid_at"]
        later = times[times >= at]
        out.append(bool(len(later)) and later.min() < at + pd.Timedelta(days=within_days))
    return np.array(out, dtype=bool)


def _reference_channel_history(
    interactions: pd.DataFrame, payments: pd.DataFrame, as_of, *, days: int = 180
) -> pd.DataFrame:
    """The plain channel history: filter the whole history at the as-of, then aggregate."""
    instant = as_of_instant(as_of)
    recent = interactions[
        (interactions["direction"] == "outbound")
        & (interactions["occurred_at"] < instant)
        & (interactions["occurred_at"] >= instant - pd.Timedelta(days=days))
    ]
    age = (instant - recent["occurred_at"]).dt.total_seconds() / 86_400
    reached = recent["outcome"].isin(REACHED_OUTCOMES)
    paid_after = _reference_followed_by_payment(recent, payments, instant, PAID_AFTER_DAYS)
    recent = recent.assign(
        reached=reached,
        age=age,
        paid_after=paid_after,
        paid_after_reached=np.where(reached, paid_after.astype("float64"), np.nan),
    )
    grouped = recent.groupby(["loan_id", "channel"], observed=True)
    history = pd.DataFrame(
        {
            "channel_attempts_180d": grouped.size().astype("float64"),
            "channel_reached_share_180d": grouped["reached"].mean().astype("float64"),
            "channel_days_since_last_attempt": np.floor(grouped["age"].min()).astype("float64"),
            "channel_paid_after_share_180d": grouped["paid_after"].mean().astype("float64"),
            "channel_reached_attempts_180d": grouped["reached"].sum().astype("float64"),
            "channel_paid_after_reached_share_180d": grouped["paid_after_reached"].mean().astype("float64"),
        }
    )
    return history.reset_index().astype({"loan_id": "str", "channel": "str"})


def _reference_response_rows(
    features: pd.DataFrame, interactions: pd.DataFrame, payments: pd.DataFrame, plan: ResponsePlan
) -> pd.DataFrame:
    """One day's response rows from the whole (given) history, scanned for that day."""
    if features.empty:
        return features.assign(channel=pd.Series(dtype="str"), label=0, reached=False).iloc[:0]
    day = Cutoff(features["as_of"].iloc[0].date(), plan.cutoff_timezone)
    attempts = attempts_on(interactions, day)
    attempts = attempts[attempts["loan_id"].isin(features["loan_id"])]
    treated = features.merge(attempts, on="loan_id", how="inner")
    untreated = features[~features["loan_id"].isin(attempts["loan_id"])].assign(
        channel=NO_CONTACT, reached=False
    )
    rows = pd.concat([treated, untreated], ignore_index=True)
    rows = with_channel_features(rows, _reference_channel_history(interactions, payments, day))
    rows["label"] = label_pays(
        rows, payments, window_days=plan.window_days, timezone=plan.cutoff_timezone
    ).to_numpy()
    return rows.sort_values(["loan_id", "channel"], kind="stable", ignore_index=True)


def _reference_tables_of_loans(tables: Mapping[str, pd.DataFrame], loan_ids) -> dict[str, pd.DataFrame]:
    keep = pd.Index(pd.unique(np.asarray(loan_ids, dtype="object")))
    return {
        name: frame[frame["loan_id"].isin(keep)] if "loan_id" in frame.columns else frame
        for name, frame in tables.items()
    }


def _reference_response_set(
    tables: Mapping[str, pd.DataFrame], as_of: dt.date, plan: ResponsePlan
) -> pd.DataFrame:
    """The response set day by day: every overdue loan of the whole book on sampled days, the
    attempted loans' own rows on the days between."""
    sampled = planned_dates(tables, as_of, plan, "response day")
    first_day = tables["loans"]["disbursed_on"].min().date()
    every_day = snapshot_dates(first_day, as_of, replace(plan, every_days=plan.attempts_every_days))
    frames = [
        rows_by_date(
            tables,
            sampled,
            lambda features: _reference_response_rows(
                features, tables["interactions"], tables["payments"], plan
            ),
            timezone=plan.cutoff_timezone,
        ).assign(sampled_day=True)
    ]
    interactions = tables["interactions"]
    outbound = interactions[interactions["direction"] == "outbound"]
    work_days = business_dates(outbound["occurred_at"], plan.cutoff_timezone).dt.date
    for day in sorted(set(every_day) - set(sampled)):
        attempted = outbound.loc[(work_days == day).to_numpy(), "loan_id"].unique()
        if len(attempted):
            subset = _reference_tables_of_loans(tables, attempted)
            features = build_features(subset, Cutoff(day, plan.cutoff_timezone))
            rows = _reference_response_rows(features, subset["interactions"], subset["payments"], plan)
            frames.append(rows[rows["channel"] != NO_CONTACT].assign(sampled_day=False))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["as_of", "loan_id", "channel"], kind="stable", ignore_index=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "plan",
    [
        ResponsePlan(every_days=8, attempts_every_days=2, cutoff_timezone=LENDER_TIMEZONE),
        ResponsePlan(every_days=6, attempts_every_days=3, window_days=10),
    ],
    ids=["lender-clock", "utc-every-day"],
)
def test_the_response_set_equals_the_plain_day_by_day_computation(small_tables, plan):
    expected = _reference_response_set(small_tables, SMALL_BOOK_AS_OF, plan)
    assert (~expected["sampled_day"]).any() and (expected["channel"] == NO_CONTACT).any()
    assert expected["channel_paid_after_share_180d"].gt(0).any() and expected["label"].gt(0).any()
    pd.testing.assert_frame_equal(build_response_set(small_tables, SMALL_BOOK_AS_OF, plan), expected)


@pytest.mark.parametrize("days_back", [20, 45, 90])
def test_channel_history_and_response_rows_equal_the_plain_computation(small_tables, days_back):
    day = Cutoff(SMALL_BOOK_AS_OF - dt.timedelta(days=days_back), LENDER_TIMEZONE)
    interactions, payments = small_tables["interactions"], small_tables["payments"]
    pd.testing.assert_frame_equal(
        channel_history(interactions, payments, day), _reference_channel_history(interactions, payments, day)
    )
    features = build_features(small_tables, day)
    plan = ResponsePlan(cutoff_timezone=LENDER_TIMEZONE)
    pd.testing.assert_frame_equal(
        response_rows(features, interactions, payments, window_days=7, timezone=LENDER_TIMEZONE),
        _reference_response_rows(features, interactions, payments, plan),
    )


def test_tables_of_loans_keeps_each_table_s_row_order(small_tables):
    loans = small_tables["loans"]["loan_id"].iloc[[40, 3, 17, 3]].to_numpy()
    subset = tables_of_loans(small_tables, loans)
    for name, frame in _reference_tables_of_loans(small_tables, loans).items():
        pd.testing.assert_frame_equal(subset[name], frame)


def _interactions(rows):
    frame = pd.DataFrame(rows, columns=["loan_id", "occurred_at", "channel", "direction", "outcome"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    return frame


def _payments(rows):
    frame = pd.DataFrame(rows, columns=["loan_id", "paid_at", "amount"])
    frame["paid_at"] = pd.to_datetime(frame["paid_at"], utc=True, format="ISO8601")
    return frame


def test_a_payment_at_or_after_the_as_of_never_counts_as_paid_after():
    """The next payment of an attempt is found once for the whole history; on an as-of before
    it, it must not count (nor may a later payment stand in for it)."""
    interactions = _interactions(
        [
            ("L1", "2025-02-27 09:00", "call", "outbound", "right_party_contact"),  # paid exactly at as_of
            ("L2", "2025-02-26 09:00", "sms", "outbound", "delivered"),  # paid just after as_of
            ("L3", "2025-02-25 09:00", "sms", "outbound", "delivered"),  # paid before as_of
            ("L3", "2025-02-28 23:00", "sms", "outbound", "delivered"),  # paid only after as_of
            ("L4", "2025-02-28 12:00", "call", "outbound", "no_answer"),  # paid at the attempt itself
            ("L5", "2025-02-20 09:00", "call", "outbound", "no_answer"),  # next payment 7 days later
            ("L6", "2025-03-01 10:00", "call", "outbound", "no_answer"),  # after as_of: not history
            ("L7", "2024-09-01 09:00", "call", "outbound", "no_answer"),  # before the 180 days
        ]
    )
    payments = _payments(
        [
            ("L1", "2025-03-01 00:00", 10.0),
            ("L2", "2025-03-01 00:00:01", 10.0),
            ("L3", "2025-02-26 09:00", 10.0),
            ("L3", "2025-03-01 08:00", 10.0),
            ("L4", "2025-02-28 12:00", 10.0),
            ("L5", "2025-02-27 09:00", 10.0),
            ("L6", "2025-03-01 11:00", 10.0),
        ]
    )
    for as_of in (dt.date(2025, 3, 1), dt.date(2025, 3, 2), Cutoff(dt.date(2025, 3, 1), LENDER_TIMEZONE)):
        history = channel_history(interactions, payments, as_of)
        pd.testing.assert_frame_equal(history, _reference_channel_history(interactions, payments, as_of))
        instant = as_of_instant(as_of)
        np.testing.assert_array_equal(
            _reference_followed_by_payment(interactions, payments, instant, PAID_AFTER_DAYS),
            _brute_force_followed_by_payment(interactions, payments, instant, PAID_AFTER_DAYS),
        )
    share = channel_history(interactions, payments, dt.date(2025, 3, 1)).set_index(["loan_id", "channel"])[
        "channel_paid_after_share_180d"
    ]
    assert share.to_dict() == {
        ("L1", "call"): 0.0,
        ("L2", "sms"): 0.0,
        ("L3", "sms"): 0.5,
        ("L4", "call"): 1.0,
        ("L5", "call"): 0.0,
    }
    # A day later, the payments of the as-of day are known and count.
    later = channel_history(interactions, payments, dt.date(2025, 3, 2)).set_index(["loan_id", "channel"])
    assert later.loc[("L1", "call"), "channel_paid_after_share_180d"] == 1.0
    assert later.loc[("L3", "sms"), "channel_paid_after_share_180d"] == 1.0
