"""Drift monitoring's pure parts: the training reference, the PSI table and its summary."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monitoring.drift import (
    MISSING_BIN,
    OTHER_BIN,
    SHARE_FLOOR,
    DriftError,
    drift_block,
    drift_warning,
    population_stability,
    psi_contributions,
    summarise_drift,
    training_reference,
)
from recover.config import MonitoringConfig

N = 4000


def _row(table: pd.DataFrame, name: str) -> pd.Series:
    return table.set_index("name").loc[name]


def _normal_book(seed: int, n: int = N, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(6 + shift, 0.5, n),
            "product": rng.choice(["cash", "card", "auto"], n, p=[0.5, 0.3, 0.2]),
            "has_phone": rng.random(n) < 0.8,
        }
    )
    return frame, rng.beta(2, 3, n)


def test_the_training_rows_against_their_own_reference_have_no_drift():
    frame, scores = _normal_book(0)
    table = population_stability(training_reference(frame, scores, frame.columns), frame, scores)
    assert list(table["name"]) == ["p_pay", "amount", "product", "has_phone"]
    assert (table["psi"] == 0).all() and (table["status"] == "ok").all()


def test_a_fresh_sample_of_the_same_book_stays_well_below_the_warn_threshold():
    frame, scores = _normal_book(0)
    tonight, tonight_scores = _normal_book(1, n=2000)
    table = population_stability(training_reference(frame, scores, frame.columns), tonight, tonight_scores)
    # Sampling noise of 10 bins on 2,000 rows is about 9 / 2000 + 9 / 4000 = 0.007.
    assert table["psi"].max() < 0.03
    assert summarise_drift(table).status == "ok"


@pytest.mark.parametrize(
    ("shift", "status"), [(0.0, "ok"), (0.4, "warn"), (1.0, "fail")], ids=["none", "0.4 sd", "1 sd"]
)
def test_a_shifted_numeric_feature_crosses_the_thresholds(shift, status):
    rng = np.random.default_rng(2)
    reference = training_reference(pd.DataFrame({"x": rng.normal(size=20_000)}), rng.random(20_000), ["x"])
    tonight = pd.DataFrame({"x": rng.normal(size=5000) + shift})
    row = _row(population_stability(reference, tonight, rng.random(5000)), "x")
    assert row["status"] == status
    if shift:
        # Everything moved up: a tail decile changed the most (the top one filled, the bottom one
        # emptied), and all the others are still compared.
        assert row["top_bin"].startswith("(-inf,") or row["top_bin"].endswith(", inf)")
        assert row["top_bin_expected"] == pytest.approx(0.1)
        assert row["top_bin_actual"] != pytest.approx(0.1, abs=0.03)


def test_a_categorical_shift_gives_the_textbook_index():
    train = pd.DataFrame({"product": ["cash"] * 50 + ["card"] * 50})
    tonight = pd.DataFrame({"product": ["cash"] * 80 + ["card"] * 20})
    reference = training_reference(train, np.full(100, 0.5), ["product"])
    row = _row(population_stability(reference, tonight, np.full(100, 0.5)), "product")
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert row["psi"] == pytest.approx(expected)  # 0.416
    assert row["status"] == "fail" and row["kind"] == "categorical"
    assert row["top_bin"] == "card"  # 50% -> 20% weighs more than 50% -> 80%


def test_an_unseen_category_lands_in_the_other_bin():
    train = pd.DataFrame({"product": ["cash", "card"] * 500})
    tonight = pd.DataFrame({"product": ["cash", "card"] * 450 + ["crypto"] * 100})
    reference = training_reference(train, np.full(1000, 0.5), ["product"])
    assert reference["features"]["product"]["other"] == 0
    row = _row(population_stability(reference, tonight, np.full(1000, 0.5)), "product")
    assert row["top_bin"] == OTHER_BIN and row["top_bin_actual"] == pytest.approx(0.1)
    assert row["top_bin_expected"] == 0
    # Floored, not infinite: (0.1 - 1e-4) * ln(0.1 / 1e-4) plus the two shrunken bins.
    assert row["top_bin_psi"] == pytest.approx((0.1 - SHARE_FLOOR) * math.log(0.1 / SHARE_FLOOR))
    assert row["status"] == "fail"


def test_rare_categories_share_the_other_bin_with_unseen_ones():
    train = pd.DataFrame({"branch": [f"b{i % 30}" for i in range(3000)]})
    reference = training_reference(train, np.zeros(3000), ["branch"], max_categories=5)
    spec = reference["features"]["branch"]
    assert len(spec["categories"]) == 5
    assert sum(spec["shares"]) + spec["other"] + spec["missing"] == pytest.approx(1)


def test_values_going_missing_are_drift_and_missing_in_training_is_not():
    rng = np.random.default_rng(3)
    x = rng.normal(size=5000)
    with_gaps = np.where(rng.random(5000) < 0.2, np.nan, x)
    reference = training_reference(
        pd.DataFrame({"complete": x, "gappy": with_gaps}), rng.random(5000), ["complete", "gappy"]
    )
    assert reference["features"]["gappy"]["missing"] == pytest.approx(np.isnan(with_gaps).mean())
    tonight = pd.DataFrame({"complete": np.where(rng.random(5000) < 0.3, np.nan, x), "gappy": with_gaps})
    table = population_stability(reference, tonight, rng.random(5000))
    complete, gappy = _row(table, "complete"), _row(table, "gappy")
    assert complete["top_bin"] == MISSING_BIN and complete["status"] == "fail"
    assert complete["missing_share"] == pytest.approx(0.3, abs=0.03)
    assert gappy["psi"] == 0


def test_a_constant_column_gets_two_bins_and_any_departure_shows():
    reference = training_reference(pd.DataFrame({"k": [3.0] * 1000}), np.zeros(1000), ["k"])
    assert reference["features"]["k"]["edges"] == [3.0]
    assert reference["features"]["k"]["shares"] == [1.0, 0.0]
    same = population_stability(reference, pd.DataFrame({"k": [3.0] * 200}), np.zeros(200))
    moved = population_stability(reference, pd.DataFrame({"k": [3.0] * 150 + [4.0] * 50}), np.zeros(200))
    assert _row(same, "k")["psi"] == 0
    assert _row(moved, "k")["status"] == "fail" and _row(moved, "k")["top_bin"] == "(3, inf)"


def test_tied_quantiles_give_unique_edges_and_a_bin_for_the_point_mass():
    counts = pd.DataFrame({"n": [0] * 700 + [1] * 200 + [2] * 60 + [5] * 40})
    spec = training_reference(counts, np.zeros(1000), ["n"])["features"]["n"]
    assert spec["edges"] == sorted(set(spec["edges"]))
    assert spec["edges"][0] == 0 and spec["shares"][0] == pytest.approx(0.7)
    assert sum(spec["shares"]) + spec["missing"] == pytest.approx(1)


def test_the_reference_survives_json_and_gives_the_same_table():
    frame, scores = _normal_book(4)
    frame.loc[::7, "amount"] = np.nan
    reference = training_reference(frame, scores, frame.columns)
    tonight, tonight_scores = _normal_book(5, shift=0.3)
    direct = population_stability(reference, tonight, tonight_scores)
    revived = population_stability(json.loads(json.dumps(reference)), tonight, tonight_scores)
    pd.testing.assert_frame_equal(direct, revived)


def test_features_unknown_to_the_reference_or_absent_tonight_are_reported():
    frame, scores = _normal_book(6)
    reference = training_reference(frame, scores, ["amount", "product"])
    tonight = frame.drop(columns="product").assign(new_feature=1.0)
    table = population_stability(reference, tonight, scores).set_index("name")
    assert table.loc["product", "status"] == "absent" and np.isnan(table.loc["product", "psi"])
    assert table.loc["new_feature", "status"] == "no reference"
    assert table.loc["has_phone", "status"] == "no reference"
    assert summarise_drift(table.reset_index()).unreferenced == ["product", "has_phone", "new_feature"]


def test_an_empty_night_is_reported_not_crashed_on():
    frame, scores = _normal_book(7)
    table = population_stability(training_reference(frame, scores, frame.columns), frame.head(0), [])
    assert (table["status"] == "no data").all() and table["psi"].isna().all()
    assert summarise_drift(table).worst is None and summarise_drift(table).status == "ok"


def test_the_score_is_its_own_row_and_a_score_shift_is_seen():
    frame, scores = _normal_book(8)
    reference = training_reference(frame, scores, frame.columns)
    table = population_stability(reference, frame, np.clip(scores + 0.25, 0, 1))
    assert table.iloc[0]["name"] == "p_pay" and table.iloc[0]["kind"] == "score"
    assert table.iloc[0]["status"] == "fail"
    assert (table.iloc[1:]["psi"] == 0).all()


def _table_with(score_psi: float, feature_psi: float) -> pd.DataFrame:
    def status(psi):
        return "fail" if psi >= 0.25 else "warn" if psi >= 0.1 else "ok"

    return pd.DataFrame(
        {
            "name": ["p_pay", "amount", "product"],
            "kind": ["score", "numeric", "categorical"],
            "psi": [score_psi, feature_psi, 0.01],
            "status": [status(score_psi), status(feature_psi), "ok"],
        }
    )


def test_only_the_score_stops_the_run_unless_any_feature_may():
    features_drifted = _table_with(score_psi=0.05, feature_psi=0.6)
    by_score = summarise_drift(features_drifted, "score")
    assert not by_score.stops_run and by_score.status == "warn"
    assert by_score.failed == {"amount": 0.6} and by_score.blocking == {}
    assert by_score.worst == ("amount", 0.6) and by_score.score_psi == 0.05
    assert summarise_drift(features_drifted, "any").stops_run

    score_drifted = summarise_drift(_table_with(score_psi=0.3, feature_psi=0.15), "score")
    assert score_drifted.stops_run and score_drifted.blocking == {"p_pay": 0.3}
    assert score_drifted.warned == {"amount": 0.15}

    assert summarise_drift(_table_with(0.02, 0.05), "any").status == "ok"
    with pytest.raises(ValueError, match="fail_on"):
        summarise_drift(features_drifted, "sometimes")


def test_the_warning_and_the_error_name_every_feature_and_its_psi():
    summary = summarise_drift(_table_with(score_psi=0.31, feature_psi=0.72), "score")
    warning = drift_warning(summary, 0.1, 0.25)
    assert "p_pay 0.310" in warning and "amount 0.720" in warning
    error = str(DriftError(summary, 0.25, "/runs/out/drift_failure/drift.csv"))
    assert "p_pay 0.310" in error and "also beyond it: amount 0.720" in error
    assert "nothing is published" in error and "/runs/out/drift_failure/drift.csv" in error
    assert drift_warning(summarise_drift(_table_with(0.01, 0.02)), 0.1, 0.25) is None


def test_a_long_list_names_the_ten_worst_and_counts_the_rest():
    table = pd.DataFrame(
        {
            "name": ["p_pay", *(f"f{i:02d}" for i in range(14))],
            "kind": ["score", *["numeric"] * 14],
            "psi": [0.4, *np.linspace(2.0, 0.6, 14)],
            "status": ["fail"] * 15,
        }
    )
    error = str(DriftError(summarise_drift(table, "any"), 0.25))
    assert "f00 2.000" in error and "f09 1.031" in error and "f10" not in error and "and 5 more" in error


def test_the_manifest_block_says_when_there_is_no_reference():
    block = drift_block(None, warn=0.1, fail=0.25, fail_on="score")
    assert block["status"] == "no reference" and "drift_reference.json" in block["detail"]
    assert block["thresholds"] == {"warn_psi": 0.1, "fail_psi": 0.25, "fail_on": "score"}
    summary = summarise_drift(_table_with(0.3, 0.12), "score")
    block = drift_block(summary, warn=0.1, fail=0.25, fail_on="score")
    json.dumps(block)
    assert (
        block["status"] == "fail" and block["stops_run"] and block["worst"] == {"name": "p_pay", "psi": 0.3}
    )


def test_empty_bins_give_finite_non_negative_terms():
    terms = psi_contributions([0.5, 0.5, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0])
    assert np.isfinite(terms).all() and (terms >= 0).all()
    assert terms[1] == 0 and terms[3] == 0


def test_the_thresholds_are_validated():
    assert MonitoringConfig().drift_fail_on == "score"
    with pytest.raises(ValidationError, match="below drift_warn_psi"):
        MonitoringConfig(drift_warn_psi=0.3, drift_fail_psi=0.2)
    with pytest.raises(ValidationError):
        MonitoringConfig(drift_fail_on="sometimes")
    with pytest.raises(ValueError, match="below the warn"):
        population_stability({"features": {}, "score": {}}, pd.DataFrame(), [], warn=0.3, fail=0.2)


finite_values = st.lists(
    st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.integers(0, 5).map(float), st.just(math.nan)),
    min_size=1,
    max_size=300,
)


@settings(deadline=None)  # pandas on a busy two-core machine
@given(values=finite_values, other=finite_values, bins=st.integers(2, 12))
def test_psi_is_zero_on_the_training_rows_and_never_negative(values, other, bins):
    train = pd.DataFrame({"x": values, "c": [str(int(v) % 3) if v == v else None for v in values]})
    scores = np.linspace(0, 1, len(values))
    reference = training_reference(train, scores, ["x", "c"], bins=bins)
    spec = reference["features"]["x"]
    assert spec["edges"] == sorted(set(spec["edges"]))
    assert sum(spec["shares"]) + spec["missing"] == pytest.approx(1)
    itself = population_stability(reference, train, scores)
    assert itself["psi"].abs().max() < 1e-12
    tonight = pd.DataFrame({"x": other, "c": [str(int(v) % 5) if v == v else None for v in other]})
    drifted = population_stability(reference, tonight, np.linspace(0, 1, len(other)))
    assert (drifted["psi"] >= 0).all()
    # Row order tonight is irrelevant.
    shuffled = population_stability(reference, tonight.iloc[::-1], np.linspace(0, 1, len(other))[::-1])
    assert np.allclose(drifted["psi"], shuffled["psi"])


def test_a_one_snapshot_reference_reports_score_drift_without_stopping_the_night():
    """A short history's test block is one month of a young book: drift against it is reported,
    and the night still publishes (monitoring.min_reference_snapshots)."""
    table = pd.DataFrame(
        {
            "name": ["p_pay", "days_past_due"],
            "kind": ["score", "numeric"],
            "psi": [0.35, 2.4],
            "status": ["fail", "fail"],
        }
    )
    summary = summarise_drift(table, "score")
    assert summary.stops_run
    weak = summary.with_weak_reference(snapshots=1, minimum=2)
    assert not weak.stops_run and weak.blocking == {"p_pay": 0.35}
    assert weak.status == "fail (weak reference: published)"
    assert "spans 1 snapshot day" in weak.as_dict()["downgraded"]
    assert summary.with_weak_reference(snapshots=4, minimum=2).stops_run
    assert summary.with_weak_reference(snapshots=None, minimum=2).stops_run  # older references
