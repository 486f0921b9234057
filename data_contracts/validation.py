"""Validate a delivery of the six input tables against the contract, all failures at once.

Two kinds of problems:
- structural (a table or column is missing, a column is not in the contract, a file cannot be
  read): nothing can be trusted, :class:`ContractError` is raised naming table, column and rule;
- row failures (a value of the wrong type, out of range, an unknown code, a duplicate id, an
  orphan): every failing row is reported with the rules it broke; the remaining rows are
  returned in their contract types.

Rows failing a rule are quarantined, never silently dropped; exact duplicate rows are collapsed
and counted. Valid events at or after the night's cut-off (a call made after midnight on the
lender's clock, in an extract taken at 02:00) are not bad rows: they are *held* for a later
night, reported and not counted against the bad-row ceiling. Per table, always:
rows in = accepted + quarantined + held + duplicates collapsed.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd
import pandera.pandas as pa

from data_contracts.columnar import is_in
from data_contracts.cutoff import AsOf, Cutoff, as_of_date, as_of_instant
from data_contracts.enums import OPTIONAL_TABLES, TABLES
from data_contracts.inputs import (
    DATAFRAME_CHECK_COLUMNS,
    EVENT_TIME_COLUMNS,
    FOREIGN_KEYS,
    INPUT_MODELS,
    OPTIONAL_COLUMNS,
    PERSONAL_COLUMNS,
    PRIMARY_KEYS,
    SCHEDULED_DATE_COLUMNS,
)
from data_contracts.parsing import finalize_dtypes, parse_column

FAILURE_COLUMNS = ["table", "row", "key", "column", "rule", "value"]
QUARANTINE_COLUMNS = ["run_id", "table", "source", "row", "line", "key", "rules", "raw"]

_MAX_RULE_LENGTH = 80


@dataclass(frozen=True)
class StructuralProblem:
    """A problem that makes a whole table unusable."""

    table: str
    column: str | None
    rule: str
    detail: str = ""

    def __str__(self) -> str:
        where = f"table '{self.table}'" + (f", column '{self.column}'" if self.column else "")
        return f"{where}: {self.rule}" + (f" ({self.detail})" if self.detail else "")


class ContractError(Exception):
    """Structural contract violations: the run must stop and publish nothing."""

    def __init__(self, problems: list[StructuralProblem]):
        self.problems = problems
        super().__init__("input contract violated:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class ValidationResult:
    """Accepted rows per table (contract types) and one row per (row, column, rule) failure."""

    tables: dict[str, pd.DataFrame]
    failures: pd.DataFrame
    rows_in: dict[str, int]
    as_of: dt.date | None = None
    quarantined_rows: dict[str, pd.DataFrame] = field(default_factory=dict)
    # Valid rows at or after the cut-off (contract types): a later night's events, not errors.
    held_rows: dict[str, pd.DataFrame] = field(default_factory=dict)
    cutoff: Cutoff | None = None
    duplicates_collapsed: dict[str, int] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    source_lines: dict[str, np.ndarray] = field(default_factory=dict)  # CSV: line of each row
    # Personal data, kept apart from ``tables`` so features, explanations, the review and MLflow
    # never see it: the accepted ``contact_points`` and the borrowers' ``display_name``
    # (``borrowers``: borrower_id, display_name). Empty when the book gives neither.
    contact_details: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def is_valid(self) -> bool:
        return self.failures.empty

    def counts(self) -> pd.DataFrame:
        """Per table: rows in = accepted + quarantined + duplicates collapsed + held (valid rows
        after the cut-off, for a later night)."""
        rows = []
        for table in [*TABLES, *(t for t in OPTIONAL_TABLES if t in self.rows_in)]:
            accepted = self.tables.get(table, self.contact_details.get(table))
            rows.append(
                {
                    "table": table,
                    "rows_in": self.rows_in.get(table, 0),
                    "accepted": 0 if accepted is None else len(accepted),
                    "quarantined": len(self.quarantined_rows.get(table, ())),
                    "duplicates_collapsed": self.duplicates_collapsed.get(table, 0),
                    "held": len(self.held_rows.get(table, ())),
                }
            )
        return pd.DataFrame(rows)

    def held_summary(self) -> dict[str, dict[str, int | str]]:
        """Per table with held rows: how many, and the earliest and latest held time (ISO)."""
        out: dict[str, dict[str, int | str]] = {}
        for table, rows in self.held_rows.items():
            if rows.empty:
                continue
            column = EVENT_TIME_COLUMNS.get(table) or SCHEDULED_DATE_COLUMNS[table]
            out[table] = {
                "rows": len(rows),
                "column": column,
                "first": pd.Timestamp(rows[column].min()).isoformat(),
                "last": pd.Timestamp(rows[column].max()).isoformat(),
            }
        return out

    def with_held_rows(self) -> dict[str, pd.DataFrame]:
        """Accepted plus held rows per table: every valid row delivered (what a store keeps)."""
        return {
            table: pd.concat([frame, self.held_rows[table]], ignore_index=True)
            if len(self.held_rows.get(table, ()))
            else frame
            for table, frame in self.tables.items()
        }

    def bad_share(self) -> dict[str, float]:
        """Quarantined rows over rows in, per table."""
        counts = self.counts().set_index("table")
        # The index is the table names and the values floats; the stubs type to_dict() loosely.
        return cast("dict[str, float]", (counts["quarantined"] / counts["rows_in"].clip(lower=1)).to_dict())

    def tables_over(self, max_bad_share: float) -> dict[str, float]:
        """Tables whose share of quarantined rows exceeds ``max_bad_share``."""
        return {t: share for t, share in self.bad_share().items() if share > max_bad_share}

    def quarantine(self, run_id: str) -> pd.DataFrame:
        """One row per quarantined input row: where it came from, every rule it broke, the row.

        ``line`` is the line in a CSV source (header = line 1); ``row`` the 0-based row position
        in any source; ``raw`` the row as delivered, as JSON.
        """
        frames = []
        for table, rows in self.quarantined_rows.items():
            if rows.empty:
                continue
            failures = self.failures[self.failures["table"] == table]
            rules = (
                (failures["column"] + ": " + failures["rule"])
                .groupby(failures["row"])
                .agg(lambda r: "; ".join(dict.fromkeys(r)))
            )
            source = self.sources.get(table, table)
            positions = rows.index.astype("int64")
            frames.append(
                pd.DataFrame(
                    {
                        "run_id": run_id,
                        "table": table,
                        "source": source,
                        "row": positions,
                        "line": self.source_lines[table][positions] if table in self.source_lines else pd.NA,
                        "key": row_keys(table, rows).to_numpy(),
                        "rules": rules.reindex(positions).to_numpy(),
                        "raw": _masked(table, rows)
                        .to_json(orient="records", lines=True, date_format="iso")
                        .splitlines(),
                    }
                )
            )
        columns = QUARANTINE_COLUMNS
        if not frames:
            return pd.DataFrame(columns=columns)
        out = pd.concat(frames, ignore_index=True)
        out["line"] = out["line"].astype("Int64")
        return out[columns]

    def describe_failures(self, limit: int | None = 20) -> list[str]:
        """One line per (table, column, rule): how many rows broke it and an example."""
        by_rule = self.failures_by_rule()
        lines = [
            f"table '{r.table}', column '{r.column}': {r.rule} "
            f"({r.rows:,} rows, e.g. row {r.example_row} = {r.example_value!r})"
            for r in (by_rule if limit is None else by_rule.head(limit)).itertuples()
        ]
        if limit is not None and len(by_rule) > limit:
            lines.append(f"... and {len(by_rule) - limit} more (table, column, rule) combinations")
        return lines

    def failures_by_rule(self) -> pd.DataFrame:
        """Failure counts per (table, column, rule), with an example row and value."""
        if self.failures.empty:
            return pd.DataFrame(columns=["table", "column", "rule", "rows", "example_row", "example_value"])
        grouped = self.failures.groupby(["table", "column", "rule"], sort=True, dropna=False)
        return grouped.agg(
            rows=("row", "nunique"), example_row=("row", "first"), example_value=("value", "first")
        ).reset_index()


PERSONAL_DATA_MASK = "[personal data]"


def _masked(table: str, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the table's personal columns masked: a quarantine report names the bad row
    and its rules, it does not copy a phone number or a name into the output folder."""
    personal = [c for c in PERSONAL_COLUMNS.get(table, ()) if c in rows.columns]
    return rows.assign(**dict.fromkeys(personal, PERSONAL_DATA_MASK)) if personal else rows


def delivered_tables(raw: Mapping[str, object]) -> list[str]:
    """The input tables of a delivery, parents before children: the six required ones and the
    optional ones it carries."""
    return [*TABLES, *(table for table in OPTIONAL_TABLES if table in raw)]


def check_structure(raw: Mapping[str, pd.DataFrame]) -> None:
    """Raise :class:`ContractError` for missing tables, missing columns or unknown columns
    (optional tables and columns may be absent)."""
    problems: list[StructuralProblem] = []
    for table in delivered_tables(raw):
        if table not in raw:
            problems.append(StructuralProblem(table, None, "table missing"))
            continue
        expected = list(INPUT_MODELS[table].to_schema().columns)
        present = list(raw[table].columns)
        for column in expected:
            if column not in present and column not in OPTIONAL_COLUMNS.get(table, ()):
                problems.append(StructuralProblem(table, column, "column missing"))
        for column in present:
            if column not in expected:
                problems.append(StructuralProblem(table, column, "column not in contract (strict schema)"))
    if problems:
        raise ContractError(problems)


def _failure_frame(
    table: str, raw: pd.DataFrame, rows: pd.Index, column: str, rule: str, values: pd.Series
) -> pd.DataFrame:
    keys = row_keys(table, raw.loc[rows])
    return pd.DataFrame(
        {
            "table": table,
            "row": rows.astype("int64"),
            "key": keys.to_numpy(),
            "column": column,
            "rule": _short_rule(rule),
            "value": (
                PERSONAL_DATA_MASK
                if column in PERSONAL_COLUMNS.get(table, ())
                else values.loc[rows].map(_show).to_numpy()
            ),
        }
    )


def _show(value: object) -> str:
    # pd.isna takes any object; the stubs only list array-likes and known scalar types.
    missing = value is None or (not isinstance(value, str) and pd.isna(value))  # type: ignore[call-overload]
    return "<missing>" if missing else str(value)


def _short_rule(rule: str) -> str:
    if rule.startswith("isin(") and len(rule) > _MAX_RULE_LENGTH:
        return "isin(allowed values)"
    return rule if len(rule) <= _MAX_RULE_LENGTH else rule[: _MAX_RULE_LENGTH - 3] + "..."


def row_keys(table: str, frame: pd.DataFrame) -> pd.Series:
    """Each row's primary key as text (parts joined by "|"), naming rows in reports."""
    key_columns = [c for c in PRIMARY_KEYS[table] if c in frame.columns]
    if not key_columns or frame.empty:
        return pd.Series("", index=frame.index, dtype=object)
    parts = frame[key_columns].astype("string").fillna("<missing>")
    return parts.agg("|".join, axis=1) if len(key_columns) > 1 else parts[key_columns[0]]


def _parse_table(table: str, raw: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    schema = INPUT_MODELS[table].to_schema()
    typed = {}
    failures = []
    for name, column in schema.columns.items():
        if name not in raw.columns:  # an optional column the delivery leaves out
            continue
        parsed = parse_column(raw[name], column)
        typed[name] = parsed.values
        bad = raw.index[parsed.unparseable.to_numpy()]
        if len(bad):
            failures.append(
                _failure_frame(table, raw, bad, name, f"type: expected {column.dtype}", raw[name])
            )
        if not column.nullable:
            missing = raw.index[(parsed.values.isna() & ~parsed.unparseable).to_numpy()]
            if len(missing):
                failures.append(_failure_frame(table, raw, missing, name, "not_nullable", raw[name]))
    return pd.DataFrame(typed, index=raw.index), failures


@functools.cache
def _rule_schema(table: str) -> pa.DataFrameSchema:
    """The table's schema with nullability and exact int/bool dtypes relaxed.

    Those two are checked while parsing; relaxing them here lets every other rule run on every
    row, so a row with one unparseable cell still reports its other problems.
    """
    schema = INPUT_MODELS[table].to_schema()
    relaxed = {"int64": "Int64", "bool": "boolean"}
    updates = {
        name: {"nullable": True, **({"dtype": relaxed[str(c.dtype)]} if str(c.dtype) in relaxed else {})}
        for name, c in schema.columns.items()
    }
    return schema.update_columns(updates)


def _pandera_failures(table: str, raw: pd.DataFrame, typed: pd.DataFrame) -> list[pd.DataFrame]:
    schema = _rule_schema(table)
    try:
        schema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return []
    failures = []
    unique = schema.unique or []
    for (context, column, check), group in cases.groupby(
        ["schema_context", "column", "check"], sort=False, dropna=False
    ):
        check_name = str(check)
        if context == "DataFrameSchema" or "uniqueness" in check_name:
            # Frame-wide checks are reported once per row, under the column a reader must fix.
            if "uniqueness" in check_name and unique:
                column = ",".join(unique)
            else:
                column = DATAFRAME_CHECK_COLUMNS.get(check_name, str(column))
        rows = pd.Index(group["index"].dropna().astype("int64").unique())
        if len(rows) == 0:
            raise ContractError([StructuralProblem(table, str(column), check_name)])
        first = str(column).split(",")[0]
        source = raw[first] if first in raw.columns else pd.Series("", index=raw.index)
        failures.append(_failure_frame(table, raw, rows, str(column), check_name, source))
    return _dedupe(failures)


def _dedupe(failures: list[pd.DataFrame]) -> list[pd.DataFrame]:
    if not failures:
        return failures
    return [pd.concat(failures, ignore_index=True).drop_duplicates(["row", "column", "rule"])]


def _rows_in(failures: list[pd.DataFrame]) -> pd.Index:
    if not failures:
        return pd.Index([], dtype="int64")
    rows: pd.Index = pd.Index(pd.concat(failures)["row"].unique())
    return rows


def validate_tables(raw: Mapping[str, pd.DataFrame], as_of: AsOf | None = None) -> ValidationResult:
    """Validate the six tables: structure first (raises), then every row rule (reported).

    Rows failing a rule are quarantined (kept in ``quarantined_rows`` with every rule they broke
    in ``failures``), not returned; rows of child tables pointing at a quarantined or unknown
    parent are quarantined too (rule ``foreign_key``). With ``as_of`` (a work day on a UTC clock,
    or a :class:`~features.point_in_time.Cutoff` on the lender's), valid events at or after its
    cut-off instant and flags starting after the work day (a flag starting on it is in force
    that day) are held for a later night in ``held_rows``: neither accepted nor quarantined.
    Exact duplicate rows are collapsed and counted; rows sharing a key with different content
    are all quarantined (uniqueness rules).
    """
    check_structure(raw)
    all_failures: list[pd.DataFrame] = []
    accepted: dict[str, pd.DataFrame] = {}
    quarantined: dict[str, pd.DataFrame] = {}
    held: dict[str, pd.DataFrame] = {}
    collapsed: dict[str, int] = {}

    tables = delivered_tables(raw)
    for table in tables:  # parents before children, so orphans cascade
        delivered = raw[table].reset_index(drop=True)
        delivered.attrs = {}  # provenance is read once below; pandas would compare it on every concat
        # An exact repeat of a row is one fact delivered twice: keep one, count the rest.
        repeats = _exact_repeats(delivered)
        collapsed[table] = int(repeats.sum())
        frame = delivered[~repeats.to_numpy()]
        typed, failures = _parse_table(table, frame)
        schema = INPUT_MODELS[table].to_schema()
        failures += _pandera_failures(table, frame, typed)

        for (child, child_column), (parent, parent_column) in FOREIGN_KEYS.items():
            if child != table:
                continue
            known = accepted[parent][parent_column]
            orphan = ~is_in(typed[child_column], known) & typed[child_column].notna().to_numpy()
            rows = typed.index[orphan]
            if len(rows):
                failures.append(
                    _failure_frame(
                        table,
                        frame,
                        rows,
                        child_column,
                        f"foreign_key({parent}.{parent_column})",
                        frame[child_column],
                    )
                )
        bad = _rows_in(failures)
        later = _after_cutoff(table, typed, as_of).difference(bad)
        quarantined[table] = frame.loc[bad].sort_index()
        held[table] = finalize_dtypes(typed.loc[later], schema).reset_index(drop=True)
        accepted[table] = finalize_dtypes(typed.drop(index=bad.union(later)), schema).reset_index(drop=True)
        all_failures += failures

    failures_frame = (
        pd.concat(all_failures, ignore_index=True) if all_failures else pd.DataFrame(columns=FAILURE_COLUMNS)
    )
    accepted, contact_details = _personal_data_apart(accepted)
    return ValidationResult(
        tables=accepted,
        contact_details=contact_details,
        failures=failures_frame,
        rows_in={t: len(raw[t]) for t in tables},
        as_of=None if as_of is None else as_of_date(as_of).date(),
        quarantined_rows=quarantined,
        held_rows=held,
        cutoff=None if as_of is None else (as_of if isinstance(as_of, Cutoff) else Cutoff(as_of_date(as_of))),
        duplicates_collapsed=collapsed,
        sources={t: str(raw[t].attrs.get("source", t)) for t in tables},
        source_lines={
            t: raw[t].attrs["lines"]
            for t in tables
            if "lines" in raw[t].attrs and len(raw[t].attrs["lines"]) == len(raw[t])
        },
    )


def _personal_data_apart(
    accepted: dict[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The accepted tables without personal data, and that data apart: ``contact_points`` and
    the borrowers' ``display_name`` (as ``borrowers``: borrower_id, display_name)."""
    tables = dict(accepted)
    details: dict[str, pd.DataFrame] = {}
    if "contact_points" in tables:
        details["contact_points"] = tables.pop("contact_points")
    borrowers = tables["borrowers"]
    if "display_name" in borrowers.columns:
        details["borrowers"] = borrowers[["borrower_id", "display_name"]].reset_index(drop=True)
        tables["borrowers"] = borrowers.drop(columns="display_name")
    return tables, details


def _after_cutoff(table: str, typed: pd.DataFrame, as_of: AsOf | None) -> pd.Index:
    """Rows of ``table`` that belong to a later night: events at or after the cut-off instant,
    flags starting after the work day."""
    if as_of is None:
        return pd.Index([], dtype="int64")
    if table in EVENT_TIME_COLUMNS:
        values = typed[EVENT_TIME_COLUMNS[table]]
        limit = as_of_instant(as_of) if isinstance(values.dtype, pd.DatetimeTZDtype) else as_of_date(as_of)
        return typed.index[(values >= limit).fillna(False).to_numpy()]
    if table in SCHEDULED_DATE_COLUMNS:
        values = typed[SCHEDULED_DATE_COLUMNS[table]]
        return typed.index[(values > as_of_date(as_of)).fillna(False).to_numpy()]
    return pd.Index([], dtype="int64")


def _exact_repeats(frame: pd.DataFrame) -> pd.Series:
    """True for every row identical, cell for cell (missing equals missing), to an earlier one."""
    if frame.empty:
        return pd.Series(False, index=frame.index)
    # Row hashes find the candidates fast (missing hashes equal missing); only rows sharing a hash
    # are compared cell for cell, so a hash collision can never collapse two different rows.
    hashes = pd.util.hash_pandas_object(frame, index=False)
    candidates = hashes.duplicated(keep=False).to_numpy()
    repeats = pd.Series(False, index=frame.index)
    if candidates.any():
        as_text = frame[candidates].astype("string").fillna("\x00<missing>")
        repeats[candidates] = as_text.duplicated(keep="first").to_numpy()
    return repeats
