"""The managers' workbook: a summary sheet, one sheet per team (today's work), promise
follow-ups and the forbearance list, formatted to open and print."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

# (column in the frame, header shown, width in characters, format name)
TEAM_SHEET_COLUMNS = [
    ("team_rank", "#", 6, "int"),
    ("loan_id", "Loan", 12, "text"),
    ("borrower_id", "Borrower", 12, "text"),
    ("product", "Product", 14, "text"),
    ("days_past_due", "Days past due", 9, "int"),
    ("amount_overdue", "Overdue", 12, "money"),
    ("outstanding_balance", "Balance", 12, "money"),
    ("p_pay_30d", "Chance to pay (30 days)", 10, "percent"),
    ("recommended_channel", "Channel", 11, "text"),
    ("contact_window", "Lawful contact window (local time)", 30, "text"),
    ("timezone", "Time zone", 20, "text"),
    ("attempts_left_today", "Attempts left today", 9, "int"),
    ("broken_promise", "Broke a promise", 9, "text"),
    ("reason_1", "Why (1)", 42, "wrap"),
    ("reason_2", "Why (2)", 42, "wrap"),
    ("reason_3", "Why (3)", 42, "wrap"),
    ("rank", "Overall rank", 9, "int"),
]
FOLLOW_UP_COLUMNS = [
    ("follow_up_on", "Follow up on", 12, "date"),
    ("loan_id", "Loan", 12, "text"),
    ("borrower_id", "Borrower", 12, "text"),
    ("promised_on", "Promised on", 12, "date"),
    ("promised_date", "Promised for", 12, "date"),
    ("promised_amount", "Promised", 12, "money"),
    ("paid_since_promise", "Paid since", 12, "money"),
    ("amount_overdue", "Overdue", 12, "money"),
    ("days_past_due", "Days past due", 9, "int"),
]
FORBEARANCE_SHEET_COLUMNS = [
    ("in_care_since", "In care since", 12, "date"),
    ("loan_id", "Loan", 12, "text"),
    ("borrower_id", "Borrower", 12, "text"),
    ("reason", "Why", 28, "wrap"),
    ("contact_held", "Contact held (cease, bankruptcy...)", 14, "text"),
    ("amount_overdue", "Overdue", 12, "money"),
    ("outstanding_balance", "Balance", 12, "money"),
    ("days_past_due", "Days past due", 9, "int"),
    ("region", "Region", 12, "text"),
    ("timezone", "Time zone", 20, "text"),
]


def sheet_name(text: str, taken: set[str]) -> str:
    """A valid, unique Excel sheet name (31 characters, none of []:*?/\\)."""
    base = re.sub(r"[\[\]:*?/\\]", "_", text)[:31] or "sheet"
    name, n = base, 2
    while name.lower() in {t.lower() for t in taken}:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(name)
    return name


def _window_text(frame: pd.DataFrame) -> pd.Series:
    """'2026-06-01 08:00 to 21:00 (-04:00)' from the local ISO-8601 window ends."""
    start, end = frame["contact_from_local"].astype("str"), frame["contact_until_local"].astype("str")
    same_day = start.str[:10] == end.str[:10]
    end_part = end.str[11:16].where(same_day, end.str[:10] + " " + end.str[11:16])
    return start.str[:10] + " " + start.str[11:16] + " to " + end_part + " (UTC" + start.str[19:] + ")"


def write_team_workbook(
    path: Path,
    queue: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    promise_follow_up: pd.DataFrame,
    forbearance: pd.DataFrame,
    run_facts: Mapping[str, object],
    dispositions: Mapping[str, int],
) -> None:
    """Write the workbook: Summary, one sheet per team with the rows within today's capacity
    (overflow stays in the team's CSV/Parquet), Promise follow-up and Forbearance."""
    with pd.ExcelWriter(path, engine="xlsxwriter") as writer:
        book = writer.book
        formats = {
            "header": book.add_format(
                {"bold": True, "bg_color": "#DDE5F0", "border": 1, "text_wrap": True, "valign": "top"}
            ),
            "title": book.add_format({"bold": True, "font_size": 14}),
            "text": book.add_format({"valign": "top"}),
            "wrap": book.add_format({"text_wrap": True, "valign": "top"}),
            "int": book.add_format({"num_format": "#,##0", "valign": "top"}),
            "money": book.add_format({"num_format": "#,##0.00", "valign": "top"}),
            "percent": book.add_format({"num_format": "0%", "valign": "top"}),
            "date": book.add_format({"num_format": "yyyy-mm-dd", "valign": "top"}),
        }
        taken: set[str] = set()
        _summary_sheet(writer, formats, summary, run_facts, dispositions, sheet_name("Summary", taken))
        for team, rows in queue[queue["within_capacity"]].groupby("team", sort=True):
            view = rows.sort_values("team_rank").assign(
                contact_window=_window_text(rows.sort_values("team_rank")),
                broken_promise=rows.sort_values("team_rank")["broken_promise"].map({True: "yes", False: ""}),
            )
            _table_sheet(
                writer, formats, view, TEAM_SHEET_COLUMNS, sheet_name(str(team), taken), f"Team {team}"
            )
        _table_sheet(
            writer,
            formats,
            promise_follow_up,
            FOLLOW_UP_COLUMNS,
            sheet_name("Promise follow-up", taken),
            "Promises to pay: not chased until the follow-up day",
        )
        care = forbearance.assign(contact_held=forbearance["contact_held"].map({True: "yes", False: ""}))
        _table_sheet(
            writer,
            formats,
            care,
            FORBEARANCE_SHEET_COLUMNS,
            sheet_name("Forbearance", taken),
            "Forbearance: care, not collection",
        )


def _table_sheet(writer, formats, frame: pd.DataFrame, columns, name: str, title: str) -> None:
    """One table, header on row 1 (frozen, filterable, repeated on every printed page)."""
    sheet = writer.book.add_worksheet(name)
    writer.sheets[name] = sheet
    for col, (_, header, width, kind) in enumerate(columns):
        sheet.write(0, col, header, formats["header"])
        sheet.set_column(col, col, width, formats[kind])
    for col, (column, _, _, kind) in enumerate(columns):
        values = frame[column] if column in frame else pd.Series([""] * len(frame))
        for row, value in enumerate(values.tolist(), start=1):
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                continue
            if kind == "date":
                sheet.write_datetime(row, col, pd.Timestamp(value).to_pydatetime(), formats["date"])
            else:
                sheet.write(row, col, value, formats[kind])
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(frame), 1), len(columns) - 1)
    sheet.set_row(0, 30)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4; printers on Letter scale it
    sheet.fit_to_pages(1, 0)  # one page wide, as many tall as needed
    sheet.repeat_rows(0)
    sheet.set_header(f"&L{title}&R&P / &N")


def _summary_sheet(writer, formats, summary: pd.DataFrame, run_facts, dispositions, name: str) -> None:
    sheet = writer.book.add_worksheet(name)
    writer.sheets[name] = sheet
    sheet.write(0, 0, "Work queue", formats["title"])
    row = 2
    for key, value in run_facts.items():
        sheet.write(row, 0, key, formats["header"])
        sheet.write(row, 1, str(value), formats["text"])
        row += 1
    row += 1
    sheet.write(row, 0, "Overdue loans tonight", formats["header"])
    row += 1
    for key, value in dispositions.items():
        sheet.write(row, 0, key.replace("_", " "), formats["text"])
        sheet.write(row, 1, int(value), formats["int"])
        row += 1
    row += 1
    headers = [
        ("team", "Team", "text"),
        ("queued", "Queued", "int"),
        ("within_capacity", "Today (capacity)", "int"),
        ("overflow", "Overflow", "int"),
        ("amount_overdue", "Overdue", "money"),
        ("expected_recovery", "Expected recovery", "money"),
    ]
    for col, (_, header, _) in enumerate(headers):
        sheet.write(row, col, header, formats["header"])
    for record in summary.to_dict("records"):
        row += 1
        for col, (column, _, kind) in enumerate(headers):
            sheet.write(row, col, record[column], formats[kind])
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 5, 16)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
