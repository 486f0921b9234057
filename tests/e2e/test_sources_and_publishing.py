"""Deliveries into the engine's store, training and scoring from it, publishing to databases."""

from __future__ import annotations

import json
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from recover.cli import app
from tests.conftest import SMALL_BOOK_AS_OF

pytestmark = pytest.mark.e2e

runner = CliRunner()
AS_OF = str(SMALL_BOOK_AS_OF)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def store_state(small_book, tmp_path_factory, prefect_harness):
    """A state folder whose store holds the small book and whose champion was trained on it."""
    state = tmp_path_factory.mktemp("store-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECOVER_STATE_DIR", str(state))
        first = invoke("ingest", "--data", small_book[0], "--as-of", AS_OF)
        assert first.exit_code == 0, first.output
        trained = invoke("train", "--data", "store", "--as-of", AS_OF)
        assert trained.exit_code == 0, trained.output
    return state


def test_ingesting_the_same_delivery_twice_changes_nothing(store_state, small_book, monkeypatch):
    from adapters.store import EngineStore, default_store_path

    monkeypatch.setenv("RECOVER_STATE_DIR", str(store_state))
    before = EngineStore(default_store_path(store_state)).row_counts()
    again = invoke("ingest", "--data", small_book[0], "--as-of", AS_OF)
    assert again.exit_code == 0, again.output
    assert EngineStore(default_store_path(store_state)).row_counts() == before


def test_a_redelivered_row_with_changed_content_is_quarantined_not_overwritten(
    store_state, small_book, tmp_path, monkeypatch
):
    from adapters.store import EngineStore, default_store_path

    monkeypatch.setenv("RECOVER_STATE_DIR", str(store_state))
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    for name in ("borrowers", "loans", "installments", "interactions", "account_flags"):
        pd.read_parquet(small_book[0] / f"{name}.parquet").head(0).to_parquet(delivery / f"{name}.parquet")
    payments = pd.read_parquet(small_book[0] / "payments.parquet").head(3)
    payments.loc[0, "amount"] += 1.0
    # the delivery holds no loans: ingest reads a delta, so point the payments at stored loans
    loans = pd.read_parquet(small_book[0] / "loans.parquet")
    pd.concat([loans[loans["loan_id"].isin(payments["loan_id"])]]).to_parquet(delivery / "loans.parquet")
    borrowers = pd.read_parquet(small_book[0] / "borrowers.parquet")
    borrowers[borrowers["borrower_id"].isin(loans["borrower_id"])].to_parquet(delivery / "borrowers.parquet")
    payments.to_parquet(delivery / "payments.parquet")

    result = invoke("ingest", "--data", delivery, "--out", tmp_path / "ingest")
    assert result.exit_code == 1, result.output
    quarantine = pd.read_parquet(tmp_path / "ingest" / "quarantine" / "quarantine.parquet")
    assert list(quarantine["key"]) == [payments.loc[0, "payment_id"]]
    assert quarantine["rules"].iloc[0].startswith("conflict:")
    stored = EngineStore(default_store_path(store_state)).read_tables()["payments"]
    kept = stored.loc[stored["payment_id"] == payments.loc[0, "payment_id"], "amount"].iloc[0]
    assert kept == pytest.approx(payments.loc[0, "amount"] - 1.0)


def test_score_from_the_store_and_publish_to_sqlite_replaces_the_as_of(store_state, tmp_path, monkeypatch):
    monkeypatch.setenv("RECOVER_STATE_DIR", str(store_state))
    url = f"sqlite:///{tmp_path / 'dialer.db'}"
    for attempt in ("first", "rerun"):
        result = invoke(
            "score", "--data", "store", "--as-of", AS_OF, "--out", tmp_path / attempt, "--publish", url
        )
        assert result.exit_code == 0, result.output
    queue = pd.read_parquet(tmp_path / "rerun" / "queue.parquet")
    manifest = json.loads((tmp_path / "rerun" / "manifest.json").read_text())
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        published = pd.read_sql("SELECT * FROM recover_queue", connection)
    assert len(published) == len(queue)  # the rerun replaced the first run's rows
    assert set(published["run_id"]) == {manifest["run_id"]}
    assert manifest["database"]["replaced_queue_rows"] == len(queue)


@pytest.mark.postgres
def test_score_publishes_to_postgresql(store_state, tmp_path, monkeypatch, postgres_url, postgres_schema):
    monkeypatch.setenv("RECOVER_STATE_DIR", str(store_state))
    config = tmp_path / "publish.yaml"
    config.write_text(f"publish:\n  db_schema: {postgres_schema}\n")
    out = tmp_path / "run"
    result = invoke(
        "score",
        "--data",
        "store",
        "--as-of",
        AS_OF,
        "--out",
        out,
        "--publish",
        postgres_url,
        "--config",
        config,
    )
    assert result.exit_code == 0, result.output
    queue = pd.read_parquet(out / "queue.parquet")
    engine = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    with engine.connect() as connection:
        published = pd.read_sql(
            sa.text(f'SELECT loan_id, rank FROM "{postgres_schema}".recover_queue ORDER BY rank'), connection
        )
    engine.dispose()
    assert list(published["loan_id"]) == list(queue["loan_id"])


def test_read_a_book_from_a_sqlite_database(small_book, tmp_path):
    url = f"sqlite:///{tmp_path / f'book-{uuid.uuid4().hex[:6]}.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for name, frame in small_book[1].tables.items():
            frame.to_sql(name, connection, index=False)
    result = invoke("validate", "--data", url, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
