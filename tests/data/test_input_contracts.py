"""The input contract: a valid delivery passes; each rule rejects a crafted bad frame."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data_contracts.validation import ContractError, validate_tables
from tests.factories import borrower, flag, interaction, loan, payment, raw_tables, schedule

VALID = dict(
    payments=[payment("P1", "2024-10-01T10:00:00", 100.0)],
    interactions=[
        interaction(
            "I1",
            "2024-11-02T15:00:00",
            outcome="promise_to_pay",
            promised_amount=100.0,
            promised_date="2024-11-09",
        )
    ],
    account_flags=[flag("L1", "dispute", "2024-11-03", "2024-11-20")],
)


def test_valid_delivery_passes_with_contract_types():
    result = validate_tables(raw_tables(**VALID), as_of=dt.date(2025, 1, 1))
    assert result.is_valid
    counts = result.counts().set_index("table")
    assert (counts["rows_in"] == counts["accepted"]).all()
    assert str(result.tables["payments"]["paid_at"].dtype) == "datetime64[ns, UTC]"
    assert str(result.tables["loans"]["disbursed_on"].dtype) == "datetime64[ns]"
    assert result.tables["borrowers"]["has_phone"].dtype == bool
    assert result.tables["loans"]["n_installments"].dtype == "int64"


def test_timestamps_without_offset_are_utc_and_offsets_are_converted():
    payments = [payment("P1", "2024-10-01T10:00:00", 1.0), payment("P2", "2024-10-01T12:00:00+02:00", 1.0)]
    paid_at = validate_tables(raw_tables(payments=payments)).tables["payments"]["paid_at"]
    assert paid_at.iloc[0] == paid_at.iloc[1] == pd.Timestamp("2024-10-01T10:00:00Z")


def _with(table: str, index: int, **changes):
    tables = raw_tables(**VALID)
    frame = tables[table].astype(object)
    for column, value in changes.items():
        frame.loc[index, column] = value
    tables[table] = frame
    return tables


def _append(table: str, row: dict):
    tables = raw_tables(**VALID)
    tables[table] = pd.concat([tables[table], pd.DataFrame([row])], ignore_index=True)
    return tables


BAD_ROWS = [
    ("type", _with("loans", 0, principal="a lot"), "loans", "principal", "type: expected float64"),
    ("type int", _with("loans", 0, n_installments="6.5"), "loans", "n_installments", "type: expected int64"),
    ("type bool", _with("borrowers", 0, has_phone="maybe"), "borrowers", "has_phone", "type: expected bool"),
    (
        "type date",
        _with("loans", 0, disbursed_on="2024-02-30"),
        "loans",
        "disbursed_on",
        "type: expected datetime64[ns]",
    ),
    ("range", _with("loans", 0, principal=-5.0), "loans", "principal", "greater_than(0)"),
    (
        "rate",
        _with("loans", 0, annual_interest_rate=2.5),
        "loans",
        "annual_interest_rate",
        "less_than_or_equal_to(2)",
    ),
    ("enum", _with("loans", 0, installment_frequency="daily"), "loans", "installment_frequency", "isin"),
    ("currency", _with("loans", 0, currency="usd"), "loans", "currency", "str_matches"),
    (
        "timezone",
        _with("borrowers", 0, timezone="Mars/Olympus"),
        "borrowers",
        "timezone",
        "isin(allowed values)",
    ),
    ("null", _with("payments", 0, amount=None), "payments", "amount", "not_nullable"),
    ("channel", _with("interactions", 0, channel="pigeon"), "interactions", "channel", "isin"),
    ("outcome", _with("interactions", 0, outcome="maybe"), "interactions", "outcome", "isin"),
    (
        "promise",
        _with("interactions", 0, promised_amount=None),
        "interactions",
        "promised_amount",
        "promised_amount is required when outcome is promise_to_pay",
    ),
    (
        "flag order",
        _with("account_flags", 0, ends_on="2024-11-01"),
        "account_flags",
        "ends_on",
        "ends_on must be on or after starts_on",
    ),
    (
        "unique id",
        _append("payments", payment("P1", "2024-10-02T10:00:00", 5.0)),
        "payments",
        "payment_id",
        "field_uniqueness",
    ),
    (
        "installment no",
        _append("installments", {**schedule("L1")[0], "amount_due": 99.0}),
        "installments",
        "loan_id,installment_no",
        "multiple_fields_uniqueness",
    ),
    (
        "orphan loan",
        _append("payments", payment("P9", "2024-10-02T10:00:00", 5.0, loan_id="L404")),
        "payments",
        "loan_id",
        "foreign_key(loans.loan_id)",
    ),
    (
        "orphan borrower",
        _append("loans", loan("L2", "B404")),
        "loans",
        "borrower_id",
        "foreign_key(borrowers.borrower_id)",
    ),
]


def test_an_event_at_or_after_the_cutoff_is_held_for_a_later_night_not_quarantined():
    tables = _append("payments", payment("P9", "2025-01-01T00:00:00", 5.0))
    result = validate_tables(tables, as_of=dt.date(2025, 1, 1))
    assert result.is_valid
    counts = result.counts().set_index("table")
    assert counts.loc["payments", "held"] == 1
    assert "P9" not in set(result.tables["payments"]["payment_id"])
    assert list(result.held_rows["payments"]["payment_id"]) == ["P9"]


@pytest.mark.parametrize(
    ("case", "tables", "table", "column", "rule"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS]
)
def test_each_rule_rejects_a_bad_row(case, tables, table, column, rule):
    result = validate_tables(tables, as_of=dt.date(2025, 1, 1))
    assert not result.is_valid
    hits = result.failures[(result.failures["table"] == table) & (result.failures["column"] == column)]
    assert hits["rule"].str.startswith(rule).any(), result.failures.to_string()
    counts = result.counts().set_index("table")
    assert (
        counts["rows_in"]
        == counts["accepted"] + counts["quarantined"] + counts["duplicates_collapsed"] + counts["held"]
    ).all()


def test_all_failures_of_a_row_are_reported_at_once():
    tables = _with("loans", 0, principal="x", currency="usd", installment_frequency="daily")
    failures = validate_tables(tables).failures
    assert set(failures.loc[failures["table"] == "loans", "column"]) >= {
        "principal",
        "currency",
        "installment_frequency",
    }


def test_quarantined_loan_takes_its_children_with_it():
    result = validate_tables(_with("loans", 0, principal=0.0))
    orphans = result.failures[result.failures["rule"].str.startswith("foreign_key")]
    assert set(orphans["table"]) == {"installments", "payments", "interactions", "account_flags"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda t: t.pop("payments"), "table 'payments': table missing"),
        (
            lambda t: t.__setitem__("loans", t["loans"].drop(columns="principal")),
            "table 'loans', column 'principal': column missing",
        ),
        (
            lambda t: t.__setitem__("loans", t["loans"].assign(colour="red")),
            "table 'loans', column 'colour': column not in contract",
        ),
    ],
)
def test_structural_problems_raise_naming_table_column_and_rule(mutate, expected):
    tables = raw_tables(**VALID)
    mutate(tables)
    with pytest.raises(ContractError, match=expected):
        validate_tables(tables)


def test_booleans_and_blanks_are_read_from_text():
    tables = _with(
        "borrowers", 0, has_phone="TRUE", consent_whatsapp="no", monthly_income="", preferred_language=" "
    )
    result = validate_tables(tables)
    assert result.is_valid, result.failures
    row = result.tables["borrowers"].iloc[0]
    assert bool(row["has_phone"]) and not bool(row["consent_whatsapp"])
    assert pd.isna(row["monthly_income"]) and pd.isna(row["preferred_language"])


def test_counts_name_every_quarantined_row_once():
    result = validate_tables(_with("borrowers", 0, timezone="Nowhere", has_email="perhaps"))
    counts = result.counts().set_index("table")
    assert counts.loc["borrowers", "quarantined"] == 1
    assert borrower()["borrower_id"] in set(result.failures["key"])


def test_exact_duplicates_are_collapsed_and_counted():
    tables = _append("payments", payment("P1", "2024-10-01T10:00:00", 100.0))  # the same row again
    result = validate_tables(tables)
    assert result.is_valid
    counts = result.counts().set_index("table")
    assert counts.loc["payments", "duplicates_collapsed"] == 1
    assert counts.loc["payments", "accepted"] == 1


def test_same_key_with_different_content_quarantines_both_rows():
    tables = _append("payments", payment("P1", "2024-10-01T10:00:00", 90.0))
    result = validate_tables(tables)
    quarantine = result.quarantine("run-7")
    payments = quarantine[quarantine["table"] == "payments"]
    assert sorted(payments["row"]) == [0, 1]
    assert payments["rules"].str.contains("payment_id: field_uniqueness").all()
    assert result.counts().set_index("table").loc["payments", "accepted"] == 0


def test_quarantine_names_source_line_rules_and_run():
    tables = _with("loans", 0, principal="x", currency="usd")
    tables["loans"].attrs["source"] = "loans.csv"
    tables["loans"].attrs["lines"] = np.array([2])
    quarantine = validate_tables(tables).quarantine("run-9")
    loan_row = quarantine[quarantine["table"] == "loans"].iloc[0]
    assert loan_row["source"] == "loans.csv" and loan_row["line"] == 2 and loan_row["key"] == "L1"
    assert "principal: type: expected float64" in loan_row["rules"]
    assert "currency: str_matches" in loan_row["rules"]
    assert '"principal":"x"' in loan_row["raw"]
    assert set(quarantine["run_id"]) == {"run-9"}
    # children of the quarantined loan follow it, each with its own reason
    assert set(quarantine["table"]) == {"loans", "installments", "payments", "interactions", "account_flags"}


def test_a_missing_id_is_reported_as_missing_not_as_text():
    result = validate_tables(_with("payments", 0, loan_id=None))
    rules = set(result.failures.loc[result.failures["column"] == "loan_id", "rule"])
    assert rules == {"not_nullable"}


def test_a_date_written_with_an_offset_keeps_its_local_day_and_mixed_forms_do_not_crash():
    installments = schedule("L1")
    installments[0]["due_date"] = "2024-10-01T00:00:00+02:00"
    installments[1]["due_date"] = "2024-11-01 00:00:00"
    result = validate_tables(raw_tables(installments=installments))
    assert result.is_valid, result.failures
    due = result.tables["installments"].sort_values("installment_no")["due_date"]
    assert list(due.iloc[:2]) == [pd.Timestamp("2024-10-01"), pd.Timestamp("2024-11-01")]
