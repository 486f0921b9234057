"""What `recover evaluate-policy`, `backfill` and `simulate-month` print: the policy
evaluation's result (:class:`evaluation.policy_results.PolicyEvaluationResult`), the backfill's
result (:class:`pipelines.results.BackfillResult`) and the simulated month's nights."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from rich.table import Table

from recover.cli.render import console, print_rows, rate_se

if TYPE_CHECKING:
    import pandas as pd

    from evaluation.month import SimulatedMonth
    from evaluation.policy_results import PolicyEvaluationResult
    from monitoring.outcomes import BackfillFacts
    from pipelines.results import BackfillResult

# The policy evaluation's columns and their headers.
POLICY_COLUMNS = {
    "recovered": "recovered",
    "contact_cost": "cost",
    "net_recovery": "net",
    "contacts": "contacts",
    "cures": "cures",
    "gain_over_random": "net vs random",
    "gain_over_random_se": "± s.e.",
    "share_of_oracle_gain": "% of oracle gain",
}


def print_policy_evaluation(result: PolicyEvaluationResult) -> None:
    """Per policy recovery, cost, contacts, cures and gains; the engine against each other
    policy; the best-channel model on the randomised units; the files."""
    facts = result.facts
    table = Table(
        title=(
            f"Policy evaluation: {facts.book.n_loans:,} loans from {facts.book.as_of}, "
            f"{facts.book.horizon_days} days, mean of {facts.futures} futures, "
            f"seeds {dataclasses.asdict(facts.seeds)}"
        ),
        title_justify="left",
    )
    table.add_column("policy", no_wrap=True)
    for header in POLICY_COLUMNS.values():
        table.add_column(header, justify="right")
    for policy, row in result.table.iterrows():
        cells = []
        for column in POLICY_COLUMNS:
            value = row.get(column, float("nan"))
            if value != value:
                cells.append("")
            elif column == "share_of_oracle_gain":
                cells.append(f"{value:.0%}")
            else:
                cells.append(f"{value:,.0f}")
        table.add_row(policy, *cells)
    console.print(table)
    console.print(f"Capacity per day: {facts.capacity_per_day}", highlight=False)
    for other, paired in facts.engine_vs.items():
        console.print(
            f"engine - {other}: {paired.mean_difference:+,.0f} ± {paired.standard_error:,.0f} "
            f"(ahead in {paired.ahead_in_futures} of {paired.futures} futures)",
            highlight=False,
        )
    gain = facts.treatments_gain
    if gain is not None:
        console.print(
            f"Treatments (plans, deferments, settlements, referrals): engine_with_treatments - engine "
            f"{gain.mean_difference:+,.0f} ± {gain.standard_error:,.0f} net "
            f"(ahead in {gain.ahead_in_futures} of {gain.futures} futures)",
            highlight=False,
        )
        due = result.table["agency_due_after_horizon"].get("engine_with_treatments", float("nan"))
        console.print(
            f"  plus {due:,.0f} the agency is still to collect (net of commission) after the horizon "
            "from the loans referred (the simulator's truth, not counted above)",
            highlight=False,
        )
    for model, report in facts.uplift_on_randomised_units.items():
        shown = {k: round(v, 4) for k, v in report.items()}
        console.print(f"Best-channel model ({model}) on randomised units: {shown}", highlight=False)
    console.print(f"Files: {', '.join(result.files.values())}; MLflow run {result.mlflow_run_id}")


def print_backfill(result: BackfillResult) -> None:
    """The queues closed, then realized recovery by decile, exploration, control, uplift,
    calibration and champion vs challenger; where the reports are."""
    facts, tables, metrics = result.facts, result.tables, result.metrics
    _print_backfill_facts(facts)
    if facts.queues_closed:
        _print_deciles(tables["deciles"])
        _print_groups("Exploration vs model picks (contacted: queued within capacity)", tables["exploration"])
        _print_groups("Control vs contacted", tables["control"])
        _print_uplift(tables["uplift"])
        _print_calibration(tables["calibration"], metrics.get("calibration_error", float("nan")))
        _print_challenger(tables["challenger"], facts)
    console.print(f"Reports: {result.out}; MLflow run {result.mlflow_run_id}", highlight=False)


def _print_backfill_facts(facts: BackfillFacts) -> None:
    """Which queues closed, which are partial or superseded, and how the archived rows add up."""
    console.print(
        f"Backfill on {facts.backfill_as_of}, outcome window {facts.window_days} days "
        f"({facts.window}): {facts.queues_closed} queue{'' if facts.queues_closed == 1 else 's'} closed "
        f"({facts.first_closed_as_of} to {facts.last_closed_as_of}), {facts.queues_partial} "
        f"partial (window still open: left out), {facts.runs_superseded} superseded runs; "
        f"{facts.rows_closed:,} loan-nights, {facts.queued_rows_closed:,} of them queued. Archived rows "
        f"{facts.archived_rows:,} = {facts.rows_closed:,} closed + {facts.rows_partial:,} partial + "
        f"{facts.rows_superseded:,} superseded.",
        highlight=False,
    )
    if facts.unknown_loans:
        console.print(
            f"[yellow]warning[/]: {facts.unknown_loans:,} archived rows name loans the data does not know"
        )
    if not facts.queues_closed:
        console.print("No queue's outcome window has closed yet: nothing to report.")


def _print_deciles(deciles: pd.DataFrame) -> None:
    print_rows(
        "Realized recovery by rank decile of the queue (1 = top tenth of each night's queue; "
        "paid = the model's label: the qualifying amount paid in the window)",
        ["decile", "loans", "p_pay", "paid", "cured", "collected", "per loan", "share", "cum."],
        [
            [
                str(row.decile),
                f"{row.loans:,}",
                f"{row.p_pay_mean:.3f}",
                f"{row.pay_rate:.3f}",
                f"{row.cure_rate:.3f}",
                f"{row.collected:,.0f}",
                f"{row.collected_per_loan:,.2f}",
                f"{row.share_of_collected:.1%}",
                f"{row.cumulative_share:.1%}",
            ]
            for row in deciles.itertuples()
        ],
    )


def _print_groups(title: str, frame: pd.DataFrame) -> None:
    print_rows(
        title,
        ["group", "loan-nights", "p_pay", "paid ± s.e.", "per loan ± s.e.", "collected"],
        [
            [
                row.group,
                f"{row.loans:,}",
                f"{row.p_pay_mean:{sign}.3f}",
                rate_se(row.pay_rate, row.pay_rate_se, f"{sign}.3f"),
                rate_se(row.collected_per_loan, row.collected_per_loan_se, f"{sign},.2f"),
                "" if row.collected != row.collected else f"{row.collected:,.0f}",
            ]
            for row in frame.itertuples()
            for sign in ["+" if " - " in row.group else ""]
        ],
    )


def _print_uplift(uplift: pd.DataFrame) -> None:
    print_rows(
        "Realized uplift, treated - control (randomised; s.e. clustered by loan; 95% intervals in uplift.csv)",
        ["comparison", "treated / control", "paid", "per loan"],
        [
            [
                row.comparison,
                f"{row.treated_loans:,} / {row.control_loans:,}",
                rate_se(row.uplift_pay_rate, row.uplift_pay_rate_se, "+.3f"),
                rate_se(row.uplift_per_loan, row.uplift_per_loan_se, "+,.2f"),
            ]
            for row in uplift.itertuples()
        ],
    )


def _print_calibration(calibration: pd.DataFrame, error: float) -> None:
    print_rows(
        f"Calibration: predicted vs realized pay rate (expected calibration error {error:.3f})",
        ["p_pay", "loan-nights", "predicted", "realized ± s.e.", "gap"],
        [
            [
                row.bin,
                f"{row.loans:,}",
                f"{row.p_pay_mean:.3f}",
                rate_se(row.pay_rate, row.pay_rate_se, ".3f"),
                f"{row.gap:+.3f}",
            ]
            for row in calibration.itertuples()
        ],
    )


def _print_challenger(challenger: pd.DataFrame, facts: BackfillFacts) -> None:
    if not len(challenger):
        console.print("Champion vs challenger: no challenger was shadow-scored on the closed nights.")
        return
    print_rows(
        f"Champion vs challenger (shadow score): each model's top k by p_pay x amount overdue, "
        f"k = the night's queued count; the two top-k sets overlap {facts.challenger_top_k_overlap:.1%}",
        ["model", "top k", "paid", "collected", "share", "AUC", "Brier", "calib."],
        [
            [
                f"{row.model} v{str(row.version).rsplit('/', 1)[-1]}",
                f"{row.top_k:,}",
                f"{row.top_k_pay_rate:.3f}",
                f"{row.top_k_collected:,.0f}",
                f"{row.top_k_share_of_collected:.1%}",
                f"{row.auc:.3f}",
                f"{row.brier:.4f}",
                f"{row.calibration_error:.3f}",
            ]
            for row in challenger.itertuples()
        ],
    )


def print_month_night(row: dict) -> None:
    """One simulated day of `recover simulate-month`: the queue worked, or why none was."""
    if row["scored"]:
        console.print(
            f"{row['date']}: {row['overdue']:,} overdue, {row['queued']:,} queued, {row['contacts']:,} "
            f"contacted ({row['exploration']} exploration, {row['control']} control left alone), "
            f"collected {row['collected']:,.0f} ({row['seconds']:.0f} s)",
            highlight=False,
        )
    else:
        why = f"run stopped ({row['stopped']}): nobody contacted" if row["stopped"] else "no queue"
        console.print(f"{row['date']}: {why}, collected {row['collected']:,.0f}", highlight=False)


def print_month(month: SimulatedMonth, days: int) -> None:
    """The month's totals and the backfill to run next."""
    nights = month.nights
    console.print(
        f"Simulated {days} days from {month.start} ({int(nights['scored'].sum())} queues worked, "
        f"{int(nights['contacts'].sum()):,} contacts, collected {nights['collected'].sum():,.0f}) -> {month.data_dir}"
    )
    console.print(f"Next: recover backfill --as-of {month.end} --data {month.data_dir}", highlight=False)
