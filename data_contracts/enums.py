"""Closed vocabularies of the input contract, shared by contracts, features and policies."""

from __future__ import annotations

TABLES: tuple[str, ...] = (
    "borrowers",
    "loans",
    "installments",
    "payments",
    "interactions",
    "account_flags",
)

INSTALLMENT_FREQUENCIES: tuple[str, ...] = ("weekly", "fortnightly", "monthly")

CHANNELS: tuple[str, ...] = ("call", "sms", "email", "whatsapp", "field_visit", "letter")

DIRECTIONS: tuple[str, ...] = ("outbound", "inbound")

OUTCOMES: tuple[str, ...] = (
    "no_answer",
    "right_party_contact",
    "promise_to_pay",
    "refused",
    "dispute_raised",
    "wrong_party",
    "delivered",
    "undelivered",
)

# Outcomes in which the borrower themself was reached.
RIGHT_PARTY_OUTCOMES: tuple[str, ...] = (
    "right_party_contact",
    "promise_to_pay",
    "refused",
    "dispute_raised",
)

FLAGS: tuple[str, ...] = (
    "dispute",
    "cease_and_desist",
    "bankruptcy",
    "deceased",
    "legal_hold",
    "hardship_plan",
    "do_not_visit",
)

PROTECTED_ATTRIBUTES: tuple[str, ...] = ("gender", "birth_year")
