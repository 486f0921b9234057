"""What `recover score`, `explain` and `policies` print: the night's result (its typed manifest,
scoring.manifest.RunManifest: counts, policy, cut-off, validation, drift, database), one
account's breakdown, and the rule packs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from recover.cli.render import console, wide_console

if TYPE_CHECKING:
    import pandas as pd

    from review.explain import AccountExplanation
    from scoring.manifest import DriftChecked, DriftNotChecked, RunManifest
    from scoring.policy.packs import RulePack


def print_night(result: dict, as_of: dt.date, out: Path) -> None:
    """The database published to, the queue's counts, the cut-off and any drift."""
    manifest: RunManifest = result["manifest"]
    database = manifest.database
    if database is not None:
        console.print(f"Published {database.queue_rows:,} rows to {database.table} at {database.target}")
    counts = manifest.counts
    packs = ", ".join(f"{name} {version}" for name, version in manifest.policy.packs.items())
    console.print(
        f"Queue for {as_of} under {packs}: {counts.overdue:,} overdue -> {counts.queued:,} queued "
        f"({counts.within_capacity:,} within today's team capacity), {counts.suppressed:,} held back "
        f"(of which {counts.forbearance:,} to forbearance), {counts.promise_follow_up:,} awaiting a "
        f"promise -> {out}"
    )
    print_cutoff(manifest)
    print_drift(manifest.drift, out)


def print_cutoff(manifest: RunManifest) -> None:
    """What the run knew: its data cut-off, and the rows after it held for a later night."""
    held = manifest.validation.held_for_later_nights
    later = ", ".join(f"{facts.rows:,} {table}" for table, facts in held.items())
    console.print(
        f"Data cut-off {manifest.cutoff.local} = {manifest.data_cutoff_utc} UTC"
        + (f"; held for a later night: {later}" if later else ""),
        highlight=False,
        soft_wrap=True,
    )


def print_drift(drift: DriftChecked | DriftNotChecked | None, out: Path) -> None:
    """One line when tonight's book drifted past the warn threshold, or cannot be checked."""
    from scoring.manifest import DriftNotChecked

    if drift is None or drift.status == "ok":
        return
    if isinstance(drift, DriftNotChecked):
        console.print(f"[yellow]drift not checked[/]: {drift.detail}", highlight=False)
        return
    over = {**drift.failed, **drift.warned}
    listed = ", ".join(f"{name} {psi:.3f}" for name, psi in over.items())
    console.print(
        f"[yellow]drift warning[/]: PSI >= {drift.thresholds.warn_psi:g} for {listed} "
        f"(p_pay {drift.score_psi:.3f}) -> {Path(out) / 'drift.csv'}",
        highlight=False,
    )
    if drift.downgraded:
        console.print(
            f"[yellow]drift beyond the fail threshold[/] ({', '.join(drift.blocking)}): {drift.downgraded}",
            highlight=False,
            soft_wrap=True,
        )


def print_explanation(explanation: AccountExplanation, loan_id: str, as_of: dt.date) -> None:
    """Every feature's value and SHAP contribution, the sum to the score, and the channels."""
    table = Table(title=f"{loan_id} on {as_of}: why p_pay = {explanation.p_pay:.3f}", title_justify="left")
    for header, justify in (
        ("feature", "left"),
        ("value", "right"),
        ("SHAP (log-odds)", "right"),
        ("meaning", "left"),
    ):
        table.add_column(header, justify=justify, overflow="fold")
    for row in explanation.contributions.itertuples():
        value = row.value
        shown = "missing" if value is None or (isinstance(value, float) and value != value) else str(value)
        table.add_row(row.feature, shown, f"{row.shap:+.4f}", row.description)
    console.print(table)
    console.print(
        f"base value {explanation.base_value:+.4f} + contributions "
        f"{explanation.margin - explanation.base_value:+.4f} = margin {explanation.margin:+.4f} "
        f"-> calibrated p_pay {explanation.p_pay:.3f}",
        highlight=False,
    )
    if not explanation.channels.empty:
        _print_channels(explanation.channels)


def _print_channels(channels: pd.DataFrame) -> None:
    """Per channel response, self-cure, uplift and incremental value; and the funnel."""
    values = Table(
        title="Channels (lawfulness is decided by the nightly run's rule pack)", title_justify="left"
    )
    for header in ("channel", "p_response", "p_self_cure", "uplift", "incremental value", "identified"):
        values.add_column(header, justify="right")
    funnel = Table(title="Funnel: uplift = p_reach x (p_pay if reached - p_pay if not)", title_justify="left")
    for header in ("channel", "p_reach", "p_pay if reached", "p_pay if not"):
        funnel.add_column(header, justify="right")
    for row in channels.itertuples():
        values.add_row(
            row.channel,
            f"{row.p_response:.3f}",
            f"{row.p_self_cure:.3f}",
            f"{row.uplift:+.3f}",
            f"{row.incremental_value:+,.2f}",
            # How far the history identifies the effect (1) or the stated prior decides (0).
            f"{row.overlap_weight:.0%}",
        )
        funnel.add_row(
            row.channel, f"{row.p_reach:.3f}", f"{row.p_if_reached:.3f}", f"{row.p_if_not_reached:.3f}"
        )
    wide = wide_console()  # six columns: a narrow terminal would break the headers
    wide.print(values)
    wide.print(funnel)


def print_rule_pack(pack: RulePack, default: bool, rules: pd.DataFrame) -> None:
    """One rule pack: every rule, its reason code, what it does and its source."""
    marker = " (default)" if default else ""
    table = Table(title=f"{pack.name} {pack.version}{marker}: {pack.jurisdiction}", title_justify="left")
    for header in ("rule", "reason code", "what it does", "source"):
        table.add_column(header, overflow="fold")
    deadlines = {
        rule.id: f"Respond to a dispute within {rule.response_days} days ({rule.response_source})."
        for rule in pack.rules
        if getattr(rule, "response_days", None)
    }
    for row in rules.itertuples():
        what = f"{row.description} {deadlines[row.rule_id]}" if row.rule_id in deadlines else row.description
        table.add_row(row.rule_id, row.reason, what, row.source)
    console.print(table)
