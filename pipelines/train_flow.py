"""Prefect flow: validated tables -> training snapshots -> model -> MLflow champion."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from data_contracts.outputs import TrainingSnapshot
from features.catalog import FEATURE_NAMES
from features.responses import ResponsePlan, build_response_set, treatment_summary
from features.snapshots import SnapshotPlan, build_training_set, out_of_time_split
from models.training import train_channel, train_propensity
from pipelines.common import load_and_validate, table_sizes, validation_summary
from recover import tracking
from recover.config import Config, load_config
from recover.progress import logger, stage
from review.groups import protected_groups
from review.performance import group_performance
from review.proxies import proxy_check


def snapshot_plan(config: Config) -> SnapshotPlan:
    training = config.training
    return SnapshotPlan(
        every_days=training.snapshot_every_days,
        min_history_days=training.min_history_days,
        window_days=config.label.window_days,
        validation_days=training.validation_days,
        test_days=training.test_days,
    )


def progress(label: str, every: int):
    """An ``on_snapshot`` callback logging every ``every``-th day and the last one."""

    def report(i: int, n: int, date: dt.date) -> None:
        if i == n or i % every == 0:
            logger.info("  %s %d/%d (%s)", label, i, n, date)

    return report


# The training run's fairness document (MLflow artifact), read back by the nightly review.
FAIRNESS_ARTIFACT = "fairness_at_training.json"


def response_plan(config: Config) -> ResponsePlan:
    channel = config.channel_model
    return ResponsePlan(
        every_days=channel.every_days,
        min_history_days=channel.min_history_days,
        window_days=channel.response_window_days,
        validation_days=config.training.validation_days,
        test_days=config.training.test_days,
    )


def training_snapshots(tables, as_of: dt.date, config: Config, on_snapshot=None):
    """The propensity model's training snapshots, as the config defines them."""
    return build_training_set(
        tables,
        as_of,
        snapshot_plan(config),
        qualifying_rule=config.label.qualifying_amount,
        min_amount_overdue=config.scoring.min_amount_overdue,
        tolerance=config.label.tolerance,
        on_snapshot=on_snapshot,
    )


def fit_propensity(snapshots, config: Config):
    """Train the propensity model on the out-of-time split of ``snapshots``."""
    split = out_of_time_split(snapshots, snapshot_plan(config))
    return train_propensity(split, config.training.lightgbm.model_dump(), config.training.seed)


def response_set(tables, as_of: dt.date, config: Config, on_snapshot=None):
    """The best-channel model's response rows, as the config defines them."""
    return build_response_set(
        tables,
        as_of,
        response_plan(config),
        qualifying_rule=config.label.qualifying_amount,
        min_amount_overdue=config.scoring.min_amount_overdue,
        tolerance=config.label.tolerance,
        on_snapshot=on_snapshot,
    )


def fit_channel_model(responses, config: Config, ipw: bool | None = None):
    """Train the best-channel model on the out-of-time split of ``responses`` (``ipw`` overrides
    the config, e.g. to show what the correction changes)."""
    channel = config.channel_model
    return train_channel(
        out_of_time_split(responses, response_plan(config)),
        channel.lightgbm.model_dump(),
        config.training.seed,
        ipw=channel.ipw if ipw is None else ipw,
        weight_clip=channel.weight_clip,
    )


@task(name="build-training-snapshots", cache_policy=NO_CACHE)
def build_snapshots(tables, as_of: dt.date, config: Config):
    snapshots = training_snapshots(tables, as_of, config, progress("snapshot", 5))
    return TrainingSnapshot.validate(snapshots, lazy=True)


@task(name="build-response-set", cache_policy=NO_CACHE)
def build_responses(tables, as_of: dt.date, config: Config):
    return response_set(tables, as_of, config, progress("response day", 20))


@task(name="fit-channel-model", cache_policy=NO_CACHE)
def fit_channel(responses, config: Config):
    return fit_channel_model(responses, config)


@task(name="log-and-register-channel", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_and_register_channel(outcome, as_of: dt.date, data: str, config: Config, example, validation: dict):
    channel = config.channel_model
    return tracking.log_training_run(
        config,
        outcome,
        as_of=as_of,
        data_source=data,
        params=channel.lightgbm.model_dump(),
        input_example=example,
        validation=validation,
        model_name=config.mlflow.channel_model_name,
        kind="train-channel",
        extra_params={
            "response_window_days": channel.response_window_days,
            "response_every_days": channel.every_days,
            "ipw": channel.ipw,
            "weight_clip": channel.weight_clip,
        },
    )


@task(name="fit-and-evaluate", cache_policy=NO_CACHE)
def fit_and_evaluate(snapshots, config: Config):
    return fit_propensity(snapshots, config)


def training_fairness(snapshots, borrowers, outcome, as_of: dt.date, config: Config) -> dict:
    """Out-of-time AUC and calibration error of the propensity model per group, and the proxy
    check of its inputs against the protected attributes (logged with the model)."""
    review = config.review
    split = out_of_time_split(snapshots, snapshot_plan(config))
    test, train = split["test"], split["train"]
    performance = group_performance(
        test["label"],
        outcome.model.predict_proba(test)[:, 1],
        protected_groups(test, borrowers, as_of, review.age_band_edges),
        review.attributes,
        review.min_group_size,
    )
    # One row per borrower: repeated snapshots of one account would let the proxy model and
    # the nearest-neighbour information estimate recognise the person instead of the group.
    people = train.sort_values("as_of", kind="stable").drop_duplicates("borrower_id", keep="last")
    proxies = proxy_check(
        people[list(FEATURE_NAMES)],
        protected_groups(people, borrowers, as_of, review.age_band_edges),
        review.protected,
        mi_threshold=review.proxy_mutual_information,
        auc_threshold=review.proxy_auc,
        seed=config.training.seed,
    )
    return {"performance_by_group": performance.to_dict("records"), "proxy_check": proxies}


@task(name="fairness-at-training", cache_policy=NO_CACHE)
def fairness_at_training(snapshots, borrowers, outcome, as_of: dt.date, config: Config) -> dict:
    return training_fairness(snapshots, borrowers, outcome, as_of, config)


@task(name="log-and-register", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_and_register(
    outcome, as_of: dt.date, data: str, config: Config, example, validation: dict, fairness: dict
):
    return tracking.log_training_run(
        config,
        outcome,
        as_of=as_of,
        data_source=data,
        params=config.training.lightgbm.model_dump(),
        input_example=example,
        validation=validation,
        artifacts={FAIRNESS_ARTIFACT: fairness},
    )


@flow(name="train", log_prints=True)
def train_flow(data: str, as_of: dt.date, config_path: str | None = None) -> dict:
    """Train the propensity model and the best-channel (contact-response) model on history
    before ``as_of`` and make both champions."""
    config = load_config(Path(config_path) if config_path else None)
    timings: dict[str, float] = {}
    with stage("validate inputs", timings):
        validated = load_and_validate(data, as_of, config)
        validation = validation_summary(validated)
    with stage("build training snapshots", timings):
        snapshots = build_snapshots(validated.tables, as_of, config)
    with stage("fit and evaluate out of time", timings):
        outcome = fit_and_evaluate(snapshots, config)
    with stage("fairness by group and proxy check", timings):
        fairness = fairness_at_training(snapshots, validated.tables["borrowers"], outcome, as_of, config)
    with stage("log to MLflow and register", timings):
        example = snapshots[list(FEATURE_NAMES)].head(5)
        champion = log_and_register(outcome, as_of, str(data), config, example, validation, fairness)
    with stage("build response rows (contacts and their outcomes)", timings):
        responses = build_responses(validated.tables, as_of, config)
    with stage("fit best-channel model out of time", timings):
        channel_outcome = fit_channel(responses, config)
    with stage("log best-channel model and register", timings):
        channel_example = responses.drop(columns=["label", "reached"]).head(5)
        channel_champion = log_and_register_channel(
            channel_outcome, as_of, str(data), config, channel_example, validation
        )
    return {
        "as_of": str(as_of),
        "model": champion.label,
        "channel_model": channel_champion.label,
        "channel_metrics": channel_outcome.metrics,
        "treatments": treatment_summary(responses).to_dict("records"),
        "mlflow_run_id": champion.run_id,
        "tracking_uri": tracking.tracking_uri(config),
        "metrics": outcome.metrics,
        "data": outcome.data_summary,
        "input_rows": table_sizes(validated.tables),
        "validation": validation,
        "fairness": fairness,
        "timings": timings,
    }
