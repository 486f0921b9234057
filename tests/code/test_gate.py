"""The promotion gate and the training report's metrics, on small inline frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.evaluation import calibration_table, decile_table, dpd_bucket, recovery_captured, segment_metrics
from models.gate import GateRules, fairness_evidence, promotion_gate

RULES = GateRules(
    tolerance={
        "auc": 0.002,
        "brier": 0.001,
        "ece": 0.01,
        "recovery_captured_at_capacity": 0.005,
        "group_auc_gap": 0.02,
        "worst_group_ece": 0.02,
    },
    limit={"ece": 0.05},
)
CHAMPION = {
    "auc": 0.83,
    "brier": 0.165,
    "ece": 0.02,
    "recovery_captured_at_capacity": 0.70,
    "group_auc_gap": 0.05,
    "worst_group_ece": 0.04,
}


def test_an_equal_challenger_passes_and_the_table_has_a_row_per_metric():
    result = promotion_gate(dict(CHAMPION), CHAMPION, RULES)
    assert result.passed
    assert result.table["metric"].tolist() == list(CHAMPION)
    assert result.table["passed"].all()
    assert (result.table["difference"] == 0).all()


@pytest.mark.parametrize(
    ("metric", "worse", "within_tolerance"),
    [
        ("auc", 0.825, 0.8285),
        ("brier", 0.167, 0.1655),
        ("ece", 0.031, 0.029),
        ("recovery_captured_at_capacity", 0.69, 0.696),
        ("group_auc_gap", 0.08, 0.065),
        ("worst_group_ece", 0.07, 0.055),
    ],
)
def test_a_challenger_worse_beyond_the_tolerance_on_any_metric_is_refused(metric, worse, within_tolerance):
    refused = promotion_gate({**CHAMPION, metric: worse}, CHAMPION, RULES)
    assert not refused.passed
    assert refused.table.set_index("metric")["passed"].to_dict() == {m: m != metric for m in CHAMPION}
    assert metric in refused.verdict
    assert promotion_gate({**CHAMPION, metric: within_tolerance}, CHAMPION, RULES).passed


def test_better_everywhere_passes_but_an_absolute_limit_still_binds():
    better = {"auc": 0.85, "brier": 0.15, "ece": 0.06, "recovery_captured_at_capacity": 0.75}
    champion = {**CHAMPION, "ece": 0.07}
    result = promotion_gate({**CHAMPION, **better}, champion, RULES)
    # Calibration improved on the champion's, yet 0.06 is above the 0.05 ceiling.
    assert not result.passed
    assert result.table.set_index("metric").loc["ece", "rule"] == (
        "challenger <= champion + 0.01 and challenger <= 0.05"
    )


def test_without_a_champion_the_first_version_passes():
    result = promotion_gate({**CHAMPION, "ece": 0.2}, None, RULES)
    assert result.passed
    assert "first version" in result.verdict
    assert result.table["champion"].isna().all()


def test_a_metric_missing_for_either_model_is_shown_and_not_judged():
    result = promotion_gate({**CHAMPION, "group_auc_gap": np.nan}, CHAMPION, RULES)
    assert result.passed
    assert np.isnan(result.table.set_index("metric").loc["group_auc_gap", "challenger"])


def test_an_unknown_metric_is_an_error():
    with pytest.raises(KeyError, match="no rule"):
        promotion_gate({"accuracy": 0.9}, None, RULES)


def test_the_gate_result_serialises_without_nan():
    document = promotion_gate({**CHAMPION, "group_auc_gap": np.nan}, CHAMPION, RULES).to_dict()
    row = next(r for r in document["table"] if r["metric"] == "group_auc_gap")
    assert row["challenger"] is None


def _snapshots() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2026-01-01"] * 4 + ["2026-01-15"] * 4),
            "amount_overdue": [100.0, 100, 100, 100, 50, 50, 50, 50],
            "installment_amount": [100.0, 100, 100, 100, 100, 100, 100, 100],
            "amount_paid_in_window": [0.0, 80, 20, 0, 50, 0, 0, 50],
        }
    )


def test_recovery_captured_takes_the_top_of_each_day_by_expected_recovery():
    frame = _snapshots()
    perfect = np.array([0.1, 0.9, 0.5, 0.2, 0.9, 0.1, 0.2, 0.8])
    # Top 1 a day: 80 of day one, 50 of day two, out of 200 paid.
    assert recovery_captured(frame, perfect, capacity=1) == pytest.approx(130 / 200)
    assert recovery_captured(frame, perfect, capacity=2) == pytest.approx(200 / 200)
    assert recovery_captured(frame, 1 - perfect, capacity=1) == pytest.approx(0 / 200)
    # Capacity above the book holds every loan: the figure cannot tell models apart.
    assert recovery_captured(frame, perfect, capacity=10) == 1.0


def test_recovery_captured_weighs_by_the_qualifying_amount():
    frame = _snapshots().iloc[:2].assign(amount_overdue=[1000.0, 10.0], installment_amount=[1000.0, 1000.0])
    # p 0.2 on 1,000 owed beats p 0.9 on 10 owed.
    assert recovery_captured(frame, np.array([0.2, 0.9]), capacity=1) == pytest.approx(0 / 80)


def test_recovery_captured_refuses_no_capacity():
    with pytest.raises(ValueError):
        recovery_captured(_snapshots(), np.zeros(8), capacity=0)


def test_deciles_order_scores_and_gains_reach_one():
    rng = np.random.default_rng(0)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    table = decile_table(y, p, amount_paid=y * 10.0)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["rows"].sum() == 1000
    assert table["mean_p_pay"].is_monotonic_decreasing
    assert table["pay_rate"].iloc[0] > table["pay_rate"].iloc[-1]
    assert table["cumulative_payers_share"].iloc[-1] == pytest.approx(1.0)
    assert table["cumulative_paid_share"].iloc[-1] == pytest.approx(1.0)
    assert table["lift"].iloc[0] > 1.5


def test_calibration_table_bins_predictions():
    table = calibration_table([0, 1, 1, 0], [0.05, 0.95, 0.91, 0.15])
    assert table["bin_low"].tolist() == [0.0, 0.1, 0.9]
    assert table["rows"].tolist() == [1, 1, 2]
    assert table["pay_rate"].tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("dpd", "bucket"), [(1, "1-30"), (30, "1-30"), (31, "31-60"), (90, "61-90"), (400, "181+")]
)
def test_days_past_due_buckets(dpd, bucket):
    assert dpd_bucket([dpd]).astype(str).iloc[0] == bucket


def test_segment_metrics_per_value():
    frame = pd.DataFrame({"product": ["a", "a", "b", "b", "b"]})
    table = segment_metrics(frame, [0, 1, 1, 1, 0], [0.2, 0.8, 0.7, 0.6, 0.4], {"product": frame["product"]})
    assert table["value"].tolist() == ["a", "b"]
    assert table["rows"].tolist() == [2, 3]
    assert table.loc[0, "auc"] == 1.0


def test_fairness_evidence_gap_and_worst_calibration():
    groups = pd.DataFrame({"gender": ["f"] * 40 + ["m"] * 40})
    y = np.tile([0, 1], 40)
    good = np.where(y == 1, 0.8, 0.2)
    # Women's scores are informative, men's are noise: an AUC gap of 0.5.
    p = np.concatenate([good[:40], np.full(40, 0.5)])
    evidence = fairness_evidence(y, p, groups, ["gender"], min_group_size=30)
    assert evidence["group_auc_gap"] == pytest.approx(0.5)
    assert evidence["worst_group_ece"] == pytest.approx(0.2)
    # Too small to judge: no gap at all.
    assert np.isnan(fairness_evidence(y, p, groups, ["gender"], min_group_size=100)["group_auc_gap"])


# -- the baselines a propensity challenger must beat ------------------------------------------------

BASELINE_RULES = GateRules(
    tolerance=RULES.tolerance,
    limit={**RULES.limit, "auc_over_dpd_heuristic": 0.0, "auc_over_plain_lightgbm": 0.0},
)
BEATS_BASELINES = {"auc_over_dpd_heuristic": 0.06, "auc_over_plain_lightgbm": 0.02}


def test_a_challenger_that_beats_both_baselines_passes_with_a_row_for_each():
    result = promotion_gate({**CHAMPION, **BEATS_BASELINES}, {**CHAMPION, **BEATS_BASELINES}, BASELINE_RULES)
    assert result.passed and not result.warnings
    table = result.table.set_index("metric")
    assert table.loc["auc_over_plain_lightgbm", "passed"]
    assert table.loc["auc_over_dpd_heuristic", "rule"] == "challenger AUC - baseline AUC >= 0"
    assert "beats its baselines" in result.verdict


@pytest.mark.parametrize(
    ("metric", "named"),
    [("auc_over_dpd_heuristic", "days-past-due heuristic"), ("auc_over_plain_lightgbm", "plain LightGBM")],
)
def test_a_challenger_that_does_not_beat_a_baseline_is_refused_even_when_no_worse_than_the_champion(
    metric, named
):
    # The champion did not beat it either: being no worse than the champion is not enough.
    short = {**CHAMPION, **BEATS_BASELINES, metric: -0.004}
    result = promotion_gate(short, short, BASELINE_RULES)
    assert not result.passed
    assert result.table.set_index("metric")["passed"].to_dict() == {m: m != metric for m in short}
    assert metric in result.verdict and named in result.verdict and result.verdict.startswith("refused")
    assert len(result.warnings) == 1 and named in result.warnings[0] and "-0.0040" in result.warnings[0]


def test_the_baseline_margin_is_configurable():
    rules = GateRules(
        tolerance=RULES.tolerance, limit={**BASELINE_RULES.limit, "auc_over_plain_lightgbm": 0.03}
    )
    result = promotion_gate({**CHAMPION, **BEATS_BASELINES}, {**CHAMPION, **BEATS_BASELINES}, rules)
    assert not result.passed  # beats the plain LightGBM by 0.02, the margin asks 0.03
    assert "needs >= 0.03" in result.warnings[0]


def test_without_a_champion_the_first_version_passes_but_says_which_baseline_it_does_not_beat():
    result = promotion_gate(
        {**CHAMPION, "auc_over_dpd_heuristic": 0.05, "auc_over_plain_lightgbm": -0.01}, None, BASELINE_RULES
    )
    assert result.passed
    assert "first version" in result.verdict and "does not beat a plain LightGBM" in result.verdict
    assert not result.table.set_index("metric").loc["auc_over_plain_lightgbm", "passed"]
    assert [w for w in result.warnings if "plain LightGBM" in w]
    assert result.to_dict()["warnings"] == list(result.warnings)


def test_a_baseline_missing_from_old_evidence_is_shown_not_judged_and_warned_about():
    old = {**CHAMPION, "auc_over_dpd_heuristic": 0.05, "auc_over_plain_lightgbm": np.nan}
    result = promotion_gate(old, old, BASELINE_RULES)
    assert result.passed and "beats its baselines" not in result.verdict
    assert any("not measured" in warning for warning in result.warnings)


def test_baseline_evidence_is_measured_on_the_blocks_own_columns():
    from models.gate import PLAIN_LIGHTGBM_COLUMN, baseline_evidence, with_baseline_columns

    block = pd.DataFrame(
        {"label": [1, 1, 0, 0, 1, 0], "days_past_due": [5.0, 10, 20, 40, 60, 80]},
        index=[10, 11, 12, 13, 14, 15],
    )
    # Payers at 5, 10 and 60 days past due, non-payers at 20, 40, 80: the heuristic orders 7 of
    # the 9 pairs right, the plain LightGBM's scores 8 (its frame in another row order).
    values = [0.9, 0.8, 0.7, 0.1, 0.6, 0.2]
    scores = pd.DataFrame({PLAIN_LIGHTGBM_COLUMN: values}, index=block.index).iloc[::-1]
    judged = with_baseline_columns(block, scores)
    assert judged[PLAIN_LIGHTGBM_COLUMN].tolist() == values
    evidence = baseline_evidence(judged, auc=1.0)
    assert evidence["auc_over_dpd_heuristic"] == pytest.approx(1 - 7 / 9)
    assert evidence["auc_over_plain_lightgbm"] == pytest.approx(1 - 8 / 9)
    assert np.isnan(baseline_evidence(block, auc=1.0)["auc_over_plain_lightgbm"])
    assert with_baseline_columns(block, None) is block


def test_training_metrics_give_the_same_baseline_figures_and_warnings():
    from models.gate import baseline_warnings, training_baseline_excess

    metrics = {"test_auc": 0.70, "test_heuristic_dpd_auc": 0.65, "test_plain_lightgbm_auc": 0.72}
    excess = training_baseline_excess(metrics)
    assert excess == pytest.approx({"auc_over_dpd_heuristic": 0.05, "auc_over_plain_lightgbm": -0.02})
    (warning,) = baseline_warnings(excess, {"auc_over_dpd_heuristic": 0.0})
    assert "plain LightGBM" in warning and "-0.0200" in warning
