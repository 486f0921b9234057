"""Small frame helpers the scoring core needs at scale."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# A partitioned result's pieces: frames or Series (see :func:`combine`).
FrameT = TypeVar("FrameT", pd.DataFrame, pd.Series)


def member_of(values: pd.Series, allowed: Iterable[object]) -> np.ndarray:
    """Which of ``values`` (identifiers) are in ``allowed``, as a boolean array.

    Same answer as ``values.isin(allowed)``, but a hash lookup in Arrow: pandas' ``isin`` on
    its string dtype converts every allowed value in Python, which costs seconds per call when
    both sides hold millions of loan ids.
    """
    if not isinstance(allowed, pd.Series | pd.Index):
        allowed = list(allowed)
    lookup = _arrow_text(pd.Series(allowed, dtype="str"))
    keys = _arrow_text(pd.Series(values, dtype="str"))
    member: np.ndarray = pc.is_in(keys, value_set=lookup).fill_null(False).to_numpy(zero_copy_only=False)
    return member  # pyarrow ships no type information


def _arrow_text(series: pd.Series) -> pa.Array:
    """The column as one Arrow large_string array (no Python-level copy for Arrow-backed text)."""
    array = pa.Array.from_pandas(series.reset_index(drop=True))
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def combine(pieces: Sequence[FrameT], index: pd.Index | None = None) -> FrameT:
    """The pieces of a partitioned result (frames or Series) as one, in the order of ``index``
    when given (the unpartitioned input's index), else in the order of the pieces."""
    if len(pieces) == 1 and (index is None or pieces[0].index.equals(index)):
        return pieces[0]  # unpartitioned: nothing to combine
    non_empty = [piece for piece in pieces if len(piece)] or list(pieces[:1])
    out: FrameT = pd.concat(non_empty)
    return out if index is None else out.reindex(index)


def in_key_order(frame: pd.DataFrame, reference: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The rows of ``frame`` in the order their ``keys`` have in ``reference`` (keys unique);
    rows whose keys ``reference`` lacks go last. A fresh index."""
    position = pd.MultiIndex.from_frame(reference[keys]).get_indexer(pd.MultiIndex.from_frame(frame[keys]))
    position = np.where(position < 0, len(reference), position)
    return frame.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
