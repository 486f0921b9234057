"""A book delivered without contact history (as most lenders' first extract is): training fits
the propensity model and no best-channel model, and the night's queue values channels by the
stated prior and says so everywhere."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from recover.cli import app
from recover.config import load_config
from tests.conftest import SMALL_BOOK_AS_OF

pytestmark = pytest.mark.e2e

AS_OF = str(SMALL_BOOK_AS_OF)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def contactless_book(small_book, tmp_path_factory):
    source, _ = small_book
    book = tmp_path_factory.mktemp("contactless") / "book"
    shutil.copytree(source, book)
    interactions = pd.read_parquet(book / "interactions.parquet")
    interactions.iloc[:0].to_parquet(book / "interactions.parquet", index=False)
    return book


def test_a_book_without_contacts_trains_and_scores_on_the_stated_prior(
    contactless_book, tmp_path, monkeypatch, prefect_harness
):
    monkeypatch.setenv("RECOVER_STATE_DIR", str(tmp_path / "state"))
    trained = invoke("train", "--data", contactless_book, "--as-of", AS_OF)
    assert trained.exit_code == 0, trained.output
    said = " ".join(trained.output.split())
    assert "No best-channel model: the history holds no outbound contact" in said
    assert "recover-channel" not in said.split("Out-of-time")[0]  # only the propensity model registered

    out = tmp_path / "out"
    scored = invoke("score", "--data", contactless_book, "--as-of", AS_OF, "--out", out)
    assert scored.exit_code == 0, scored.output
    manifest = json.loads((out / "manifest.json").read_text())
    channel = manifest["channel_model"]
    assert channel["source"] == "prior" and channel["mlflow_run_id"] is None
    assert channel["prior_lift"] == load_config().channel_model.prior_lift
    assert "no best-channel model is registered" in channel["not_fitted"]

    queue = pd.read_parquet(out / "queue.parquet")
    assert len(queue) > 0
    # Exploration picks say first that they are random (issue 27); the others state the prior.
    explored = queue["exploration"]
    assert queue.loc[~explored, "channel_reason_1"].str.startswith("No channel model").all()
    assert queue.loc[explored, "channel_reason_1"].str.startswith("Randomised exploration").all()
    assert queue["p_reach"].isna().all()  # reach is not modelled, so not reported
    # Values follow the prior: a contact adds its stated share of the gap, net of its cost, and
    # a response is worth the arrears times the share a paying loan of the book pays (learnt at
    # training, stated in the manifest).
    cost = load_config().decisions.channel_cost
    lift = queue["recommended_channel"].map(channel["prior_lift"])
    worth = manifest["decisions"]["response_worth"]
    learnt_shares = np.array([*worth["shares"], worth["overall"]])
    assert ((learnt_shares > 0) & (learnt_shares <= 1)).all()
    model_picks = ~queue["exploration"]
    picked = queue[model_picks]
    gross = picked["incremental_value"] + picked["recommended_channel"].map(cost)
    implied_share = gross / (lift[model_picks] * (1 - picked["p_self_cure"]) * picked["amount_overdue"])
    nearest = np.abs(implied_share.to_numpy()[:, None] - learnt_shares[None, :]).min(axis=1)
    assert nearest.max() < 1e-4, implied_share.describe()
    # Exploration is a share of the queue, spread over channels, and stated in the manifest.
    share = manifest["decisions"]["exploration_share_of_queue"]
    assert 0 < share <= manifest["decisions"]["exploration_share"] + 0.02
    assert queue.loc[queue["exploration"], "recommended_channel"].nunique() >= 2
