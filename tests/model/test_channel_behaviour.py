"""Behaviour of the best-channel (contact-response) model and its IPW correction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_contracts.enums import CHANNELS, PROTECTED_ATTRIBUTES
from features.catalog import spec
from features.responses import NO_CONTACT, sampled_rows
from models.channel import standardized_differences

pytestmark = pytest.mark.slow


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
    train = sampled_rows(split["train"])
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
    for channel in CHANNELS:
        np.testing.assert_array_equal(
            model.uplift(rows.assign(channel=channel)).to_numpy(),
            model.uplift(other.assign(channel=channel)).to_numpy(),
        )


@pytest.mark.parametrize("channel", CHANNELS)
def test_uplift_is_the_funnel_reach_times_what_getting_through_adds(channel_outcome, test_rows, channel):
    model = channel_outcome[0].model
    rows = test_rows.assign(channel=channel)
    uplift = model.uplift(rows)
    np.testing.assert_allclose(uplift["uplift"], uplift["p_contact"] - uplift["p_self_cure"])
    np.testing.assert_allclose(
        uplift["p_self_cure"], model.predict_proba(rows.assign(channel=NO_CONTACT))[:, 1]
    )
    np.testing.assert_allclose(uplift["p_reach"], model.predict_reach(rows))
    reached, unreached = model.response_model_.contrast(rows)
    np.testing.assert_allclose(uplift["p_if_reached"], reached)
    np.testing.assert_allclose(uplift["p_if_not_reached"], unreached)
    unclipped = uplift["p_self_cure"] + uplift["p_reach"] * (reached - unreached) <= 1.0
    np.testing.assert_allclose(
        uplift.loc[unclipped, "uplift"], (uplift["p_reach"] * (reached - unreached))[unclipped], atol=1e-12
    )
    # Getting through never lowers the chance of payment (monotone arm), so no contact is harmful.
    assert (reached >= unreached - 1e-12).all()
    assert (uplift["uplift"] >= -1e-12).all()


def test_no_contact_has_no_uplift_and_no_funnel(channel_outcome, test_rows):
    uplift = channel_outcome[0].model.uplift(test_rows.assign(channel=NO_CONTACT))
    assert uplift["uplift"].abs().max() == 0
    assert uplift[["p_reach", "p_if_reached", "p_if_not_reached"]].isna().all(axis=None)


def test_a_borrower_usually_reached_is_predicted_easier_to_reach(channel_outcome, test_rows):
    """Directional: the reach history is the measure of reachability the funnel rests on."""
    model = channel_outcome[0].model
    rows = test_rows.assign(channel="call", channel_attempts_180d=4.0, channel_reached_attempts_180d=3.0)
    often = model.predict_reach(rows.assign(channel_reached_share_180d=0.75))
    rarely = model.predict_reach(
        rows.assign(channel_reached_share_180d=0.0, channel_reached_attempts_180d=0.0)
    )
    assert often.mean() > rarely.mean() + 0.05


def test_the_response_when_reached_model_learns_from_attempts_only(channel_outcome, test_rows):
    from models.channel import ResponseWhenReachedModel

    with pytest.raises(ValueError, match="attempts only"):
        ResponseWhenReachedModel().fit(
            test_rows.assign(channel=NO_CONTACT, reached=False), test_rows["label"]
        )


def test_attempts_between_sampled_days_teach_the_funnel_and_never_the_self_cure_baseline(channel_outcome):
    """Attempt-only rows (days between sampled response days) have no uncontacted rows beside
    them: they must not reach the old-policy model or the self-cure S-learner. Flipping their
    labels leaves p_self_cure untouched and moves the response when reached."""
    from models.channel import ChannelResponseModel

    _, split = channel_outcome
    train, valid = split["train"], split["valid"]
    between = ~train["sampled_day"].to_numpy()
    assert between.any() and (train.loc[between, "channel"] != NO_CONTACT).all()
    params = {"n_estimators": 30, "min_child_samples": 40}
    flipped = train.assign(label=np.where(between, 1 - train["label"], train["label"]))
    fits = [
        ChannelResponseModel(params=params, random_state=3).fit(
            rows, rows["label"], eval_set=(valid, valid["label"])
        )
        for rows in (train, flipped)
    ]
    rows = sampled_rows(split["test"])
    rows = rows[rows["channel"] != NO_CONTACT].head(300)
    same, moved = (fit.uplift(rows) for fit in fits)
    np.testing.assert_array_equal(same["p_self_cure"], moved["p_self_cure"])
    assert fits[0].training_weights_["rows"] == len(sampled_rows(train))
    assert np.abs(same["p_if_reached"] - moved["p_if_reached"]).mean() > 0.01


def test_paying_after_past_contacts_that_got_through_raises_the_response_when_reached(channel_outcome):
    """Directional: the borrower's own record of paying after reached attempts is the trace of
    how much a contact moves them; on average over the test attempts it must raise the predicted
    response when the next attempt gets through."""
    model, split = channel_outcome[0].model, channel_outcome[1]
    attempts = split["test"][split["test"]["channel"] != NO_CONTACT]
    low = attempts.assign(channel_paid_after_reached_share_180d=0.0, channel_reached_attempts_180d=3.0)
    high = attempts.assign(channel_paid_after_reached_share_180d=1.0, channel_reached_attempts_180d=3.0)
    p_low = model.response_model_.predict_proba(low.assign(reached=True))[:, 1]
    p_high = model.response_model_.predict_proba(high.assign(reached=True))[:, 1]
    assert p_high.mean() > p_low.mean()


def test_every_response_model_input_has_a_catalog_entry(channel_outcome):
    for name in channel_outcome[0].model.response_model_.feature_names_in_:
        assert spec(name).description


def test_reach_is_a_probability_for_contacts_and_undefined_without_one(channel_outcome, test_rows):
    model = channel_outcome[0].model
    reach = model.predict_reach(
        pd.concat([test_rows.assign(channel="call"), test_rows.assign(channel=NO_CONTACT)])
    )
    n = len(test_rows)
    assert ((reach[:n] >= 0) & (reach[:n] <= 1)).all()
    assert np.isnan(reach[n:]).all()


@pytest.mark.parametrize("channel", CHANNELS)
def test_where_the_old_policy_gave_no_overlap_the_effect_is_the_stated_prior(
    channel_outcome, test_rows, channel
):
    from sklearn.base import clone

    from models.identification import prior_effect
    from recover.config import ChannelModelConfig

    learnt_model = channel_outcome[0].model
    prior = ChannelModelConfig().prior_lift
    model = clone(learnt_model).set_params(prior_lift=prior)
    model.__dict__.update({k: v for k, v in learnt_model.__dict__.items() if k.endswith("_")})
    rows = test_rows.assign(channel=channel)
    learnt, shrunk = learnt_model.uplift(rows), model.uplift(rows)
    weight = shrunk["overlap_weight"].to_numpy()
    assert ((weight >= 0) & (weight <= 1)).all()
    expected = weight * learnt["uplift"] + (1 - weight) * prior_effect(
        rows["channel"], learnt["p_self_cure"], prior
    )
    unclipped = (shrunk["p_contact"] > 0) & (shrunk["p_contact"] < 1)
    np.testing.assert_allclose(shrunk.loc[unclipped, "uplift"], expected[unclipped], atol=1e-9)
    np.testing.assert_allclose(
        shrunk.loc[weight == 1, "uplift"], learnt.loc[weight == 1, "uplift"], atol=1e-9
    )


def test_the_identification_table_covers_every_channel_the_history_used(channel_outcome):
    model, split = channel_outcome[0].model, channel_outcome[1]
    table = model.identification_
    used = set(split["train"]["channel"]) - {NO_CONTACT}
    assert used <= set(table["channel"])
    assert table["identified"].any()
    # A cell with no attempt through the channel is never called identified.
    assert not table.loc[table["attempts"] == 0, "identified"].any()


def _queue_of(test_rows, model, size: int) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """``size`` queued loans of the test block (account features, a recommended channel), their
    runner-up channels and the channel history the night would read."""
    from features.responses import CHANNEL_FEATURES

    accounts = test_rows.drop_duplicates("loan_id").head(size).reset_index(drop=True)
    inputs = [
        name
        for name in model.response_model_.feature_names_in_
        if name in accounts and name not in {*CHANNEL_FEATURES, "channel", "reached"}
    ]
    queued = accounts[["loan_id", *inputs]].assign(
        recommended_channel=[CHANNELS[k % len(CHANNELS)] for k in range(len(accounts))],
        incremental_value=np.linspace(-5.0, 50.0, len(accounts)),
    )
    runner_up = pd.Series(
        [NO_CONTACT if k % 2 else CHANNELS[(k + 1) % len(CHANNELS)] for k in range(len(accounts))],
        index=queued["loan_id"],
    )
    tried = test_rows[test_rows["channel"] != NO_CONTACT]
    history = tried.drop_duplicates(["loan_id", "channel"])[["loan_id", "channel", *CHANNEL_FEATURES]]
    return queued, runner_up, history


def test_exploration_rows_cost_no_treeshap_and_the_others_keep_their_reasons(
    channel_outcome, test_rows, monkeypatch
):
    from scoring.choice import explain_channels
    from scoring.reasons import exploration_channel_reasons

    model = channel_outcome[0].model
    queued, runner_up, history = _queue_of(test_rows, model, 30)
    explored = np.arange(len(queued)) % 3 == 0
    unexplored_reasons = explain_channels(queued.assign(exploration=False), runner_up, history, model)

    explained_rows: list[int] = []
    shap_values = model.response_model_.shap_values

    def recording(rows):
        explained_rows.append(len(rows))
        return shap_values(rows)

    monkeypatch.setattr(model.response_model_, "shap_values", recording)
    reasons = explain_channels(queued.assign(exploration=explored), runner_up, history, model)
    assert explained_rows == [2 * int((~explored).sum())]  # the chosen and the rival option each
    pd.testing.assert_frame_equal(reasons[~explored], unexplored_reasons[~explored])
    random_draws = exploration_channel_reasons(
        queued.loc[explored, "recommended_channel"], queued.loc[explored, "incremental_value"]
    )
    pd.testing.assert_frame_equal(reasons.loc[explored, random_draws.columns], random_draws)
    assert (reasons["runner_up_channel"] == queued["loan_id"].map(runner_up)).all()

    explained_rows.clear()
    everything_random = explain_channels(queued.assign(exploration=True), runner_up, history, model)
    assert explained_rows == []
    assert everything_random["channel_reason_1"].str.startswith("Randomised exploration").all()
