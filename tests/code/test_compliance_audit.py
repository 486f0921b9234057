"""The compliance audit on hand-made books: one lawful and one unlawful contact per rule kind."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from data_contracts.outputs import COMPLIANCE_BREACH_COLUMNS, ComplianceBreaches
from monitoring.audit import BREACH_COLUMNS, audit_contacts
from scoring.night import ContactSettings
from scoring.policy.packs import ContactGap

ZONE = "America/New_York"
LAW = ContactSettings(default_pack="us_reg_f")


def _book(events: list[tuple], flags: list[tuple] = (), **person: bool) -> dict[str, pd.DataFrame]:
    """Borrower B1 with loans L1 and L2 (New York); events: (id, loan, local time, channel,
    direction, outcome); flags: (loan, flag, starts_on, ends_on)."""
    borrower = {
        "borrower_id": "B1",
        "region": "northeast",
        "timezone": ZONE,
        "has_phone": True,
        "has_email": True,
        "consent_sms": True,
        "consent_email": True,
        "consent_whatsapp": True,
        "do_not_contact": False,
        **person,
    }
    loans = pd.DataFrame({"loan_id": ["L1", "L2"], "borrower_id": ["B1", "B1"], "branch_id": ["X", "X"]})
    interactions = pd.DataFrame(
        [
            {
                "interaction_id": i,
                "loan_id": loan,
                "occurred_at": pd.Timestamp(local).tz_localize(ZONE).tz_convert("UTC"),
                "channel": channel,
                "direction": direction,
                "outcome": outcome,
                "agent_id": "A1" if channel == "call" else None,
            }
            for i, loan, local, channel, direction, outcome in events
        ]
    )
    account_flags = pd.DataFrame(
        [
            {
                "loan_id": f[0],
                "flag": f[1],
                "starts_on": pd.Timestamp(f[2]),
                "ends_on": pd.Timestamp(f[3]) if f[3] else pd.NaT,
            }
            for f in flags
        ],
        columns=["loan_id", "flag", "starts_on", "ends_on"],
    )
    return {
        "borrowers": pd.DataFrame([borrower]),
        "loans": loans,
        "interactions": interactions,
        "account_flags": account_flags,
    }


def _breaches(tables: dict[str, pd.DataFrame], settings: ContactSettings = LAW) -> set[tuple[str, str]]:
    result = audit_contacts(tables, dt.date(2026, 1, 1), dt.date(2026, 12, 31), settings)
    ComplianceBreaches.validate(result.breaches)
    assert list(result.breaches.columns) == BREACH_COLUMNS == COMPLIANCE_BREACH_COLUMNS
    return set(zip(result.breaches["interaction_id"], result.breaches["rule_id"], strict=True))


def test_contact_hours_are_read_on_the_borrowers_clock():
    tables = _book(
        [
            ("ok", "L1", "2026-03-02 20:59", "call", "outbound", "no_answer"),
            ("late", "L1", "2026-03-04 21:00", "call", "outbound", "no_answer"),
            ("early", "L1", "2026-03-06 07:30", "sms", "outbound", "delivered"),
            ("letter", "L1", "2026-03-08 23:00", "letter", "outbound", "delivered"),  # letters have no hours
            ("inbound", "L1", "2026-03-10 23:00", "call", "inbound", "right_party_contact"),
        ]
    )
    assert _breaches(tables) == {("late", "convenient_hours"), ("early", "convenient_hours")}


@pytest.mark.parametrize(
    ("flag", "rule", "other_loan_held"),
    [
        ("cease_and_desist", "cease_and_desist", True),
        ("bankruptcy", "bankruptcy", True),
        ("dispute", "open_dispute", False),
    ],
)
def test_flags_hold_from_the_day_after_they_start_until_they_end(flag, rule, other_loan_held):
    tables = _book(
        [
            ("before", "L1", "2026-03-01 10:00", "call", "outbound", "no_answer"),
            ("same_day", "L1", "2026-03-02 15:00", "call", "outbound", "no_answer"),
            ("held", "L1", "2026-03-05 10:00", "call", "outbound", "no_answer"),
            ("other_loan", "L2", "2026-03-09 10:00", "email", "outbound", "delivered"),
            ("after", "L1", "2026-03-25 10:00", "call", "outbound", "no_answer"),
        ],
        flags=[("L1", flag, "2026-03-02", "2026-03-20")],
    )
    expected = {("held", rule)} | ({("other_loan", rule)} if other_loan_held else set())
    assert _breaches(tables) == expected


def test_do_not_contact_and_missing_consent():
    events = [
        ("sms", "L1", "2026-03-02 10:00", "sms", "outbound", "delivered"),
        ("mail", "L1", "2026-03-06 10:00", "email", "outbound", "delivered"),
    ]
    assert _breaches(_book(events)) == set()
    assert _breaches(_book(events, consent_sms=False)) == {("sms", "message_consent")}
    assert _breaches(_book(events, do_not_contact=True)) == {
        ("sms", "do_not_contact"),
        ("mail", "do_not_contact"),
    }


def test_an_opt_out_on_one_loan_holds_the_channel_on_every_loan_after_it():
    tables = _book(
        [
            ("opt", "L1", "2026-03-02 10:00", "sms", "outbound", "opted_out"),
            ("email", "L2", "2026-03-05 10:00", "email", "outbound", "delivered"),
            ("sms_again", "L2", "2026-03-09 10:00", "sms", "outbound", "delivered"),
        ]
    )
    assert _breaches(tables) == {("sms_again", "channel_opt_out")}


def test_seven_calls_in_seven_days_and_the_eighth():
    days = [f"2026-03-0{d} 10:00" for d in range(2, 9)]  # 7 calls, 2..8 March
    events = [(f"c{i}", "L1", day, "call", "outbound", "no_answer") for i, day in enumerate(days)]
    assert _breaches(_book(events)) == set()
    eighth = [*events, ("c7", "L1", "2026-03-08 11:00", "call", "outbound", "no_answer")]
    assert _breaches(_book(eighth)) == {("c7", "call_frequency_7_in_7")}
    # The window slides: a call on the 10th has only 6 before it in 4..10 March.
    later = [*events, ("c8", "L1", "2026-03-10 10:00", "call", "outbound", "no_answer")]
    assert _breaches(_book(later)) == set()


def test_no_call_in_seven_days_after_a_conversation_the_conversation_day_is_day_one():
    tables = _book(
        [
            ("talk", "L1", "2026-03-02 10:00", "call", "inbound", "right_party_contact"),
            ("too_soon", "L1", "2026-03-08 10:00", "call", "outbound", "no_answer"),
            ("sms", "L1", "2026-03-04 10:00", "sms", "outbound", "delivered"),  # the rule is about calls
            ("fine", "L1", "2026-03-09 10:00", "call", "outbound", "no_answer"),
        ]
    )
    assert _breaches(tables) == {("too_soon", "call_after_conversation")}


def test_house_cadence_rules_count_earlier_contacts_only():
    gap = ContactGap(
        kind="contact_gap",
        id="one_contact_a_day",
        reason="cadence_one_contact_a_day",
        description="d",
        channels="all",
        counted_channels="all",
        days=1,
    )
    tables = _book(
        [
            ("first", "L1", "2026-03-02 10:00", "sms", "outbound", "delivered"),
            ("second", "L2", "2026-03-02 12:00", "call", "outbound", "no_answer"),  # loan scope: L2 is free
            ("third", "L1", "2026-03-02 13:00", "email", "outbound", "delivered"),
        ]
    )
    assert _breaches(tables, ContactSettings(default_pack="us_reg_f", house_rules=(gap,))) == {
        ("third", "one_contact_a_day")
    }


def test_point_in_time_a_contact_is_judged_on_what_came_before_it():
    # The conversation happens after the morning call: the morning call stands, the evening one breaks.
    tables = _book(
        [
            ("morning", "L1", "2026-03-02 09:00", "call", "outbound", "no_answer"),
            ("talk", "L1", "2026-03-02 11:00", "call", "outbound", "right_party_contact"),
            ("evening", "L1", "2026-03-02 18:00", "call", "outbound", "no_answer"),
        ]
    )
    assert _breaches(tables) == {("evening", "call_after_conversation")}


def test_window_source_and_adherence():
    tables = _book(
        [
            ("old", "L1", "2026-01-05 23:00", "call", "outbound", "no_answer"),
            ("late", "L1", "2026-03-04 22:00", "call", "outbound", "no_answer"),
            ("ok", "L2", "2026-03-12 10:00", "sms", "outbound", "delivered"),
        ]
    )
    queued = pd.DataFrame(
        {"loan_id": ["L1"], "as_of": [dt.date(2026, 3, 4)], "recommended_channel": ["call"]}
    )
    result = audit_contacts(tables, dt.date(2026, 3, 1), dt.date(2026, 3, 31), LAW, queued=queued)
    assert result.breaches[["interaction_id", "source"]].values.tolist() == [["late", "engine queue"]]
    assert audit_contacts(tables, dt.date(2026, 3, 1), dt.date(2026, 3, 31), LAW).breaches[
        "source"
    ].tolist() == ["unknown"]
    assert sorted(result.checked["interaction_id"]) == ["late", "ok"]
    by_team = result.adherence(["team"]).set_index("team")
    assert by_team.loc["call-northeast", "adherence_rate"] == 0.0
    assert by_team.loc["sms-northeast", "adherence_rate"] == 1.0
    whole = result.adherence([])
    assert whole[["contacts", "contacts_with_breach"]].values.tolist() == [[2, 1]]
