"""Prefect flow: validated tables -> features -> champion scores -> ranked, explained queue.

The night's decisions are the pure functions of scoring/night.py and its manifest is
scoring/manifest.py's; this flow only runs them as stages: it persists and resumes the per-loan
stages, retries I/O, stops on drift, reviews, publishes and archives.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from adapters import tracking
from adapters.archive import QueueArchive
from adapters.batches import BATCH_FOLDER, batch_writers
from adapters.code_version import code_fingerprint
from adapters.excel import write_team_workbook
from adapters.io import publish_outputs, write_drift_failure, write_quarantine
from adapters.notify import notify_hooks
from adapters.publish import publish_queue
from data_contracts.artifacts import DRIFT_REFERENCE_ARTIFACT, FAIRNESS_ARTIFACT, PAYMENT_AMOUNT_ARTIFACT
from data_contracts.outputs import AccountFeatures
from data_contracts.validation import ValidationResult
from features.build import build_features
from features.catalog import FEATURE_NAMES
from features.point_in_time import Cutoff
from models.payment_amount import PaymentShare, payment_share_from
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
from pipelines.runtime.partitions import combine, split_frame, split_tables_by_borrower
from pipelines.runtime.progress import stage
from recover.config import Config, load_config, night_settings
from review.disparity import disparity_table, loan_outcomes
from review.figures import review_figures
from review.groups import protected_groups
from review.report import (
    ReviewDocument,
    ReviewRun,
    compliance_summary,
    global_importance,
    reason_codes,
    reason_coverage,
    render_html,
    review_document,
)
from review.run_summary import queue_top, run_summary_markdown
from scoring.manifest import RunFacts, RunManifest, build_manifest
from scoring.night import (
    ChosenContacts,
    ContactDecisions,
    NightResult,
    NightSettings,
    PartitionMap,
    RunStamp,
    ScoredQueue,
    choose_contacts,
    decide_contacts,
    regions_without_loans,
    score_and_rank,
)
from scoring.policy.engine import unreadable_hold_loans
from scoring.worklist import contact_worklist, team_contacts

TEAM_WORKBOOK = "team_queues.xlsx"
REVIEW_JSON = "review.json"
REVIEW_HTML = "review.html"
DRIFT_TABLE = "drift"
QUEUE_TOP_ROWS = 50


# --- the per-loan stages (persisted: a failed night resumes after the last one completed) -------


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


@task(name="load-champion", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def champion_for(config: Config, name: str | None = None):
    return tracking.load_champion(config, name)


@task(name="load-champion-document", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def champion_document(config: Config, mlflow_run_id: str, artifact: str) -> dict | None:
    """A JSON artifact of the champion's training run (drift reference, fairness check), or None."""
    return tracking.load_run_document(config, mlflow_run_id, artifact)


def partitioned(config: Config) -> PartitionMap:
    """The night's :class:`scoring.night.PartitionMap`: in process, or per partition of loans on
    the flow's Dask cluster."""
    return partial(by_partition, config=config)


@task(name="apply-contact-policy", cache_policy=NO_CACHE)
def contact_policy_for(
    features, validated: ValidationResult, as_of: dt.date, settings: NightSettings
) -> ContactDecisions:
    """Judge every overdue loan under its rule pack and give it exactly one disposition. The
    rules count the contacts made before the night's cut-off (``validated.cutoff``)."""
    return decide_contacts(
        features,
        validated.tables,
        validated.cutoff or Cutoff(as_of),
        settings.contacts,
        unreadable_holds=unreadable_hold_loans(validated.quarantined_rows),
    )


@task(name="choose-contacts", cache_policy=NO_CACHE)
def contacts_for(
    contacts: ContactDecisions,
    validated: ValidationResult,
    channel_champion,
    as_of: dt.date,
    settings: NightSettings,
    config: Config,
    payment_share: PaymentShare | None = None,
) -> ChosenContacts:
    """Best channel and incremental value of every candidate; capacity allocation; left alone
    (:func:`scoring.night.choose_contacts`)."""
    return choose_contacts(
        contacts,
        validated.tables,
        validated.cutoff or as_of,
        channel_champion.model,
        settings,
        payment_share=payment_share,
        partitions=partitioned(config),
    )


@task(name="score-and-explain", cache_policy=NO_CACHE)
def score_and_explain(
    features,
    contacts: ContactDecisions,
    chosen: ChosenContacts,
    champion,
    settings: NightSettings,
    config: Config,
    run_id: str,
    cutoff: Cutoff,
) -> ScoredQueue:
    """Score every overdue loan; explain and rank the ones queued for contact today
    (:func:`scoring.night.score_and_rank`). Every output row carries the night's cut-off."""
    run = RunStamp(run_id=run_id, model_version=champion.label, data_cutoff_utc=cutoff.instant)
    return score_and_rank(
        features, contacts.verdict, chosen, champion.model, run, settings, partitioned(config)
    )


# --- drift, review, publishing and the archive ----------------------------------------------------


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
    night: NightResult, validated: ValidationResult, run: ReviewRun, as_of: dt.date, training, config: Config
):
    """The run's review document and its plots (review.json / review.html); ``run`` holds the
    facts the review quotes, ``training`` the champion's fairness check (None if it has none)."""
    review = config.review
    features, queue, companions = night.features, night.queue, night.companions
    scores = night.scored.scores
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
        compliance=compliance_summary(
            companions["suppressed"],
            companions["dispositions"],
            night.contacts.verdict.packs,
            companions["disputes"],
        ),
        settings=review.model_dump(),
    )
    figures = review_figures(features, scores.contributions, scores.p_pay, queue["priority_score"])
    return document, figures


def review_files(review: ReviewDocument, figures: dict) -> dict:
    """Writers of review.json and review.html for :func:`publish`."""
    return {
        REVIEW_JSON: lambda path: path.write_text(json.dumps(review.to_json_dict(), indent=2)),
        REVIEW_HTML: lambda path: path.write_text(render_html(review, figures), encoding="utf-8"),
    }


@task(name="log-review", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_review(config: Config, review: ReviewDocument, files: dict, run_id: str) -> str:
    """The review to MLflow (run kind ``score``) and to the Prefect flow run (a markdown artifact);
    returns the MLflow run id."""
    mlflow_run_id = tracking.log_scoring_review(config, review, [files[REVIEW_JSON], files[REVIEW_HTML]])
    flagged, explanations = review.disparities.flagged, review.explanations
    lines = [
        f"# Fair-practice review {review.run.as_of}",
        f"- run `{run_id}`, {review.run.queued:,} queued of {review.run.overdue:,} overdue",
        f"- queued rows with three reasons: {explanations.share_with_three_reasons:.1%}; "
        f"with three channel reasons: {explanations.share_with_three_channel_reasons:.1%}",
        f"- disparities flagged: {len(flagged)}",
        *[
            f"  - {row.metric} for {row.attribute} = {row.group}: ratio "
            f"{row.ratio_to_reference:.2f} to {row.reference_group}"
            for row in flagged
        ],
        f"- full report: `{files[REVIEW_HTML]}`",
    ]
    create_markdown_artifact(
        key="fair-practice-review", markdown="\n".join(lines), description="Fair-practice review of the run"
    )
    return mlflow_run_id


@task(name="attach-run-summary", cache_policy=NO_CACHE)
def attach_run_summary(
    manifest: RunManifest, queue, files: dict, mlflow_run_id: str | None, config: Config
) -> None:
    """The run's summary (markdown) and the top of its queue (table) as Prefect artifacts.
    Best effort: the queue is already out, a missing artifact must not fail the night."""
    logger = get_run_logger()
    try:
        mlflow_link = tracking.run_link(config, mlflow_run_id) if mlflow_run_id else None
        create_markdown_artifact(
            key="nightly-summary",
            markdown=run_summary_markdown(manifest, files, mlflow_link),
            description=f"Nightly run {manifest.as_of}: {manifest.counts.queued:,} queued",
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
def archive_queue_history(night: NightResult, champion, as_of: dt.date, run_id: str, config: Config) -> dict:
    """After the publish: every overdue loan scored tonight into the queue history of the state
    folder (adapters/archive.py), which `recover backfill` joins to later payments. The
    challenger is scored here, after the queue is out, so its shadow score never changes it."""
    features, companions = night.features, night.companions
    rows = queue_history(
        features,
        night.scored.scores.p_pay,
        night.queue,
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
def publish(
    out: str,
    queue,
    companions,
    quarantine,
    manifest: RunManifest,
    run_id: str,
    extra_files: dict,
    contacts: pd.DataFrame | None = None,
):
    # Team files hold one row per contact (scoring/worklist.py): with the workbook and the
    # database contacts table, the only outputs that carry contact points and names.
    contacts = contact_worklist(queue) if contacts is None else contacts
    teams = {f"teams/{team}": rows for team, rows in team_contacts(contacts).items()}
    frames = {"queue": queue, **companions, **teams, "quarantine/quarantine": quarantine}

    def workbook(path: Path) -> None:
        # The teams' capacities and why they go unused, as the manifest publishes them.
        summary = pd.DataFrame(
            [row.model_dump() for row in manifest.teams],
            columns=["team", "capacity", "unused_capacity", "capacity_note", "expected_recovery"],
        )
        write_team_workbook(
            path,
            contacts,
            summary,
            promise_follow_up=companions["promise_follow_up"],
            forbearance=companions["forbearance"],
            suppressed=companions["suppressed"],
            left_alone=companions["left_alone"],
            run_facts={
                "Work day (as of)": manifest.as_of,
                "Run": run_id,
                "Model": manifest.model.label,
                "Contact policy": ", ".join(f"{k} {v}" for k, v in manifest.policy.packs.items()),
            },
            dispositions=manifest.counts.dispositions.model_dump(),
            treatments=companions["treatments"],
            disputes=companions["disputes"],
        )

    return publish_outputs(
        Path(out),
        frames,
        manifest.model_dump(mode="json"),
        run_id,
        parquet_only={"contact_windows", "explanations"},
        # SMS, e-mail, WhatsApp and letters go to the sending platform as batch files, not sheets.
        files={TEAM_WORKBOOK: workbook, **batch_writers(contacts), **extra_files},
        replace_folders={"teams", BATCH_FOLDER},
    )


@task(name="publish-to-database", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def publish_to_database(
    url: str,
    queue,
    suppressed,
    as_of: dt.date,
    run_id: str,
    config: Config,
    contacts: pd.DataFrame | None = None,
) -> dict:
    report = publish_queue(
        url,
        queue,
        suppressed,
        as_of=as_of,
        run_id=run_id,
        table=config.publish.table,
        suppressed_table=config.publish.suppressed_table,
        schema=config.publish.db_schema,
        contacts=contact_worklist(queue) if contacts is None else contacts,
        contacts_table=config.publish.contacts_table,
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


@dataclass(frozen=True)
class Champions:
    """The models a night scores with: the propensity champion, the best-channel champion (or
    the stated prior) and the payment share the propensity run logged (None: it logged none)."""

    propensity: Any
    channel: Any
    payment_share: PaymentShare | None

    def stage_key(self, policy: str | None) -> dict:
        """What the night's persisted stages depend on beyond its inputs and code."""
        return {
            "policy": policy,
            "propensity": [self.propensity.label, self.propensity.run_id],
            "channel": [self.channel.label, self.channel.run_id],
        }


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
    """The stages of one night, inside its lock; also returns the night's stage cache."""
    timings: dict[str, float] = {}
    cutoff = night_cutoff(config, as_of, policy)
    settings = night_settings(config, policy)
    with stage("validate inputs", timings):
        validated = _validated(data, cutoff, config, out, run_id)
    with stage("load champion models", timings):
        champions = _champions(config)
    stages = _stage_cache(config, night, champions, policy, refresh)
    scored = _per_loan_stages(
        stages, validated, champions, as_of, cutoff, settings, config, run_id, timings, refresh
    )
    drift_table, drift = _checked_drift(scored, champions, config, run_id, as_of, out, timings)
    with stage("fair-practice review", timings):
        review, figures = _reviewed(scored, validated, champions, run_id, as_of, config)
    _warn_of_unmatched_regions(settings, scored)
    contacts = contact_rows(scored, validated)
    database = _published_to_database(publish_url, scored, as_of, run_id, config, timings, contacts)
    facts = _run_facts(data, validated, champions, cutoff, as_of, run_id, config)
    manifest = build_manifest(
        scored, facts, settings, review=review.to_json_dict(), drift=drift, timings=timings, database=database
    )
    reviewed = (review, figures)
    result = _published(
        out, scored, validated, champions, facts, manifest, drift_table, reviewed, config, timings, contacts
    )
    return result, stages


def _published(
    out: str,
    night: NightResult,
    validated: ValidationResult,
    champions: Champions,
    facts: RunFacts,
    manifest: RunManifest,
    drift_table: pd.DataFrame,
    reviewed: tuple[ReviewDocument, dict],
    config: Config,
    timings: dict[str, float],
    contacts: pd.DataFrame | None = None,
) -> dict:
    """The night's files (the manifest last), its queue history, its review in MLflow and its
    summary on the flow run; the flow's result. ``contacts``: the officer's contact rows."""
    review, figures = reviewed
    run_id = facts.run_id
    with stage("publish outputs", timings):
        files = with_retries(publish, config)(
            out,
            night.queue,
            {**night.companions, DRIFT_TABLE: drift_table},
            validated.quarantine(run_id),
            manifest,
            run_id,
            review_files(review, figures),
            contacts,
        )
    with stage("archive the queue history", timings):
        history = with_retries(archive_queue_history, config)(
            night, champions.propensity, facts.as_of, run_id, config
        )
    with stage("log the review", timings):
        mlflow_run_id = with_retries(log_review, config)(config, review, files, run_id)
    manifest = manifest.with_timings(timings)
    attach_run_summary(manifest, night.queue, files, mlflow_run_id, config)
    return {
        "manifest": manifest,
        "files": {k: str(v) for k, v in files.items()},
        "queue": night.queue,
        "treatments": night.companions["treatments"],
        "review": review,
        "history": history,
        "mlflow_run_id": mlflow_run_id,
    }


def _warn_of_unmatched_regions(settings: NightSettings, night: NightResult) -> None:
    unmatched = regions_without_loans(settings.contacts, night.contacts.verdict)
    if unmatched:
        print(f"warning: policy.by_region names regions no overdue loan has tonight: {unmatched}")


def _validated(data: str, cutoff: Cutoff, config: Config, out: str, run_id: str) -> ValidationResult:
    """The six tables read and validated. Validation is not persisted: redoing it (reading and
    checking every row) costs less than persisting the validated tables every night (measured on
    100k overdue loans: 11.5 s to redo, +9.7 s and +2.4 GB peak memory to persist)."""
    try:
        return with_retries(load_and_validate, config)(data, cutoff, config)
    except InvalidInputError as error:
        # No queue, but the operator gets the evidence: every bad row and its rules.
        write_quarantine(Path(out), error.result.quarantine(run_id))
        raise


def _champions(config: Config) -> Champions:
    champion = with_retries(champion_for, config)(config)
    channel = channel_champion_or_prior(config, champion)
    document = with_retries(champion_document, config)(config, champion.run_id, PAYMENT_AMOUNT_ARTIFACT)
    return Champions(propensity=champion, channel=channel, payment_share=payment_share_from(document))


def _stage_cache(
    config: Config, night: dict, champions: Champions, policy: str | None, refresh: bool
) -> StageCache:
    operations = config.operations
    stages = StageCache.for_night(
        config.resolved_state_dir(),
        {**night, "models": champions.stage_key(policy)},
        operations.resume_hours,
        operations.resume,
    )
    resumable = stages.completed()
    if resumable and not refresh:
        get_run_logger().info("resuming a failed night: completed stages %s", resumable)
    return stages


def _per_loan_stages(
    stages: StageCache,
    validated: ValidationResult,
    champions: Champions,
    as_of: dt.date,
    cutoff: Cutoff,
    settings: NightSettings,
    config: Config,
    run_id: str,
    timings: dict[str, float],
    refresh: bool,
) -> NightResult:
    """Features, contact policy, channels and capacity, scores and rank: the night's per-loan
    stages, each persisted when it completes (:class:`StageCache`)."""
    with stage("build features", timings):
        features = stages.run("features", features_for, validated.tables, cutoff, config, refresh=refresh)
    with stage("apply contact policy", timings):
        contacts = stages.run(
            "contact-policy", contact_policy_for, features, validated, as_of, settings, refresh=refresh
        )
    with stage("choose channels and allocate capacity", timings):
        chosen = stages.run(
            "choose-contacts",
            contacts_for,
            *(contacts, validated, champions.channel, as_of, settings, config, champions.payment_share),
            refresh=refresh,
        )
    with stage("score, explain and rank", timings):
        scored = stages.run(
            "score-and-explain",
            score_and_explain,
            *(features, contacts, chosen, champions.propensity, settings, config, run_id, cutoff),
            refresh=refresh,
        )
        # A resumed stage carries the failed run's id: every row is this run's.
        scored = scored.for_run(run_id)
    return NightResult(features=features, contacts=contacts, chosen=chosen, scored=scored)


def _checked_drift(
    night: NightResult,
    champions: Champions,
    config: Config,
    run_id: str,
    as_of: dt.date,
    out: str,
    timings: dict[str, float],
) -> tuple[pd.DataFrame, dict]:
    """The drift table and the manifest's drift block; beyond the fail threshold the night
    stops here: nothing is published (files or database), the operator gets the table."""
    document = with_retries(champion_document, config)
    with stage("check drift from the champion's reference", timings):
        reference = document(config, champions.propensity.run_id, DRIFT_REFERENCE_ARTIFACT)
        table, summary, block = drift_for(
            reference, night.features, night.scored.scores.p_pay, config, run_id, as_of
        )
    if summary is not None and summary.stops_run:
        evidence = write_drift_failure(Path(out), table, {"run_id": run_id, "as_of": str(as_of), **block})
        raise DriftError(summary, config.monitoring.drift_fail_psi, str(evidence))
    return table, block


def _reviewed(
    night: NightResult,
    validated: ValidationResult,
    champions: Champions,
    run_id: str,
    as_of: dt.date,
    config: Config,
):
    """The fair-practice review of the night, with the champion's own fairness check."""
    run = ReviewRun(
        run_id=run_id,
        as_of=str(as_of),
        model=champions.propensity.label,
        channel_model=champions.channel.label,
        overdue=int(len(night.features)),
        queued=int(len(night.queue)),
    )
    training = with_retries(champion_document, config)(config, champions.propensity.run_id, FAIRNESS_ARTIFACT)
    return fair_practice_review(night, validated, run, as_of, training, config)


def _published_to_database(
    url: str | None,
    night: NightResult,
    as_of: dt.date,
    run_id: str,
    config: Config,
    timings: dict,
    contacts: pd.DataFrame | None = None,
) -> dict | None:
    """With ``url``: the queue, the suppressed list and the contact rows to the database (the
    manifest's report)."""
    if not url:
        return None
    with stage("publish to database", timings):
        return with_retries(publish_to_database, config)(
            url, night.queue, night.companions["suppressed"], as_of, run_id, config, contacts
        )


def contact_rows(night: NightResult, validated: ValidationResult) -> pd.DataFrame:
    """The officer's contact rows (:func:`scoring.worklist.contact_worklist`): the queue joined
    with the contact points and names the validation kept apart (``contact_details``), so they
    reach the team files, the workbook and the database contacts table and nothing else."""
    details = validated.contact_details
    return contact_worklist(night.queue, details.get("contact_points"), details.get("borrowers"))


def _run_facts(
    data: str,
    validated: ValidationResult,
    champions: Champions,
    cutoff: Cutoff,
    as_of: dt.date,
    run_id: str,
    config: Config,
) -> RunFacts:
    return RunFacts(
        run_id=run_id,
        as_of=as_of,
        cutoff=cutoff,
        data_source=str(data),
        input_rows=validated.rows_in,
        validation=validation_summary(validated),
        model=champions.propensity,
        channel_model=champions.channel,
        payment_share=champions.payment_share,
        prior_lift=config.channel_model.prior_lift,
    )
