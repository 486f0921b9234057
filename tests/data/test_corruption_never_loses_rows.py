"""Random corruption of a valid delivery: validation never crashes and never loses a row."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_contracts.enums import TABLES
from data_contracts.validation import validate_tables
from tests.factories import borrower, flag, interaction, loan, payment, raw_tables, schedule

AS_OF = dt.date(2025, 1, 15)


def _valid_delivery() -> dict[str, pd.DataFrame]:
    return raw_tables(
        borrowers=[borrower("B1"), borrower("B2", monthly_income=None)],
        loans=[loan("L1", "B1"), loan("L2", "B2", installment_frequency="weekly")],
        installments=schedule("L1") + schedule("L2", n=4, amount=50.0),
        payments=[
            payment(f"P{i}", f"2024-1{i % 3}-0{i % 9 + 1}T10:00:00", 10.0 + i, f"L{i % 2 + 1}")
            for i in range(6)
        ],
        interactions=[
            interaction(
                "I1",
                "2024-11-02T15:00:00",
                outcome="promise_to_pay",
                promised_amount=100.0,
                promised_date="2024-11-09",
            ),
            interaction(
                "I2", "2024-12-02T15:00:00", loan_id="L2", channel="sms", outcome="delivered", agent_id=None
            ),
            interaction("I3", "2024-12-05T15:00:00", direction="inbound", outcome="right_party_contact"),
        ],
        account_flags=[
            flag("L1", "dispute", "2024-11-03", "2024-11-20"),
            flag("L2", "do_not_visit", "2024-09-01"),
        ],
    )


BAD_VALUES = {
    "type": "not-a-value",
    "null": None,
    "out_of_range": -1e12,
    "unknown_code": "zzz",
    "orphan": "X404",
    "far_future": "2099-01-01T00:00:00",
}

corruption = st.tuples(
    st.sampled_from(TABLES),
    st.integers(min_value=0, max_value=20),
    st.integers(min_value=0, max_value=20),
    st.sampled_from([*BAD_VALUES, "duplicate_row", "conflicting_duplicate"]),
)


def _corrupt(tables: dict[str, pd.DataFrame], corruptions) -> dict[str, pd.DataFrame]:
    tables = {name: frame.astype(object) for name, frame in tables.items()}
    for table, row_pick, column_pick, kind in corruptions:
        frame = tables[table]
        if frame.empty:
            continue
        row = frame.index[row_pick % len(frame)]
        column = frame.columns[column_pick % len(frame.columns)]
        if kind == "duplicate_row":
            frame = pd.concat([frame, frame.loc[[row]]], ignore_index=True)
        elif kind == "conflicting_duplicate":
            copy = frame.loc[[row]].copy()
            copy[frame.columns[-1]] = "changed"
            frame = pd.concat([frame, copy], ignore_index=True)
        else:
            frame = frame.copy()
            frame.loc[row, column] = BAD_VALUES[kind]
        tables[table] = frame
    return tables


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(corruption, min_size=1, max_size=8))
def test_validation_accounts_for_every_row(corruptions):
    delivery = _corrupt(_valid_delivery(), corruptions)
    result = validate_tables(delivery, as_of=AS_OF)

    counts = result.counts().set_index("table")
    for table in TABLES:
        assert counts.loc[table, "rows_in"] == len(delivery[table])
    assert (
        counts["rows_in"]
        == counts["accepted"] + counts["quarantined"] + counts["duplicates_collapsed"] + counts["held"]
    ).all()

    quarantine = result.quarantine("run-h")
    assert len(quarantine) == counts["quarantined"].sum()
    assert quarantine["rules"].notna().all() and (quarantine["rules"].str.len() > 0).all()
    # accepted rows are fully typed and re-validate without a single failure
    assert validate_tables(result.tables, as_of=AS_OF).is_valid
