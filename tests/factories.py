"""Small, readable input tables for tests, built as raw rows and typed by the real validator."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from data_contracts.validation import validate_tables

AS_OF = dt.date(2025, 3, 1)


def borrower(borrower_id: str = "B1", **overrides) -> dict:
    row = {
        "borrower_id": borrower_id,
        "region": "northeast",
        "timezone": "America/New_York",
        "preferred_language": "en",
        "birth_year": 1980,
        "gender": "female",
        "monthly_income": 3000.0,
        "has_phone": True,
        "has_email": True,
        "consent_sms": True,
        "consent_email": True,
        "consent_whatsapp": False,
        "do_not_contact": False,
    }
    return {**row, **overrides}


def loan(loan_id: str = "L1", borrower_id: str = "B1", **overrides) -> dict:
    row = {
        "loan_id": loan_id,
        "borrower_id": borrower_id,
        "product": "personal_loan",
        "branch_id": "BR1",
        "currency": "USD",
        "disbursed_on": "2024-09-01",
        "principal": 1000.0,
        "annual_interest_rate": 0.2,
        "installment_frequency": "monthly",
        "n_installments": 6,
        "installment_amount": 100.0,
    }
    return {**row, **overrides}


def schedule(
    loan_id: str = "L1", first_due: str = "2024-10-01", n: int = 6, amount: float = 100.0
) -> list[dict]:
    start = pd.Timestamp(first_due)
    return [
        {
            "loan_id": loan_id,
            "installment_no": k + 1,
            "due_date": (start + pd.DateOffset(months=k)).strftime("%Y-%m-%d"),
            "amount_due": amount,
        }
        for k in range(n)
    ]


def payment(payment_id: str, paid_at: str, amount: float, loan_id: str = "L1") -> dict:
    return {
        "payment_id": payment_id,
        "loan_id": loan_id,
        "paid_at": paid_at,
        "amount": amount,
        "method": "card",
    }


def interaction(
    interaction_id: str,
    occurred_at: str,
    loan_id: str = "L1",
    channel: str = "call",
    direction: str = "outbound",
    outcome: str = "no_answer",
    promised_amount=None,
    promised_date=None,
    agent_id="A1",
) -> dict:
    return {
        "interaction_id": interaction_id,
        "loan_id": loan_id,
        "occurred_at": occurred_at,
        "channel": channel,
        "direction": direction,
        "outcome": outcome,
        "promised_amount": promised_amount,
        "promised_date": promised_date,
        "agent_id": agent_id,
    }


def flag(loan_id: str, flag_name: str, starts_on: str, ends_on: str | None = None) -> dict:
    return {"loan_id": loan_id, "flag": flag_name, "starts_on": starts_on, "ends_on": ends_on}


_COLUMNS = {
    "payments": ["payment_id", "loan_id", "paid_at", "amount", "method"],
    "interactions": [
        "interaction_id",
        "loan_id",
        "occurred_at",
        "channel",
        "direction",
        "outcome",
        "promised_amount",
        "promised_date",
        "agent_id",
    ],
    "account_flags": ["loan_id", "flag", "starts_on", "ends_on"],
}


def raw_tables(
    borrowers=None, loans=None, installments=None, payments=(), interactions=(), account_flags=()
) -> dict[str, pd.DataFrame]:
    """Raw frames (text and numbers as a CSV or Parquet delivery would carry them)."""
    borrowers = borrowers if borrowers is not None else [borrower()]
    loans = loans if loans is not None else [loan()]
    installments = installments if installments is not None else schedule()
    return {
        "borrowers": pd.DataFrame(borrowers),
        "loans": pd.DataFrame(loans),
        "installments": pd.DataFrame(installments),
        "payments": pd.DataFrame(list(payments), columns=_COLUMNS["payments"]),
        "interactions": pd.DataFrame(list(interactions), columns=_COLUMNS["interactions"]),
        "account_flags": pd.DataFrame(list(account_flags), columns=_COLUMNS["account_flags"]),
    }


def typed_tables(**kwargs) -> dict[str, pd.DataFrame]:
    """Validated tables in contract types; fails loudly if the test data itself is invalid."""
    result = validate_tables(raw_tables(**kwargs))
    assert result.is_valid, result.failures.to_string()
    return result.tables


def contact_policy_columns(n: int) -> dict:
    """The queue columns the contact-policy engine adds, for n rows of a hand-built queue."""
    return {
        "team": "call-northeast",
        "team_rank": range(1, n + 1),
        "within_capacity": True,
        "timezone": "America/New_York",
        "contact_from_local": "2025-01-15T08:00:00-05:00",
        "contact_until_local": "2025-01-15T21:00:00-05:00",
        "contact_from_utc": pd.Series([pd.Timestamp("2025-01-15T13:00Z")] * n, dtype="datetime64[ns, UTC]"),
        "contact_until_utc": pd.Series([pd.Timestamp("2025-01-16T02:00Z")] * n, dtype="datetime64[ns, UTC]"),
        "broken_promise": False,
        "policy": "us_reg_f",
        "policy_version": "2026.11.0",
        "attempts_left_today": pd.Series([7] * n, dtype="Int64"),
        "p_response": 0.4,
        "p_self_cure": 0.2,
        "incremental_value": 18.0,
        "channel_cost": 2.0,
        "p_reach": 0.3,
        # One contact per borrower and the officer's context (scoring/contacts.py).
        "contact_id": [f"20250115-B{k}" for k in range(1, n + 1)],
        "contact_loans": [f"L{k}" for k in range(1, n + 1)],
        "preferred_language": "en",
        "last_contact_at": pd.Series([pd.Timestamp("2025-01-10T15:00Z")] * n, dtype="datetime64[ns, UTC]"),
        "last_contact_channel": "sms",
        "last_contact_outcome": "delivered",
        "next_due_date": pd.Series([pd.Timestamp("2025-02-01")] * n, dtype="datetime64[ns]"),
        "open_promise_amount": pd.Series([None] * n, dtype="float64"),
        "open_promise_date": pd.Series([pd.NaT] * n, dtype="datetime64[ns]"),
        "exploration": False,
        "runner_up_channel": "sms",
        "channel_reason_1": "Paid within a week after 50% of recent call attempts (favours call over sms)",
        "channel_reason_2": "Reached through call in 40% of recent attempts (favours call over sms)",
        "channel_reason_3": "Despite days past due: 12 (counts against call compared with sms)",
        # Why the row is queued, in money (scoring/priority.py): 0.2 x 100 - 2 = 18.
        "priority_reason": "A call is expected to add about 18: the chance of a payment within 7 days rises "
        "from 20.0% without contact to 40.0% with it, on 100 at stake (about 20), less its cost of 2",
        "amount_at_stake": 100.0,
        "data_cutoff_utc": pd.Series([pd.Timestamp("2025-01-15T05:00Z")] * n, dtype="datetime64[ns, UTC]"),
        # What the contact offers (scoring/treatments.py): a plan of 2 x 50 on every row.
        "treatment": "payment_plan",
        "offer_instalment": 50.0,
        "offer_n_instalments": pd.Series([2] * n, dtype="Int64"),
        "offer_discount": pd.Series([None] * n, dtype="float64"),
        "offer_amount_to_accept": 100.0,
        "offer_holiday_days": pd.Series([None] * n, dtype="Int64"),
        "p_accept": 0.3,
        "treatment_value": 20.0,
        "treatment_reason": "Offer a payment plan of 2 monthly instalments of 50.00 clearing the arrears",
    }
