"""Queue building: rule-pack suppressions, lawful channel choice, reasons, ranking and teams."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data_contracts.outputs import QUEUE_COLUMNS, Queue, Suppressed
from features.build import build_features
from features.catalog import FEATURE_NAMES
from scoring.dispositions import PartitionError, check_partition
from scoring.night import ContactSettings, decide_contacts
from scoring.queue import finalize_decisions, rank_queue, value_per_cost
from scoring.reasons import top_reasons
from tests.factories import borrower, flag, loan, schedule, typed_tables

AS_OF = dt.date(2025, 1, 15)
COSTS = {"call": 2.0, "sms": 0.05, "email": 0.02, "whatsapp": 0.05, "field_visit": 25.0, "letter": 1.0}
PEOPLE = [
    borrower("B1"),
    borrower("B2", has_phone=False, consent_sms=False, consent_whatsapp=False),
    borrower("B3", do_not_contact=True),
    borrower("B4", has_phone=False, has_email=False, consent_sms=False, consent_email=False),
]
LOANS = [loan(f"L{i}", f"B{i}") for i in range(1, 5)]
SCHEDULES = sum((schedule(f"L{i}") for i in range(1, 5)), [])
PREFERENCE = ["call", "sms", "whatsapp", "email", "field_visit", "letter"]


def _tables(flags=()):
    return typed_tables(borrowers=PEOPLE, loans=LOANS, installments=SCHEDULES, account_flags=list(flags))


def _decide(tables, pack="us_reg_f", preference=PREFERENCE):
    features = build_features(tables, AS_OF)
    settings = ContactSettings(default_pack=pack, tolerance=0.01, preference=tuple(preference))
    decided = decide_contacts(features, tables, AS_OF, settings)
    return features, decided.verdict, decided.decisions


def test_suppression_reasons_come_from_the_pack_flags_and_do_not_contact():
    tables = _tables(
        [
            flag("L1", "cease_and_desist", "2025-01-01"),
            flag("L2", "dispute", "2024-12-01", "2025-01-14"),  # closed the day before: no longer holds
            flag("L4", "bankruptcy", "2025-01-20"),  # starts after as_of: not in force yet
        ]
    )
    _, _, decisions = _decide(tables)
    held = decisions.suppressed
    assert sorted(zip(held["loan_id"], held["reason"], strict=True)) == [
        ("L1", "cease_and_desist"),
        ("L3", "do_not_contact"),
    ]
    assert held.loc[held["loan_id"] == "L1", "source"].iloc[0].startswith("FDCPA 805(c)")
    assert sorted(decisions.candidates["loan_id"]) == ["L2", "L4"]
    assert dict(
        zip(decisions.dispositions["loan_id"], decisions.dispositions["disposition"], strict=True)
    ) == {
        "L1": "suppressed",
        "L2": "queued",
        "L3": "suppressed",
        "L4": "queued",
    }


def test_a_dispute_closing_today_holds_the_loan_until_tomorrow():
    _, verdict, decisions = _decide(_tables([flag("L1", "dispute", "2024-12-01", "2025-01-15")]))
    row = decisions.suppressed.set_index("loan_id").loc["L1"]
    assert row["reason"] == "open_dispute"
    assert row["next_lawful_from_local"] == "2025-01-16T00:00:00-05:00"  # a letter, the next day
    call = verdict.windows.set_index(["loan_id", "channel"]).loc[("L1", "call")]
    assert call["window_from_local"] == "2025-01-16T08:00:00-05:00"


def test_channel_is_the_first_lawful_one_in_preference_order():
    tables = _tables([flag("L4", "do_not_visit", "2024-09-01")])
    preference = ["field_visit", "call", "sms", "email", "letter"]
    _, _, decisions = _decide(tables, preference=preference)
    channels = dict(
        zip(decisions.candidates["loan_id"], decisions.candidates["recommended_channel"], strict=True)
    )
    assert channels["L1"] == "field_visit"
    assert channels["L2"] == "field_visit"
    assert channels["L4"] == "letter"  # no phone, no e-mail, no visits


@pytest.mark.parametrize(
    ("overrides", "lawful"),
    [
        ({}, {"call", "sms", "email", "field_visit", "letter"}),
        ({"has_phone": False, "consent_sms": True}, {"email", "field_visit", "letter"}),
        (
            {"consent_email": False, "consent_whatsapp": True},
            {"call", "sms", "whatsapp", "field_visit", "letter"},
        ),
    ],
)
def test_means_and_consent_decide_which_channels_are_lawful(overrides, lawful):
    tables = typed_tables(borrowers=[borrower("B1", **overrides)])
    _, verdict, _ = _decide(tables)
    windows = verdict.windows
    assert set(windows.loc[windows["lawful_today"], "channel"]) == lawful


def test_reasons_rank_by_absolute_contribution_and_state_their_reference():
    features = pd.DataFrame([{name: 1.0 for name in FEATURE_NAMES}] * 3)
    features["n_promises_kept_180d"] = [3.0, 0.0, 0.0]
    features["n_promises_broken_180d"] = 0.0
    features["days_past_due"] = [45.0, 30.0, 30.0]
    contributions = pd.DataFrame(np.zeros((3, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    contributions.loc[0, "n_promises_kept_180d"] = 0.8
    contributions.loc[0, "days_past_due"] = -1.2
    contributions.loc[0, "amount_paid_30d"] = 0.1
    reasons = top_reasons(features, contributions, n=3).iloc[0]
    assert reasons["reason_1"] == "Days past due: 45, more than the typical 30: lowers the chance to pay"
    assert reasons["reason_2"] == (
        "Kept 3 of the last 3 promises to pay, more than the typical 0: raises the chance to pay"
    )
    # Paid the typical amount: a declared feature on neither side of its reference claims no effect.
    assert reasons["reason_3"].endswith("the same as the typical 1.00")


def test_reasons_handle_missing_values_and_flags():
    features = pd.DataFrame([{name: 1.0 for name in FEATURE_NAMES}] * 3)
    features["days_since_last_payment"] = [np.nan, 20.0, 20.0]
    features["has_open_promise"] = [False, True, True]
    contributions = pd.DataFrame(np.zeros((3, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    contributions.loc[0, "days_since_last_payment"] = -0.5
    contributions.loc[0, "has_open_promise"] = -0.4
    reasons = top_reasons(features, contributions, n=2).iloc[0]
    assert reasons["reason_1"] == (
        "No payment on record (typical tonight: last payment 20 days ago): lowers the chance to pay"
    )
    assert (
        reasons["reason_2"]
        == "No open promise to pay, unlike most accounts tonight: lowers the chance to pay"
    )


def _ranked(tables, p_pay_by_loan, **team_settings):
    features, verdict, decisions = _decide(tables)
    to_work = decisions.candidates
    p_pay = to_work["loan_id"].map(p_pay_by_loan).astype("float64")
    reasons = pd.DataFrame({f"reason_{k}": "r" for k in (1, 2, 3)}, index=to_work.index)
    queue = rank_queue(
        to_work,
        p_pay,
        reasons,
        verdict.accounts,
        run_id="run-1",
        model_version="m/1",
        policy_versions=verdict.packs,
        team_split=team_settings.pop("team_split", ["channel", "region"]),
        **team_settings,
    )
    return features, verdict, decisions, queue


def test_queue_ranks_by_expected_recovery_with_stable_ties():
    people = [borrower(f"B{i}") for i in range(1, 5)]
    tables = typed_tables(borrowers=people, loans=LOANS, installments=SCHEDULES)
    _, _, _, queue = _ranked(tables, {"L1": 0.5, "L2": 0.9, "L3": 0.5, "L4": 0.1})
    assert list(queue.columns) == QUEUE_COLUMNS
    assert list(queue["loan_id"]) == ["L2", "L1", "L3", "L4"]
    assert list(queue["rank"]) == [1, 2, 3, 4]
    assert queue["expected_recovery"].iloc[0] == pytest.approx(0.9 * 400.0)
    assert queue["contact_from_local"].iloc[0] == "2025-01-15T08:00:00-05:00"
    assert queue["contact_until_local"].iloc[0] == "2025-01-15T21:00:00-05:00"
    assert (queue["policy"] == "us_reg_f").all()
    Queue.validate(queue)


def test_team_capacity_cuts_each_team_at_its_own_limit():
    people = [borrower(f"B{i}", region="west" if i > 2 else "east") for i in range(1, 5)]
    tables = typed_tables(borrowers=people, loans=LOANS, installments=SCHEDULES)
    _, _, _, queue = _ranked(
        tables,
        {"L1": 0.5, "L2": 0.9, "L3": 0.5, "L4": 0.1},
        default_capacity=1,
        capacity_by_team={"call-west": 2},
    )
    by_loan = queue.set_index("loan_id")
    assert by_loan.loc[["L2", "L1"], "team"].tolist() == ["call-east", "call-east"]
    assert by_loan.loc[["L2", "L1"], "team_rank"].tolist() == [1, 2]
    assert by_loan.loc[["L2", "L1"], "within_capacity"].tolist() == [True, False]
    assert by_loan.loc[["L3", "L4"], "within_capacity"].tolist() == [True, True]


def test_a_night_with_nothing_held_back_meets_the_contract():
    tables = typed_tables()  # one overdue loan, no flags, borrower reachable
    features, verdict, decisions = _decide(tables)
    lists = finalize_decisions(decisions, verdict.windows, "run-1")
    assert lists["suppressed"].empty
    Suppressed.validate(lists["suppressed"])


def test_a_night_with_nothing_to_work_gives_an_empty_valid_queue():
    tables = _tables([flag(f"L{i}", "bankruptcy", "2025-01-01") for i in range(1, 5)])
    features, verdict, decisions = _decide(tables)
    to_work = decisions.candidates
    reasons = top_reasons(to_work, pd.DataFrame(columns=list(FEATURE_NAMES), dtype="float64"))
    queue = rank_queue(
        to_work,
        pd.Series(dtype="float64"),
        reasons,
        verdict.accounts,
        run_id="run-1",
        model_version="m/1",
        policy_versions=verdict.packs,
        team_split=["channel"],
    )
    assert queue.empty
    Queue.validate(queue)
    check_partition(
        features, decisions.dispositions, queue, finalize_decisions(decisions, verdict.windows, "r")
    )


def test_the_partition_check_refuses_a_loan_in_two_lists():
    people = [borrower(f"B{i}") for i in range(1, 5)]
    tables = typed_tables(borrowers=people, loans=LOANS, installments=SCHEDULES)
    features, verdict, decisions, queue = _ranked(tables, {"L1": 0.5, "L2": 0.9, "L3": 0.5, "L4": 0.1})
    lists = finalize_decisions(decisions, verdict.windows, "run-1")
    check_partition(features, lists["dispositions"], queue, lists)
    doubled = pd.concat([lists["suppressed"], lists["suppressed"].head(0)], ignore_index=True)
    doubled = pd.concat([doubled, lists["dispositions"].head(1)[["loan_id"]]], ignore_index=True)
    with pytest.raises(PartitionError, match="suppressed"):
        check_partition(features, lists["dispositions"], queue, {**lists, "suppressed": doubled})
    with pytest.raises(PartitionError, match="undecided"):
        check_partition(features, lists["dispositions"].iloc[1:], queue.iloc[1:], lists)


def test_a_night_with_no_overdue_loan_meets_every_contract():
    from data_contracts.outputs import ContactWindows, Dispositions, Forbearance, PromiseFollowUp

    tables = typed_tables(installments=schedule("L1", first_due="2025-06-01"))  # nothing due yet
    features, verdict, decisions = _decide(tables)
    assert features.empty
    queue = rank_queue(
        decisions.candidates,
        pd.Series(dtype="float64"),
        top_reasons(decisions.candidates, pd.DataFrame(columns=list(FEATURE_NAMES), dtype="float64")),
        verdict.accounts,
        run_id="run-1",
        model_version="m/1",
        policy_versions=verdict.packs,
        team_split=["channel", "region"],
    )
    Queue.validate(queue)
    lists = finalize_decisions(decisions, verdict.windows, "run-1")
    contracts = {
        "suppressed": Suppressed,
        "dispositions": Dispositions,
        "promise_follow_up": PromiseFollowUp,
        "forbearance": Forbearance,
        "contact_windows": ContactWindows,
    }
    for name, contract in contracts.items():
        contract.validate(lists[name])
        assert lists[name].empty


def _allocated(tables, chosen: dict[str, tuple[str, float]]):
    """The night's candidates as the allocation leaves them: loan -> (channel, incremental value)."""
    _, verdict, decisions = _decide(tables)
    candidates = decisions.candidates.copy()
    channel = candidates["loan_id"].map({loan: c for loan, (c, _) in chosen.items()})
    candidates["recommended_channel"] = channel
    candidates["incremental_value"] = candidates["loan_id"].map({loan: v for loan, (_, v) in chosen.items()})
    candidates["channel_cost"] = channel.map(COSTS).astype("float64")
    candidates["p_contact"] = 0.5
    candidates["p_self_cure"] = 0.2
    candidates["p_reach"] = 0.6
    candidates["exploration"] = False
    candidates["within_capacity"] = True
    candidates["resource"] = channel + "-all"
    return verdict, candidates


@pytest.mark.parametrize(
    ("rank_by", "order"),
    [("value", ["L3", "L1", "L4", "L2"]), ("value_per_cost", ["L2", "L1", "L4", "L3"])],
)
def test_the_overall_rank_spends_one_budget_on_value_per_cost_and_teams_keep_value_order(rank_by, order):
    people = [borrower(f"B{i}") for i in range(1, 5)]
    tables = typed_tables(borrowers=people, loans=LOANS, installments=SCHEDULES)
    chosen = {"L1": ("call", 30.0), "L2": ("sms", 5.0), "L3": ("field_visit", 100.0), "L4": ("call", 10.0)}
    verdict, candidates = _allocated(tables, chosen)
    reasons = pd.DataFrame({f"reason_{k}": "r" for k in (1, 2, 3)}, index=candidates.index)
    queue = rank_queue(
        candidates,
        pd.Series(0.5, index=candidates.index),
        reasons,
        verdict.accounts,
        run_id="run-1",
        model_version="m/1",
        policy_versions=verdict.packs,
        team_split=["channel"],
        rank_by=rank_by,
    )
    assert queue["loan_id"].tolist() == order
    # 100 from one visit (cost 25) buys 4 per unit of cost; 5 from a text (0.05) buys 100.
    by_loan = queue.set_index("loan_id")
    expected_priority = {"value": 100.0, "value_per_cost": 4.0}[rank_by]
    assert by_loan.loc["L3", "priority_score"] == pytest.approx(expected_priority)
    assert by_loan.loc["L3", "incremental_value"] == pytest.approx(100.0)  # money either way
    calls = queue[queue["recommended_channel"] == "call"]
    assert calls["loan_id"].tolist() == ["L1", "L4"]
    assert calls["team_rank"].tolist() == [1, 2]


def test_a_free_channel_ranks_as_if_it_cost_a_cent_and_keeps_its_value_order():
    priority = value_per_cost(pd.Series([3.0, 1.0, -2.0]), pd.Series([0.0, 0.0, 0.0]))
    assert priority.tolist() == pytest.approx([300.0, 100.0, -200.0])
    assert np.isfinite(priority).all()
