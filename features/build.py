"""The one feature function, used for training snapshots and for nightly scoring alike."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from data_contracts.columnar import is_in
from data_contracts.enums import RIGHT_PARTY_OUTCOMES
from features.accounts import account_state
from features.arrangements import settled_loans
from features.catalog import CATEGORICAL_FEATURES, FEATURE_NAMES
from features.point_in_time import (
    AsOf,
    active_flags,
    as_of_date,
    as_of_instant,
    cutoff_timezone,
    events_before,
)
from features.promises import DEFAULT_GRACE_DAYS as PROMISE_GRACE_DAYS
from features.promises import promise_ledger

KEY_COLUMNS = ["loan_id", "borrower_id", "as_of"]
PERIODS_PER_MONTH = {"weekly": 52 / 12, "fortnightly": 26 / 12, "monthly": 1.0}


def build_features(
    tables: Mapping[str, pd.DataFrame],
    as_of: AsOf,
    *,
    min_amount_overdue: float = 1.0,
    tolerance: float = 0.01,
) -> pd.DataFrame:
    """Features of every loan overdue on ``as_of``, from events strictly before its cut-off.

    ``as_of`` is a work day (UTC clock) or a :class:`~features.point_in_time.Cutoff` (00:00 of
    the work day on the lender's clock). One row per loan with at least ``min_amount_overdue`` in arrears; columns :data:`KEY_COLUMNS`
    then the catalog's features in catalog order. Pure: no event on or after ``as_of`` can
    change the result.
    """
    day = as_of_date(as_of)
    instant = as_of_instant(as_of)
    loans = tables["loans"][tables["loans"]["disbursed_on"] < day]
    state = account_state(tables["installments"], tables["payments"], as_of, tolerance)
    state = state[state["amount_overdue"] >= max(min_amount_overdue, tolerance)]
    # A loan settled for less is closed, though its schedule still shows the forgiven balance.
    state = state[~is_in(state.index, settled_loans(tables, as_of, tolerance))]
    frame = loans.set_index("loan_id").join(state, how="inner")
    frame.index.name = "loan_id"

    frame["overdue_to_installment_ratio"] = frame["amount_overdue"] / frame["installment_amount"]
    frame["loan_age_days"] = (day - frame["disbursed_on"]).dt.days.astype("float64")
    frame["term_elapsed_share"] = frame["n_installments_due"] / frame["n_installments"]
    frame["paid_share"] = (frame["total_paid"] / frame["total_due_to_date"]).where(
        frame["total_due_to_date"] > 0
    )

    payments = events_before(tables["payments"], "paid_at", as_of)
    payments = payments[is_in(payments["loan_id"], frame.index)]
    frame = frame.join(_payment_features(payments, instant))
    interactions = events_before(tables["interactions"], "occurred_at", as_of)
    interactions = interactions[is_in(interactions["loan_id"], frame.index)]
    frame = frame.join(_contact_features(interactions, instant))
    frame = frame.join(_promise_features(interactions, payments, instant, tolerance, cutoff_timezone(as_of)))

    borrowers = tables["borrowers"].set_index("borrower_id")
    frame = frame.join(borrowers[["monthly_income", "has_phone", "has_email"]], on="borrower_id")
    monthly_installment = frame["installment_amount"] * frame["installment_frequency"].map(
        PERIODS_PER_MONTH
    ).astype("float64")
    frame["installment_to_income"] = (monthly_installment / frame["monthly_income"]).where(
        frame["monthly_income"] > 0
    )
    flags = active_flags(tables["account_flags"], as_of)
    frame["hardship_plan_active"] = is_in(frame.index, flags.loc[flags["flag"] == "hardship_plan", "loan_id"])

    counts = [
        "n_payments_30d",
        "n_outbound_contacts_7d",
        "n_outbound_contacts_30d",
        "n_right_party_contacts_30d",
        "n_inbound_contacts_30d",
        "n_promises_kept_180d",
        "n_promises_broken_180d",
        "n_disputes_365d",
        "amount_paid_30d",
        "amount_paid_90d",
    ]
    frame[counts] = frame[counts].fillna(0)
    frame["has_open_promise"] = frame["has_open_promise"].fillna(False).astype(bool)
    frame["as_of"] = day
    out = frame.reset_index()[KEY_COLUMNS + list(FEATURE_NAMES)]
    return coerce_feature_dtypes(out).sort_values("loan_id", kind="stable").reset_index(drop=True)


def coerce_feature_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical dtypes: keys as strings, categoricals as str, booleans as bool, rest float64."""
    out = frame.copy()
    for name in FEATURE_NAMES:
        if name in CATEGORICAL_FEATURES:
            out[name] = out[name].astype("str")
        elif pd.api.types.is_bool_dtype(out[name]) or name in ("has_phone", "has_email"):
            out[name] = out[name].astype(bool)
        else:
            out[name] = out[name].astype("float64")
    return out


def _payment_features(payments: pd.DataFrame, instant: pd.Timestamp) -> pd.DataFrame:
    age_days = (instant - payments["paid_at"]).dt.total_seconds() / 86_400
    grouped = payments.assign(
        in_30=age_days < 30,
        amount_30=payments["amount"].where(age_days < 30, 0.0),
        amount_90=payments["amount"].where(age_days < 90, 0.0),
        age=age_days,
    ).groupby("loan_id", observed=True)
    return pd.DataFrame(
        {
            "n_payments_30d": grouped["in_30"].sum().astype("float64"),
            "amount_paid_30d": grouped["amount_30"].sum(),
            "amount_paid_90d": grouped["amount_90"].sum(),
            "days_since_last_payment": np.floor(grouped["age"].min()),
        }
    )


def _contact_features(interactions: pd.DataFrame, instant: pd.Timestamp) -> pd.DataFrame:
    age_days = (instant - interactions["occurred_at"]).dt.total_seconds() / 86_400
    outbound = interactions["direction"] == "outbound"
    right_party = interactions["outcome"].isin(RIGHT_PARTY_OUTCOMES)
    call_90 = outbound & (interactions["channel"] == "call") & (age_days < 90)
    grouped = interactions.assign(
        out_7=outbound & (age_days < 7),
        out_30=outbound & (age_days < 30),
        rpc_30=right_party & (age_days < 30),
        rpc_age=age_days.where(right_party),
        in_30=~outbound & (age_days < 30),
        call_90=call_90,
        no_answer_90=call_90 & (interactions["outcome"] == "no_answer"),
        dispute_365=(interactions["outcome"] == "dispute_raised") & (age_days < 365),
    ).groupby("loan_id", observed=True)
    calls = grouped["call_90"].sum()
    return pd.DataFrame(
        {
            "n_outbound_contacts_7d": grouped["out_7"].sum().astype("float64"),
            "n_outbound_contacts_30d": grouped["out_30"].sum().astype("float64"),
            "n_right_party_contacts_30d": grouped["rpc_30"].sum().astype("float64"),
            "days_since_last_right_party_contact": np.floor(grouped["rpc_age"].min()),
            "n_inbound_contacts_30d": grouped["in_30"].sum().astype("float64"),
            "call_no_answer_share_90d": (grouped["no_answer_90"].sum() / calls).where(calls > 0),
            "n_disputes_365d": grouped["dispute_365"].sum().astype("float64"),
        }
    )


def _promise_features(
    interactions: pd.DataFrame,
    payments: pd.DataFrame,
    instant: pd.Timestamp,
    tolerance: float,
    timezone: str,
) -> pd.DataFrame:
    """Promises of the last 180 days: kept, broken, or still open (see features.promises)."""
    ledger = promise_ledger(
        interactions, payments, instant, tolerance=tolerance, grace_days=PROMISE_GRACE_DAYS, timezone=timezone
    )
    counts = pd.crosstab(ledger["loan_id"], ledger["status"]).reindex(
        columns=["kept", "broken", "open"], fill_value=0
    )
    result = pd.DataFrame(index=pd.Index(counts.index, name="loan_id"))
    result["n_promises_kept_180d"] = counts["kept"].astype("float64")
    result["n_promises_broken_180d"] = counts["broken"].astype("float64")
    result["has_open_promise"] = counts["open"] > 0
    return result
