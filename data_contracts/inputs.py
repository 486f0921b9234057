"""The input data contract: one strict pandera DataFrameModel per table.

These models are the engine's public interface. Column types here are the canonical in-memory
types after parsing (see :mod:`data_contracts.parsing`); files may carry them as text.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from data_contracts.enums import (
    ARRANGEMENT_KINDS,
    CHANNELS,
    DIRECTIONS,
    FLAGS,
    INSTALLMENT_FREQUENCIES,
    OUTCOMES,
)

UtcTimestamp = Annotated[pd.DatetimeTZDtype, "ns", "UTC"]
Date = pa.DateTime  # calendar date, naive, normalised to midnight

_VALID_TIMEZONES = frozenset(zoneinfo.available_timezones())


PROMISE_NEEDS_AMOUNT = "promised_amount is required when outcome is promise_to_pay"
FLAG_ENDS_AFTER_START = "ends_on must be on or after starts_on"
BROKEN_AFTER_OFFER = "broken_on must be on or after offered_on"
BROKEN_ONLY_IF_ACCEPTED = "broken_on only on an accepted arrangement"
SETTLEMENT_ONE_PAYMENT = "n_instalments must be 1 (or null) for a settlement"
DISCOUNT_ONLY_SETTLEMENT = "discount must be null or 0 for a plan"
# Frame-wide checks are reported under the column a reader has to fix.
DATAFRAME_CHECK_COLUMNS = {
    PROMISE_NEEDS_AMOUNT: "promised_amount",
    FLAG_ENDS_AFTER_START: "ends_on",
    BROKEN_AFTER_OFFER: "broken_on",
    BROKEN_ONLY_IF_ACCEPTED: "broken_on",
    SETTLEMENT_ONE_PAYMENT: "n_instalments",
    DISCOUNT_ONLY_SETTLEMENT: "discount",
}


def _non_empty_id(**kwargs: Any) -> Any:  # pa.Field is typed to return Any
    return pa.Field(str_length={"min_value": 1}, **kwargs)


class InputTable(pa.DataFrameModel):
    """Settings shared by every input table: strict columns, no implicit coercion of text."""

    class Config:
        strict = True
        coerce = False


class Borrowers(InputTable):
    """One row per borrower. gender and birth_year are protected: fairness review only."""

    borrower_id: Series[str] = _non_empty_id(unique=True, description="Borrower identifier.")
    region: Series[str] = pa.Field(str_length={"min_value": 1}, description="Collection region.")
    timezone: Series[str] = pa.Field(
        isin=sorted(_VALID_TIMEZONES), description="IANA time zone of the borrower."
    )
    preferred_language: Series[str] = pa.Field(nullable=True, description="Language code.")
    birth_year: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=1900, le=2100, description="Protected attribute: fairness review only."
    )
    gender: Series[str] = pa.Field(nullable=True, description="Protected attribute: fairness review only.")
    monthly_income: Series[float] = pa.Field(
        nullable=True, ge=0, description="Declared monthly income, loan currency."
    )
    has_phone: Series[bool] = pa.Field(description="A phone number is on file.")
    has_email: Series[bool] = pa.Field(description="An e-mail address is on file.")
    consent_sms: Series[bool] = pa.Field(description="Consent to collection texts.")
    consent_email: Series[bool] = pa.Field(description="Consent to collection e-mails.")
    consent_whatsapp: Series[bool] = pa.Field(description="Consent to WhatsApp messages.")
    do_not_contact: Series[bool] = pa.Field(description="Borrower asked not to be contacted.")
    # Optional (books without it stay valid). Personal data: only the officer's contact rows
    # carry it (scoring/worklist.py), never features, explanations, MLflow or logs.
    # Optional[...]: pandera reads it as "this column may be absent".
    display_name: Optional[Series[str]] = pa.Field(
        nullable=True, description="Name to ask for (optional column; personal data)."
    )


class Loans(InputTable):
    """One row per loan."""

    loan_id: Series[str] = _non_empty_id(unique=True, description="Loan identifier.")
    borrower_id: Series[str] = _non_empty_id(description="Owner; must exist in borrowers.")
    product: Series[str] = pa.Field(str_length={"min_value": 1}, description="Product code.")
    branch_id: Series[str] = pa.Field(str_length={"min_value": 1}, description="Branch.")
    currency: Series[str] = pa.Field(str_matches=r"^[A-Z]{3}$", description="ISO 4217 currency code.")
    disbursed_on: Series[Date] = pa.Field(description="Disbursement date.")
    principal: Series[float] = pa.Field(gt=0, description="Amount lent.")
    annual_interest_rate: Series[float] = pa.Field(
        ge=0, le=2, description="Nominal annual rate as a fraction."
    )
    installment_frequency: Series[str] = pa.Field(
        isin=list(INSTALLMENT_FREQUENCIES), description="Schedule frequency."
    )
    n_installments: Series[int] = pa.Field(gt=0, description="Number of installments.")
    installment_amount: Series[float] = pa.Field(gt=0, description="Regular installment.")


class Installments(InputTable):
    """The full repayment schedule, future due dates included."""

    loan_id: Series[str] = _non_empty_id(description="Loan; must exist in loans.")
    installment_no: Series[int] = pa.Field(ge=1, description="1-based installment number.")
    due_date: Series[Date] = pa.Field(description="Date the installment falls due.")
    amount_due: Series[float] = pa.Field(gt=0, description="Amount due on that date.")

    class Config:
        unique = ["loan_id", "installment_no"]


class Payments(InputTable):
    """Every payment received."""

    payment_id: Series[str] = _non_empty_id(unique=True, description="Payment identifier.")
    loan_id: Series[str] = _non_empty_id(description="Loan; must exist in loans.")
    paid_at: Series[UtcTimestamp] = pa.Field(description="When the money arrived (UTC).")
    amount: Series[float] = pa.Field(gt=0, description="Amount paid.")
    method: Series[str] = pa.Field(str_length={"min_value": 1}, description="Payment method.")


class Interactions(InputTable):
    """Every contact attempt and inbound contact."""

    interaction_id: Series[str] = _non_empty_id(unique=True, description="Interaction id.")
    loan_id: Series[str] = _non_empty_id(description="Loan; must exist in loans.")
    occurred_at: Series[UtcTimestamp] = pa.Field(description="When it happened (UTC).")
    channel: Series[str] = pa.Field(isin=list(CHANNELS), description="Contact channel.")
    direction: Series[str] = pa.Field(isin=list(DIRECTIONS), description="Who initiated it.")
    outcome: Series[str] = pa.Field(isin=list(OUTCOMES), description="What came of it.")
    promised_amount: Series[float] = pa.Field(
        nullable=True, ge=0, description="Promised amount; required for promise_to_pay."
    )
    promised_date: Series[Date] = pa.Field(nullable=True, description="Promised payment date.")
    agent_id: Series[str] = pa.Field(nullable=True, description="Agent who made the contact.")

    @pa.dataframe_check(error=PROMISE_NEEDS_AMOUNT)
    @classmethod
    def promise_has_amount(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return (df["outcome"] != "promise_to_pay") | df["promised_amount"].notna()


class AccountFlags(InputTable):
    """Servicing flags with their validity period; ends_on null means still open."""

    loan_id: Series[str] = _non_empty_id(description="Loan; must exist in loans.")
    flag: Series[str] = pa.Field(isin=list(FLAGS), description="Flag type.")
    starts_on: Series[Date] = pa.Field(description="First day the flag applies.")
    ends_on: Series[Date] = pa.Field(nullable=True, description="Last day, or null if open.")

    @pa.dataframe_check(error=FLAG_ENDS_AFTER_START)
    @classmethod
    def ends_after_start(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return df["ends_on"].isna() | (df["ends_on"] >= df["starts_on"])


CONTACT_POINT_KINDS: tuple[str, ...] = ("phone", "email", "address", "messaging")


class ContactPoints(InputTable):
    """Optional table: how to reach each borrower. Personal data: only the officer's contact
    rows (team files, workbook, database contacts table) carry it."""

    borrower_id: Series[str] = _non_empty_id(description="Borrower; must exist in borrowers.")
    kind: Series[str] = pa.Field(
        isin=list(CONTACT_POINT_KINDS), description="phone, email, address, messaging."
    )
    value: Series[str] = pa.Field(str_length={"min_value": 1}, description="The number, address or handle.")
    is_primary: Series[bool] = pa.Field(description="The point to use first for its kind.")
    verified_on: Series[Date] = pa.Field(nullable=True, description="Last day the point was verified.")


class Arrangements(InputTable):
    """Optional table: the payment plans and settlements offered, one row per offer, accepted or
    not. offered_on is the event's date: a night reads the rows offered before its work day, and
    a broken_on on or after it is not known yet (read as null). Not personal data."""

    loan_id: Series[str] = _non_empty_id(description="Loan; must exist in loans.")
    kind: Series[str] = pa.Field(isin=list(ARRANGEMENT_KINDS), description="plan or settlement.")
    offered_on: Series[Date] = pa.Field(description="Day the offer was put to the borrower.")
    accepted: Series[bool] = pa.Field(description="The borrower accepted it.")
    instalment: Series[float] = pa.Field(
        nullable=True,
        gt=0,
        description="A plan's instalment; a settlement's amount, accepted as one payment.",
    )
    n_instalments: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=1, description="A plan's number of monthly instalments; 1 for a settlement."
    )
    discount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        lt=1,
        description="A settlement's discount, as a share of the balance; null or 0 for a plan.",
    )
    broken_on: Series[Date] = pa.Field(
        nullable=True,
        description="Day an accepted arrangement was broken; null if kept, completed, running or declined.",
    )

    @pa.dataframe_check(error=BROKEN_AFTER_OFFER)
    @classmethod
    def broken_after_offer(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return df["broken_on"].isna() | (df["broken_on"] >= df["offered_on"])

    @pa.dataframe_check(error=BROKEN_ONLY_IF_ACCEPTED)
    @classmethod
    def broken_only_if_accepted(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return df["broken_on"].isna() | df["accepted"].fillna(False).astype(bool)

    @pa.dataframe_check(error=SETTLEMENT_ONE_PAYMENT)
    @classmethod
    def settlement_is_one_payment(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return (df["kind"] != "settlement") | df["n_instalments"].isna() | (df["n_instalments"] == 1)

    @pa.dataframe_check(error=DISCOUNT_ONLY_SETTLEMENT)
    @classmethod
    def discount_only_on_settlements(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return (df["kind"] != "plan") | df["discount"].isna() | (df["discount"] == 0)


INPUT_MODELS: dict[str, type[InputTable]] = {
    "borrowers": Borrowers,
    "loans": Loans,
    "installments": Installments,
    "payments": Payments,
    "interactions": Interactions,
    "account_flags": AccountFlags,
    "contact_points": ContactPoints,
    "arrangements": Arrangements,
}
# Tables a delivery may leave out (enums.OPTIONAL_TABLES): the night runs without them.
# Columns a table may leave out, and the personal data the engine keeps out of everything but
# the officer's contact rows (quarantine reports show them masked).
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {"borrowers": ("display_name",)}
PERSONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "borrowers": ("display_name",),
    "contact_points": ("value",),
}

# Primary keys: used to name rows in error reports and to detect duplicate deliveries.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "borrowers": ("borrower_id",),
    "loans": ("loan_id",),
    "installments": ("loan_id", "installment_no"),
    "payments": ("payment_id",),
    "interactions": ("interaction_id",),
    "account_flags": ("loan_id", "flag", "starts_on"),
    "contact_points": ("borrower_id", "kind"),  # names rows without the (personal) value
    # Names rows in reports; not enforced unique (two offers of a kind on one day are possible).
    "arrangements": ("loan_id", "kind", "offered_on"),
}

# (table, column) -> (parent table, parent column)
FOREIGN_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("loans", "borrower_id"): ("borrowers", "borrower_id"),
    ("installments", "loan_id"): ("loans", "loan_id"),
    ("payments", "loan_id"): ("loans", "loan_id"),
    ("interactions", "loan_id"): ("loans", "loan_id"),
    ("account_flags", "loan_id"): ("loans", "loan_id"),
    ("contact_points", "borrower_id"): ("borrowers", "borrower_id"),
    ("arrangements", "loan_id"): ("loans", "loan_id"),
}

# Event columns that must lie strictly before the as-of date of a run (a calendar date, as
# arrangements' offered_on, before the work day itself).
EVENT_TIME_COLUMNS: dict[str, str] = {
    "payments": "paid_at",
    "interactions": "occurred_at",
    "arrangements": "offered_on",
}
# Calendar-date columns that may fall on the as-of date but not after it: a flag recorded as
# starting on the work day (a cease-and-desist received that morning) is in force for that
# day's contact rules, while features still see only flags that started before it.
SCHEDULED_DATE_COLUMNS: dict[str, str] = {
    "account_flags": "starts_on",
}
