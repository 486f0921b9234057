"""Labels look only after the snapshot date; splits never let a label window cross a block."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.build import build_features
from features.labels import label_pays, qualifying_amount
from features.snapshots import SnapshotPlan, out_of_time_split, snapshot_dates
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
