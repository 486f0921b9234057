"""Prefect flow: validated tables -> features -> champion scores -> ranked, explained queue."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from data_contracts.enums import DISPOSITIONS
from data_contracts.outputs import (
    LEFT_ALONE_COLUMNS,
    AccountFeatures,
    ContactWindows,
    Dispositions,
    Forbearance,
    LeftAlone,
    PromiseFollowUp,
    Queue,
    Suppressed,
)
from features.build import build_features
from features.point_in_time import as_of_instant
from features.promises import promise_ledger
from features.responses import channel_history
from pipelines.common import (
    InvalidInputError,
    load_and_validate,
    new_run_id,
    validation_summary,
)
from recover import tracking
from recover.config import Config, load_config
from recover.excel import write_team_workbook
from recover.io import publish_outputs, write_quarantine
from recover.progress import stage
from recover.publish import publish_queue
from scoring.allocation import AllocationSettings
from scoring.choice import (
    choose_contacts,
    explain_channels,
    options_for_windows,
    runner_up_channels,
    settle,
)
from scoring.dispositions import check_partition, decide
from scoring.policy.engine import apply_contact_policy, unreadable_hold_loans
from scoring.policy.packs import resolve_packs
from scoring.queue import finalize_decisions, rank_queue
from scoring.reasons import top_reasons
from scoring.teams import team_summary

TEAM_WORKBOOK = "team_queues.xlsx"
COMPANION_CONTRACTS = {
    "suppressed": Suppressed,
    "dispositions": Dispositions,
    "promise_follow_up": PromiseFollowUp,
    "forbearance": Forbearance,
    "contact_windows": ContactWindows,
    "left_alone": LeftAlone,
}


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
def champion_for(config: Config, name: str | None = None):
    return tracking.load_champion(config, name)


def allocation_settings(config: Config) -> AllocationSettings:
    decisions = config.decisions
    return AllocationSettings(
        channel_cost=decisions.channel_cost,
        exploration_share=decisions.exploration_share,
        control_share=decisions.control_share,
        self_cure_threshold=decisions.self_cure_threshold,
        salt=decisions.salt,
    )


@task(name="choose-contacts", cache_policy=NO_CACHE)
def contacts_for(decisions, verdict, validated, channel_champion, as_of: dt.date, config: Config):
    """Best channel and incremental value of every candidate; capacity allocation; left alone."""
    settings = allocation_settings(config)
    history = channel_history(validated.tables["interactions"], validated.tables["payments"], as_of)
    allocation, options = choose_contacts(
        decisions.candidates,
        verdict.windows,
        history,
        verdict.accounts,
        channel_champion.model,
        settings,
        as_of=as_of,
        split_by=config.teams.split_by,
        default_capacity=config.teams.default_capacity,
        capacity_by_channel=config.teams.capacity_by_channel,
        capacity_by_team=config.teams.capacity_by_team,
    )
    settled, left_alone = settle(decisions, allocation, verdict.windows, settings)
    runner_up = runner_up_channels(allocation.assignments, options, settings.channel_cost)
    queued = settled.candidates
    reasons = explain_channels(queued, runner_up, history, channel_champion.model, config.scoring.n_reasons)
    settled = replace(settled, candidates=queued.join(reasons))
    windows = options_for_windows(verdict.windows, options, settings.channel_cost)
    return settled, left_alone, windows


@task(name="apply-contact-policy", cache_policy=NO_CACHE)
def contact_policy_for(features, validated, as_of: dt.date, config: Config, policy: str | None):
    """Judge every overdue loan under its rule pack and give it exactly one disposition."""
    packs, default, by_region = resolve_packs(
        policy or config.policy.default, config.policy.by_region, config.policy.packs_dir
    )
    tables = validated.tables
    verdict = apply_contact_policy(
        features["loan_id"],
        tables,
        as_of,
        packs,
        default,
        by_region,
        unreadable_holds=unreadable_hold_loans(validated.quarantined_rows),
    )
    promises = promise_ledger(
        tables["interactions"],
        tables["payments"],
        as_of_instant(as_of),
        tolerance=config.label.tolerance,
        grace_days=config.promises.grace_days,
    )
    decisions = decide(features, verdict, promises, as_of=as_of, preference=config.scoring.channel_preference)
    return verdict, decisions


@task(name="score-and-explain", cache_policy=NO_CACHE)
def score_and_explain(
    features, verdict, decisions, left_alone, windows, champion, config: Config, run_id: str
):
    """Score every overdue loan; explain and rank the ones queued for contact today."""
    p_pay = pd.Series(champion.model.predict_proba(features)[:, 1], index=features.index)
    to_work = decisions.candidates
    contributions, _ = champion.model.shap_values(to_work[features.columns])
    reasons = top_reasons(to_work, contributions, n=config.scoring.n_reasons)
    queue = rank_queue(
        to_work,
        p_pay.loc[to_work.index],
        reasons,
        verdict.accounts,
        run_id=run_id,
        model_version=champion.label,
        policy_versions=verdict.packs,
        team_split=config.teams.split_by,
        default_capacity=config.teams.default_capacity,
        capacity_by_channel=config.teams.capacity_by_channel,
        capacity_by_team=config.teams.capacity_by_team,
    )
    companions = finalize_decisions(decisions, windows, run_id)
    companions["left_alone"] = left_alone.assign(run_id=run_id)[LEFT_ALONE_COLUMNS].reset_index(drop=True)
    check_partition(features, companions["dispositions"], queue, companions)
    return (
        Queue.validate(queue, lazy=True),
        {name: COMPANION_CONTRACTS[name].validate(frame, lazy=True) for name, frame in companions.items()},
        int(p_pay.notna().sum()),
    )


@task(name="publish", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def publish(out: str, queue, companions, quarantine, manifest: dict, run_id: str):
    teams = {f"teams/{team}": rows.reset_index(drop=True) for team, rows in queue.groupby("team", sort=True)}
    frames = {"queue": queue, **companions, **teams, "quarantine/quarantine": quarantine}

    def workbook(path: Path) -> None:
        write_team_workbook(
            path,
            queue,
            team_summary(queue),
            promise_follow_up=companions["promise_follow_up"],
            forbearance=companions["forbearance"],
            run_facts={
                "Work day (as of)": manifest["as_of"],
                "Run": run_id,
                "Model": manifest["model"]["label"],
                "Contact policy": ", ".join(f"{k} {v}" for k, v in manifest["policy"]["packs"].items()),
            },
            dispositions=manifest["counts"]["dispositions"],
        )

    return publish_outputs(
        Path(out),
        frames,
        manifest,
        run_id,
        parquet_only={"contact_windows"},
        files={TEAM_WORKBOOK: workbook},
        replace_folders={"teams"},
    )


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
    data: str,
    as_of: dt.date,
    out: str,
    config_path: str | None = None,
    publish_url: str | None = None,
    policy: str | None = None,
) -> dict:
    """Score every overdue loan on ``as_of`` with the champion and publish the work queue: files
    in ``out`` and, with ``publish_url``, a database table (atomically, replacing that as-of).
    ``policy`` names the default rule pack (else the config's)."""
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
    with stage("load champion models", timings):
        champion = champion_for(config)
        channel_champion = champion_for(config, config.mlflow.channel_model_name)
    with stage("build features", timings):
        features = features_for(validated.tables, as_of, config)
    with stage("apply contact policy", timings):
        verdict, decisions = contact_policy_for(features, validated, as_of, config, policy)
    with stage("choose channels and allocate capacity", timings):
        decisions, left_alone, windows = contacts_for(
            decisions, verdict, validated, channel_champion, as_of, config
        )
    with stage("score, explain and rank", timings):
        queue, companions, n_scored = score_and_explain(
            features, verdict, decisions, left_alone, windows, champion, config, run_id
        )
    unmatched = sorted(set(config.policy.by_region) - set(verdict.accounts["region"]))
    if unmatched:
        print(f"warning: policy.by_region names regions no overdue loan has tonight: {unmatched}")
    suppressed = companions["suppressed"]
    dispositions = companions["dispositions"]["disposition"].value_counts()
    manifest = {
        "run_id": run_id,
        "as_of": str(as_of),
        "data_source": str(data),
        "input_rows": validated.rows_in,
        "validation": validation_summary(validated),
        "model": {
            "name": champion.name,
            "version": champion.version,
            "label": champion.label,
            "mlflow_run_id": champion.run_id,
        },
        "channel_model": {
            "name": channel_champion.name,
            "version": channel_champion.version,
            "label": channel_champion.label,
            "mlflow_run_id": channel_champion.run_id,
        },
        "decisions": {
            **config.decisions.model_dump(),
            "exploration": int(queue["exploration"].sum()),
            "control": int(companions["left_alone"]["control"].sum()),
            "left_alone_by_reason": companions["left_alone"]["reason"].value_counts().sort_index().to_dict(),
            "incremental_value_within_capacity": round(
                float(queue.loc[queue["within_capacity"], "incremental_value"].sum()), 2
            ),
            "queued_by_channel": queue["recommended_channel"].value_counts().sort_index().to_dict(),
        },
        "policy": {
            "packs": verdict.packs,
            "default": policy or config.policy.default,
            "by_region": dict(config.policy.by_region),
            "loans_by_pack": verdict.accounts["policy"].value_counts().sort_index().to_dict(),
            # Region names match exactly; a key no overdue loan carries may be a misspelling.
            "regions_without_loans": unmatched,
        },
        "counts": {
            "overdue": int(len(features)),
            "scored": n_scored,
            "suppressed": int(suppressed["loan_id"].nunique()),
            "queued": int(len(queue)),
            "promise_follow_up": int(len(companions["promise_follow_up"])),
            "forbearance": int(len(companions["forbearance"])),
            "left_alone": int(len(companions["left_alone"])),
            "within_capacity": int(queue["within_capacity"].sum()),
            "dispositions": {name: int(dispositions.get(name, 0)) for name in DISPOSITIONS},
        },
        # Loans held back per reason (a loan held for two reasons counts under both).
        "suppressed_by_reason": suppressed["reason"].value_counts().sort_index().to_dict(),
        "teams": team_summary(queue).to_dict("records"),
        "timings_seconds": timings,
    }
    if publish_url:
        with stage("publish to database", timings):
            manifest["database"] = publish_to_database(publish_url, queue, suppressed, as_of, run_id, config)
    with stage("publish outputs", timings):
        manifest["timings_seconds"] = timings
        files = publish(out, queue, companions, validated.quarantine(run_id), manifest, run_id)
    return {"manifest": manifest, "files": {k: str(v) for k, v in files.items()}, "queue": queue}
