"""Incremental value, capacity allocation, exploration and the control group."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from scoring.allocation import (
    CONTACT_UNLIKELY_TO_HELP,
    CONTROL_GROUP,
    LIKELY_SELF_CURE,
    AllocationSettings,
    allocate,
    amount_at_stake,
    control_period_start,
    greedy_allocation,
    in_control_group,
    incremental_values,
    random_option,
    repeat_contact_factor,
    unit_uniforms,
    with_repeat_contact_discount,
)

AS_OF = dt.date(2026, 6, 1)
COSTS = {"call": 2.0, "sms": 0.05, "email": 0.02, "whatsapp": 0.05, "field_visit": 25.0, "letter": 1.0}


def _options(rows):
    return pd.DataFrame(rows, columns=["loan_id", "channel", "resource", "value"])


@pytest.mark.parametrize(
    ("p_contact", "p_self_cure", "amount", "channel", "expected"),
    [(0.5, 0.2, 100.0, "call", 28.0), (0.2, 0.2, 100.0, "sms", -0.05), (0.1, 0.3, 50.0, "letter", -11.0)],
)
def test_incremental_value_is_uplift_times_amount_minus_cost(
    p_contact, p_self_cure, amount, channel, expected
):
    options = pd.DataFrame(
        {
            "channel": [channel],
            "p_contact": [p_contact],
            "p_self_cure": [p_self_cure],
            "amount_overdue": [amount],
        }
    )
    assert incremental_values(options, COSTS).iloc[0] == pytest.approx(expected)


def test_a_response_is_worth_the_amount_at_stake_where_given_and_the_arrears_where_not():
    options = pd.DataFrame(
        {
            "channel": ["call", "call", "call"],
            "p_contact": [0.5, 0.5, 0.5],
            "p_self_cure": [0.2, 0.2, 0.2],
            "amount_overdue": [1000.0, 1000.0, 80.0],
            "amount_at_stake": [100.0, np.nan, 80.0],
        }
    )
    assert amount_at_stake(options).tolist() == [100.0, 1000.0, 80.0]
    # 0.3 x 100 - 2: months of arrears do not make one contact worth 0.3 x 1000.
    assert incremental_values(options, COSTS).tolist() == pytest.approx([28.0, 298.0, 22.0])


@pytest.mark.parametrize(
    ("recent", "discount", "expected"),
    [(0, 0.75, 1.0), (1, 0.75, 0.75), (2, 0.75, 0.5625), (np.nan, 0.75, 1.0), (3, 1.0, 1.0)],
)
def test_each_recent_contact_scales_the_next_contacts_effect_by_the_discount(recent, discount, expected):
    assert repeat_contact_factor([recent], discount)[0] == pytest.approx(expected)


def test_the_repeat_contact_discount_shrinks_the_effect_not_the_self_cure():
    options = pd.DataFrame(
        {"p_contact": [0.6, 0.1, 0.9], "p_self_cure": [0.2, 0.3, 0.8], "channel": ["call", "sms", "letter"]}
    )
    out = with_repeat_contact_discount(options, [2, 1, 0], 0.5)
    assert out["p_self_cure"].tolist() == options["p_self_cure"].tolist()
    # Effects 0.4 x 0.25, -0.2 x 0.5 (an annoying contact annoys less, too) and 0.1 x 1.
    assert out["p_contact"].tolist() == pytest.approx([0.3, 0.2, 0.9])
    assert with_repeat_contact_discount(options, [5, 5, 5], 1.0) is options


def test_a_channel_without_a_cost_is_refused():
    options = pd.DataFrame(
        {"channel": ["pigeon"], "p_contact": [0.5], "p_self_cure": [0.1], "amount_overdue": [1.0]}
    )
    with pytest.raises(KeyError, match="pigeon"):
        incremental_values(options, COSTS)


def test_capacity_goes_where_it_adds_most_over_the_free_alternative():
    # A would gain 50 by call but 45 by free sms; B has only the call. One call slot: B gets it.
    options = _options([("A", "call", "call", 50.0), ("A", "sms", "sms", 45.0), ("B", "call", "call", 40.0)])
    chosen = greedy_allocation(options, {"call": 1, "sms": None}).set_index("loan_id")["channel"]
    assert chosen.to_dict() == {"A": "sms", "B": "call"}


def test_options_without_positive_value_are_never_chosen():
    options = _options([("A", "call", "call", -1.0), ("B", "sms", "sms", 0.0)])
    assert greedy_allocation(options, {"call": 5}).empty


def _exact_optimum(options: pd.DataFrame, capacity: dict) -> float:
    """The LP optimum of the assignment (integral: the constraint matrix is totally unimodular)."""
    positive = options[options["value"] > 0].reset_index(drop=True)
    loans = {loan: i for i, loan in enumerate(positive["loan_id"].unique())}
    capped = [r for r in positive["resource"].unique() if capacity.get(r) is not None]
    rows, bounds = [], []
    for loan, _i in loans.items():
        rows.append((positive["loan_id"] == loan).to_numpy(float))
        bounds.append(1.0)
    for resource in capped:
        rows.append((positive["resource"] == resource).to_numpy(float))
        bounds.append(float(capacity[resource]))
    result = linprog(
        -positive["value"].to_numpy(), A_ub=np.array(rows), b_ub=bounds, bounds=(0, 1), method="highs"
    )
    return -result.fun


@pytest.mark.parametrize("seed", range(8))
def test_greedy_allocation_is_near_the_exact_optimum_and_respects_capacity(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for loan in range(60):
        for channel in rng.choice(
            ["call", "field_visit", "sms", "letter"], size=rng.integers(1, 4), replace=False
        ):
            rows.append((f"L{loan}", channel, channel, float(rng.normal(5, 8))))
    options = _options(rows)
    capacity = {"call": 10, "field_visit": 3, "sms": None, "letter": 6}
    chosen = greedy_allocation(options, capacity)
    assert chosen["loan_id"].is_unique
    counts = chosen["resource"].value_counts()
    assert all(counts.get(r, 0) <= c for r, c in capacity.items() if c is not None)
    assert chosen["value"].sum() >= 0.95 * _exact_optimum(options, capacity)


def _book(n=400, seed=3):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        p0 = rng.uniform(0, 0.9)
        for channel in ("call", "sms", "letter"):
            rows.append(
                {
                    "loan_id": f"L{i:04d}",
                    "channel": channel,
                    "resource": channel,
                    "p_contact": min(p0 + rng.uniform(-0.02, 0.2), 1.0),
                    "p_self_cure": p0,
                    "amount_overdue": float(rng.uniform(20, 2000)),
                }
            )
    frame = pd.DataFrame(rows)
    # One amount per loan.
    frame["amount_overdue"] = frame.groupby("loan_id")["amount_overdue"].transform("first")
    return frame


def test_every_loan_is_either_contacted_or_left_alone_exactly_once():
    options = _book()
    result = allocate(
        options, {"call": 40, "sms": None, "letter": 20}, AllocationSettings(COSTS), as_of=AS_OF
    )
    contacted, alone = set(result.assignments["loan_id"]), set(result.left_alone["loan_id"])
    assert not contacted & alone
    assert contacted | alone == set(options["loan_id"])
    assert result.assignments["loan_id"].is_unique and result.left_alone["loan_id"].is_unique


def test_capacity_holds_and_exploration_is_a_share_of_the_queue_not_of_capacity():
    options = _book()
    capacity = {"call": 40, "sms": None, "letter": 20}
    result = allocate(options, capacity, AllocationSettings(COSTS, exploration_share=0.1), as_of=AS_OF)
    worked = result.assignments[result.assignments["within_capacity"]]
    explored = worked[worked["exploration"]]
    assert abs(len(explored) - 0.1 * len(worked)) <= 0.01 * len(worked) + 1
    assert explored["resource"].nunique() == 3  # every channel gains randomised evidence
    for resource in ("call", "letter"):
        assert (worked["resource"] == resource).sum() <= capacity[resource]
        assert (explored["resource"] == resource).sum() <= np.ceil(0.1 * capacity[resource])


def test_a_small_book_under_large_capacities_explores_a_share_of_its_own_queue():
    options = _book(n=60)
    roomy = {"call": 150, "sms": None, "letter": 150}
    result = allocate(options, roomy, AllocationSettings(COSTS, exploration_share=0.05), as_of=AS_OF)
    queued = result.assignments[result.assignments["within_capacity"]]
    assert 0 < queued["exploration"].sum() <= 0.05 * len(queued) + 1


def test_left_alone_reasons_follow_self_cure_and_control():
    options = _book()
    settings = AllocationSettings(COSTS, control_share=0.1, self_cure_threshold=0.5)
    alone = allocate(options, {"call": 40, "sms": None, "letter": 20}, settings, as_of=AS_OF).left_alone
    assert set(alone["reason"]) <= {CONTROL_GROUP, LIKELY_SELF_CURE, CONTACT_UNLIKELY_TO_HELP}
    assert (alone["reason"] == CONTROL_GROUP).eq(alone["control"]).all()
    not_control = alone[~alone["control"]]
    assert (not_control["best_incremental_value"] <= 0).all()
    assert ((not_control["reason"] == LIKELY_SELF_CURE) == (not_control["p_self_cure"] >= 0.5)).all()
    share = alone["control"].sum() / options["loan_id"].nunique()
    assert 0.05 < share < 0.15


def _controls(allocation) -> set[str]:
    return set(allocation.left_alone.loc[allocation.left_alone["control"], "loan_id"])


def _explored(allocation) -> set[str]:
    return set(allocation.assignments.loc[allocation.assignments["exploration"], "loan_id"])


def test_the_same_night_gives_the_same_choice_and_another_night_reshuffles_exploration():
    options = _book()
    settings = AllocationSettings(COSTS, control_share=0.1, exploration_share=0.2)
    capacity = {"call": 40, "sms": None, "letter": 20}
    first = allocate(options, capacity, settings, as_of=AS_OF)
    again = allocate(options.sample(frac=1.0, random_state=1), capacity, settings, as_of=AS_OF)
    pd.testing.assert_frame_equal(first.assignments, again.assignments)
    later = allocate(options, capacity, settings, as_of=AS_OF + dt.timedelta(days=1))
    assert _explored(first) != _explored(later)


@pytest.mark.parametrize("days", [1, 7, 30])
def test_a_control_loan_is_held_out_for_its_whole_period_and_redrawn_after(days):
    """Control vs contacted must compare contact with none over the outcome window: a loan held
    out one night and contacted the next would measure one night's contact."""
    options = _book()
    settings = AllocationSettings(COSTS, control_share=0.1, control_days=days)
    capacity = {"call": 40, "sms": None, "letter": 20}
    start = control_period_start(AS_OF, days)
    nights = [start + dt.timedelta(days=k) for k in range(days)]
    controls = [_controls(allocate(options, capacity, settings, as_of=night)) for night in nights]
    assert controls[0] and all(c == controls[0] for c in controls)
    following = _controls(allocate(options, capacity, settings, as_of=start + dt.timedelta(days=days)))
    assert following != controls[0]
    for night, held in zip(nights, controls, strict=True):
        contacted = set(allocate(options, capacity, settings, as_of=night).assignments["loan_id"])
        assert not held & contacted


@pytest.mark.parametrize("night", [AS_OF, AS_OF + dt.timedelta(days=45)])
def test_the_control_draw_anyone_can_repeat_is_the_one_allocate_holds_out(night):
    """The policy evaluation leaves the engine's control group alone under every policy: it must
    find exactly the loans the engine flags, from the loan ids alone."""
    options = _book()
    settings = AllocationSettings(COSTS, control_share=0.1, control_days=30, salt="s")
    held = _controls(allocate(options, {"call": 40, "sms": None, "letter": 20}, settings, as_of=night))
    loans = pd.Series(options["loan_id"].unique())
    drawn = in_control_group(loans, night, share=0.1, days=30, salt="s")
    assert held and set(loans[drawn]) == held
    assert not in_control_group(loans, night, share=0.0, days=30, salt="s").any()


@pytest.mark.parametrize("day", [dt.date(2026, 1, 1), dt.date(2026, 6, 1), dt.date(2026, 12, 31)])
@pytest.mark.parametrize("days", [1, 7, 30])
def test_control_periods_tile_the_calendar(day, days):
    start = control_period_start(day, days)
    assert start <= day < start + dt.timedelta(days=days)
    assert control_period_start(start + dt.timedelta(days=days - 1), days) == start
    assert control_period_start(start + dt.timedelta(days=days), days) == start + dt.timedelta(days=days)


def test_a_loans_draw_does_not_depend_on_the_other_loans():
    keys = pd.Series(["L1", "L2", "L3"])
    assert unit_uniforms(keys, AS_OF, "s")[1] == unit_uniforms(pd.Series(["L2"]), AS_OF, "s")[0]
    draws = unit_uniforms(pd.Series([f"L{i}" for i in range(5000)]), AS_OF, "s")
    assert draws.min() >= 0 and draws.max() < 1 and abs(draws.mean() - 0.5) < 0.02


def test_random_option_picks_one_lawful_channel_per_loan_about_uniformly():
    options = pd.DataFrame(
        {"loan_id": np.repeat([f"L{i}" for i in range(3000)], 3), "channel": ["call", "sms", "letter"] * 3000}
    )
    picked = random_option(options, AS_OF, "s")
    assert picked["loan_id"].is_unique and len(picked) == 3000
    shares = picked["channel"].value_counts(normalize=True)
    assert shares.between(0.3, 0.37).all()
