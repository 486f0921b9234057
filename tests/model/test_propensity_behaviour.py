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


def test_no_protected_attribute_is_a_model_input(model):
    inputs = set(model.feature_names_in_)
    assert inputs == set(FEATURE_NAMES)
    assert not inputs & set(PROTECTED_ATTRIBUTES)
    assert not inputs & {"region", "timezone", "preferred_language", "branch_id"}
    contract = set(AccountFeatures.to_schema().columns) - {"loan_id", "borrower_id", "as_of"}
    assert contract == set(FEATURE_NAMES)


def test_shap_contributions_add_up_to_the_margin(model, test_rows):
    contributions, base = model.shap_values(test_rows)
    assert list(contributions.columns) == list(FEATURE_NAMES)
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
    assert contributions.empty and list(contributions.columns) == list(FEATURE_NAMES)


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
