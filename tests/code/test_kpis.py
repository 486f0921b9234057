"""The month's KPIs on hand-made tables: money reconciles with the payments table, cures and roll
rates follow the days-past-due buckets, promises and contacts are counted where they belong."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from monitoring.kpis import DPD_BUCKETS, NOT_CONTACTED, KpiSettings, compute_kpis, dpd_bucket, report_months


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _book() -> dict[str, pd.DataFrame]:
    """Three monthly loans, each 100 due on the 1st of Jan, Feb, Mar and Apr 2026.

    L1 pays January, misses February, then pays 200 on 15 Mar: 1-30 at 1 Mar -> cured.
    L2 pays only January: 1-30 at 1 Mar (Feb unpaid) -> 31-60 at 1 Apr.
    L3 pays everything due plus the rest in March: current -> paid off (current).
    """
    loans = pd.DataFrame(
        {
            "loan_id": ["L1", "L2", "L3"],
            "borrower_id": ["B1", "B2", "B3"],
            "branch_id": ["X", "X", "Y"],
            "disbursed_on": pd.to_datetime(["2025-12-01"] * 3),
        }
    )
    borrowers = pd.DataFrame({"borrower_id": ["B1", "B2", "B3"], "region": ["west", "west", "east"]})
    installments = pd.DataFrame(
        {
            "loan_id": [loan for loan in ("L1", "L2", "L3") for _ in range(4)],
            "installment_no": [1, 2, 3, 4] * 3,
            "due_date": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"] * 3),
            "amount_due": [100.0] * 12,
        }
    )
    payments = pd.DataFrame(
        {
            "payment_id": [f"P{i}" for i in range(7)],
            "loan_id": ["L1", "L1", "L2", "L3", "L3", "L3", "L1"],
            "paid_at": [
                _utc("2025-12-30 10:00"),
                _utc("2026-03-15 10:00"),  # in the window: Feb and Mar
                _utc("2025-12-30 10:00"),
                _utc("2025-12-30 10:00"),
                _utc("2026-01-30 10:00"),
                _utc("2026-03-20 10:00"),  # in the window: pays off L3 (200)
                _utc("2026-04-02 10:00"),  # after the window
            ],
            "amount": [100.0, 200.0, 100.0, 100.0, 100.0, 200.0, 50.0],
            "method": ["card"] * 7,
        }
    )
    interactions = pd.DataFrame(
        {
            "interaction_id": ["I1", "I2", "I3", "I4", "I5"],
            "loan_id": ["L1", "L1", "L2", "L2", "L3"],
            "occurred_at": [
                _utc("2026-03-05 15:00"),
                _utc("2026-03-10 15:00"),
                _utc("2026-03-06 15:00"),
                _utc("2026-03-07 15:00"),
                _utc("2026-02-20 15:00"),  # before the window
            ],
            "channel": ["sms", "call", "call", "call", "email"],
            "direction": ["outbound"] * 5,
            "outcome": ["delivered", "promise_to_pay", "no_answer", "refused", "delivered"],
            "promised_amount": [None, 200.0, None, None, None],
            "promised_date": pd.to_datetime([None, "2026-03-14", None, None, None]),
            "agent_id": [None, "A1", "A2", "A2", None],
        }
    )
    flags = pd.DataFrame(
        {
            "loan_id": ["L2"],
            "flag": ["dispute"],
            "starts_on": pd.to_datetime(["2026-03-08"]),
            "ends_on": pd.to_datetime([None]),
        }
    )
    # The contract's types: instants in nanoseconds, UTC.
    payments["paid_at"] = payments["paid_at"].astype("datetime64[ns, UTC]")
    interactions["occurred_at"] = interactions["occurred_at"].astype("datetime64[ns, UTC]")
    return {
        "loans": loans,
        "borrowers": borrowers,
        "installments": installments,
        "payments": payments,
        "interactions": interactions,
        "account_flags": flags,
    }


@pytest.fixture(scope="module")
def march():
    return compute_kpis(_book(), dt.date(2026, 3, 1), dt.date(2026, 3, 31), KpiSettings())


def test_amount_recovered_reconciles_with_the_payments_table(march):
    payments = _book()["payments"]
    in_window = payments[
        (payments["paid_at"] >= march.window_start) & (payments["paid_at"] < march.window_end)
    ]
    assert march.totals["amount_recovered"] == in_window["amount"].sum() == 400.0
    assert march.monthly["amount_recovered"].sum() == in_window["amount"].sum()
    for dimension in ("team", "channel"):
        groups = march.by_group[march.by_group["dimension"] == dimension]
        assert groups["amount_recovered"].sum() == pytest.approx(400.0)


def test_cures_resolutions_and_roll_rates_on_three_loans(march):
    month = march.monthly.iloc[0]
    # At 1 Mar: L1 and L2 are 1-30 days past due (Feb's installment unpaid), L3 current.
    assert month["loans_overdue_at_start"] == 2
    assert month["amount_overdue_at_start"] == 200.0
    assert month["cured"] == 1  # L1
    assert month["resolved"] == 0  # L3 paid off, but it was never overdue
    # Paid in March by the loans overdue at its start: L1's 200 against 200 overdue.
    assert month["recovered_from_overdue"] == 200.0
    assert month["recovery_rate"] == 1.0
    roll = march.roll_rates.set_index(["from_bucket", "to_bucket"])["loans"]
    assert len(roll) == len(DPD_BUCKETS) ** 2
    assert roll[("1-30", "current")] == 1  # L1
    assert roll[("1-30", "31-60")] == 1  # L2
    assert roll[("current", "current")] == 1  # L3
    assert roll.sum() == 3
    share = march.roll_rates.set_index(["from_bucket", "to_bucket"])["share"]
    assert share[("1-30", "current")] == 0.5


def test_promises_contacts_and_complaints(march):
    month = march.monthly.iloc[0]
    assert month["contacts"] == 4  # the February e-mail is outside the window
    assert month["right_party_contacts"] == 2  # the promise and the refusal
    assert month["right_party_contact_rate"] == 0.5
    assert month["contacts_per_payment"] == 2.0
    assert month["promises_made"] == 1 and month["promises_kept"] == 1
    assert month["refusals"] == 1 and month["complaints"] == 1
    assert month["dispute_flags_opened"] == 1


def test_groups_by_team_channel_and_agent_with_last_touch(march):
    groups = march.by_group.set_index(["dimension", "group"])
    # L1's payment on 15 Mar follows its call of 10 Mar (agent A1, team call-west).
    assert groups.loc[("team", "call-west"), "amount_recovered"] == 200.0
    assert groups.loc[("agent_id", "A1"), "promises_kept"] == 1
    assert groups.loc[("agent_id", "A2"), "contacts"] == 2
    # L3's payment came 28 days after an e-mail of February: still its last touch (30 days).
    assert groups.loc[("channel", "email"), "amount_recovered"] == 200.0
    assert groups.loc[("team", "call-west"), "cured"] == 1
    assert NOT_CONTACTED not in set(groups.xs("agent_id").index)


def test_months_follow_the_lenders_clock_and_clip_to_the_window():
    months = report_months(dt.date(2026, 3, 15), dt.date(2026, 5, 10), "America/New_York")
    assert [m.label for m in months] == ["2026-03", "2026-04", "2026-05"]
    assert months[0].first_day == dt.date(2026, 3, 15) and months[-1].last_day == dt.date(2026, 5, 10)
    assert months[1].start == _utc("2026-04-01 04:00")  # EDT
    assert months[0].end == months[1].start
    with pytest.raises(ValueError):
        report_months(dt.date(2026, 3, 2), dt.date(2026, 3, 1))


def test_buckets():
    assert dpd_bucket(pd.Series([0, 1, 30, 31, 60, 61, 90, 91])).tolist() == [
        "current",
        "1-30",
        "1-30",
        "31-60",
        "31-60",
        "61-90",
        "61-90",
        "90+",
    ]
