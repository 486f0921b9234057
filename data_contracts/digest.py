"""Which book a run learned from: a content digest of the validated input tables.

Pure functions. The digest names the rows' content, not how they were delivered: the same rows in
another order or with the columns in another order give the same digest (a database returns rows
in no fixed order); a changed cell, an added, removed or duplicated row, a renamed column or a
changed column type give another. The training flow logs it with each model (an MLflow dataset).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd


def table_digest(frame: pd.DataFrame) -> str:
    """SHA-256 (hex) of one table: its column names and types, then the sorted hashes of its rows
    (``pd.util.hash_pandas_object`` of the columns in name order, without the index)."""
    columns = sorted(frame.columns, key=str)
    ordered = frame[columns]
    sha = hashlib.sha256()
    for name in columns:
        sha.update(f"{name}\x1f{ordered[name].dtype}\x1e".encode())
    sha.update(f"rows={len(ordered)}\x1e".encode())
    if len(ordered) and columns:
        rows = pd.util.hash_pandas_object(ordered, index=False).to_numpy(dtype=np.uint64)
        sha.update(np.sort(rows).tobytes())
    return sha.hexdigest()


def tables_digest(tables: Mapping[str, pd.DataFrame]) -> str:
    """SHA-256 (hex) of every table, in table-name order: one digest for the whole book."""
    sha = hashlib.sha256()
    for name in sorted(tables):
        sha.update(f"{name}\x1f{table_digest(tables[name])}\x1e".encode())
    return sha.hexdigest()


def book_profile(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per table (in name order): rows, columns and the table's own digest; small enough
    to log as the run's dataset."""
    return pd.DataFrame(
        [
            {
                "table": name,
                "rows": int(len(tables[name])),
                "columns": int(tables[name].shape[1]),
                "digest": table_digest(tables[name]),
            }
            for name in sorted(tables)
        ],
        columns=["table", "rows", "columns", "digest"],
    )


__all__ = ["book_profile", "table_digest", "tables_digest"]
