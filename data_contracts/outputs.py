"""Contracts on the engine's internal and output boundaries: features, snapshots, queue."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from data_contracts.enums import CHANNELS


class AccountKeys(pa.DataFrameModel):
    """Identifies one loan on one as-of date."""

    loan_id: Series[str] = pa.Field(str_length={"min_value": 1})
    borrower_id: Series[str] = pa.Field(str_length={"min_value": 1})
    as_of: Series[pa.DateTime]

    class Config:
        strict = True
        coerce = False


class AccountFeatures(AccountKeys):
    """Model inputs of overdue loans (see features.catalog for meanings and units)."""

    days_past_due: Series[float] = pa.Field(ge=0)
    amount_overdue: Series[float] = pa.Field(gt=0)
    outstanding_balance: Series[float] = pa.Field(ge=0)
    n_installments_overdue: Series[float] = pa.Field(ge=0)
    overdue_to_installment_ratio: Series[float] = pa.Field(ge=0)
    installment_amount: Series[float] = pa.Field(gt=0)
    principal: Series[float] = pa.Field(gt=0)
    annual_interest_rate: Series[float] = pa.Field(ge=0, le=2)
    loan_age_days: Series[float] = pa.Field(ge=0)
    term_elapsed_share: Series[float] = pa.Field(ge=0, le=1)
    on_time_share: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    paid_share: Series[float] = pa.Field(ge=0, nullable=True)
    product: Series[str]
    installment_frequency: Series[str]
    n_payments_30d: Series[float] = pa.Field(ge=0)
    amount_paid_30d: Series[float] = pa.Field(ge=0)
    amount_paid_90d: Series[float] = pa.Field(ge=0)
    days_since_last_payment: Series[float] = pa.Field(ge=0, nullable=True)
    n_outbound_contacts_7d: Series[float] = pa.Field(ge=0)
    n_outbound_contacts_30d: Series[float] = pa.Field(ge=0)
    n_right_party_contacts_30d: Series[float] = pa.Field(ge=0)
    days_since_last_right_party_contact: Series[float] = pa.Field(ge=0, nullable=True)
    n_inbound_contacts_30d: Series[float] = pa.Field(ge=0)
    call_no_answer_share_90d: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    n_promises_kept_180d: Series[float] = pa.Field(ge=0)
    n_promises_broken_180d: Series[float] = pa.Field(ge=0)
    has_open_promise: Series[bool]
    n_disputes_365d: Series[float] = pa.Field(ge=0)
    monthly_income: Series[float] = pa.Field(ge=0, nullable=True)
    installment_to_income: Series[float] = pa.Field(ge=0, nullable=True)
    has_phone: Series[bool]
    has_email: Series[bool]
    hardship_plan_active: Series[bool]

    class Config:
        unique = ["loan_id", "as_of"]


class TrainingSnapshot(AccountFeatures):
    """Features at a snapshot date plus the label of the window after it."""

    label: Series[int] = pa.Field(isin=[0, 1])


class Suppressed(AccountKeys):
    """Overdue loans held back from the queue, one row per reason."""

    run_id: Series[str]
    reason: Series[str] = pa.Field(str_length={"min_value": 1})


class Queue(AccountKeys):
    """The ranked daily work queue (public output; columns in this order)."""

    run_id: Series[str]
    rank: Series[int] = pa.Field(ge=1, unique=True)
    product: Series[str]
    days_past_due: Series[int] = pa.Field(ge=0)
    amount_overdue: Series[float] = pa.Field(gt=0)
    outstanding_balance: Series[float] = pa.Field(ge=0)
    p_pay_30d: Series[float] = pa.Field(ge=0, le=1)
    expected_recovery: Series[float] = pa.Field(ge=0)
    priority_score: Series[float]
    recommended_channel: Series[str] = pa.Field(isin=list(CHANNELS))
    reason_1: Series[str] = pa.Field(str_length={"min_value": 1})
    reason_2: Series[str] = pa.Field(str_length={"min_value": 1})
    reason_3: Series[str] = pa.Field(str_length={"min_value": 1})
    model_version: Series[str]

    class Config:
        unique = ["loan_id"]

    @pa.dataframe_check(error="rows must be sorted by rank, 1..n")
    @classmethod
    def ranks_are_dense_and_sorted(cls, df: pd.DataFrame) -> bool:
        return bool((df["rank"].to_numpy() == range(1, len(df) + 1)).all())


# The public column order of queue.csv / queue.parquet.
QUEUE_COLUMNS: list[str] = [
    "as_of",
    "run_id",
    "rank",
    "loan_id",
    "borrower_id",
    "product",
    "days_past_due",
    "amount_overdue",
    "outstanding_balance",
    "p_pay_30d",
    "expected_recovery",
    "priority_score",
    "recommended_channel",
    "reason_1",
    "reason_2",
    "reason_3",
    "model_version",
]
SUPPRESSED_COLUMNS: list[str] = ["as_of", "run_id", "loan_id", "borrower_id", "reason"]
