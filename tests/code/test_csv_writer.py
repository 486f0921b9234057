"""The CSV files of a run are a public interface: the DuckDB writer that publishes large frames
must write exactly the bytes pandas' ``to_csv`` wrote before it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import io
from data_contracts.parsing import csv_text

TEXT = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(
        [
            "a,b",
            'say "hi"',
            "line\nbreak",
            " lead",
            "trail ",
            "é ü 中",
            "True",
            "1.0",
            "NA",
            "cr\rlf\r\n",
            "tab\t",
        ]
    ),
    st.text(max_size=8),
)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.1, 1.0, 1e-05, 1e16, 1e15, 123456.789, -0.0, 1 / 3, 5e-324, 2.5, 1e23]),
)


@st.composite
def frames(draw):
    n = draw(st.integers(1, 25))

    def column(strategy):
        return draw(st.lists(strategy, min_size=n, max_size=n))

    floats = np.array(column(FLOATS), dtype="float64")
    instants = column(st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2090, 1, 1)))
    frame = pd.DataFrame(
        {
            "text": pd.Series(column(TEXT), dtype="object"),
            "arrow_text": pd.Series(column(TEXT), dtype="str"),
            "category": pd.Categorical(column(st.sampled_from(["call", "sms", "", "a,b"]))),
            "float": floats,
            "float32": np.array(column(st.floats(-1e6, 1e6, width=32)), dtype="float32"),
            "int": np.array(column(st.integers(-(2**62), 2**62)), dtype="int64"),
            "nullable_int": pd.array(column(st.one_of(st.none(), st.integers(-1000, 1000))), dtype="Int64"),
            "flag": np.array(column(st.booleans()), dtype="bool"),
            "nullable_flag": pd.array(column(st.one_of(st.none(), st.booleans())), dtype="boolean"),
            "day": pd.to_datetime([i.date() for i in instants]),
            "instant": pd.to_datetime(instants).tz_localize("UTC"),
            "naive": pd.to_datetime(instants),
        }
    )
    chosen = draw(st.lists(st.sampled_from(list(frame.columns)), min_size=1, unique=True))
    return frame[chosen]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(frame=frames())
def test_the_duckdb_writer_writes_the_bytes_pandas_wrote(frame, tmp_path_factory, monkeypatch):
    monkeypatch.setattr(io, "_DUCKDB_FROM_ROWS", 0)
    path = tmp_path_factory.mktemp("csv") / "frame.csv"
    io.write_csv(frame, path)
    assert path.read_bytes() == csv_text(frame).to_csv(index=False).encode("utf-8")


def test_a_frame_arrow_cannot_type_is_written_by_pandas(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_DUCKDB_FROM_ROWS", 0)
    frame = pd.DataFrame({"mixed": [1, "a", 2.5, None], "n": [1, 2, 3, 4]})
    io.write_csv(frame, tmp_path / "mixed.csv")
    assert (tmp_path / "mixed.csv").read_text() == frame.to_csv(index=False)


@pytest.mark.parametrize("rows", [0, 5, 12_000])
def test_both_paths_write_a_real_sized_frame_alike(tmp_path, rows):
    rng = np.random.default_rng(rows)
    frame = pd.DataFrame(
        {
            "loan_id": [f"L{i:07d}" for i in range(rows)],
            "p": rng.random(rows),
            "reason": np.where(rng.random(rows) < 0.5, "Days past due: 2, above most", ""),
            "within_capacity": rng.random(rows) < 0.5,
        }
    )
    io.write_csv(frame, tmp_path / "f.csv")
    assert (tmp_path / "f.csv").read_text() == frame.to_csv(index=False)
