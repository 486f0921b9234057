"""The night's cut-off on the lender's clock: what a run for work day D reads, holds and counts.

A run for D reads every event before 00:00 of D in the lender's time zone and none after; later
events it was given are held for a later night (not quarantined). Features, labels, the promise
ledger, validation and the contact rules all cut at that one instant.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_contracts.cutoff import Cutoff, business_dates, local_midnight
from data_contracts.validation import validate_tables
from features.build import build_features
from features.labels import amount_paid_in_window
from features.promises import promise_ledger
from scoring.policy.engine import apply_contact_policy
from scoring.policy.packs import resolve_packs
from tests.factories import borrower, interaction, loan, payment, raw_tables, schedule

WORK_DAY = dt.date(2025, 3, 12)  # a Wednesday, after the US switch to daylight time (Mar 9)
# Lender clocks from the last time zone to see midnight to the first (UTC-10 to UTC+13:45).
LENDER_ZONES = [
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/Chicago",
    "America/New_York",
    "UTC",
    "Europe/London",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Pacific/Chatham",
]
BOOK = dict(
    borrowers=[borrower("B1", timezone="America/Chicago")],
    loans=[loan("L1", "B1")],
    installments=schedule("L1", first_due="2024-12-01"),
    payments=[payment("P0", "2025-01-05T15:00:00", 100.0)],
    interactions=[interaction("I0", "2025-02-20T15:00:00", outcome="no_answer")],
)


def _iso(instant: pd.Timestamp) -> str:
    return instant.tz_convert("UTC").isoformat()


def _tables(cutoff: Cutoff, **extra) -> tuple[dict[str, pd.DataFrame], object]:
    rows = {name: list(BOOK.get(name, [])) + list(extra.get(name, [])) for name in BOOK}
    result = validate_tables(raw_tables(**rows), as_of=cutoff)
    assert result.is_valid, result.failures.to_string()
    return result.tables, result


def test_the_cutoff_is_midnight_of_the_work_day_on_the_lenders_clock():
    assert Cutoff(WORK_DAY, "America/New_York").instant == pd.Timestamp("2025-03-12T04:00Z")
    assert Cutoff(WORK_DAY, "Pacific/Chatham").instant == pd.Timestamp("2025-03-11T10:15Z")
    assert Cutoff(WORK_DAY).instant == pd.Timestamp("2025-03-12T00:00Z")
    # Where a DST change skips midnight the day starts at its first instant (Havana: 00:00 -> 01:00).
    assert Cutoff(dt.date(2025, 3, 9), "America/Havana").instant == pd.Timestamp("2025-03-09T05:00Z")
    with pytest.raises(ValueError, match="IANA"):
        Cutoff(WORK_DAY, "Mars/Olympus")


def test_business_dates_follow_the_lenders_clock():
    evening_in_chicago = pd.Series(pd.to_datetime(["2025-03-12T00:02Z", "2025-03-12T04:00Z"]))
    days = business_dates(evening_in_chicago, "America/New_York")
    assert list(days.dt.date) == [dt.date(2025, 3, 11), dt.date(2025, 3, 12)]


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(LENDER_ZONES),
    seconds=st.integers(min_value=1, max_value=3 * 86_400),
    outcome=st.sampled_from(["no_answer", "right_party_contact", "promise_to_pay"]),
)
def test_an_event_counts_before_the_cutoff_and_is_held_from_it_on(zone, seconds, outcome):
    cutoff = Cutoff(WORK_DAY, zone)

    def call_at(instant: pd.Timestamp) -> dict:
        promise = outcome == "promise_to_pay"
        return interaction(
            "IX",
            _iso(instant),
            outcome=outcome,
            promised_amount=100.0 if promise else None,
            promised_date="2025-03-20" if promise else None,
        )

    def pay_at(instant: pd.Timestamp) -> dict:
        return payment("PX", _iso(instant), 100.0)

    baseline = build_features(_tables(cutoff)[0], cutoff)
    before = cutoff.instant - pd.Timedelta(seconds=seconds)
    seen_tables, seen = _tables(cutoff, interactions=[call_at(before)], payments=[pay_at(before)])
    seen_features = build_features(seen_tables, cutoff)
    assert seen.counts().set_index("table").loc[["payments", "interactions"], "held"].sum() == 0
    if seconds <= 7 * 86_400:
        assert (
            seen_features["n_outbound_contacts_7d"].iloc[0] == baseline["n_outbound_contacts_7d"].iloc[0] + 1
        )
    if not seen_features.empty:
        assert seen_features["amount_paid_90d"].iloc[0] == baseline["amount_paid_90d"].iloc[0] + 100.0

    at_or_after = cutoff.instant + pd.Timedelta(seconds=seconds - 1)
    later_tables, later = _tables(cutoff, interactions=[call_at(at_or_after)], payments=[pay_at(at_or_after)])
    pd.testing.assert_frame_equal(build_features(later_tables, cutoff), baseline)
    counts = later.counts().set_index("table")
    assert counts.loc["interactions", "held"] == 1 and counts.loc["payments", "held"] == 1
    assert (
        counts["rows_in"] == counts[["accepted", "quarantined", "held", "duplicates_collapsed"]].sum(axis=1)
    ).all()
    assert later.failures.empty, "a later night's event is not a bad row"
    assert set(later.held_summary()) == {"payments", "interactions"}


def test_held_rows_do_not_count_against_the_bad_row_ceiling_and_a_bad_late_row_is_quarantined():
    cutoff = Cutoff(WORK_DAY, "America/New_York")
    late = _iso(cutoff.instant + pd.Timedelta(hours=3))
    raw = raw_tables(
        **{
            **BOOK,
            "payments": BOOK["payments"]
            + [payment(f"PL{i}", late, 10.0) for i in range(5)]
            + [payment("PB", late, -1.0)],
        }
    )
    result = validate_tables(raw, as_of=cutoff)
    counts = result.counts().set_index("table").loc["payments"]
    assert (counts["accepted"], counts["held"], counts["quarantined"]) == (1, 5, 1)
    assert result.bad_share()["payments"] == pytest.approx(1 / 7)
    assert list(result.with_held_rows()["payments"]["payment_id"]) == [
        "P0",
        "PL0",
        "PL1",
        "PL2",
        "PL3",
        "PL4",
    ]


def test_a_flag_dated_after_the_work_day_is_held_not_quarantined():
    cutoff = Cutoff(WORK_DAY, "America/New_York")
    flags = [
        {"loan_id": "L1", "flag": "legal_hold", "starts_on": str(WORK_DAY), "ends_on": None},
        {"loan_id": "L1", "flag": "dispute", "starts_on": "2025-03-13", "ends_on": None},
    ]
    result = validate_tables(raw_tables(**BOOK, account_flags=flags), as_of=cutoff)
    assert result.is_valid
    assert list(result.tables["account_flags"]["flag"]) == ["legal_hold"]
    assert list(result.held_rows["account_flags"]["flag"]) == ["dispute"]


def test_the_label_window_starts_exactly_where_the_features_stop():
    zone = "America/Chicago"
    cutoff = Cutoff(WORK_DAY, zone)
    features = pd.DataFrame({"loan_id": ["L1"], "as_of": [pd.Timestamp(WORK_DAY)]})
    payments = pd.DataFrame(
        {
            "loan_id": ["L1", "L1", "L1", "L1"],
            "paid_at": pd.to_datetime(
                [
                    cutoff.instant - pd.Timedelta(seconds=1),  # the evening before: a feature
                    cutoff.instant,  # the first instant of the work day: the label's
                    local_midnight(pd.Timestamp(WORK_DAY) + pd.Timedelta(days=30), zone)
                    - pd.Timedelta(seconds=1),
                    local_midnight(pd.Timestamp(WORK_DAY) + pd.Timedelta(days=30), zone),  # after the window
                ]
            ).astype("datetime64[ns, UTC]"),
            "amount": [1.0, 10.0, 100.0, 1000.0],
        }
    )
    paid = amount_paid_in_window(features, payments, window_days=30, timezone=zone)
    assert paid.iloc[0] == 110.0


def test_a_promise_falls_due_at_the_cutoff_after_its_date_plus_grace():
    zone = "America/New_York"
    promise = pd.DataFrame(
        {
            "loan_id": ["L1"],
            "occurred_at": pd.to_datetime(["2025-03-01T15:00Z"]).astype("datetime64[ns, UTC]"),
            "outcome": ["promise_to_pay"],
            "promised_date": pd.to_datetime(["2025-03-05"]),
            "promised_amount": [50.0],
        }
    )
    no_payments = pd.DataFrame(
        {
            "loan_id": pd.Series(dtype="str"),
            "paid_at": pd.to_datetime([], utc=True).astype("datetime64[ns, UTC]"),
            "amount": [],
        }
    )
    deadline = Cutoff(dt.date(2025, 3, 9), zone).instant  # 5 March + 3 days' grace, then the night's cut-off
    just_before = deadline - pd.Timedelta(seconds=1)
    open_before = promise_ledger(
        promise, no_payments, just_before, tolerance=0.01, grace_days=3, timezone=zone
    )
    broken_at = promise_ledger(promise, no_payments, deadline, tolerance=0.01, grace_days=3, timezone=zone)
    assert open_before["deadline"].iloc[0] == deadline
    assert open_before["status"].iloc[0] == "open"
    assert broken_at["status"].iloc[0] == "broken"


def test_an_evening_conversation_in_chicago_blocks_the_next_days_calls():
    # 19:02 in Chicago on 11 March is 00:02 UTC on 12 March: under a UTC cut-off the run for the
    # 12th never saw it and queued a call inside Reg F's 7 days after a conversation.
    evening_call = interaction("IE", "2025-03-12T00:02:00+00:00", outcome="refused")
    packs, default, by_region = resolve_packs("us_reg_f", {})

    def call_verdict(cutoff: Cutoff) -> pd.Series:
        tables, result = _tables(cutoff, interactions=[evening_call])
        features = build_features(tables, cutoff)
        verdict = apply_contact_policy(features["loan_id"], tables, cutoff, packs, default, by_region)
        windows = verdict.windows.set_index("channel")
        return windows.loc["call"], result

    lender_clock, seen = call_verdict(Cutoff(WORK_DAY, "America/New_York"))
    assert not lender_clock["lawful_today"]
    assert (
        "call_conversation_7_days" in lender_clock["blocked_by"]
        or "conversation" in lender_clock["blocked_by"]
    )
    assert seen.counts().set_index("table").loc["interactions", "held"] == 0

    utc_clock, held = call_verdict(Cutoff(WORK_DAY, "UTC"))
    assert utc_clock["lawful_today"], "the old UTC cut-off could not see the evening's conversation"
    assert held.counts().set_index("table").loc["interactions", "held"] == 1
