"""Behaviour of the trained propensity model: direction, invariance, explanations, quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from data_contracts.enums import PROTECTED_ATTRIBUTES
from data_contracts.outputs import AccountFeatures
from features.build import build_features
from features.catalog import FEATURE_NAMES
from models.propensity import PropensityModel
from tests.conftest import SMALL_BOOK_AS_OF


@pytest.fixture(scope="module")
def model(trained_outcome):
    return trained_outcome[0].model


@pytest.fixture(scope="module")
def test_rows(trained_outcome):
    return trained_outcome[1]["test"].head(400).reset_index(drop=True)


@pytest.mark.parametrize(
    ("feature", "direction"),
    [
        ("n_promises_broken_180d", -1),
        ("n_promises_kept_180d", +1),
        ("days_past_due", -1),
        ("on_time_share", +1),
    ],
)
def test_policy_directions_hold_for_every_account(model, test_rows, feature, direction):
    before = model.predict_proba(test_rows)[:, 1]
    step = 0.25 if feature == "on_time_share" else 3.0
    changed = test_rows.copy()
    changed[feature] = changed[feature].fillna(0.0) + step
    if feature == "on_time_share":
        changed[feature] = changed[feature].clip(upper=1.0)
        before = model.predict_proba(test_rows.assign(on_time_share=test_rows[feature].fillna(0.0)))[:, 1]
    after = model.predict_proba(changed)[:, 1]
    assert np.all(direction * (after - before) >= -1e-12)


def test_protected_attributes_cannot_change_a_score(model, small_tables):
    borrowers = small_tables["borrowers"]
    rng = np.random.default_rng(0)
    shuffled = borrowers.assign(
        gender=rng.permutation(borrowers["gender"].to_numpy()),
        birth_year=pd.array(rng.integers(1940, 2005, len(borrowers)), dtype="Int64"),
    )
    base = build_features(small_tables, SMALL_BOOK_AS_OF)
    other = build_features({**small_tables, "borrowers": shuffled}, SMALL_BOOK_AS_OF)
    np.testing.assert_array_equal(model.predict_proba(base), model.predict_proba(other))


def test_no_protected_attribute_is_a_model_input(model, trained_outcome):
    inputs = set(model.feature_names_in_)
    dropped = trained_outcome[0].data_summary["model_inputs"]["dropped"]
    assert inputs | set(dropped) == set(FEATURE_NAMES) and not inputs & set(dropped)
    assert not inputs & set(PROTECTED_ATTRIBUTES)
    assert not inputs & {"region", "timezone", "preferred_language", "branch_id"}
    contract = set(AccountFeatures.to_schema().columns) - {"loan_id", "borrower_id", "as_of"}
    assert contract == set(FEATURE_NAMES)


def test_shap_contributions_add_up_to_the_margin(model, test_rows):
    contributions, base = model.shap_values(test_rows)
    assert list(contributions.columns) == list(model.feature_names_in_)
    np.testing.assert_allclose(
        contributions.sum(axis=1) + base, model.decision_function(test_rows), atol=1e-6
    )


def test_calibrated_probabilities_keep_the_ranking(model, test_rows):
    margin = model.decision_function(test_rows)
    p = model.predict_proba(test_rows)[:, 1]
    order = np.argsort(margin)
    assert np.all(np.diff(p[order]) >= -1e-12)
    assert ((p > 0) & (p < 1)).all()


def test_model_beats_the_days_past_due_heuristic_out_of_time(trained_outcome):
    metrics = trained_outcome[0].metrics
    assert metrics["test_auc"] > metrics["test_heuristic_dpd_auc"] + 0.03
    assert metrics["test_auc"] > 0.7


def test_model_beats_a_plain_lightgbm_on_the_same_blocks_and_the_gate_sees_it(trained_outcome):
    """The baseline is fitted with every model: LightGBM's defaults, no constraints, the same
    inputs; its test-block predictions travel in the gate's evidence."""
    from models.gate import PLAIN_LIGHTGBM_COLUMN, baseline_evidence, with_baseline_columns

    outcome, split = trained_outcome
    metrics = outcome.metrics
    assert 0.6 < metrics["test_plain_lightgbm_auc"] < metrics["test_auc"]
    assert 0.6 < metrics["valid_plain_lightgbm_auc"] < metrics["valid_auc"]
    scores = outcome.baseline_scores
    assert list(scores.columns) == [PLAIN_LIGHTGBM_COLUMN] and scores.index.equals(split["test"].index)
    evidence = baseline_evidence(with_baseline_columns(split["test"], scores), metrics["test_auc"])
    assert evidence["auc_over_plain_lightgbm"] == pytest.approx(
        metrics["test_auc"] - metrics["test_plain_lightgbm_auc"]
    )
    assert evidence["auc_over_dpd_heuristic"] > 0.03


def test_the_monotone_constraints_are_kept_unless_the_validation_block_prefers_none(trained_outcome):
    """On the small book the booster with and without the constraints tie on validation: a tie
    keeps them (the policy directions above hold because of it)."""
    outcome = trained_outcome[0]
    choice = outcome.data_summary["monotone_constraints"]
    assert outcome.params["monotone_constraints"] == choice["choice"] == "kept"
    assert type(outcome.model) is PropensityModel
    assert choice["valid_auc_constrained"] >= choice["valid_auc_unconstrained"] - 1e-6
    assert outcome.metrics["valid_auc"] == pytest.approx(outcome.metrics["valid_auc_constrained"])


def test_same_seed_same_model(trained_outcome):
    outcome, split = trained_outcome
    params = outcome.model.get_params()
    again = (
        clone(outcome.model)
        .set_params(**params)
        .fit(split["train"], split["train"]["label"], eval_set=(split["valid"], split["valid"]["label"]))
    )
    rows = split["test"].head(200)
    np.testing.assert_array_equal(again.predict_proba(rows), outcome.model.predict_proba(rows))


def test_follows_scikit_learn_conventions(trained_outcome):
    unfitted = PropensityModel(params={"n_estimators": 5})
    assert not [k for k in vars(unfitted) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        unfitted.predict_proba(trained_outcome[1]["test"].head(2))
    train = trained_outcome[1]["train"].head(500)
    assert unfitted.fit(train, train["label"]) is unfitted


def test_unknown_category_at_scoring_time_is_treated_as_missing(model, test_rows):
    rows = test_rows.head(5).assign(product="brand_new_product")
    p = model.predict_proba(rows)[:, 1]
    assert np.isfinite(p).all()


def test_empty_input_scores_and_explains_nothing_without_error(model, test_rows):
    empty = test_rows.iloc[:0]
    assert model.predict_proba(empty).shape == (0, 2)
    contributions, _ = model.shap_values(empty)
    assert contributions.empty and list(contributions.columns) == list(model.feature_names_in_)


def test_a_fixed_seed_reproduces_the_model_and_another_seed_does_not(trained_outcome):
    """Training twice with the same seed on the same rows gives the same predictions (the
    registry's versions can be rebuilt); the seed is not ignored (subsampling depends on it)."""
    from models.training import train_propensity
    from recover.config import load_config

    split = trained_outcome[1]
    params = {**load_config().training.lightgbm.model_dump(), "n_estimators": 40, "min_child_samples": 40}
    rows = split["test"].head(300)
    first = train_propensity(split, params, random_state=5).model.predict_proba(rows)[:, 1]
    again = train_propensity(split, params, random_state=5).model.predict_proba(rows)[:, 1]
    other = train_propensity(split, params, random_state=6).model.predict_proba(rows)[:, 1]
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-6


SMALL_PARAMS = {"n_estimators": 60, "min_child_samples": 40, "early_stopping_rounds": 20, "n_jobs": 2}


def test_features_constant_or_missing_on_the_train_block_are_not_inputs_nor_reasons(model, trained_outcome):
    """A feature that holds one value (or none) on the train block carries no information: it is
    dropped, listed, and never a model input, a SHAP column or a reason; scoring and explaining
    still work. The two taken here are among the commonest reasons of the model that has them."""
    from models.training import train_propensity
    from review.explain import explain_account
    from scoring.reasons import top_reasons

    split = dict(trained_outcome[1])
    split["train"] = split["train"].assign(paid_share=1.0, days_since_last_payment=np.nan)
    outcome = train_propensity(split, SMALL_PARAMS, random_state=3)
    gone = {"paid_share", "days_since_last_payment"}
    assert outcome.data_summary["model_inputs"]["dropped"] == {
        "paid_share": "constant (1.0)",
        "days_since_last_payment": "all missing",
    }
    assert "paid_share (constant (1.0))" in outcome.params["dropped_features"]
    dropped_model = outcome.model
    assert not gone & set(dropped_model.feature_names_in_)
    assert set(dropped_model.feature_names_in_) | gone == set(FEATURE_NAMES)
    # The test block still varies on them: scoring ignores them, explanations never name them.
    rows = split["test"].head(300)
    assert rows["paid_share"].nunique() > 1
    assert np.isfinite(dropped_model.predict_proba(rows)[:, 1]).all()
    phrases = r"^Has paid \d+% of what fell due|^Last payment \d+ days ago|^No payment on record"
    for fitted, named in ((model, True), (dropped_model, False)):
        contributions, _ = fitted.shap_values(rows)
        assert bool(gone & set(contributions.columns)) is named
        reasons = top_reasons(rows, contributions, n=3).stack()
        assert bool(reasons.str.contains(phrases).any()) is named
    explained = explain_account(rows, rows["loan_id"].iloc[0], dropped_model)
    assert not gone & set(explained.contributions["feature"])


def _no_signal_split(split, seed: int = 0):
    """The small book's blocks with each block's labels shuffled: no feature carries signal."""
    rng = np.random.default_rng(seed)
    return {
        name: block.assign(label=rng.permutation(block["label"].to_numpy())) for name, block in split.items()
    }


def test_on_a_book_without_signal_the_model_does_not_beat_the_plain_baseline_by_much(trained_outcome):
    from models.training import train_propensity

    metrics = train_propensity(_no_signal_split(trained_outcome[1]), SMALL_PARAMS, random_state=3).metrics
    assert abs(metrics["test_auc"] - 0.5) < 0.05
    assert abs(metrics["test_auc"] - metrics["test_plain_lightgbm_auc"]) < 0.03
    assert abs(metrics["test_auc"] - metrics["test_heuristic_dpd_auc"]) < 0.05


def test_on_a_book_where_only_days_past_due_speaks_the_gate_refuses_the_model(trained_outcome):
    """Labels drawn from days past due alone: the heuristic ranks by the very rule that made
    them, the model can only approximate it, and the gate refuses it for that, even against a
    champion it equals on every other metric."""
    from models.gate import promotion_gate, propensity_evidence, with_baseline_columns
    from models.training import train_propensity
    from pipelines.promotion import gate_rules
    from recover.config import load_config

    rng = np.random.default_rng(0)

    def from_days_past_due(block):
        p = 1 / (1 + np.exp((block["days_past_due"].to_numpy() - 40) / 15))
        return block.assign(label=(rng.random(len(block)) < p).astype(int))

    split = {name: from_days_past_due(block) for name, block in trained_outcome[1].items()}
    outcome = train_propensity(split, SMALL_PARAMS, random_state=3)
    assert outcome.metrics["test_auc"] < outcome.metrics["test_heuristic_dpd_auc"]
    block = with_baseline_columns(split["test"], outcome.baseline_scores).assign(group_gender="x")
    evidence = propensity_evidence(
        outcome.model, block, capacity=20, attributes=["gender"], min_group_size=30
    )
    result = promotion_gate(evidence, evidence, gate_rules(load_config()))
    assert not result.passed
    assert result.table.set_index("metric").loc["auc_over_dpd_heuristic", "passed"] == False  # noqa: E712
    assert "days-past-due heuristic" in result.verdict
    first = promotion_gate(evidence, None, gate_rules(load_config()))
    assert first.passed and "does not beat the days-past-due heuristic" in first.verdict
    assert first.warnings
