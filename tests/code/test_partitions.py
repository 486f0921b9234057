"""Partitions of a night's loans: a fixed hash per key, splits that lose and duplicate no row,
books cut by borrower, and features per book that add up to the features of the whole book."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.build import build_features
from pipelines.runtime.partitions import (
    combine,
    in_key_order,
    partition_of,
    split_frame,
    split_tables_by_borrower,
)
from tests.conftest import SMALL_BOOK_AS_OF

KEYS = [f"L{number:06d}" for number in range(200)]
LOAN_KEYED = ("installments", "payments", "interactions", "account_flags")

loan_keys = st.text(alphabet="LB0123456789-", min_size=1, max_size=7)


@st.composite
def loan_frames(draw) -> pd.DataFrame:
    """A small frame keyed by ``loan_id`` (keys may repeat) with a unique, shuffled index."""
    keys = draw(st.lists(loan_keys, max_size=40))
    index = draw(st.permutations(range(100, 100 + len(keys))))
    amounts = draw(st.lists(st.floats(-1e6, 1e6), min_size=len(keys), max_size=len(keys)))
    return pd.DataFrame(
        {
            "loan_id": keys,
            "amount": np.asarray(amounts, dtype="float64"),
            "row": np.arange(len(keys), dtype="int64"),
            "channel": [f"c{len(key) % 3}" for key in keys],
        },
        index=pd.Index(index, dtype="int64"),
    )


# -- partition_of ----------------------------------------------------------------------------
def test_partition_of_is_deterministic_and_in_range():
    first = partition_of(KEYS, 7)
    assert first.dtype == np.int64
    assert len(first) == len(KEYS)
    assert ((first >= 0) & (first < 7)).all()
    assert len(set(first)) == 7  # 200 keys reach every partition
    np.testing.assert_array_equal(partition_of(KEYS, 7), first)
    np.testing.assert_array_equal(partition_of(pd.Series(KEYS), 7), first)
    np.testing.assert_array_equal(partition_of(np.asarray(KEYS, dtype=object), 7), first)


def test_a_keys_partition_depends_on_the_key_alone():
    together = partition_of(KEYS, 5)
    alone = [partition_of([key], 5)[0] for key in KEYS[:20]]
    np.testing.assert_array_equal(alone, together[:20])
    reversed_order = partition_of(KEYS[::-1], 5)
    np.testing.assert_array_equal(reversed_order[::-1], together)


def test_partition_of_is_a_fixed_hash():
    """The same numbers in every process, machine and run (computed once, in another process):
    not Python's salted ``hash``, so a loan never changes partition between nights."""
    keys = ["L000000", "L000001", "L000042", "L001499", "B000007", "loan-\u00e9"]
    assert partition_of(keys, 7).tolist() == [3, 2, 1, 6, 2, 0]
    assert partition_of(keys, 2).tolist() == [0, 1, 0, 1, 0, 0]
    assert partition_of(keys, 64).tolist() == [18, 43, 24, 23, 40, 38]


def test_one_partition_holds_everything():
    assert (partition_of(KEYS, 1) == 0).all()


@pytest.mark.parametrize("partitions", [0, -1, -10])
def test_partition_of_rejects_fewer_than_one_partition(partitions):
    with pytest.raises(ValueError, match="at least 1"):
        partition_of(KEYS, partitions)


@settings(max_examples=50)
@given(keys=st.lists(loan_keys, min_size=1, max_size=50), partitions=st.integers(1, 16))
def test_partition_of_is_in_range_and_repeatable(keys, partitions):
    part = partition_of(keys, partitions)
    assert len(part) == len(keys)
    assert ((part >= 0) & (part < partitions)).all()
    np.testing.assert_array_equal(partition_of(keys, partitions), part)
    for key, number in zip(keys, part, strict=True):  # a repeated key always lands together
        assert part[keys.index(key)] == number


# -- split_frame and combine -----------------------------------------------------------------
@settings(max_examples=50)
@given(frame=loan_frames(), partitions=st.integers(1, 8))
def test_split_frame_puts_every_row_in_exactly_one_piece_in_order(frame, partitions):
    pieces = split_frame(frame, partitions)
    assert len(pieces) == partitions
    assert sum(len(piece) for piece in pieces) == len(frame)
    seen = pd.Index([]).append([piece.index for piece in pieces])
    assert seen.is_unique
    assert set(seen) == set(frame.index)

    owner = {}
    for number, piece in enumerate(pieces):
        assert list(piece.columns) == list(frame.columns)
        position = frame.index.get_indexer(piece.index)
        assert (np.diff(position) > 0).all()  # row order kept inside the piece
        pd.testing.assert_frame_equal(piece, frame.iloc[position])
        for key in piece["loan_id"]:
            assert owner.setdefault(key, number) == number  # one key, one piece


@settings(max_examples=50)
@given(frame=loan_frames(), partitions=st.integers(1, 8))
def test_combine_gives_back_the_original_frame(frame, partitions):
    pieces = split_frame(frame, partitions)
    pd.testing.assert_frame_equal(combine(pieces, index=frame.index), frame)
    # without an index: the pieces one after another
    stacked = combine(pieces)
    assert len(stacked) == len(frame)
    pd.testing.assert_frame_equal(stacked.loc[frame.index], frame)


@settings(max_examples=50)
@given(frame=loan_frames(), partitions=st.integers(1, 8))
def test_combine_restores_the_input_order_of_per_piece_results(frame, partitions):
    """A per-piece result (here a derived Series) is put back in the unpartitioned order."""
    pieces = [piece["amount"] * 2 for piece in split_frame(frame, partitions)]
    pd.testing.assert_series_equal(combine(pieces, index=frame.index), frame["amount"] * 2)


def test_a_series_indexed_by_loan_id_splits_by_its_index():
    series = pd.Series(np.arange(len(KEYS), dtype="float64"), index=pd.Index(KEYS, name="loan_id"))
    pieces = split_frame(series, 4)
    expected = partition_of(KEYS, 4)
    assert sum(len(piece) for piece in pieces) == len(series)
    for number, piece in enumerate(pieces):
        assert isinstance(piece, pd.Series)
        assert list(piece.index) == [key for key, p in zip(KEYS, expected, strict=True) if p == number]
        pd.testing.assert_series_equal(piece, series.loc[piece.index])
    pd.testing.assert_series_equal(combine(pieces, index=series.index), series)


def test_a_frame_without_the_key_column_splits_by_its_index_and_the_column_wins_otherwise():
    by_index = pd.DataFrame({"value": range(len(KEYS))}, index=pd.Index(KEYS, name="loan_id"))
    expected = partition_of(KEYS, 3)
    for number, piece in enumerate(split_frame(by_index, 3)):
        assert (expected[by_index.index.get_indexer(piece.index)] == number).all()

    # the key column decides even when the index holds other keys
    by_column = pd.DataFrame({"loan_id": KEYS}, index=pd.Index(KEYS[::-1]))
    for number, piece in enumerate(split_frame(by_column, 3)):
        assert (partition_of(piece["loan_id"], 3) == number).all()

    other_key = pd.DataFrame({"borrower_id": KEYS, "loan_id": KEYS[::-1]})
    for number, piece in enumerate(split_frame(other_key, 3, key="borrower_id")):
        assert (partition_of(piece["borrower_id"], 3) == number).all()


def test_combine_of_one_piece_is_that_piece():
    frame = pd.DataFrame({"loan_id": ["L1", "L2"], "value": [1.0, 2.0]})
    pieces = split_frame(frame, 1)
    assert combine(pieces, index=frame.index) is pieces[0]
    pd.testing.assert_frame_equal(combine(pieces, index=frame.index), frame)


# -- split_tables_by_borrower ----------------------------------------------------------------
@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_every_row_of_every_table_is_in_exactly_one_book(small_tables, partitions):
    books = split_tables_by_borrower(small_tables, partitions)
    assert len(books) == partitions
    for book in books:
        assert set(book) == set(small_tables)
    for name, table in small_tables.items():
        assert sum(len(book[name]) for book in books) == len(table), name
        rows = pd.Index([]).append([book[name].index for book in books])
        assert rows.is_unique, name
        assert set(rows) == set(table.index), name
        for book in books:
            pd.testing.assert_frame_equal(book[name], table.loc[book[name].index])


@pytest.mark.parametrize("partitions", [3, 7])
def test_a_borrower_and_all_their_loans_and_events_share_one_book(small_tables, partitions):
    books = split_tables_by_borrower(small_tables, partitions)
    loans_per_borrower = small_tables["loans"].groupby("borrower_id")["loan_id"].size()
    assert (loans_per_borrower > 1).any()  # the property is not vacuous on this book

    book_of_borrower: dict[str, int] = {}
    book_of_loan: dict[str, int] = {}
    for number, book in enumerate(books):
        borrowers = set(book["borrowers"]["borrower_id"])
        for borrower_id in borrowers:
            assert book_of_borrower.setdefault(borrower_id, number) == number
        assert set(book["loans"]["borrower_id"]) <= borrowers  # all loans sit with their borrower
        for loan_id in book["loans"]["loan_id"]:
            assert book_of_loan.setdefault(loan_id, number) == number
    for borrower_id, loan_ids in small_tables["loans"].groupby("borrower_id")["loan_id"]:
        assert {book_of_loan[loan_id] for loan_id in loan_ids} == {book_of_borrower[borrower_id]}

    for book in books:
        loans = set(book["loans"]["loan_id"])
        for name in LOAN_KEYED:
            assert set(book[name]["loan_id"]) <= loans, name  # every event sits with its loan
    for name in LOAN_KEYED:
        table = small_tables[name]
        located = table["loan_id"].map(book_of_loan)
        assert located.notna().all(), name
        sizes = located.value_counts().reindex(range(partitions), fill_value=0)
        assert sizes.tolist() == [len(book[name]) for book in books], name


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_features_per_book_add_up_to_the_features_of_the_whole_book(small_tables, partitions):
    whole = build_features(small_tables, SMALL_BOOK_AS_OF)
    assert len(whole) > 0
    books = split_tables_by_borrower(small_tables, partitions)
    per_book = [build_features(book, SMALL_BOOK_AS_OF) for book in books]
    combined = pd.concat(per_book).sort_values("loan_id", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(combined, whole)


def test_a_further_table_travels_whole_with_every_book():
    tables = {
        "borrowers": pd.DataFrame({"borrower_id": ["B1", "B2", "B3"]}),
        "loans": pd.DataFrame({"loan_id": ["L1", "L2", "L3", "L4"], "borrower_id": ["B1", "B1", "B2", "B3"]}),
        **{name: pd.DataFrame({"loan_id": ["L1", "L4", "L2", "L3"], "n": range(4)}) for name in LOAN_KEYED},
        "calendar": pd.DataFrame({"day": ["2026-01-01"]}),
    }
    books = split_tables_by_borrower(tables, 2)
    for book in books:
        assert book["calendar"] is tables["calendar"]
    for name in LOAN_KEYED:
        assert sum(len(book[name]) for book in books) == 4
    book_of_l1 = next(number for number, book in enumerate(books) if "L1" in set(book["loans"]["loan_id"]))
    assert "L2" in set(books[book_of_l1]["loans"]["loan_id"])  # same borrower, same book


# -- in_key_order ----------------------------------------------------------------------------
def test_in_key_order_follows_the_reference():
    reference = pd.DataFrame({"loan_id": ["L3", "L1", "L2"], "score": [0.3, 0.1, 0.2]})
    frame = pd.DataFrame({"loan_id": ["L1", "L2", "L3"], "value": [10, 20, 30]}, index=[7, 8, 9])
    out = in_key_order(frame, reference, ["loan_id"])
    assert out["loan_id"].tolist() == ["L3", "L1", "L2"]
    assert out["value"].tolist() == [30, 10, 20]
    pd.testing.assert_index_equal(out.index, pd.RangeIndex(3))


def test_in_key_order_puts_unknown_keys_last():
    reference = pd.DataFrame({"loan_id": ["L2", "L1"]})
    frame = pd.DataFrame({"loan_id": ["L9", "L1", "L8", "L2"], "value": [9, 1, 8, 2]})
    out = in_key_order(frame, reference, ["loan_id"])
    assert out["loan_id"].tolist()[:2] == ["L2", "L1"]
    assert set(out["loan_id"].tolist()[2:]) == {"L9", "L8"}
    assert out.set_index("loan_id")["value"].to_dict() == {"L2": 2, "L1": 1, "L9": 9, "L8": 8}
    pd.testing.assert_index_equal(out.index, pd.RangeIndex(4))


def test_in_key_order_with_several_keys():
    reference = pd.DataFrame({"loan_id": ["L1", "L2", "L1", "L2"], "channel": ["sms", "call", "call", "sms"]})
    frame = pd.DataFrame(
        {
            "loan_id": ["L2", "L1", "L1", "L3", "L2"],
            "channel": ["sms", "call", "sms", "sms", "call"],
            "value": [4, 3, 1, 5, 2],
        }
    )
    out = in_key_order(frame, reference, ["loan_id", "channel"])
    assert list(zip(out["loan_id"], out["channel"], strict=True)) == [
        ("L1", "sms"),
        ("L2", "call"),
        ("L1", "call"),
        ("L2", "sms"),
        ("L3", "sms"),
    ]
    assert out["value"].tolist() == [1, 2, 3, 4, 5]
