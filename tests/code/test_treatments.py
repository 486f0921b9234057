"""Treatments beyond the next contact (scoring/treatments.py), acceptance (models/acceptance.py)
and the arrangements history read point in time (features/arrangements.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.arrangements import arrangements_in_force, known_arrangements, offer_rows
from models.acceptance import AcceptanceModels, OfferAcceptance, fit_acceptance
from scoring.treatments import (
    SettlementBound,
    TreatmentSettings,
    agency_rate,
    care_treatments,
    choose_treatments,
    deferment_eligible,
    plan_terms,
    settlement_terms,
    trace_signals,
)
from tests.factories import borrower, interaction, loan, schedule, typed_tables

AS_OF = dt.date(2025, 6, 1)
SETTINGS = TreatmentSettings(channel_cost={"call": 2.0, "sms": 0.05})


def _rules() -> AcceptanceModels:
    """Acceptance from the stated rules: an empty history teaches nothing."""
    return fit_acceptance(offer_rows({}, AS_OF), plan_prior=(0.3, 0.6), settlement_prior=(0.2, 0.8))


def _accounts(**columns) -> pd.DataFrame:
    base = {
        "loan_id": ["L1"],
        "product": ["personal_loan"],
        "days_past_due": [40],
        "amount_overdue": [600.0],
        "outstanding_balance": [2000.0],
        "monthly_income": [3000.0],
        "installment_amount": [100.0],
        "installment_frequency": ["monthly"],
        "on_time_share": [0.5],
        "n_installments_overdue": [3.0],
        "n_promises_broken_180d": [0.0],
        "loan_age_days": [400.0],
        "hardship_plan_active": [False],
        "has_phone": [True],
        "has_email": [True],
        "as_of": [pd.Timestamp(AS_OF)],
    }
    n = max(len(v) for v in columns.values()) if columns else 1
    frame = {key: (value * n if len(value) == 1 else value) for key, value in base.items()}
    frame.update(columns)
    if "loan_id" not in columns:
        frame["loan_id"] = [f"L{i + 1}" for i in range(n)]
    return pd.DataFrame(frame)


def _options(accounts: pd.DataFrame, p_contact: float = 0.2, p_self_cure: float = 0.1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "loan_id": accounts["loan_id"],
            "channel": "call",
            "p_contact": p_contact,
            "p_self_cure": p_self_cure,
            "p_reach": 0.5,
            "amount_at_stake": accounts["amount_overdue"],
        }
    )


def _no_arrangements() -> pd.DataFrame:
    return arrangements_in_force({}, AS_OF)


# --- terms ----------------------------------------------------------------------------------------


def test_a_plan_instalment_stays_within_the_affordability_rule_and_the_terms():
    accounts = _accounts(amount_overdue=[600.0, 6000.0, 50.0], monthly_income=[3000.0, 3000.0, np.nan])
    terms = plan_terms(accounts.set_index("loan_id"), SETTINGS)
    # 10% of 3,000 is 300 a month: 600 clears in 2 instalments of 300.
    assert terms.loc["L1", ["instalment", "n_instalments"]].tolist() == [300.0, 2]
    assert bool(terms.loc["L1", "affordable"])
    # 6,000 needs 20 months at 300: beyond the 12-month maximum, so no plan is affordable.
    assert terms.loc["L2", "n_instalments"] == 12 and not bool(terms.loc["L2", "affordable"])
    # Without income the loan's own monthly instalment (100) is the limit; the minimum term is 2.
    assert terms.loc["L3", ["instalment", "n_instalments"]].tolist() == [25.0, 2]
    assert "monthly instalment" in terms.loc["L3", "affordability"]
    assert (
        terms["instalment"] * terms["n_instalments"] >= accounts.set_index("loan_id")["amount_overdue"]
    ).all()


def test_a_settlement_is_offered_only_within_the_bounds_of_its_product_and_days_past_due():
    settings = dataclasses.replace(
        SETTINGS,
        settlement_bounds=(
            SettlementBound(120, 0.10, 0.30),
            SettlementBound(200, 0.05, 0.15, product="card"),
        ),
    )
    accounts = _accounts(days_past_due=[90, 150, 250], product=["personal_loan", "personal_loan", "card"])
    accounts = accounts.set_index("loan_id")
    terms = settlement_terms(accounts, pd.Series(0.0, index=accounts.index), _rules(), settings)
    assert np.isnan(terms.loc["L1", "discount"])  # 90 days past due: no settlement
    # A flat stated rule does not reward a larger discount: the smallest one the bounds allow.
    assert terms.loc["L2", "discount"] == pytest.approx(0.10)
    assert terms.loc["L3", "discount"] == pytest.approx(0.05)  # the card band, not the generic one
    assert terms.loc["L2", "amount_to_accept"] == pytest.approx(2000.0 * 0.9)


def test_a_settlement_that_brings_less_than_continuing_to_collect_is_not_worth_offering():
    accounts = _accounts(days_past_due=[200]).set_index("loan_id")
    terms = settlement_terms(accounts, pd.Series(5000.0, index=accounts.index), _rules(), SETTINGS)
    assert terms.loc["L1", "gain"] < 0


def test_a_learnt_acceptance_curve_that_rewards_discounts_moves_the_discount_up():
    rng = np.random.default_rng(3)
    n = 4000
    discount = rng.uniform(0.1, 0.5, n)
    accepted = rng.uniform(size=n) < 0.05 + 1.6 * (discount - 0.1)
    offers = pd.DataFrame(
        {
            "kind": "settlement",
            "discount": discount,
            "days_past_due": 200.0,
            "on_time_share": 0.4,
            "accepted": accepted,
            "fulfilled": accepted,
            "outcome_known": True,
        }
    )
    learnt = fit_acceptance(offers)
    assert learnt.settlement.basis_ == "learned" and learnt.plan.basis_ == "rule"
    accounts = _accounts(days_past_due=[200]).set_index("loan_id")
    terms = settlement_terms(accounts, pd.Series(0.0, index=accounts.index), learnt, SETTINGS)
    assert terms.loc["L1", "discount"] > 0.3
    assert "learned from 4,000 past settlement offers" in learnt.settlement.describe()


def test_acceptance_is_learnt_only_from_enough_offers_and_falls_back_to_the_rule():
    offers = pd.DataFrame(
        {"kind": "plan", "accepted": [True, False] * 20, "fulfilled": False, "outcome_known": False}
    )
    model = OfferAcceptance("plan", prior_accept=0.25, min_offers=100).fit(offers)
    assert model.basis_ == "rule"
    assert model.predict_proba(offers).tolist() == [0.25] * 40
    assert "the configured rule (25% accept)" in model.describe()


def test_learnt_acceptance_does_not_extrapolate_beyond_the_history():
    rng = np.random.default_rng(5)
    discount = rng.uniform(0.1, 0.3, 2000)
    offers = pd.DataFrame(
        {
            "kind": "settlement",
            "discount": discount,
            "days_past_due": 200.0,
            "on_time_share": 0.5,
            "accepted": rng.uniform(size=2000) < discount,
            "fulfilled": False,
            "outcome_known": False,
        }
    )
    model = OfferAcceptance("settlement").fit(offers)
    edge, beyond = model.predict_proba(offers.head(2).assign(discount=[0.3, 0.9]))
    assert beyond == pytest.approx(edge, abs=0.01)


def test_a_deferment_is_for_a_temporary_shock_not_for_long_arrears():
    accounts = _accounts(
        on_time_share=[0.95, 0.95, 0.4, 0.4],
        n_installments_overdue=[1.0, 1.0, 3.0, 3.0],
        days_past_due=[20, 90, 20, 20],
        hardship_plan_active=[False, False, False, True],
    )
    eligible = deferment_eligible(accounts, SETTINGS)
    assert eligible.tolist() == [True, False, False, True]


def test_the_agency_rate_steps_with_days_past_due():
    rate = agency_rate(pd.Series([100, 120, 200, 400]), SETTINGS)
    assert rate.tolist() == [0.0, 0.25, 0.18, 0.10]


# --- the night's choice ---------------------------------------------------------------------------


def test_treatments_follow_their_precedence_and_never_refer_early_accounts():
    accounts = _accounts(
        days_past_due=[40, 400, 400, 40, 40],
        amount_overdue=[600.0, 900.0, 900.0, 600.0, 600.0],
        outstanding_balance=[2000.0, 20000.0, 20000.0, 2000.0, 2000.0],
    )
    options = _options(accounts)
    # L2: late and hopeless in-house (tiny response): the agency's net recovery beats it.
    options.loc[1, ["p_contact", "p_self_cure"]] = [0.002, 0.001]
    in_force = pd.DataFrame(
        {
            "loan_id": ["L4"],
            "kind": ["plan"],
            "offered_on": [pd.Timestamp("2025-05-01")],
            "instalment": [100.0],
            "n_instalments": [6.0],
            "discount": [0.0],
            "ends_on": [pd.Timestamp("2025-10-28")],
        }
    )
    trace = pd.Series({"L5": "no phone and no e-mail on file"})
    # No settlement allowed here: with one, settling at 10% off would beat the referral.
    settings = dataclasses.replace(SETTINGS, settlement_bounds=(), hold_running_arrangements=True)
    plan = choose_treatments(accounts, options, in_force, trace, _rules(), settings)
    frame = plan.frame
    assert frame.loc["L2", "treatment"] == "referral"
    assert frame.loc["L2", "referral_net_recovery"] == pytest.approx(0.10 * 20000 * 0.7 - 25.0)
    assert frame.loc["L3", "treatment"] != "referral"  # same account, but in-house collection works
    assert (
        frame.loc["L4", "treatment"] == "hold"
        and "running until 2025-10-28" in frame.loc["L4", "treatment_reason"]
    )
    assert frame.loc["L5", "treatment"] == "trace"
    assert frame.loc["L1", "treatment"] in {"payment_plan", "contact"}
    assert set(plan.out_of_contact()) == {"L2", "L4", "L5"}
    # By default (and for a lender who contacts borrowers on a plan) the running plan holds nothing.
    chasing = dataclasses.replace(settings, hold_running_arrangements=False)
    again = choose_treatments(accounts, options, in_force, trace, _rules(), chasing)
    assert again.frame.loc["L4", "treatment"] != "hold" and "L4" not in again.out_of_contact()
    offered = frame[frame["treatment"].isin(["payment_plan", "settlement", "deferment"])]
    assert offered["offer_gain"].gt(0).all()
    assert frame.loc[~frame.index.isin(offered.index), "offer_instalment"].isna().all()


def test_a_settlement_within_bounds_is_tried_before_a_referral_when_it_is_worth_more():
    accounts = _accounts(days_past_due=[400], amount_overdue=[900.0], outstanding_balance=[20000.0])
    options = _options(accounts, p_contact=0.002, p_self_cure=0.001)
    plan = choose_treatments(
        accounts, options, _no_arrangements(), pd.Series(dtype="str"), _rules(), SETTINGS
    )
    row = plan.frame.loc["L1"]
    # 20% accept x 80% pay x 18,000 beats the agency's 10% x 20,000 x 70% - 25 even after p_reach.
    assert row["treatment"] == "settlement" and row["offer_discount"] == pytest.approx(0.10)
    assert "Offer to settle the balance of 20,000.00 for 18,000.00" in row["treatment_reason"]


def test_the_care_team_offers_an_affordable_plan_or_a_deferment_never_a_settlement():
    forbearance = pd.DataFrame({"loan_id": ["L1", "L2", "L3"], "contact_held": [False, False, True]})
    features = _accounts(
        days_past_due=[300, 300, 300], amount_overdue=[300.0, 300.0, 300.0], outstanding_balance=[9000.0] * 3
    )
    care = care_treatments(forbearance, features, _rules(), SETTINGS)
    assert set(care.index) == {"L1", "L2"}  # a held contact gets nothing
    assert care["treatment"].isin(["payment_plan", "deferment", "hold"]).all()
    assert (care["team"] == "care").all()
    plans = care[care["treatment"] == "payment_plan"]
    assert (plans["offer_instalment"] <= 0.05 * 3000.0 + 0.005).all()


def test_tracing_needs_consecutive_failed_attempts_or_no_contact_point():
    tables = typed_tables(
        borrowers=[borrower("B1"), borrower("B2"), borrower("B3", has_phone=False, has_email=False)],
        loans=[loan("L1", "B1"), loan("L2", "B2"), loan("L3", "B3")],
        installments=schedule("L1") + schedule("L2") + schedule("L3"),
        interactions=[
            interaction(f"I{i}", f"2025-05-{10 + i:02d}T15:00:00Z", loan_id="L1", outcome="wrong_party")
            for i in range(3)
        ]
        + [
            interaction("J1", "2025-05-10T15:00:00Z", loan_id="L2", outcome="wrong_party"),
            interaction("J2", "2025-05-11T15:00:00Z", loan_id="L2", outcome="right_party_contact"),
            interaction("J3", "2025-05-12T15:00:00Z", loan_id="L2", outcome="undelivered"),
            # After the cut-off: invisible tonight.
            interaction("J4", "2025-06-01T15:00:00Z", loan_id="L2", outcome="wrong_party"),
        ],
    )
    features = _accounts(
        loan_id=["L1", "L2", "L3"], has_phone=[True, True, False], has_email=[True, True, False]
    )
    reasons = trace_signals(tables["interactions"], features, AS_OF, SETTINGS)
    assert set(reasons.index) == {"L1", "L3"}
    assert "wrong party" in reasons["L1"] and "no phone" in reasons["L3"]


# --- the arrangements history, point in time ------------------------------------------------------


def _with_arrangements(rows: list[dict]) -> dict[str, pd.DataFrame]:
    tables = typed_tables(
        borrowers=[borrower("B1")],
        loans=[loan("L1", "B1")],
        installments=schedule("L1", first_due="2024-10-01"),
    )
    frame = pd.DataFrame(rows)
    for column in ["offered_on", "broken_on"]:
        frame[column] = pd.to_datetime(frame[column])
    return {**tables, "arrangements": frame}


def test_offers_on_or_after_the_night_and_breaks_not_yet_known_are_ignored():
    tables = _with_arrangements(
        [
            dict(loan_id="L1", kind="plan", offered_on="2025-01-10", accepted=True, instalment=100.0,
                 n_instalments=6, discount=None, broken_on="2025-07-01"),
            dict(loan_id="L1", kind="settlement", offered_on="2025-06-01", accepted=True, instalment=400.0,
                 n_instalments=1, discount=0.2, broken_on=None),
        ]
    )  # fmt: skip
    known = known_arrangements(tables, AS_OF)
    assert len(known) == 1 and known["broken_on"].isna().all()
    running = arrangements_in_force(tables, AS_OF)
    assert running["loan_id"].tolist() == ["L1"] and running["kind"].tolist() == ["plan"]
    rows = offer_rows(tables, AS_OF)
    # The account's state on the offer's day, not tonight's: 4 instalments due before 2025-01-10.
    assert rows.loc[0, "amount_overdue"] == pytest.approx(400.0)
    assert rows.loc[0, "days_past_due"] == (pd.Timestamp("2025-01-10") - pd.Timestamp("2024-10-01")).days
    assert not rows.loc[0, "outcome_known"]  # six months from January: still running tonight
    later = offer_rows(tables, dt.date(2025, 8, 1))
    # By August the plan's break is known; the settlement's 30 days passed unbroken: paid.
    assert later["outcome_known"].all() and later["fulfilled"].tolist() == [False, True]
    # The plan broke 172 days in: five monthly instalments of six had been kept.
    assert later["share_paid"].tolist() == pytest.approx([5 / 6, 1.0])


def test_a_loan_settled_for_less_leaves_the_overdue_book_once_the_settlement_is_paid():
    from features.build import build_features
    from tests.factories import payment

    settlement = dict(
        loan_id="L1", kind="settlement", offered_on="2025-03-01", accepted=True, instalment=300.0,
        n_instalments=1, discount=0.5, broken_on=None,
    )  # fmt: skip
    unpaid = _with_arrangements([settlement])
    assert build_features(unpaid, AS_OF)["loan_id"].tolist() == ["L1"]
    paid = typed_tables(
        borrowers=[borrower("B1")],
        loans=[loan("L1", "B1")],
        installments=schedule("L1", first_due="2024-10-01"),
        payments=[payment("P1", "2025-03-05T12:00:00Z", 300.0)],
    )
    paid["arrangements"] = _with_arrangements([settlement])["arrangements"]
    assert build_features(paid, AS_OF).empty
    # Point in time: the night before the payment the loan is still in collection.
    assert build_features(paid, dt.date(2025, 3, 4))["loan_id"].tolist() == ["L1"]
