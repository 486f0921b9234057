"""Promises to pay and their fate: one ledger used by features and by the promise follow-up list."""

from __future__ import annotations

import pandas as pd

from features.accounts import paid_between
from features.point_in_time import UTC, business_dates, local_midnights

PROMISE_LOOKBACK_DAYS = 180
DEFAULT_GRACE_DAYS = 3
# A promise without a date is due this many days after it was made.
UNDATED_PROMISE_DAYS = 7
LEDGER_COLUMNS = [
    "loan_id",
    "occurred_at",
    "promised_date",
    "promised_amount",
    "deadline",
    "paid_since_promise",
    "status",
]


def promise_ledger(
    interactions: pd.DataFrame,
    payments: pd.DataFrame,
    instant: pd.Timestamp,
    *,
    tolerance: float,
    grace_days: int = DEFAULT_GRACE_DAYS,
    lookback_days: int = PROMISE_LOOKBACK_DAYS,
    timezone: str = UTC,
) -> pd.DataFrame:
    """Every promise of the last ``lookback_days`` before ``instant`` with its status.

    A promise is due at the end of its promised date plus ``grace_days`` (``UNDATED_PROMISE_DAYS``
    after the work day it was made when no date was given): its ``deadline`` is the cut-off that
    ends that day, 00:00 of the next day on the lender's clock ``timezone``.
    Before the deadline it is ``open``; after it, ``kept`` if the loan received at least the
    promised amount between the promise and the deadline, else ``broken``. Only events before
    ``instant`` are read; a payment after it cannot keep a promise yet.
    """
    promises = interactions[
        (interactions["outcome"] == "promise_to_pay")
        & (interactions["occurred_at"] >= instant - pd.Timedelta(days=lookback_days))
        & (interactions["occurred_at"] < instant)
    ]
    made_on = business_dates(promises["occurred_at"], timezone)
    due_day = promises["promised_date"].fillna(made_on + pd.Timedelta(days=UNDATED_PROMISE_DAYS))
    deadline = local_midnights(due_day + pd.Timedelta(days=1 + grace_days), timezone)
    ledger = promises.assign(deadline=deadline)
    known_payments = payments[payments["paid_at"] < instant]
    # Only what is known at `instant` counts: a resolved promise's window ends at its deadline,
    # an open one's at `instant`.
    window_end = ledger["deadline"].where(ledger["deadline"] <= instant, instant)
    ledger = ledger.assign(window_end=window_end)
    paid = paid_between(known_payments, ledger, "occurred_at", "window_end")
    ledger["paid_since_promise"] = pd.Series(paid, index=ledger.index, dtype="float64")
    kept = ledger["paid_since_promise"] >= ledger["promised_amount"].fillna(0.0) - tolerance
    status = pd.Series("broken", index=ledger.index, dtype="str")
    status = status.mask(kept, "kept").mask(ledger["deadline"] > instant, "open")
    ledger["status"] = status
    return (
        ledger[LEDGER_COLUMNS].sort_values(["loan_id", "occurred_at"], kind="stable").reset_index(drop=True)
    )
