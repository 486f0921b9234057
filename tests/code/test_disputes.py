"""Open disputes as a workflow: each dispute in force with its pack's deadline to answer it, the
days left, whether the answer is overdue and the loans it holds (scoring/disputes.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pandera.errors
import pytest
from pydantic import ValidationError

from data_contracts.outputs import DISPUTES_COLUMNS, Disputes
from features.build import build_features
from scoring.disputes import (
    DISPUTE_LIST_COLUMNS,
    DisputeSummary,
    LateResponse,
    dispute_rule,
    open_disputes,
    stamp_disputes,
    summarize_disputes,
)
from scoring.night import ContactSettings, decide_contacts
from scoring.policy.engine import PolicyResult, apply_contact_policy
from scoring.policy.packs import FlagHold, RulePack, load_pack
from tests.factories import borrower, flag, loan, schedule, typed_tables

AS_OF = dt.date(2026, 3, 10)
REGIONS = {"london": "uk_fca", "mumbai": "india_rbi"}
CUTOFF = pd.Timestamp("2026-03-10T05:00Z")


def _overdue(loan_id: str) -> list[dict]:
    """Six monthly instalments from October 2025, none paid: overdue on AS_OF."""
    return schedule(loan_id, first_due="2025-10-01")


def _current(loan_id: str) -> list[dict]:
    """A loan whose first instalment falls due after AS_OF: not overdue, not judged tonight."""
    return schedule(loan_id, first_due="2026-04-01")


def _book(people, loans, installments, flags) -> dict[str, pd.DataFrame]:
    return typed_tables(borrowers=people, loans=loans, installments=installments, account_flags=flags)


def _shipped_night(flags, as_of: dt.date = AS_OF) -> tuple[PolicyResult, pd.DataFrame, dict[str, RulePack]]:
    """The night's own decision chain on a book of one overdue loan per borrower: B1, B3, B4 and
    B5 under us_reg_f, B2 in London (uk_fca), B6 in Mumbai (india_rbi)."""
    people = [
        borrower("B1"),
        borrower("B2", region="london", timezone="Europe/London"),
        borrower("B3"),
        borrower("B4"),
        borrower("B5"),
        borrower("B6", region="mumbai", timezone="Asia/Kolkata"),
    ]
    loans = [loan(f"L{k}", f"B{k}") for k in range(1, 7)]
    tables = _book(people, loans, sum((_overdue(f"L{k}") for k in range(1, 7)), []), flags)
    features = build_features(tables, as_of)
    settings = ContactSettings(default_pack="us_reg_f", by_region=REGIONS)
    decided = decide_contacts(features, tables, as_of, settings)
    return decided.verdict, features, decided.packs


SHIPPED_FLAGS = [
    flag("L1", "dispute", "2026-01-31"),  # us_reg_f, 30 days: due 2026-03-02, 8 days late
    flag("L2", "dispute", "2026-02-01"),  # uk_fca, 56 days: due 2026-03-29
    flag("L3", "dispute", "2026-02-12", "2026-04-30"),  # us_reg_f: due 2026-03-14, closes later
    flag("L4", "dispute", "2026-01-05", "2026-03-09"),  # closed yesterday: no longer open
    flag("L5", "dispute", "2026-03-10"),  # received this morning: in force today
    flag("L6", "dispute", "2026-02-20"),  # india_rbi, 30 days: due 2026-03-22
    flag("L5", "legal_hold", "2026-01-01"),  # another hold: not a dispute
]


def test_each_open_dispute_gets_its_packs_deadline_and_days_left():
    policy, features, packs = _shipped_night(SHIPPED_FLAGS)
    disputes = open_disputes(policy, features, packs, AS_OF).set_index("loan_id")

    assert sorted(disputes.index) == ["L1", "L2", "L3", "L5", "L6"]
    expected = {
        # loan: (pack, response_days, respond_by, days_left, overdue)
        "L1": ("us_reg_f", 30, "2026-03-02", -8, True),
        "L2": ("uk_fca", 56, "2026-03-29", 19, False),
        "L3": ("us_reg_f", 30, "2026-03-14", 4, False),
        "L5": ("us_reg_f", 30, "2026-04-09", 30, False),
        "L6": ("india_rbi", 30, "2026-03-22", 12, False),
    }
    for loan_id, (pack, days, respond_by, left, late) in expected.items():
        row = disputes.loc[loan_id]
        assert (row["policy"], row["response_days"], row["days_left"], row["overdue_response"]) == (
            pack,
            days,
            left,
            late,
        ), loan_id
        assert row["respond_by"] == pd.Timestamp(respond_by), loan_id
        assert row["policy_version"] == packs[pack].version
        assert row["rule_id"] == "open_dispute"
    assert disputes.loc["L1", "dispute_id"] == "D-L1-20260131"
    assert disputes.loc["L1", "received_on"] == pd.Timestamp("2026-01-31")
    assert disputes.loc["L1", "days_open"] == 38 and disputes.loc["L5", "days_open"] == 0
    assert "FCRA 623(a)(8)(E)" in disputes.loc["L1", "deadline_source"]
    assert "DISP 1.6.2R" in disputes.loc["L2", "deadline_source"]
    assert "Ombudsman" in disputes.loc["L6", "deadline_source"]


def test_the_list_is_most_urgent_first_and_obeys_the_published_contract():
    policy, features, packs = _shipped_night(SHIPPED_FLAGS)
    disputes = open_disputes(policy, features, packs, AS_OF)

    # Overdue first, then the fewest days left.
    assert list(disputes["loan_id"]) == ["L1", "L3", "L6", "L2", "L5"]
    assert list(disputes.columns) == DISPUTE_LIST_COLUMNS
    published = stamp_disputes(disputes, "run-7", CUTOFF)
    assert list(published.columns) == DISPUTES_COLUMNS
    Disputes.validate(published)
    assert set(published["run_id"]) == {"run-7"} and set(published["data_cutoff_utc"]) == {CUTOFF}
    assert set(published["as_of"]) == {pd.Timestamp(AS_OF)}
    one_each = published.set_index("loan_id")
    assert (one_each["loans_held"] == one_each.index).all() and (one_each["n_loans_held"] == 1).all()
    owed = features.set_index("loan_id")["amount_overdue"]
    assert one_each.loc["L2", "amount_held"] == pytest.approx(owed["L2"])


def test_a_dispute_is_listed_from_its_first_day_and_never_before():
    flags = [flag("L1", "dispute", "2026-03-12")]
    before, features, packs = _shipped_night(flags, as_of=AS_OF)
    assert open_disputes(before, features, packs, AS_OF).empty

    on_the_day, features_then, _ = _shipped_night(flags, as_of=dt.date(2026, 3, 12))
    listed = open_disputes(on_the_day, features_then, packs, dt.date(2026, 3, 12))
    assert list(listed["loan_id"]) == ["L1"] and listed["days_left"].iloc[0] == 30


def test_flags_handed_in_beyond_the_work_day_are_not_read():
    """Point in time within the function itself: given flag rows the engine would not have kept
    (received after the work day, or closed before it), the list still leaves them out."""
    policy, features, packs = _shipped_night([flag("L1", "dispute", "2026-02-01")])
    later = pd.DataFrame(
        {
            "loan_id": ["L2", "L3"],
            "flag": ["dispute", "dispute"],
            "starts_on": pd.to_datetime(["2026-03-11", "2026-01-01"]),
            "ends_on": pd.to_datetime([None, "2026-03-09"]),
            "borrower_id": ["B2", "B3"],
        }
    )
    widened = dataclasses.replace(policy, flags=pd.concat([policy.flags, later], ignore_index=True))
    assert list(open_disputes(widened, features, packs, AS_OF)["loan_id"]) == ["L1"]


# --- scope and packs without a deadline ----------------------------------------------------------


def _variant(name: str, **dispute_rule_fields) -> RulePack:
    """us_reg_f renamed, its open_dispute rule changed (e.g. scope, no deadline)."""
    shipped = load_pack("us_reg_f")
    rules = [
        rule.model_copy(update=dispute_rule_fields) if rule.id == "open_dispute" else rule
        for rule in shipped.rules
    ]
    return RulePack.model_validate({**dict(shipped), "name": name, "rules": rules})


def _custom_night(flags) -> tuple[PolicyResult, pd.DataFrame, dict[str, RulePack]]:
    """B1 (loans L1, L2 overdue, L3 current) under a pack whose dispute holds the whole person;
    B2 (L4) under a pack with no deadline; B3 (L5 overdue, L6 current) under us_reg_f."""
    packs = {
        "us_reg_f": load_pack("us_reg_f"),
        "by_person": _variant("by_person", scope="borrower"),
        "no_deadline": _variant("no_deadline", response_days=None, response_source=""),
    }
    people = [
        borrower("B1", region="person"),
        borrower("B2", region="undated"),
        borrower("B3"),
    ]
    loans = [loan("L1", "B1"), loan("L2", "B1"), loan("L3", "B1"), loan("L4", "B2")]
    loans += [loan("L5", "B3"), loan("L6", "B3")]
    installments = _overdue("L1") + _overdue("L2") + _current("L3") + _overdue("L4")
    installments += _overdue("L5") + _current("L6")
    tables = _book(people, loans, installments, flags)
    features = build_features(tables, AS_OF)
    assert sorted(features["loan_id"]) == ["L1", "L2", "L4", "L5"]
    by_region = {"person": "by_person", "undated": "no_deadline"}
    policy = apply_contact_policy(features["loan_id"], tables, AS_OF, packs, "us_reg_f", by_region)
    return policy, features, packs


def test_a_borrower_scoped_dispute_holds_and_lists_all_the_borrowers_overdue_loans():
    flags = [flag("L3", "dispute", "2026-02-25"), flag("L6", "dispute", "2026-02-25")]
    policy, features, packs = _custom_night(flags)
    disputes = open_disputes(policy, features, packs, AS_OF)

    # The dispute sits on B1's current loan L3 and holds both overdue loans; under us_reg_f
    # (scope loan) B3's dispute on a current loan holds nothing in collection and is not listed.
    assert list(disputes["loan_id"]) == ["L3"]
    row = disputes.iloc[0]
    assert (row["borrower_id"], row["loans_held"], row["n_loans_held"]) == ("B1", "L1,L2", 2)
    owed = features.set_index("loan_id")["amount_overdue"]
    assert row["amount_held"] == pytest.approx(owed["L1"] + owed["L2"])
    assert (row["policy"], row["respond_by"]) == ("by_person", pd.Timestamp("2026-03-27"))
    held = policy.blocks[policy.blocks["rule_id"] == "open_dispute"]
    assert set(held["loan_id"]) == {"L1", "L2"}, "the list names exactly the loans the engine holds"


def test_a_rule_without_a_deadline_lists_the_dispute_with_none_and_says_so():
    flags = [flag("L4", "dispute", "2025-11-01"), flag("L1", "dispute", "2026-03-01")]
    policy, features, packs = _custom_night(flags)
    disputes = open_disputes(policy, features, packs, AS_OF)

    assert list(disputes["loan_id"]) == ["L1", "L4"], "no deadline sorts after every deadline"
    undated = disputes.set_index("loan_id").loc["L4"]
    assert pd.isna(undated["response_days"]) and pd.isna(undated["respond_by"])
    assert pd.isna(undated["days_left"]) and not undated["overdue_response"]
    assert undated["deadline_source"] == "no_deadline@2026.12.1 states no deadline to answer a dispute"
    assert undated["days_open"] == 129
    Disputes.validate(stamp_disputes(disputes, "run-1"))


def test_a_pack_missing_from_the_loaded_ones_is_refused():
    policy, features, packs = _custom_night([flag("L1", "dispute", "2026-03-01")])
    with pytest.raises(ValueError, match=r"no rule pack loaded for \['by_person'\]"):
        open_disputes(policy, features, {k: v for k, v in packs.items() if k != "by_person"}, AS_OF)


def test_a_night_without_disputes_publishes_an_empty_valid_list():
    policy, features, packs = _shipped_night([flag("L1", "legal_hold", "2026-01-01")])
    disputes = open_disputes(policy, features, packs, AS_OF)
    assert disputes.empty and list(disputes.columns) == DISPUTE_LIST_COLUMNS
    Disputes.validate(stamp_disputes(disputes, "run-0", CUTOFF))
    assert summarize_disputes(disputes).sentence() == "no open disputes"


# --- the packs and the contract -------------------------------------------------------------------


@pytest.mark.parametrize(("pack", "days"), [("us_reg_f", 30), ("uk_fca", 56), ("india_rbi", 30)])
def test_the_shipped_packs_state_their_deadline_and_its_source(pack, days):
    rule = dispute_rule(load_pack(pack))
    assert rule is not None and (rule.rule_id, rule.response_days, rule.borrower_scope) == (
        "open_dispute",
        days,
        False,
    )
    assert rule.deadline_source.strip()


def test_the_us_pack_says_the_fdcpa_sets_no_deadline_of_its_own():
    source = dispute_rule(load_pack("us_reg_f")).deadline_source
    assert "sets no deadline" in source and "FDCPA 809(b)" in source and "FCRA 623(a)(8)(E)" in source


def _dispute_rule(**fields) -> dict:
    return {
        "id": "open_dispute",
        "kind": "flag_hold",
        "flag": "dispute",
        "reason": "open_dispute",
        "description": "Disputed.",
        **fields,
    }


@pytest.mark.parametrize("days", [0, -3])
def test_a_deadline_of_no_days_is_refused(days):
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        FlagHold.model_validate(_dispute_rule(response_days=days, response_source="house policy"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"response_days": 30}, "needs the response_source"),
        (
            {"flag": "bankruptcy", "response_days": 30, "response_source": "x"},
            "only a rule on flag 'dispute'",
        ),
        ({"flag": "legal_hold", "response_source": "x"}, "only a rule on flag 'dispute'"),
    ],
)
def test_a_deadline_without_its_source_or_on_another_flag_is_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        FlagHold.model_validate(_dispute_rule(**fields))


def test_a_pack_without_a_rule_on_the_dispute_flag_has_no_dispute_rule():
    shipped = load_pack("us_reg_f")
    rules = [rule for rule in shipped.rules if rule.id != "open_dispute"]
    assert dispute_rule(RulePack.model_validate({**dict(shipped), "rules": rules})) is None


def test_the_contract_refuses_an_overdue_flag_that_contradicts_the_days_left():
    policy, features, packs = _shipped_night(SHIPPED_FLAGS)
    published = stamp_disputes(open_disputes(policy, features, packs, AS_OF), "run-7", CUTOFF)
    broken = published.assign(overdue_response=~published["overdue_response"])
    with pytest.raises(pandera.errors.SchemaError, match="overdue_response"):
        Disputes.validate(broken)
    half_deadline = published.assign(
        respond_by=pd.Series(pd.NaT, index=published.index, dtype="datetime64[ns]")
    )
    with pytest.raises(pandera.errors.SchemaError, match="null together"):
        Disputes.validate(half_deadline)


# --- the summary ----------------------------------------------------------------------------------


def test_the_summary_counts_overdue_and_soon_due_responses_and_names_the_latest():
    policy, features, packs = _shipped_night(SHIPPED_FLAGS)
    summary = summarize_disputes(open_disputes(policy, features, packs, AS_OF))

    assert summary == DisputeSummary(
        open=5,
        overdue=1,
        due_within_7_days=1,  # L3, 4 days left
        no_deadline=0,
        loans_held=5,
        oldest_received_on=dt.date(2026, 1, 31),
        most_late=LateResponse("D-L1-20260131", "L1", dt.date(2026, 1, 31), 8),
    )
    assert summary.sentence() == (
        "5 open disputes, 1 response overdue (D-L1-20260131 on loan L1, received 2026-01-31, "
        "8 days late), 1 due within 7 days"
    )


def test_the_summary_names_the_most_late_of_several_and_the_disputes_without_a_deadline():
    flags = [
        flag("L1", "dispute", "2026-01-20"),  # by_person pack, 30 days: 19 days late
        flag("L5", "dispute", "2026-02-01"),  # us_reg_f, 30 days: 7 days late
        flag("L4", "dispute", "2026-03-01"),  # no deadline
    ]
    policy, features, packs = _custom_night(flags)
    disputes = open_disputes(policy, features, packs, AS_OF)
    summary = summarize_disputes(disputes)
    assert (summary.overdue, summary.no_deadline, summary.loans_held) == (2, 1, 4)
    assert summary.sentence() == (
        "3 open disputes, 2 responses overdue (most late: D-L1-20260120 on loan L1, received "
        "2026-01-20, 19 days late), 0 due within 7 days, 1 without a deadline in their rule pack"
    )
