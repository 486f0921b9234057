"""The shipped rule packs say what their law says; broken packs are refused with a clear error."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from data_contracts.validation import validate_tables
from features.build import build_features
from features.point_in_time import as_of_instant
from features.promises import promise_ledger
from scoring.policy.engine import apply_contact_policy, assign_packs
from scoring.policy.packs import (
    PACKS_DIR,
    AttemptCap,
    ContactHours,
    ConversationCooldown,
    FlagHold,
    OptOut,
    available_packs,
    load_pack,
    resolve_packs,
)
from tests.factories import borrower, flag, interaction, loan, payment, raw_tables, schedule, typed_tables

STOPS = {"cease_and_desist", "dispute", "bankruptcy", "deceased", "legal_hold"}


def _rule(pack, rule_id):
    return next(rule for rule in pack.rules if rule.id == rule_id)


def _hold_flags(pack, *, route="none"):
    return {r.flag for r in pack.of_kind(FlagHold) if r.route == route and len(r.channels) == 6}


def test_the_three_packs_ship():
    assert {"us_reg_f", "india_rbi", "uk_fca"} <= set(available_packs())


# --- us_reg_f ----------------------------------------------------------------------------------


def test_us_reg_f_encodes_regulation_f():
    pack = load_pack("us_reg_f")
    cap = _rule(pack, "call_frequency_7_in_7")
    assert isinstance(cap, AttemptCap)
    assert (cap.max_attempts, cap.window_days, cap.directions, cap.channels) == (
        7,
        7,
        ("outbound",),
        ("call",),
    )
    cooldown = _rule(pack, "call_after_conversation")
    assert isinstance(cooldown, ConversationCooldown) and cooldown.days == 7
    assert set(cooldown.directions) == {"outbound", "inbound"}
    hours = _rule(pack, "convenient_hours")
    assert isinstance(hours, ContactHours)
    assert (hours.start, hours.end) == (dt.time(8), dt.time(21))
    assert "letter" not in hours.channels and {"sms", "email"} <= set(hours.channels)
    assert set(_rule(pack, "message_consent").requires) == {"sms", "whatsapp", "email"}
    assert isinstance(_rule(pack, "channel_opt_out"), OptOut)
    assert _hold_flags(pack) >= STOPS
    assert _rule(pack, "do_not_contact").column == "do_not_contact"


# --- india_rbi ---------------------------------------------------------------------------------


def test_india_rbi_encodes_the_fair_practices_code():
    pack = load_pack("india_rbi")
    hours = _rule(pack, "recovery_hours")
    assert (hours.start, hours.end) == (dt.time(8), dt.time(19))
    assert {"call", "field_visit"} <= set(hours.channels)
    daily, weekly = _rule(pack, "daily_call_cap"), _rule(pack, "weekly_call_cap")
    assert (daily.window_days, weekly.window_days) == (1, 7)
    assert daily.max_attempts < weekly.max_attempts
    visit = _rule(pack, "do_not_visit")
    assert visit.flag == "do_not_visit" and visit.channels == ("field_visit",)
    assert _hold_flags(pack) >= STOPS


def test_india_rbi_caps_calls_per_local_day_in_kolkata():
    # 02:00 and 03:00 UTC on 2025-01-14 are 07:30 and 08:30 in Kolkata: two calls that day.
    tables = typed_tables(
        borrowers=[borrower(region="maharashtra", timezone="Asia/Kolkata")],
        interactions=[
            interaction("I1", "2025-01-14T02:00:00+00:00"),
            interaction("I2", "2025-01-14T03:00:00+00:00"),
        ],
    )
    packs, default, by_region = resolve_packs("india_rbi", {})
    for day, lawful in ((dt.date(2025, 1, 14), False), (dt.date(2025, 1, 15), True)):
        verdict = apply_contact_policy(pd.Series(["L1"]), tables, day, packs, default, by_region)
        call = verdict.windows.set_index("channel").loc["call"]
        assert bool(call["lawful_today"]) is lawful
        assert call["window_from_local"] == "2025-01-15T08:00:00+05:30"
        assert call["window_until_local"] == "2025-01-15T19:00:00+05:30"


# --- uk_fca ------------------------------------------------------------------------------------


def test_uk_fca_routes_hardship_and_vulnerability_to_forbearance():
    pack = load_pack("uk_fca")
    assert _hold_flags(pack, route="forbearance") == {"hardship_plan", "vulnerable"}
    assert _hold_flags(pack) >= STOPS
    assert {r.id for r in pack.of_kind(AttemptCap)} == {"daily_call_cap", "weekly_contact_cap"}


# --- packs are validated -------------------------------------------------------------------------


def _write(tmp_path, mutate):
    data = yaml.safe_load((PACKS_DIR / "us_reg_f.yaml").read_text())
    mutate(data)
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rules"].append({**d["rules"][0]}), "unique"),
        (lambda d: d["rules"][0].update(kind="teleport"), "teleport"),
        (lambda d: d["rules"][0].update(flag="abducted_by_aliens"), "unknown flag"),
        (lambda d: d["rules"][-3].update(start="21:00", end="08:00"), "must be before end"),
        (lambda d: d["rules"][-2].update(channels=["pigeon"]), "unknown or no channels"),
        (lambda d: d["rules"][-2].update(max_attempts=0), "greater than or equal to 1"),
        (lambda d: d["rules"][6].update(channels=["call"]), "forbearance route holds every channel"),
        (lambda d: d.pop("version"), "version"),
    ],
    ids=[
        "duplicate id",
        "unknown kind",
        "unknown flag",
        "empty hours",
        "bad channel",
        "zero cap",
        "partial care",
        "no version",
    ],
)
def test_a_broken_pack_is_refused(tmp_path, mutate, message):
    with pytest.raises(ValidationError, match=message):
        load_pack(_write(tmp_path, mutate))


def test_a_custom_pack_file_can_be_used_and_an_unknown_name_is_refused(tmp_path):
    path = _write(tmp_path, lambda d: d.update(name="house_rules", version="1"))
    packs, default, _ = resolve_packs(path, {})
    assert default == "house_rules" and packs["house_rules"].version == "1"
    with pytest.raises(ValueError, match="unknown policy pack 'mars'"):
        resolve_packs("mars", {})


def test_regions_can_have_their_own_pack():
    tables = typed_tables(
        borrowers=[borrower("B1"), borrower("B2", region="mumbai", timezone="Asia/Kolkata")],
        loans=[loan("L1", "B1"), loan("L2", "B2")],
        installments=schedule("L1") + schedule("L2"),
    )
    packs, default, by_region = resolve_packs("us_reg_f", {"mumbai": "india_rbi"})
    verdict = apply_contact_policy(
        pd.Series(["L1", "L2"]), tables, dt.date(2025, 1, 15), packs, default, by_region
    )
    assert dict(zip(verdict.accounts["loan_id"], verdict.accounts["policy"], strict=True)) == {
        "L1": "us_reg_f",
        "L2": "india_rbi",
    }
    calls = verdict.windows[verdict.windows["channel"] == "call"].set_index("loan_id")
    assert calls.loc["L1", "window_until_local"] == "2025-01-15T21:00:00-05:00"
    assert calls.loc["L2", "window_until_local"] == "2025-01-15T19:00:00+05:30"
    assert verdict.packs == {"us_reg_f": packs["us_reg_f"].version, "india_rbi": packs["india_rbi"].version}
    assert list(assign_packs(verdict.accounts, "uk_fca", {})) == ["uk_fca", "uk_fca"]


def test_an_opt_out_on_one_loan_covers_all_the_borrowers_loans():
    tables = typed_tables(
        **TWO_LOANS,
        interactions=[
            interaction("I1", "2024-11-02T15:00:00+00:00", loan_id="L2", channel="sms", outcome="opted_out")
        ],
    )
    packs, default, by_region = resolve_packs("us_reg_f", {})
    verdict = apply_contact_policy(pd.Series(["L1"]), tables, dt.date(2025, 1, 15), packs, default, by_region)
    windows = verdict.windows.set_index("channel")
    assert windows.loc["sms", "blocked_by"] == "opted_out" and not windows.loc["sms", "lawful_today"]
    assert windows.loc["email", "lawful_today"]
    assert set(verdict.blocks["loan_id"]) == {"L1"}


TWO_LOANS = {
    "loans": [loan("L1"), loan("L2")],
    "installments": schedule("L1") + schedule("L2", first_due="2025-02-01"),  # L2 is not overdue
}


@pytest.mark.parametrize(
    ("flag_name", "held"),
    [
        ("deceased", True),
        ("bankruptcy", True),
        ("cease_and_desist", True),
        ("dispute", False),
        ("legal_hold", False),
    ],
)
def test_person_level_flags_on_any_loan_hold_all_the_borrowers_loans(flag_name, held):
    tables = typed_tables(**TWO_LOANS, account_flags=[flag("L2", flag_name, "2025-01-01")])
    packs, default, by_region = resolve_packs("us_reg_f", {})
    verdict = apply_contact_policy(pd.Series(["L1"]), tables, dt.date(2025, 1, 15), packs, default, by_region)
    assert (not verdict.windows["lawful_today"].any()) is held


@pytest.mark.parametrize(("pack", "blocked"), [("india_rbi", True), ("us_reg_f", False)])
def test_person_level_call_caps_count_calls_on_all_the_borrowers_loans(pack, blocked):
    # Two calls today (Kolkata) about the borrower's other loan: RBI's cap protects the person,
    # Reg F's 7-in-7 counts per debt.
    tables = typed_tables(
        **TWO_LOANS,
        borrowers=[borrower(region="maharashtra", timezone="Asia/Kolkata")],
        interactions=[
            interaction("I1", "2025-01-15T02:00:00+00:00", loan_id="L2"),
            interaction("I2", "2025-01-15T03:00:00+00:00", loan_id="L2"),
        ],
    )
    packs, default, by_region = resolve_packs(pack, {})
    verdict = apply_contact_policy(pd.Series(["L1"]), tables, dt.date(2025, 1, 15), packs, default, by_region)
    call = verdict.windows.set_index("channel").loc["call"]
    assert (not call["lawful_today"]) is blocked


def test_an_opt_out_on_calls_stops_calls():
    tables = typed_tables(
        interactions=[
            interaction("I1", "2024-12-01T15:00:00+00:00", direction="inbound", outcome="opted_out")
        ]
    )
    packs, default, by_region = resolve_packs("us_reg_f", {})
    verdict = apply_contact_policy(pd.Series(["L1"]), tables, dt.date(2025, 1, 15), packs, default, by_region)
    windows = verdict.windows.set_index("channel")
    assert windows.loc["call", "blocked_by"] == "opted_out" and windows.loc["sms", "lawful_today"]


def test_a_loan_whose_hold_row_was_quarantined_is_held_until_the_row_is_fixed():
    from scoring.night import ContactSettings, decide_contacts
    from scoring.policy.engine import unreadable_hold_loans

    raw = raw_tables(
        borrowers=[borrower("B1"), borrower("B2")],
        loans=[loan("L1", "B1"), loan("L2", "B2"), loan("L3", "B2")],
        installments=schedule("L1") + schedule("L2") + schedule("L3"),
        account_flags=[flag("L1", "cease_and_desist", "2025-01-10", "2025-01-01")],  # ends before it starts
        interactions=[
            interaction("I1", "not a time", loan_id="L2", channel="sms", outcome="opted_out"),
            interaction("I2", "not a time", loan_id="L3", channel="sms", outcome="no_answer"),
        ],
    )
    result = validate_tables(raw, as_of=dt.date(2025, 1, 15))
    unreadable = unreadable_hold_loans(result.quarantined_rows)
    assert sorted(unreadable) == ["L1", "L2"]
    features = build_features(result.tables, dt.date(2025, 1, 15))
    rules = ContactSettings(default_pack="us_reg_f", tolerance=0.01, preference=("call", "letter"))
    decided = decide_contacts(
        features, result.tables, dt.date(2025, 1, 15), rules, unreadable_holds=unreadable
    )
    decisions = decided.decisions
    held = decisions.suppressed.set_index("loan_id")
    assert sorted(held.index) == ["L1", "L2"]
    assert set(held["reason"]) == {"hold_row_quarantined"}
    assert list(decisions.candidates["loan_id"]) == ["L3"]


@pytest.mark.parametrize(
    ("pack", "calls", "left"),
    [
        ("us_reg_f", [], 7),
        ("us_reg_f", ["2025-01-09T15:00", "2025-01-12T15:00", "2025-01-13T15:00"], 4),
        ("us_reg_f", ["2025-01-08T15:00"], 7),  # 2025-01-08 is outside the 7 days ending 01-15
        ("india_rbi", ["2025-01-14T15:00"], 2),  # daily cap 2 (new day), weekly 6 - 1 = 5
        ("india_rbi", [f"2025-01-{d:02d}T15:00" for d in range(9, 14)], 1),  # weekly 6 - 5
    ],
)
def test_queue_rows_say_how_many_attempts_are_left_today(pack, calls, left):
    tables = typed_tables(
        borrowers=[borrower(timezone="UTC")],
        interactions=[interaction(f"I{k}", f"{at}:00+00:00") for k, at in enumerate(calls)],
    )
    packs, default, by_region = resolve_packs(pack, {})
    verdict = apply_contact_policy(pd.Series(["L1"]), tables, dt.date(2025, 1, 15), packs, default, by_region)
    windows = verdict.windows.set_index("channel")
    assert windows.loc["call", "attempts_left_today"] == left
    assert pd.isna(windows.loc["letter", "attempts_left_today"])  # no cap on letters


# --- flags known on the work day hold that day ----------------------------------------------------


def test_a_flag_starting_on_the_as_of_date_is_accepted_and_one_after_is_held_for_its_night():
    tables = raw_tables(
        account_flags=[flag("L1", "cease_and_desist", "2025-01-15"), flag("L1", "bankruptcy", "2025-01-16")]
    )
    result = validate_tables(tables, as_of=dt.date(2025, 1, 15))
    assert list(result.tables["account_flags"]["flag"]) == ["cease_and_desist"]
    assert list(result.held_rows["account_flags"]["flag"]) == ["bankruptcy"]
    assert result.is_valid, "a later night's flag is not a bad row"
    packs, default, by_region = resolve_packs("us_reg_f", {})
    verdict = apply_contact_policy(
        pd.Series(["L1"]), result.tables, dt.date(2025, 1, 15), packs, default, by_region
    )
    assert not verdict.windows["lawful_today"].any()


# --- promises ------------------------------------------------------------------------------------

PROMISES = [
    interaction(
        "I1",
        "2025-01-02T15:00:00+00:00",
        outcome="promise_to_pay",
        promised_amount=100.0,
        promised_date="2025-01-05",
    ),
    interaction(
        "I2",
        "2025-01-06T15:00:00+00:00",
        outcome="promise_to_pay",
        promised_amount=50.0,
        promised_date="2025-01-08",
    ),
    interaction(
        "I3",
        "2025-01-13T15:00:00+00:00",
        outcome="promise_to_pay",
        promised_amount=80.0,
        promised_date="2025-01-16",
    ),
]


@pytest.mark.parametrize(
    ("grace_days", "statuses"), [(3, ["broken", "kept", "open"]), (8, ["broken", "open", "open"])]
)
def test_promise_ledger_tells_open_kept_and_broken_apart(grace_days, statuses):
    tables = typed_tables(interactions=PROMISES, payments=[payment("P1", "2025-01-09T10:00:00+00:00", 60.0)])
    ledger = promise_ledger(
        tables["interactions"],
        tables["payments"],
        as_of_instant(dt.date(2025, 1, 15)),
        tolerance=0.01,
        grace_days=grace_days,
    )
    assert list(ledger["status"]) == statuses
    # I1 was due by the end of 2025-01-08 with 3 days' grace: the payment on the 9th came late.
    assert ledger["paid_since_promise"].iloc[1] == pytest.approx(60.0)
