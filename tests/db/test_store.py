"""The embedded store: idempotent, conflict-reporting, all-or-nothing ingest and typed reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adapters.sources import read_database_tables
from adapters.store import (
    DIFFERS_FROM_STORED,
    REPEATED_IN_DELIVERY,
    EngineStore,
    decide_rows,
    default_store_path,
    group_delivery,
)
from data_contracts.enums import TABLES
from data_contracts.inputs import PRIMARY_KEYS
from data_contracts.validation import ContractError, validate_tables


@pytest.fixture
def store(tmp_path) -> EngineStore:
    return EngineStore(default_store_path(tmp_path / "state"))


def sorted_by_key(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(PRIMARY_KEYS[table])).reset_index(drop=True)


def test_ingesting_the_same_delivery_twice_inserts_nothing_the_second_time(store, delivery):
    first = store.ingest(delivery)
    second = store.ingest(delivery)
    for table in TABLES:
        rows = len(delivery[table])
        assert first.tables[table].inserted == rows
        assert second.tables[table].received == rows
        assert second.tables[table].inserted == 0
        # Rows holding nulls (B2's income, I2's agent, an open flag) match themselves.
        assert second.tables[table].already_present == rows
        assert second.tables[table].conflicts == 0
    assert not second.has_conflicts and second.conflicts == {}
    assert store.row_counts() == {table: len(delivery[table]) for table in TABLES}


def test_overlapping_deliveries_add_only_the_new_rows(store, delivery):
    store.ingest({"borrowers": delivery["borrowers"].iloc[:1], "loans": delivery["loans"].iloc[:1]})
    report = store.ingest({"borrowers": delivery["borrowers"], "loans": delivery["loans"]})
    assert report.counts().set_index("table").loc[["borrowers", "loans"]].to_dict("list") == {
        "received": [2, 2],
        "inserted": [1, 1],
        "already_present": [1, 1],
        "conflicts": [0, 0],
    }


def test_a_changed_row_is_a_conflict_and_the_stored_row_stays(store, delivery):
    store.ingest(delivery)
    payments = delivery["payments"].copy()
    payments.loc[payments["payment_id"] == "P1", "amount"] = 100.01
    extra = payments.iloc[:1].assign(payment_id="P3")
    report = store.ingest({"payments": pd.concat([payments, extra], ignore_index=True)})

    counts = report.tables["payments"]
    assert (counts.received, counts.inserted, counts.already_present, counts.conflicts) == (3, 1, 1, 1)
    conflict = report.conflicts["payments"]
    assert conflict["payment_id"].tolist() == ["P1"]
    assert conflict["amount"].tolist() == [100.01]
    assert conflict["conflict"].tolist() == [DIFFERS_FROM_STORED]
    stored = store.read_tables()["payments"].set_index("payment_id")
    assert stored.loc["P1", "amount"] == 100.0
    assert sorted(stored.index) == ["P1", "P2", "P3"]


def test_a_null_becoming_a_value_is_a_change(store, delivery):
    store.ingest(delivery)
    borrowers = delivery["borrowers"].copy()
    borrowers.loc[borrowers["borrower_id"] == "B2", "monthly_income"] = 0.0
    report = store.ingest({"borrowers": borrowers})
    assert report.conflicts["borrowers"]["borrower_id"].tolist() == ["B2"]
    assert pd.isna(store.read_tables()["borrowers"].set_index("borrower_id").loc["B2", "monthly_income"])


def test_one_failing_table_rolls_back_the_whole_ingest(store, delivery):
    store.ingest({"borrowers": delivery["borrowers"].iloc[:1]})
    broken_flags = delivery["account_flags"].copy()
    broken_flags["flag"] = pd.Series([None, None], dtype="str")  # NOT NULL in the store
    with pytest.raises(Exception, match="(?i)not null|constraint"):
        store.ingest({"borrowers": delivery["borrowers"], "account_flags": broken_flags})
    assert store.row_counts()["borrowers"] == 1
    assert store.row_counts()["account_flags"] == 0


def test_read_tables_round_trips_contract_dtypes_and_revalidates(store, delivery):
    store.ingest(delivery)
    read = store.read_tables()
    for table in TABLES:
        assert dict(read[table].dtypes) == dict(delivery[table].dtypes), table
        pd.testing.assert_frame_equal(read[table], sorted_by_key(table, delivery[table]), obj=table)
    # Sub-microsecond parts of a timestamp survive (DuckDB's TIMESTAMPTZ would drop them).
    assert read["payments"].set_index("payment_id").loc["P2", "paid_at"].microsecond == 123456
    result = validate_tables(read)
    assert result.is_valid, result.failures.to_string()


def test_an_empty_store_reads_as_empty_typed_tables_once_created(store, delivery):
    with pytest.raises(ContractError, match="nothing ingested yet"):
        store.read_tables()
    store.ingest({"borrowers": delivery["borrowers"]})
    read = store.read_tables()
    assert len(read["payments"]) == 0
    assert dict(read["payments"].dtypes) == dict(delivery["payments"].dtypes)


def test_the_store_file_is_also_a_duckdb_source(store, delivery):
    store.ingest(delivery)
    result = validate_tables(read_database_tables(store.url))
    assert result.is_valid, result.failures.to_string()
    for table in TABLES:
        pd.testing.assert_frame_equal(
            sorted_by_key(table, result.tables[table]), sorted_by_key(table, delivery[table]), obj=table
        )


def test_only_contract_tables_and_columns_are_accepted(store, delivery):
    with pytest.raises(ValueError, match="unknown input table"):
        store.ingest({"payment": delivery["payments"]})
    with pytest.raises(ValueError, match="not the contract's"):
        store.ingest({"payments": delivery["payments"].assign(note="x")})
    assert not store.exists()


# --- the pure classification ----------------------------------------------------------------------


def test_copies_within_a_delivery_collapse_and_different_contents_of_one_key_clash():
    frame = pd.DataFrame(
        {
            "loan_id": ["L1", "L1", "L2", "L2", "L3"],
            "flag": ["dispute"] * 5,
            "ends_on": pd.to_datetime([None, None, "2025-01-01", "2025-02-01", None]),
        }
    )
    groups = group_delivery(frame, ("loan_id", "flag"))
    assert groups.representative.tolist() == [0, 0, 2, 3, 4]
    assert groups.clashing.tolist() == [False, False, True, True, False]

    # Nothing stored yet: L1 once inserted (its copy is then present), L2 held back, L3 inserted.
    nothing = np.zeros(len(frame), dtype=bool)
    outcomes = decide_rows(groups, key_stored=nothing, identical_to_stored=nothing)
    assert outcomes.inserted.tolist() == [True, False, False, False, True]
    assert outcomes.already_present.tolist() == [False, True, False, False, False]
    assert outcomes.conflict_reason.tolist() == ["", "", REPEATED_IN_DELIVERY, REPEATED_IN_DELIVERY, ""]

    # L1 stored with other content: the row and its copy are both conflicts.
    stored = np.array([True, False, False, False, False])
    outcomes = decide_rows(groups, key_stored=stored, identical_to_stored=nothing)
    assert outcomes.conflict_reason.tolist()[:2] == [DIFFERS_FROM_STORED, DIFFERS_FROM_STORED]
    assert not outcomes.inserted[:2].any() and not outcomes.already_present[:2].any()


def test_the_optional_arrangements_table_is_kept_and_read_back(store, delivery):
    arrangements = pd.DataFrame(
        {
            "loan_id": [delivery["loans"]["loan_id"].iloc[0]],
            "kind": ["settlement"],
            "offered_on": [pd.Timestamp("2025-01-10")],
            "accepted": [True],
            "instalment": [400.0],
            "n_instalments": pd.array([1], dtype="Int64"),
            "discount": [0.2],
            "broken_on": [pd.NaT],
        }
    )
    with_offers = {**delivery, "arrangements": arrangements}
    assert store.ingest(with_offers).tables["arrangements"].inserted == 1
    assert store.ingest(with_offers).tables["arrangements"].inserted == 0
    stored = store.read_tables()
    pd.testing.assert_frame_equal(stored["arrangements"], arrangements, check_dtype=False)
