"""Channel effects only where the history identifies them: overlap weights, shrinkage toward the
stated prior, the identification table, and exploration aimed at unidentified cells."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.identification import (
    identification_summary,
    identification_table,
    overlap_weights,
    prior_effect,
    shrink_to_prior,
)
from scoring.allocation import random_option
from scoring.choice import with_identification_reason

PRIOR = {"call": 0.06, "sms": 0.02, "email": 0.01, "whatsapp": 0.02, "field_visit": 0.10, "letter": 0.015}


def test_overlap_weight_ramps_from_zero_to_one_at_the_minimum_propensity():
    weights = overlap_weights([0.0, 0.025, 0.05, 0.6], min_propensity=0.05)
    assert weights.tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert overlap_weights([0.0, 0.3], min_propensity=0.0).tolist() == [1.0, 1.0]


def test_an_unidentified_effect_is_the_prior_and_an_identified_one_is_learnt():
    p_self_cure = np.array([0.2, 0.2, 0.2])
    prior = prior_effect(["call", "call", "call"], p_self_cure, PRIOR)
    assert prior.tolist() == pytest.approx([0.048, 0.048, 0.048])
    learnt = np.array([0.30, 0.30, 0.30])  # an extrapolation far from the prior
    effect = shrink_to_prior(learnt, prior, [0.0, 0.5, 1.0])
    assert effect.tolist() == pytest.approx([0.048, 0.174, 0.30])
    assert prior_effect(["none"], [0.5], PRIOR).tolist() == [0.0]


def _ladder_history(n: int = 4000, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A rule ladder: texts below 30 days past due, calls from 31 to 90, letters beyond."""
    rng = np.random.default_rng(seed)
    dpd = rng.integers(1, 150, n)
    channel = np.where(dpd <= 30, "sms", np.where(dpd <= 90, "call", "letter"))
    contacted = rng.random(n) < 0.5
    rows = pd.DataFrame(
        {"days_past_due": dpd, "product": "card", "channel": np.where(contacted, channel, "none")}
    )
    propensity = pd.DataFrame(
        {
            "none": 0.5,
            "sms": np.where(dpd <= 30, 0.5, 0.0),
            "call": np.where((dpd > 30) & (dpd <= 90), 0.5, 0.0),
            "letter": np.where(dpd > 90, 0.5, 0.0),
        }
    )
    return rows, propensity


def test_the_identification_table_marks_only_the_cells_the_ladder_used():
    rows, propensity = _ladder_history()
    table = identification_table(rows, propensity, min_propensity=0.05)
    identified = {(r.channel, r.dpd_bucket) for r in table.itertuples() if r.identified}
    assert identified == {("sms", "1-30"), ("call", "31-60"), ("call", "61-90"), ("letter", "91-180")}
    assert table.loc[~table["identified"], "attempts"].eq(0).all()
    summary = identification_summary(table)
    assert summary["sms"] == pytest.approx((rows["days_past_due"] <= 30).mean())


def test_exploration_draws_unidentified_channels_more_often():
    loans = [f"L{i:04d}" for i in range(3000)]
    options = pd.DataFrame(
        {
            "loan_id": np.repeat(loans, 2),
            "channel": ["call", "sms"] * len(loans),
            "overlap_weight": [1.0, 0.0] * len(loans),
        }
    )
    picked = random_option(options, dt.date(2026, 3, 2), "salt")
    share_unidentified = (picked["channel"] == "sms").mean()
    assert picked["loan_id"].is_unique
    assert share_unidentified == pytest.approx(1.25 / 1.5, abs=0.03)
    uniform = random_option(options.drop(columns="overlap_weight"), dt.date(2026, 3, 2), "salt")
    assert (uniform["channel"] == "sms").mean() == pytest.approx(0.5, abs=0.03)


def test_a_choice_resting_on_the_prior_says_so_first():
    reasons = pd.DataFrame(
        {
            "runner_up_channel": ["sms", "none"],
            "channel_reason_1": ["a", "x"],
            "channel_reason_2": ["b", "y"],
            "channel_reason_3": ["c", "z"],
        }
    )
    out = with_identification_reason(reasons, pd.Series(["field_visit", "call"]), pd.Series([0.1, 0.9]), n=3)
    assert out.loc[0, "channel_reason_1"].startswith("The history rarely used field_visit")
    assert out.loc[0, ["channel_reason_2", "channel_reason_3"]].tolist() == ["a", "b"]
    assert out.loc[1].tolist() == reasons.loc[1].tolist()
