"""Drift monitoring end to end: a normal night passes with its PSI table, a deliberately shifted
book is caught, and a night that drifts beyond the fail threshold publishes nothing."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from data_contracts.artifacts import DRIFT_REFERENCE_ARTIFACT
from features.catalog import FEATURE_NAMES
from monitoring.drift import training_reference
from recover.cli import EXIT_DRIFT, app
from tests.conftest import SMALL_BOOK_AS_OF

pytestmark = pytest.mark.e2e

runner = CliRunner()
AS_OF = str(SMALL_BOOK_AS_OF)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def drift_state(small_book, trained_outcome, channel_outcome, tmp_path_factory, prefect_harness):
    """A private state folder whose champions are the session's already trained models (no
    training here), the propensity model logged with its drift reference as `recover train`
    logs it: the bins of the out-of-time test block and of its (held-out) p_pay on them."""
    from adapters import tracking
    from recover.config import load_config

    state = tmp_path_factory.mktemp("drift-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECOVER_STATE_DIR", str(state))
        config = load_config()
        outcome, split = trained_outcome
        train, test = split["train"], split["test"]
        reference = training_reference(
            test, outcome.model.predict_proba(test)[:, 1], FEATURE_NAMES, bins=config.monitoring.drift_bins
        )
        channel, channel_split = channel_outcome
        for model, name, example, artifacts in (
            (outcome, config.mlflow.propensity_model_name, train[list(FEATURE_NAMES)].head(5), reference),
            (
                channel,
                config.mlflow.channel_model_name,
                channel_split["train"].drop(columns=["label", "reached"]).head(5),
                None,
            ),
        ):
            logged = tracking.log_training_run(
                config,
                model,
                as_of=SMALL_BOOK_AS_OF,
                data_source=str(small_book[0]),
                params={},
                input_example=example,
                model_name=name,
                artifacts={DRIFT_REFERENCE_ARTIFACT: artifacts} if artifacts else None,
            )
            tracking.point_alias(config, name, config.mlflow.champion_alias, logged.version)
    return state


@pytest.fixture(scope="module")
def normal_night(drift_state, small_book, tmp_path_factory):
    """The small book scored as it is: the output folder and the CLI result."""
    out = tmp_path_factory.mktemp("normal-night") / "queue"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECOVER_STATE_DIR", str(drift_state))
        result = invoke("score", "--data", small_book[0], "--as-of", AS_OF, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result


def _shifted_copy(small_book, tmp_path, factor: float = 3.0):
    """The small book with every amount owed multiplied by ``factor`` (principal, installment,
    each installment due) and the payments left as they were: tonight's loans owe three times
    what the champion's reference rows owed and are far further behind."""
    target = tmp_path / "shifted-book"
    shutil.copytree(small_book[0], target, ignore=shutil.ignore_patterns("truth"))
    loans = pd.read_parquet(target / "loans.parquet")
    loans[["principal", "installment_amount"]] *= factor
    loans.to_parquet(target / "loans.parquet", index=False)
    installments = pd.read_parquet(target / "installments.parquet")
    installments["amount_due"] *= factor
    installments.to_parquet(target / "installments.parquet", index=False)
    return target


def test_a_normal_night_passes_and_publishes_its_drift_table(normal_night):
    out, result = normal_night
    manifest = json.loads((out / "manifest.json").read_text())
    drift = manifest["drift"]
    assert drift["status"] in {"ok", "warn"} and not drift["stops_run"], drift
    assert drift["score_psi"] < drift["thresholds"]["fail_psi"] == 0.25
    assert drift["thresholds"] == {"warn_psi": 0.1, "fail_psi": 0.25, "fail_on": "score"}
    table = pd.read_csv(out / "drift.csv")
    assert list(table["name"])[0] == "p_pay" and set(table["name"][1:]) == set(FEATURE_NAMES)
    assert (table["run_id"] == manifest["run_id"]).all() and (table["as_of"] == AS_OF).all()
    assert table["psi"].notna().all() and (table["psi"] >= 0).all()
    assert table.loc[0, "psi"] == pytest.approx(drift["score_psi"], abs=1e-4)
    assert drift["worst"]["psi"] == pytest.approx(table["psi"].max(), abs=1e-4)
    assert set(drift["warned"]) == set(table.loc[table["status"] == "warn", "name"])
    assert pd.read_parquet(out / "drift.parquet").shape == table.shape
    assert not (out / "drift_failure").exists()

    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, TaskRunFilter
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["drift"])),
            flow_run_filter=FlowRunFilter(),
            task_run_filter=TaskRunFilter(),
            sort=ArtifactSort.CREATED_DESC,
            limit=50,
            offset=0,
        )
    assert any(manifest["run_id"] in json.dumps(artifact.data) for artifact in artifacts)


def test_a_shifted_book_is_stopped_before_anything_is_published(
    normal_night, drift_state, small_book, tmp_path, monkeypatch
):
    monkeypatch.setenv("RECOVER_STATE_DIR", str(drift_state))
    # Last night's outputs are in the folder: a stopped run must leave them exactly as they are.
    out = tmp_path / "queue"
    shutil.copytree(normal_night[0], out)
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    database = tmp_path / "dialer.db"
    shifted = _shifted_copy(small_book, tmp_path)

    result = invoke(
        "score", "--data", shifted, "--as-of", AS_OF, "--out", out, "--publish", f"sqlite:///{database}"
    )

    assert result.exit_code == EXIT_DRIFT == 4, result.output
    text = " ".join(result.output.split())
    assert "drift beyond the fail threshold (PSI >= 0.25, drift_fail_on: score): p_pay" in text
    assert "nothing is published" in text and "drift_failure/drift.csv" in text
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before
    assert not list(out.glob(".staging-*"))
    if database.exists():
        assert "recover_queue" not in sa.inspect(sa.create_engine(f"sqlite:///{database}")).get_table_names()

    evidence = pd.read_csv(out / "drift_failure" / "drift.csv")
    document = json.loads((out / "drift_failure" / "drift.json").read_text())
    assert document["status"] == "fail" and document["stops_run"]
    assert set(evidence["run_id"]) == {document["run_id"]} != {json.loads(before["manifest.json"])["run_id"]}
    score = evidence.set_index("name").loc["p_pay"]
    assert score["status"] == "fail" and score["psi"] == pytest.approx(
        document["blocking"]["p_pay"], abs=1e-4
    )
    # The amounts themselves moved, and the report says so.
    failed = set(evidence.loc[evidence["status"] == "fail", "name"])
    assert {"amount_overdue", "installment_amount", "principal"} <= failed
    assert f"p_pay {score['psi']:.3f}" in text


def test_a_champion_without_a_reference_is_scored_and_says_drift_was_not_checked(
    drift_state, small_book, tmp_path, monkeypatch
):
    from adapters import tracking

    monkeypatch.setenv("RECOVER_STATE_DIR", str(drift_state))
    logged = tracking.load_run_document

    def trained_before_drift_monitoring(config, run_id, file_name):
        return None if file_name == DRIFT_REFERENCE_ARTIFACT else logged(config, run_id, file_name)

    monkeypatch.setattr(tracking, "load_run_document", trained_before_drift_monitoring)
    out = tmp_path / "queue"

    result = invoke("score", "--data", small_book[0], "--as-of", AS_OF, "--out", out)

    assert result.exit_code == 0, result.output
    drift = json.loads((out / "manifest.json").read_text())["drift"]
    assert drift["status"] == "no reference" and "retrain" in drift["detail"]
    assert "drift not checked" in result.output
    table = pd.read_csv(out / "drift.csv")
    assert table.empty and {"name", "psi", "status", "run_id"} <= set(table.columns)


def test_feature_drift_that_leaves_the_score_alone_warns_and_publishes(
    drift_state, small_book, tmp_path, monkeypatch
):
    monkeypatch.setenv("RECOVER_STATE_DIR", str(drift_state))
    book = tmp_path / "richer-book"
    shutil.copytree(small_book[0], book, ignore=shutil.ignore_patterns("truth"))
    borrowers = pd.read_parquet(book / "borrowers.parquet")
    borrowers["monthly_income"] *= 3  # declared incomes tripled: no repayment behaviour changes
    borrowers.to_parquet(book / "borrowers.parquet", index=False)
    out = tmp_path / "queue"

    result = invoke("score", "--data", book, "--as-of", AS_OF, "--out", out)

    assert result.exit_code == 0, result.output
    drift = json.loads((out / "manifest.json").read_text())["drift"]
    assert drift["status"] == "warn" and not drift["stops_run"]
    assert "monthly_income" in drift["failed"] and "p_pay" not in drift["failed"]
    assert drift["blocking"] == {}
    assert "drift warning" in result.output and "monthly_income" in result.output
    assert (out / "queue.parquet").exists()
