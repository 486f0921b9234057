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

LOAN_KEYED_TABLES = ("installments", "payments", "interactions", "account_flags")


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
    for name in LOAN_KEYED_TABLES:
        table = tables[name]
        part = table["loan_id"].map(part_by_loan).to_numpy()
        for number, book in enumerate(books):
            book[name] = table[part == number]
    for name, table in tables.items():  # any further table travels whole with every book
        for book in books:
            book.setdefault(name, table)
    return books


def combine(pieces: list, index=None):
    """The pieces of a partitioned result (frames or Series) as one, in the order of ``index``
    when given (the unpartitioned input's index), else in the order of the pieces."""
    if len(pieces) == 1 and (index is None or pieces[0].index.equals(index)):
        return pieces[0]  # unpartitioned: nothing to combine
    non_empty = [piece for piece in pieces if len(piece)] or pieces[:1]
    out = pd.concat(non_empty)
    return out if index is None else out.reindex(index)


def in_key_order(frame: pd.DataFrame, reference: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The rows of ``frame`` in the order their ``keys`` have in ``reference`` (keys unique);
    rows whose keys ``reference`` lacks go last. A fresh index."""
    position = pd.MultiIndex.from_frame(reference[keys]).get_indexer(pd.MultiIndex.from_frame(frame[keys]))
    position = np.where(position < 0, len(reference), position)
    return frame.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
