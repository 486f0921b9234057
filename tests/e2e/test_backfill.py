"""Outcomes end to end: a few nights of the small book worked in the simulator (`recover
simulate-month`), every night archived, then `recover backfill` through the CLI and MLflow."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from typer.testing import CliRunner

from recover.cli import app

pytestmark = pytest.mark.e2e

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_worked_nights_are_archived_and_backfill_reports_their_realized_recovery(
    champions, small_book, prefect_harness, tmp_path
):
    import mlflow

    from adapters import tracking
    from adapters.archive import QueueArchive

    config, registered = champions
    _, book = small_book
    settings = tmp_path / "outcomes.yaml"
    settings.write_text("outcomes:\n  window_days: 4\n")
    month_dir = tmp_path / "month"
    # Queues on June 1 and 2, no contact on June 3 and 4; backfill on June 5 with a 4-day
    # window: June 1's window is closed, June 2's still open (partial).
    simulated = invoke(
        "simulate-month",
        "--out",
        month_dir,
        "--days",
        4,
        "--queue-days",
        2,
        "--loans",
        book.config.n_loans,
        "--seed",
        book.config.seed,
        "--config",
        settings,
    )
    assert simulated.exit_code == 0, simulated.output
    nights = pd.read_csv(month_dir / "nights.csv")
    assert nights["scored"].tolist() == [True, True, False, False]
    assert (nights["dropped"] == 0).all()
    contacts = pd.read_parquet(month_dir / "contacts.parquet")
    assert len(contacts) == nights["contacts"].sum() > 0

    history = QueueArchive.in_state(config.resolved_state_dir()).read()
    per_night = history.groupby("as_of").agg(loans=("loan_id", "size"), queued=("queued", "sum"))
    assert per_night["loans"].tolist() == nights["overdue"].dropna().astype(int).tolist()
    assert per_night["queued"].tolist() == nights["queued"].head(2).tolist()
    assert history["loan_id"].is_unique is False  # the same loans on several nights
    # The shadow score is the challenger's (here the champion's own version), the queue the champion's.
    assert (history["challenger_version"] == registered.label).all()
    assert (history["p_pay_challenger"] - history["p_pay"]).abs().max() < 1e-12
    last_queue = pd.read_parquet(month_dir / "queue" / "queue.parquet")
    last = history[history["run_id"] == last_queue["run_id"].iloc[0]].dropna(subset=["rank"])
    assert last.set_index("loan_id")["rank"].astype(int).to_dict() == dict(
        zip(last_queue["loan_id"], last_queue["rank"], strict=True)
    )

    end = dt.date(2026, 6, 5)
    out = tmp_path / "backfill"
    result = invoke(
        "backfill", "--as-of", end, "--data", month_dir / "data", "--out", out, "--config", settings
    )
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "Realized recovery by rank decile" in flat and "Realized uplift" in flat
    assert "1 queue closed (2026-06-01 to 2026-06-01), 1 partial" in flat
    assert "Champion vs challenger" in flat

    queues = pd.read_csv(out / "queues.csv")
    assert queues["loans"].sum() == len(history)  # rows in = rows reported
    assert queues["status"].tolist() == ["closed", "partial"]
    closed = history[history["as_of"] == pd.Timestamp("2026-06-01")]
    deciles = pd.read_csv(out / "deciles.csv")
    assert deciles["decile"].tolist() == list(range(1, 11))
    assert deciles["loans"].sum() == closed["queued"].sum()
    assert deciles["collected"].sum() == pytest.approx(queues["collected_by_queued"].iloc[0])
    assert set(pd.read_csv(out / "uplift.csv")["comparison"]) == {
        "engine (intent to treat)",
        "model picks",
        "random contact",
    }
    assert len(pd.read_csv(out / "challenger.csv")) == 2
    assert (out / "backfill.json").exists() and (out / "manifest.json").exists()

    experiment = tracking.configure(config)
    runs = mlflow.search_runs(
        [experiment], filter_string="tags.`recover.kind` = 'backfill'", output_format="list"
    )
    assert len(runs) == 1
    logged = runs[0]
    assert logged.data.metrics["queues_closed"] == 1 and logged.data.metrics["queues_partial"] == 1
    assert logged.data.metrics["queued_rows_closed"] == deciles["loans"].sum()
    assert "top_decile_share_of_collected" in logged.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(logged.info.run_id, "backfill")}
    assert {"backfill/deciles.csv", "backfill/backfill.json"} <= artifacts
