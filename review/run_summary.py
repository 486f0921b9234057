"""The summary of a nightly run that operators read on the Prefect flow run (pure functions).

Built from the run's manifest: rows in, accepted and quarantined; overdue, queued and held back
by reason; drift; where the MLflow run and the review report are. Nothing in it identifies a
borrower beyond the engine's own loan ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from scoring.manifest import DriftChecked, DriftNotChecked, RunManifest

if TYPE_CHECKING:
    from models.gate import GateResult

# The top-of-queue table: what an operator needs to see that the queue is sane (no contact data).
QUEUE_TOP_COLUMNS = [
    "rank",
    "loan_id",
    "team",
    "recommended_channel",
    "days_past_due",
    "amount_overdue",
    "p_pay_30d",
    "incremental_value",
    "priority_score",
    "within_capacity",
    "exploration",
    "priority_reason",
    "reason_1",
]


def queue_top(queue: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of the queue by rank, in :data:`QUEUE_TOP_COLUMNS` (those present)."""
    columns = [c for c in QUEUE_TOP_COLUMNS if c in queue.columns]
    top = queue.sort_values("rank").head(rows)[columns].reset_index(drop=True)
    return top.round({c: 4 for c in ("p_pay_30d", "priority_score") if c in top.columns}).round(
        {c: 2 for c in ("amount_overdue", "incremental_value") if c in top.columns}
    )


def _table(headers: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return lines


def _mlflow_line(link: dict) -> str:
    """A bullet naming the MLflow run (a link when the MLflow UI's URL is configured)."""
    where = f"[{link['run_id']}]({link['url']})" if link.get("url") else f"`{link['run_id']}`"
    return f"- MLflow run {where} in experiment `{link['experiment']}` ({link['tracking_uri']})"


def run_summary_markdown(manifest: RunManifest, files: dict, mlflow_link: dict | None) -> str:
    """Markdown of the run: inputs, decisions, holds by reason, drift, links."""
    counts, decisions = manifest.counts, manifest.decisions
    tables = manifest.validation.tables
    rows_in = sum(t.rows_in for t in tables.values())
    accepted = sum(t.accepted for t in tables.values())
    quarantined = sum(t.quarantined for t in tables.values())
    collapsed = sum(t.duplicates_collapsed for t in tables.values())
    held = sum(t.held for t in tables.values())
    lines = [
        f"# Nightly queue {manifest.as_of}",
        "",
        f"Run `{manifest.run_id}` scored with {manifest.model.label} "
        f"(channels: {manifest.channel_model.label}) under "
        + ", ".join(f"{k} {v}" for k, v in manifest.policy.packs.items())
        + ".",
        "",
        "## Inputs",
        f"Data cut-off: events before {manifest.data_cutoff_utc} (UTC) were read.",
        "",
        f"{rows_in:,} rows in = {accepted:,} accepted + {quarantined:,} quarantined"
        f" + {collapsed:,} duplicate deliveries collapsed + {held:,} held for a later night"
        " (after the cut-off).",
        "",
        *_table(
            ["table", "rows in", "accepted", "quarantined", "duplicates collapsed", "held"],
            [
                [
                    n,
                    f"{t.rows_in:,}",
                    f"{t.accepted:,}",
                    f"{t.quarantined:,}",
                    f"{t.duplicates_collapsed:,}",
                    f"{t.held:,}",
                ]
                for n, t in tables.items()
            ],
        ),
        "",
        "## Decisions",
        f"- overdue: {counts.overdue:,}",
        f"- queued: {counts.queued:,} ({counts.within_capacity:,} within today's capacity, "
        f"{decisions.exploration:,} exploration)",
        f"- left alone: {counts.left_alone:,} ({decisions.control:,} control)",
        f"- held back: {counts.suppressed:,} loans "
        f"({counts.forbearance:,} to forbearance, {counts.promise_follow_up:,} awaiting a promise)",
        "- treatments: "
        + ", ".join(f"{name.replace('_', ' ')} {n:,}" for name, n in manifest.treatments.counts.items()),
        f"- disputes: {manifest.disputes.summary}"
        + (" **(responses overdue: see disputes.csv)**" if manifest.disputes.overdue_responses else ""),
        "",
    ]
    by_reason = manifest.suppressed_by_reason
    if by_reason:
        lines += ["Held back by reason (a loan held for two reasons counts under both):", ""]
        lines += _table(["reason", "loans"], [[r, f"{n:,}"] for r, n in by_reason.items()])
        lines.append("")
    lines += _drift_lines(manifest.drift)
    lines += ["", "## Links"]
    if mlflow_link:
        lines.append(_mlflow_line(mlflow_link))
    for name in ("review.html", "queue.csv", "manifest.json"):
        if name in files:
            path = Path(files[name]).resolve()
            lines.append(f"- [{name}]({path.as_uri()}): `{path}`")
    database = manifest.database
    if database:
        lines.append(f"- database: {database.queue_rows:,} rows in `{database.table}` at {database.target}")
    return "\n".join(lines) + "\n"


def _drift_lines(drift: DriftChecked | DriftNotChecked) -> list[str]:
    """The drift status, the features over the warn threshold and p_pay's PSI."""
    lines = ["## Drift", f"Status: **{drift.status}**."]
    if isinstance(drift, DriftNotChecked):
        return lines
    over = {**drift.failed, **drift.warned}
    if over:
        lines += ["", *_table(["feature", "PSI"], [[name, f"{psi:.3f}"] for name, psi in over.items()])]
    if drift.score_psi is not None:
        lines.append(f"\np_pay PSI {drift.score_psi:.3f}.")
    return lines


# What the training summary reads of a training run: pipelines.results.TrainResult, which the
# review (below the pipelines) may not import.
class _Propensity(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def metrics(self) -> Mapping[str, object]: ...


class _Channel(Protocol):
    @property
    def model(self) -> str | None: ...
    @property
    def not_fitted(self) -> str | None: ...


class _Decision(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def challenger(self) -> str | None: ...
    @property
    def champion_before(self) -> str | None: ...
    @property
    def champion_after(self) -> str | None: ...
    @property
    def promoted(self) -> bool: ...
    @property
    def gate(self) -> GateResult | None: ...


class TrainingRun(Protocol):
    """A training run as the summary reads it (pipelines.results.TrainResult)."""

    @property
    def as_of(self) -> dt.date: ...
    @property
    def propensity(self) -> _Propensity: ...
    @property
    def channel(self) -> _Channel: ...
    @property
    def promotion(self) -> Sequence[_Decision]: ...
    @property
    def input_rows(self) -> Mapping[str, int]: ...


def training_summary_markdown(result: TrainingRun, mlflow_link: dict | None) -> str:
    """Markdown of a training run: what was trained on, the out-of-time metrics, and what the
    promotion gate decided for each model."""
    channel = result.channel
    lines = [
        f"# Training as of {result.as_of}",
        "",
        f"Propensity challenger trained on {sum(result.input_rows.values()):,} input rows; champions now "
        f"{result.propensity.model} and "
        + (
            f"{channel.model}."
            if channel.model
            else f"no best-channel model ({channel.not_fitted}): channels by the stated prior."
        ),
        "",
        "## Out-of-time metrics (propensity)",
        "",
        *_table(
            ["metric", "value"],
            [
                [name, f"{value:.4f}"]
                for name, value in sorted(result.propensity.metrics.items())
                if isinstance(value, float | int)
            ],
        ),
        "",
        "## Promotion gate",
        "",
        *_table(
            ["model", "challenger", "champion before", "champion after", "promoted", "verdict"],
            [
                [
                    d.model,
                    d.challenger,
                    d.champion_before,
                    d.champion_after,
                    "yes" if d.promoted else "no",
                    d.gate.verdict if d.gate is not None else "no gate (first version)",
                ]
                for d in result.promotion
            ],
        ),
        "",
        "## Links",
    ]
    if mlflow_link:
        lines.append(_mlflow_line(mlflow_link))
    return "\n".join(lines) + "\n"
