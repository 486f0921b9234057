"""Arrow-kernel column operations answer exactly as pandas does (data_contracts/columnar.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.columnar import is_in, join_per_group

TEXT = st.one_of(st.none(), st.sampled_from(["L1", "L2", "L10", "", "é", "L 1"]))


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(TEXT, max_size=30),
    known=st.lists(TEXT, max_size=10),
    dtype=st.sampled_from(["str", "object"]),
    known_as=st.sampled_from(["series", "index", "list"]),
)
def test_is_in_answers_as_pandas_isin(values, known, dtype, known_as):
    series = pd.Series(values, dtype=dtype)
    reference = pd.Series(known, dtype=dtype)
    other = {"series": reference, "index": pd.Index(reference), "list": list(known)}[known_as]
    np.testing.assert_array_equal(is_in(series, other), series.isin(other).to_numpy())


def test_is_in_leaves_values_of_different_types_to_pandas():
    numbers_as_text = pd.Series(["1", "2"], dtype="object")
    assert not is_in(numbers_as_text, pd.Series([1, 2])).any()
    np.testing.assert_array_equal(is_in(pd.Series([1, 2, 3]), [2, 3]), [False, True, True])
    assert is_in(pd.Series([], dtype="str"), ["L1"]).shape == (0,)


# join_per_group against its definition: pandas' groupby calling the Python join per group.
KEY = st.one_of(st.none(), st.sampled_from(["b", "a", "c", "ä", "B", ""]))
STRING = st.one_of(st.text(max_size=4), st.sampled_from(["", ",", "L1", "L10", "é", "\U0001f600"]))


def _definition(grouped, separator, sort_within):
    if sort_within:
        return grouped.agg(lambda strings: separator.join(sorted(strings)))
    return grouped.agg(separator.join)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(KEY, st.integers(0, 2), STRING), max_size=40),
    two_keys=st.booleans(),
    key_dtype=st.sampled_from(["str", "object", "category"]),
    value_dtype=st.sampled_from(["str", "object", "category", "string"]),
    sort=st.booleans(),
    observed=st.booleans(),
    sort_within=st.booleans(),
    separator=st.sampled_from([",", ", ", "; ", ""]),
    unseen_at=st.integers(0, 6),
    dropna=st.booleans(),
)
def test_join_per_group_is_the_groupby_join(
    rows, two_keys, key_dtype, value_dtype, sort, observed, sort_within, separator, unseen_at, dropna
):
    frame = pd.DataFrame(rows, columns=["key", "n", "value"]).astype(
        {"key": key_dtype, "n": "int64", "value": value_dtype}
    )
    if key_dtype == "category":  # an unobserved category too (observed=False gives it ""),
        categories = list(frame["key"].cat.categories)  # anywhere in the categories' order
        categories.insert(unseen_at % (len(categories) + 1), "unseen")
        frame["key"] = frame["key"].cat.set_categories(categories)
    keys = ["key", "n"] if two_keys else "key"
    grouped = frame.groupby(keys, sort=sort, observed=observed, dropna=dropna)["value"]
    pd.testing.assert_series_equal(
        join_per_group(grouped, separator, sort_within=sort_within),
        _definition(grouped, separator, sort_within),
        check_index_type=True,
        check_exact=True,
    )


@settings(max_examples=100, deadline=None)
@given(
    keys=st.lists(KEY, min_size=1, max_size=20),
    sort_within=st.booleans(),
    dtype=st.sampled_from(["str", "object"]),
)
def test_join_per_group_raises_as_the_join_on_a_missing_value(keys, sort_within, dtype):
    values = ["x"] * (len(keys) - 1) + [None]
    frame = pd.DataFrame({"key": keys, "value": values}).astype({"value": dtype})
    grouped = frame.groupby("key")["value"]
    try:
        expected = _definition(grouped, ",", sort_within)
    except TypeError:
        with pytest.raises(TypeError):
            join_per_group(grouped, ",", sort_within=sort_within)
    else:  # the missing value's key is missing too: its row is in no group
        pd.testing.assert_series_equal(join_per_group(grouped, ",", sort_within=sort_within), expected)


def test_join_per_group_on_edge_cases():
    empty = pd.DataFrame({"key": pd.Series([], dtype="str"), "value": pd.Series([], dtype="object")})
    for frame in (empty, empty.astype({"value": "str"})):
        for sort in (True, False):
            grouped = frame.groupby("key", sort=sort)["value"]
            pd.testing.assert_series_equal(join_per_group(grouped, ","), grouped.agg(",".join))
    # Text Arrow cannot hold (a lone surrogate) and values that are not text: pandas decides.
    # (pandas itself fails to store the joined surrogate as "str": the same error either way.)
    odd = pd.DataFrame({"key": ["a", "a", "b"], "value": ["x", "\ud800", "y"]}, dtype="object")
    grouped = odd.groupby("key")["value"]
    with pytest.raises(UnicodeEncodeError):
        grouped.agg("|".join)
    with pytest.raises(UnicodeEncodeError):
        join_per_group(grouped, "|")
    numbers = pd.DataFrame({"key": ["a", "b"], "value": [1, 2]}).groupby("key")["value"]
    with pytest.raises(TypeError):
        join_per_group(numbers, ",")
    # Several rows per group, first-appearance order of groups, row order within each.
    frame = pd.DataFrame({"key": ["b", "a", "b", "c", "a"], "value": ["3", "2", "1", "4", "0"]})
    joined = join_per_group(frame.groupby("key", sort=False)["value"], "; ")
    assert joined.to_dict() == {"b": "3; 1", "a": "2; 0", "c": "4"}
    assert list(joined.index) == ["b", "a", "c"]
    ordered = join_per_group(frame.groupby("key")["value"], ", ", sort_within=True)
    assert ordered.to_dict() == {"a": "0, 2", "b": "1, 3", "c": "4"}
