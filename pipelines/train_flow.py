"""Prefect flow: validated tables -> training snapshots -> model -> MLflow champion."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from adapters import tracking
from adapters.notify import notify_hooks
from data_contracts.artifacts import (
    DRIFT_REFERENCE_ARTIFACT,
    EVALUATION_BLOCK_ARTIFACT,
    FAIRNESS_ARTIFACT,
    PAYMENT_AMOUNT_ARTIFACT,
)
from data_contracts.outputs import TrainingSnapshot
from features.catalog import CATALOG_VERSION, FEATURE_NAMES
from features.responses import ResponsePlan, build_response_set, sampled_rows, treatment_summary
from features.snapshots import (
    SnapshotPlan,
    build_training_set,
    out_of_time_split,
    split_by_plan,
    split_plan,
)
from models.boosting import fitting_on_dask
from models.channel_history import channel_history_gap
from models.gate import with_baseline_columns, with_group_columns
from models.payment_amount import PaymentShare, payment_share_over
from models.performance import group_performance
from models.training import train_channel, train_propensity
from models.tuning import search_propensity
from monitoring.drift import training_reference
from pipelines.common import (
    cutoff_timezone_of,
    load_and_validate,
    night_cutoff,
    table_sizes,
    validation_summary,
    with_retries,
)
from pipelines.promotion import gate_capacity, promote_models
from pipelines.results import ChannelTraining, PropensityTraining, TrainResult
from pipelines.runtime.cluster import cluster_client, needs_cluster_run, run_on_cluster
from pipelines.runtime.logs import configure_logging
from pipelines.runtime.operations import work_day
from pipelines.runtime.progress import logger, stage
from recover.config import Config, load_config
from review.groups import protected_groups
from review.model_report import TrainingReport, channel_report, propensity_report
from review.proxies import proxy_check


def snapshot_plan(config: Config) -> SnapshotPlan:
    training = config.training
    return SnapshotPlan(
        every_days=training.snapshot_every_days,
        min_history_days=training.min_history_days,
        window_days=config.label.window_days,
        validation_days=training.validation_days,
        test_days=training.test_days,
        cutoff_timezone=cutoff_timezone_of(config),
        cadence=training.snapshot_cadence,
    )


def progress(label: str, every: int):
    """An ``on_snapshot`` callback logging every ``every``-th day and the last one."""

    def report(i: int, n: int, date: dt.date) -> None:
        if i == n or i % every == 0:
            logger.info("  %s %d/%d (%s)", label, i, n, date)

    return report


# The training run's fairness document (MLflow artifact), read back by the nightly review.


def response_plan(config: Config) -> ResponsePlan:
    channel = config.channel_model
    return ResponsePlan(
        every_days=channel.every_days,
        attempts_every_days=channel.attempts_every_days,
        min_history_days=channel.min_history_days,
        window_days=channel.response_window_days,
        validation_days=config.training.validation_days,
        test_days=config.training.test_days,
        cutoff_timezone=cutoff_timezone_of(config),
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


def share_of_payments(snapshots, tables, config: Config) -> PaymentShare | None:
    """What a paying loan pays (:mod:`models.payment_amount`), over the response window."""
    return payment_share_over(
        snapshots,
        tables["payments"],
        window_days=config.channel_model.response_window_days,
        qualifying_rule=config.label.qualifying_amount,
        tolerance=config.label.tolerance,
        timezone=cutoff_timezone_of(config),
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
        prior_lift=channel.prior_lift,
        min_propensity=channel.min_propensity,
    )


@task(name="build-training-snapshots", cache_policy=NO_CACHE)
def build_snapshots(tables, as_of: dt.date, config: Config):
    snapshots = training_snapshots(tables, as_of, config, progress("snapshot", 5))
    return TrainingSnapshot.validate(snapshots, lazy=True)


@task(name="build-response-set", cache_policy=NO_CACHE)
def build_responses(tables, as_of: dt.date, config: Config):
    return response_set(tables, as_of, config, progress("response day", 20))


def training_client(config: Config):
    """The Dask client the boosters fit on (lightgbm.dask), or None to fit in process."""
    return cluster_client() if config.cluster.train_on_cluster else None


@task(name="fit-channel-model", cache_policy=NO_CACHE)
def fit_channel(responses, config: Config):
    with fitting_on_dask(training_client(config)):
        return fit_channel_model(responses, config)


@task(name="log-and-register-channel", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_and_register_channel(
    outcome,
    as_of: dt.date,
    data: str,
    config: Config,
    example,
    validation: dict,
    evidence=None,
    report: TrainingReport | None = None,
    tables=None,
):
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
            "response_attempts_every_days": channel.attempts_every_days,
            "ipw": channel.ipw,
            "weight_clip": channel.weight_clip,
        },
        frames={
            **(report.frames if report is not None else {}),
            **({EVALUATION_BLOCK_ARTIFACT: evidence} if evidence is not None else {}),
        },
        files=report.files if report is not None else None,
        tables=tables,
    )


@task(name="fit-and-evaluate", cache_policy=NO_CACHE)
def fit_and_evaluate(split, config: Config):
    with fitting_on_dask(training_client(config)):
        return train_propensity(split, config.training.lightgbm.model_dump(), config.training.seed)


def training_fairness(split, borrowers, outcome, as_of: dt.date, config: Config) -> dict:
    """Out-of-time AUC and calibration error of the propensity model per group, and the proxy
    check of its inputs against the protected attributes (logged with the model); ``split`` is
    the out-of-time split of the training snapshots."""
    review = config.review
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
def fairness_at_training(split, borrowers, outcome, as_of: dt.date, config: Config) -> dict:
    return training_fairness(split, borrowers, outcome, as_of, config)


def training_drift_reference(split, outcome, config: Config) -> dict:
    """The bins of the out-of-time test block (the newest rows, on which the model was judged)
    and of the model's p_pay on them: what every nightly run's drift check compares tonight's
    book with (logged with the model)."""
    # The test block, not the train block: it is the newest history and its p_pay is held out,
    # as tonight's is. The train block is older and scored in-sample: against it the default
    # demo's normal night measured a p_pay PSI of 0.103 (a warning every night), against the
    # test block 0.010.
    test = split["test"]
    reference = training_reference(
        test,
        outcome.model.predict_proba(test)[:, 1],
        FEATURE_NAMES,
        bins=config.monitoring.drift_bins,
    )
    # How many snapshot days the reference spans: one month of a short history is a weak
    # reference (monitoring.min_reference_snapshots).
    reference["snapshots"] = int(test["as_of"].nunique())
    return reference


@task(name="drift-reference", cache_policy=NO_CACHE)
def drift_reference_at_training(split, outcome, config: Config) -> dict:
    return training_drift_reference(split, outcome, config)


@task(name="log-and-register", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_and_register(
    outcome,
    as_of: dt.date,
    data: str,
    config: Config,
    example,
    validation: dict,
    fairness: dict,
    drift_reference: dict | None = None,
    report: TrainingReport | None = None,
    search_run_id: str | None = None,
    out_of_time_plan: str | None = None,
    tables=None,
    payment_share: PaymentShare | None = None,
):
    """Log the propensity run (with ``tables``, the validated input tables, as its dataset) and
    register the model; the gate's evidence block carries the plain LightGBM baseline's
    predictions on the test block (``baseline_plain_lightgbm``) beside its group columns, and
    the run carries the learnt ``payment_share`` (:mod:`models.payment_amount`) the nights
    price a response with."""
    extra = {"search_run_id": search_run_id} if search_run_id else {}
    if out_of_time_plan:
        extra["out_of_time_plan"] = out_of_time_plan
    frames = dict(report.frames) if report is not None else None
    if frames is not None and EVALUATION_BLOCK_ARTIFACT in frames:
        frames[EVALUATION_BLOCK_ARTIFACT] = with_baseline_columns(
            frames[EVALUATION_BLOCK_ARTIFACT], outcome.baseline_scores
        )
    return tracking.log_training_run(
        config,
        outcome,
        as_of=as_of,
        data_source=data,
        params=config.training.lightgbm.model_dump(),
        input_example=example,
        validation=validation,
        artifacts={
            FAIRNESS_ARTIFACT: fairness,
            **({DRIFT_REFERENCE_ARTIFACT: drift_reference} if drift_reference is not None else {}),
            **({PAYMENT_AMOUNT_ARTIFACT: payment_share.to_document()} if payment_share is not None else {}),
        },
        frames=frames,
        files=report.files if report is not None else None,
        extra_params=extra or None,
        tables=tables,
    )


def evidence_groups(config: Config) -> list[str]:
    """The group columns the gate's evidence carries: the reviewed attributes, and region for
    the per-segment metrics."""
    return list(dict.fromkeys([*config.review.attributes, "region"]))


def training_report(
    split, borrowers, outcome, as_of: dt.date, data: str, config: Config, out_of_time_plan: str | None = None
) -> TrainingReport:
    """Per-segment metrics, deciles, calibration, SHAP summary, model card and the gate's
    evidence block (the test block with its protected-group columns) of a propensity run."""
    test = split["test"]
    attributes = evidence_groups(config)
    groups = protected_groups(test, borrowers, as_of, config.review.age_band_edges)
    evidence = with_group_columns(test, groups, attributes)
    report = propensity_report(
        outcome.model,
        split,
        evidence,
        capacity=gate_capacity(config, evidence),
        seed=config.training.seed,
        card_facts={
            "model_name": config.mlflow.propensity_model_name,
            "as_of": str(as_of),
            "label": (
                f"P(the loan pays its qualifying amount ({config.label.qualifying_amount}) within "
                f"{config.label.window_days} days of the scoring date), for loans overdue on that date."
            ),
            "data_source": data,
            "catalog_version": CATALOG_VERSION,
            "n_features": len(FEATURE_NAMES),
            "seed": config.training.seed,
            "window_days": config.label.window_days,
            "metrics": outcome.metrics,
            "data": outcome.data_summary,
            "out_of_time_plan": out_of_time_plan,
        },
    )
    return TrainingReport(
        metrics=report.metrics,
        frames={**report.frames, EVALUATION_BLOCK_ARTIFACT: evidence},
        files=report.files,
    )


def search_hyperparameters(split, as_of: dt.date, config: Config, trials: int, timeout_seconds: float):
    """Run the optuna search on the out-of-time ``split``, each trial a nested MLflow run under a
    ``search`` run; returns the config with the best parameters and the search's run id."""
    base = config.training.lightgbm.model_dump()
    settings = {
        "trials": trials,
        "timeout_seconds": timeout_seconds,
        "seed": config.training.seed,
        "objective": "valid_auc",
    }
    with tracking.search_run(config, as_of, settings) as (run_id, log_trial):
        result = search_propensity(
            split,
            base,
            n_trials=trials,
            timeout_seconds=timeout_seconds,
            seed=config.training.seed,
            on_trial=log_trial,
        )
        tracking.log_search_result(result)
    logger.info(
        "  search: %d trials in %.0f s, best validation AUC %.4f (trial %d)",
        len(result.trials),
        result.seconds,
        result.best_value,
        result.best_trial,
    )
    tuned = config.training.lightgbm.model_validate(result.best_params)
    training = config.training.model_copy(update={"lightgbm": tuned})
    return config.model_copy(update={"training": training}), run_id


@task(name="hyperparameter-search", cache_policy=NO_CACHE)
def hyperparameter_search(split, as_of: dt.date, config: Config, trials: int, timeout_seconds: float):
    return search_hyperparameters(split, as_of, config, trials, timeout_seconds)


def channel_training_report(split, outcome, as_of: dt.date, data: str, config: Config) -> TrainingReport:
    """Calibration, lift, metrics per treatment and model card of the best-channel run, on the
    out-of-time ``split`` of its response rows."""
    return channel_report(
        outcome.model,
        split,
        card_facts={
            "model_name": config.mlflow.channel_model_name,
            "as_of": str(as_of),
            "window_days": config.channel_model.response_window_days,
            "data_source": data,
            "catalog_version": CATALOG_VERSION,
            "seed": config.training.seed,
            "treatments": outcome.data_summary.get("treatments", {}),
            "metrics": outcome.metrics,
        },
    )


@task(name="channel-training-report", cache_policy=NO_CACHE)
def channel_training_report_task(split, outcome, as_of: dt.date, data: str, config: Config):
    return channel_training_report(split, outcome, as_of, data, config)


@task(name="training-report", cache_policy=NO_CACHE)
def training_report_task(
    split, borrowers, outcome, as_of: dt.date, data: str, config: Config, out_of_time_plan: str | None = None
):
    return training_report(split, borrowers, outcome, as_of, data, config, out_of_time_plan)


@task(name="promotion-gate", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def promotion_gate_task(config: Config, promote: bool):
    return promote_models(config, promote=promote)


@dataclass(frozen=True)
class TrainingRun:
    """What the stages of one training run share: its date, its data source, its config (with
    the searched parameters once the search ran), the validated input tables and their
    validation summary, and the stage timings they add to."""

    as_of: dt.date
    data: str
    config: Config
    tables: dict[str, pd.DataFrame]
    validation: dict
    timings: dict[str, float]


@flow(name="train", log_prints=True, **notify_hooks())
def train_flow(
    data: str,
    as_of: dt.date | None,
    config_path: str | None = None,
    promote: bool = False,
    search_trials: int | None = None,
    search_timeout_seconds: float | None = None,
    cluster: str | None = None,
) -> TrainResult:
    """Train the propensity model and the best-channel (contact-response) model on history
    before ``as_of``, register both as challengers (champions too when a model has none yet),
    and run the promotion gate against the champions: with ``promote`` a challenger that passes
    becomes champion; either way the gate's table is logged. ``search_trials`` (default: the
    config's ``training.search.trials``) first runs a time-boxed optuna search whose best
    parameters train the propensity model. ``as_of`` None is the day begun in the lender's time
    zone (a scheduled retraining); a failure notifies (adapters/notify.py). ``cluster`` (else
    ``cluster.address``) names a Dask scheduler to fit the boosters on (lightgbm.dask)."""
    config = load_config(Path(config_path) if config_path else None)
    configure_logging(config.operations.log_format)
    address = cluster or config.cluster.address
    if needs_cluster_run(address):
        return run_on_cluster(
            train_flow,
            address,
            data,
            as_of,
            config_path,
            promote,
            search_trials,
            search_timeout_seconds,
            address,
        )
    as_of = as_of or work_day(config.schedule.timezone)
    timings: dict[str, float] = {}
    validated, validation = validate_stage(data, as_of, config, timings)
    snapshots, split, out_of_time_plan = snapshot_stage(validated.tables, as_of, config, timings)
    config, search_run_id = search_stage(split, as_of, config, search_trials, search_timeout_seconds, timings)
    run = TrainingRun(as_of, str(data), config, validated.tables, validation, timings)
    propensity = propensity_stages(run, snapshots, split, out_of_time_plan, search_run_id)
    channel = channel_stages(run)
    with stage("promotion gate" + (" and promotion" if promote else ""), timings):
        decisions = promotion_gate_task(config, promote)
    result = TrainResult(
        as_of=as_of,
        propensity=propensity,
        channel=channel,
        promotion=tuple(decisions),
        tracking_uri=tracking.tracking_uri(config),
        input_rows=table_sizes(validated.tables),
        validation=validation,
        timings=timings,
    )
    attach_training_summary(result, config)
    return result


def validate_stage(data: str, as_of: dt.date, config: Config, timings: dict[str, float]):
    """The validated input tables (a failed read is retried) and their validation summary."""
    with stage("validate inputs", timings):
        validated = with_retries(load_and_validate, config)(data, night_cutoff(config, as_of), config)
        validation = validation_summary(validated)
    return validated, validation


def snapshot_stage(tables, as_of: dt.date, config: Config, timings: dict[str, float]):
    """The training snapshots, their out-of-time split and the split's plan (described)."""
    with stage("build training snapshots", timings):
        snapshots = build_snapshots(tables, as_of, config)
        # One out-of-time split serves the search, the fit, the fairness check, the drift
        # reference and the report.
        blocks = split_plan(snapshots["as_of"], snapshot_plan(config))
        split = split_by_plan(snapshots, blocks)
        out_of_time_plan = blocks.describe()
        logger.info("  %s", out_of_time_plan)
    return snapshots, split, out_of_time_plan


def search_stage(
    split,
    as_of: dt.date,
    config: Config,
    search_trials: int | None,
    search_timeout_seconds: float | None,
    timings: dict[str, float],
) -> tuple[Config, str | None]:
    """The config to train with and the search's run id: with the searched parameters when the
    search runs (``search_trials``, else the config's, above 0), else as given and None."""
    search = config.training.search
    trials = search.trials if search_trials is None else search_trials
    if trials <= 0:
        return config, None
    timeout = search_timeout_seconds or search.timeout_seconds
    with stage(f"hyperparameter search ({trials} trials, at most {timeout:.0f} s)", timings):
        config, search_run_id = hyperparameter_search(split, as_of, config, trials, timeout)
    return config, search_run_id


def propensity_stages(
    run: TrainingRun, snapshots, split, out_of_time_plan: str, search_run_id: str | None
) -> PropensityTraining:
    """Fit, judge, report, log and register the propensity model on the out-of-time ``split``
    of ``snapshots``."""
    config, as_of, timings = run.config, run.as_of, run.timings
    borrowers = run.tables["borrowers"]
    with stage("fit and evaluate out of time", timings):
        outcome = fit_and_evaluate(split, config)
    with stage("fairness by group and proxy check", timings):
        fairness = fairness_at_training(split, borrowers, outcome, as_of, config)
    with stage("drift reference of the test block", timings):
        reference = drift_reference_at_training(split, outcome, config)
    with stage("segments, deciles, calibration, SHAP summary and model card", timings):
        report = training_report_task(split, borrowers, outcome, as_of, run.data, config, out_of_time_plan)
        outcome = dataclasses.replace(outcome, metrics={**outcome.metrics, **report.metrics})
    with stage("what a paying loan pays (share of the arrears)", timings):
        payment_share = share_of_payments(snapshots, run.tables, config)
    with stage("log to MLflow and register", timings):
        example = snapshots[list(FEATURE_NAMES)].head(5)
        champion = log_and_register(
            outcome,
            as_of,
            run.data,
            config,
            example,
            run.validation,
            fairness,
            reference,
            report,
            search_run_id,
            out_of_time_plan,
            tables=run.tables,
            payment_share=payment_share,
        )
    return PropensityTraining(
        model=champion.label,
        mlflow_run_id=champion.run_id,
        metrics=outcome.metrics,
        data=outcome.data_summary,
        fairness=fairness,
        out_of_time_plan=out_of_time_plan,
        search_run_id=search_run_id,
        lightgbm=config.training.lightgbm.model_dump(),
    )


def channel_stages(run: TrainingRun) -> ChannelTraining:
    """The best-channel model from the history's response rows, or why the history cannot teach
    one (the queue then values channels by the stated prior)."""
    with stage("build response rows (contacts and their outcomes)", run.timings):
        responses = build_responses(run.tables, run.as_of, run.config)
        channel_gap = channel_history_gap(responses, run.config.channel_model.min_attempts)
    treatments = treatment_summary(sampled_rows(responses)).to_dict("records")
    if channel_gap is not None:
        logger.warning(
            "  no best-channel model: %s; the queue values channels by channel_model.prior_lift", channel_gap
        )
        return ChannelTraining(model=None, not_fitted=channel_gap, metrics={}, treatments=treatments)
    champion, metrics = train_channel_stages(
        responses, run.as_of, run.data, run.config, run.validation, run.timings, tables=run.tables
    )
    return ChannelTraining(model=champion.label, not_fitted=None, metrics=metrics, treatments=treatments)


def train_channel_stages(
    responses, as_of: dt.date, data: str, config: Config, validation: dict, timings, tables=None
):
    """Fit, report, log and register the best-channel model (``tables``: the validated input
    tables, logged as the run's dataset); returns (registered version, metrics)."""
    with stage("fit best-channel model out of time", timings):
        channel_outcome = fit_channel(responses, config)
    with stage("log best-channel model and register", timings):
        channel_example = responses.drop(columns=["label", "reached", "sampled_day"]).head(5)
        # Reports and the gate's evidence judge the model on sampled account-days, with and
        # without contact, not on the extra attempt-only rows the funnel also learnt from.
        channel_split = {
            name: sampled_rows(block)
            for name, block in out_of_time_split(responses, response_plan(config)).items()
        }
        channel_evidence = channel_split["test"]
        channel_report_ = channel_training_report_task(
            channel_split, channel_outcome, as_of, str(data), config
        )
        channel_outcome = dataclasses.replace(
            channel_outcome, metrics={**channel_outcome.metrics, **channel_report_.metrics}
        )
        channel_champion = log_and_register_channel(
            channel_outcome,
            as_of,
            str(data),
            config,
            channel_example,
            validation,
            channel_evidence,
            channel_report_,
            tables=tables,
        )
    return channel_champion, channel_outcome.metrics


@task(name="attach-training-summary", cache_policy=NO_CACHE)
def attach_training_summary(result: TrainResult, config: Config) -> None:
    """The training run's summary as a Prefect artifact (best effort: the models are registered)."""
    from prefect import get_run_logger
    from prefect.artifacts import create_markdown_artifact

    from review.run_summary import training_summary_markdown

    try:
        create_markdown_artifact(
            key="training-summary",
            markdown=training_summary_markdown(
                result, tracking.run_link(config, result.propensity.mlflow_run_id)
            ),
            description=f"Training as of {result.as_of}",
        )
    except Exception as error:
        get_run_logger().warning("could not attach the training summary to the flow run: %s", error)
