"""Prefect flow: validated tables -> features -> champion scores -> ranked, explained queue."""

from __future__ import annotations

import datetime as dt
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from adapters import tracking
from adapters.archive import QueueArchive
from adapters.code_version import code_fingerprint
from adapters.excel import write_team_workbook
from adapters.io import publish_outputs, write_drift_failure, write_quarantine
from adapters.notify import notify_hooks
from adapters.publish import publish_queue
from data_contracts.artifacts import DRIFT_REFERENCE_ARTIFACT, FAIRNESS_ARTIFACT, PAYMENT_AMOUNT_ARTIFACT
from data_contracts.enums import DISPOSITIONS
from data_contracts.outputs import (
    LEFT_ALONE_COLUMNS,
    AccountFeatures,
    ContactWindows,
    Dispositions,
    Explanations,
    Forbearance,
    LeftAlone,
    PromiseFollowUp,
    Queue,
    Suppressed,
)
from features.build import build_features
from features.catalog import FEATURE_NAMES
from features.point_in_time import Cutoff
from features.promises import promise_ledger
from features.responses import channel_history
from models.channel_prior import is_prior
from models.payment_amount import payment_share_from
from monitoring.drift import (
    DRIFT_COLUMNS,
    DriftError,
    drift_block,
    drift_warning,
    population_stability,
    summarise_drift,
)
from monitoring.outcomes import ShadowScore, queue_history
from pipelines.common import (
    InvalidInputError,
    channel_champion_or_prior,
    load_and_validate,
    new_run_id,
    night_cutoff,
    validation_summary,
    with_retries,
)
from pipelines.runtime.cluster import (
    cluster_client,
    map_partitions,
    needs_cluster_run,
    partition_count,
    run_on_cluster,
)
from pipelines.runtime.logs import configure_logging
from pipelines.runtime.operations import (
    NightLock,
    StageCache,
    prune_stage_records,
    source_fingerprint,
    work_day,
)
from pipelines.runtime.partitions import combine, in_key_order, split_frame, split_tables_by_borrower
from pipelines.runtime.progress import stage
from recover.config import Config, load_config
from review.disparity import disparity_table, loan_outcomes
from review.figures import review_figures
from review.groups import protected_groups
from review.report import (
    compliance_summary,
    global_importance,
    reason_codes,
    reason_coverage,
    render_html,
    review_document,
)
from review.run_summary import queue_top, run_summary_markdown
from scoring.allocation import AllocationSettings, allocate
from scoring.choice import (
    explain_channels,
    lawful_options,
    options_for_windows,
    runner_up_channels,
    score_options,
    settle,
    team_capacities,
    with_teams,
)
from scoring.dispositions import check_partition, decide
from scoring.policy.engine import apply_contact_policy, unreadable_hold_loans
from scoring.policy.packs import resolve_packs
from scoring.queue import cutoff_column, finalize_decisions, rank_queue
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
    "explanations": Explanations,  # with scoring.explain: all
}

REVIEW_JSON = "review.json"
REVIEW_HTML = "review.html"


@task(name="build-features", cache_policy=NO_CACHE)
def features_for(tables, as_of: Cutoff, config: Config):
    """Features of every overdue loan as of the night's cut-off; on a cluster, built per
    partition of borrowers."""
    settings = {
        "as_of": as_of,
        "min_amount_overdue": config.scoring.min_amount_overdue,
        "tolerance": config.label.tolerance,
    }
    client = cluster_client()
    if client is None:
        features = build_features(tables, **settings)
    else:
        books = split_tables_by_borrower(
            tables, partition_count(client, config.cluster.partitions_per_worker)
        )
        pieces = map_partitions(build_features, books, name="build-features-partition", **settings)
        # build_features orders its rows by loan id; the combined pieces are ordered the same way.
        features = combine(pieces).sort_values("loan_id", kind="stable").reset_index(drop=True)
    return AccountFeatures.validate(features, lazy=True)


def by_partition(fn, *frames, name: str, config: Config, **shared):
    """``fn(*frames, **shared)``: in process, once on the whole frames; on a cluster, once per
    partition of loans (each frame cut by its loan ids), the results in a list."""
    client = cluster_client()
    if client is None:
        return [fn(*frames, **shared)]
    partitions = partition_count(client, config.cluster.partitions_per_worker)
    pieces = [split_frame(frame, partitions) for frame in frames]
    return map_partitions(fn, *pieces, name=name, **shared)


def propensity_of(features, model) -> pd.Series:
    """The champion's calibrated p_pay of each row of ``features``."""
    return pd.Series(model.predict_proba(features)[:, 1], index=features.index)


def propensity_reasons(explained, model, n_reasons: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The SHAP contributions and the plain-language reasons of each row of ``explained``."""
    contributions, _ = model.shap_values(explained)
    return contributions, top_reasons(explained, contributions, n=n_reasons)


@task(name="load-champion", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def champion_for(config: Config, name: str | None = None):
    return tracking.load_champion(config, name)


@task(name="load-champion-document", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def champion_document(config: Config, mlflow_run_id: str, artifact: str) -> dict | None:
    """A JSON artifact of the champion's training run (drift reference, fairness check), or None."""
    return tracking.load_run_document(config, mlflow_run_id, artifact)


def allocation_settings(config: Config) -> AllocationSettings:
    decisions = config.decisions
    return AllocationSettings(
        channel_cost=decisions.channel_cost,
        exploration_share=decisions.exploration_share,
        control_share=decisions.control_share,
        control_days=decisions.control_days,
        self_cure_threshold=decisions.self_cure_threshold,
        salt=decisions.salt,
        repeat_contact_discount=decisions.repeat_contact_discount,
    )


@contextmanager
def timed(name: str, seconds: dict[str, float]):
    """Add the wall time of the block to ``seconds[name]``."""
    began = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - began, 3)


@task(name="choose-contacts", cache_policy=NO_CACHE)
def contacts_for(
    decisions, verdict, validated, channel_champion, as_of: dt.date, config: Config, payment_share=None
):
    """Best channel and incremental value of every candidate; capacity allocation; left alone.
    ``payment_share`` (the champion's, :mod:`models.payment_amount`) prices a response; without
    it a response is worth the amount overdue. Also returns the seconds of its parts (channel
    scoring, allocation, channel explanations)."""
    settings = allocation_settings(config)
    teams = config.teams
    seconds: dict[str, float] = {}
    with timed("channel scoring", seconds):
        history = channel_history(
            validated.tables["interactions"], validated.tables["payments"], validated.cutoff or as_of
        )
        candidates = decisions.candidates
        lawful = lawful_options(candidates, verdict.windows)
        pieces = by_partition(
            score_options,
            candidates,
            lawful,
            history,
            model=channel_champion.model,
            payment_share=payment_share,
            repeat_contact_discount=config.decisions.repeat_contact_discount,
            name="score-channels-partition",
            config=config,
        )
        options = combine(pieces)
        if len(pieces) > 1:  # allocation breaks ties by row order: keep the unpartitioned order
            options = in_key_order(options, lawful, ["loan_id", "channel"])
    with timed("allocation", seconds):
        options = with_teams(options, verdict.accounts, config.teams.split_by)
        capacity = team_capacities(
            options, teams.default_capacity, teams.capacity_by_channel, teams.capacity_by_team
        )
        allocation = allocate(options, capacity, settings, as_of=as_of)
        settled, left_alone = settle(decisions, allocation, verdict.windows, settings)
    with timed("channel explanations", seconds):
        runner_up = runner_up_channels(allocation.assignments, options, settings.channel_cost)
        queued = settled.candidates
        pieces = by_partition(
            explain_channels,
            queued,
            runner_up,
            history,
            model=channel_champion.model,
            n=config.scoring.n_reasons,
            name="explain-channels-partition",
            config=config,
        )
        reasons = combine(pieces, index=queued.index)
        settled = replace(settled, candidates=queued.join(reasons))
    with timed("allocation", seconds):
        windows = options_for_windows(verdict.windows, options, settings.channel_cost)
    return settled, left_alone, windows, seconds


@task(name="apply-contact-policy", cache_policy=NO_CACHE)
def contact_policy_for(features, validated, as_of: dt.date, config: Config, policy: str | None):
    """Judge every overdue loan under its rule pack and give it exactly one disposition. The
    rules count the contacts made before the night's cut-off (``validated.cutoff``)."""
    packs, default, by_region = resolve_packs(
        policy or config.policy.default,
        config.policy.by_region,
        config.policy.packs_dir,
        house_rules=config.policy.cadence,
    )
    tables = validated.tables
    cutoff = validated.cutoff or Cutoff(as_of)
    verdict = apply_contact_policy(
        features["loan_id"],
        tables,
        cutoff,
        packs,
        default,
        by_region,
        unreadable_holds=unreadable_hold_loans(validated.quarantined_rows),
    )
    promises = promise_ledger(
        tables["interactions"],
        tables["payments"],
        cutoff.instant,
        tolerance=config.label.tolerance,
        grace_days=config.promises.grace_days,
        timezone=cutoff.timezone,
    )
    decisions = decide(features, verdict, promises, as_of=as_of, preference=config.scoring.channel_preference)
    return verdict, decisions


@task(name="score-and-explain", cache_policy=NO_CACHE)
def score_and_explain(
    features, verdict, decisions, left_alone, windows, champion, config: Config, run_id: str, cutoff: Cutoff
):
    """Score every overdue loan; explain and rank the ones queued for contact today. Every output
    row carries the night's cut-off (``data_cutoff_utc``)."""
    seconds: dict[str, float] = {}
    model = champion.model
    with timed("propensity scoring", seconds):
        pieces = by_partition(propensity_of, features, model=model, name="score-partition", config=config)
        p_pay = combine(pieces, index=features.index)
    to_work = decisions.candidates
    explained = features if config.scoring.explain == "all" else to_work
    with timed("propensity explanations", seconds):
        pieces = by_partition(
            propensity_reasons,
            explained[features.columns],
            model=model,
            n_reasons=config.scoring.n_reasons,
            name="explain-partition",
            config=config,
        )
        all_contributions = combine([contributions for contributions, _ in pieces], index=explained.index)
        all_reasons = combine([reasons for _, reasons in pieces], index=explained.index)
    contributions = all_contributions.loc[to_work.index]
    reasons = all_reasons.loc[to_work.index]
    ranking = time.perf_counter()
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
        data_cutoff_utc=cutoff.instant,
        rank_by=config.scoring.rank_by,
    )
    companions = finalize_decisions(decisions, windows, run_id, data_cutoff_utc=cutoff.instant)
    companions["left_alone"] = left_alone.assign(
        run_id=run_id, data_cutoff_utc=cutoff_column(cutoff.instant, left_alone.index)
    )[LEFT_ALONE_COLUMNS].reset_index(drop=True)
    check_partition(features, companions["dispositions"], queue, companions)
    if config.scoring.explain == "all":
        explanations = explanations_of(explained, p_pay, all_reasons, run_id)
        companions["explanations"] = explanations.assign(
            data_cutoff_utc=cutoff_column(cutoff.instant, explanations.index)
        )
    seconds["ranking and companion lists"] = round(time.perf_counter() - ranking, 3)
    scores = Scores(p_pay=p_pay, contributions=contributions, seconds=seconds)
    return (
        Queue.validate(queue, lazy=True),
        {name: COMPANION_CONTRACTS[name].validate(frame, lazy=True) for name, frame in companions.items()},
        scores,
    )


def explanations_of(explained, p_pay, reasons, run_id: str):
    """The explanations.parquet rows: keys, p_pay and reasons of every explained loan."""
    frame = explained[["loan_id", "borrower_id", "as_of"]].copy()
    frame["run_id"] = run_id
    frame["p_pay_30d"] = p_pay.loc[explained.index]
    for column in ("reason_1", "reason_2", "reason_3"):
        frame[column] = reasons[column] if column in reasons.columns else None
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Scores:
    """What scoring leaves for the review: p_pay of every overdue loan, the SHAP contributions of
    the queued ones, and the seconds of scoring's parts (scoring, explanations, ranking)."""

    p_pay: pd.Series
    contributions: pd.DataFrame
    seconds: dict[str, float]

    @property
    def explain_seconds(self) -> float:
        return self.seconds.get("propensity explanations", 0.0)


DRIFT_TABLE = "drift"


@task(name="check-drift", cache_policy=NO_CACHE)
def drift_for(reference: dict | None, features, p_pay, config: Config, run_id: str, as_of: dt.date):
    """Tonight's population stability against the champion's training ``reference``: the table
    (empty when the champion has no reference), its summary (None then) and the manifest block.
    Crossing the warn threshold is logged as a warning on the flow run; the table is attached to
    the flow run as an artifact."""
    monitoring = config.monitoring
    warn, fail = monitoring.drift_warn_psi, monitoring.drift_fail_psi
    if reference is None:
        table, summary = pd.DataFrame(columns=DRIFT_COLUMNS), None
    else:
        table = population_stability(reference, features[list(FEATURE_NAMES)], p_pay, warn=warn, fail=fail)
        summary = summarise_drift(table, monitoring.drift_fail_on).with_weak_reference(
            reference.get("snapshots"), monitoring.min_reference_snapshots
        )
    block = drift_block(summary, warn=warn, fail=fail, fail_on=monitoring.drift_fail_on)
    logger = get_run_logger()
    message = block["detail"] if summary is None else drift_warning(summary, warn, fail)
    if message:
        logger.warning(message)
    if summary is not None and summary.downgraded:
        logger.warning("drift beyond the fail threshold on %s; %s", summary.blocking, summary.downgraded)
    table = table.assign(run_id=run_id, as_of=str(as_of))[["run_id", "as_of", *DRIFT_COLUMNS]]
    try:
        create_table_artifact(
            key="drift",
            # NaN is not JSON: the API refuses it.
            table=json.loads(table.to_json(orient="records")),
            description=f"Drift (PSI) from the champion's reference (out-of-time test block): {block['status']}",
        )
    except Exception as error:  # the table is in the run's files; a missing artifact must not stop the night
        logger.warning("could not attach the drift table to the flow run: %s", error)
    return table, summary, block


@task(name="fair-practice-review", cache_policy=NO_CACHE)
def fair_practice_review(
    features,
    scores: Scores,
    queue,
    companions,
    validated,
    verdict,
    run: dict,
    as_of: dt.date,
    training,
    config: Config,
):
    """The run's review document and its plots (review.json / review.html); ``run`` holds the
    facts the review quotes, ``training`` the champion's fairness check (None if it has none)."""
    review = config.review
    groups = protected_groups(
        features[["loan_id", "borrower_id"]],
        validated.tables["borrowers"],
        as_of,
        review.age_band_edges,
    )
    outcomes = loan_outcomes(features, companions["dispositions"], queue, scores.p_pay)
    disparity = disparity_table(
        outcomes,
        groups,
        review.attributes,
        bounds=tuple(review.disparity_bounds),
        min_group_size=review.min_group_size,
        alpha=review.significance,
    )
    document = review_document(
        run=run,
        coverage=reason_coverage(queue),
        importance=global_importance(scores.contributions),
        codes=reason_codes(scores.contributions, n=config.scoring.n_reasons),
        p_pay=scores.p_pay,
        priority=queue["priority_score"],
        disparity=disparity,
        training=training,
        compliance=compliance_summary(companions["suppressed"], companions["dispositions"], verdict.packs),
        settings=review.model_dump(),
    )
    figures = review_figures(features, scores.contributions, scores.p_pay, queue["priority_score"])
    return document, figures


def review_files(review: dict, figures: dict) -> dict:
    """Writers of review.json and review.html for :func:`publish`."""
    return {
        REVIEW_JSON: lambda path: path.write_text(json.dumps(review, indent=2)),
        REVIEW_HTML: lambda path: path.write_text(render_html(review, figures), encoding="utf-8"),
    }


@task(name="log-review", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_review(config: Config, review: dict, files: dict, run_id: str) -> str:
    """The review to MLflow (run kind ``score``) and to the Prefect flow run (a markdown artifact);
    returns the MLflow run id."""
    mlflow_run_id = tracking.log_scoring_review(config, review, [files[REVIEW_JSON], files[REVIEW_HTML]])
    flagged = review["disparities"]["flagged"]
    lines = [
        f"# Fair-practice review {review['run']['as_of']}",
        f"- run `{run_id}`, {review['run']['queued']:,} queued of {review['run']['overdue']:,} overdue",
        f"- queued rows with three reasons: {review['explanations']['share_with_three_reasons']:.1%}; "
        f"with three channel reasons: {review['explanations']['share_with_three_channel_reasons']:.1%}",
        f"- disparities flagged: {len(flagged)}",
        *[
            f"  - {row['metric']} for {row['attribute']} = {row['group']}: ratio "
            f"{row['ratio_to_reference']:.2f} to {row['reference_group']}"
            for row in flagged
        ],
        f"- full report: `{files[REVIEW_HTML]}`",
    ]
    create_markdown_artifact(
        key="fair-practice-review", markdown="\n".join(lines), description="Fair-practice review of the run"
    )
    return mlflow_run_id


QUEUE_TOP_ROWS = 50


@task(name="attach-run-summary", cache_policy=NO_CACHE)
def attach_run_summary(manifest: dict, queue, files: dict, mlflow_run_id: str | None, config: Config) -> None:
    """The run's summary (markdown) and the top of its queue (table) as Prefect artifacts.
    Best effort: the queue is already out, a missing artifact must not fail the night."""
    logger = get_run_logger()
    try:
        mlflow_link = tracking.run_link(config, mlflow_run_id) if mlflow_run_id else None
        create_markdown_artifact(
            key="nightly-summary",
            markdown=run_summary_markdown(manifest, files, mlflow_link),
            description=f"Nightly run {manifest['as_of']}: {manifest['counts']['queued']:,} queued",
        )
        create_table_artifact(
            key="queue-top",
            table=json.loads(queue_top(queue, QUEUE_TOP_ROWS).to_json(orient="records", date_format="iso")),
            description=f"The first {QUEUE_TOP_ROWS} rows of the queue by priority (no contact details)",
        )
    except Exception as error:
        logger.warning("could not attach the run summary to the flow run: %s", error)


def shadow_score(features, config: Config) -> ShadowScore | None:
    """The propensity challenger's p_pay of every overdue loan, when a challenger alias exists.
    Best effort: a challenger that cannot be loaded or scored is left out with a warning."""
    try:
        challenger = tracking.load_version(
            config, config.mlflow.propensity_model_name, config.mlflow.challenger_alias
        )
        if challenger is None:
            return None
        p_pay = pd.Series(challenger.model.predict_proba(features)[:, 1], index=features.index)
        return ShadowScore(label=challenger.label, p_pay=p_pay)
    except Exception as error:
        get_run_logger().warning("challenger shadow score left out: %s", error)
        return None


@task(name="archive-queue-history", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def archive_queue_history(
    features, scores: Scores, queue, companions, champion, as_of: dt.date, run_id: str, config: Config
) -> dict:
    """After the publish: every overdue loan scored tonight into the queue history of the state
    folder (adapters/archive.py), which `recover backfill` joins to later payments. The
    challenger is scored here, after the queue is out, so its shadow score never changes it."""
    rows = queue_history(
        features,
        scores.p_pay,
        queue,
        companions["dispositions"],
        companions["left_alone"],
        run_id=run_id,
        as_of=as_of,
        model_version=champion.label,
        archived_at=pd.Timestamp.now(tz="UTC"),
        qualifying_rule=config.label.qualifying_amount,
        challenger=shadow_score(features, config),
    )
    return QueueArchive.in_state(config.resolved_state_dir()).write(rows).as_dict()


@task(name="publish", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def publish(out: str, queue, companions, quarantine, manifest: dict, run_id: str, extra_files: dict):
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
        parquet_only={"contact_windows", "explanations"},
        files={TEAM_WORKBOOK: workbook, **extra_files},
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


@flow(name="nightly-score", log_prints=True, **notify_hooks())
def nightly_score_flow(
    data: str,
    as_of: dt.date | None,
    out: str,
    config_path: str | None = None,
    publish_url: str | None = None,
    policy: str | None = None,
    fresh: bool = False,
    cluster: str | None = None,
) -> dict:
    """Score every overdue loan on ``as_of`` with the champion and publish the work queue: files
    in ``out`` and, with ``publish_url``, a database table (atomically, replacing that as-of).
    ``as_of`` None is the work day begun in the lender's time zone (a scheduled run). ``policy``
    names the default rule pack (else the config's).

    One run per as-of at a time (:class:`pipelines.runtime.operations.NightLock`); a rerun of a failed night
    resumes after its last completed stage unless ``fresh``; a failure notifies (adapters/notify.py)
    and leaves the previously published queue in place. ``cluster`` (else ``cluster.address``)
    names a Dask scheduler for the per-loan work (pipelines/runtime/cluster.py)."""
    config = load_config(Path(config_path) if config_path else None)
    configure_logging(config.operations.log_format)
    address = cluster or config.cluster.address
    if needs_cluster_run(address):
        return run_on_cluster(
            nightly_score_flow, address, data, as_of, out, config_path, publish_url, policy, fresh, address
        )
    as_of = as_of or work_day(config.schedule.timezone)
    run_id = new_run_id()
    state_dir = config.resolved_state_dir()
    operations = config.operations
    with NightLock(state_dir, as_of, run_id, operations.lock_wait_seconds):
        prune_stage_records(state_dir, dt.timedelta(hours=operations.resume_hours))
        night = {
            "as_of": str(as_of),
            "source": source_fingerprint(data, state_dir),
            "config": config.model_dump(mode="json", exclude={"notifications", "schedule"}),
            "code": code_fingerprint(),
        }
        result, stages = _score_night(
            data, as_of, out, config, publish_url, policy, run_id, night, refresh=fresh
        )
        forgotten = stages.forget()
        get_run_logger().info("night %s complete; %d persisted stages forgotten", as_of, forgotten)
    return result


def _score_night(
    data: str,
    as_of: dt.date,
    out: str,
    config: Config,
    publish_url: str | None,
    policy: str | None,
    run_id: str,
    night: dict,
    refresh: bool,
) -> tuple[dict, StageCache]:
    """The stages of one night, inside its lock; also returns the night's stage cache.

    Validation is not persisted: redoing it (reading and checking every row) costs less than
    persisting the validated tables every night (measured on 100k overdue loans: 11.5 s to
    redo, +9.7 s and +2.4 GB peak memory to persist). The per-loan stages after it are."""
    timings: dict[str, float] = {}
    cutoff = night_cutoff(config, as_of, policy)

    with stage("validate inputs", timings):
        try:
            validated = with_retries(load_and_validate, config)(data, cutoff, config)
        except InvalidInputError as error:
            # No queue, but the operator gets the evidence: every bad row and its rules.
            write_quarantine(Path(out), error.result.quarantine(run_id))
            raise
    with stage("load champion models", timings):
        load = with_retries(champion_for, config)
        champion = load(config)
        channel_champion = channel_champion_or_prior(config, champion)
        payment_share = payment_share_from(
            with_retries(champion_document, config)(config, champion.run_id, PAYMENT_AMOUNT_ARTIFACT)
        )
    models = {
        "policy": policy,
        "propensity": [champion.label, champion.run_id],
        "channel": [channel_champion.label, channel_champion.run_id],
    }
    operations = config.operations
    stages = StageCache.for_night(
        config.resolved_state_dir(), {**night, "models": models}, operations.resume_hours, operations.resume
    )
    resumable = stages.completed()
    if resumable and not refresh:
        get_run_logger().info("resuming a failed night: completed stages %s", resumable)
    with stage("build features", timings):
        features = stages.run("features", features_for, validated.tables, cutoff, config, refresh=refresh)
    with stage("apply contact policy", timings):
        verdict, decisions = stages.run(
            "contact-policy", contact_policy_for, features, validated, as_of, config, policy, refresh=refresh
        )
    with stage("choose channels and allocate capacity", timings):
        decisions, left_alone, windows, choice_seconds = stages.run(
            "choose-contacts",
            contacts_for,
            decisions,
            verdict,
            validated,
            channel_champion,
            as_of,
            config,
            payment_share,
            refresh=refresh,
        )
    with stage("score, explain and rank", timings):
        queue, companions, scores = stages.run(
            "score-and-explain",
            score_and_explain,
            features,
            verdict,
            decisions,
            left_alone,
            windows,
            champion,
            config,
            run_id,
            cutoff,
            refresh=refresh,
        )
        # A resumed stage carries the failed run's id: every row is this run's.
        queue = queue.assign(run_id=run_id)
        companions = {
            name: frame.assign(run_id=run_id) if "run_id" in frame.columns else frame
            for name, frame in companions.items()
        }
        n_scored = int(scores.p_pay.notna().sum())
    document = with_retries(champion_document, config)
    with stage("check drift from the champion's reference", timings):
        drift_table, drift_summary, drift = drift_for(
            document(config, champion.run_id, DRIFT_REFERENCE_ARTIFACT),
            features,
            scores.p_pay,
            config,
            run_id,
            as_of,
        )
    if drift_summary is not None and drift_summary.stops_run:
        # Nothing is published (files or database); the operator gets the table that says why.
        evidence = write_drift_failure(
            Path(out), drift_table, {"run_id": run_id, "as_of": str(as_of), **drift}
        )
        raise DriftError(drift_summary, config.monitoring.drift_fail_psi, str(evidence))
    with stage("fair-practice review", timings):
        run_facts = {
            "run_id": run_id,
            "as_of": str(as_of),
            "model": champion.label,
            "channel_model": channel_champion.label,
            "overdue": int(len(features)),
            "queued": int(len(queue)),
        }
        review, figures = fair_practice_review(
            features,
            scores,
            queue,
            companions,
            validated,
            verdict,
            run_facts,
            as_of,
            document(config, champion.run_id, FAIRNESS_ARTIFACT),
            config,
        )
    unmatched = sorted(set(config.policy.by_region) - set(verdict.accounts["region"]))
    if unmatched:
        print(f"warning: policy.by_region names regions no overdue loan has tonight: {unmatched}")
    suppressed = companions["suppressed"]
    dispositions = companions["dispositions"]["disposition"].value_counts()
    manifest = {
        "run_id": run_id,
        "as_of": str(as_of),
        # What the run knew: every event before this instant, none after (held for later nights).
        "data_cutoff_utc": cutoff.instant.isoformat(),
        "cutoff": {"timezone": cutoff.timezone, "local": f"{cutoff.day}T00:00 {cutoff.timezone}"},
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
            # Where tonight's channel values came from: a learnt model, or the stated prior.
            "source": "prior" if is_prior(channel_champion.model) else "model",
            **(
                {"not_fitted": channel_champion.reason, "prior_lift": dict(config.channel_model.prior_lift)}
                if is_prior(channel_champion.model)
                else {}
            ),
        },
        "decisions": {
            **config.decisions.model_dump(),
            "exploration": int(queue["exploration"].sum()),
            # The share actually queued at random tonight (the configured share is of the queue
            # the value ranking fills, so it is close to exploration_share, never a fixed count).
            "exploration_share_of_queue": round(
                float(queue.loc[queue["within_capacity"], "exploration"].mean())
                if bool(queue["within_capacity"].any())
                else 0.0,
                4,
            ),
            "control": int(companions["left_alone"]["control"].sum()),
            "left_alone_by_reason": companions["left_alone"]["reason"].value_counts().sort_index().to_dict(),
            "incremental_value_within_capacity": round(
                float(queue.loc[queue["within_capacity"], "incremental_value"].sum()), 2
            ),
            "queued_by_channel": queue["recommended_channel"].value_counts().sort_index().to_dict(),
            # What the overall rank follows and what a predicted response is worth.
            "rank_by": config.scoring.rank_by,
            "response_worth": (
                {"amount_at_stake": "amount_overdue x learnt share", **payment_share.to_document()}
                if payment_share is not None
                else {"amount_at_stake": "amount_overdue (the champion logged no payment share)"}
            ),
        },
        "policy": {
            "packs": verdict.packs,
            "default": policy or config.policy.default,
            "by_region": dict(config.policy.by_region),
            # The lender's cadence rules added to every pack (policy.cadence).
            "cadence": [rule.id for rule in config.policy.cadence],
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
        "review": {
            "share_with_three_reasons": review["explanations"]["share_with_three_reasons"],
            "share_with_three_channel_reasons": review["explanations"]["share_with_three_channel_reasons"],
            "disparities_flagged": len(review["disparities"]["flagged"]),
            "explain_seconds": {
                "propensity_reasons": round(scores.explain_seconds, 3),
                "channel_reasons": round(choice_seconds["channel explanations"], 3),
            },
        },
        # PSI of p_pay and of every feature against the champion's reference (its out-of-time test block) (drift.csv).
        "drift": drift,
        "timings_seconds": timings,
        # The parts of the channel-choice and scoring stages (a resumed stage: its first run's).
        "stage_detail_seconds": {**choice_seconds, **scores.seconds},
    }
    if publish_url:
        with stage("publish to database", timings):
            manifest["database"] = with_retries(publish_to_database, config)(
                publish_url, queue, suppressed, as_of, run_id, config
            )
    with stage("publish outputs", timings):
        manifest["timings_seconds"] = timings
        files = with_retries(publish, config)(
            out,
            queue,
            {**companions, DRIFT_TABLE: drift_table},
            validated.quarantine(run_id),
            manifest,
            run_id,
            review_files(review, figures),
        )
    with stage("archive the queue history", timings):
        history = with_retries(archive_queue_history, config)(
            features, scores, queue, companions, champion, as_of, run_id, config
        )
    with stage("log the review", timings):
        mlflow_run_id = with_retries(log_review, config)(config, review, files, run_id)
    attach_run_summary(manifest, queue, files, mlflow_run_id, config)
    result = {
        "manifest": manifest,
        "files": {k: str(v) for k, v in files.items()},
        "queue": queue,
        "review": review,
        "history": history,
        "mlflow_run_id": mlflow_run_id,
    }
    return result, stages
