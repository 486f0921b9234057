"""Prefect flow: validated tables -> features -> champion scores -> ranked, explained queue."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from data_contracts.outputs import AccountFeatures, Queue, Suppressed
from features.build import build_features
from pipelines.common import (
    InvalidInputError,
    load_and_validate,
    new_run_id,
    validation_summary,
)
from recover import tracking
from recover.config import Config, load_config
from recover.io import publish_outputs, write_quarantine
from recover.progress import stage
from recover.publish import publish_queue
from scoring.queue import (
    finalize_suppressed,
    rank_queue,
    recommended_channels,
    suppressions,
    workable,
)
from scoring.reasons import top_reasons


@task(name="build-features", cache_policy=NO_CACHE)
def features_for(tables, as_of: dt.date, config: Config):
    features = build_features(
        tables,
        as_of,
        min_amount_overdue=config.scoring.min_amount_overdue,
        tolerance=config.label.tolerance,
    )
    return AccountFeatures.validate(features, lazy=True)


@task(name="load-champion", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def champion_for(config: Config):
    return tracking.load_champion(config)


@task(name="score-and-explain", cache_policy=NO_CACHE)
def score_and_explain(features, tables, champion, as_of: dt.date, config: Config, run_id: str):
    """Score every overdue loan; explain and rank the ones that may be worked."""
    p_pay = pd.Series(champion.model.predict_proba(features)[:, 1], index=features.index)
    held_back = suppressions(
        features, tables["borrowers"], tables["account_flags"], as_of, config.scoring.suppressing_flags
    )
    to_work = workable(features, held_back)
    contributions, _ = champion.model.shap_values(to_work)
    reasons = top_reasons(to_work, contributions, n=config.scoring.n_reasons)
    channels = recommended_channels(
        to_work, tables["borrowers"], tables["account_flags"], as_of, config.scoring.channel_preference
    )
    queue = rank_queue(
        to_work, p_pay.loc[to_work.index], reasons, channels, run_id=run_id, model_version=champion.label
    )
    suppressed = finalize_suppressed(held_back, run_id)
    return (
        Queue.validate(queue, lazy=True),
        Suppressed.validate(suppressed, lazy=True),
        int(p_pay.notna().sum()),
    )


@task(name="publish", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def publish(out: str, queue, suppressed, quarantine, manifest: dict, run_id: str):
    frames = {"queue": queue, "suppressed": suppressed, "quarantine/quarantine": quarantine}
    return publish_outputs(Path(out), frames, manifest, run_id)


@task(name="publish-to-database", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def publish_to_database(url: str, queue, suppressed, as_of: dt.date, run_id: str, config: Config) -> dict:
    report = publish_queue(
        url,
        queue,
        suppressed,
        as_of=as_of,
        run_id=run_id,
        table=config.publish.table,
        suppressed_table=config.publish.suppressed_table,
        schema=config.publish.db_schema,
    )
    return {
        "target": report.target,
        "table": report.table,
        "queue_rows": report.queue_rows,
        "replaced_queue_rows": report.replaced_queue_rows,
        "seconds": round(report.seconds, 3),
    }


@flow(name="nightly-score", log_prints=True)
def nightly_score_flow(
    data: str, as_of: dt.date, out: str, config_path: str | None = None, publish_url: str | None = None
) -> dict:
    """Score every overdue loan on ``as_of`` with the champion and publish the work queue: files
    in ``out`` and, with ``publish_url``, a database table (atomically, replacing that as-of)."""
    config = load_config(Path(config_path) if config_path else None)
    run_id = new_run_id()
    timings: dict[str, float] = {}
    with stage("validate inputs", timings):
        try:
            validated = load_and_validate(data, as_of, config)
        except InvalidInputError as error:
            # No queue, but the operator gets the evidence: every bad row and its rules.
            write_quarantine(Path(out), error.result.quarantine(run_id))
            raise
    with stage("load champion model", timings):
        champion = champion_for(config)
    with stage("build features", timings):
        features = features_for(validated.tables, as_of, config)
    with stage("score, explain and rank", timings):
        queue, suppressed, n_scored = score_and_explain(
            features, validated.tables, champion, as_of, config, run_id
        )
    manifest = {
        "run_id": run_id,
        "as_of": str(as_of),
        "data_source": str(data),
        "input_rows": validated.rows_in,
        "validation": validation_summary(validated),
        "model": {"name": champion.name, "version": champion.version, "mlflow_run_id": champion.run_id},
        "counts": {
            "overdue": int(len(features)),
            "scored": n_scored,
            "suppressed": int(suppressed["loan_id"].nunique()),
            "queued": int(len(queue)),
        },
        "suppressed_by_reason": suppressed["reason"].value_counts().sort_index().to_dict(),
        "timings_seconds": timings,
    }
    if publish_url:
        with stage("publish to database", timings):
            manifest["database"] = publish_to_database(publish_url, queue, suppressed, as_of, run_id, config)
    with stage("publish outputs", timings):
        manifest["timings_seconds"] = timings
        files = publish(out, queue, suppressed, validated.quarantine(run_id), manifest, run_id)
    return {"manifest": manifest, "files": {k: str(v) for k, v in files.items()}, "queue": queue}
