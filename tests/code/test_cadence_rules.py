"""Cadence rules (``contact_gap``): the minimum gap between contacts, per account or per person,
the lender's house rules appended to a pack, and the pack's business clock (``timezone``)."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from data_contracts.enums import CHANNELS, DIRECTIONS, OUTCOMES
from features.build import build_features
from scoring.night import ContactSettings, decide_contacts
from scoring.policy.packs import (
    PACKS_DIR,
    ContactGap,
    Rule,
    RulePack,
    load_pack,
    with_house_rules,
)
from scoring.policy.rules import BLOCK_COLUMNS, RULE_FUNCTIONS, ContactHistory, contact_gap, lookback_days
from tests.factories import borrower, interaction, loan, schedule, typed_tables

WORK_DAY = pd.Timestamp("2025-01-15")


def gap(days: int = 7, **fields) -> ContactGap:
    """A contact gap rule; by default "at most one field visit in ``days`` days" per account."""
    base = {
        "id": "visit_gap",
        "kind": "contact_gap",
        "reason": "visit_gap",
        "description": "At most one field visit in a few days.",
        "channels": ["field_visit"],
        "counted_channels": ["field_visit"],
        "days": days,
    }
    return ContactGap.model_validate({**base, **fields})


def contact(
    offset: int,
    loan_id: str = "L1",
    borrower_id: str = "B1",
    channel: str = "field_visit",
    direction: str = "outbound",
    outcome: str = "no_answer",
) -> dict:
    """One interaction on local day ``WORK_DAY + offset``."""
    return {
        "loan_id": loan_id,
        "borrower_id": borrower_id,
        "channel": channel,
        "direction": direction,
        "outcome": outcome,
        "local_date": WORK_DAY + pd.Timedelta(days=offset),
    }


def history(events=(), loans=(("L1", "B1"),)) -> ContactHistory:
    """The rules' view of the account loans ``loans`` (loan_id, borrower_id) on WORK_DAY."""
    accounts = pd.DataFrame(list(loans), columns=["loan_id", "borrower_id"]).assign(timezone="UTC")
    columns = ["loan_id", "borrower_id", "channel", "direction", "outcome", "local_date"]
    interactions = pd.DataFrame(list(events), columns=columns)
    interactions["local_date"] = pd.to_datetime(interactions["local_date"])
    flags = pd.DataFrame(columns=["loan_id", "borrower_id", "flag", "starts_on", "ends_on"])
    return ContactHistory(accounts=accounts, interactions=interactions, flags=flags, work_day=WORK_DAY)


def blocked(blocks: pd.DataFrame) -> dict[tuple[str, str], pd.Timestamp]:
    """(loan, channel) -> blocked_through."""
    return {(row.loan_id, row.channel): row.blocked_through for row in blocks.itertuples(index=False)}


# --- the rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [1, 5, 7])
@pytest.mark.parametrize("ago", [0, 1, 4, 6, 7, 8])
def test_a_contact_blocks_through_l_plus_days_minus_1_and_not_on_l_plus_days(days, ago):
    # A visit on local day L = work day - ago: blocked on the work day while it is <= L + days - 1.
    blocks = contact_gap(gap(days), history([contact(-ago)]))
    assert list(blocks.columns) == BLOCK_COLUMNS
    contact_day = WORK_DAY - pd.Timedelta(days=ago)
    if ago <= days - 1:
        assert blocked(blocks) == {("L1", "field_visit"): contact_day + pd.Timedelta(days=days - 1)}
        assert set(blocks["reason"]) == {"visit_gap"} and set(blocks["rule_id"]) == {"visit_gap"}
    else:  # the work day is L + days or later: free again
        assert blocks.empty


def test_the_latest_of_several_contacts_sets_the_end_of_the_gap():
    blocks = contact_gap(gap(7), history([contact(-5), contact(-2), contact(-6)]))
    assert blocked(blocks) == {("L1", "field_visit"): WORK_DAY + pd.Timedelta(days=4)}


def test_days_1_blocks_only_a_contact_made_on_the_work_day_itself():
    one_a_day = gap(1, channels="all", counted_channels="all")
    today = contact_gap(one_a_day, history([contact(0, channel="sms")]))
    assert blocked(today) == {("L1", channel): WORK_DAY for channel in CHANNELS}
    assert contact_gap(one_a_day, history([contact(-1, channel="sms")])).empty


def test_only_the_counted_channels_count_and_only_the_rule_channels_are_blocked():
    letters = gap(5, channels=["letter"], counted_channels=["letter"])
    assert contact_gap(letters, history([contact(-1, channel="call")])).empty
    blocks = contact_gap(letters, history([contact(-1, channel="letter")]))
    assert blocked(blocks) == {("L1", "letter"): WORK_DAY + pd.Timedelta(days=3)}


@pytest.mark.parametrize(
    ("scope", "expected"), [("loan", {"L2"}), ("borrower", {"L1", "L2"})], ids=["per account", "per person"]
)
def test_per_person_scope_blocks_all_the_borrowers_loans(scope, expected):
    # A visit about L2 (borrower B1); L3 belongs to another borrower and is never blocked.
    loans = (("L1", "B1"), ("L2", "B1"), ("L3", "B2"))
    blocks = contact_gap(gap(7, scope=scope), history([contact(-3, loan_id="L2")], loans=loans))
    assert set(blocks["loan_id"]) == expected
    assert set(blocks["blocked_through"]) == {WORK_DAY + pd.Timedelta(days=3)}


def test_a_contact_on_a_loan_outside_the_accounts_still_counts_for_the_person():
    # L9 is B1's loan that is not overdue (not an account) but its visits are in the history.
    blocks = contact_gap(gap(7, scope="borrower"), history([contact(-1, loan_id="L9")]))
    assert set(blocks["loan_id"]) == {"L1"}
    assert contact_gap(gap(7), history([contact(-1, loan_id="L9")])).empty


def test_inbound_contacts_do_not_count_by_default():
    inbound = [contact(-1, direction="inbound")]
    assert gap(7).directions == ("outbound",)
    assert contact_gap(gap(7), history(inbound)).empty
    both = gap(7, directions=["outbound", "inbound"])
    assert blocked(contact_gap(both, history(inbound))) == {
        ("L1", "field_visit"): WORK_DAY + pd.Timedelta(days=5)
    }


@pytest.mark.parametrize("outcome", ["no_answer", "undelivered", "wrong_party", "right_party_contact"])
def test_any_outcome_counts_an_attempt_is_an_attempt(outcome):
    blocks = contact_gap(gap(7), history([contact(-1, outcome=outcome)]))
    assert blocked(blocks) == {("L1", "field_visit"): WORK_DAY + pd.Timedelta(days=5)}


def test_the_gap_is_registered_and_its_days_are_looked_back():
    assert RULE_FUNCTIONS[ContactGap] is contact_gap
    assert lookback_days([gap(30)]) == 30
    assert lookback_days([*load_pack("us_reg_f").rules, gap(30)]) == 30


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"days": 0}, "greater than or equal to 1"),
        ({"days": 367}, "less than or equal to 366"),
        ({"channels": ["pigeon"]}, "unknown or no channels"),
        ({"directions": ["sideways"]}, "directions"),
        ({"max_attempts": 2}, "Extra inputs are not permitted"),
    ],
    ids=["zero days", "over a year", "bad channel", "bad direction", "not a cap"],
)
def test_a_broken_gap_is_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        gap(**fields)


# --- house rules ---------------------------------------------------------------------------------

HOUSE_RULES_YAML = """
- {id: one_visit_a_week, kind: contact_gap, channels: [field_visit], counted_channels: [field_visit],
   days: 7, reason: visit_gap_7_days, description: At most one field visit in 7 days.}
- {id: one_contact_a_day, kind: contact_gap, channels: all, counted_channels: all, days: 1,
   scope: borrower, reason: one_contact_a_day, description: No more than one contact a day.}
"""


def test_house_rules_are_appended_to_a_copy_of_the_pack():
    pack = load_pack("us_reg_f")
    house = yaml.safe_load(HOUSE_RULES_YAML)
    letters = gap(5, id="letter_gap", reason="letter_gap", channels=["letter"], counted_channels=["letter"])
    extended = with_house_rules(pack, [*house, letters])
    assert extended.rules[: len(pack.rules)] == pack.rules
    assert [r.id for r in extended.rules[len(pack.rules) :]] == [
        "one_visit_a_week",
        "one_contact_a_day",
        "letter_gap",
    ]
    assert all(isinstance(r, ContactGap) for r in extended.rules[len(pack.rules) :])
    assert extended.rules[-2].channels == tuple(CHANNELS) and extended.rules[-2].scope == "borrower"
    assert (extended.name, extended.version, extended.timezone) == (pack.name, pack.version, pack.timezone)
    assert len(load_pack("us_reg_f").rules) == len(pack.rules)  # the pack itself is untouched
    assert with_house_rules(pack, []) == pack


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            [{"id": "call_frequency_7_in_7"}],
            "house rule id 'call_frequency_7_in_7' repeats a rule id of pack us_reg_f@",
        ),
        ([{}, {}], "house rule id 'visit_gap' is given twice"),
    ],
    ids=["repeats the pack", "repeats itself"],
)
def test_a_house_rule_repeating_an_id_is_refused(extra, message):
    base = gap(7).model_dump()
    with pytest.raises(ValueError, match=message):
        with_house_rules(load_pack("us_reg_f"), [{**base, **fields} for fields in extra])


def test_a_house_rule_of_unknown_kind_is_refused():
    with pytest.raises(ValidationError, match="teleport"):
        with_house_rules(load_pack("us_reg_f"), [{**gap(7).model_dump(), "kind": "teleport"}])


# --- through the engine --------------------------------------------------------------------------


RULE = TypeAdapter(Rule)  # house rules as the config holds them (YAML mappings or Rule objects)


def _verdict(house_rules, visits, preference=("field_visit",)):
    """The engine's verdict on overdue loan L1 (New York) on 2025-01-15 under us_reg_f plus house
    rules, with outbound field visits at the given UTC instants."""
    tables = typed_tables(
        borrowers=[borrower(timezone="America/New_York", consent_whatsapp=True)],
        loans=[loan("L1")],
        installments=schedule("L1"),
        interactions=[
            interaction(f"I{k}", at, channel="field_visit", outcome="no_answer")
            for k, at in enumerate(visits)
        ],
    )
    as_of = dt.date(2025, 1, 15)
    features = build_features(tables, as_of)
    rules = ContactSettings(
        default_pack="us_reg_f",
        house_rules=tuple(RULE.validate_python(rule) for rule in house_rules),
        tolerance=0.01,
        preference=tuple(preference),
    )
    decided = decide_contacts(features, tables, as_of, rules)
    return decided.verdict, decided.decisions


def test_a_gap_blocks_the_window_and_suppresses_the_loan_until_the_gap_ends():
    # 2025-01-12 20:00 New York is 2025-01-13 01:00 UTC: local day L = 01-12, free again on 01-19.
    house = yaml.safe_load(HOUSE_RULES_YAML)[:1]
    result, decisions = _verdict(house, ["2025-01-13T01:00:00+00:00"])
    visit = result.windows.set_index("channel").loc["field_visit"]
    assert visit["blocked_by"] == "visit_gap_7_days" and not visit["lawful_today"]
    assert pd.Timestamp(visit["next_lawful_day"]) == pd.Timestamp("2025-01-19")
    assert visit["attempts_left_today"] == 0
    held = decisions.suppressed
    assert held[["loan_id", "rule_id", "reason", "channels"]].to_dict("records") == [
        {
            "loan_id": "L1",
            "rule_id": "one_visit_a_week",
            "reason": "visit_gap_7_days",
            "channels": "field_visit",
        }
    ]
    assert result.windows.set_index("channel").loc["call", "lawful_today"]


def test_one_contact_a_day_leaves_one_attempt_on_every_channel_of_a_clean_day():
    house = yaml.safe_load(HOUSE_RULES_YAML)[1:]
    result, decisions = _verdict(house, ["2025-01-14T15:00:00+00:00"])  # yesterday: it does not count
    windows = result.windows.set_index("channel")
    assert windows["lawful_today"].all()
    assert windows.loc["letter", "attempts_left_today"] == 1  # the gap is the only cap on letters
    assert windows.loc["call", "attempts_left_today"] == 1  # fewer than Reg F's 7-in-7 allows
    assert list(decisions.candidates["loan_id"]) == ["L1"]


# --- the pack's business clock -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "zone"),
    [("us_reg_f", "America/New_York"), ("india_rbi", "Asia/Kolkata"), ("uk_fca", "Europe/London")],
)
def test_the_shipped_packs_carry_their_business_clock(name, zone):
    assert load_pack(name).timezone == zone


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "New York", "../etc/passwd", ""])
def test_a_pack_timezone_must_be_an_iana_zone(zone):
    data = yaml.safe_load((PACKS_DIR / "us_reg_f.yaml").read_text())
    with pytest.raises(ValidationError, match=re.escape(f"unknown time zone {zone!r}")):
        RulePack.model_validate({**data, "timezone": zone})


def test_a_pack_timezone_is_optional():
    data = yaml.safe_load((PACKS_DIR / "us_reg_f.yaml").read_text())
    data.pop("timezone")
    assert RulePack.model_validate(data).timezone is None
    assert RulePack.model_validate({**data, "timezone": "Asia/Kathmandu"}).timezone == "Asia/Kathmandu"


# --- property: the gap agrees with a brute-force count -------------------------------------------


@st.composite
def gaps_and_histories(draw) -> tuple[ContactGap, ContactHistory]:
    """A random gap rule and a random history: 1-3 borrowers with 1-3 loans each, of which some
    are accounts (the rest are the borrowers' other loans, seen by person-scoped rules)."""
    days = draw(st.integers(1, 10))
    rule = gap(
        days,
        channels=draw(st.lists(st.sampled_from(CHANNELS), min_size=1, unique=True)),
        counted_channels=draw(st.lists(st.sampled_from(CHANNELS), min_size=1, unique=True)),
        directions=draw(st.lists(st.sampled_from(DIRECTIONS), min_size=1, unique=True)),
        scope=draw(st.sampled_from(["loan", "borrower"])),
    )
    loans, accounts, events = [], [], []
    for b in range(draw(st.integers(1, 3))):
        for k in range(draw(st.integers(1, 3))):
            loans.append((f"L{b}_{k}", f"B{b}"))
            if draw(st.booleans()) or k == 0:
                accounts.append((f"L{b}_{k}", f"B{b}"))
    for _ in range(draw(st.integers(0, 25))):
        loan_id, borrower_id = draw(st.sampled_from(loans))
        events.append(
            contact(
                -draw(st.integers(0, days + 3)),
                loan_id=loan_id,
                borrower_id=borrower_id,
                channel=draw(st.sampled_from(CHANNELS)),
                direction=draw(st.sampled_from(DIRECTIONS)),
                outcome=draw(st.sampled_from(OUTCOMES)),
            )
        )
    return rule, history(events, loans=accounts)


def brute_force(rule: ContactGap, seen: ContactHistory) -> dict[tuple[str, str], pd.Timestamp]:
    """For each account and channel of the rule: blocked through L + days - 1, L the latest local
    day in [work day - days + 1, work day] of a counted contact on it (or its borrower's loans)."""
    first = seen.work_day - pd.Timedelta(days=rule.days - 1)
    expected = {}
    for account in seen.accounts.itertuples(index=False):
        days = [
            event.local_date
            for event in seen.interactions.itertuples(index=False)
            if (
                event.borrower_id == account.borrower_id
                if rule.scope == "borrower"
                else event.loan_id == account.loan_id
            )
            and event.channel in rule.counted_channels
            and event.direction in rule.directions
            and first <= event.local_date <= seen.work_day
        ]
        if days:
            for channel in rule.channels:
                expected[(account.loan_id, channel)] = max(days) + pd.Timedelta(days=rule.days - 1)
    return expected


@settings(max_examples=150, deadline=None)
@given(case=gaps_and_histories())
def test_contact_gap_agrees_with_a_brute_force_count(case):
    rule, seen = case
    blocks = contact_gap(rule, seen)
    assert not blocks.duplicated(["loan_id", "channel"]).any()
    assert blocked(blocks) == brute_force(rule, seen)
