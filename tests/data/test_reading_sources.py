"""Reading a delivery folder: structural problems stop the run naming table and rule."""

from __future__ import annotations

import pytest

from adapters.io import read_tables
from data_contracts.validation import ContractError
from tests.factories import raw_tables


def _write(folder, tables, fmt="csv"):
    folder.mkdir(exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)


def test_csv_and_parquet_deliveries_read_the_same_rows(tmp_path):
    _write(tmp_path / "csv", raw_tables())
    _write(tmp_path / "parquet", raw_tables(), fmt="parquet")
    from_csv, from_parquet = read_tables(tmp_path / "csv"), read_tables(tmp_path / "parquet")
    assert {k: len(v) for k, v in from_csv.items()} == {k: len(v) for k, v in from_parquet.items()}
    assert from_csv["loans"].attrs["source"] == "loans.csv"


def test_a_file_not_in_utf8_is_a_structural_error(tmp_path):
    _write(tmp_path, raw_tables())
    (tmp_path / "borrowers.csv").write_bytes("borrower_id,region\nB1,Bogotá\n".encode("latin-1"))
    with pytest.raises(ContractError, match="table 'borrowers': unreadable file: not UTF-8"):
        read_tables(tmp_path)


def test_an_unreadable_file_is_a_structural_error(tmp_path):
    _write(tmp_path, raw_tables(), fmt="parquet")
    (tmp_path / "payments.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(ContractError, match="table 'payments': unreadable file"):
        read_tables(tmp_path)


def test_two_files_for_one_table_are_ambiguous(tmp_path):
    _write(tmp_path, raw_tables())
    raw_tables()["loans"].to_parquet(tmp_path / "loans.parquet")
    with pytest.raises(ContractError, match="table 'loans': ambiguous table"):
        read_tables(tmp_path)


def test_quarantine_lines_follow_multi_line_records_and_blank_lines(tmp_path):
    from data_contracts.validation import validate_tables

    _write(tmp_path, raw_tables())
    (tmp_path / "payments.csv").write_text(
        "payment_id,loan_id,paid_at,amount,method\n"
        'P1,L1,2024-10-01T10:00:00,100.0,"card\nwith a note"\n'
        "\n"
        "P2,L1,2024-10-02T10:00:00,not-a-number,card\n"
    )
    quarantine = validate_tables(read_tables(tmp_path)).quarantine("run")
    assert quarantine.loc[quarantine["table"] == "payments", "line"].tolist() == [5]
