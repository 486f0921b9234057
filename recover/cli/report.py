"""The month's results: `recover report` (KPIs by team, channel and agent, and the compliance audit
of the contacts actually made)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recover.cli.options import ConfigOption, DataOption, VerboseOption, config_arg, parse_date
from recover.cli.render import console, print_rows
from recover.cli.runtime import EXIT_INVALID_INPUT, fail, run_guarded, setup

FromOption = Annotated[str, typer.Option("--from", help="First day of the report (YYYY-MM-DD), included.")]
ToOption = Annotated[str, typer.Option("--to", help="Last day of the report (YYYY-MM-DD), included.")]
ReportOutOption = Annotated[
    Path,
    typer.Option(
        "--out", help="Folder for report.html, report.xlsx, report.json and compliance_audit.parquet|csv."
    ),
]


def _rate(value: float) -> str:
    return "" if value != value else f"{value:.1%}"


def report(
    data: DataOption,
    start: FromOption,
    end: ToOption,
    out: ReportOutOption,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """The month's results a collections manager reports, month by month from --from to --to:
    amount recovered (and as a share of the amount overdue at each month's start), accounts
    cured and resolved, roll rates between days-past-due buckets, promises made and kept,
    right-party-contact rate, contacts per payment and complaints, by team, channel and agent;
    and a compliance audit of every outbound contact made against the active rule pack, each
    breach listed. Logged to MLflow. Exit code 2: invalid input."""
    setup(config_path, verbose)
    first, last = parse_date(start), parse_date(end)
    if last < first:
        fail(f"--to {last} is before --from {first}", EXIT_INVALID_INPUT)
    from pipelines.report_flow import report_flow

    result = run_guarded(report_flow, str(data), first, last, str(out), config_arg(config_path))
    _print_report(result)


def _print_report(result) -> None:
    """The headline numbers, each month's, and the audit's breaches by rule."""
    metrics = result.metrics
    monthly = list(result.kpis.monthly.itertuples())
    title = f"Collections report {result.start} to {result.end}"
    print_rows(
        f"{title}: money and accounts",
        ["month", "recovered", "of overdue", "cured", "resolved"],
        [
            [
                row.month,
                f"{row.amount_recovered:,.0f}",
                _rate(row.recovery_rate),
                f"{row.cured:,}",
                f"{row.resolved:,}",
            ]
            for row in monthly
        ],
    )
    print_rows(
        f"{title}: contacts",
        ["month", "promises kept", "RPC rate", "contacts/payment", "complaints"],
        [
            [
                row.month,
                f"{row.promises_kept:,}/{row.promises_made:,}",
                _rate(row.right_party_contact_rate),
                f"{row.contacts_per_payment:.2f}",
                f"{row.complaints:,}",
            ]
            for row in monthly
        ],
    )
    console.print(
        f"Amount recovered {metrics['amount_recovered']:,.2f} from {int(metrics['payments']):,} payments "
        "(the payments table's sum over the window)."
    )
    breaches = result.audit.breaches
    console.print(
        f"Compliance audit: {int(metrics['audited_contacts']):,} outbound contacts checked, "
        f"{int(metrics['contacts_with_breach']):,} broke a rule ({len(breaches):,} breaches), adherence "
        f"{_rate(metrics['adherence_rate'])}"
        + ("" if result.archived_queues else "; no archived queues: the breaches' source is unknown")
        + "."
    )
    if len(breaches):
        by_rule = breaches.groupby("rule_id").size().sort_values(ascending=False)
        print_rows("Breaches by rule", ["rule", "breaches"], [[str(k), f"{v:,}"] for k, v in by_rule.items()])
    console.print(f"Files in {result.out}:")
    for name in sorted(result.files):
        console.print(f"  {name}")
    if result.mlflow_run_id:
        console.print(f"MLflow run {result.mlflow_run_id} (kind report)")
