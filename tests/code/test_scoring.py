"""Queue building: suppression, channel choice, reasons and ranking."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data_contracts.outputs import QUEUE_COLUMNS, Queue
from features.build import build_features
from features.catalog import FEATURE_NAMES
from scoring.channels import first_reachable_channel, reachable_channels
from scoring.queue import rank_queue, recommended_channels, suppressions, workable
from scoring.reasons import top_reasons
from tests.factories import borrower, flag, loan, schedule, typed_tables

AS_OF = dt.date(2025, 1, 15)
PEOPLE = [
    borrower("B1"),
    borrower("B2", has_phone=False, consent_sms=False, consent_whatsapp=False),
    borrower("B3", do_not_contact=True),
    borrower("B4", has_phone=False, has_email=False, consent_sms=False, consent_email=False),
]
LOANS = [loan(f"L{i}", f"B{i}") for i in range(1, 5)]
SCHEDULES = sum((schedule(f"L{i}") for i in range(1, 5)), [])


def _tables(flags=()):
    return typed_tables(borrowers=PEOPLE, loans=LOANS, installments=SCHEDULES, account_flags=list(flags))


def test_suppression_reasons_come_from_active_flags_and_do_not_contact():
    tables = _tables(
        [
            flag("L1", "cease_and_desist", "2025-01-01"),
            flag("L2", "dispute", "2024-12-01", "2025-01-10"),  # closed before as_of: no longer holds
            flag("L4", "bankruptcy", "2025-01-20"),  # starts after as_of: not known yet
        ]
    )
    features = build_features(tables, AS_OF)
    held = suppressions(
        features,
        tables["borrowers"],
        tables["account_flags"],
        AS_OF,
        {"cease_and_desist": "cease_and_desist", "dispute": "open_dispute", "bankruptcy": "bankruptcy"},
    )
    assert sorted(zip(held["loan_id"], held["reason"], strict=True)) == [
        ("L1", "cease_and_desist"),
        ("L3", "do_not_contact"),
    ]
    assert sorted(workable(features, held)["loan_id"]) == ["L2", "L4"]


def test_channel_follows_preference_and_reachability():
    tables = _tables([flag("L4", "do_not_visit", "2024-09-01")])
    features = build_features(tables, AS_OF)
    preference = ["field_visit", "call", "sms", "email", "letter"]
    channels = dict(
        zip(
            features["loan_id"],
            recommended_channels(features, tables["borrowers"], tables["account_flags"], AS_OF, preference),
            strict=True,
        )
    )
    assert channels["L1"] == "field_visit"
    assert channels["L4"] == "letter"  # no phone, no e-mail, no visits


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "call"),
        ({"has_phone": False, "consent_sms": False}, "email"),
        ({"has_phone": False, "has_email": False, "consent_sms": False, "consent_email": False}, "letter"),
        ({"consent_email": False, "has_phone": False}, "letter"),
    ],
)
def test_first_reachable_channel(overrides, expected):
    people = pd.DataFrame([borrower(**overrides)])
    reach = reachable_channels(people, pd.Series([True]))  # do_not_visit
    assert (
        first_reachable_channel(reach, ["call", "sms", "email", "field_visit", "letter"]).iloc[0] == expected
    )


def test_sms_needs_consent_and_a_phone():
    people = pd.DataFrame([borrower(consent_sms=True, has_phone=False)])
    assert not reachable_channels(people, pd.Series([False]))["sms"].iloc[0]


def test_reasons_rank_by_absolute_contribution_and_state_direction():
    features = pd.DataFrame([{name: 1.0 for name in FEATURE_NAMES}])
    features["n_promises_kept_180d"] = 3.0
    features["n_promises_broken_180d"] = 0.0
    features["days_past_due"] = 45.0
    contributions = pd.DataFrame(np.zeros((1, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    contributions.loc[0, "n_promises_kept_180d"] = 0.8
    contributions.loc[0, "days_past_due"] = -1.2
    contributions.loc[0, "amount_paid_30d"] = 0.1
    reasons = top_reasons(features, contributions, n=3).iloc[0]
    assert reasons["reason_1"] == "Days past due: 45 (lowers likelihood)"
    assert reasons["reason_2"] == "Kept 3 of the last 3 promises to pay (raises likelihood)"
    assert reasons["reason_3"].endswith("(raises likelihood)")


def test_reasons_handle_missing_values_and_flags():
    features = pd.DataFrame([{name: 1.0 for name in FEATURE_NAMES}])
    features["days_since_last_payment"] = np.nan
    features["has_open_promise"] = False
    contributions = pd.DataFrame(np.zeros((1, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    contributions.loc[0, "days_since_last_payment"] = -0.5
    contributions.loc[0, "has_open_promise"] = -0.4
    reasons = top_reasons(features, contributions, n=2).iloc[0]
    assert reasons["reason_1"] == "No payment on record (lowers likelihood)"
    assert reasons["reason_2"] == "No open promise to pay (lowers likelihood)"


def test_queue_ranks_by_expected_recovery_with_stable_ties():
    tables = _tables()
    features = build_features(tables, AS_OF)
    p_pay = pd.Series([0.5, 0.9, 0.5, 0.1], index=features.index)
    reasons = pd.DataFrame({f"reason_{k}": "r" for k in (1, 2, 3)}, index=features.index)
    channels = pd.Series("call", index=features.index)
    queue = rank_queue(features, p_pay, reasons, channels, run_id="run-1", model_version="m/1")
    assert list(queue.columns) == QUEUE_COLUMNS
    assert list(queue["loan_id"]) == ["L2", "L1", "L3", "L4"]
    assert list(queue["rank"]) == [1, 2, 3, 4]
    assert queue["expected_recovery"].iloc[0] == pytest.approx(0.9 * 400.0)
    Queue.validate(queue)


def test_a_night_with_nothing_held_back_meets_the_contract():
    from data_contracts.outputs import Suppressed
    from scoring.queue import finalize_suppressed

    tables = typed_tables()  # one overdue loan, no flags, borrower reachable
    features = build_features(tables, AS_OF)
    held = suppressions(
        features, tables["borrowers"], tables["account_flags"], AS_OF, {"bankruptcy": "bankruptcy"}
    )
    Suppressed.validate(finalize_suppressed(held, "run-1"))
    assert held.empty


def test_a_night_with_nothing_to_work_gives_an_empty_valid_queue():
    features = build_features(_tables(), AS_OF).iloc[:0]
    reasons = top_reasons(features, pd.DataFrame(columns=list(FEATURE_NAMES), dtype="float64"))
    queue = rank_queue(
        features,
        pd.Series(dtype="float64"),
        reasons,
        pd.Series(dtype="str"),
        run_id="run-1",
        model_version="m/1",
    )
    assert queue.empty
    Queue.validate(queue)
