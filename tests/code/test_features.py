"""The feature function: point-in-time correctness and the meaning of each family of features."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.build import KEY_COLUMNS, build_features
from features.catalog import FEATURE_NAMES
from tests.factories import borrower, flag, interaction, loan, payment, schedule, typed_tables

AS_OF = dt.date(2025, 1, 15)
HISTORY = dict(
    borrowers=[borrower("B1"), borrower("B2", monthly_income=None, has_email=False, consent_email=False)],
    loans=[
        loan("L1", "B1"),
        loan(
            "L2",
            "B2",
            product="microloan",
            installment_frequency="weekly",
            installment_amount=50.0,
            n_installments=20,
        ),
    ],
    installments=schedule("L1") + schedule("L2", n=6, amount=50.0),
    payments=[payment("P1", "2024-10-01T10:00:00", 100.0), payment("P2", "2024-12-28T10:00:00", 50.0, "L2")],
    interactions=[
        interaction(
            "I1",
            "2024-12-01T15:00:00",
            outcome="promise_to_pay",
            promised_amount=100.0,
            promised_date="2024-12-05",
        ),
        interaction("I2", "2025-01-10T15:00:00", outcome="right_party_contact"),
        interaction(
            "I3", "2025-01-12T15:00:00", loan_id="L2", channel="sms", outcome="delivered", agent_id=None
        ),
        interaction(
            "I4", "2025-01-13T15:00:00", loan_id="L2", direction="inbound", outcome="right_party_contact"
        ),
    ],
    account_flags=[flag("L2", "hardship_plan", "2025-01-01")],
)


def _features(**overrides):
    return build_features(typed_tables(**{**HISTORY, **overrides}), AS_OF).set_index("loan_id")


def test_one_row_per_overdue_loan_with_catalog_columns_in_order():
    features = build_features(typed_tables(**HISTORY), AS_OF)
    assert list(features.columns) == KEY_COLUMNS + list(FEATURE_NAMES)
    assert sorted(features["loan_id"]) == ["L1", "L2"]
    assert (features["as_of"] == pd.Timestamp(AS_OF)).all()


def test_loans_not_overdue_are_left_out():
    paid_up = HISTORY["payments"] + [payment("P9", "2025-01-14T10:00:00", 300.0)]
    assert list(_features(payments=paid_up).index) == ["L2"]


def test_contact_history_features():
    f = _features()
    assert f.loc["L1", "n_outbound_contacts_7d"] == 1
    assert f.loc["L1", "n_right_party_contacts_30d"] == 1
    assert f.loc["L1", "days_since_last_right_party_contact"] == 4
    assert f.loc["L2", "n_inbound_contacts_30d"] == 1
    assert f.loc["L2", "n_outbound_contacts_30d"] == 1


def test_a_promise_not_paid_by_its_date_plus_grace_is_broken():
    f = _features()
    assert f.loc["L1", "n_promises_broken_180d"] == 1
    assert f.loc["L1", "n_promises_kept_180d"] == 0


def test_a_promise_paid_in_time_is_kept():
    paid = HISTORY["payments"] + [payment("P3", "2024-12-04T10:00:00", 100.0)]
    f = _features(payments=paid)
    assert f.loc["L1", "n_promises_kept_180d"] == 1
    assert f.loc["L1", "n_promises_broken_180d"] == 0


def test_a_promise_whose_date_has_not_passed_is_open_not_broken():
    open_promise = HISTORY["interactions"] + [
        interaction(
            "I5",
            "2025-01-14T15:00:00",
            outcome="promise_to_pay",
            promised_amount=100.0,
            promised_date="2025-01-20",
        )
    ]
    f = _features(interactions=open_promise)
    assert bool(f.loc["L1", "has_open_promise"]) is True
    assert f.loc["L1", "n_promises_broken_180d"] == 1  # only the December one


def test_borrower_and_flag_features():
    f = _features()
    assert pd.isna(f.loc["L2", "monthly_income"]) and pd.isna(f.loc["L2", "installment_to_income"])
    assert f.loc["L1", "installment_to_income"] == pytest.approx(100.0 / 3000.0)
    assert bool(f.loc["L2", "hardship_plan_active"]) and not bool(f.loc["L1", "hardship_plan_active"])
    assert bool(f.loc["L1", "has_email"]) and not bool(f.loc["L2", "has_email"])


def test_protected_attributes_change_no_feature():
    base = _features()
    other = _features(
        borrowers=[
            borrower("B1", gender="male", birth_year=1950),
            borrower(
                "B2", gender=None, birth_year=None, monthly_income=None, has_email=False, consent_email=False
            ),
        ]
    )
    pd.testing.assert_frame_equal(base, other)


# --- point in time: nothing on or after as_of may change a feature ---------------------------

future_instants = st.datetimes(
    min_value=dt.datetime(2025, 1, 15, 0, 0), max_value=dt.datetime(2025, 6, 30, 23, 59)
).map(lambda t: t.isoformat())
future_days = st.dates(min_value=AS_OF, max_value=dt.date(2025, 6, 30)).map(str)
loan_ids = st.sampled_from(["L1", "L2"])

future_payment = st.builds(
    lambda i, t, a, loan_id: payment(f"FP{i}", t, a, loan_id),
    st.integers(0, 10**6),
    future_instants,
    st.floats(0.01, 1000),
    loan_ids,
)
future_interaction = st.builds(
    lambda i, t, loan_id, outcome, direction: interaction(
        f"FI{i}",
        t,
        loan_id=loan_id,
        outcome=outcome,
        direction=direction,
        promised_amount=50.0 if outcome == "promise_to_pay" else None,
        promised_date="2025-02-01" if outcome == "promise_to_pay" else None,
    ),
    st.integers(0, 10**6),
    future_instants,
    loan_ids,
    st.sampled_from(["no_answer", "right_party_contact", "promise_to_pay", "dispute_raised"]),
    st.sampled_from(["outbound", "inbound"]),
)
future_flag = st.builds(
    lambda loan_id, name, day: flag(loan_id, name, day),
    loan_ids,
    st.sampled_from(["hardship_plan", "dispute", "cease_and_desist"]),
    future_days,
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payments=st.lists(future_payment, max_size=5, unique_by=lambda p: p["payment_id"]),
    interactions=st.lists(future_interaction, max_size=5, unique_by=lambda i: i["interaction_id"]),
    flags=st.lists(future_flag, max_size=3, unique_by=lambda f: (f["loan_id"], f["flag"], f["starts_on"])),
)
def test_events_on_or_after_as_of_change_no_feature(payments, interactions, flags):
    baseline = _features()
    with_future = _features(
        payments=HISTORY["payments"] + payments,
        interactions=HISTORY["interactions"] + interactions,
        account_flags=HISTORY["account_flags"] + flags,
    )
    pd.testing.assert_frame_equal(baseline, with_future)
