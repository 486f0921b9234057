"""The demo night as a manager opens it (issue 27): `recover demo` on its default 20,000-loan
book, read back with pandas and openpyxl."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from adapters.batches import AUTOMATED_CHANNELS
from recover.cli import app
from tests.reason_checks import channel_problems, priority_problems, propensity_problems

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HUMAN_SHEETS = {"Calls", "Field visits", "Promises", "Care", "Disputes"}


@pytest.fixture(scope="module")
def demo_night(tmp_path_factory, prefect_harness):
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECOVER_STATE_DIR", str(folder / "state"))
        result = CliRunner().invoke(app, ["demo", "--out", str(folder / "out")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return folder / "out" / "queue"


def test_no_reason_on_the_demo_night_contradicts_what_it_explains(demo_night):
    queue = pd.read_parquet(demo_night / "queue.parquet")
    assert len(queue) > 1000
    problems = []
    for row in queue.to_dict("records"):
        problems += propensity_problems([row["reason_1"], row["reason_2"], row["reason_3"]])
        problems += channel_problems(
            [row["channel_reason_1"], row["channel_reason_2"], row["channel_reason_3"]],
            row["recommended_channel"],
            row["runner_up_channel"],
            exploration=row["exploration"],
        )
        problems += priority_problems(row["priority_reason"], row)
    assert problems == []


def test_the_demo_night_gives_each_borrower_one_contact(demo_night):
    queue = pd.read_parquet(demo_night / "queue.parquet")
    per_borrower = queue.groupby("borrower_id").agg(
        contacts=("contact_id", "nunique"), channels=("recommended_channel", "nunique")
    )
    assert (per_borrower["contacts"] == 1).all() and (per_borrower["channels"] == 1).all()
    team_rows = pd.concat([pd.read_parquet(path) for path in (demo_night / "teams").glob("*.parquet")])
    assert team_rows["contact_id"].is_unique
    assert set(team_rows["contact_id"]) == set(queue["contact_id"])


def test_the_demo_workbook_shows_every_teams_capacity_and_explains_its_columns(demo_night):
    manifest = json.loads((demo_night / "manifest.json").read_text())
    workbook = openpyxl.load_workbook(demo_night / "team_queues.xlsx", read_only=True)
    names = workbook.sheetnames
    assert names[0] == "Summary" and names[-1] == "Read me" and set(names) >= HUMAN_SHEETS
    assert not [name for name in names for channel in AUTOMATED_CHANNELS if channel in name.lower()]
    summary = list(workbook["Summary"].values)
    header_at = next(i for i, row in enumerate(summary) if row[0] == "Team")
    header = summary[header_at]
    shown = {row[0]: dict(zip(header, row, strict=False)) for row in summary[header_at + 1 :] if row[0]}
    for team in manifest["teams"]:
        capacity = team["capacity"] if team["capacity"] is not None else "no limit"
        assert shown[team["team"]]["Capacity a day"] == capacity, team["team"]
        assert shown[team["team"]]["Why (capacity)"], team["team"]
    readme = " ".join(str(cell) for row in workbook["Read me"].values for cell in row if cell)
    for sheet in ("Calls", "Field visits"):
        for column in next(workbook[sheet].values):
            assert column in readme, (sheet, column)
    for channel in AUTOMATED_CHANNELS:
        assert (demo_night / "batches" / f"{channel}.csv").exists()
