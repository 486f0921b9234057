"""Fixtures for the database edges: a small valid delivery, SQLite files and PostgreSQL schemas.

PostgreSQL tests use the server at $RECOVER_TEST_POSTGRES_URL (default: local trust auth, database
``test``); when none answers within 2 seconds they are skipped with the reason. Each test gets its
own schema, dropped afterwards, so runs never see each other's tables.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.db.helpers import contract_delivery


@pytest.fixture
def delivery() -> dict[str, pd.DataFrame]:
    return contract_delivery()
