"""The month's results as files: a self-contained HTML page (plots embedded as PNG), an Excel
workbook, a JSON document, and the compliance audit's breaches (Parquet and CSV), published
atomically into one folder (:func:`adapters.io.publish_outputs`)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapters.io import publish_outputs
from monitoring.kpis import DPD_BUCKETS, KpiReport

REPORT_HTML = "report.html"
REPORT_XLSX = "report.xlsx"
REPORT_JSON = "report.json"
AUDIT_STEM = "compliance_audit"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1150px;
color:#1d2330;padding:0 1rem}h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #d6dae3}
table{border-collapse:collapse;margin:.6rem 0;font-size:.82rem}th,td{padding:.22rem .55rem;border:1px solid #d6dae3;
text-align:left}th{background:#f0f2f7}td.num{text-align:right}.note{color:#5a6275;font-size:.88rem}
img{max-width:100%;height:auto;border:1px solid #e3e6ee;margin:.4rem 0}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
"""


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # to_json writes NaN as null (NaN is not JSON).
    records: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso"))
    return records


def report_document(
    kpis: KpiReport,
    adherence: Mapping[str, pd.DataFrame],
    breaches: pd.DataFrame,
    facts: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON document: the run's facts, the window's totals, every KPI table, the audit's
    adherence tables and its breaches counted by rule (the rows are in compliance_audit.*)."""
    by_rule = breaches.groupby("rule_id").size() if len(breaches) else pd.Series(dtype="int64")
    return {
        "facts": dict(facts),
        "totals": kpis.totals,
        "monthly": _records(kpis.monthly),
        "by_group": _records(kpis.by_group),
        "roll_rates": _records(kpis.roll_rates),
        "audit": {
            "breaches": int(len(breaches)),
            "contacts_with_breach": int(breaches["interaction_id"].nunique()) if len(breaches) else 0,
            "breaches_by_rule": {str(rule): int(count) for rule, count in by_rule.items()},
            "adherence": {name: _records(frame) for name, frame in adherence.items()},
        },
    }


# --- plots ----------------------------------------------------------------------------------------


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def report_figures(kpis: KpiReport, adherence_by_team: pd.DataFrame) -> dict[str, bytes]:
    """recovered (bars) with the recovery rate (line) per month; the last month's roll-rate
    matrix; contacts and right-party-contact rate per month; adherence by team."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monthly = kpis.monthly
    figures: dict[str, bytes] = {}

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.bar(monthly["month"], monthly["amount_recovered"], color="#3b6fb6", label="recovered")
    ax.set_ylabel("amount recovered")
    rate_axis = ax.twinx()
    rate_axis.plot(monthly["month"], monthly["recovery_rate"], color="#b3261e", marker="o")
    rate_axis.set_ylabel("share of amount overdue at start", color="#b3261e")
    rate_axis.set_ylim(bottom=0)
    ax.set_title("Amount recovered per month")
    figures["recovered"] = _png(fig)

    last = kpis.months[-1].label
    roll = kpis.roll_rates[kpis.roll_rates["month"] == last]
    matrix = roll.pivot(index="from_bucket", columns="to_bucket", values="share")
    matrix = matrix.reindex(index=list(DPD_BUCKETS), columns=list(DPD_BUCKETS)).fillna(0.0)
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    ax.imshow(matrix.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(DPD_BUCKETS)), list(DPD_BUCKETS))
    ax.set_yticks(range(len(DPD_BUCKETS)), list(DPD_BUCKETS))
    ax.set_xlabel("bucket at month end")
    ax.set_ylabel("bucket at month start")
    for i in range(len(DPD_BUCKETS)):
        for j in range(len(DPD_BUCKETS)):
            value = matrix.iat[i, j]
            ax.text(j, i, f"{value:.0%}", ha="center", va="center", color="white" if value > 0.5 else "black")
    ax.set_title(f"Roll rates, {last}")
    figures["roll_rates"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.bar(monthly["month"], monthly["contacts"], color="#6b8e23")
    ax.set_ylabel("outbound contacts")
    rpc_axis = ax.twinx()
    rpc_axis.plot(monthly["month"], monthly["right_party_contact_rate"], color="#5a2d82", marker="o")
    rpc_axis.set_ylabel("right-party-contact rate", color="#5a2d82")
    rpc_axis.set_ylim(bottom=0)
    ax.set_title("Contacts per month")
    figures["contacts"] = _png(fig)

    if len(adherence_by_team):
        ordered = adherence_by_team.sort_values("adherence_rate", ascending=False)
        fig, ax = plt.subplots(figsize=(6, max(2.5, 0.22 * len(ordered))))
        ax.barh(ordered["team"].astype("str"), ordered["adherence_rate"], color="#1d7a3a")
        ax.set_xlim(min(0.9, float(ordered["adherence_rate"].min()) - 0.01), 1.0)
        ax.set_xlabel("share of contacts that broke no rule")
        ax.set_title("Compliance adherence by team")
        figures["adherence"] = _png(fig)
    return figures


# --- HTML -----------------------------------------------------------------------------------------


def _table(frame: pd.DataFrame, *, percent: tuple[str, ...] = (), limit: int | None = None) -> str:
    shown = frame if limit is None else frame.head(limit)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = []
    for row in shown.itertuples(index=False):
        cells = []
        for column, value in zip(shown.columns, row, strict=True):
            if isinstance(value, float | np.floating):
                spec = ".1%" if column in percent or column.endswith(("_rate", "share")) else ",.2f"
                text = "" if not math.isfinite(value) else format(value, spec)
                cells.append(f'<td class="num">{text}</td>')
            elif isinstance(value, int | np.integer) and not isinstance(value, bool):
                cells.append(f'<td class="num">{value:,}</td>')
            else:
                cells.append(f"<td>{html.escape('' if value is None or value is pd.NA else str(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = (
        f"<p class='note'>First {limit:,} of {len(frame):,} rows; all are in the workbook.</p>"
        if limit is not None and len(frame) > limit
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def render_report_html(
    kpis: KpiReport,
    adherence: Mapping[str, pd.DataFrame],
    breaches: pd.DataFrame,
    figures: Mapping[str, bytes],
    facts: Mapping[str, Any],
) -> str:
    """The self-contained report page: no external resource of any kind."""
    first, last = kpis.months[0].first_day, kpis.months[-1].last_day
    monthly = kpis.monthly.set_index("month").drop(columns=["first_day", "last_day"]).T.reset_index()
    monthly = monthly.rename(columns={"index": "KPI"})
    by_rule = (
        breaches.groupby(["rule_id", "source"]).size().rename("breaches").reset_index()
        if len(breaches)
        else pd.DataFrame(columns=["rule_id", "source", "breaches"])
    )

    def group_table(dimension: str) -> str:
        rows = kpis.by_group[kpis.by_group["dimension"] == dimension].drop(columns=["dimension"])
        return _table(rows, limit=200)

    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        # Forbid every network fetch: the page must open offline and leak nothing.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">",
        f"<title>Collections report {first} to {last}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Collections report: {first} to {last}</h1>",
        f"<p class='note'>Run {html.escape(str(facts.get('run_id', '')))} · data "
        f"{html.escape(str(facts.get('data_source', '')))} · months on the lender's clock "
        f"({html.escape(str(kpis.totals.get('timezone')))}) · amount recovered in the window "
        f"{float(kpis.totals['amount_recovered'] or 0):,.2f} from {int(kpis.totals['payments'] or 0):,} "
        "payments (the payments table's sum over the window)</p>",
        "<div class='grid'>",
        *(_image(figures[key], key) for key in ("recovered", "contacts") if key in figures),
        "</div>",
        "<h2>Month by month</h2>",
        "<p class='note'>Recovery rate: payments by loans overdue at the month's start over the "
        "amount overdue then. Cured: overdue at the start, current at the end; resolved: paid off. "
        "Promises: made in the month, their fate as known at the window's end. Complaints: "
        "disputes raised and refusals.</p>",
        _table(monthly),
        "<h2>Roll rates</h2>",
        _image(figures["roll_rates"], "roll rates") if "roll_rates" in figures else "",
        _table(kpis.roll_rates[kpis.roll_rates["loans"] > 0]),
        "<h2>By team</h2>",
        "<p class='note'>Contacts, promises and complaints belong to the contact that made them; "
        "payments to the loan's last outbound contact before them (30 days), cures to the "
        "month's last contact; the rest is 'not contacted'.</p>",
        group_table("team"),
        "<h2>By channel</h2>",
        group_table("channel"),
        "<h2>By agent</h2>",
        group_table("agent_id"),
        "<h2>Compliance audit of the contacts made</h2>",
        f"<p class='note'>{int(len(breaches)):,} breaches "
        f"({int(breaches['interaction_id'].nunique()) if len(breaches) else 0:,} contacts); every "
        "row is in compliance_audit.parquet / .csv.</p>",
        _image(figures["adherence"], "adherence by team") if "adherence" in figures else "",
        "<h3>Breaches by rule</h3>",
        _table(by_rule),
        *(
            f"<h3>Adherence by {html.escape(name)}</h3>{_table(frame, limit=200)}"
            for name, frame in adherence.items()
        ),
        "<h3>Breaches</h3>",
        _table(breaches.astype({"occurred_at": "str"}) if len(breaches) else breaches, limit=200),
        "</body></html>",
    ]
    return "\n".join(parts)


# --- workbook -------------------------------------------------------------------------------------


def _excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel holds no time zones: instants are written as UTC text."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    return out


def write_report_workbook(path: Path, sheets: Mapping[str, pd.DataFrame]) -> None:
    """One sheet per table, header bold and frozen, columns sized to their header."""
    with pd.ExcelWriter(path, engine="xlsxwriter") as excel:
        header = excel.book.add_format({"bold": True, "bg_color": "#DDE5F0"})
        for name, frame in sheets.items():
            safe = _excel_safe(frame)
            safe.to_excel(excel, sheet_name=name[:31], index=False)
            sheet = excel.sheets[name[:31]]
            sheet.freeze_panes(1, 0)
            for i, column in enumerate(safe.columns):
                sheet.write(0, i, str(column), header)
                sheet.set_column(i, i, max(10, min(40, len(str(column)) + 2)))


def workbook_sheets(
    kpis: KpiReport, adherence: Mapping[str, pd.DataFrame], breaches: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The workbook's sheets: Monthly, By team, By channel, By agent, Roll rates, Adherence by
    team / agent, Breaches."""
    by_group = kpis.by_group
    sheets = {
        "Monthly": kpis.monthly,
        "By team": by_group[by_group["dimension"] == "team"].drop(columns=["dimension"]),
        "By channel": by_group[by_group["dimension"] == "channel"].drop(columns=["dimension"]),
        "By agent": by_group[by_group["dimension"] == "agent_id"].drop(columns=["dimension"]),
        "Roll rates": kpis.roll_rates,
    }
    sheets.update({f"Adherence by {name}": frame for name, frame in adherence.items()})
    sheets["Breaches"] = breaches
    return sheets


def publish_report(
    out: Path,
    kpis: KpiReport,
    adherence: Mapping[str, pd.DataFrame],
    breaches: pd.DataFrame,
    figures: Mapping[str, bytes],
    manifest: Mapping[str, Any],
    run_id: str,
) -> dict[str, Path]:
    """Write report.html, report.xlsx, report.json and compliance_audit.parquet|csv (and the
    manifest) into ``out``, atomically; returns file name -> path."""
    document = report_document(kpis, adherence, breaches, manifest)
    page = render_report_html(kpis, adherence, breaches, figures, manifest)
    sheets = workbook_sheets(kpis, adherence, breaches)
    return publish_outputs(
        Path(out),
        {AUDIT_STEM: breaches},
        manifest,
        run_id,
        files={
            REPORT_HTML: lambda path: path.write_text(page, encoding="utf-8"),
            REPORT_XLSX: lambda path: write_report_workbook(path, sheets),
            REPORT_JSON: lambda path: path.write_text(json.dumps(document, indent=2, default=str)),
        },
    )


__all__ = [
    "AUDIT_STEM",
    "REPORT_HTML",
    "REPORT_JSON",
    "REPORT_XLSX",
    "publish_report",
    "render_report_html",
    "report_document",
    "report_figures",
    "workbook_sheets",
    "write_report_workbook",
]
