"""Test-wide setup: every test writes under a temporary folder, nothing reaches the network."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings

# Set before anything imports prefect or mlflow: a private Prefect home and MLflow store per
# session, no telemetry, quiet logs.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="recover-tests-"))
os.environ["PREFECT_HOME"] = str(_SESSION_DIR / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(_SESSION_DIR / "hypothesis")
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["RECOVER_STATE_DIR"] = str(_SESSION_DIR / "state")
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("MPLBACKEND", "Agg")
# Idle OpenMP threads sleep instead of spinning: LightGBM next to a busy process otherwise runs
# 10-20x slower on two cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Hypothesis keeps an example database in the working directory by default: tests never write
# into the repository, so it lives nowhere.
settings.register_profile("recover", database=None)
settings.load_profile("recover")

SMALL_BOOK_AS_OF = dt.date(2026, 6, 1)
# The default config's cut-off clock (the us_reg_f pack's): the small book is read as a run would.
LENDER_TIMEZONE = "America/New_York"
POSTGRES_URL = os.environ.get(
    "RECOVER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the whole session (it takes seconds to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def small_book(session_dir):
    """A simulated book of 1,500 loans written as Parquet, shared read-only by tests. Its old
    lender made no plan or settlement offers: the model-behaviour tests pin properties of the
    propensity model on this exact history (the arrangements history has tests of its own)."""
    from simulation import SimulationConfig, simulate_book, write_book

    config = SimulationConfig(n_loans=1500, seed=11, as_of=SMALL_BOOK_AS_OF, arrangements_in_history=False)
    book = simulate_book(config)
    data_dir = session_dir / "small_book"
    write_book(book, data_dir)
    return data_dir, book


@pytest.fixture(scope="session")
def small_tables(small_book):
    """The small book's tables in contract types."""
    from adapters.io import read_tables
    from data_contracts.cutoff import Cutoff
    from data_contracts.validation import validate_tables

    result = validate_tables(read_tables(small_book[0]), as_of=Cutoff(SMALL_BOOK_AS_OF, LENDER_TIMEZONE))
    assert result.is_valid, result.failures_by_rule()
    return result.tables


@pytest.fixture(scope="session")
def trained_outcome(small_tables):
    """A propensity model trained out of time on the small book (no MLflow, no Prefect)."""
    from features.snapshots import SnapshotPlan, build_training_set, out_of_time_split
    from models.training import train_propensity
    from recover.config import load_config

    config = load_config()
    plan = SnapshotPlan(
        every_days=14,
        min_history_days=60,
        window_days=30,
        validation_days=56,
        test_days=56,
        cutoff_timezone=LENDER_TIMEZONE,
    )
    snapshots = build_training_set(small_tables, SMALL_BOOK_AS_OF, plan)
    split = out_of_time_split(snapshots, plan)
    params = {**config.training.lightgbm.model_dump(), "n_estimators": 150, "min_child_samples": 40}
    return train_propensity(split, params, random_state=3), split


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL, or a skip naming the reason when no server answers."""
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2}, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as error:
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}: {str(error).strip().splitlines()[0]}")
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A schema of this test's own, dropped with everything in it afterwards."""
    schema = f"recover_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def response_rows(small_tables):
    """Contact-response rows of the small book (one response day every 8 days, and the attempts
    of every other day between them)."""
    from features.responses import ResponsePlan, build_response_set

    plan = ResponsePlan(
        every_days=8,
        min_history_days=60,
        window_days=7,
        validation_days=56,
        test_days=56,
        attempts_every_days=2,
        cutoff_timezone=LENDER_TIMEZONE,
    )
    return build_response_set(small_tables, SMALL_BOOK_AS_OF, plan), plan


@pytest.fixture(scope="session")
def channel_outcome(response_rows):
    """The best-channel model trained out of time on the small book, with IPW."""
    from features.snapshots import out_of_time_split
    from models.training import train_channel

    rows, plan = response_rows
    split = out_of_time_split(rows, plan)
    params = {"n_estimators": 120, "min_child_samples": 40, "early_stopping_rounds": 20}
    return train_channel(split, params, random_state=3, ipw=True), split
