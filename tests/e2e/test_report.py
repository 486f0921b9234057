"""`recover report` end to end on the small simulated book (no archived queues): the files, the
reconciliation with the payments table, a self-contained page and a workbook that opens."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from recover.cli import app

pytestmark = pytest.mark.e2e

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def reported(small_book, prefect_harness, tmp_path, monkeypatch):
    monkeypatch.setenv("RECOVER_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "report"
    result = invoke(
        "report", "--data", small_book[0], "--from", "2026-03-01", "--to", "2026-05-31", "--out", out
    )
    assert result.exit_code == 0, result.output
    return out, result.output


def test_report_writes_every_file_and_reconciles_with_the_payments(reported, small_book):
    from adapters.io import read_tables

    out, output = reported
    for name in (
        "report.html",
        "report.xlsx",
        "report.json",
        "compliance_audit.parquet",
        "compliance_audit.csv",
    ):
        assert (out / name).is_file(), name
    document = json.loads((out / "report.json").read_text())
    totals = document["totals"]
    payments = read_tables(small_book[0])["payments"]
    paid_at = pd.to_datetime(payments["paid_at"], utc=True)
    start, end = pd.Timestamp(totals["window_start_utc"]), pd.Timestamp(totals["window_end_utc"])
    in_window = payments.loc[(paid_at >= start) & (paid_at < end), "amount"].astype(float)
    assert totals["amount_recovered"] == pytest.approx(in_window.sum(), abs=1e-6)
    assert totals["payments"] == len(in_window) > 0
    assert [row["month"] for row in document["monthly"]] == ["2026-03", "2026-04", "2026-05"]
    assert sum(row["amount_recovered"] for row in document["monthly"]) == pytest.approx(in_window.sum())
    teams = [row for row in document["by_group"] if row["dimension"] == "team"]
    assert sum(row["amount_recovered"] for row in teams) == pytest.approx(in_window.sum())
    assert {"adherence"} <= set(document["audit"])
    assert "Collections report 2026-03-01 to 2026-05-31" in output
    assert "Compliance audit" in output


def test_report_page_is_self_contained_and_the_workbook_opens(reported):
    import openpyxl

    out, _ = reported
    page = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert "data:image/png;base64," in page
    workbook = openpyxl.load_workbook(out / "report.xlsx", read_only=True)
    assert {"Monthly", "By team", "By channel", "By agent", "Roll rates", "Breaches"} <= set(
        workbook.sheetnames
    )
    breaches = pd.read_parquet(out / "compliance_audit.parquet")
    assert list(breaches.columns)[:8] == [
        "interaction_id",
        "loan_id",
        "occurred_at",
        "channel",
        "agent_id",
        "rule_id",
        "reason",
        "source",
    ]
    # Without archived queues nobody can tell an engine queue's contact from another.
    assert set(breaches["source"]) <= {"unknown"}


def test_report_refuses_a_window_that_ends_before_it_starts(small_book, prefect_harness, tmp_path):
    result = invoke(
        "report", "--data", small_book[0], "--from", "2026-05-01", "--to", "2026-04-01", "--out", tmp_path
    )
    assert result.exit_code == 2
    assert "before --from" in result.output
    missing = invoke(
        "report",
        "--data",
        tmp_path / "nowhere",
        "--from",
        "2026-05-01",
        "--to",
        "2026-05-31",
        "--out",
        tmp_path,
    )
    assert missing.exit_code == 2
    assert "Traceback" not in missing.output
