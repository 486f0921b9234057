"""The optional arrangements table (issue 28): plans and settlements offered, in the input contract."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from adapters.io import read_tables
from data_contracts.validation import validate_tables
from tests.factories import raw_tables

COLUMNS = [
    "loan_id",
    "kind",
    "offered_on",
    "accepted",
    "instalment",
    "n_instalments",
    "discount",
    "broken_on",
]


def _arrangements(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


GOOD = (
    ("L1", "plan", "2025-01-10", True, 120.0, 6, None, "2025-02-12"),
    ("L1", "plan", "2025-02-20", False, 80.0, 12, None, None),
    ("L1", "settlement", "2025-02-25", True, 900.0, 1, 0.3, None),
    ("L1", "plan", "2025-02-26", True, 50.0, 3, 0.0, None),
)


def _with(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    raw = raw_tables()
    raw["arrangements"] = frame
    return raw


def test_a_valid_arrangements_table_is_kept_in_the_tables_the_engine_reads():
    result = validate_tables(_with(_arrangements(*GOOD)))
    assert result.is_valid, result.describe_failures()
    arrangements = result.tables["arrangements"]  # not personal data: not kept apart
    assert "arrangements" not in result.contact_details
    assert list(arrangements.columns) == COLUMNS
    assert arrangements["offered_on"].dtype == "datetime64[ns]"
    assert arrangements["accepted"].dtype == bool
    assert str(arrangements["n_instalments"].dtype) == "Int64"
    assert arrangements["broken_on"].isna().tolist() == [False, True, True, True]
    counts = result.counts().set_index("table").loc["arrangements"]
    assert (counts["rows_in"], counts["accepted"], counts["quarantined"]) == (4, 4, 0)


def test_a_book_without_arrangements_validates_as_before():
    result = validate_tables(raw_tables())
    assert result.is_valid
    assert "arrangements" not in result.tables
    assert "arrangements" not in result.counts()["table"].tolist()


BAD_ROWS = [
    (("L9", "plan", "2025-01-10", True, 120.0, 6, None, None), "loan_id", "foreign_key(loans.loan_id)"),
    (("L1", "deferment", "2025-01-10", True, 120.0, 6, None, None), "kind", "isin"),
    (
        ("L1", "plan", "2025-01-10", True, 120.0, 6, None, "2025-01-09"),
        "broken_on",
        "broken_on must be on or after offered_on",
    ),
    (
        ("L1", "plan", "2025-01-10", False, 120.0, 6, None, "2025-02-10"),
        "broken_on",
        "broken_on only on an accepted arrangement",
    ),
    (("L1", "settlement", "2025-01-10", True, 900.0, 1, 1.0, None), "discount", "less_than(1)"),
    (
        ("L1", "settlement", "2025-01-10", True, 900.0, 1, -0.1, None),
        "discount",
        "greater_than_or_equal_to(0)",
    ),
    (
        ("L1", "plan", "2025-01-10", True, 120.0, 6, 0.2, None),
        "discount",
        "discount must be null or 0 for a plan",
    ),
    (
        ("L1", "settlement", "2025-01-10", True, 900.0, 3, 0.2, None),
        "n_instalments",
        "n_instalments must be 1 (or null) for a settlement",
    ),
    (("L1", "plan", "2025-01-10", True, 0.0, 6, None, None), "instalment", "greater_than(0)"),
    (
        ("L1", "plan", "2025-01-10", True, 120.0, 0, None, None),
        "n_instalments",
        "greater_than_or_equal_to(1)",
    ),
    (("L1", "plan", "2025-01-10", None, 120.0, 6, None, None), "accepted", "not_nullable"),
    (("L1", "plan", "10/01/2025", True, 120.0, 6, None, None), "offered_on", "type"),
]


@pytest.mark.parametrize(("row", "column", "rule"), BAD_ROWS, ids=[f"{c}:{r}" for _, c, r in BAD_ROWS])
def test_each_broken_rule_is_quarantined_naming_table_column_and_rule(row, column, rule):
    result = validate_tables(_with(_arrangements(*GOOD, row)))
    failures = result.failures
    assert set(failures["table"]) == {"arrangements"}
    assert set(failures["row"]) == {len(GOOD)}  # only the bad row, the good ones are accepted
    assert any(
        (failure.column == column) and failure.rule.startswith(rule) for failure in failures.itertuples()
    ), failures[["column", "rule"]].to_string()
    quarantine = result.quarantine("r1")
    assert quarantine["table"].tolist() == ["arrangements"]
    assert quarantine["key"].iloc[0].startswith(f"{row[0]}|{row[1]}|")
    assert f"{column}: {rule}" in quarantine["rules"].iloc[0]
    counts = result.counts().set_index("table").loc["arrangements"]
    assert counts["rows_in"] == counts["accepted"] + counts["quarantined"] == len(GOOD) + 1
    assert counts["quarantined"] == 1


def test_rows_in_equal_accepted_plus_quarantined_with_many_bad_rows():
    frame = _arrangements(*GOOD, *(row for row, _, _ in BAD_ROWS))
    result = validate_tables(_with(frame))
    counts = result.counts().set_index("table").loc["arrangements"]
    assert counts["rows_in"] == len(frame)
    assert (counts["accepted"], counts["quarantined"]) == (len(GOOD), len(BAD_ROWS))


def test_offers_on_or_after_the_cutoff_are_held_for_a_later_night():
    frame = _arrangements(
        ("L1", "plan", "2025-02-28", True, 120.0, 6, None, None),
        ("L1", "settlement", "2025-03-01", False, 900.0, 1, 0.2, None),
    )
    result = validate_tables(_with(frame), as_of=dt.date(2025, 3, 1))
    assert result.is_valid
    assert result.tables["arrangements"]["offered_on"].tolist() == [pd.Timestamp("2025-02-28")]
    assert len(result.held_rows["arrangements"]) == 1
    assert result.held_summary()["arrangements"]["column"] == "offered_on"


def test_a_folder_with_an_arrangements_csv_reads_and_validates(tmp_path):
    for name, frame in raw_tables().items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    assert "arrangements" not in read_tables(tmp_path)
    _arrangements(*GOOD).to_csv(tmp_path / "arrangements.csv", index=False)
    raw = read_tables(tmp_path)
    result = validate_tables(raw)
    assert result.is_valid, result.describe_failures()
    arrangements = result.tables["arrangements"]
    assert arrangements["accepted"].tolist() == [True, False, True, True]
    assert arrangements["n_instalments"].tolist() == [6, 12, 1, 3]
    assert arrangements["discount"].isna().tolist() == [True, True, False, False]
