"""The fair-practice review's pure parts: groups, disparities, proxies, group performance."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from models.performance import expected_calibration_error, group_performance
from review.disparity import disparity_table
from review.groups import age_band, protected_groups
from review.proxies import proxy_check
from review.report import json_safe, reason_codes, reason_coverage

AS_OF = dt.date(2026, 6, 1)
EDGES = [18, 25, 35, 45, 55, 65]


@pytest.mark.parametrize(
    ("birth_year", "band"),
    [
        (2008, "18-24"),
        (2002, "18-24"),
        (2001, "25-34"),
        (1961, "65+"),
        (1962, "55-64"),
        (2010, "unknown"),
        (None, "unknown"),
    ],
)
def test_age_band_on_the_as_of_date(birth_year, band):
    years = pd.Series([birth_year], dtype="Int64")
    assert age_band(years, AS_OF, EDGES).tolist() == [band]


def test_protected_groups_fill_unknowns_and_keep_the_index():
    borrowers = pd.DataFrame(
        {
            "borrower_id": ["B1", "B2"],
            "gender": ["female", None],
            "birth_year": [1980, None],
            "region": ["west", "east"],
        }
    )
    loans = pd.DataFrame({"loan_id": ["L1", "L2"], "borrower_id": ["B1", "B2"]}, index=[10, 11])
    groups = protected_groups(loans, borrowers.astype({"birth_year": "Int64"}), AS_OF, EDGES)
    assert groups.loc[10].tolist() == ["L1", "female", "45-54", "west"]
    assert groups.loc[11].tolist() == ["L2", "unknown", "unknown", "east"]


def _outcomes(queued_a: list[int], queued_b: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_a, n_b = len(queued_a), len(queued_b)
    queued = np.array(queued_a + queued_b, dtype=bool)
    outcomes = pd.DataFrame(
        {
            "queued": queued,
            "field_visit": np.zeros(n_a + n_b, dtype=bool),
            "contacts_30d": np.ones(n_a + n_b),
            "suppressed": ~queued,
            "p_pay": np.full(n_a + n_b, 0.4),
        }
    )
    groups = pd.DataFrame({"gender": ["a"] * n_a + ["b"] * n_b})
    return outcomes, groups


def _row(table: pd.DataFrame, metric: str, group: str) -> pd.Series:
    return table[(table["metric"] == metric) & (table["group"] == group)].iloc[0]


def test_a_material_and_significant_disparity_is_flagged():
    outcomes, groups = _outcomes([1] * 80 + [0] * 20, [1] * 40 + [0] * 60)  # 80% vs 40% queued
    table = disparity_table(outcomes, groups, ["gender"])
    row = _row(table, "queued", "b")
    assert row["reference_group"] == "a" and row["ratio_to_reference"] == pytest.approx(0.5)
    assert row["outside_bounds"] and row["p_value"] < 0.001 and row["flagged"]
    assert not _row(table, "queued", "a")["flagged"]  # the reference itself
    assert not _row(table, "p_pay", "b")["flagged"]  # equal means: ratio 1
    assert np.isnan(_row(table, "field_visit", "b")["ratio_to_reference"])  # reference rate 0


def test_a_ratio_outside_the_bounds_that_chance_explains_is_not_flagged():
    # 2 of 200 vs 1 of 150 field visits: ratio 0.67, but a handful of events.
    outcomes, groups = _outcomes([0] * 200, [0] * 150)
    outcomes.loc[[0, 1, 200], "field_visit"] = True
    row = _row(disparity_table(outcomes, groups, ["gender"]), "field_visit", "b")
    assert row["outside_bounds"] and row["p_value"] > 0.05 and not row["flagged"]


def test_a_small_group_is_reported_but_never_flagged():
    outcomes, groups = _outcomes([1] * 100, [0] * 10)
    row = _row(disparity_table(outcomes, groups, ["gender"], min_group_size=30), "queued", "b")
    assert row["loans"] == 10 and row["outside_bounds"] and not row["flagged"]


def test_proxy_check_finds_a_feature_that_encodes_the_attribute():
    rng = np.random.default_rng(0)
    n = 600
    attribute = np.where(rng.random(n) < 0.5, "x", "y")
    features = pd.DataFrame(
        {
            "noise": rng.normal(size=n),
            "leaky": (attribute == "x") * 1.0 + rng.normal(scale=0.1, size=n),
            "category": pd.Series(rng.choice(["p", "q"], size=n), dtype="str"),
        }
    )
    report = proxy_check(features, pd.DataFrame({"gender": attribute}), ["gender"], mi_threshold=0.05)
    assert report["gender"]["strong_proxies"] == ["leaky"]
    assert report["gender"]["predictability_auc"] > 0.95 and report["gender"]["predictable"]
    blind = proxy_check(features[["noise", "category"]], pd.DataFrame({"gender": attribute}), ["gender"])
    assert blind["gender"]["strong_proxies"] == [] and blind["gender"]["predictability_auc"] < 0.6


def test_group_performance_and_calibration_error():
    y = np.array([0, 0, 1, 1] * 25)
    perfect = y.astype(float)
    groups = pd.DataFrame({"gender": ["a"] * 50 + ["b"] * 50})
    table = group_performance(y, perfect, groups, ["gender"], min_group_size=10)
    assert table["auc"].tolist() == [1.0, 1.0] and table["calibration_error"].tolist() == [0.0, 0.0]
    assert expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.0
    assert expected_calibration_error([1, 1], [0.2, 0.2]) == pytest.approx(0.8)


def test_reason_codes_count_top_features_with_direction():
    contributions = pd.DataFrame({"a": [2.0, -3.0], "b": [1.0, 0.1], "c": [-0.5, 0.2]})
    codes = reason_codes(contributions, n=1).set_index("reason_code")
    assert codes.loc["a:raises", "loans"] == 1 and codes.loc["a:lowers", "loans"] == 1
    assert codes["share"].sum() == 1.0


def test_reason_coverage_counts_only_complete_rows():
    queue = pd.DataFrame(
        {
            **{f"reason_{k}": ["x", "y"] for k in (1, 2, 3)},
            "channel_reason_1": ["x", None],
            "channel_reason_2": ["x", "y"],
            "channel_reason_3": ["x", ""],
        }
    )
    assert reason_coverage(queue).model_dump() == {
        "queued_rows": 2,
        "share_with_three_reasons": 1.0,
        "share_with_three_channel_reasons": 0.5,
    }


def test_json_safe_makes_strict_json():
    document = json_safe({"a": float("nan"), "b": [np.float64(1.5), np.int64(2)], "c": (np.inf,)})
    assert json.loads(json.dumps(document, allow_nan=False)) == {"a": None, "b": [1.5, 2], "c": [None]}


def _review_inputs(loans: int) -> dict:
    from features.catalog import FEATURE_NAMES
    from review.report import ReviewRun, global_importance

    rng = np.random.default_rng(3)
    contributions = pd.DataFrame(rng.normal(size=(loans, 4)), columns=FEATURE_NAMES[:4])
    queue = pd.DataFrame(
        {
            **{f"reason_{k}": ["x"] * loans for k in (1, 2, 3)},
            **{f"channel_reason_{k}": (["x", None] * loans)[:loans] for k in (1, 2, 3)},
        }
    )
    outcomes, groups = _outcomes([1] * 30 + [0] * 10, [1] * 10 + [0] * 30)
    disparity = disparity_table(outcomes, groups, ["gender"])  # flagged rows, NaN ratios
    suppressed = pd.DataFrame(
        {
            "loan_id": ["L1", "L1", "L2"],
            "policy": ["default"] * 3,
            "policy_version": ["v1"] * 3,
            "reason": ["cap", "dnc", "cap"],
            "rule_id": ["r1", "r2", "r1"],
        }
    )
    return {
        "run": ReviewRun(
            run_id="r1", as_of="2026-06-01", model="p/2", channel_model="c/1", overdue=80, queued=loans
        ),
        "queue": queue,
        "importance": global_importance(contributions),
        "codes": reason_codes(contributions),
        "p_pay": pd.Series(rng.random(loans)),
        "priority": pd.Series([np.nan] * loans),  # no value: only its count
        "disparity": disparity,
        "training": {
            "performance_by_group": [{"group": "a", "auc": np.float64(0.7), "calibration_error": np.nan}],
            "proxy_check": {
                "gender": {"strong_proxies": [], "predictability_auc": 0.55, "predictable": False}
            },
        },
        "suppressed": suppressed,
        "dispositions": pd.DataFrame({"disposition": ["queued", "suppressed", "queued"]}),
        "packs": {"default": "v1"},
        "settings": {"attributes": ["gender"], "disparity_bounds": (0.8, 1.25), "min_group_size": 30},
    }


def _legacy_review_json(given: dict) -> dict:
    """review.json as review_document built it as a plain dict (the public format to keep)."""
    from review.disparity import DECISION_METRICS

    by_reason = (
        given["suppressed"]
        .groupby(["policy", "policy_version", "reason", "rule_id"], observed=True)
        .size()
        .rename("suppressions")
        .reset_index()
        .sort_values("suppressions", ascending=False, kind="stable")
    )
    disparity, p_pay = given["disparity"], given["p_pay"]
    quantiles = p_pay.quantile([0.1, 0.25, 0.5, 0.75, 0.9])
    return json_safe(
        {
            "run": given["run"].model_dump(),
            "settings": dict(given["settings"]),
            "explanations": {
                **reason_coverage(given["queue"]).model_dump(),
                "global_importance": given["importance"].head(15).to_dict("records"),
                "top_reason_codes": given["codes"].head(15).to_dict("records"),
            },
            "distributions": {
                "p_pay": {
                    "count": len(p_pay),
                    "mean": float(p_pay.mean()),
                    **{f"p{int(q * 100)}": float(v) for q, v in quantiles.items()},
                },
                "priority_score": {"count": 0},
            },
            "disparities": {
                "metrics": DECISION_METRICS,
                "table": disparity.to_dict("records"),
                "flagged": disparity[disparity["flagged"]].to_dict("records"),
            },
            "at_training": given["training"],
            "compliance": {
                "rule_packs": given["packs"],
                "suppressions": len(given["suppressed"]),
                "suppressed_loans": 2,
                "suppressions_by_reason": by_reason.to_dict("records"),
                "dispositions": {"queued": 2, "suppressed": 1},
            },
        }
    )


def test_review_json_keeps_its_keys_order_and_values():
    from review.report import compliance_summary, render_html, review_document

    given = _review_inputs(loans=6)
    document = review_document(
        run=given["run"],
        coverage=reason_coverage(given["queue"]),
        importance=given["importance"],
        codes=given["codes"],
        p_pay=given["p_pay"],
        priority=given["priority"],
        disparity=given["disparity"],
        training=given["training"],
        compliance=compliance_summary(given["suppressed"], given["dispositions"], given["packs"]),
        settings=given["settings"],
    )
    written = document.to_json_dict()
    assert list(written) == [
        "run",
        "settings",
        "explanations",
        "distributions",
        "disparities",
        "at_training",
        "compliance",
    ]
    assert list(written["explanations"]) == [
        "queued_rows",
        "share_with_three_reasons",
        "share_with_three_channel_reasons",
        "global_importance",
        "top_reason_codes",
    ]
    assert list(written["distributions"]["p_pay"]) == ["count", "mean", "p10", "p25", "p50", "p75", "p90"]
    assert written["distributions"]["priority_score"] == {"count": 0}
    assert list(written["disparities"]) == ["metrics", "table", "flagged"]
    assert list(written["disparities"]["table"][0]) == [
        "attribute",
        "group",
        "loans",
        "metric",
        "value",
        "reference_group",
        "ratio_to_reference",
        "p_value",
        "p_adjusted",
        "outside_bounds",
        "flagged",
    ]
    assert len(written["disparities"]["flagged"]) == 2  # queued and suppressed, for group b
    assert list(written["compliance"]) == [
        "rule_packs",
        "suppressions",
        "suppressed_loans",
        "suppressions_by_reason",
        "dispositions",
    ]
    # Byte for byte what the plain-dict document wrote, and strict JSON (no NaN).
    text = json.dumps(written, indent=2, allow_nan=False)
    assert text == json.dumps(_legacy_review_json(given), indent=2)
    page = render_html(document, {})
    assert "<span class='bad'>2</span>" in page and "default v1 · 3 suppressions on 2 loans" in page


def test_group_means_equal_fairlearns_metric_frame_by_group():
    # The review computes its group means with one group-by (scale, issue 26); fairlearn's
    # MetricFrame is the reference they must equal, missing values and an all-missing group included.
    from fairlearn.metrics import MetricFrame

    from review.disparity import group_means

    rng = np.random.default_rng(3)
    n = 2_000
    values = pd.Series(np.where(rng.random(n) < 0.1, np.nan, rng.random(n)))
    sensitive = pd.Series(rng.choice(["f", "m", "unknown", "x"], n, p=[0.5, 0.45, 0.04, 0.01]))
    values[sensitive == "x"] = np.nan

    def mean_of_truth(y_true, y_pred):
        present = np.asarray(y_true, dtype="float64")
        return float(np.nanmean(present)) if not np.isnan(present).all() else float("nan")

    reference = MetricFrame(
        metrics=mean_of_truth,
        y_true=values.to_numpy(),
        y_pred=np.zeros(n),
        sensitive_features=sensitive.to_numpy(),
    ).by_group
    ours = group_means(values, sensitive)
    assert list(ours.index) == [str(group) for group in reference.index]
    np.testing.assert_allclose(ours.to_numpy(), reference.to_numpy(dtype="float64"), rtol=1e-12)
    assert np.isnan(ours["x"])


def test_the_review_beeswarm_draws_a_seeded_sample_of_a_large_night(monkeypatch):
    import shap

    from review import figures as review_figures_module

    drawn: list[int] = []
    real = shap.plots.beeswarm

    def counting(explanation, **kwargs):
        drawn.append(len(explanation.values))
        return real(explanation, **kwargs)

    monkeypatch.setattr(shap.plots, "beeswarm", counting)
    rng = np.random.default_rng(1)
    rows = review_figures_module.BEESWARM_ROWS + 700
    features = pd.DataFrame({"days_past_due": rng.integers(1, 90, rows), "amount_overdue": rng.random(rows)})
    contributions = pd.DataFrame(rng.normal(size=(rows, 2)), columns=list(features.columns))
    p_pay = pd.Series(rng.random(rows))
    figures = review_figures_module.review_figures(features, contributions, p_pay, p_pay)
    assert drawn == [review_figures_module.BEESWARM_ROWS]
    assert set(figures) == {"importance", "beeswarm", "p_pay", "priority"}
    assert all(png.startswith(b"\x89PNG") for png in figures.values())
    small = review_figures_module.review_figures(features.head(50), contributions.head(50), p_pay, p_pay)
    assert drawn[-1] == 50 and small["beeswarm"].startswith(b"\x89PNG")
