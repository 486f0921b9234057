"""Fixtures for the database edges: a small valid delivery, SQLite files and PostgreSQL schemas.

PostgreSQL tests use the server at $RECOVER_TEST_POSTGRES_URL (default: local trust auth, database
``test``); when none answers within 2 seconds they are skipped with the reason. Each test gets its
own schema, dropped afterwards, so runs never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.db.helpers import contract_delivery

POSTGRES_URL = os.environ.get(
    "RECOVER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def delivery() -> dict[str, pd.DataFrame]:
    return contract_delivery()


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
