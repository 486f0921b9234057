"""Account state at an as-of date, from allocating payments to installments in due-date order."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.point_in_time import AsOf, as_of_date, events_before

ACCOUNT_STATE_COLUMNS = [
    "total_due_to_date",
    "total_paid",
    "amount_overdue",
    "days_past_due",
    "n_installments_due",
    "n_installments_overdue",
    "on_time_share",
    "outstanding_balance",
]


def account_state(
    installments: pd.DataFrame,
    payments: pd.DataFrame,
    as_of: AsOf,
    tolerance: float = 0.01,
) -> pd.DataFrame:
    """Arrears of every loan with a schedule, as known strictly before ``as_of``.

    Payments are allocated to installments oldest due date first: installment k is settled once
    cumulative payments reach the cumulative amount due up to k. Days past due count from the
    due date of the oldest unsettled installment; an installment due on ``as_of`` itself is not
    yet overdue. Indexed by loan_id, columns :data:`ACCOUNT_STATE_COLUMNS`.
    """
    day = as_of_date(as_of)
    paid = events_before(payments, "paid_at", as_of)
    total_paid = paid.groupby("loan_id", observed=True)["amount"].sum()
    scheduled = installments.groupby("loan_id", observed=True)["amount_due"].sum()

    due = installments[installments["due_date"] < day].sort_values(
        ["loan_id", "due_date", "installment_no"], kind="stable"
    )
    due = due.assign(cum_due=due.groupby("loan_id", observed=True)["amount_due"].cumsum())
    due_paid = due["loan_id"].map(total_paid).astype("float64").fillna(0.0)
    unsettled = due["cum_due"] > due_paid + tolerance

    by_loan = due.groupby("loan_id", observed=True)
    state = pd.DataFrame(index=scheduled.index.rename("loan_id"))
    state["total_due_to_date"] = by_loan["amount_due"].sum()
    state["total_paid"] = total_paid
    state = state.fillna({"total_due_to_date": 0.0, "total_paid": 0.0})
    state["amount_overdue"] = (state["total_due_to_date"] - state["total_paid"]).clip(lower=0.0)
    state.loc[state["amount_overdue"] <= tolerance, "amount_overdue"] = 0.0
    oldest_unsettled = due.loc[unsettled].groupby("loan_id", observed=True)["due_date"].min()
    state["days_past_due"] = (day - oldest_unsettled).dt.days
    state["days_past_due"] = state["days_past_due"].fillna(0).astype("int64")
    state["n_installments_due"] = by_loan.size()
    state["n_installments_overdue"] = unsettled.groupby(due["loan_id"], observed=True).sum()
    state = state.fillna({"n_installments_due": 0, "n_installments_overdue": 0})
    state["on_time_share"] = _on_time_share(due, paid, tolerance)
    state["outstanding_balance"] = (scheduled - state["total_paid"]).clip(lower=0.0)
    return state[ACCOUNT_STATE_COLUMNS]


def _on_time_share(due: pd.DataFrame, paid: pd.DataFrame, tolerance: float) -> pd.Series:
    """Share of due installments settled by the end of their due date (UTC)."""
    if due.empty:
        return pd.Series(dtype="float64")
    deadlines = pd.DataFrame(
        {
            "loan_id": due["loan_id"],
            "deadline": (due["due_date"] + pd.Timedelta(days=1)).dt.tz_localize("UTC"),
        }
    )
    paid_by_deadline = _paid_before(_cumulative_payments(paid), deadlines, "deadline")
    settled = pd.Series(paid_by_deadline >= due["cum_due"].to_numpy() - tolerance, index=due.index)
    return settled.groupby(due["loan_id"], observed=True).mean()


def paid_between(
    payments: pd.DataFrame, windows: pd.DataFrame, start: str, end: str
) -> npt.NDArray[np.float64]:
    """Amount each window's loan paid in [windows[start], windows[end]) (UTC instants)."""
    if windows.empty:
        return np.zeros(0)
    cumulative = _cumulative_payments(payments)
    return _paid_before(cumulative, windows, end) - _paid_before(cumulative, windows, start)


def _cumulative_payments(payments: pd.DataFrame) -> pd.DataFrame:
    """Each payment with the running total its loan had received up to and including it."""
    ordered = payments.sort_values("paid_at", kind="stable")[["loan_id", "paid_at", "amount"]]
    running = ordered.groupby("loan_id", observed=True)["amount"].cumsum()
    return ordered.assign(cum_paid=running)[["loan_id", "paid_at", "cum_paid"]]


def _paid_before(cumulative: pd.DataFrame, keys: pd.DataFrame, instant: str) -> npt.NDArray[np.float64]:
    """Total each row's loan had paid strictly before ``keys[instant]``, in the rows' order."""
    keyed = keys[["loan_id", instant]].reset_index(drop=True).reset_index(names="_row")
    keyed[instant] = keyed[instant].astype("datetime64[ns, UTC]")
    matched = pd.merge_asof(
        keyed.sort_values(instant, kind="stable"),
        cumulative,
        left_on=instant,
        right_on="paid_at",
        by="loan_id",
        allow_exact_matches=False,
    )
    return matched.set_index("_row")["cum_paid"].reindex(keyed["_row"]).fillna(0.0).to_numpy()
