"""Contracts on the engine's internal and output boundaries: features, snapshots, queue."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from data_contracts.enums import CHANNELS, DISPOSITIONS
from data_contracts.inputs import UtcTimestamp

# Every output row says what the run knew: the events before this instant (the night's cut-off)
# were read; a dialer re-checks anything newer (a call made after it, a flag entered this
# morning) before it contacts: the `data_cutoff_utc` column of each output, null only for frames
# built outside a nightly run.


# What the night recommends for an overdue loan (scoring/treatments.py); a queued loan is
# contacted, with or without an offer.
TREATMENTS: tuple[str, ...] = (
    "contact",
    "payment_plan",
    "deferment",
    "settlement",
    "referral",
    "trace",
    "hold",
)
QUEUE_TREATMENTS: tuple[str, ...] = ("contact", "payment_plan", "deferment", "settlement")


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
    amount_paid_in_window: Series[float] = pa.Field(ge=0)


class PolicyStamp(AccountKeys):
    """Rows decided under a contact-policy rule pack carry its name and version."""

    run_id: Series[str]
    policy: Series[str] = pa.Field(str_length={"min_value": 1})
    policy_version: Series[str] = pa.Field(str_length={"min_value": 1})


class Suppressed(PolicyStamp):
    """Overdue loans held back from the queue, one row per rule that holds them back."""

    reason: Series[str] = pa.Field(str_length={"min_value": 1})
    rule_id: Series[str] = pa.Field(str_length={"min_value": 1})
    channels: Series[str] = pa.Field(str_length={"min_value": 1})
    next_lawful_from_local: Series[str] = pa.Field(nullable=True)
    next_lawful_from_utc: Series[UtcTimestamp] = pa.Field(nullable=True)
    detail: Series[str]
    source: Series[str]

    data_cutoff_utc: Series[UtcTimestamp] = pa.Field(nullable=True)

    class Config:
        unique = ["loan_id", "rule_id"]


class Dispositions(PolicyStamp):
    """Every overdue loan exactly once, with where it went tonight."""

    disposition: Series[str] = pa.Field(isin=list(DISPOSITIONS))
    detail: Series[str]
    control: Series[bool]
    exploration: Series[bool]

    data_cutoff_utc: Series[UtcTimestamp] = pa.Field(nullable=True)

    class Config:
        unique = ["loan_id"]


class LeftAlone(PolicyStamp):
    """Loans not contacted on purpose tonight: the model says contact adds nothing worth its
    cost, or the loan is in the random control group."""

    reason: Series[str] = pa.Field(str_length={"min_value": 1})
    control: Series[bool]
    p_self_cure: Series[float] = pa.Field(ge=0, le=1)
    best_channel: Series[str] = pa.Field(isin=list(CHANNELS))
    p_best_channel: Series[float] = pa.Field(ge=0, le=1)
    best_channel_cost: Series[float] = pa.Field(ge=0)
    best_incremental_value: Series[float]
    days_past_due: Series[float] = pa.Field(ge=0)
    amount_overdue: Series[float] = pa.Field(gt=0)

    data_cutoff_utc: Series[UtcTimestamp] = pa.Field(nullable=True)

    class Config:
        unique = ["loan_id"]


class Explanations(AccountKeys):
    """With ``scoring.explain: all``: p_pay and its plain-language reasons for every scored loan
    (explanations.parquet), queued or not."""

    run_id: Series[str]
    p_pay_30d: Series[float] = pa.Field(ge=0, le=1)
    reason_1: Series[str] = pa.Field(nullable=True)
    reason_2: Series[str] = pa.Field(nullable=True)
    reason_3: Series[str] = pa.Field(nullable=True)

    data_cutoff_utc: Series[UtcTimestamp] = pa.Field(nullable=True)

    class Config:
        unique = ["loan_id"]


class PromiseFollowUp(PolicyStamp):
    """Loans not chased while a promise to pay is open; followed up from follow_up_on."""

    days_past_due: Series[float] = pa.Field(ge=0)
    amount_overdue: Series[float] = pa.Field(gt=0)
    promised_on: Series[pa.DateTime]
    promised_date: Series[pa.DateTime] = pa.Field(nullable=True)
    promised_amount: Series[float] = pa.Field(ge=0, nullable=True)
    paid_since_promise: Series[float] = pa.Field(ge=0)
    follow_up_on: Series[pa.DateTime]

    data_cutoff_utc: Series[UtcTimestamp] = pa.Field(nullable=True)

    class Config:
        unique = ["loan_id"]


class Forbearance(PolicyStamp):
    """The care team's list: loans a forbearance rule keeps out of collection, oldest first."""

    reason: Series[str] = pa.Field(str_length={"min_value": 1})
    in_care_since: Series[pa.DateTime]
    days_past_due: Series[float] = pa.Field(ge=0)
    amount_overdue: Series[float] = pa.Field(gt=0)
    outstanding_balance: Series[float] = pa.Field(ge=0)
    region: Series[str]
    timezone: Series[str]
    contact_held: Series[bool]

    data_cutoff_utc: Series[UtcTimestamp] = pa.Field(nullable=True)

    class Config:
        unique = ["loan_id"]


class Treatments(PolicyStamp):
    """treatments.parquet: one row per overdue loan with tonight's recommended treatment, the
    offer's terms, its expected value and why (scoring/treatments.py)."""

    disposition: Series[str] = pa.Field(isin=list(DISPOSITIONS))
    treatment: Series[str] = pa.Field(isin=list(TREATMENTS))
    team: Series[str] = pa.Field(
        nullable=True, description="Team that carries it out (contact team, care, agency, tracing)."
    )
    channel: Series[str] = pa.Field(isin=list(CHANNELS), nullable=True)
    product: Series[str]
    days_past_due: Series[float] = pa.Field(ge=0)
    amount_overdue: Series[float] = pa.Field(gt=0)
    outstanding_balance: Series[float] = pa.Field(ge=0)
    offer_instalment: Series[float] = pa.Field(
        gt=0, nullable=True, description="Plan instalment, or a settlement's single payment."
    )
    offer_n_instalments: Series[pd.Int64Dtype] = pa.Field(
        ge=1, nullable=True, description="Plan term in months (1: settlement)."
    )
    offer_discount: Series[float] = pa.Field(
        ge=0, lt=1, nullable=True, description="Settlement discount, share of the balance."
    )
    offer_amount_to_accept: Series[float] = pa.Field(
        gt=0, nullable=True, description="What the lender accepts in full."
    )
    offer_holiday_days: Series[pd.Int64Dtype] = pa.Field(
        ge=1, nullable=True, description="Deferment length in days."
    )
    p_accept: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    expected_value: Series[float] = pa.Field(
        nullable=True, description="Expected money net of costs over the alternative."
    )
    continue_value: Series[float] = pa.Field(
        ge=0, nullable=True, description="Continuing in-house collection over the horizon."
    )
    referral_net_recovery: Series[float] = pa.Field(
        nullable=True, description="Agency recovery net of commission and fee."
    )
    treatment_reason: Series[str] = pa.Field(str_length={"min_value": 1})

    data_cutoff_utc: Series[UtcTimestamp] = pa.Field(nullable=True)

    class Config:
        unique = ["loan_id"]

    @pa.dataframe_check(error="an offer's terms go with an offer, and only with one")
    @classmethod
    def terms_match_the_treatment(cls, df: pd.DataFrame) -> pd.Series[bool]:
        plan = df["treatment"] == "payment_plan"
        settle = df["treatment"] == "settlement"
        defer = df["treatment"] == "deferment"
        has_terms = df["offer_amount_to_accept"].notna()
        return (
            (has_terms == (plan | settle))
            & (df["offer_holiday_days"].notna() == defer)
            & (df["offer_discount"].notna() == settle)
        )


class ContactWindows(pa.DataFrameModel):
    """For every overdue loan and channel: lawful today or not, and the next lawful window."""

    as_of: Series[pa.DateTime]
    run_id: Series[str]
    loan_id: Series[str] = pa.Field(str_length={"min_value": 1})
    borrower_id: Series[str] = pa.Field(str_length={"min_value": 1})
    channel: Series[str] = pa.Field(isin=list(CHANNELS))
    timezone: Series[str]
    lawful_today: Series[bool]
    next_lawful_day: Series[pa.DateTime] = pa.Field(nullable=True)
    window_from_utc: Series[UtcTimestamp] = pa.Field(nullable=True)
    window_until_utc: Series[UtcTimestamp] = pa.Field(nullable=True)
    window_from_local: Series[str] = pa.Field(nullable=True)
    window_until_local: Series[str] = pa.Field(nullable=True)
    blocked_by: Series[str]
    policy: Series[str]
    policy_version: Series[str]
    attempts_left_today: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    p_response: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    p_self_cure: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    incremental_value: Series[float] = pa.Field(nullable=True)

    data_cutoff_utc: Series[UtcTimestamp] = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = False
        unique = ["loan_id", "channel"]

    @pa.dataframe_check(error="a lawful window must start before it ends")
    @classmethod
    def windows_are_ordered(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return df["window_from_utc"].isna() | (df["window_from_utc"] < df["window_until_utc"])


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
    team: Series[str] = pa.Field(str_length={"min_value": 1})
    team_rank: Series[int] = pa.Field(ge=1)
    within_capacity: Series[bool]
    timezone: Series[str]
    contact_from_local: Series[str]
    contact_until_local: Series[str]
    contact_from_utc: Series[UtcTimestamp]
    contact_until_utc: Series[UtcTimestamp]
    broken_promise: Series[bool]
    policy: Series[str] = pa.Field(str_length={"min_value": 1})
    policy_version: Series[str] = pa.Field(str_length={"min_value": 1})
    attempts_left_today: Series[pd.Int64Dtype] = pa.Field(ge=1, nullable=True)
    # Null only in a queue ranked without the best-channel model (scoring.queue.rank_queue on
    # raw candidates); the nightly flow always fills them.
    p_response: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    p_self_cure: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    incremental_value: Series[float] = pa.Field(nullable=True)
    channel_cost: Series[float] = pa.Field(ge=0, nullable=True)
    p_reach: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    exploration: Series[bool]
    # Why this channel rather than the runner-up (the next best channel, or no contact).
    runner_up_channel: Series[str] = pa.Field(isin=[*CHANNELS, "none"], nullable=True)
    channel_reason_1: Series[str] = pa.Field(str_length={"min_value": 1}, nullable=True)
    channel_reason_2: Series[str] = pa.Field(str_length={"min_value": 1}, nullable=True)
    channel_reason_3: Series[str] = pa.Field(str_length={"min_value": 1}, nullable=True)

    data_cutoff_utc: Series[UtcTimestamp] = pa.Field(nullable=True)

    # Why the row is queued, in money (scoring/priority.py): what the contact is expected to add,
    # (p_response - p_self_cure) x amount_at_stake - channel_cost, and what drives it tonight.
    priority_reason: Series[str] = pa.Field(str_length={"min_value": 1})
    # What a response is worth (models/payment_amount.py; the amount overdue where no share was
    # learnt). Null only in a queue ranked without the allocation.
    amount_at_stake: Series[float] = pa.Field(ge=0, nullable=True)

    # One contact per borrower and day (scoring/contacts.py): the loans of a borrower queued
    # tonight share one contact, its channel and a window lawful for every one of them. Null
    # only in a queue ranked without the allocation.
    contact_id: Series[str] = pa.Field(str_length={"min_value": 1}, nullable=True)
    contact_loans: Series[str] = pa.Field(str_length={"min_value": 1}, nullable=True)
    # Officer context, from the tables before the cut-off (never a contact point: those only
    # reach the officer-facing contact rows, scoring/worklist.py).
    preferred_language: Series[str] = pa.Field(nullable=True)
    last_contact_at: Series[UtcTimestamp] = pa.Field(nullable=True)
    last_contact_channel: Series[str] = pa.Field(isin=list(CHANNELS), nullable=True)
    last_contact_outcome: Series[str] = pa.Field(nullable=True)
    next_due_date: Series[pa.DateTime] = pa.Field(nullable=True)
    open_promise_amount: Series[float] = pa.Field(ge=0, nullable=True)
    open_promise_date: Series[pa.DateTime] = pa.Field(nullable=True)

    # Treatments beyond the next contact (scoring/treatments.py): what the contact offers and
    # its terms; treatment_value = incremental_value + p_reach x the offer's gain. Null only in
    # a queue ranked without the allocation.
    treatment: Series[str] = pa.Field(isin=list(QUEUE_TREATMENTS), nullable=True)
    offer_instalment: Series[float] = pa.Field(gt=0, nullable=True)
    offer_n_instalments: Series[pd.Int64Dtype] = pa.Field(ge=1, nullable=True)
    offer_discount: Series[float] = pa.Field(ge=0, lt=1, nullable=True)
    offer_amount_to_accept: Series[float] = pa.Field(gt=0, nullable=True)
    offer_holiday_days: Series[pd.Int64Dtype] = pa.Field(ge=1, nullable=True)
    p_accept: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    treatment_value: Series[float] = pa.Field(nullable=True)
    treatment_reason: Series[str] = pa.Field(str_length={"min_value": 1}, nullable=True)

    class Config:
        unique = ["loan_id"]

    @pa.dataframe_check(error="the contact window must start before it ends")
    @classmethod
    def contact_window_is_ordered(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return df["contact_from_utc"] < df["contact_until_utc"]

    @pa.dataframe_check(error="rows must be sorted by rank, 1..n")
    @classmethod
    def ranks_are_dense_and_sorted(cls, df: pd.DataFrame) -> bool:
        return bool((df["rank"].to_numpy() == range(1, len(df) + 1)).all())


# The treatment columns appended to the queue (scoring/treatments.py).
TREATMENT_QUEUE_COLUMNS: list[str] = [
    "treatment",
    "offer_instalment",
    "offer_n_instalments",
    "offer_discount",
    "offer_amount_to_accept",
    "offer_holiday_days",
    "p_accept",
    "treatment_value",
    "treatment_reason",
]
# The queue columns scoring/contacts.py adds to each queued loan (rank_queue carries them).
CONTACT_QUEUE_COLUMNS: list[str] = [
    "contact_id",
    "contact_loans",
    "preferred_language",
    "last_contact_at",
    "last_contact_channel",
    "last_contact_outcome",
    "next_due_date",
    "open_promise_amount",
    "open_promise_date",
]
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
    # Added with the contact-policy engine (appended: scripts reading by position keep working).
    "team",
    "team_rank",
    "within_capacity",
    "timezone",
    "contact_from_local",
    "contact_until_local",
    "contact_from_utc",
    "contact_until_utc",
    "broken_promise",
    "policy",
    "policy_version",
    "attempts_left_today",
    # Added with the best-channel model and capacity allocation.
    "p_response",
    "p_self_cure",
    "incremental_value",
    "channel_cost",
    "p_reach",
    "exploration",
    # Added with the fair-practice review: why this channel rather than the runner-up.
    "runner_up_channel",
    "channel_reason_1",
    "channel_reason_2",
    "channel_reason_3",
    "data_cutoff_utc",  # appended with the lender-time cut-off
    # Appended with the reasons that explain the decision (issue 27).
    "priority_reason",
    "amount_at_stake",
    # Appended with one contact per borrower and day, and the officer's context.
    *CONTACT_QUEUE_COLUMNS,
    # Appended with treatments beyond the next contact (issue 28).
    *TREATMENT_QUEUE_COLUMNS,
]
# By name, not position: columns are appended after them.
CHANNEL_REASON_COLUMNS: list[str] = [
    "runner_up_channel",
    "channel_reason_1",
    "channel_reason_2",
    "channel_reason_3",
]
SUPPRESSED_COLUMNS: list[str] = [
    "as_of",
    "run_id",
    "loan_id",
    "borrower_id",
    "reason",
    "rule_id",
    "channels",
    "next_lawful_from_local",
    "next_lawful_from_utc",
    "detail",
    "source",
    "policy",
    "policy_version",
    "data_cutoff_utc",  # appended with the lender-time cut-off
]
DISPOSITION_COLUMNS: list[str] = [
    "as_of",
    "run_id",
    "loan_id",
    "borrower_id",
    "disposition",
    "detail",
    "policy",
    "policy_version",
    "control",
    "exploration",
    "data_cutoff_utc",  # appended with the lender-time cut-off
]
TREATMENT_COLUMNS: list[str] = [
    "as_of",
    "run_id",
    "loan_id",
    "borrower_id",
    "disposition",
    "treatment",
    "team",
    "channel",
    "product",
    "days_past_due",
    "amount_overdue",
    "outstanding_balance",
    "offer_instalment",
    "offer_n_instalments",
    "offer_discount",
    "offer_amount_to_accept",
    "offer_holiday_days",
    "p_accept",
    "expected_value",
    "continue_value",
    "referral_net_recovery",
    "treatment_reason",
    "policy",
    "policy_version",
    "data_cutoff_utc",
]
LEFT_ALONE_COLUMNS: list[str] = [
    "as_of",
    "run_id",
    "loan_id",
    "borrower_id",
    "reason",
    "control",
    "p_self_cure",
    "best_channel",
    "p_best_channel",
    "best_channel_cost",
    "best_incremental_value",
    "days_past_due",
    "amount_overdue",
    "policy",
    "policy_version",
    "data_cutoff_utc",  # appended with the lender-time cut-off
]
PROMISE_FOLLOW_UP_COLUMNS: list[str] = [
    "as_of",
    "run_id",
    "loan_id",
    "borrower_id",
    "follow_up_on",
    "promised_on",
    "promised_date",
    "promised_amount",
    "paid_since_promise",
    "days_past_due",
    "amount_overdue",
    "policy",
    "policy_version",
    "data_cutoff_utc",  # appended with the lender-time cut-off
]
FORBEARANCE_COLUMNS: list[str] = [
    "as_of",
    "run_id",
    "loan_id",
    "borrower_id",
    "reason",
    "in_care_since",
    "contact_held",
    "days_past_due",
    "amount_overdue",
    "outstanding_balance",
    "region",
    "timezone",
    "policy",
    "policy_version",
    "data_cutoff_utc",  # appended with the lender-time cut-off
]
CONTACT_WINDOW_COLUMNS: list[str] = list(ContactWindows.to_schema().columns)


class Contacts(pa.DataFrameModel):
    """The officer's work list (team files, workbook, database contacts table): one row per
    contact, the queued loans of one borrower on one day. The only output that carries contact
    points and names (scoring/worklist.py); never written beside the queue as a file of its own."""

    as_of: Series[pa.DateTime]
    run_id: Series[str]
    contact_id: Series[str] = pa.Field(str_length={"min_value": 1}, unique=True)
    team: Series[str] = pa.Field(str_length={"min_value": 1})
    rank: Series[int] = pa.Field(ge=1, unique=True)
    team_rank: Series[int] = pa.Field(ge=1)
    recommended_channel: Series[str] = pa.Field(isin=list(CHANNELS))
    borrower_id: Series[str] = pa.Field(str_length={"min_value": 1})
    display_name: Series[str] = pa.Field(nullable=True)
    contact_point: Series[str] = pa.Field(nullable=True)
    preferred_language: Series[str] = pa.Field(nullable=True)
    loan_ids: Series[str] = pa.Field(str_length={"min_value": 1})
    n_loans: Series[int] = pa.Field(ge=1)
    amount_overdue: Series[float] = pa.Field(gt=0)
    incremental_value: Series[float] = pa.Field(nullable=True)
    priority_reason: Series[str] = pa.Field(nullable=True)
    contact_from_local: Series[str]
    contact_until_local: Series[str]
    # The same window as instants, for the dialers and platforms the rows feed.
    timezone: Series[str]
    contact_from_utc: Series[UtcTimestamp]
    contact_until_utc: Series[UtcTimestamp]
    last_contact_at: Series[UtcTimestamp] = pa.Field(nullable=True)
    last_contact_channel: Series[str] = pa.Field(isin=list(CHANNELS), nullable=True)
    last_contact_outcome: Series[str] = pa.Field(nullable=True)
    next_due_date: Series[pa.DateTime] = pa.Field(nullable=True)
    open_promise_amount: Series[float] = pa.Field(ge=0, nullable=True)
    open_promise_date: Series[pa.DateTime] = pa.Field(nullable=True)
    exploration: Series[bool]
    within_capacity: Series[bool]
    # Appended with treatments (issue 28): what to offer on the contact, per loan; null: nothing.
    offer: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = False

    @pa.dataframe_check(error="rows must be sorted by rank")
    @classmethod
    def ranks_are_sorted(cls, df: pd.DataFrame) -> bool:
        return bool(df["rank"].is_monotonic_increasing)


# The public column order of the contact rows (team files, the database contacts table).
CONTACT_COLUMNS: list[str] = list(Contacts.to_schema().columns)


class ComplianceBreaches(pa.DataFrameModel):
    """The compliance audit of the contacts actually made (``compliance_audit.parquet|csv``):
    one row per historical outbound contact and rule of its pack it broke, judged on what was
    known just before it (monitoring.audit)."""

    interaction_id: Series[str] = pa.Field(description="The contact (interactions.interaction_id).")
    loan_id: Series[str]
    occurred_at: Series[UtcTimestamp] = pa.Field(description="When the contact was made (UTC).")
    channel: Series[str] = pa.Field(isin=list(CHANNELS))
    agent_id: Series[str] = pa.Field(nullable=True, description="Agent who made it; null for messages.")
    rule_id: Series[str] = pa.Field(description="The pack's rule id, as in suppressed.")
    reason: Series[str] = pa.Field(description="The rule's reason code.")
    source: Series[str] = pa.Field(
        isin=["engine queue", "outside the engine", "unknown"],
        description="Whether the archived queue of that day recommended the contact; unknown without archives.",
    )

    class Config:
        strict = True
        coerce = False
        unique = ["interaction_id", "rule_id"]


COMPLIANCE_BREACH_COLUMNS: list[str] = list(ComplianceBreaches.to_schema().columns)


class Disputes(pa.DataFrameModel):
    """The open disputes (``disputes.parquet|csv``): one row per dispute flag in force on the work
    day that holds at least one overdue loan, with the deadline its rule pack encodes to answer
    it, most urgent first (overdue responses, then the fewest days left, then the oldest)."""

    as_of: Series[pa.DateTime] = pa.Field(description="The work day the list is for.")
    run_id: Series[str]
    dispute_id: Series[str] = pa.Field(
        str_length={"min_value": 1},
        unique=True,
        description="Stable id of the dispute: D-<loan_id>-<received date, YYYYMMDD>.",
    )
    borrower_id: Series[str] = pa.Field(str_length={"min_value": 1})
    loan_id: Series[str] = pa.Field(
        str_length={"min_value": 1}, description="The loan the dispute flag sits on."
    )
    received_on: Series[pa.DateTime] = pa.Field(
        description="The day the dispute was received: the flag's starts_on."
    )
    days_open: Series[int] = pa.Field(ge=0, description="Days since received_on (0 on the day).")
    policy: Series[str] = pa.Field(str_length={"min_value": 1}, description="The rule pack judging it.")
    policy_version: Series[str] = pa.Field(str_length={"min_value": 1})
    rule_id: Series[str] = pa.Field(
        str_length={"min_value": 1}, description="The pack's rule on the dispute flag (open_dispute)."
    )
    response_days: Series[pd.Int64Dtype] = pa.Field(
        ge=1,
        nullable=True,
        description="Calendar days the pack allows to answer; null when it encodes no deadline.",
    )
    respond_by: Series[pa.DateTime] = pa.Field(
        nullable=True, description="received_on + response_days: the last day to answer."
    )
    days_left: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, description="respond_by - as_of in days: 0 on the last day, negative when late."
    )
    overdue_response: Series[bool] = pa.Field(
        description="The deadline has passed unanswered (days_left < 0); false without a deadline."
    )
    deadline_source: Series[str] = pa.Field(
        str_length={"min_value": 1},
        description="The law or house rule that sets the deadline, or that the pack states none.",
    )
    loans_held: Series[str] = pa.Field(
        str_length={"min_value": 1},
        description="Comma-separated overdue loans the dispute holds (all the borrower's with scope borrower).",
    )
    n_loans_held: Series[int] = pa.Field(ge=1)
    amount_held: Series[float] = pa.Field(ge=0, description="Amount overdue on the loans held.")

    data_cutoff_utc: Series[UtcTimestamp] = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = False

    @pa.dataframe_check(error="response_days, respond_by and days_left are null together")
    @classmethod
    def deadline_is_whole_or_absent(cls, df: pd.DataFrame) -> pd.Series[bool]:
        absent = df["response_days"].isna()
        return (df["respond_by"].isna() == absent) & (df["days_left"].isna() == absent)

    @pa.dataframe_check(error="overdue_response must say days_left < 0")
    @classmethod
    def overdue_means_past_the_deadline(cls, df: pd.DataFrame) -> pd.Series[bool]:
        late = (df["days_left"] < 0).fillna(False).astype(bool)
        return df["overdue_response"] == late

    @pa.dataframe_check(error="n_loans_held must count the ids in loans_held")
    @classmethod
    def held_count_matches_the_list(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return df["loans_held"].str.count(",") + 1 == df["n_loans_held"]


# The public column order of disputes.parquet|csv.
DISPUTES_COLUMNS: list[str] = list(Disputes.to_schema().columns)
