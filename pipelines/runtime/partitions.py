"""Partitions of a night's loans, for running the per-loan work piece by piece (on a Dask
cluster, see pipelines/runtime/cluster.py). Pure functions on DataFrames.

A loan's partition depends on its key alone (a fixed hash), so it is the same in every process,
on every machine and in every run. Tables are split by borrower: every loan of a borrower, and
every event of those loans, land in one partition, so a feature that looks across a borrower's
loans sees all of them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

# Putting partitioned results back together is pure frame work the scoring core shares.
from scoring.frames import combine, in_key_order

LOAN_KEYED_TABLES = ("installments", "payments", "interactions", "account_flags")
# Optional tables keyed by loan: split like the others when the book has them.
OPTIONAL_LOAN_KEYED_TABLES = ("arrangements",)

__all__ = [
    "LOAN_KEYED_TABLES",
    "combine",
    "in_key_order",
    "partition_of",
    "split_frame",
    "split_tables_by_borrower",
]


def partition_of(keys, partitions: int) -> np.ndarray:
    """The partition (0 .. ``partitions`` - 1) of each key: a fixed hash of its text, so the
    same key always lands in the same partition."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    values = pd.Series(keys, dtype="object").astype("str").to_numpy(dtype=object)
    hashes = pd.util.hash_array(values, categorize=False)
    return (hashes % np.uint64(partitions)).astype(np.int64)


def split_frame(frame: pd.DataFrame | pd.Series, partitions: int, key: str = "loan_id") -> list:
    """``frame`` cut into ``partitions`` pieces by the partition of its ``key`` column (for a
    Series, or a frame without that column, its index). Row order is kept within each piece;
    every row is in exactly one piece."""
    keys = frame[key] if isinstance(frame, pd.DataFrame) and key in frame.columns else frame.index
    part = partition_of(keys, partitions)
    return [frame[part == number] for number in range(partitions)]


def split_tables_by_borrower(tables: Mapping[str, pd.DataFrame], partitions: int) -> list[dict]:
    """The input tables cut into ``partitions`` books by borrower: each book holds some
    borrowers, all their loans and every installment, payment, interaction and flag of those
    loans. A row whose loan is unknown goes with no book (validation has quarantined such rows
    before features are built)."""
    borrower_part = partition_of(tables["borrowers"]["borrower_id"], partitions)
    loans = tables["loans"]
    loan_part = partition_of(loans["borrower_id"], partitions)
    part_by_loan = pd.Series(loan_part, index=loans["loan_id"].to_numpy())
    books = [
        {"borrowers": tables["borrowers"][borrower_part == number], "loans": loans[loan_part == number]}
        for number in range(partitions)
    ]
    for name in [*LOAN_KEYED_TABLES, *(t for t in OPTIONAL_LOAN_KEYED_TABLES if t in tables)]:
        table = tables[name]
        part = table["loan_id"].map(part_by_loan).to_numpy()
        for number, book in enumerate(books):
            book[name] = table[part == number]
    for name, table in tables.items():  # any further table travels whole with every book
        for book in books:
            book.setdefault(name, table)
    return books
