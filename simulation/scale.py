"""Large books fast: a simulated book's overdue core, tiled with fresh ids (for benchmarks).

Simulating a million overdue loans day by day would take hours; the nightly run's cost depends
on the number of loans and events and on their shape, not on each being unique. So a realistic
base book is simulated once, reduced to the loans overdue at its as-of (a collections book: what
the nightly run works on) with every row of theirs in every table, and repeated with each
copy's ids suffixed so none collide. The result obeys the input contract like the base does.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

# The id columns of each table that a copy must make its own (keys and foreign keys).
ID_COLUMNS = {
    "borrowers": ["borrower_id"],
    "loans": ["loan_id", "borrower_id"],
    "installments": ["loan_id"],
    "payments": ["payment_id", "loan_id"],
    "interactions": ["interaction_id", "loan_id"],
    "account_flags": ["loan_id"],
    "arrangements": ["loan_id"],
}


def overdue_core(tables: dict[str, pd.DataFrame], overdue_loan_ids) -> dict[str, pd.DataFrame]:
    """The tables restricted to the given loans (and their borrowers), every row of theirs kept."""
    loans = set(overdue_loan_ids)
    core = {}
    for name, frame in tables.items():
        if name == "borrowers":
            continue
        core[name] = frame[frame["loan_id"].isin(loans)].reset_index(drop=True)
    borrowers = set(core["loans"]["borrower_id"])
    core["borrowers"] = tables["borrowers"][tables["borrowers"]["borrower_id"].isin(borrowers)].reset_index(
        drop=True
    )
    return {name: core[name] for name in tables}


def tiled(tables: dict[str, pd.DataFrame], copies: int) -> dict[str, pd.DataFrame]:
    """The tables repeated ``copies`` times, copy k's ids suffixed ``-k`` (copy 0 keeps its ids).

    Vectorised: each id column is built once as (ids repeated) + (suffixes repeated), so a
    million-loan book takes seconds, not the minutes of a per-copy concat of string columns."""
    if copies < 1:
        raise ValueError("copies must be at least 1")
    if copies == 1:
        return {name: frame.copy() for name, frame in tables.items()}
    suffixes = np.array([""] + [f"-{k}" for k in range(1, copies)], dtype=object)
    out = {}
    for name, frame in tables.items():
        n = len(frame)
        repeated = frame.iloc[np.tile(np.arange(n), copies)].reset_index(drop=True)
        suffix = np.repeat(suffixes, n)
        for column in ID_COLUMNS[name]:
            base = np.tile(frame[column].to_numpy(dtype=object), copies)
            repeated[column] = pd.array(base + suffix, dtype=frame[column].dtype)
        out[name] = repeated
    return out


def copies_for(target_loans: int, core_loans: int) -> int:
    """Copies of a core of ``core_loans`` loans that reach at least ``target_loans``."""
    return max(1, -(-target_loans // max(core_loans, 1)))


def trimmed(tables: dict[str, pd.DataFrame], n_loans: int) -> dict[str, pd.DataFrame]:
    """The first ``n_loans`` loans (in table order) with their rows: an exact book size."""
    keep = tables["loans"]["loan_id"].iloc[:n_loans]
    return overdue_core(tables, keep)


def book_summary(tables: dict[str, pd.DataFrame], as_of: dt.date) -> dict:
    """Rows per table and events (payments + interactions) of a book."""
    rows = {name: int(len(frame)) for name, frame in tables.items()}
    return {"as_of": str(as_of), "rows": rows, "events": rows["payments"] + rows["interactions"]}
