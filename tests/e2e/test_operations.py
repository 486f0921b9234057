"""Nightly operations under faults (Prefect test harness): retries, resuming, the night lock,
notifications, replaying a range of nights, and the run's artifacts."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import pipelines.common as common
import pipelines.nightly_score_flow as nightly
import scoring.night as night_stages
from pipelines.runtime.operations import NightLockedError
from recover.cli import EXIT_LOCKED, app
from tests.conftest import SMALL_BOOK_AS_OF
from tests.receivers import webhook_receiver

pytestmark = pytest.mark.e2e
runner = CliRunner()
AS_OF = SMALL_BOOK_AS_OF


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def ops_state(small_book, prefect_harness, tmp_path_factory):
    """A state folder of this module's own with both champions trained on the small book."""
    state = tmp_path_factory.mktemp("ops-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECOVER_STATE_DIR", str(state))
        result = invoke("train", "--data", small_book[0], "--as-of", AS_OF)
        assert result.exit_code == 0, result.output
    return state


@pytest.fixture
def state(ops_state, monkeypatch):
    monkeypatch.setenv("RECOVER_STATE_DIR", str(ops_state))
    return ops_state


def write_config(path: Path, **sections) -> str:
    """A config override with instant retries (faults must not make the suite wait)."""
    settings = {"operations": {"retry_delay_seconds": [0]}}
    for name, values in sections.items():
        settings[name] = {**settings.get(name, {}), **values}
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def run_night(data, out, config_path, **kwargs):
    return nightly.nightly_score_flow(str(data), AS_OF, str(out), config_path, **kwargs)


class Calls:
    """Wraps a function, counting calls; ``fail`` raises on the given call numbers (1-based)."""

    def __init__(self, function, fail: set[int] | None = None, error: Exception | None = None):
        self.function, self.fail, self.error, self.count = function, fail or set(), error, 0

    def __call__(self, *args, **kwargs):
        self.count += 1
        if self.count in self.fail:
            raise self.error
        return self.function(*args, **kwargs)


def queue_without_run_id(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "queue.parquet").drop(columns="run_id")


@pytest.fixture
def receiver():
    with webhook_receiver() as hook:
        yield hook


def test_a_publish_that_fails_once_succeeds_on_retry(state, small_book, tmp_path, monkeypatch):
    config = write_config(tmp_path / "config.yaml")
    flaky = Calls(nightly.publish_outputs, fail={1}, error=OSError("disk briefly unavailable"))
    monkeypatch.setattr(nightly, "publish_outputs", flaky)
    database = f"sqlite:///{tmp_path / 'dialer.db'}"
    flaky_db = Calls(nightly.publish_queue, fail={1}, error=ConnectionError("database restarting"))
    monkeypatch.setattr(nightly, "publish_queue", flaky_db)

    result = run_night(small_book[0], tmp_path / "out", config, publish_url=database)

    assert flaky.count == 2 and flaky_db.count == 2
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["run_id"] == result["manifest"].run_id
    assert manifest["database"]["queue_rows"] == manifest["counts"]["queued"] > 0


def test_a_contract_violation_is_not_retried(state, tmp_path, monkeypatch):
    config = write_config(tmp_path / "config.yaml", operations={"retries": 3})
    reads = Calls(common.read_source)
    monkeypatch.setattr(common, "read_source", reads)
    with pytest.raises(Exception, match="missing|contract|table"):
        run_night(tmp_path / "no-such-book", tmp_path / "out", config)
    assert reads.count == 1


def test_a_night_killed_after_its_features_resumes_and_skips_the_completed_stages(
    state, small_book, tmp_path, monkeypatch
):
    config = write_config(tmp_path / "config.yaml")
    out = tmp_path / "out"
    uninterrupted = run_night(small_book[0], tmp_path / "uninterrupted", config)
    # Tonight's folder holds yesterday's published queue, which a failed run must leave alone.
    run_night(small_book[0], out, config)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    reads = Calls(common.read_source)
    features = Calls(nightly.build_features)
    policy = Calls(night_stages.apply_contact_policy, fail={1}, error=SystemError("worker killed"))
    monkeypatch.setattr(common, "read_source", reads)
    monkeypatch.setattr(nightly, "build_features", features)
    monkeypatch.setattr(night_stages, "apply_contact_policy", policy)

    with pytest.raises(SystemError, match="worker killed"):
        run_night(small_book[0], out, config)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert (reads.count, features.count, policy.count) == (1, 1, 1)
    resumable = [p.name for p in (state / "resume").iterdir()]
    assert any(name.endswith("-features") for name in resumable)
    assert not any(name.endswith("-contact-policy") for name in resumable)

    resumed = run_night(small_book[0], out, config)

    # Features were not redone; validation was (cheaper than persisting it), then the failed
    # stage and the rest.
    assert (reads.count, features.count, policy.count) == (2, 1, 2)
    assert resumed["manifest"].run_id != uninterrupted["manifest"].run_id
    pd.testing.assert_frame_equal(queue_without_run_id(out), queue_without_run_id(tmp_path / "uninterrupted"))
    assert set(pd.read_parquet(out / "queue.parquet")["run_id"]) == {resumed["manifest"].run_id}
    # A night that completes forgets its stages: the next rerun reads the sources again.
    assert not [p for p in (state / "resume").iterdir() if p.name.startswith("night-")]
    run_night(small_book[0], out, config)
    assert (reads.count, features.count) == (3, 2)


def test_fresh_recomputes_a_failed_nights_stages(state, small_book, tmp_path, monkeypatch):
    config = write_config(tmp_path / "config.yaml")
    monkeypatch.setattr(
        night_stages,
        "apply_contact_policy",
        Calls(night_stages.apply_contact_policy, fail={1}, error=SystemError("killed")),
    )
    with pytest.raises(SystemError):
        run_night(small_book[0], tmp_path / "out", config)
    features = Calls(nightly.build_features)
    monkeypatch.setattr(nightly, "build_features", features)
    run_night(small_book[0], tmp_path / "out", config, fresh=True)
    assert features.count == 1


def test_two_concurrent_runs_for_the_same_night_publish_once(state, small_book, tmp_path, monkeypatch):
    config = write_config(tmp_path / "config.yaml")
    first_holds_the_night, let_it_finish = threading.Event(), threading.Event()
    build_features = nightly.build_features

    def slow_features(*args, **kwargs):
        first_holds_the_night.set()
        assert let_it_finish.wait(120)
        return build_features(*args, **kwargs)

    published = Calls(nightly.publish_outputs)
    monkeypatch.setattr(nightly, "build_features", slow_features)
    monkeypatch.setattr(nightly, "publish_outputs", published)
    outcome: dict = {}

    def first_run():
        outcome["first"] = run_night(small_book[0], tmp_path / "first", config)

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        assert first_holds_the_night.wait(120)
        with pytest.raises(NightLockedError, match=f"another run is scoring as-of {AS_OF}"):
            run_night(small_book[0], tmp_path / "second", config)
    finally:
        let_it_finish.set()
        thread.join(180)
    assert published.count == 1
    assert (tmp_path / "first" / "manifest.json").exists()
    assert not (tmp_path / "second" / "manifest.json").exists()
    # The lock went with the first run: the night can be run again.
    run_night(small_book[0], tmp_path / "second", config)
    assert published.count == 2


def test_a_locked_night_exits_with_its_own_code(state, small_book, tmp_path):
    from pipelines.runtime.operations import NightLock

    with NightLock(state, AS_OF, run_id="holder-run"):
        result = invoke("score", "--data", small_book[0], "--as-of", AS_OF, "--out", tmp_path / "out")
    assert result.exit_code == EXIT_LOCKED
    assert "holder-run" in " ".join(result.output.split())


def test_a_failing_run_notifies_exactly_once_and_keeps_the_published_queue(
    state, small_book, tmp_path, monkeypatch, receiver
):
    config = write_config(
        tmp_path / "config.yaml", operations={"retries": 2}, notifications={"webhook": {"url": receiver.url}}
    )
    out = tmp_path / "out"
    assert (
        invoke("score", "--data", small_book[0], "--as-of", AS_OF, "--out", out, "--config", config).exit_code
        == 0
    )
    assert receiver.bodies == []  # success is not announced by default
    before = (out / "queue.parquet").read_bytes()

    broken = Calls(nightly.publish_outputs, fail={1, 2, 3}, error=OSError("volume is read-only"))
    monkeypatch.setattr(nightly, "publish_outputs", broken)
    with pytest.raises(OSError, match="read-only"):
        invoke("score", "--data", small_book[0], "--as-of", AS_OF, "--out", out, "--config", config)

    assert broken.count == 3  # the first try and two retries
    assert len(receiver.bodies) == 1
    event = receiver.bodies[0]
    assert event["event"] == "recover.run.failed" and event["flow"] == "nightly-score"
    assert event["as_of"] == str(AS_OF)
    assert "read-only" in event["error"]
    assert (out / "queue.parquet").read_bytes() == before


def test_a_replayed_range_runs_each_night_once_in_order(state, small_book, tmp_path):
    out = tmp_path / "replay"
    start, end = AS_OF - dt.timedelta(days=2), AS_OF
    result = invoke(
        "score",
        "--data",
        small_book[0],
        "--as-of-range",
        start,
        end,
        "--out",
        out,
        "--config",
        write_config(tmp_path / "config.yaml"),
    )
    assert result.exit_code == 0, result.output
    manifests = [
        json.loads((out / str(start + dt.timedelta(days=i)) / "manifest.json").read_text()) for i in range(3)
    ]
    assert [m["as_of"] for m in manifests] == [str(start + dt.timedelta(days=i)) for i in range(3)]
    assert len({m["run_id"] for m in manifests}) == 3
    for manifest in manifests:
        queue = pd.read_parquet(out / manifest["as_of"] / "queue.parquet")
        assert set(queue["run_id"]) == {manifest["run_id"]}
        assert (pd.to_datetime(queue["as_of"]).dt.date == dt.date.fromisoformat(manifest["as_of"])).all()

    again = invoke("score", "--data", small_book[0], "--as-of-range", start, end, "--out", out)
    assert again.exit_code == 0
    assert " ".join(again.output.split()).count("already published") == 3


def test_as_of_and_a_range_are_exclusive(small_book, tmp_path):
    result = runner.invoke(
        app,
        [
            "score",
            "--data",
            str(small_book[0]),
            "--out",
            str(tmp_path),
            "--as-of",
            str(AS_OF),
            "--as-of-range",
            str(AS_OF),
            str(AS_OF),
        ],
    )
    assert result.exit_code == 2
    assert "exactly one" in result.output


def test_every_run_attaches_its_summary_and_the_top_of_its_queue(state, small_book, tmp_path):
    import httpx
    from prefect.settings import PREFECT_API_URL

    result = run_night(small_book[0], tmp_path / "out", write_config(tmp_path / "config.yaml"))
    run_id = result["manifest"].run_id
    # The REST filter directly: prefect 3.8's client sends nulls this server version refuses.
    response = httpx.post(
        f"{PREFECT_API_URL.value()}/artifacts/filter",
        json={
            "artifacts": {"flow_run_id": {"any_": [run_id]}},
            "limit": 50,
            "offset": 0,
            "sort": "CREATED_DESC",
        },
    )
    response.raise_for_status()
    artifacts = [SimpleNamespace(**a) for a in response.json()]
    by_key = {a.key: a for a in artifacts}
    assert {"nightly-summary", "queue-top", "drift", "fair-practice-review"} <= set(by_key)
    summary = by_key["nightly-summary"].data
    counts = result["manifest"].counts
    assert f"queued: {counts.queued:,}" in summary and "quarantined" in summary
    assert result["mlflow_run_id"] in summary and "review.html" in summary
    table = (
        json.loads(by_key["queue-top"].data)
        if isinstance(by_key["queue-top"].data, str)
        else by_key["queue-top"].data
    )
    assert [row["loan_id"] for row in table] == list(
        result["queue"].sort_values("rank")["loan_id"].head(len(table))
    )


def test_serve_runs_the_nightly_flow_on_its_cron(state, small_book, tmp_path, receiver):
    """`recover serve` with no Prefect server set up: it starts a local one, deploys the nightly
    flow on a one-minute cron, and the scheduled run publishes tonight's queue and notifies."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from pipelines.runtime.operations import work_day

    config = write_config(
        tmp_path / "config.yaml",
        notifications={"events": ["failure", "success"], "webhook": {"url": receiver.url}},
        # The session's book ends on 2026-06-01 and a scheduled night scores today: its drift
        # from the champion's reference is expected here, not a reason to stop.
        monitoring={"drift_warn_psi": 1000, "drift_fail_psi": 1000},
    )
    out = tmp_path / "served"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "RECOVER_STATE_DIR": str(state),
    }
    env.pop("PREFECT_API_URL", None)
    days = {work_day("America/New_York")}
    started = time.monotonic()
    server = subprocess.Popen(
        [Path(sys.executable).parent / "recover", "serve", "--data", small_book[0], "--out", out,
         "--nightly-cron", "* * * * *", "--no-training", "--config", config],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        while not receiver.bodies and time.monotonic() - started < 300 and server.poll() is None:
            time.sleep(1)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    days.add(work_day("America/New_York"))
    assert receiver.bodies, f"no scheduled run finished within 300 s:\n{output[-3000:]}"
    event = receiver.bodies[0]
    assert event["event"] == "recover.run.succeeded", event
    assert event["as_of"] in {str(day) for day in days} | {None}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["as_of"] in {str(day) for day in days}
    assert manifest["counts"]["queued"] > 0
    assert "nightly-score/nightly" in output


def test_logs_are_json_lines_without_contact_details(state, small_book, tmp_path, monkeypatch):
    """A source error that echoes a borrower's e-mail and phone number: neither reaches the
    console log (JSON lines) nor the run logs stored on the Prefect server."""
    import logging
    import time

    import httpx
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_API_URL

    config = write_config(tmp_path / "config.yaml", operations={"retries": 0, "log_format": "json"})
    leaky = "row 17 rejected: jane.doe@example.com / +1 (415) 555-2671"

    def failing_read(*args, **kwargs):
        raise OSError(leaky)

    ok = invoke(
        "score", "--data", small_book[0], "--as-of", AS_OF, "--out", tmp_path / "ok", "--config", config
    )
    assert ok.exit_code == 0
    stages = [json.loads(line) for line in ok.stderr.splitlines() if line.startswith("{")]
    finished = [r for r in stages if r.get("event") == "stage_finished"]
    assert {"build features", "publish outputs"} <= {r["stage"] for r in finished}
    assert all(isinstance(r["seconds"], float) and r["level"] == "INFO" for r in finished)

    monkeypatch.setattr(common, "read_source", failing_read)
    with pytest.raises(OSError):
        invoke(
            "score", "--data", small_book[0], "--as-of", AS_OF, "--out", tmp_path / "out", "--config", config
        )
    for handler in logging.getLogger("prefect").handlers:
        if isinstance(handler, APILogHandler):
            handler.flush()
    stored = ""
    for _ in range(40):  # the API handler ships logs in batches from a background worker
        response = httpx.post(
            f"{PREFECT_API_URL.value()}/logs/filter",
            json={"logs": {"level": {"ge_": 40}}, "limit": 200, "offset": 0, "sort": "TIMESTAMP_DESC"},
        )
        response.raise_for_status()
        stored = "\n".join(entry["message"] for entry in response.json())
        if "row 17 rejected" in stored:
            break
        time.sleep(0.25)
    assert "row 17 rejected" in stored
    assert "jane.doe@example.com" not in stored and "555-2671" not in stored
    assert "[email]" in stored and "[phone]" in stored


def test_explaining_every_scored_loan_writes_their_reasons_and_keeps_the_queues(state, small_book, tmp_path):
    queued_only = run_night(small_book[0], tmp_path / "queued", write_config(tmp_path / "a.yaml"))
    everyone = run_night(
        small_book[0], tmp_path / "all", write_config(tmp_path / "b.yaml", scoring={"explain": "all"})
    )
    explanations = pd.read_parquet(tmp_path / "all" / "explanations.parquet")
    assert not (tmp_path / "queued" / "explanations.parquet").exists()
    assert len(explanations) == everyone["manifest"].counts.overdue > everyone["manifest"].counts.queued
    assert explanations[["reason_1", "reason_2", "reason_3"]].notna().all().all()
    queue = queue_without_run_id(tmp_path / "all")
    pd.testing.assert_frame_equal(queue, queue_without_run_id(tmp_path / "queued"))
    by_loan = explanations.set_index("loan_id")
    assert (by_loan.loc[queue["loan_id"], "reason_1"].to_numpy() == queue["reason_1"].to_numpy()).all()
    detail = everyone["manifest"].stage_detail_seconds
    assert (
        detail["propensity explanations"] > 0
        and "channel scoring" in queued_only["manifest"].stage_detail_seconds
    )
