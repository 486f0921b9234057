"""What `recover demo` prints at the end: the night's counts and decisions (its manifest), the
top of the queue with its reasons, the fair-practice review, the files and the model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from recover.cli.render import console

if TYPE_CHECKING:
    import pandas as pd

    from pipelines.results import TrainResult
    from recover.config import Config
    from review.report import ReviewDocument
    from scoring.manifest import RunManifest


def print_summary(
    config: Config, scored: dict, trained: TrainResult, queue_dir: Path, seconds: float
) -> None:
    """The night's counts and decisions, the top 10 of the queue, the review, the files written
    and the model's out-of-time AUC."""
    from adapters import tracking

    manifest = scored["manifest"]
    console.rule("summary")
    _print_counts(manifest)
    _print_top(scored["queue"])
    print_review(scored["review"], queue_dir)
    console.print(f"Files in {queue_dir}:")
    team_files = [name for name in scored["files"] if name.startswith("teams/")]
    for name in scored["files"]:
        if not name.startswith("teams/"):
            console.print(f"  {name}", highlight=False)
    console.print(f"  teams/: {len(team_files) // 2} team queues (Parquet and CSV each)", highlight=False)
    uri = tracking.tracking_uri(config)
    console.print(
        f"Model {trained.propensity.model} (out-of-time AUC {trained.propensity.metrics['test_auc']:.3f} vs "
        f"days-past-due heuristic {trained.propensity.metrics['test_heuristic_dpd_auc']:.3f})."
    )
    console.print(
        f"MLflow UI: [bold].venv/bin/mlflow ui --backend-store-uri {uri}[/] then open http://127.0.0.1:5000"
    )
    console.print(f"Done in {seconds:.0f} s.")


def _print_counts(manifest: RunManifest) -> None:
    """Overdue, scored, queued, held back, awaiting a promise, left alone; and why."""
    counts, decisions = manifest.counts, manifest.decisions
    console.print(
        f"Accounts overdue: [bold]{counts.overdue:,}[/]   scored: [bold]{counts.scored:,}[/]   "
        f"queued: [bold]{counts.queued:,}[/]   held back: {counts.suppressed:,}   "
        f"awaiting a promise: {counts.promise_follow_up:,}   left alone: {counts.left_alone:,}"
    )
    console.print(f"Held back by reason: {manifest.suppressed_by_reason}", highlight=False)
    console.print(
        f"Left alone by reason: {decisions.left_alone_by_reason}   exploration: "
        f"{decisions.exploration}   control: {decisions.control}",
        highlight=False,
    )
    console.print(f"Queued by channel: {decisions.queued_by_channel}", highlight=False)
    treatments = manifest.treatments
    console.print(f"Treatments (treatments.csv): {treatments.counts}", highlight=False)
    for kind, basis in treatments.acceptance.items():
        console.print(f"  {kind} acceptance: {basis}", highlight=False)
    console.print(f"Disputes (disputes.csv): {manifest.disputes.summary}", highlight=False)


def _print_top(queue: pd.DataFrame) -> None:
    """The queue's first 10 rows with why each is queued, its three reasons and three channel reasons."""
    console.print(
        "[bold]Top 10 of the queue[/] (rank, loan, days past due, overdue, channel, "
        "p_response vs p_self_cure, incremental value):"
    )
    for row in queue.head(10).itertuples():
        console.print(
            f"{row.rank:>3}. {row.loan_id}  dpd {row.days_past_due:>3}  "
            f"overdue {row.amount_overdue:>10,.2f}  {row.recommended_channel:<11} "
            f"{row.p_response:.2f} vs {row.p_self_cure:.2f}  +{row.incremental_value:,.2f}"
            + ("  (exploration)" if row.exploration else ""),
            highlight=False,
        )
        priority = getattr(row, "priority_reason", None)
        if priority:
            console.print(f"       why today: {priority}", highlight=False)
        console.print("       chance to pay:", highlight=False)
        for reason in (row.reason_1, row.reason_2, row.reason_3):
            console.print(f"       - {reason}", highlight=False)
        console.print(
            f"       {row.recommended_channel} rather than {row.runner_up_channel}:", highlight=False
        )
        for reason in (row.channel_reason_1, row.channel_reason_2, row.channel_reason_3):
            console.print(f"       - {reason}", highlight=False)


def print_review(review: ReviewDocument, folder: Path) -> None:
    """The fair-practice review in a few lines: coverage and flagged disparities."""
    explanations = review.explanations
    flagged = review.disparities.flagged
    console.print(
        f"[bold]Fair-practice review[/] ({folder / 'review.html'}): "
        f"{explanations.share_with_three_reasons:.0%} of queued rows with three reasons, "
        f"{explanations.share_with_three_channel_reasons:.0%} with three channel reasons; "
        f"{len(flagged)} group disparities flagged",
        highlight=False,
    )
    for row in flagged[:8]:
        console.print(
            f"  - {row.metric} for {row.attribute} {row.group} ({row.loans:,} loans): "
            f"{row.value:.3f}, {row.ratio_to_reference:.2f}x {row.reference_group} (p={row.p_value:.3f})",
            highlight=False,
        )
