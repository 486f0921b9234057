"""Prefect flow: the month's results a collections manager reports, and the audit of the contacts
actually made (issue 29).

Reads and validates the book like the other flows (events up to the cut-off that ends the
window's last day), computes the KPIs of every month of [start, end] (monitoring/kpis.py),
audits every outbound contact of the window against the active rule pack (monitoring/audit.py;
the archived queues, when the state folder holds any, tell a contact the engine queued from one
made outside it), writes report.html, report.xlsx, report.json and compliance_audit.parquet|csv
to ``out`` (adapters/report_files.py), logs them to MLflow (run kind ``report``) and attaches a
markdown summary to the flow run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from adapters import tracking
from adapters.archive import QueueArchive
from adapters.report_files import REPORT_HTML, publish_report, report_figures
from data_contracts.outputs import ComplianceBreaches
from monitoring.audit import AuditResult, audit_contacts
from monitoring.kpis import KpiReport, KpiSettings, compute_kpis
from monitoring.outcomes import latest_runs
from pipelines.common import (
    cutoff_timezone_of,
    load_and_validate,
    new_run_id,
    night_cutoff,
    validation_summary,
)
from pipelines.runtime.progress import stage
from recover.config import Config, load_config, night_settings

ADHERENCE_BY = {"team": ["team"], "agent": ["agent_id"]}


@dataclass(frozen=True)
class ReportResult:
    """A report run: its KPIs, the audit, the files written, the folder and the MLflow run."""

    start: dt.date
    end: dt.date
    kpis: KpiReport
    audit: AuditResult
    adherence: dict[str, pd.DataFrame]
    metrics: dict[str, float]
    files: dict[str, str]
    out: str
    mlflow_run_id: str | None
    archived_queues: bool  # whether archived queues labelled the contacts' source


def previous_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the calendar month before ``today``'s."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last


def report_window(config: Config, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """[start, end] as given, or (a scheduled run) the previous calendar month on the lender's
    clock (``schedule.timezone``)."""
    if start is not None and end is not None:
        return start, end
    today = dt.datetime.now(ZoneInfo(config.schedule.timezone)).date()
    first, last = previous_month(today)
    return start or first, end or last


def kpi_settings(config: Config) -> KpiSettings:
    """The KPIs' settings from the config: the cut-off clock, the teams and the promise ledger."""
    return KpiSettings(
        timezone=cutoff_timezone_of(config),
        split_by=tuple(config.teams.split_by),
        tolerance=config.label.tolerance,
        grace_days=config.promises.grace_days,
    )


@task(name="read-archived-queues", cache_policy=NO_CACHE)
def archived_queues(config: Config) -> pd.DataFrame | None:
    """The queued rows of the archived nights (the last run of each), or None without any."""
    history = QueueArchive.in_state(config.resolved_state_dir()).read()
    if history.empty:
        return None
    kept = history[latest_runs(history) & history["queued"].astype(bool)]
    return kept[["loan_id", "as_of", "recommended_channel"]].reset_index(drop=True)


@task(name="compute-kpis", cache_policy=NO_CACHE)
def kpis_task(tables, start: dt.date, end: dt.date, settings: KpiSettings) -> KpiReport:
    return compute_kpis(tables, start, end, settings)


@task(name="audit-contacts", cache_policy=NO_CACHE)
def audit_task(tables, start: dt.date, end: dt.date, config: Config, queued) -> AuditResult:
    return audit_contacts(tables, start, end, night_settings(config).contacts, queued=queued)


def report_metrics(kpis: KpiReport, audit: AuditResult) -> dict[str, float]:
    """The window's headline numbers (MLflow metrics and the markdown summary)."""
    monthly = kpis.monthly
    checked = audit.checked
    contacts = float(len(checked))
    breached = float(checked["breached"].astype(bool).sum()) if len(checked) else 0.0
    overdue = float(monthly["amount_overdue_at_start"].sum())
    kept, broken = float(monthly["promises_kept"].sum()), float(monthly["promises_broken"].sum())
    rpc, outbound = float(monthly["right_party_contacts"].sum()), float(monthly["contacts"].sum())
    payments = float(monthly["payments"].sum())
    nan = float("nan")
    return {
        "amount_recovered": float(monthly["amount_recovered"].sum()),
        "payments": payments,
        "recovery_rate": float(monthly["recovered_from_overdue"].sum()) / overdue if overdue else nan,
        "cured": float(monthly["cured"].sum()),
        "resolved": float(monthly["resolved"].sum()),
        "promises_made": float(monthly["promises_made"].sum()),
        "promise_kept_rate": kept / (kept + broken) if kept + broken else nan,
        "contacts": outbound,
        "right_party_contact_rate": rpc / outbound if outbound else nan,
        "contacts_per_payment": outbound / payments if payments else nan,
        "complaints": float(monthly["complaints"].sum()),
        "audited_contacts": contacts,
        "breaches": float(len(audit.breaches)),
        "contacts_with_breach": breached,
        "adherence_rate": 1.0 - breached / contacts if contacts else nan,
    }


def summary_markdown(
    result_start: dt.date, result_end: dt.date, kpis: KpiReport, metrics: dict, files: dict
) -> str:
    """The Prefect artifact: the window's headline numbers, each month's, and where the files are."""
    lines = [
        f"# Collections report {result_start} to {result_end}",
        f"- amount recovered: {metrics['amount_recovered']:,.2f} from {int(metrics['payments']):,} payments "
        f"(recovery rate {metrics['recovery_rate']:.1%} of the amount overdue at each month's start)",
        f"- cured {int(metrics['cured']):,}, resolved {int(metrics['resolved']):,}; promises made "
        f"{int(metrics['promises_made']):,}, kept rate {metrics['promise_kept_rate']:.1%}",
        f"- contacts {int(metrics['contacts']):,}, right-party-contact rate "
        f"{metrics['right_party_contact_rate']:.1%}, contacts per payment {metrics['contacts_per_payment']:.2f}, "
        f"complaints {int(metrics['complaints']):,}",
        f"- compliance audit: {int(metrics['audited_contacts']):,} contacts checked, "
        f"{int(metrics['breaches']):,} breaches, adherence {metrics['adherence_rate']:.2%}",
        "",
        "| month | recovered | recovery rate | cured | promises kept | RPC rate |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {row.month} | {row.amount_recovered:,.2f} | {row.recovery_rate:.1%} | {row.cured:,} | "
            f"{row.promises_kept:,}/{row.promises_made:,} | {row.right_party_contact_rate:.1%} |"
            for row in kpis.monthly.itertuples()
        ),
        "",
        f"Full report: `{files.get(REPORT_HTML, '')}`",
    ]
    return "\n".join(lines)


@task(name="attach-report-summary", cache_policy=NO_CACHE)
def attach_summary(markdown: str, start: dt.date, end: dt.date) -> None:
    """Best effort: the files are already out, a missing artifact must not fail the report."""
    from prefect.artifacts import create_markdown_artifact

    try:
        create_markdown_artifact(
            key="collections-report", markdown=markdown, description=f"Collections report {start} to {end}"
        )
    except Exception as error:
        get_run_logger().warning("could not attach the report summary to the flow run: %s", error)


@task(name="log-report", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_report(config: Config, start: dt.date, end: dt.date, metrics: dict, files: dict) -> str:
    logged = [path for name, path in files.items() if name != "compliance_audit.parquet"]
    return tracking.log_report(config, start, end, metrics, logged)


@flow(name="report", log_prints=True)
def report_flow(
    data: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    out: str | None = None,
    config_path: str | None = None,
) -> ReportResult:
    """The KPIs and the compliance audit of [start, end] (both days included; default: the
    previous calendar month), written to ``out`` (default ``<state>/reports/<start>_<end>``),
    logged to MLflow and attached to the flow run."""
    config = load_config(Path(config_path) if config_path else None)
    start, end = report_window(config, start, end)
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    run_id = new_run_id()
    out = out or str(config.resolved_state_dir() / "reports" / f"{start}_{end}")
    timings: dict[str, float] = {}
    with stage("validate inputs", timings):
        validated = load_and_validate(data, night_cutoff(config, end + dt.timedelta(days=1)), config)
    tables = validated.tables
    with stage("compute the KPIs", timings):
        kpis = kpis_task(tables, start, end, kpi_settings(config))
    with stage("audit the contacts made", timings):
        queued = archived_queues(config)
        audit = audit_task(tables, start, end, config, queued)
        adherence = {name: audit.adherence(by) for name, by in ADHERENCE_BY.items()}
    metrics = report_metrics(kpis, audit)
    manifest = {
        "run_id": run_id,
        "from": str(start),
        "to": str(end),
        "data_source": str(data),
        "archived_queues": queued is not None,
        "validation": validation_summary(validated),
        "totals": kpis.totals,
        "metrics": metrics,
        "timings_seconds": timings,
    }
    with stage("write the report", timings):
        # The output contract of compliance_audit.parquet|csv: nothing malformed is published.
        breaches = ComplianceBreaches.validate(audit.breaches, lazy=True)
        figures = report_figures(kpis, adherence["team"])
        files = publish_report(Path(out), kpis, adherence, breaches, figures, manifest, run_id)
    with stage("log to MLflow", timings):
        mlflow_run_id = log_report(config, start, end, metrics, files)
    attach_summary(summary_markdown(start, end, kpis, metrics, files), start, end)
    return ReportResult(
        start=start,
        end=end,
        kpis=kpis,
        audit=audit,
        adherence=adherence,
        metrics=metrics,
        files={name: str(path) for name, path in files.items()},
        out=out,
        mlflow_run_id=mlflow_run_id,
        archived_queues=queued is not None,
    )
