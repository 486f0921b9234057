"""Deliberately damaged deliveries, to show and test what validation does with bad rows.

Real exports break in a handful of ways: a value of the wrong type, a missing value, an
impossible number, an unknown code, a row pointing at nothing, a row delivered twice (or twice
with different content), an event stamped after the extraction date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_contracts.parsing import csv_text

CORRUPTIONS = (
    "wrong_type",
    "missing_value",
    "out_of_range",
    "unknown_code",
    "orphan",
    "exact_duplicate",
    "conflicting_duplicate",
    "future_event",
)

_TARGETS = {
    # table: (numeric column, closed-vocabulary column, id column pointing at a parent, event column)
    "payments": ("amount", None, "loan_id", "paid_at"),  # method is free text in the contract
    "interactions": ("promised_amount", "channel", "loan_id", "occurred_at"),
    "installments": ("amount_due", None, "loan_id", None),
}


def corrupt_tables(
    tables: dict[str, pd.DataFrame], share: float, seed: int, as_of
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Damage about ``share`` of the rows of payments, interactions and installments.

    Returns the damaged tables as text, ready for CSV (other tables untouched), and a log of
    what was done to which row position: (table, row, corruption). Duplicates are appended at
    the end of their table.
    """
    rng = np.random.default_rng(seed)
    damaged = dict(tables)
    log = []
    future = f"{pd.Timestamp(as_of) + pd.Timedelta(days=3):%Y-%m-%d}T10:00:00+00:00"
    for table, (numeric, code, parent, event) in _TARGETS.items():
        frame = csv_text(tables[table]).astype(object)
        n_bad = int(round(share * len(frame)))
        rows = rng.choice(len(frame), size=n_bad, replace=False)
        kinds = rng.choice(
            [
                k
                for k in CORRUPTIONS
                if not (k == "future_event" and event is None) and not (k == "unknown_code" and code is None)
            ],
            size=n_bad,
        )
        extra = []
        for row, kind in zip(rows, kinds, strict=True):
            if kind == "wrong_type":
                frame.iat[row, frame.columns.get_loc(numeric)] = "n/a"
            elif kind == "missing_value":
                frame.iat[row, frame.columns.get_loc(parent)] = None
            elif kind == "out_of_range":
                frame.iat[row, frame.columns.get_loc(numeric)] = -abs(float(rng.integers(1, 500)))
            elif kind == "unknown_code":
                frame.iat[row, frame.columns.get_loc(code)] = "carrier_pigeon"
            elif kind == "orphan":
                frame.iat[row, frame.columns.get_loc(parent)] = f"UNKNOWN-{row}"
            elif kind == "future_event":
                frame.iat[row, frame.columns.get_loc(event)] = future
            elif kind == "exact_duplicate":
                extra.append(frame.iloc[[row]].copy())
            elif kind == "conflicting_duplicate":
                copy = frame.iloc[[row]].copy()
                copy[numeric] = float(rng.integers(1, 500)) + 0.5
                extra.append(copy)
            log.append({"table": table, "row": int(row), "corruption": str(kind)})
        damaged[table] = pd.concat([frame, *extra], ignore_index=True) if extra else frame
    return damaged, pd.DataFrame(log, columns=["table", "row", "corruption"])
