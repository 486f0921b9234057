"""The nightly run and the training on a Dask cluster (a LocalCluster of 2 worker processes):
the same queue as in process, the per-loan work done on the workers, the boosters fitted
through lightgbm.dask."""

from __future__ import annotations

import json

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pipelines.runtime.cluster import local_cluster
from recover.cli import app
from tests.conftest import SMALL_BOOK_AS_OF

pytestmark = pytest.mark.e2e
runner = CliRunner()
AS_OF = SMALL_BOOK_AS_OF
PARTITION_TASKS = {
    "build-features-partition",
    "score-channels-partition",
    "explain-channels-partition",
    "score-partition",
    "explain-partition",
}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def scheduler():
    """The address of a LocalCluster: 2 worker processes of one thread each."""
    with local_cluster(workers=2, threads_per_worker=1) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def cluster_state(small_book, prefect_harness, scheduler, tmp_path_factory):
    """A state folder of this module's own with both champions trained on the cluster."""
    state = tmp_path_factory.mktemp("cluster-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECOVER_STATE_DIR", str(state))
        result = invoke("train", "--data", small_book[0], "--as-of", AS_OF, "--cluster", scheduler)
        assert result.exit_code == 0, result.output
    return state


def task_run_names(flow_run_id: str) -> list[str]:
    """Names of the task runs of a flow run, from the Prefect API."""
    from prefect.settings import PREFECT_API_URL

    response = httpx.post(
        f"{PREFECT_API_URL.value()}/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [flow_run_id]}}, "limit": 200},
    )
    response.raise_for_status()
    return [run["name"] for run in response.json()]


@pytest.fixture(scope="module")
def local_run(cluster_state, small_book, tmp_path_factory):
    """The in-process night the cluster runs are compared with."""
    out = tmp_path_factory.mktemp("local-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECOVER_STATE_DIR", str(cluster_state))
        assert invoke("score", "--data", small_book[0], "--as-of", AS_OF, "--out", out).exit_code == 0
    return out


def assert_same_night(local, distributed):
    """The cluster's queue and companion lists equal the in-process ones (run ids aside)."""
    queues = [
        pd.read_parquet(folder / "queue.parquet").drop(columns="run_id") for folder in (local, distributed)
    ]
    assert len(queues[0]) > 50
    # Same loans in the same ranks, through the same channels; scores within float tolerance.
    for column in ("loan_id", "rank", "recommended_channel", "team", "reason_1", "channel_reason_1"):
        assert queues[0][column].tolist() == queues[1][column].tolist(), column
    for column in ("p_pay_30d", "incremental_value", "priority_score"):
        np.testing.assert_allclose(queues[1][column], queues[0][column], rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(queues[1], queues[0], check_exact=False, rtol=1e-9)
    for companion in ("dispositions", "left_alone", "suppressed"):
        frames = [
            pd.read_parquet(f / f"{companion}.parquet").drop(columns="run_id") for f in (local, distributed)
        ]
        pd.testing.assert_frame_equal(frames[1], frames[0], check_exact=False, rtol=1e-9)


def partition_runs(out) -> dict[str, int]:
    """How many task runs of each partition task the night published in ``out`` made."""
    names = task_run_names(json.loads((out / "manifest.json").read_text())["run_id"])
    return {task_name: sum(name.startswith(task_name) for name in names) for task_name in PARTITION_TASKS}


def test_the_queue_on_a_cluster_equals_the_in_process_queue(
    cluster_state, local_run, small_book, scheduler, tmp_path, monkeypatch
):
    monkeypatch.setenv("RECOVER_STATE_DIR", str(cluster_state))
    distributed = tmp_path / "cluster"
    result = invoke(
        "score", "--data", small_book[0], "--as-of", AS_OF, "--out", distributed, "--cluster", scheduler
    )
    assert result.exit_code == 0, result.output
    assert_same_night(local_run, distributed)
    # The per-loan work ran as partition task runs (2 per worker), not in the flow's process.
    assert partition_runs(distributed) == dict.fromkeys(PARTITION_TASKS, 4)
    assert partition_runs(local_run) == dict.fromkeys(PARTITION_TASKS, 0)


def test_a_flow_started_without_the_cluster_moves_onto_the_one_its_config_names(
    cluster_state, local_run, small_book, scheduler, tmp_path, monkeypatch
):
    """What a served deployment does: the flow is loaded from its module, with no Dask task
    runner, and ``cluster.address`` in the config sends its work to the cluster."""
    from pipelines.nightly_score_flow import nightly_score_flow

    monkeypatch.setenv("RECOVER_STATE_DIR", str(cluster_state))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"cluster": {"address": scheduler}}))
    distributed = tmp_path / "cluster"
    nightly_score_flow(str(small_book[0]), AS_OF, str(distributed), str(config))
    assert_same_night(local_run, distributed)
    assert partition_runs(distributed) == dict.fromkeys(PARTITION_TASKS, 4)


def test_training_on_a_cluster_fits_through_lightgbm_dask(cluster_state):
    mlflow.set_tracking_uri(f"sqlite:///{cluster_state / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.`recover.kind` LIKE 'train%'")
    fitted = dict(zip(runs["tags.recover.model"], runs["tags.recover.fitted_with"], strict=True))
    assert fitted == {
        "recover-propensity": "lightgbm.dask (2 workers)",
        "recover-channel": "lightgbm.dask (2 workers)",
    }
    # Distributed histograms differ a little from one process's; the model must still rank well.
    auc = float(runs.loc[runs["tags.recover.model"] == "recover-propensity", "metrics.test_auc"].iloc[0])
    assert auc > 0.7
