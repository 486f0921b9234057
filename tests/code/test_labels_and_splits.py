"""Labels look only after the snapshot date; splits never let a label window cross a block."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.build import build_features
from features.labels import label_pays, qualifying_amount
from features.snapshots import (
    HistoryTooShortError,
    SnapshotPlan,
    is_monthly_book,
    out_of_time_split,
    snapshot_dates,
    split_plan,
)
from tests.factories import payment, typed_tables

AS_OF = dt.date(2025, 1, 15)  # L1 owes 400 (4 installments of 100)


def _label(payments, window_days=30, rule="min_overdue_or_installment"):
    tables = typed_tables(payments=payments)
    features = build_features(tables, AS_OF)
    return int(label_pays(features, tables["payments"], window_days=window_days, rule=rule).iloc[0])


@pytest.mark.parametrize(
    ("payments", "expected"),
    [
        ([], 0),
        ([payment("P1", "2025-01-20T10:00:00", 100.0)], 1),  # one installment qualifies
        ([payment("P1", "2025-01-20T10:00:00", 60.0), payment("P2", "2025-01-25T10:00:00", 40.0)], 1),
        ([payment("P1", "2025-01-20T10:00:00", 99.0)], 0),
        ([payment("P1", "2025-02-14T00:00:00", 100.0)], 0),  # day 30: outside [S, S+30d)
        ([payment("P1", "2025-02-13T23:59:00", 100.0)], 1),
        ([payment("P1", "2025-01-14T23:59:00", 100.0)], 0),  # before S: a feature, not the label
    ],
)
def test_label_counts_payments_in_the_window_only(payments, expected):
    # the payment before S lowers arrears to 300 but the label still needs 100 inside the window
    assert _label(payments) == expected


def test_label_rules():
    frame = pd.DataFrame({"amount_overdue": [50.0, 400.0], "installment_amount": [100.0, 100.0]})
    assert list(qualifying_amount(frame, "min_overdue_or_installment")) == [50.0, 100.0]
    assert list(qualifying_amount(frame, "amount_overdue")) == [50.0, 400.0]
    assert list(qualifying_amount(frame, "one_installment")) == [100.0, 100.0]
    with pytest.raises(ValueError, match="unknown qualifying rule"):
        qualifying_amount(frame, "everything")


def test_snapshot_label_windows_end_by_as_of():
    plan = SnapshotPlan(every_days=14, min_history_days=30, window_days=30)
    dates = snapshot_dates(dt.date(2024, 1, 1), AS_OF, plan)
    assert dates == sorted(dates)
    assert max(dates) + dt.timedelta(days=30) == AS_OF
    assert all(d + dt.timedelta(days=30) <= AS_OF for d in dates)
    assert min(dates) >= dt.date(2024, 1, 31)


def test_out_of_time_split_embargoes_label_windows():
    plan = SnapshotPlan(every_days=7, window_days=30, validation_days=56, test_days=28)
    dates = pd.date_range("2024-01-01", "2024-12-31", freq="7D")
    snapshots = pd.DataFrame({"as_of": dates, "label": 1})
    split = out_of_time_split(snapshots, plan)
    train, valid, test = (split[k]["as_of"] for k in ("train", "valid", "test"))
    window = pd.Timedelta(days=30)
    assert train.max() + window <= valid.min()
    assert valid.max() + window <= test.min()
    assert test.max() == dates.max()
    assert len(train) + len(valid) + len(test) < len(snapshots)  # embargoed dates are dropped


# --- short histories: the plan is sized from the history, or says what is missing ---------------


def test_a_long_history_keeps_the_configured_blocks():
    plan = SnapshotPlan(every_days=7, window_days=30, validation_days=56, test_days=28)
    blocks = split_plan(pd.date_range("2024-01-01", "2024-12-31", freq="7D"), plan)
    assert not blocks.shortened
    assert (blocks.validation_days, blocks.test_days) == (56, 28)
    assert "as configured" in blocks.describe()


def test_a_short_history_shrinks_both_blocks_and_keeps_the_embargo():
    # Seven fortnightly snapshots (a card book's five months): no training block fits before
    # 56 + 56 days of validation and test; a quarter of each does, the embargoes kept.
    plan = SnapshotPlan(every_days=14, window_days=30, validation_days=56, test_days=56)
    dates = pd.date_range("2005-05-10", "2005-08-02", freq="14D")
    blocks = split_plan(dates, plan)
    assert blocks.shortened and (blocks.validation_days, blocks.test_days) == (14, 14)
    assert (blocks.train, blocks.valid, blocks.test) == (
        (dt.date(2005, 5, 10),),
        (dt.date(2005, 6, 21),),
        (dt.date(2005, 8, 2),),
    )
    window = dt.timedelta(days=30)
    assert max(blocks.train) + window <= min(blocks.valid)
    assert max(blocks.valid) + window <= min(blocks.test)
    assert blocks.test[-1] == dt.date(2005, 8, 2)
    assert "shortened" in blocks.describe()
    split = out_of_time_split(pd.DataFrame({"as_of": dates, "label": 1}), plan)
    assert [len(split[k]) for k in ("train", "valid", "test")] == [1, 1, 1]


def test_too_short_a_history_says_what_is_missing():
    plan = SnapshotPlan(every_days=14, window_days=30, validation_days=56, test_days=56)
    with pytest.raises(HistoryTooShortError, match="at least 60 days") as error:
        split_plan(pd.date_range("2005-07-01", "2005-08-02", freq="14D"), plan)
    assert isinstance(error.value, ValueError)  # callers catching ValueError keep working


def test_a_monthly_book_is_snapshotted_on_the_as_of_day_of_each_month():
    plan = SnapshotPlan(every_days=14, min_history_days=60, window_days=30)
    dates = snapshot_dates(dt.date(2005, 3, 1), dt.date(2005, 9, 1), plan, monthly=True)
    assert dates == [dt.date(2005, 5, 1), dt.date(2005, 6, 1), dt.date(2005, 7, 1), dt.date(2005, 8, 1)]
    monthly = split_plan(dates, SnapshotPlan(window_days=30, validation_days=56, test_days=56))
    assert (monthly.train, monthly.valid, monthly.test) == (
        (dt.date(2005, 5, 1), dt.date(2005, 6, 1)),
        (dt.date(2005, 7, 1),),
        (dt.date(2005, 8, 1),),
    )
    loans = pd.DataFrame({"installment_frequency": ["monthly"] * 9 + ["weekly"]})
    assert is_monthly_book(loans)
    assert not is_monthly_book(loans.assign(installment_frequency=["monthly"] * 5 + ["weekly"] * 5))
