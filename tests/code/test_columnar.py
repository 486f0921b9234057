"""Arrow-kernel column operations answer exactly as pandas does (data_contracts/columnar.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.columnar import is_in

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
