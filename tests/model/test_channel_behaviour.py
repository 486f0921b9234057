"""Behaviour of the best-channel (contact-response) model and its IPW correction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_contracts.enums import CHANNELS, PROTECTED_ATTRIBUTES
from features.catalog import spec
from features.responses import NO_CONTACT
from models.channel import standardized_differences


@pytest.fixture(scope="module")
def test_rows(channel_outcome):
    _, split = channel_outcome
    return split["test"].reset_index(drop=True)


def test_it_learns_something_out_of_time(channel_outcome):
    outcome, _ = channel_outcome
    assert outcome.metrics["test_auc"] > 0.7
    assert 0 < outcome.metrics["effective_sample_size"] <= outcome.metrics["rows"]


def test_ipw_brings_contacted_and_uncontacted_rows_closer(channel_outcome):
    outcome, split = channel_outcome
    assert outcome.metrics["ipw_mean_abs_smd_after"] < outcome.metrics["ipw_mean_abs_smd_before"]
    train = split["train"]
    columns = ["days_past_due", "amount_overdue"]
    weights = outcome.model.policy_model_.weights(train, train["channel"])
    before = standardized_differences(train, train["channel"], None, columns)
    after = standardized_differences(train, train["channel"], weights, columns)
    assert after["smd"].abs().mean() < before["smd"].abs().mean()


@pytest.mark.parametrize("channel", CHANNELS)
def test_more_broken_promises_never_raise_the_response(channel_outcome, test_rows, channel):
    model = channel_outcome[0].model
    rows = test_rows.assign(channel=channel)
    base = model.predict_proba(rows)[:, 1]
    worse = model.predict_proba(rows.assign(n_promises_broken_180d=rows["n_promises_broken_180d"] + 2))[:, 1]
    assert (worse <= base + 1e-12).all()


def test_every_input_has_a_catalog_entry_and_shap_adds_up_to_the_margin(channel_outcome, test_rows):
    model = channel_outcome[0].model
    for name in model.feature_names_in_:
        assert spec(name).description  # KeyError for an uncatalogued input
    contributions, base = model.shap_values(test_rows.head(50))
    np.testing.assert_allclose(
        contributions.sum(axis=1) + base, model.decision_function(test_rows.head(50)), atol=1e-6
    )


def test_protected_attributes_are_not_inputs_and_cannot_change_a_score(channel_outcome, test_rows):
    model = channel_outcome[0].model
    assert not set(PROTECTED_ATTRIBUTES) & set(model.feature_names_in_)
    rows = test_rows.assign(gender="female", birth_year=1950)
    other = test_rows.assign(gender="male", birth_year=1990)
    np.testing.assert_array_equal(model.predict_proba(rows), model.predict_proba(other))


def test_uplift_is_the_contact_response_minus_the_self_cure_of_the_same_account(channel_outcome, test_rows):
    model = channel_outcome[0].model
    rows = test_rows.assign(channel="call")
    uplift = model.uplift(rows)
    np.testing.assert_allclose(uplift["uplift"], uplift["p_contact"] - uplift["p_self_cure"])
    np.testing.assert_allclose(
        uplift["p_self_cure"], model.predict_proba(rows.assign(channel=NO_CONTACT))[:, 1]
    )
    assert model.uplift(test_rows.assign(channel=NO_CONTACT))["uplift"].abs().max() == 0


def test_reach_is_a_probability_for_contacts_and_undefined_without_one(channel_outcome, test_rows):
    model = channel_outcome[0].model
    reach = model.predict_reach(
        pd.concat([test_rows.assign(channel="call"), test_rows.assign(channel=NO_CONTACT)])
    )
    n = len(test_rows)
    assert ((reach[:n] >= 0) & (reach[:n] <= 1)).all()
    assert np.isnan(reach[n:]).all()
