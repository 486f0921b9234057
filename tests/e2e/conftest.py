"""Fixtures of the end-to-end suite."""

from __future__ import annotations

import pytest

from features.catalog import FEATURE_NAMES
from tests.conftest import SMALL_BOOK_AS_OF


@pytest.fixture
def champions(tmp_path, monkeypatch, trained_outcome, channel_outcome):
    """The session's models (trained once, without MLflow) registered as champions in a state
    folder of this test's own; the challenger alias points at the champion's version, so the
    night shadow-scores it."""
    from adapters import tracking
    from recover.config import load_config

    monkeypatch.setenv("RECOVER_STATE_DIR", str(tmp_path / "state"))
    config = load_config()
    propensity, split = trained_outcome
    registered = tracking.log_training_run(
        config,
        propensity,
        as_of=SMALL_BOOK_AS_OF,
        data_source="small book",
        params={"n_estimators": 150},
        input_example=split["test"][list(FEATURE_NAMES)].head(5),
    )
    channel, channel_split = channel_outcome
    tracking.log_training_run(
        config,
        channel,
        as_of=SMALL_BOOK_AS_OF,
        data_source="small book",
        params={"n_estimators": 120},
        input_example=channel_split["test"].drop(columns=["label", "reached"]).head(5),
        model_name=config.mlflow.channel_model_name,
        kind="train-channel",
    )
    name = config.mlflow.propensity_model_name
    tracking.point_alias(config, name, config.mlflow.champion_alias, registered.version)
    tracking.point_alias(config, name, config.mlflow.challenger_alias, registered.version)
    return config, registered
