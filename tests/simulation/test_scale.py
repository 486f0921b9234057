"""The benchmark books: a book's overdue core tiled with fresh ids still obeys the contract."""

from __future__ import annotations

import pytest

from data_contracts.validation import validate_tables
from features.build import build_features
from simulation.scale import copies_for, overdue_core, tiled, trimmed
from tests.conftest import SMALL_BOOK_AS_OF


@pytest.fixture(scope="module")
def core(small_tables):
    overdue = build_features(small_tables, SMALL_BOOK_AS_OF)["loan_id"]
    return overdue_core(small_tables, overdue), len(overdue)


def test_the_core_keeps_every_row_of_the_overdue_loans_only(core, small_tables):
    tables, n_overdue = core
    assert len(tables["loans"]) == n_overdue < len(small_tables["loans"])
    loans = set(tables["loans"]["loan_id"])
    for name in ("installments", "payments", "interactions", "account_flags"):
        assert set(tables[name]["loan_id"]) <= loans
        assert len(tables[name]) == small_tables[name]["loan_id"].isin(loans).sum()
    assert set(tables["borrowers"]["borrower_id"]) == set(tables["loans"]["borrower_id"])


def test_a_tiled_core_is_a_valid_book_of_the_requested_size_with_the_same_overdue_share(core):
    tables, n_overdue = core
    copies = copies_for(2 * n_overdue + 5, n_overdue)
    assert copies == 3
    book = trimmed(tiled(tables, copies), 2 * n_overdue + 5)
    result = validate_tables(book, as_of=SMALL_BOOK_AS_OF)
    assert result.is_valid, result.failures_by_rule()
    assert len(book["loans"]) == 2 * n_overdue + 5
    assert book["loans"]["loan_id"].is_unique and book["payments"]["payment_id"].is_unique
    # Every copy of an overdue loan is overdue on the same night.
    assert len(build_features(result.tables, SMALL_BOOK_AS_OF)) == 2 * n_overdue + 5


def test_copies_are_at_least_one():
    assert copies_for(1, 10) == 1 and copies_for(10, 10) == 1 and copies_for(11, 10) == 2
    with pytest.raises(ValueError):
        tiled({}, 0)
