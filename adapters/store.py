"""The engine's own embedded store: validated input rows accumulated in one DuckDB file.

Deliveries arrive as overlapping extracts (yesterday's payments again, plus today's). The store
appends them idempotently by primary key: a new key is inserted, a key already stored with the
same content is skipped, and a key stored with different content is a conflict that is reported
and never written, because history the engine was trained and scored on must not change behind
its back. Each store table has exactly the contract's columns, so the file can also be read as
a ``duckdb:///...`` source by :mod:`adapters.sources`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from data_contracts.enums import TABLES
from data_contracts.inputs import INPUT_MODELS, OPTIONAL_COLUMNS, PRIMARY_KEYS
from data_contracts.validation import QUARANTINE_COLUMNS, ContractError, StructuralProblem, row_keys

STORE_FILE_NAME = "store.duckdb"

# Why a conflicting row was held back (the ``conflict`` column of IngestReport.conflicts).
DIFFERS_FROM_STORED = "key already stored with different content"
REPEATED_IN_DELIVERY = "key repeated in this delivery with different content"

# Row position inside a delivery, carried through SQL to map results back to rows.
_ROW = "__recover_row"


def default_store_path(state_dir: Path) -> Path:
    """Where the store lives inside the engine's state folder."""
    return Path(state_dir) / STORE_FILE_NAME


# --- column types: the contract's pandas dtypes and their DuckDB storage ----------------------


@dataclass(frozen=True)
class _ColumnSpec:
    name: str
    kind: str  # text, float, int, bool, date, timestamp
    nullable: bool


_SQL_TYPES = {
    "text": "VARCHAR",
    "float": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "date": "DATE",
    # Nanoseconds, naive, holding UTC instants: TIMESTAMPTZ keeps only microseconds, and a
    # timestamp that lost digits would compare unequal to its own re-delivery.
    "timestamp": "TIMESTAMP_NS",
}


def _kind(dtype_name: str) -> str:
    if dtype_name.startswith("string") or dtype_name in {"str", "object"}:
        return "text"
    if dtype_name.startswith("float"):
        return "float"
    if dtype_name.lower().startswith("int"):
        return "int"
    if dtype_name == "bool":
        return "bool"
    if dtype_name.startswith("datetime64") and "UTC" in dtype_name:
        return "timestamp"
    if dtype_name.startswith("datetime64"):
        return "date"
    raise TypeError(f"no store type for contract dtype {dtype_name!r}")


def contract_columns(table: str) -> list[_ColumnSpec]:
    """The contract's columns of ``table``, in contract order, with their storage kind. The
    optional columns (personal data: ``borrowers.display_name``) are not stored."""
    columns = INPUT_MODELS[table].to_schema().columns
    optional = OPTIONAL_COLUMNS.get(table, ())
    return [
        _ColumnSpec(name, _kind(str(column.dtype)), column.nullable)
        for name, column in columns.items()
        if name not in optional
    ]


def _pandas_dtype(spec: _ColumnSpec) -> str:
    """The dtype validation gives a column (nullable ints are Int64, non-null ones int64)."""
    return {
        "text": "str",
        "float": "float64",
        "int": "Int64" if spec.nullable else "int64",
        "bool": "bool",
        "date": "datetime64[ns]",
        "timestamp": "datetime64[ns, UTC]",
    }[spec.kind]


def to_contract_dtypes(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Cast a frame read from the store to the dtypes validation produces for ``table``."""
    out = {}
    for spec in contract_columns(table):
        values = frame[spec.name]
        if spec.kind == "timestamp":
            values = pd.to_datetime(values).astype("datetime64[ns]").dt.tz_localize("UTC")
        elif spec.kind == "date":
            values = pd.to_datetime(values).astype("datetime64[ns]")
        else:
            values = values.astype(_pandas_dtype(spec))
        out[spec.name] = values
    return pd.DataFrame(out, index=frame.index)


def empty_table(table: str) -> pd.DataFrame:
    """A frame with no rows and the contract's columns and dtypes."""
    return pd.DataFrame({spec.name: pd.Series(dtype=_pandas_dtype(spec)) for spec in contract_columns(table)})


def _create_table_sql(table: str, key: tuple[str, ...]) -> str:
    columns = [
        f'"{spec.name}" {_SQL_TYPES[spec.kind]}' + ("" if spec.nullable else " NOT NULL")
        for spec in contract_columns(table)
    ]
    primary_key = ", ".join(f'"{c}"' for c in key)
    return f'CREATE TABLE IF NOT EXISTS "{table}" ({", ".join(columns)}, PRIMARY KEY ({primary_key}))'


# --- pure logic: classifying a delivery's rows --------------------------------------------------


@dataclass(frozen=True)
class DeliveryGroups:
    """A delivery's rows grouped by exact content.

    ``representative[i]`` is the position of the first row with the same content as row ``i``
    (itself for a first occurrence); ``clashing`` marks representatives whose key also occurs
    with different content in the same delivery.
    """

    representative: np.ndarray
    clashing: np.ndarray


def group_delivery(frame: pd.DataFrame, key: tuple[str, ...]) -> DeliveryGroups:
    """Group identical rows (nulls equal to nulls) and flag keys delivered with two contents."""
    n = len(frame)
    positions = np.arange(n)
    if n == 0 or not frame.duplicated(subset=list(key), keep=False).any():
        # The usual case: every key once, so every row represents itself and nothing clashes.
        return DeliveryGroups(positions, np.zeros(n, dtype=bool))
    content_group = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    first_of_group = pd.Series(positions).groupby(content_group).transform("min").to_numpy()
    is_representative = first_of_group == positions
    distinct = frame[is_representative]
    clashing_representatives = distinct.duplicated(subset=list(key), keep=False).to_numpy()
    clashing = np.zeros(n, dtype=bool)
    clashing[positions[is_representative][clashing_representatives]] = True
    return DeliveryGroups(first_of_group, clashing)


@dataclass(frozen=True)
class RowOutcomes:
    """Per delivery row: inserted, already present, or conflict (with the reason)."""

    inserted: np.ndarray
    already_present: np.ndarray
    conflict_reason: pd.Series  # str, empty for rows that are not conflicts


def decide_rows(
    groups: DeliveryGroups, key_stored: np.ndarray, identical_to_stored: np.ndarray
) -> RowOutcomes:
    """Decide every row from its content group and what the store holds for its key.

    ``key_stored`` and ``identical_to_stored`` are meaningful for representatives only. A copy of
    a representative shares its fate, except that it is never inserted a second time.
    """
    rep = groups.representative
    is_representative = rep == np.arange(len(rep))
    clash = groups.clashing[rep]
    differs = ~clash & key_stored[rep] & ~identical_to_stored[rep]
    conflict = clash | differs
    inserted = is_representative & ~conflict & ~key_stored[rep]
    already_present = ~conflict & ~inserted
    reason = np.where(clash, REPEATED_IN_DELIVERY, np.where(differs, DIFFERS_FROM_STORED, ""))
    return RowOutcomes(inserted, already_present, pd.Series(reason, dtype="str"))


# --- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableIngest:
    """Rows of one table in one ingest: received = inserted + already_present + conflicts."""

    received: int
    inserted: int
    already_present: int
    conflicts: int


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did, per table, and the conflicting incoming rows (never written)."""

    tables: dict[str, TableIngest]
    conflicts: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def has_conflicts(self) -> bool:
        return any(counts.conflicts for counts in self.tables.values())

    def counts(self) -> pd.DataFrame:
        """One row per table: received, inserted, already_present, conflicts."""
        return pd.DataFrame(
            [{"table": table, **vars(counts)} for table, counts in self.tables.items()],
            columns=["table", "received", "inserted", "already_present", "conflicts"],
        )


# --- the store ----------------------------------------------------------------------------------


class EngineStore:
    """The six input tables accumulated across deliveries in one DuckDB file.

    A connection is opened per call and closed after it, so the file is not held open between
    commands; DuckDB allows one writing process at a time, so two ingests must not run at once.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"EngineStore({str(self.path)!r})"

    @property
    def url(self) -> str:
        """The store as a ``duckdb:///`` URL, readable by :func:`adapters.sources.read_database_tables`."""
        return f"duckdb:///{self.path.resolve()}"

    def exists(self) -> bool:
        return self.path.is_file()

    def ingest(
        self,
        tables: Mapping[str, pd.DataFrame],
        primary_keys: Mapping[str, tuple[str, ...]] = PRIMARY_KEYS,
    ) -> IngestReport:
        """Append validated rows (contract types) idempotently, all tables in one transaction.

        Per table and primary key: a new key is inserted; a key stored with identical content
        (exact, nulls equal) is counted as already present; a key stored with different content,
        or delivered twice with different contents, is a conflict: not written, returned in
        ``report.conflicts[table]`` (the incoming rows plus a ``conflict`` reason). Any error
        rolls the whole ingest back.
        """
        batches = {table: self._checked_batch(table, frame) for table, frame in tables.items()}
        keys = {table: tuple(key) for table, key in {**PRIMARY_KEYS, **primary_keys}.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        counts: dict[str, TableIngest] = {}
        conflicts: dict[str, pd.DataFrame] = {}
        with duckdb.connect(str(self.path)) as connection:
            connection.begin()
            try:
                # The six tables always; an optional table (arrangements) once a delivery has it.
                for table in [*TABLES, *(name for name in batches if name not in TABLES)]:
                    connection.execute(_create_table_sql(table, keys[table]))
                for table, batch in batches.items():
                    outcomes = self._ingest_table(connection, table, batch, keys[table])
                    counts[table] = TableIngest(
                        received=len(batch),
                        inserted=int(outcomes.inserted.sum()),
                        already_present=int(outcomes.already_present.sum()),
                        conflicts=int((outcomes.conflict_reason != "").sum()),
                    )
                    if counts[table].conflicts:
                        conflicting = (outcomes.conflict_reason != "").to_numpy()
                        rows = tables[table].iloc[np.flatnonzero(conflicting)].copy()
                        rows["conflict"] = outcomes.conflict_reason[conflicting].to_numpy()
                        conflicts[table] = rows
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
        return IngestReport(tables=counts, conflicts=conflicts)

    @staticmethod
    def _checked_batch(table: str, frame: pd.DataFrame) -> pd.DataFrame:
        """The delivery's contract columns in contract order, positions 0..n-1."""
        if table not in INPUT_MODELS:
            raise ValueError(f"unknown input table {table!r}; known: {list(TABLES)}")
        expected = [spec.name for spec in contract_columns(table)]
        if sorted(frame.columns) != sorted(expected):
            raise ValueError(
                f"{table}: columns {sorted(frame.columns)} are not the contract's {sorted(expected)}; "
                "ingest validated tables only"
            )
        return frame[expected].reset_index(drop=True)

    @staticmethod
    def _ingest_table(
        connection: duckdb.DuckDBPyConnection, table: str, batch: pd.DataFrame, key: tuple[str, ...]
    ) -> RowOutcomes:
        groups = group_delivery(batch, key)
        candidate_positions = np.flatnonzero(
            (groups.representative == np.arange(len(batch))) & ~groups.clashing
        )
        staged = f"incoming_{table}"
        _stage(connection, table, batch.iloc[candidate_positions], candidate_positions, staged)

        specs = contract_columns(table)
        join = " AND ".join(f'i."{c}" = s."{c}"' for c in key)
        same_content = " AND ".join(f'i."{s.name}" IS NOT DISTINCT FROM s."{s.name}"' for s in specs)
        found = connection.execute(
            f'SELECT i."{_ROW}" AS position, s."{key[0]}" IS NOT NULL AS stored, ({same_content}) AS same '
            f'FROM "{staged}" i LEFT JOIN "{table}" s ON {join}'
        ).fetchnumpy()
        key_stored = np.zeros(len(batch), dtype=bool)
        identical = np.zeros(len(batch), dtype=bool)
        key_stored[found["position"]] = found["stored"]
        identical[found["position"]] = found["same"]
        outcomes = decide_rows(groups, key_stored, identical)

        names = ", ".join(f'i."{s.name}"' for s in specs)
        inserted = connection.execute(
            f'INSERT INTO "{table}" SELECT {names} FROM "{staged}" i ANTI JOIN "{table}" s ON {join}'
        ).fetchone()[0]
        connection.execute(f'DROP TABLE "{staged}"')
        # The SQL anti join and the decision above must agree; if not, fail before committing.
        if inserted != int(outcomes.inserted.sum()):
            raise RuntimeError(f"{table}: inserted {inserted} rows, expected {int(outcomes.inserted.sum())}")
        return outcomes

    def read_tables(self) -> dict[str, pd.DataFrame]:
        """The six tables, sorted by primary key, in the dtypes validation produces, and each
        optional table the store holds.

        Raises :class:`ContractError` when nothing has been ingested yet.
        """
        if not self.exists():
            raise ContractError(
                [StructuralProblem("*", None, "store is empty: nothing ingested yet", str(self.path))]
            )
        tables = {}
        with duckdb.connect(str(self.path), read_only=True) as connection:
            present = {
                row[0] for row in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
            for table in TABLES:
                if table not in present:
                    tables[table] = empty_table(table)
                    continue
                tables[table] = _stored_table(connection, table)
            for table in sorted(present & (set(INPUT_MODELS) - set(TABLES))):
                tables[table] = _stored_table(connection, table)
        return tables

    def row_counts(self) -> dict[str, int]:
        """Rows stored per table (0 for every table of a store not created yet)."""
        if not self.exists():
            return dict.fromkeys(TABLES, 0)
        with duckdb.connect(str(self.path), read_only=True) as connection:
            present = {
                row[0] for row in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
            return {
                table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                if table in present
                else 0
                for table in TABLES
            }


def _stored_table(connection: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """A stored table sorted by its primary key, in the dtypes validation produces."""
    order = ", ".join(f'"{c}"' for c in PRIMARY_KEYS[table])
    raw = connection.execute(f'SELECT * FROM "{table}" ORDER BY {order}').df()
    return to_contract_dtypes(table, raw)


def _stage(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    rows: pd.DataFrame,
    positions: np.ndarray,
    staged: str,
) -> None:
    """Copy delivery rows into a temporary table typed exactly like the store table.

    Comparing like with like makes equality exact: dates as DATE, timestamps as naive UTC
    nanoseconds, missing floats as NULL (DuckDB reads pandas NaN as NULL).
    """
    frame = rows.copy()
    for spec in contract_columns(table):
        if spec.kind == "timestamp":
            frame[spec.name] = frame[spec.name].dt.tz_convert("UTC").dt.tz_localize(None)
    frame[_ROW] = positions.astype("int64")
    casts = ", ".join(
        f'CAST("{s.name}" AS {_SQL_TYPES[s.kind]}) AS "{s.name}"' for s in contract_columns(table)
    )
    view = f"delivery_{table}"
    connection.register(view, frame)
    try:
        connection.execute(f'CREATE TEMP TABLE "{staged}" AS SELECT {casts}, "{_ROW}" FROM "{view}"')
    finally:
        connection.unregister(view)


def conflicts_as_quarantine(report: IngestReport, run_id: str) -> pd.DataFrame:
    """Rows held back by an ingest, in the quarantine's layout (named by key, not position)."""
    frames = []
    for table, conflicts in report.conflicts.items():
        if conflicts.empty:
            continue
        rows = conflicts.drop(columns="conflict")
        frames.append(
            pd.DataFrame(
                {
                    "run_id": run_id,
                    "table": table,
                    "source": "ingest",
                    "row": pd.NA,
                    "line": pd.NA,
                    "key": row_keys(table, rows).to_numpy(),
                    "rules": ("conflict: " + conflicts["conflict"]).to_numpy(),
                    "raw": rows.to_json(orient="records", lines=True, date_format="iso").splitlines(),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out[["row", "line"]] = out[["row", "line"]].astype("Int64")
    return out[QUARANTINE_COLUMNS]
