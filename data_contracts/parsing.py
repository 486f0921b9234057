"""Turn raw table columns (text from CSV, or typed Parquet/SQL columns) into contract types.

Parsing never raises on bad values: a value that cannot be read as its column's type becomes a
row failure with rule ``type`` and the original value, so one bad cell costs one row, not the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


@dataclass(frozen=True)
class ParsedColumn:
    """A column in its contract type plus a mask of the rows whose value could not be parsed."""

    values: pd.Series
    unparseable: pd.Series  # bool, aligned with values


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def _parse_string(
    series: pd.Series, target: pd.api.extensions.ExtensionDtype | np.dtype[Any]
) -> ParsedColumn:
    if pd.api.types.is_string_dtype(series) and not pd.api.types.is_object_dtype(series):
        values = series.astype(target)  # already text (Parquet, Arrow): nothing to convert
    else:
        # Vectorised str() of every present value (ids read as numbers become their digits).
        present = series.notna()
        values = pd.Series(None, index=series.index, dtype="object")
        values[present] = series[present].astype("str").astype("object")
        values = values.astype(target)
    return ParsedColumn(values, pd.Series(False, index=series.index))


def _parse_float(series: pd.Series, target: object) -> ParsedColumn:
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    finite = np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))
    values = values.where(finite)
    return ParsedColumn(values, series.notna() & values.isna())


def _parse_int(series: pd.Series, target: object) -> ParsedColumn:
    numbers = pd.to_numeric(series, errors="coerce").astype("float64")
    integral = numbers.notna() & np.isfinite(numbers) & (numbers == np.round(numbers))
    values = numbers.where(integral).astype("Int64")
    return ParsedColumn(values, series.notna() & ~integral)


def _parse_bool(series: pd.Series, target: object) -> ParsedColumn:
    if pd.api.types.is_bool_dtype(series):
        return ParsedColumn(series.astype("boolean"), pd.Series(False, index=series.index))

    def to_bool(value: object) -> object:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            return pd.NA
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        return pd.NA

    values = series.map(to_bool).astype("boolean")
    return ParsedColumn(values, series.notna() & values.isna())


def _parse_date(series: pd.Series, target: object) -> ParsedColumn:
    """Calendar dates. A value written with a time and offset keeps its own local date: a due
    date exported as local midnight "2024-10-01T00:00:00+02:00" is 1 October, not 30 September."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        values = series.dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(series):
        values = series
    else:
        # Only the leading YYYY-MM-DD (or a full ISO value's date part) names the day.
        text = series.astype("string").str.strip()
        day_part = text.str.extract(r"^(\d{4}-\d{2}-\d{2})(?:$|[T ])", expand=False)
        values = pd.to_datetime(day_part, errors="coerce", format="%Y-%m-%d")
    values = values.dt.normalize().astype("datetime64[ns]")
    return ParsedColumn(values, series.notna() & values.isna())


def parse_utc_timestamps(series: pd.Series) -> pd.Series:
    """Read timestamps as UTC: ISO strings with an offset are converted, without one are UTC."""
    values: pd.Series
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        values = series.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(series):
        values = series.dt.tz_localize("UTC")
    else:
        values = pd.to_datetime(series.astype("string"), errors="coerce", utc=True, format="ISO8601")
    return values.astype("datetime64[ns, UTC]")


def _parse_timestamp(series: pd.Series, target: object) -> ParsedColumn:
    values = parse_utc_timestamps(series)
    return ParsedColumn(values, series.notna() & values.isna())


def _parser_for(
    dtype_name: str,
) -> Callable[[pd.Series, pd.api.extensions.ExtensionDtype | np.dtype[Any]], ParsedColumn]:
    if dtype_name.startswith("string") or dtype_name in {"str", "object"}:
        return _parse_string
    if dtype_name.startswith("float"):
        return _parse_float
    if dtype_name.lower().startswith("int"):
        return _parse_int
    if dtype_name == "bool":
        return _parse_bool
    if dtype_name.startswith("datetime64") and "UTC" in dtype_name:
        return _parse_timestamp
    if dtype_name.startswith("datetime64"):
        return _parse_date
    raise TypeError(f"no parser for contract dtype {dtype_name!r}")


def parse_column(series: pd.Series, column: pa.Column) -> ParsedColumn:
    """Parse one raw column into the dtype the contract declares (nullable while parsing)."""
    if _is_text(series):
        # Blank cells are missing values, whatever the source.
        series = series.where(~series.astype("string").str.strip().fillna("").eq(""))
    return _parser_for(str(column.dtype))(series, column.dtype.type)


def finalize_dtypes(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Cast parsed columns to the exact contract dtypes once no missing value breaks them."""
    out = frame.copy()
    for name, column in schema.columns.items():
        if name not in out.columns:  # an optional column the delivery leaves out
            continue
        dtype_name = str(column.dtype)
        if dtype_name in {"int64", "bool"}:
            out[name] = out[name].astype(dtype_name)
        elif dtype_name.startswith("string"):
            out[name] = out[name].astype(column.dtype.type)
    return out


def csv_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as CSV should show it: calendar dates as YYYY-MM-DD, instants as ISO 8601
    with their offset (never cut to a date)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            text = values.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
            out[column] = text.where(values.notna(), None)
        elif pd.api.types.is_datetime64_dtype(values):
            is_date = values.dropna().eq(values.dropna().dt.normalize()).all()
            text = values.dt.strftime("%Y-%m-%d" if is_date else "%Y-%m-%dT%H:%M:%S")
            out[column] = text.where(values.notna(), None)
    return out
