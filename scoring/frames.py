"""Small frame helpers the scoring core needs at scale."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def member_of(values: pd.Series, allowed: Iterable) -> np.ndarray:
    """Which of ``values`` (identifiers) are in ``allowed``, as a boolean array.

    Same answer as ``values.isin(allowed)``, but a hash lookup in Arrow: pandas' ``isin`` on
    its string dtype converts every allowed value in Python, which costs seconds per call when
    both sides hold millions of loan ids.
    """
    if not isinstance(allowed, pd.Series | pd.Index):
        allowed = list(allowed)
    lookup = _arrow_text(pd.Series(allowed, dtype="str"))
    keys = _arrow_text(pd.Series(values, dtype="str"))
    return pc.is_in(keys, value_set=lookup).fill_null(False).to_numpy(zero_copy_only=False)


def _arrow_text(series: pd.Series) -> pa.Array:
    """The column as one Arrow large_string array (no Python-level copy for Arrow-backed text)."""
    array = pa.Array.from_pandas(series.reset_index(drop=True))
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())
