"""Qini and uplift-at-k on small randomised samples whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from models.uplift import qini_coefficient, qini_curve, uplift_at_k, uplift_report


def _sample(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    effect = rng.uniform(0, 0.4, n)  # true uplift per unit
    treated = rng.random(n) < 0.5
    outcome = rng.random(n) < 0.2 + effect * treated
    return outcome, treated, effect


def test_ranking_by_true_uplift_beats_random_and_reversed_rankings():
    outcome, treated, effect = _sample()
    rng = np.random.default_rng(1)
    good = qini_coefficient(outcome, treated, effect)
    noise = qini_coefficient(outcome, treated, rng.random(len(effect)))
    bad = qini_coefficient(outcome, treated, -effect)
    assert good > noise > bad
    assert good > 0 > bad


def test_uplift_at_k_by_hand():
    outcome = [1, 0, 1, 0, 0, 0]
    treated = [True, False, True, False, True, False]
    score = [6, 5, 4, 3, 2, 1]
    # Top half: treated {1, 1}, control {0}: 1.0 - 0.0.
    assert uplift_at_k(outcome, treated, score, 0.5) == pytest.approx(1.0)
    curve = qini_curve(outcome, treated, score)
    assert curve["qini"].iloc[-1] == pytest.approx(2 - 0 * 3 / 3)


def test_report_has_every_figure_and_rejects_bad_k():
    outcome, treated, effect = _sample(500)
    report = uplift_report(outcome, treated, effect)
    assert {"qini_coefficient", "average_uplift", "uplift_at_10pct", "uplift_at_30pct"} <= set(report)
    with pytest.raises(ValueError):
        uplift_at_k(outcome, treated, effect, 0)
