"""Prefect flow: archived queues + the payments that followed -> realized recovery reports.

Every nightly run archives its scored loans in the state folder (adapters/archive.py); this
flow reads that history and the payments from ``data`` (a folder, a database URL or the
engine's store), joins each queue to the payments of its outcome window and writes the reports
of monitoring/outcomes.py to ``out`` (CSV and Parquet per table, ``backfill.json`` with every table
and the facts), then logs them to MLflow (run kind ``backfill``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from adapters import tracking
from adapters.archive import QueueArchive
from adapters.io import publish_outputs
from monitoring.outcomes import BackfillReport, backfill_report
from pipelines.common import load_and_validate, new_run_id, night_cutoff, validation_summary
from pipelines.results import BackfillResult
from pipelines.runtime.progress import stage
from recover.config import Config, load_config

BACKFILL_JSON = "backfill.json"


class NoHistoryError(LookupError):
    """Nothing archived yet: no nightly run has published a queue with this state folder."""


@task(name="read-queue-history", cache_policy=NO_CACHE)
def read_history(config: Config):
    archive = QueueArchive.in_state(config.resolved_state_dir())
    history = archive.read()
    if history.empty:
        raise NoHistoryError(
            f"no queue history in {archive.root}: `recover score` archives every night it publishes"
        )
    return history


@task(name="build-backfill-report", cache_policy=NO_CACHE)
def build_report(history, validated, as_of: dt.date, config: Config) -> BackfillReport:
    return backfill_report(
        history,
        validated.tables["payments"],
        window_days=config.outcome_window_days(),
        until=as_of,
        tolerance=config.label.tolerance,
        timezone=validated.cutoff.timezone if validated.cutoff else "UTC",
        known_loans=validated.tables["loans"]["loan_id"],
    )


def _records(frame) -> list[dict]:
    # to_json writes NaN as null (NaN is not JSON).
    return json.loads(frame.to_json(orient="records", date_format="iso"))


@task(name="write-backfill-report", cache_policy=NO_CACHE)
def write_report(out: str, report: BackfillReport, manifest: dict, run_id: str) -> dict:
    document = {
        "facts": report.facts.to_dict(),
        "metrics": report.metrics,
        "tables": {name: _records(frame) for name, frame in report.tables.items()},
    }
    return publish_outputs(
        Path(out),
        report.tables,
        manifest,
        run_id,
        files={BACKFILL_JSON: lambda path: path.write_text(json.dumps(document, indent=2, default=str))},
    )


@task(name="log-backfill", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_backfill(config: Config, report: BackfillReport, files: dict) -> str:
    logged = [path for name, path in files.items() if name.endswith((".csv", ".json"))]
    return tracking.log_backfill(config, report, logged)


@flow(name="backfill", log_prints=True)
def backfill_flow(
    data: str, as_of: dt.date, out: str | None = None, config_path: str | None = None
) -> BackfillResult:
    """Realized recovery of every archived queue whose outcome window closed before ``as_of``
    (the payments in ``data`` cover instants strictly before it); reports to ``out`` (default
    ``<state>/backfill/as_of=<date>``) and to MLflow."""
    config = load_config(Path(config_path) if config_path else None)
    run_id = new_run_id()
    out = out or str(config.resolved_state_dir() / "backfill" / f"as_of={as_of}")
    timings: dict[str, float] = {}
    with stage("read the queue history", timings):
        history = read_history(config)
    with stage("validate inputs", timings):
        validated = load_and_validate(data, night_cutoff(config, as_of), config)
    with stage("join payments to the queues and build the reports", timings):
        report = build_report(history, validated, as_of, config)
    manifest = {
        "run_id": run_id,
        "as_of": str(as_of),
        "data_source": str(data),
        "history": str(QueueArchive.in_state(config.resolved_state_dir()).root),
        "validation": validation_summary(validated),
        "facts": report.facts.to_dict(),
        "metrics": report.metrics,
        "timings_seconds": timings,
    }
    with stage("write the reports", timings):
        files = write_report(out, report, manifest, run_id)
    with stage("log to MLflow", timings):
        mlflow_run_id = log_backfill(config, report, files)
    return BackfillResult(
        tables=report.tables,
        facts=report.facts,
        metrics=report.metrics,
        files={name: str(path) for name, path in files.items()},
        out=out,
        mlflow_run_id=mlflow_run_id,
    )
