"""Aggregating policy runs over independent futures: means, paired gains, standard errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.harness import PolicyOutcome, daily_frame, paired_comparison, results_table


def _outcome(name: str, future: int, net: float, cost: float = 10.0) -> PolicyOutcome:
    daily = pd.DataFrame(
        {"day": [0, 1], "date": ["2026-06-01", "2026-06-02"], "recovered": [net / 2 + cost / 2] * 2}
    ).assign(policy=name, future=future)
    totals = {"recovered": net + cost, "contact_cost": cost, "net_recovery": net, "contacts": 5.0}
    return PolicyOutcome(name=name, daily=daily, totals=totals, future=future)


# Two futures: random nets 100 then 140; the engine is 30 and 10 ahead; the oracle 50 and 50.
RUNS = [
    _outcome("random", 0, 100.0),
    _outcome("engine", 0, 130.0),
    _outcome("oracle", 0, 150.0),
    _outcome("random", 1, 140.0),
    _outcome("engine", 1, 150.0),
    _outcome("oracle", 1, 190.0),
]


def test_results_are_means_over_futures_with_paired_gains():
    table = results_table(RUNS)
    assert list(table.index) == ["random", "engine", "oracle"]
    assert table.loc["engine", "net_recovery"] == 140.0
    assert (table["futures"] == 2).all()
    assert table.loc["engine", "gain_over_random"] == 20.0
    assert table.loc["engine", "gain_over_random_se"] == pytest.approx(np.std([30, 10], ddof=1) / np.sqrt(2))
    assert table.loc["oracle", "gain_over_random_se"] == 0.0
    assert table.loc["engine", "share_of_oracle_gain"] == pytest.approx(20.0 / 50.0)
    assert table.loc["random", "net_recovery_se"] == pytest.approx(np.std([100, 140], ddof=1) / np.sqrt(2))


def test_a_single_future_has_no_standard_error():
    table = results_table([o for o in RUNS if o.future == 0])
    assert table["gain_over_random_se"].isna().all()
    assert table.loc["engine", "share_of_oracle_gain"] == pytest.approx(0.6)


def test_paired_comparison_counts_futures_ahead():
    report = paired_comparison(RUNS, "engine", ["random", "oracle", "engine"])
    assert set(report) == {"random", "oracle"}
    assert report["random"] == {
        "mean_difference": 20.0,
        "standard_error": pytest.approx(10.0),
        "ahead_in_futures": 2,
        "futures": 2,
    }
    assert report["oracle"]["ahead_in_futures"] == 0


def test_daily_frame_averages_each_policy_day_over_futures():
    daily = daily_frame(RUNS)
    assert len(daily) == 3 * 2
    engine = daily[daily["policy"] == "engine"].set_index("day")
    assert engine.loc[0, "recovered"] == pytest.approx((70.0 + 80.0) / 2)
    assert (daily["futures"] == 2).all()


def test_randomised_report_pools_only_channels_with_both_arms_and_reports_each():
    from evaluation.harness import randomised_uplift_report

    rng = np.random.default_rng(0)
    n = 400
    sms = pd.DataFrame(
        {
            "channel": "sms",
            "treated": np.arange(n) % 2 == 0,
            "predicted_uplift": rng.random(n),
        }
    )
    # Treated sms units with a high predicted uplift pay; controls never do.
    sms["label"] = (sms["treated"] & (sms["predicted_uplift"] > 0.5)).astype(int)
    visits = pd.DataFrame(  # control units only: no exploration visit to compare them with
        {"channel": "field_visit", "treated": False, "predicted_uplift": 1.0, "label": 1}, index=range(50)
    )
    report = randomised_uplift_report(pd.concat([sms, visits], ignore_index=True))
    assert report["rows"] == n and report["rows_without_both_arms"] == 50
    assert report["sms.rows"] == n and report["sms.qini_coefficient"] > 0
    assert not any(key.startswith("field_visit.") for key in report)
    assert report["qini_coefficient"] == report["sms.qini_coefficient"]
