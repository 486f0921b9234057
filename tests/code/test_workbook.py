"""The morning workbook and the platform's batch files, read back as a manager and a sending
platform would: sheets, the Summary's capacities, exploration marks, the Read me, batch files."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd
import pytest

from adapters.batches import AUTOMATED_CHANNELS, BATCH_FIELDS, batch_writers
from adapters.excel import EXPLORATION_FILL, EXPLORATION_MARK, HEADER_FILL, write_team_workbook
from data_contracts.column_docs import BATCH_FIELD_DOCS, COLUMN_DOCS
from scoring.teams import team_summary

AS_OF = "2026-06-01"
CAPACITY = {
    "default_capacity": 200,
    "capacity_by_channel": {
        "call": 150,
        "field_visit": 1,
        "sms": None,
        "email": None,
        "whatsapp": None,
        "letter": None,
    },
    "capacity_by_team": {"sms-west": 0},
}


def _contact(contact_id, team, rank, team_rank, *, loans=("L",), within=True, exploration=False, value=10.0):
    channel = team.rsplit("-", 1)[0]
    return {
        "contact_id": contact_id,
        "team": team,
        "rank": rank,
        "team_rank": team_rank,
        "recommended_channel": channel,
        "borrower_id": f"B-{contact_id}",
        "display_name": f"Name {contact_id}",
        "contact_point": f"+1555{rank:04d}" if channel != "letter" else f"{rank} Main St",
        "preferred_language": "en",
        "loan_ids": [f"{loan}-{contact_id}" for loan in loans],
        "n_loans": len(loans),
        "amount_overdue": 100.0 * len(loans),
        "incremental_value": value,
        "priority_reason": f"A {channel} is expected to add about {value:.0f}",
        "contact_from_local": f"{AS_OF}T08:00:00-05:00",
        "contact_until_local": f"{AS_OF}T21:00:00-05:00",
        "timezone": "America/Chicago",
        "contact_from_utc": pd.Timestamp(f"{AS_OF} 13:00", tz="UTC"),
        "contact_until_utc": pd.Timestamp(f"{AS_OF} 02:00", tz="UTC") + pd.Timedelta(days=1),
        "last_contact_at": pd.Timestamp("2026-05-28 14:05", tz="UTC"),
        "last_contact_channel": "call",
        "last_contact_outcome": "no_answer",
        "next_due_date": pd.Timestamp("2026-06-10"),
        "open_promise_amount": None,
        "open_promise_date": pd.NaT,
        "exploration": exploration,
        "within_capacity": within,
    }


@pytest.fixture
def contacts():
    return pd.DataFrame(
        [
            _contact("C01", "call-midwest", 1, 1, loans=("L1", "L2"), value=40.0),
            _contact("C02", "call-midwest", 6, 2, exploration=True, value=-3.0),
            _contact("C03", "call-west", 2, 1, value=30.0),
            _contact("C04", "field_visit-west", 3, 1, value=25.0),
            _contact("C05", "field_visit-west", 11, 2, within=False, value=2.0),
            _contact("C06", "sms-midwest", 4, 1, value=5.0),
            _contact("C07", "email-west", 5, 1, loans=("L1", "L2", "L3"), value=4.0),
            _contact("C08", "whatsapp-west", 7, 1, value=3.0),
            _contact("C09", "letter-midwest", 8, 1, exploration=True, value=-1.0),
            _contact("C10", "sms-west", 9, 1, within=False, value=1.0),
        ]
    )


@pytest.fixture
def queue(contacts):
    """The loan-grain queue behind the contacts (one row per loan, sharing contact_id)."""
    rows = contacts.explode("loan_ids").rename(columns={"loan_ids": "loan_id"})
    rows["amount_overdue"] = 100.0
    rows["expected_recovery"] = 30.0
    return rows.reset_index(drop=True)


@pytest.fixture
def companions():
    suppressed = pd.DataFrame(
        {
            "loan_id": ["L20", "L20", "L21", "L22", "L23"],
            "borrower_id": ["B20", "B20", "B21", "B22", "B23"],
            "reason": ["open_dispute", "bankruptcy", "open_dispute", "hardship_forbearance", "bankruptcy"],
            "rule_id": ["open_dispute", "bankruptcy", "open_dispute", "hardship_forbearance", "bankruptcy"],
            "channels": ["call,sms"] * 5,
            "next_lawful_from_local": [None] * 5,
            "detail": [
                "The debt is disputed; no collection until the dispute is closed.",
                "The borrower is in bankruptcy.",
                "The debt is disputed; no collection until the dispute is closed.",
                "A hardship plan is in force.",
                "The borrower is in bankruptcy.",
            ],
            "source": ["house policy"] * 5,
        }
    )
    left_alone = pd.DataFrame(
        {
            "loan_id": ["L30", "L31", "L32"],
            "reason": [
                "likely to pay without contact",
                "contact unlikely to help",
                "contact unlikely to help",
            ],
        }
    )
    promises = pd.DataFrame(
        {
            "loan_id": ["L40"],
            "borrower_id": ["B40"],
            "follow_up_on": [pd.Timestamp("2026-06-02")],
            "promised_on": [pd.Timestamp("2026-05-20")],
            "promised_date": [pd.Timestamp("2026-05-30")],
            "promised_amount": [120.0],
            "paid_since_promise": [0.0],
            "days_past_due": [40.0],
            "amount_overdue": [300.0],
        }
    )
    care = pd.DataFrame(
        {
            "loan_id": ["L22"],
            "borrower_id": ["B22"],
            "reason": ["hardship_forbearance"],
            "in_care_since": [pd.Timestamp("2026-03-01")],
            "contact_held": [False],
            "days_past_due": [60.0],
            "amount_overdue": [50.0],
            "outstanding_balance": [500.0],
            "region": ["west"],
            "timezone": ["America/Chicago"],
        }
    )
    treatments = pd.DataFrame(
        {
            "loan_id": ["L1", "L22", "L50", "L51", "L30"],
            "borrower_id": ["B1", "B22", "B50", "B51", "B30"],
            "team": ["call-west", "care", "agency", "tracing", None],
            "treatment": ["settlement", "payment_plan", "referral", "trace", "hold"],
            "offer_instalment": [800.0, 25.0, None, None, None],
            "offer_n_instalments": pd.array([1, 2, None, None, None], dtype="Int64"),
            "offer_discount": [0.2, None, None, None, None],
            "offer_amount_to_accept": [800.0, 50.0, None, None, None],
            "offer_holiday_days": pd.array([None] * 5, dtype="Int64"),
            "p_accept": [0.25, 0.3, None, None, None],
            "expected_value": [120.0, 15.0, 300.0, None, None],
            "amount_overdue": [400.0, 50.0, 900.0, 100.0, 80.0],
            "outstanding_balance": [1000.0, 500.0, 5000.0, 700.0, 300.0],
            "days_past_due": [200.0, 60.0, 400.0, 30.0, 10.0],
            "referral_net_recovery": [None, None, 600.0, None, None],
            "continue_value": [50.0, None, 300.0, None, None],
            "treatment_reason": ["Offer to settle", "The care team offers a plan", "Refer", "Trace", "Hold"],
        }
    )
    disputes = pd.DataFrame(
        {
            "dispute_id": ["D-L21-20260501", "D-L20-20260520"],
            "loans_held": ["L21", "L20"],
            "received_on": [pd.Timestamp("2026-05-01"), pd.Timestamp("2026-05-20")],
            "respond_by": [pd.Timestamp("2026-05-31"), pd.Timestamp("2026-06-19")],
            "days_left": pd.array([-1, 18], dtype="Int64"),
        }
    )
    return {
        "suppressed": suppressed,
        "left_alone": left_alone,
        "promise_follow_up": promises,
        "forbearance": care,
        "treatments": treatments,
        "disputes": disputes,
    }


@pytest.fixture
def workbook(tmp_path, contacts, queue, companions):
    path = tmp_path / "team_queues.xlsx"
    write_team_workbook(
        path,
        contacts,
        team_summary(queue, **CAPACITY),
        promise_follow_up=companions["promise_follow_up"],
        forbearance=companions["forbearance"],
        suppressed=companions["suppressed"],
        left_alone=companions["left_alone"],
        run_facts={"Work day (as of)": AS_OF, "Run": "run-1"},
        dispositions={"queued": 12, "suppressed": 4, "promise_follow_up": 1, "left_alone": 3},
        treatments=companions["treatments"],
        disputes=companions["disputes"],
    )
    return openpyxl.load_workbook(path)


def _table_at(sheet, first_header: str) -> pd.DataFrame:
    """The table on ``sheet`` whose header row starts with ``first_header`` (up to a blank row)."""
    top = next(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, 1).value == first_header)
    headers = [c.value for c in sheet[top] if c.value is not None]
    rows = []
    for r in range(top + 1, sheet.max_row + 1):
        cells = [sheet.cell(r, c).value for c in range(1, len(headers) + 1)]
        if all(value is None for value in cells):
            break
        rows.append(cells)
    return pd.DataFrame(rows, columns=headers)


def _sheet(sheet) -> pd.DataFrame:
    """A table sheet (header on row 1) as a frame."""
    rows = list(sheet.values)
    return pd.DataFrame(rows[1:], columns=rows[0])


def _headers(sheet) -> list[str]:
    """Every header cell on the sheet (the header fill marks them)."""
    return [
        cell.value
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None and cell.fill.fgColor.rgb == "FF" + HEADER_FILL[1:]
    ]


def test_the_sheets_are_the_days_kinds_of_work_not_channel_by_region(workbook, contacts):
    names = workbook.sheetnames
    assert names == [
        "Summary", "Calls", "Field visits", "Promises", "Care", "Disputes", "Offers", "Referrals and tracing",
        "Read me",
    ]  # fmt: skip
    assert not set(contacts["team"]) & set(names)
    assert not [n for n in names for channel in AUTOMATED_CHANNELS if channel in n.lower()]


def test_the_summary_shows_each_teams_capacity_and_why_it_is_unused(workbook):
    teams = _table_at(workbook["Summary"], "Team").set_index("Team")
    # People's teams first, then those a platform sends.
    assert list(teams.index[:3]) == ["call-midwest", "call-west", "field_visit-west"]
    midwest = teams.loc["call-midwest"]
    assert midwest["Capacity a day"] == 150 and midwest["Within capacity"] == 2
    assert midwest["Unused capacity"] == 148 and midwest["Overflow"] == 0
    assert midwest["Why (capacity)"] == (
        "148 of 150 unused: only 1 borrowers had a lawful call worth more than its cost tonight, "
        "plus 1 randomised exploration pick."
    )
    assert midwest["Loans covered"] == 3 and midwest["Today's contacts expected to add"] == 37
    visits = teams.loc["field_visit-west"]
    assert (visits["Capacity a day"], visits["Within capacity"], visits["Overflow"]) == (1, 1, 1)
    assert visits["Why (capacity)"] == "Full: 1 more borrowers wait for a later day."
    sms = teams.loc["sms-midwest"]
    assert sms["Capacity a day"] == "no limit" and pd.isna(sms["Unused capacity"])
    assert sms["Sent by"] == "platform: batches/sms.csv" and midwest["Sent by"] == "people: Calls sheet"


def test_the_summary_keeps_what_contacts_add_apart_from_what_is_owed(workbook, contacts):
    sheet = workbook["Summary"]
    labels = {sheet.cell(r, 1).value: sheet.cell(r, 2).value for r in range(1, sheet.max_row + 1)}
    today = contacts[contacts["within_capacity"]]
    assert labels["Today's contacts expected to add"] == pytest.approx(today["incremental_value"].sum())
    assert labels["Overdue on today's contacts"] == pytest.approx(today["amount_overdue"].sum())
    assert labels["Expected recovery (all queued loans)"] == pytest.approx(30.0 * 13)  # 13 loans
    held = _table_at(sheet, "Held back")
    counts = dict(zip(held["Reason"].str.split(":").str[0], held["Loans held"], strict=True))
    assert counts["open_dispute"] == 2 and counts["bankruptcy"] == 2
    assert counts["contact unlikely to help"] == 2
    by_group = held.groupby("Held back")["Loans held"].sum()
    assert by_group["Disputed"] == 2 and by_group["In care"] == 1 and by_group["Waiting on a promise"] == 1


def test_contact_sheets_put_todays_rows_first_and_mark_exploration(workbook):
    calls = _sheet(workbook["Calls"])
    assert list(calls["Contact id"]) == ["C01", "C02", "C03"]  # by team, then the team's order
    assert list(calls["Exploration"].fillna("")) == ["", EXPLORATION_MARK, ""]
    assert calls["Loans"].iloc[0] == "L1-C01, L2-C01"
    assert calls["Lawful contact window (local time)"].iloc[0] == "2026-06-01 08:00 to 21:00 (UTC-05:00)"
    assert calls["Last contact"].iloc[0] == "2026-05-28 14:05 UTC"
    sheet = workbook["Calls"]
    fills = [sheet.cell(r, c).fill.fgColor.rgb for r in (2, 3) for c in (1, 13)]
    assert fills[2:] == ["FF" + EXPLORATION_FILL[1:]] * 2 and "FF" + EXPLORATION_FILL[1:] not in fills[:2]
    assert sheet.freeze_panes == "A2"
    visits = _sheet(workbook["Field visits"])
    assert list(visits["Today or later"]) == ["Today", "Later day"]


def test_disputes_list_the_disputed_loans_with_their_other_holds_most_urgent_first(workbook):
    disputes = _sheet(workbook["Disputes"])
    # L21's answer is a day late: it comes first.
    assert list(disputes["Loan"]) == ["L21", "L20"]
    assert list(disputes["Other holds"].fillna("")) == ["", "bankruptcy"]
    assert list(disputes["Days left to respond"]) == [-1, 18]
    assert disputes["Respond by"].iloc[0].date() == dt.date(2026, 5, 31)
    assert workbook["Care"].cell(2, 2).value == "L22" and workbook["Promises"].cell(2, 2).value == "L40"


def test_offers_and_referrals_have_their_own_sheets(workbook):
    offers = _sheet(workbook["Offers"])
    assert list(offers["Loan"]) == ["L1", "L22"]
    assert list(offers["Offer"]) == ["settlement", "payment_plan"]
    assert offers.loc[0, "Discount"] == pytest.approx(0.2) and offers.loc[1, "Months"] == 2
    out = _sheet(workbook["Referrals and tracing"])
    assert list(zip(out["Loan"], out["Send to"], strict=True)) == [("L50", "referral"), ("L51", "trace")]
    assert out.loc[0, "Agency net recovery"] == 600.0


def test_every_header_in_the_workbook_is_explained_in_the_read_me(workbook):
    read_me = _table_at(workbook["Read me"], "Sheet")
    for name in workbook.sheetnames:
        headers = set(_headers(workbook[name]))
        assert headers, name
        assert headers <= set(COLUMN_DOCS), (name, headers - set(COLUMN_DOCS))
        explained = set(read_me.loc[read_me["Sheet"] == name, "Column"])
        assert headers <= explained, (name, headers - explained)
    assert read_me["What it means"].notna().all()
    assert "How to read the Summary" in [c.value for c in workbook["Read me"]["A"]]


def test_batch_files_carry_each_automated_channels_contacts_for_today(tmp_path, contacts):
    writers = batch_writers(contacts)
    assert set(writers) == {f"batches/{channel}.csv" for channel in AUTOMATED_CHANNELS}
    for name, write in writers.items():
        write(tmp_path / name)
    batches = {c: pd.read_csv(tmp_path / "batches" / f"{c}.csv", dtype=str) for c in AUTOMATED_CHANNELS}
    assert all(list(frame.columns) == list(BATCH_FIELDS) for frame in batches.values())
    assert set(BATCH_FIELDS) == set(BATCH_FIELD_DOCS)
    assert list(batches["sms"]["contact_id"]) == ["C06"]  # C10 is overflow: a later batch
    assert list(batches["email"]["loan_ids"]) == ["L1-C07, L2-C07, L3-C07"]
    assert list(batches["letter"]["contact_point"]) == ["8 Main St"]
    assert batches["whatsapp"]["send_from_local"].iloc[0] == f"{AS_OF}T08:00:00-05:00"
    assert batches["letter"]["exploration"].iloc[0] == "True"


def test_batch_files_exist_for_a_channel_with_nothing_to_send(tmp_path, contacts):
    for name, write in batch_writers(contacts[contacts["recommended_channel"] == "call"]).items():
        write(tmp_path / name)
    assert all(len(pd.read_csv(tmp_path / "batches" / f"{c}.csv")) == 0 for c in AUTOMATED_CHANNELS)


def test_team_summary_counts_contacts_against_capacity(queue):
    summary = team_summary(queue, **CAPACITY).set_index("team")
    assert summary.loc["call-midwest", "queued"] == 3  # rows (loans) stay rows
    assert summary.loc["call-midwest", "unused_capacity"] == 148  # capacity counts contacts
    assert summary.loc["email-west", "capacity"] is None
    assert summary.loc["email-west", "capacity_note"] == "No daily limit: all 1 borrowers go out today."
    assert summary.loc["sms-west", "capacity_note"] == "Full: 1 more borrowers wait for a later day."
    loans = team_summary(queue.drop(columns="contact_id"), **CAPACITY).set_index("team")
    assert loans.loc["call-midwest", "unused_capacity"] == 147
    assert "only 2 loans had a lawful call" in loans.loc["call-midwest", "capacity_note"]


def test_a_night_with_nothing_queued_still_gives_the_whole_workbook(tmp_path, contacts, queue, companions):
    path = tmp_path / "empty.xlsx"
    write_team_workbook(
        path,
        contacts.iloc[0:0],
        team_summary(queue.iloc[0:0], **CAPACITY),
        promise_follow_up=companions["promise_follow_up"].iloc[0:0],
        forbearance=companions["forbearance"].iloc[0:0],
        suppressed=companions["suppressed"].iloc[0:0],
        left_alone=companions["left_alone"].iloc[0:0],
        run_facts={"Work day (as of)": AS_OF},
        dispositions={"queued": 0},
    )
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Calls", "Field visits", "Promises", "Care", "Disputes", "Read me"]
    assert book["Calls"].max_row == 1 and _table_at(book["Summary"], "Team").empty


def test_capacity_freed_by_merging_a_borrowers_loans_is_said_so(queue):
    visits = queue[queue["team"] == "call-midwest"]  # 3 loans within capacity, 2 borrowers
    summary = team_summary(visits, default_capacity=3, capacity_by_channel={}, capacity_by_team={})
    assert summary["capacity_note"].iloc[0] == (
        "1 of 3 unused: the 3 loans allocated tonight belong to 2 borrowers, one contact each."
    )


def test_a_contact_sheet_holds_today_and_one_more_days_work_per_team_not_the_whole_queue():
    # Scale (issue 26): the workbook is what a person opens; its size follows the teams'
    # capacity, not the book. The team files keep every queued row.
    from adapters.excel import contact_sheets

    rows = 9
    contacts = pd.DataFrame(
        {
            "contact_id": [f"C{i}" for i in range(rows)],
            "recommended_channel": "call",
            "team": ["call-east"] * 6 + ["call-west"] * 3,
            "team_rank": [1, 2, 3, 4, 5, 6, 1, 2, 3],
            "within_capacity": [True, True, False, False, False, False, True, False, False],
            "exploration": False,
            "contact_from_local": "2026-06-01T08:00:00-05:00",
            "contact_until_local": "2026-06-01T21:00:00-05:00",
        }
    )
    calls = contact_sheets(contacts, {"call-east": 2.0, "call-west": None})["Calls"]
    assert list(calls["contact_id"]) == ["C0", "C1", "C6", "C2", "C3", "C7", "C8"]
    assert list(calls["within_capacity"]) == ["Today"] * 3 + ["Later day"] * 4
    everything = contact_sheets(contacts)["Calls"]
    assert len(everything) == rows
