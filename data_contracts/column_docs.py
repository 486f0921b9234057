"""Plain-word descriptions of every column a person sees: the managers' workbook
(``team_queues.xlsx``, whose "Read me" sheet is written from here) and the batch files handed to
the sending platform (``batches/<channel>.csv``).

Keys are the headers exactly as shown. A header means the same thing on every sheet it appears
on; where two sheets need different meanings they use different headers (tests assert that every
header in the workbook is described here).
"""

from __future__ import annotations

from typing import Final

# What each sheet is for, in the order the workbook shows them.
SHEET_DOCS: Final[dict[str, str]] = {
    "Summary": "The day at a glance: the run, what each team can do today and why, the money at "
    "stake, and the loans held back and why.",
    "Calls": "Today's calls, one row per borrower (all of that borrower's queued loans in one "
    "call), every region on one sheet. Today's rows come first, then the overflow; within each, "
    "sorted by team, then by the team's order of work.",
    "Field visits": "Today's field visits, laid out as the Calls sheet.",
    "Promises": "Loans with an open promise to pay: not chased until the follow-up day.",
    "Care": "Loans in forbearance or a hardship plan, or of vulnerable customers: care, not "
    "collection. Work them with the care team's own process.",
    "Disputes": "Loans held back because the debt is disputed: no collection contact until the "
    "dispute is closed. Use this list to chase the dispute's resolution, not the borrower.",
    "Offers": "What to offer on today's contacts, and the care team's offers: payment plans, "
    "payment holidays (deferments) and settlements, with their terms and why each beats a plain "
    "contact. Settlements never go to care cases.",
    "Referrals and tracing": "Accounts not contacted in-house tonight: referred to an agency or "
    "legal action (its net recovery beats in-house collection), or sent to tracing (no working "
    "phone, e-mail or address).",
    "Read me": "This guide: every sheet and every column in plain words.",
}

COLUMN_DOCS: Final[dict[str, str]] = {
    # --- contact sheets (Calls, Field visits) ---------------------------------------------------
    "Exploration": "'Randomised pick' (and a coloured row) when the engine chose this contact at "
    "random to keep learning what works. It is NOT one of the best contacts of the day; work it "
    "like any other so that the engine learns from a fair result.",
    "Team": "The team that works the row: channel and region (or branch), e.g. call-midwest.",
    "#": "The row's place in its team's order of work today: 1 = first.",
    "Today or later": "'Today' when the row fits in the team's daily capacity; 'Later day' when "
    "it does not (overflow: worth doing, but after today's rows). The sheet shows one more day's "
    "overflow per team; the team files hold the rest.",
    "Ask for": "The person to ask for (the borrower's name as the lender holds it).",
    "Reach at": "Where to reach the borrower for this channel: the primary phone number for a "
    "call, the address for a field visit. Empty when the lender holds none.",
    "Language": "The borrower's preferred language.",
    "Borrower": "The lender's borrower id.",
    "Loans": "The borrower's loans this contact covers (one contact for all of them).",
    "Number of loans": "How many loans this contact covers.",
    "Overdue": "The amount past due today (on a contact sheet: over all the loans the contact covers).",
    "Contact expected to add": "What this contact is expected to add to what the borrower would "
    "pay anyway within 30 days, after the contact's cost. Negative only on randomised picks.",
    "Why this contact": "Why the contact is on the list, in money: what it is expected to add "
    "and what drives that value.",
    "Lawful contact window (local time)": "When the contact may lawfully be made today, on the "
    "borrower's clock (the offset from UTC in brackets).",
    "Last contact": "When the borrower was last contacted (any channel).",
    "Last channel": "The channel of that last contact.",
    "Last outcome": "What that last contact gave (no answer, promise to pay, refused...).",
    "Next due": "The next instalment's due date.",
    "Open promise": "The amount of a promise to pay still open, if any.",
    "Promised for": "The date the borrower promised to pay by.",
    "Overall rank": "The row's place in the whole night's queue (all teams): 1 = most valuable.",
    "Contact id": "The id of this contact, shared by all its loans in queue.parquet; quote it "
    "when recording the outcome.",
    # --- Promises ---------------------------------------------------------------------------------
    "Follow up on": "The day to follow the promise up if it is not kept (the promised date "
    "plus the grace days).",
    "Loan": "The lender's loan id.",
    "Promised on": "The day the borrower made the promise.",
    "Promised": "The amount promised.",
    "Paid since": "What has been paid on the loan since the promise was made.",
    "Days past due": "How many days the oldest unpaid instalment is late.",
    # --- Care -------------------------------------------------------------------------------------
    "In care since": "The day the loan entered care (forbearance, hardship plan or vulnerability).",
    "Why in care": "Why the loan is in care (the rules that put it there).",
    "Contact held": "'yes' when all contact is held as well (a cease request, bankruptcy...).",
    "Balance": "The outstanding balance of the loan.",
    "Region": "The borrower's region.",
    "Time zone": "The borrower's time zone.",
    # --- Disputes ---------------------------------------------------------------------------------
    "Rule": "The contact-policy rule that holds the loan back.",
    "Why held": "The rule in words.",
    "Law or policy": "Where the rule comes from (the law, or house policy).",
    "Channels held": "The channels the rule closes.",
    "Next lawful contact (local time)": "When the rule next allows contact, if it says; empty "
    "while the dispute stays open.",
    "Other holds": "Other rules that hold the same loan back (all must clear before contact).",
    "Dispute received": "The day the dispute was received (the dispute flag's start).",
    "Respond by": "The last day to answer the dispute under the rule pack's deadline; empty when "
    "the pack states none.",
    "Days left to respond": "Days until 'Respond by' (0: today; negative: the answer is late).",
    "What to offer": "On this contact, what to offer per loan (a payment plan, a payment holiday, "
    "a settlement: see the Offers sheet for the terms and why); empty: a plain contact.",
    # --- Offers, referrals and tracing ------------------------------------------------------------
    "Offer": "payment_plan, deferment (a payment holiday) or settlement.",
    "Instalment or settlement amount": "A plan's monthly instalment, or a settlement's single payment.",
    "Months": "A plan's number of monthly instalments (1 for a settlement).",
    "Discount": "A settlement's discount on the outstanding balance.",
    "Amount to accept": "What the lender accepts in full: the plan's total, or the settlement amount.",
    "Holiday days": "A deferment's payment holiday, in days.",
    "Chance to accept": "How likely the borrower is to accept, learnt from past offers or the "
    "configured rule (the reason says which).",
    "Expected gain": "What the offer is expected to bring beyond a plain contact, net of its cost "
    "(for the care team: the offer's expected money).",
    "Why this offer": "The offer, its terms and the figures it was chosen on.",
    "Send to": "referral (an agency or legal action) or trace (find a working contact point).",
    "Agency net recovery": "What the agency is expected to recover, less its commission and fee.",
    "In-house collection at its best": "What continuing to collect in-house is expected to bring "
    "over the horizon, at the best channel's response every week.",
    "Why": "Why the account leaves in-house collection tonight.",
    # --- Summary: teams ---------------------------------------------------------------------------
    "Sent by": "Who works the team's contacts: a sheet of this workbook (people), or a batch "
    "file for the sending platform (SMS, e-mail, WhatsApp, letters).",
    "Capacity a day": "The team's configured contacts a day (teams.capacity_by_channel or "
    "capacity_by_team in the configuration); 'no limit' for channels a platform sends.",
    "Contacts queued": "Contacts the engine queued for the team tonight (one per borrower).",
    "Within capacity": "Of those, the contacts that fit in today's capacity (today's work).",
    "Overflow": "Contacts worth making that do not fit today (they wait for a later day).",
    "Unused capacity": "Slots of today's capacity that no contact fills.",
    "Why (capacity)": "Why the team is full, or why slots stay unused: the engine queues only "
    "lawful contacts worth more than they cost, so unused slots mean there were no more.",
    "Loans covered": "The loans today's contacts cover.",
    "Overdue on today's contacts": "The amount past due on the loans today's contacts cover.",
    "Today's contacts expected to add": "What today's contacts are expected to add to what "
    "borrowers would pay anyway within 30 days, after costs: the value of the day's work.",
    # --- Summary: held back -----------------------------------------------------------------------
    "Held back": "Why overdue loans are not on today's lists: held by a rule, left alone on "
    "purpose, waiting on a promise, in care, or disputed.",
    "Reason": "The reason in words (a rule's description, or the engine's reason).",
    "Loans held": "How many loans it holds (a loan held by two rules counts under both).",
    # --- Read me ----------------------------------------------------------------------------------
    "Sheet": "The sheet (or file) a column belongs to.",
    "Column": "The column's header as shown.",
    "What it means": "The column in plain words.",
}

# The batch files for the sending platform, one per automated channel (batches/<channel>.csv).
BATCH_FIELD_DOCS: Final[dict[str, str]] = {
    "contact_id": "The contact's id: the platform's idempotency key; report outcomes against it.",
    "channel": "The channel to send through (sms, email, whatsapp or letter).",
    "borrower_id": "The lender's borrower id.",
    "display_name": "The name to address the borrower by.",
    "contact_point": "Where to send: phone number (SMS, WhatsApp), e-mail address, postal address.",
    "preferred_language": "The language of the template to use.",
    "loan_ids": "The loans the message covers.",
    "n_loans": "How many loans the message covers.",
    "amount_overdue": "The amount past due over those loans (a template field).",
    "next_due_date": "The next instalment's due date (a template field).",
    "send_from_local": "The earliest lawful send time, on the borrower's clock (ISO 8601 with offset).",
    "send_until_local": "The latest lawful send time, on the borrower's clock.",
    "team": "The team (channel and region) the contact belongs to.",
    "rank": "The contact's place in the night's whole queue (1 = most valuable): send in this "
    "order if the platform throttles.",
    "exploration": "True for a randomised pick kept for learning; send it like any other.",
}

# How to read the Summary sheet (the "Read me" sheet shows these lines).
SUMMARY_GUIDE: Final[tuple[str, ...]] = (
    "Start with the teams table: each team's capacity a day, the contacts that fit in it today "
    "(Within capacity), those that wait (Overflow) and the slots left empty (Unused capacity), "
    "with the reason in words.",
    "Unused capacity is not a fault: the engine only queues contacts that are lawful today and "
    "expected to bring in more than they cost. When fewer exist than the team can make, slots "
    "stay empty; the reason says how many there were.",
    "Two amounts of money, never to be added together: 'Overdue on today's contacts' is what "
    "those borrowers owe past due; 'Today's contacts expected to add' is what the contacts are "
    "expected to bring in beyond what the borrowers would pay anyway. The second is the value "
    "of the day's work and is much smaller.",
    "'Expected recovery' (in the money block) is what queued loans are expected to pay within 30 "
    "days whether or not anyone contacts them; it is not caused by the contacts.",
    "Held back: overdue loans that are on no list today, by reason. Disputes, care and promises "
    "have their own sheets.",
    "SMS, e-mail, WhatsApp and letters are sent by a platform from the batch files "
    "(batches/<channel>.csv), not by people: they appear in the teams table but have no sheet.",
)


def describe(header: str) -> str:
    """The plain-word meaning of a workbook header; KeyError names a header nobody described."""
    try:
        return COLUMN_DOCS[header]
    except KeyError:
        raise KeyError(
            f"column header {header!r} has no description in data_contracts/column_docs.py"
        ) from None
