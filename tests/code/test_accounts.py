"""Allocation of payments to installments: arrears, days past due, on-time share."""

from __future__ import annotations

import datetime as dt

import pytest

from features.accounts import account_state
from tests.factories import payment, typed_tables

AS_OF = dt.date(2025, 1, 15)  # installments due 2024-10-01, 11-01, 12-01, 2025-01-01 are due


def _state(payments):
    tables = typed_tables(payments=payments)
    return account_state(tables["installments"], tables["payments"], AS_OF).loc["L1"]


@pytest.mark.parametrize(
    ("payments", "overdue", "dpd", "n_overdue"),
    [
        ([], 400.0, (AS_OF - dt.date(2024, 10, 1)).days, 4),
        ([payment("P1", "2024-10-01T09:00:00", 100.0)], 300.0, (AS_OF - dt.date(2024, 11, 1)).days, 3),
        # a partial payment settles nothing beyond what it covers: the oldest unpaid installment stays
        ([payment("P1", "2024-10-01T09:00:00", 150.0)], 250.0, (AS_OF - dt.date(2024, 11, 1)).days, 3),
        ([payment("P1", "2024-12-20T09:00:00", 400.0)], 0.0, 0, 0),
        # overpayment never makes arrears negative
        ([payment("P1", "2024-12-20T09:00:00", 900.0)], 0.0, 0, 0),
    ],
)
def test_arrears_follow_due_date_order(payments, overdue, dpd, n_overdue):
    state = _state(payments)
    assert state["amount_overdue"] == pytest.approx(overdue)
    assert state["days_past_due"] == dpd
    assert state["n_installments_overdue"] == n_overdue


def test_installment_due_on_as_of_is_not_yet_overdue():
    tables = typed_tables()
    state = account_state(tables["installments"], tables["payments"], dt.date(2024, 10, 1)).loc["L1"]
    assert state["amount_overdue"] == 0.0
    assert state["days_past_due"] == 0
    next_day = account_state(tables["installments"], tables["payments"], dt.date(2024, 10, 2)).loc["L1"]
    assert next_day["days_past_due"] == 1
    assert next_day["amount_overdue"] == pytest.approx(100.0)


def test_payment_on_as_of_day_is_not_known_yet():
    tables = typed_tables(payments=[payment("P1", "2025-01-15T00:00:00", 400.0)])
    state = account_state(tables["installments"], tables["payments"], AS_OF).loc["L1"]
    assert state["amount_overdue"] == pytest.approx(400.0)


def test_on_time_share_counts_installments_settled_by_their_due_date():
    state = _state(
        [
            payment("P1", "2024-09-30T12:00:00", 100.0),  # on time
            payment("P2", "2024-11-01T23:59:00", 100.0),  # on the due day (UTC): on time
            payment("P3", "2024-12-05T10:00:00", 100.0),  # late
        ]
    )
    assert state["on_time_share"] == pytest.approx(2 / 4)


def test_outstanding_balance_includes_future_installments():
    state = _state([payment("P1", "2024-10-01T09:00:00", 100.0)])
    assert state["outstanding_balance"] == pytest.approx(500.0)
