"""The policy evaluation's rules: every compared policy works the same loans."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from data_contracts.enums import CHANNELS
from evaluation.policies import DecisionPolicy, EvaluationRules, RandomPolicy, lawful_pairs
from scoring.allocation import AllocationSettings
from simulation import SimulationConfig, run_history
from simulation.book import loan_ids

COSTS = {"call": 2.0, "sms": 0.05, "email": 0.02, "whatsapp": 0.05, "field_visit": 25.0, "letter": 1.0}
CAPACITY = {"call": 40, "sms": 100, "email": 100, "whatsapp": 60, "field_visit": 3, "letter": 20}


@pytest.fixture(scope="module")
def simulator():
    return run_history(SimulationConfig(n_loans=2000, seed=8, truth_mc_replicates=0)).simulator


def _rules(share: float) -> EvaluationRules:
    return EvaluationRules(
        capacity=CAPACITY,
        channel_cost=COSTS,
        min_days_between=dict.fromkeys(CHANNELS, 1),
        control_share=share,
        control_days=30,
        control_salt="t",
    )


class FlatUplift(DecisionPolicy):
    """Every lawful contact adds 0.1 to the chance of paying: a stand-in for the engine's models."""

    def options(self, sim, pairs):
        overdue = sim.amount_overdue_cents()[pairs["loan_index"].to_numpy()] / 100.0
        return pd.DataFrame(
            {
                "loan_id": loan_ids(sim.population.n_loans)[pairs["loan_index"].to_numpy()],
                "channel": pairs["channel"].to_numpy(),
                "p_contact": 0.3,
                "p_self_cure": 0.2,
                "amount_overdue": overdue,
                "qualifying_amount": overdue,
            }
        )


def _contacted(contacts) -> set[int]:
    return set(contacts.loan_index.tolist())


def test_the_control_group_is_left_alone_by_every_policy_and_flagged_by_the_engine(simulator):
    rules = _rules(0.2)
    everything = lawful_pairs(simulator, _rules(0.0))
    loans = np.unique(everything["loan_index"])
    held = set(loans[rules.in_control(simulator, loans)].tolist())
    assert 0.1 < len(held) / len(loans) < 0.3

    workable = lawful_pairs(simulator, rules)
    assert set(workable["loan_index"]) == set(loans) - held
    pd.testing.assert_frame_equal(lawful_pairs(simulator, rules, with_control=True), everything)

    random = RandomPolicy(rules, seed=1).select_contacts(simulator.snapshot())
    assert _contacted(random) and not _contacted(random) & held

    settings = AllocationSettings(COSTS, exploration_share=0.05, control_share=0.2, control_days=30, salt="t")
    engine = FlatUplift(rules=rules, settings=settings)
    assert engine.keeps_own_control()
    chosen = engine.select_contacts(simulator.snapshot())
    assert _contacted(chosen) and not _contacted(chosen) & held
    recorded = pd.concat(engine.randomised)
    controls = recorded.loc[~recorded["treated"], "loan_id"]
    index = pd.Index(loan_ids(simulator.population.n_loans))
    assert set(index.get_indexer(controls)) == held  # the engine drew and recorded the same group


def test_an_engine_drawing_another_control_group_is_held_to_the_rules_one(simulator):
    rules = _rules(0.2)
    loans = np.unique(lawful_pairs(simulator, _rules(0.0))["loan_index"])
    held = set(loans[rules.in_control(simulator, loans)].tolist())
    other = AllocationSettings(COSTS, control_share=0.2, control_days=30, salt="another salt")
    none = dataclasses.replace(other, control_share=0.0)
    for settings in (other, none):
        engine = FlatUplift(rules=rules, settings=settings)
        assert not engine.keeps_own_control()
        assert not _contacted(engine.select_contacts(simulator.snapshot())) & held


class LateAccountsDoNotRespond:
    """A stand-in best-channel model: contact helps early accounts, barely moves late ones."""

    def uplift(self, rows: pd.DataFrame) -> pd.DataFrame:
        late = rows["days_past_due"].to_numpy(dtype="float64") >= 120
        return pd.DataFrame(
            {
                "p_contact": np.where(late, 0.002, 0.3),
                "p_self_cure": np.where(late, 0.001, 0.2),
                "p_reach": 0.5,
            },
            index=rows.index,
        )


def test_the_engine_with_treatments_offers_on_its_contacts_refers_late_accounts_and_pays_for_both(simulator):
    from evaluation.harness import TreatmentCosts, run_policy
    from evaluation.policies import EngineTreatmentPolicy
    from scoring.treatments import TreatmentSettings

    rules = _rules(0.0)
    settings = AllocationSettings(COSTS, exploration_share=0.0, control_share=0.0)
    policy = EngineTreatmentPolicy(
        rules, settings, LateAccountsDoNotRespond(), TreatmentSettings(channel_cost=COSTS)
    )
    start = simulator.snapshot()
    plan = policy.select_day(start)
    contacted = set(plan.contacts.loan_index.tolist())
    assert len(plan.offers) > 0 and set(plan.offers.loan_index.tolist()) <= contacted
    assert len(plan.referrals) > 0 and not set(plan.referrals.tolist()) & contacted
    assert (start.days_past_due()[plan.referrals] >= 120).all()
    assert policy.acceptance is not None and policy.acceptance.plan.basis_ == "learned"

    costs = TreatmentCosts(agency_commission=0.3, referral_fee=25.0, offer_cost=(2.0, 5.0, 2.0))
    outcome = run_policy(start, policy, 3, COSTS, costs=costs)
    daily, totals = outcome.daily, outcome.totals
    assert totals["referrals"] >= len(plan.referrals) and totals["offers"] >= len(plan.offers)
    expected_cost = 0.3 * daily["agency_collected"] + 25.0 * daily["referrals"]
    assert (daily["treatment_cost"] >= expected_cost - 1e-6).all()
    assert totals["net_recovery"] == pytest.approx(
        totals["recovered"] - totals["contact_cost"] - totals["treatment_cost"]
    )
