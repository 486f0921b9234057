"""The managers' workbook, built for the morning: a Summary of the day (each team's capacity,
what fills it and why, the money, what is held back), one sheet per kind of human work (Calls,
Field visits, Promises, Care, Disputes) and a "Read me" that explains every column.

Automated channels (SMS, e-mail, WhatsApp, letters) have no sheet: a platform sends them from
the batch files (adapters/batches.py). The contact sheets take the contacts frame
(scoring.worklist.contact_worklist: one row per contact, i.e. per borrower and day)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from adapters.batches import BATCH_FIELDS, BATCH_FOLDER, is_automated, joined_ids
from data_contracts.column_docs import BATCH_FIELD_DOCS, SHEET_DOCS, SUMMARY_GUIDE, describe
from data_contracts.columnar import join_per_group

HEADER_FILL = "#DDE5F0"
# Randomised exploration picks: coloured so nobody mistakes them for the day's best contacts.
EXPLORATION_FILL = "#FCE4D6"
EXPLORATION_MARK = "Randomised pick"

# The sheet of each channel people work; any other non-automated channel gets a sheet of its own.
HUMAN_SHEETS = {"call": "Calls", "field_visit": "Field visits"}


class Column(NamedTuple):
    """A column of a sheet: the frame's column, the header shown, width (characters), format."""

    source: str
    header: str
    width: int
    kind: str


CONTACT_SHEET_COLUMNS = [
    Column("exploration", "Exploration", 14, "text"),
    Column("team", "Team", 16, "text"),
    Column("team_rank", "#", 6, "int"),
    Column("within_capacity", "Today or later", 10, "text"),
    Column("display_name", "Ask for", 22, "text"),
    Column("contact_point", "Reach at", 24, "wrap"),
    Column("preferred_language", "Language", 9, "text"),
    Column("borrower_id", "Borrower", 12, "text"),
    Column("loan_ids", "Loans", 18, "wrap"),
    Column("n_loans", "Number of loans", 7, "int"),
    Column("amount_overdue", "Overdue", 12, "money"),
    Column("incremental_value", "Contact expected to add", 12, "money"),
    Column("priority_reason", "Why this contact", 48, "wrap"),
    Column("offer", "What to offer", 30, "wrap"),
    Column("contact_window", "Lawful contact window (local time)", 30, "text"),
    Column("last_contact_at", "Last contact", 16, "when"),
    Column("last_contact_channel", "Last channel", 11, "text"),
    Column("last_contact_outcome", "Last outcome", 16, "text"),
    Column("next_due_date", "Next due", 11, "date"),
    Column("open_promise_amount", "Open promise", 12, "money"),
    Column("open_promise_date", "Promised for", 11, "date"),
    Column("rank", "Overall rank", 9, "int"),
    Column("contact_id", "Contact id", 14, "text"),
]
PROMISE_COLUMNS = [
    Column("follow_up_on", "Follow up on", 12, "date"),
    Column("loan_id", "Loan", 12, "text"),
    Column("borrower_id", "Borrower", 12, "text"),
    Column("promised_on", "Promised on", 12, "date"),
    Column("promised_date", "Promised for", 12, "date"),
    Column("promised_amount", "Promised", 12, "money"),
    Column("paid_since_promise", "Paid since", 12, "money"),
    Column("amount_overdue", "Overdue", 12, "money"),
    Column("days_past_due", "Days past due", 9, "int"),
]
CARE_COLUMNS = [
    Column("in_care_since", "In care since", 12, "date"),
    Column("loan_id", "Loan", 12, "text"),
    Column("borrower_id", "Borrower", 12, "text"),
    Column("reason", "Why in care", 28, "wrap"),
    Column("contact_held", "Contact held", 10, "text"),
    Column("amount_overdue", "Overdue", 12, "money"),
    Column("outstanding_balance", "Balance", 12, "money"),
    Column("days_past_due", "Days past due", 9, "int"),
    Column("region", "Region", 12, "text"),
    Column("timezone", "Time zone", 20, "text"),
]
DISPUTE_COLUMNS = [
    Column("loan_id", "Loan", 12, "text"),
    Column("borrower_id", "Borrower", 12, "text"),
    Column("rule_id", "Rule", 16, "text"),
    Column("detail", "Why held", 40, "wrap"),
    Column("source", "Law or policy", 24, "wrap"),
    Column("channels", "Channels held", 24, "wrap"),
    Column("next_lawful_from_local", "Next lawful contact (local time)", 20, "text"),
    Column("other_holds", "Other holds", 24, "wrap"),
]
DISPUTE_DEADLINE_COLUMNS = [
    Column("received_on", "Dispute received", 12, "date"),
    Column("respond_by", "Respond by", 12, "date"),
    Column("days_left", "Days left to respond", 9, "int"),
]
OFFER_COLUMNS = [
    Column("loan_id", "Loan", 12, "text"),
    Column("borrower_id", "Borrower", 12, "text"),
    Column("team", "Team", 16, "text"),
    Column("treatment", "Offer", 14, "text"),
    Column("offer_instalment", "Instalment or settlement amount", 12, "money"),
    Column("offer_n_instalments", "Months", 7, "int"),
    Column("offer_discount", "Discount", 9, "share"),
    Column("offer_amount_to_accept", "Amount to accept", 12, "money"),
    Column("offer_holiday_days", "Holiday days", 8, "int"),
    Column("p_accept", "Chance to accept", 9, "share"),
    Column("expected_value", "Expected gain", 12, "money"),
    Column("amount_overdue", "Overdue", 12, "money"),
    Column("days_past_due", "Days past due", 9, "int"),
    Column("treatment_reason", "Why this offer", 60, "wrap"),
]
REFERRAL_COLUMNS = [
    Column("loan_id", "Loan", 12, "text"),
    Column("borrower_id", "Borrower", 12, "text"),
    Column("treatment", "Send to", 10, "text"),
    Column("days_past_due", "Days past due", 9, "int"),
    Column("amount_overdue", "Overdue", 12, "money"),
    Column("outstanding_balance", "Balance", 12, "money"),
    Column("referral_net_recovery", "Agency net recovery", 12, "money"),
    Column("continue_value", "In-house collection at its best", 12, "money"),
    Column("treatment_reason", "Why", 60, "wrap"),
]
TEAM_TABLE_COLUMNS = [
    Column("team", "Team", 22, "text"),
    Column("sent_by", "Sent by", 24, "wrap"),
    Column("capacity", "Capacity a day", 10, "int"),
    Column("queued", "Contacts queued", 10, "int"),
    Column("within_capacity", "Within capacity", 10, "int"),
    Column("overflow", "Overflow", 10, "int"),
    Column("unused_capacity", "Unused capacity", 10, "int"),
    Column("capacity_note", "Why (capacity)", 48, "wrap"),
    Column("loans", "Loans covered", 10, "int"),
    Column("amount_overdue", "Overdue on today's contacts", 14, "money"),
    Column("incremental_value", "Today's contacts expected to add", 14, "money"),
]
HELD_BACK_COLUMNS = [
    Column("group", "Held back", 22, "text"),
    Column("reason", "Reason", 60, "wrap"),
    Column("loans", "Loans held", 10, "int"),
]
READ_ME_COLUMNS = [
    Column("sheet", "Sheet", 22, "text"),
    Column("column", "Column", 30, "text"),
    Column("meaning", "What it means", 100, "wrap"),
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
    """'2026-06-01 08:00 to 21:00 (UTC-04:00)' from the local ISO-8601 window ends."""
    start, end = frame["contact_from_local"].astype("str"), frame["contact_until_local"].astype("str")
    same_day = start.str[:10] == end.str[:10]
    end_part = end.str[11:16].where(same_day, end.str[:10] + " " + end.str[11:16])
    text = start.str[:10] + " " + start.str[11:16] + " to " + end_part + " (UTC" + start.str[19:] + ")"
    return text.where(frame["contact_from_local"].notna(), None)


def is_dispute(suppressed: pd.DataFrame) -> pd.Series:
    """The suppressed rows held by a dispute rule (``open_dispute`` in every shipped pack; any
    rule or reason naming a dispute in a lender's own pack)."""
    named = suppressed["rule_id"].astype("str") + " " + suppressed["reason"].astype("str")
    return named.str.contains("dispute", case=False, regex=False)


def contact_sheets(
    contacts: pd.DataFrame, capacity: Mapping[str, float | None] | None = None
) -> dict[str, pd.DataFrame]:
    """The contact sheets people work, by sheet name: Calls and Field visits always (empty when
    the night has none), then any other channel people work. Rows within capacity first, then
    by team and the team's order of work, with the display columns filled in.

    With ``capacity`` (team -> contacts a day, None or absent = no limit) a team's overflow is
    cut at one more day's work: a sheet is what a person opens, so its size follows the teams'
    capacity, not the size of the book (the team files hold every queued row)."""
    if capacity is not None:
        contacts = _within_a_day_more(contacts, capacity)
    channels = [c for c in contacts["recommended_channel"].astype("str").unique() if not is_automated(c)]
    names = {
        **HUMAN_SHEETS,
        **{c: c.replace("_", " ").capitalize() for c in sorted(channels) if c not in HUMAN_SHEETS},
    }
    sheets = {}
    for channel, name in names.items():
        rows = contacts[contacts["recommended_channel"] == channel]
        rows = rows.assign(_later=~rows["within_capacity"].astype(bool)).sort_values(
            ["_later", "team", "team_rank"], kind="stable"
        )
        sheets[name] = rows.drop(columns="_later").assign(
            contact_window=_window_text(rows),
            within_capacity=rows["within_capacity"].map({True: "Today", False: "Later day"}),
            exploration=rows["exploration"].map({True: EXPLORATION_MARK, False: None}),
        )
    return sheets


def _within_a_day_more(contacts: pd.DataFrame, capacity: Mapping[str, float | None]) -> pd.DataFrame:
    """Today's rows and, per team, the next day's worth of overflow in the team's order."""
    later = ~contacts["within_capacity"].astype(bool)
    order = contacts[later].sort_values(["team", "team_rank"], kind="stable")
    place = order.groupby("team", sort=False).cumcount().reindex(contacts.index)
    limit = contacts["team"].map(lambda team: capacity.get(team)).astype("float64")
    keep = ~later | limit.isna() | (place < limit)
    return contacts[keep]


def team_table(contacts: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The Summary's teams table: per team the configured capacity, contacts queued, within
    capacity, overflow, unused capacity and why (scoring.teams.team_summary), and the money of
    today's contacts. Teams worked by people first, then those a platform sends."""
    today = contacts[contacts["within_capacity"].astype(bool)]
    grouped = contacts.groupby("team", sort=True)
    table = pd.DataFrame(
        {
            "channel": grouped["recommended_channel"].first().astype("str"),
            "queued": grouped.size(),
            "within_capacity": grouped["within_capacity"].sum().astype("int64"),
        }
    )
    table["overflow"] = table["queued"] - table["within_capacity"]
    money = today.groupby("team")[["n_loans", "amount_overdue", "incremental_value"]].sum().round(2)
    table = table.join(money.rename(columns={"n_loans": "loans"})).fillna(
        {"loans": 0, "amount_overdue": 0.0, "incremental_value": 0.0}
    )
    limits = summary.set_index("team")[["capacity", "unused_capacity", "capacity_note"]]
    table = table.join(limits).reset_index()
    table["sent_by"] = [
        f"platform: {BATCH_FOLDER}/{channel}.csv"
        if is_automated(channel)
        else f"people: {HUMAN_SHEETS.get(channel, channel)} sheet"
        for channel in table["channel"]
    ]
    table["capacity"] = table["capacity"].astype("object").where(table["capacity"].notna(), "no limit")
    order = {channel: n for n, channel in enumerate(HUMAN_SHEETS)}
    table["_order"] = [order.get(c, len(order) + is_automated(c)) for c in table["channel"]]
    return table.sort_values(["_order", "team"], kind="stable").drop(columns="_order").reset_index(drop=True)


def held_back_table(
    suppressed: pd.DataFrame,
    left_alone: pd.DataFrame,
    promise_follow_up: pd.DataFrame,
    forbearance: pd.DataFrame,
) -> pd.DataFrame:
    """The Summary's held-back table: loans on no list today, by group and reason."""
    rows: list[dict[str, Any]] = []
    for reason, held in suppressed.groupby("reason", sort=True):
        detail = held["detail"].dropna()
        words = f"{reason}: {detail.iloc[0]}" if len(detail) else str(reason)
        rows.append({"group": "Held by a rule", "reason": words, "loans": held["loan_id"].nunique()})
    for reason, alone in left_alone.groupby("reason", sort=True):
        rows.append({"group": "Left alone on purpose", "reason": str(reason), "loans": len(alone)})
    disputes = suppressed.loc[is_dispute(suppressed), "loan_id"].nunique()
    rows += [
        {
            "group": "Waiting on a promise",
            "reason": "An open promise to pay: follow up if not kept (see the Promises sheet).",
            "loans": len(promise_follow_up),
        },
        {
            "group": "In care",
            "reason": "Forbearance, a hardship plan or a vulnerable customer (see the Care sheet).",
            "loans": len(forbearance),
        },
        {
            "group": "Disputed",
            "reason": "The debt is disputed: no collection until it is closed (see the Disputes sheet).",
            "loans": disputes,
        },
    ]
    return pd.DataFrame(rows, columns=["group", "reason", "loans"])


def dispute_sheet(suppressed: pd.DataFrame, disputes: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per disputed loan, with the other rules that hold it back and, given the night's
    dispute list, the deadline to respond (most urgent first)."""
    disputed = suppressed[is_dispute(suppressed)].drop_duplicates("loan_id")
    others = join_per_group(
        suppressed[~is_dispute(suppressed)].groupby("loan_id")["rule_id"], ", ", sort_within=True
    )
    sheet = disputed.assign(other_holds=disputed["loan_id"].map(others)).sort_values("loan_id")
    if disputes is None or disputes.empty:
        return sheet.assign(received_on=pd.NaT, respond_by=pd.NaT, days_left=pd.NA)
    held = disputes.assign(loan_id=disputes["loans_held"].str.split(",")).explode("loan_id")
    held["loan_id"] = held["loan_id"].str.strip()
    # A loan held by two disputes answers to the earlier deadline.
    held = held.sort_values(["days_left", "received_on"], kind="stable", na_position="last")
    deadline = held.drop_duplicates("loan_id").set_index("loan_id")[
        ["received_on", "respond_by", "days_left"]
    ]
    sheet = sheet.join(deadline, on="loan_id")
    return sheet.sort_values(["days_left", "loan_id"], kind="stable", na_position="last")


def write_team_workbook(
    path: Path,
    contacts: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    promise_follow_up: pd.DataFrame,
    forbearance: pd.DataFrame,
    suppressed: pd.DataFrame,
    left_alone: pd.DataFrame,
    run_facts: Mapping[str, object],
    dispositions: Mapping[str, int],
    treatments: pd.DataFrame | None = None,
    disputes: pd.DataFrame | None = None,
) -> None:
    """Write the workbook: Summary, Calls, Field visits (one row per contact, every region),
    Promises, Care, Disputes and Read me. ``contacts`` is the contacts frame (one row per
    contact), ``summary`` scoring.teams.team_summary of the queue (capacities and why), the
    rest the night's companion lists."""
    with pd.ExcelWriter(path, engine="xlsxwriter") as excel:
        book = excel.book
        base = {
            "text": {"valign": "top"},
            "wrap": {"text_wrap": True, "valign": "top"},
            "int": {"num_format": "#,##0", "valign": "top"},
            "share": {"num_format": "0%", "valign": "top"},
            "money": {"num_format": "#,##0.00", "valign": "top"},
            "date": {"num_format": "yyyy-mm-dd", "valign": "top"},
            "when": {"valign": "top"},
        }
        formats = {kind: book.add_format(spec) for kind, spec in base.items()}
        formats |= {
            f"{kind}!": book.add_format({**spec, "bg_color": EXPLORATION_FILL}) for kind, spec in base.items()
        }
        formats["header"] = book.add_format(
            {"bold": True, "bg_color": HEADER_FILL, "border": 1, "text_wrap": True, "valign": "top"}
        )
        formats["title"] = book.add_format({"bold": True, "font_size": 14})
        formats["subtitle"] = book.add_format({"bold": True, "font_size": 12})
        formats["label"] = book.add_format({"bold": True, "valign": "top"})
        shown: dict[str, list[Column]] = {}
        taken: set[str] = set()

        sheet = _add_sheet(excel, sheet_name("Summary", taken))
        teams = team_table(contacts, summary)
        held = held_back_table(suppressed, left_alone, promise_follow_up, forbearance)
        shown["Summary"] = _summary(sheet, formats, teams, held, summary, run_facts, dispositions)

        tables = [
            *(
                (name, frame, CONTACT_SHEET_COLUMNS)
                for name, frame in contact_sheets(contacts, team_capacities(summary)).items()
            ),
            ("Promises", promise_follow_up.sort_values("follow_up_on", kind="stable"), PROMISE_COLUMNS),
            ("Care", forbearance, CARE_COLUMNS),
            ("Disputes", dispute_sheet(suppressed, disputes), DISPUTE_COLUMNS + DISPUTE_DEADLINE_COLUMNS),
            *_treatment_sheets(treatments),
        ]
        for name, frame, columns in tables:
            sheet = _add_sheet(excel, sheet_name(name, taken))
            marked = (
                frame["exploration"].notna()
                if "exploration" in frame and columns is CONTACT_SHEET_COLUMNS
                else None
            )
            _table(sheet, formats, frame, columns, 0, marked)
            _page_setup(sheet, f"{name}: {SHEET_DOCS.get(name, '')}"[:200], frozen_rows=1)
            sheet.autofilter(0, 0, max(len(frame), 1), len(columns) - 1)
            shown[name] = columns

        shown["Read me"] = READ_ME_COLUMNS
        _read_me(_add_sheet(excel, sheet_name("Read me", taken)), formats, shown)


def team_capacities(summary: pd.DataFrame) -> dict[str, float | None]:
    """Contacts a day per team from the team summary (None = no limit)."""
    limits = summary.set_index("team")["capacity"]
    return {str(team): None if pd.isna(limit) else float(limit) for team, limit in limits.items()}


def _treatment_sheets(treatments: pd.DataFrame | None) -> list[tuple[str, pd.DataFrame, list[Column]]]:
    """The Offers and the Referrals and tracing sheets (none without a treatments list)."""
    if treatments is None:
        return []
    offers = treatments[treatments["treatment"].isin(["payment_plan", "deferment", "settlement"])]
    out = treatments[treatments["treatment"].isin(["referral", "trace"])]
    return [
        (
            "Offers",
            offers.sort_values(["team", "expected_value"], ascending=[True, False], kind="stable"),
            OFFER_COLUMNS,
        ),
        (
            "Referrals and tracing",
            out.sort_values(["treatment", "outstanding_balance"], ascending=[True, False], kind="stable"),
            REFERRAL_COLUMNS,
        ),
    ]


def _add_sheet(excel: pd.ExcelWriter, name: str) -> Any:
    sheet = excel.book.add_worksheet(name)
    excel.sheets[name] = sheet
    return sheet


def _cell(value: object, kind: str) -> object:
    """A frame value as the workbook shows it (None: an empty cell)."""
    value = joined_ids(value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[arg-type]
        return None
    if isinstance(value, bool):
        return "yes" if value else ""
    if kind == "money":
        return round(float(value), 2)  # type: ignore[arg-type]
    if kind == "share":
        return float(value)  # type: ignore[arg-type]
    if kind == "date":
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
        return (stamp.tz_localize(None) if stamp.tzinfo else stamp).to_pydatetime()
    if kind == "when" and not isinstance(value, str):
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
        return f"{stamp.tz_convert('UTC'):%Y-%m-%d %H:%M} UTC" if stamp.tzinfo else f"{stamp:%Y-%m-%d %H:%M}"
    return value


def _table(
    sheet: Any, formats: dict, frame: pd.DataFrame, columns: Sequence[Column], top: int, marked=None
) -> int:
    """Write a header row at ``top`` and the frame's rows below it, written row by row;
    ``marked`` (a boolean Series) colours whole rows. Returns the next free row."""
    for col, column in enumerate(columns):
        sheet.write(top, col, column.header, formats["header"])
        sheet.set_column(col, col, column.width)
    values = [frame[c.source].tolist() if c.source in frame else [None] * len(frame) for c in columns]
    marks = [False] * len(frame) if marked is None else marked.astype(bool).tolist()
    for offset, (cells, mark) in enumerate(zip(zip(*values, strict=True), marks, strict=True), start=1):
        for col, (value, column) in enumerate(zip(cells, columns, strict=True)):
            style = formats[f"{column.kind}!" if mark else column.kind]
            shown = _cell(value, column.kind)
            if shown is None:
                sheet.write_blank(top + offset, col, None, style)
            elif column.kind == "date":
                sheet.write_datetime(top + offset, col, shown, style)
            else:
                sheet.write(top + offset, col, shown, style)
    return top + len(frame) + 1


def _page_setup(sheet: Any, title: str, frozen_rows: int) -> None:
    """Header frozen and repeated on every printed page, landscape, one page wide."""
    if frozen_rows:
        sheet.freeze_panes(frozen_rows, 0)
        sheet.set_row(frozen_rows - 1, 30)
        sheet.repeat_rows(frozen_rows - 1)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4; printers on Letter scale it
    sheet.fit_to_pages(1, 0)  # one page wide, as many tall as needed
    sheet.set_header(f"&L{title.replace('&', '&&')}&R&P / &N")


def _summary(
    sheet: Any,
    formats: dict,
    teams: pd.DataFrame,
    held: pd.DataFrame,
    summary: pd.DataFrame,
    run_facts: Mapping[str, object],
    dispositions: Mapping[str, int],
) -> list[Column]:
    """The Summary sheet; returns the table columns it shows (for the Read me)."""
    sheet.write(0, 0, "Work queue: the day at a glance", formats["title"])
    row = 2
    for key, value in run_facts.items():
        sheet.write(row, 0, key, formats["label"])
        sheet.write(row, 1, str(value), formats["text"])
        row += 1
    row += 1
    sheet.write(row, 0, "Overdue loans tonight", formats["subtitle"])
    for key, value in dispositions.items():
        row += 1
        sheet.write(row, 0, key.replace("_", " ").capitalize(), formats["label"])
        sheet.write(row, 1, int(value), formats["int"])
    row += 2
    today = teams["within_capacity"].sum()
    money = [
        ("Today's contacts expected to add", teams["incremental_value"].sum(),
         "What today's contacts are expected to bring in beyond what borrowers pay anyway, after costs."),
        ("Overdue on today's contacts", teams["amount_overdue"].sum(),
         f"Owed past due on the loans of today's {today:,} contacts: not what the contacts will bring in."),
        ("Expected recovery (all queued loans)", summary["expected_recovery"].sum(),
         "Chance to pay x overdue on every queued loan: paid with or without contact, not caused by it."),
    ]  # fmt: skip
    sheet.write(row, 0, "Money", formats["subtitle"])
    for label, amount, words in money:
        row += 1
        sheet.write(row, 0, label, formats["label"])
        sheet.write(row, 1, round(float(amount), 2), formats["money"])
        sheet.write(row, 2, words, formats["text"])
    row += 2
    sheet.write(row, 0, "Teams: capacity and today's work", formats["subtitle"])
    row = _table(sheet, formats, teams, TEAM_TABLE_COLUMNS, row + 1) + 1
    sheet.write(row, 0, "Held back today", formats["subtitle"])
    row = _table(sheet, formats, held, HELD_BACK_COLUMNS, row + 1) + 1
    sheet.write(row, 0, "The 'Read me' sheet explains every column in plain words.", formats["label"])
    # Column widths: the teams table's (the widest), the held-back table sharing them.
    for col, column in enumerate(TEAM_TABLE_COLUMNS):
        sheet.set_column(col, col, max(column.width, 26 if col == 0 else column.width))
    _page_setup(sheet, "Summary", frozen_rows=0)
    return [*TEAM_TABLE_COLUMNS, *HELD_BACK_COLUMNS]


def _read_me(sheet: Any, formats: dict, shown: Mapping[str, Sequence[Column]]) -> None:
    """The Read me sheet: how to read the Summary, then every sheet's columns in plain words,
    then the fields of the platform's batch files."""
    sheet.write(0, 0, "Read me", formats["title"])
    row = 2
    sheet.write(row, 0, "How to read the Summary", formats["subtitle"])
    for line in SUMMARY_GUIDE:
        row += 1
        sheet.merge_range(row, 0, row, 2, line, formats["wrap"])
        sheet.set_row(row, 32)
    row += 2
    rows: list[dict[str, str]] = []
    for name, columns in shown.items():
        rows.append({"sheet": name, "column": "(the sheet)", "meaning": SHEET_DOCS.get(name, "")})
        seen: set[str] = set()
        for column in columns:
            if column.header not in seen:
                seen.add(column.header)
                rows.append({"sheet": name, "column": column.header, "meaning": describe(column.header)})
    for field in BATCH_FIELDS:
        rows.append(
            {"sheet": f"{BATCH_FOLDER}/<channel>.csv", "column": field, "meaning": BATCH_FIELD_DOCS[field]}
        )
    sheet.write(row, 0, "Every sheet and column", formats["subtitle"])
    _table(sheet, formats, pd.DataFrame(rows), READ_ME_COLUMNS, row + 1)
    _page_setup(sheet, "Read me", frozen_rows=0)
