"""The feature catalog: every model input, what it means, its unit and how reasons speak of it.

No feature reaches a model without an entry here (tested). Protected attributes (gender, birth
year) and their obvious proxies (region, language) are deliberately absent.
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

CATALOG_VERSION = "2"  # 2: the best-channel model reads reach history and the reached arm

Kind = Literal["numeric", "categorical", "boolean"]


@dataclass(frozen=True)
class FeatureSpec:
    """One model feature.

    ``phrase`` is formatted with the account's feature values (``{value}`` is this feature's);
    ``missing_phrase`` is used when the value is missing. ``monotone`` constrains the model's
    response (+1 never lowers, -1 never raises the propensity to pay) where the direction is a
    matter of credit policy rather than of data.

    ``direction`` is the feature's economic direction for the chance to pay, declared only where
    it is unambiguous (+1: more of it is better, e.g. payments, promises kept; -1: more is worse,
    e.g. days past due, promises broken; 0: undeclared). Reasons never state an effect against
    it (:mod:`scoring.reasons`). ``missing_as`` is the value a missing entry compares as, where
    that is unambiguous (no payment on record: longer ago than any payment); None: a missing
    value is not compared.
    """

    name: str
    description: str
    unit: str
    phrase: str
    kind: Kind = "numeric"
    monotone: int = 0
    missing_phrase: str | None = None
    false_phrase: str | None = None  # boolean features: the phrase when the flag is off
    direction: int = 0
    missing_as: float | None = None

    def describe_value(self, values: Mapping[str, object]) -> str:
        """The phrase for this feature filled with one account's values."""
        value = values.get(self.name)
        if is_missing(value):
            return (self.missing_phrase or f"{self.description}: unknown").format(**values)
        if self.kind == "boolean" and not value:
            return self.false_phrase or f"Not: {self.description.lower()}"
        # ``s`` pluralises a count's noun ("1 payment", "3 payments").
        plural = "" if _is_one(value) else "s"
        return self.phrase.format(**{"s": plural, **values, "value": value})

    def format_value(self, value: object) -> str:
        """``value`` written as the phrase writes this feature's value (e.g. a reference value:
        "more than the typical 1,200.00"); "none on record" when missing."""
        if is_missing(value):
            return "none on record"
        if self.kind == "boolean":
            return "yes" if value else "no"
        return format(value, self._value_format)

    @functools.cached_property
    def _value_format(self) -> str:
        # Parsed once per feature: reasons format values hundreds of thousands of times a night.
        fields = [spec for _, field, spec, _ in string.Formatter().parse(self.phrase) if field == "value"]
        return fields[0] if fields and fields[0] else ""


def _is_one(value: object) -> bool:
    try:
        return float(value) == 1.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def is_missing(value: object) -> bool:
    """Whether a feature value is missing (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


FEATURES: tuple[FeatureSpec, ...] = (
    # account state, from allocating payments to installments in due-date order
    FeatureSpec(
        "days_past_due",
        "Days since the oldest unpaid installment fell due",
        "days",
        "Days past due: {value:.0f}",
        monotone=-1,
        direction=-1,
    ),
    FeatureSpec(
        "amount_overdue", "Amount of installments due and unpaid", "currency", "{value:,.2f} overdue"
    ),
    FeatureSpec(
        "outstanding_balance",
        "Scheduled amount not yet paid, future installments included",
        "currency",
        "{value:,.2f} still to repay in total",
    ),
    FeatureSpec(
        "n_installments_overdue",
        "Installments due and not fully paid",
        "count",
        "Installments overdue: {value:.0f}",
        direction=-1,
    ),
    FeatureSpec(
        "overdue_to_installment_ratio",
        "Amount overdue in units of one installment",
        "ratio",
        "Arrears equal {value:.1f} installments",
        direction=-1,
    ),
    FeatureSpec(
        "installment_amount", "Regular installment amount", "currency", "Installment of {value:,.2f}"
    ),
    FeatureSpec("principal", "Amount lent", "currency", "Loan of {value:,.0f}"),
    FeatureSpec(
        "annual_interest_rate", "Nominal annual interest rate", "fraction", "Interest rate {value:.0%} a year"
    ),
    FeatureSpec("loan_age_days", "Days since disbursement", "days", "Loan age: {value:.0f} days"),
    FeatureSpec(
        "term_elapsed_share",
        "Share of installments already due",
        "fraction",
        "{value:.0%} of the term elapsed",
    ),
    FeatureSpec(
        "on_time_share",
        "Share of due installments that were paid by their due date",
        "fraction",
        "Paid {value:.0%} of installments on time",
        monotone=1,
        direction=1,
        missing_phrase="No installment due yet",
    ),
    FeatureSpec(
        "paid_share",
        "Amount paid over amount due to date",
        "fraction",
        "Has paid {value:.0%} of what fell due",
        direction=1,
        missing_phrase="Nothing due yet",
    ),
    FeatureSpec("product", "Loan product", "category", "Product: {value}", kind="categorical"),
    FeatureSpec(
        "installment_frequency", "Repayment frequency", "category", "Pays {value}", kind="categorical"
    ),
    # payments
    FeatureSpec(
        "n_payments_30d",
        "Payments received in the last 30 days",
        "count",
        "{value:.0f} payment{s} in the last 30 days",
        direction=1,
    ),
    FeatureSpec(
        "amount_paid_30d",
        "Amount paid in the last 30 days",
        "currency",
        "Paid {value:,.2f} in the last 30 days",
        direction=1,
    ),
    FeatureSpec(
        "amount_paid_90d",
        "Amount paid in the last 90 days",
        "currency",
        "Paid {value:,.2f} in the last 90 days",
        direction=1,
    ),
    FeatureSpec(
        "days_since_last_payment",
        "Days since the last payment",
        "days",
        "Last payment {value:.0f} days ago",
        direction=-1,
        missing_phrase="No payment on record",
        # Never paid: longer ago than any payment.
        missing_as=math.inf,
    ),
    # contact history
    FeatureSpec(
        "n_outbound_contacts_7d",
        "Outbound contact attempts in the last 7 days",
        "count",
        "Contact attempts in the last 7 days: {value:.0f}",
    ),
    FeatureSpec(
        "n_outbound_contacts_30d",
        "Outbound contact attempts in the last 30 days",
        "count",
        "Contact attempts in the last 30 days: {value:.0f}",
    ),
    FeatureSpec(
        "n_right_party_contacts_30d",
        "Conversations with the borrower in the last 30 days",
        "count",
        "Conversations with the borrower in the last 30 days: {value:.0f}",
    ),
    FeatureSpec(
        "days_since_last_right_party_contact",
        "Days since the borrower was last reached",
        "days",
        "Days since the borrower was last reached: {value:.0f}",
        missing_phrase="Never reached in person",
    ),
    FeatureSpec(
        "n_inbound_contacts_30d",
        "Contacts started by the borrower in the last 30 days",
        "count",
        "Times the borrower got in touch in the last 30 days: {value:.0f}",
    ),
    FeatureSpec(
        "call_no_answer_share_90d",
        "Share of calls in the last 90 days not answered",
        "fraction",
        "{value:.0%} of recent calls unanswered",
        missing_phrase="No calls in the last 90 days",
    ),
    FeatureSpec(
        "n_promises_kept_180d",
        "Promises to pay kept, last 180 days",
        "count",
        "Kept {value:.0f} of the last {n_promises_resolved_180d:.0f} promises to pay",
        monotone=1,
        direction=1,
    ),
    FeatureSpec(
        "n_promises_broken_180d",
        "Promises to pay broken, last 180 days",
        "count",
        "Broke {value:.0f} of the last {n_promises_resolved_180d:.0f} promises to pay",
        monotone=-1,
        direction=-1,
    ),
    FeatureSpec(
        "has_open_promise",
        "A promise to pay whose date has not yet passed",
        "flag",
        "Has an open promise to pay",
        kind="boolean",
        direction=1,
        false_phrase="No open promise to pay",
    ),
    FeatureSpec(
        "n_disputes_365d",
        "Disputes raised in the last year",
        "count",
        "Disputes raised in the last year: {value:.0f}",
    ),
    # borrower and servicing
    FeatureSpec(
        "monthly_income",
        "Declared monthly income",
        "currency",
        "Monthly income {value:,.0f}",
        missing_phrase="Income not declared",
    ),
    FeatureSpec(
        "installment_to_income",
        "Monthly installment burden over monthly income",
        "ratio",
        "Installments take {value:.0%} of income",
        missing_phrase="Income not declared",
    ),
    FeatureSpec(
        "has_phone",
        "A phone number is on file",
        "flag",
        "Phone number on file",
        kind="boolean",
        false_phrase="No phone number on file",
    ),
    FeatureSpec(
        "has_email",
        "An e-mail address is on file",
        "flag",
        "E-mail address on file",
        kind="boolean",
        false_phrase="No e-mail address on file",
    ),
    FeatureSpec(
        "hardship_plan_active",
        "On an agreed hardship plan",
        "flag",
        "On a hardship plan",
        kind="boolean",
        false_phrase="Not on a hardship plan",
    ),
)

# The best-channel model's own inputs besides the account features: the treatment and that
# channel's history with the borrower (features.responses.channel_history).
CHANNEL_INPUTS: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        "channel",
        "The contact channel (or none) the response is predicted for",
        "category",
        "Contact by {value}",
        kind="categorical",
    ),
    FeatureSpec(
        "channel_attempts_180d",
        "Outbound attempts through this channel in the last 180 days",
        "count",
        "{value:.0f} attempts through {channel} in the last 180 days",
    ),
    FeatureSpec(
        "channel_reached_share_180d",
        "Share of this channel's attempts in the last 180 days that reached the borrower",
        "share",
        "Reached through {channel} in {value:.0%} of recent attempts",
        missing_phrase="Not tried through {channel} in the last 180 days",
    ),
    FeatureSpec(
        "channel_days_since_last_attempt",
        "Days since the last attempt through this channel",
        "days",
        "Last tried through {channel} {value:.0f} days ago",
        missing_phrase="Not tried through {channel} in the last 180 days",
    ),
    FeatureSpec(
        "channel_paid_after_share_180d",
        "Share of this channel's attempts in the last 180 days followed by a payment within 7 days",
        "share",
        "Paid within a week after {value:.0%} of recent {channel} attempts",
        missing_phrase="No {channel} attempts in the last 180 days to learn from",
    ),
    FeatureSpec(
        "channel_reached_attempts_180d",
        "Attempts through this channel in the last 180 days that reached the borrower",
        "count",
        "Reached through {channel} {value:.0f} times in the last 180 days",
    ),
    FeatureSpec(
        "channel_paid_after_reached_share_180d",
        "Share of this channel's attempts in the last 180 days that reached the borrower and were "
        "followed by a payment within 7 days, among those that reached them",
        "share",
        "Paid within a week after {value:.0%} of recent {channel} contacts that reached them",
        missing_phrase="Never reached through {channel} in the last 180 days",
    ),
)

# The arm of the response-when-reached model (models.channel): whether the attempt gets through.
# It is the treatment, not an account feature, so it never stands as a reason on its own.
REACHED_INPUT = FeatureSpec(
    "reached",
    "The attempt gets through to the borrower (answered, or delivered)",
    "flag",
    "The attempt gets through",
    kind="boolean",
    monotone=1,
    false_phrase="The attempt does not get through",
)

FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)
CHANNEL_INPUT_NAMES: tuple[str, ...] = tuple(spec.name for spec in CHANNEL_INPUTS)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(s.name for s in FEATURES if s.kind == "categorical")
BY_NAME: dict[str, FeatureSpec] = {spec.name: spec for spec in (*FEATURES, *CHANNEL_INPUTS, REACHED_INPUT)}


def spec(name: str) -> FeatureSpec:
    """The catalog entry of a feature; KeyError names the unknown feature."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"feature {name!r} has no catalog entry") from None
