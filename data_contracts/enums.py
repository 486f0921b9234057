"""Closed vocabularies of the input contract, shared by contracts, features and policies."""

from __future__ import annotations

from typing import Literal, get_args

TABLES: tuple[str, ...] = (
    "borrowers",
    "loans",
    "installments",
    "payments",
    "interactions",
    "account_flags",
)
# Input tables a delivery may leave out; validated like the others when present.
OPTIONAL_TABLES: tuple[str, ...] = ("contact_points", "arrangements")

INSTALLMENT_FREQUENCIES: tuple[str, ...] = ("weekly", "fortnightly", "monthly")

CHANNELS: tuple[str, ...] = ("call", "sms", "email", "whatsapp", "field_visit", "letter")

# A Literal type as well as a tuple: rule packs validate directions against it.
Direction = Literal["outbound", "inbound"]
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)

OUTCOMES: tuple[str, ...] = (
    "no_answer",
    "right_party_contact",
    "promise_to_pay",
    "refused",
    "dispute_raised",
    "wrong_party",
    "delivered",
    "undelivered",
    # The borrower asked to receive no more messages on this channel (Reg F 1006.6(e)).
    "opted_out",
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
    # A known-vulnerable customer: care, not collection pressure (FCA CONC 7.3).
    "vulnerable",
)

PROTECTED_ATTRIBUTES: tuple[str, ...] = ("gender", "birth_year")

# What the optional arrangements table records: a payment plan, or a settlement (the debt closed
# for one payment, the rest written off).
ARRANGEMENT_KINDS: tuple[str, ...] = ("plan", "settlement")

# Where an overdue loan goes on a night: exactly one of these.
DISPOSITIONS: tuple[str, ...] = ("queued", "suppressed", "promise_follow_up", "left_alone")
