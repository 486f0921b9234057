"""Reading the six input tables from SQLite, DuckDB and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pydantic
import pytest

from adapters.sources import is_database_url, plan_sources, read_database_tables
from data_contracts.enums import OPTIONAL_TABLES, TABLES
from data_contracts.validation import ContractError, validate_tables
from recover.config import SourceConfig
from tests.db.helpers import with_search_path, write_tables


def assert_same_tables(read: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    """What was read validates cleanly and equals the delivery, in contract types."""
    assert set(read) == set(TABLES)
    result = validate_tables(read)
    assert result.is_valid, result.failures.to_string()
    for table in TABLES:
        pd.testing.assert_frame_equal(result.tables[table], expected[table], obj=table)


def problems_by_table(error: pytest.ExceptionInfo[ContractError]) -> dict[str, str]:
    return {p.table: p.rule for p in error.value.problems}


# --- URLs and mappings (no database) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u@host/db", True),
        ("postgres://u@host/db", True),
        ("postgresql+psycopg://u@host:5432/db", True),
        ("sqlite:///data/book.db", True),
        ("duckdb:///.recover/store.duckdb", True),
        ("data/book", False),
        ("/abs/path/to/book", False),
        ("C:\\books\\june", False),
        ("mysql://u@host/db", False),
        ("", False),
    ],
)
def test_database_urls_are_told_apart_from_folders(text, expected):
    assert is_database_url(text) is expected


def test_a_mapping_names_tables_schema_tables_and_queries():
    plan = {
        source.table: source
        for source in plan_sources(
            {
                "loans": "crm.loan_book",
                "payments": "  with p as (select * from pay) select * from p",
                "borrowers": "Select 1",
            }
        )
    }
    # The optional tables are planned too: a source without them reads without them.
    assert [s.table for s in plan_sources()] == [*TABLES, *OPTIONAL_TABLES]
    assert (plan["loans"].schema, plan["loans"].name) == ("crm", "loan_book")
    assert plan["payments"].query is not None and plan["borrowers"].query is not None
    assert (plan["installments"].schema, plan["installments"].name) == (None, "installments")
    # A table whose name merely starts with "select" is still a table.
    assert plan_sources({"loans": "selected_loans"})[1].name == "selected_loans"


def test_source_config_rejects_unknown_tables_and_empty_sources():
    assert SourceConfig().tables == {}
    assert SourceConfig(tables={"loans": "crm.loans"}).tables == {"loans": "crm.loans"}
    with pytest.raises(pydantic.ValidationError, match="unknown input tables"):
        SourceConfig(tables={"loan": "crm.loans"})
    with pytest.raises(pydantic.ValidationError, match="empty source"):
        SourceConfig(tables={"loans": " "})


# --- SQLite ---------------------------------------------------------------------------------------


def test_reads_all_six_tables_from_sqlite(tmp_path, delivery):
    url = f"sqlite:///{tmp_path / 'book.db'}"
    write_tables(url, delivery)
    raw = read_database_tables(url)
    # Returned as stored: SQLite keeps booleans as integers and timestamps as text.
    assert raw["borrowers"]["has_phone"].tolist() == [1, 1]
    assert isinstance(raw["payments"]["paid_at"].iloc[0], str)
    assert_same_tables(raw, delivery)


def test_tables_can_come_from_other_names_and_from_queries(tmp_path, delivery):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    legacy_payments = pd.concat(
        [delivery["payments"], delivery["payments"].assign(payment_id=["X1", "X2"], method="reversal")]
    )
    write_tables(
        url,
        {
            **{t: f for t, f in delivery.items() if t not in ("borrowers", "payments")},
            "crm_people": delivery["borrowers"],
        },
    )
    write_tables(url, {"payments_all": legacy_payments})
    raw = read_database_tables(
        url,
        {
            "borrowers": "crm_people",
            "payments": "SELECT payment_id, loan_id, paid_at, amount, method FROM payments_all "
            "WHERE method <> 'reversal' AND paid_at > '2000-01-01 00:00:00'",
        },
    )
    assert_same_tables(raw, delivery)


def test_every_missing_table_and_failing_query_is_named_at_once(tmp_path, delivery):
    url = f"sqlite:///{tmp_path / 'partial.db'}"
    write_tables(url, {t: f for t, f in delivery.items() if t not in ("interactions", "account_flags")})
    with pytest.raises(ContractError) as error:
        read_database_tables(url, {"payments": "SELECT no_such_column FROM payments", "loans": "main.loans"})
    assert problems_by_table(error) == {
        "payments": "unreadable source",
        "interactions": "table missing",
        "account_flags": "table missing",
    }
    assert "no_such_column" in str(error.value)


def test_a_missing_database_file_is_reported_and_not_created(tmp_path):
    path = tmp_path / "nowhere.db"
    with pytest.raises(ContractError, match="database file not found"):
        read_database_tables(f"sqlite:///{path}")
    assert not path.exists()


def test_an_unreachable_server_is_a_contract_error():
    # Port 1 on the loopback refuses at once: no server needed to see the failure.
    with pytest.raises(ContractError, match="database unreachable") as error:
        read_database_tables("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    assert "secret" not in str(error.value)


# --- DuckDB ---------------------------------------------------------------------------------------


def test_reads_all_six_tables_from_duckdb(tmp_path, delivery):
    url = f"duckdb:///{tmp_path / 'book.duckdb'}"
    write_tables(url, delivery)
    assert_same_tables(read_database_tables(url), delivery)


# --- PostgreSQL -----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_reads_all_six_tables_from_postgres(postgres_url, postgres_schema, delivery):
    write_tables(postgres_url, delivery, schema=postgres_schema)
    # Plain postgresql:// must work too (mapped to psycopg 3); the search path finds the tables.
    url = with_search_path(postgres_url.replace("postgresql+psycopg://", "postgresql://"), postgres_schema)
    raw = read_database_tables(url)
    assert raw["borrowers"]["has_phone"].dtype == bool
    assert str(raw["payments"]["paid_at"].dt.tz) == "UTC"
    assert_same_tables(raw, delivery)


@pytest.mark.postgres
def test_postgres_overrides_with_schema_names_and_queries(postgres_url, postgres_schema, delivery):
    write_tables(postgres_url, delivery, schema=postgres_schema, prefix="src_")
    mapping = {table: f"{postgres_schema}.src_{table}" for table in TABLES}
    mapping["interactions"] = (
        f"WITH recent AS (SELECT * FROM {postgres_schema}.src_interactions) "
        # Casts, a colon and a percent sign inside literals: the query must reach the server as is.
        "SELECT interaction_id, loan_id, occurred_at::timestamptz AS occurred_at, channel, direction, "
        "outcome, promised_amount, promised_date, agent_id FROM recent "
        "WHERE channel LIKE '%' AND 'a:b' <> ':not_a_parameter'"
    )
    assert_same_tables(read_database_tables(postgres_url, mapping), delivery)


@pytest.mark.postgres
def test_postgres_missing_tables_and_bad_queries_are_all_reported(postgres_url, postgres_schema, delivery):
    write_tables(postgres_url, {"loans": delivery["loans"]}, schema=postgres_schema)
    mapping = {table: f"{postgres_schema}.{table}" for table in TABLES}
    mapping["payments"] = "SELECT * FROM no_such_table"
    with pytest.raises(ContractError) as error:
        read_database_tables(postgres_url, mapping)
    # The failed query aborts the transaction; the tables after it are still checked.
    assert problems_by_table(error) == {
        "borrowers": "table missing",
        "installments": "table missing",
        "payments": "unreadable source",
        "interactions": "table missing",
        "account_flags": "table missing",
    }
    assert "no_such_table" in str(error.value)
