"""Publishing the work queue to a database table that a dialer or CRM reads (and, beside it,
the officer's contact rows: one per contact, with the contact point).

Readers must never see half a queue. Each run's rows carry ``as_of`` and ``run_id``; publishing
an as-of date deletes that date's rows and inserts the new ones inside one transaction, so other
sessions keep seeing the previous complete queue until the commit and the new complete queue
after it. Rows of other as-of dates are left alone.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd
import sqlalchemy as sa

from adapters.sources import create_engine, normalize_url

DEFAULT_CHUNK_ROWS = 10_000

# SQL type of each kind of column; the names are those of PostgreSQL, and SQLAlchemy renders
# the nearest equivalent on SQLite and DuckDB.
_SQL_TYPES: dict[str, Callable[[], sa.types.TypeEngine]] = {
    "text": sa.Text,
    "float": sa.Double,  # double precision
    "int": sa.BigInteger,
    "bool": sa.Boolean,
    "date": sa.Date,
    "timestamp": lambda: sa.DateTime(timezone=True),  # timestamptz
}

# Called between chunks with (table name, rows of that table written so far). An exception it
# raises aborts the publish and rolls everything back, which is how tests simulate a crash.
ChunkCallback = Callable[[str, int], None]
# A chunk of rows as one of the insert paths writes it (a list of tuples, or a frame).
_Chunk = TypeVar("_Chunk", bound=Sized)


@dataclass(frozen=True)
class PublishReport:
    """What one publish wrote, where, and how long it took (URL shown without its password)."""

    target: str
    table: str
    suppressed_table: str
    schema: str | None
    as_of: dt.date
    run_id: str
    queue_rows: int
    suppressed_rows: int
    replaced_queue_rows: int
    replaced_suppressed_rows: int
    seconds: float
    # With a contacts frame: the officer's contact rows, beside the queue (else None and 0).
    contacts_table: str | None = None
    contacts_rows: int = 0
    replaced_contacts_rows: int = 0


# --- pure logic: preparing frames ----------------------------------------------------------------


def column_kind(series: pd.Series) -> str:
    """The SQL kind of a frame column: naive datetimes are calendar dates, aware ones instants."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamp"
    if pd.api.types.is_datetime64_dtype(dtype):
        present = series.dropna()
        if not (present == present.dt.normalize()).all():
            # The engine's naive datetimes are dates; a time of day here would be cut off silently.
            raise ValueError(
                f"column {series.name!r}: naive datetimes with a time of day; make them UTC-aware"
            )
        return "date"
    return "text"


def as_date(value: object) -> dt.date:
    """A calendar date from a date, datetime, Timestamp or ISO string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def with_run_columns(frame: pd.DataFrame, as_of: dt.date, run_id: str) -> pd.DataFrame:
    """``frame`` with ``as_of`` and ``run_id`` filled in (first), or checked if already there."""
    out = frame.copy()
    if "as_of" in out.columns:
        stamped = pd.to_datetime(out["as_of"]).dt.date
        if len(out) and not (stamped == as_of).all():
            raise ValueError(f"rows carry as_of {sorted(set(stamped) - {as_of})}, publishing {as_of}")
    if "run_id" in out.columns and len(out) and not (out["run_id"].astype(str) == run_id).all():
        raise ValueError(f"rows carry a run_id other than {run_id!r}")
    out["as_of"] = pd.Series(pd.Timestamp(as_of), index=out.index, dtype="datetime64[ns]")
    out["run_id"] = pd.Series(run_id, index=out.index, dtype="str")
    rest = [c for c in out.columns if c not in ("as_of", "run_id")]
    return out[["as_of", "run_id", *rest]]


def python_columns(frame: pd.DataFrame, kinds: dict[str, str]) -> list[list[object]]:
    """Each column as Python values the drivers adapt (date, datetime, int...), None for missing."""
    columns = []
    for name, kind in kinds.items():
        series = frame[name]
        if kind == "date":
            values = series.dt.date.tolist()
        elif kind == "timestamp":
            values = series.dt.tz_convert("UTC").dt.to_pydatetime().tolist()
        else:
            # astype(object) turns numpy scalars into Python ones, which every driver accepts.
            values = series.astype(object).tolist()
        missing = series.isna().to_numpy()
        columns.append([None if gone else value for value, gone in zip(values, missing, strict=True)])
    return columns


def chunked_rows(columns: Sequence[list[object]], n_rows: int, chunk_rows: int) -> Iterator[list[tuple]]:
    """Row tuples in chunks of at most ``chunk_rows``."""
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        yield list(zip(*(column[start:stop] for column in columns), strict=True))


# --- I/O ------------------------------------------------------------------------------------------


def _table_definition(metadata: sa.MetaData, name: str, kinds: dict[str, str]) -> sa.Table:
    # Always quoted: a dialect may not know all of its database's reserved words (DuckDB's "at").
    columns = (sa.Column(c, _SQL_TYPES[k](), quote=True) for c, k in kinds.items())
    table = sa.Table(name, metadata, *columns, quote=True)
    sa.Index(f"ix_{name}_as_of", table.c.as_of)
    return table


def _ensure_table(connection: sa.Connection, table: sa.Table) -> None:
    """Create the table (and its as_of index) if missing; else add the columns it lacks."""
    inspector = sa.inspect(connection)
    if not inspector.has_table(table.name, schema=table.schema):
        table.create(connection)
        return
    _add_missing_columns(connection, table)


def _add_missing_columns(connection: sa.Connection, table: sa.Table) -> None:
    """Add, nullable, the columns an existing table lacks (a table from an earlier version:
    outputs only ever gain columns). Its earlier rows read NULL there."""
    if not sa.inspect(connection).has_table(table.name, schema=table.schema):
        return
    # The column names of an empty select: portable where reflection is not (duckdb-engine).
    probe = sa.select(sa.literal_column("*")).select_from(sa.table(table.name, schema=table.schema))
    existing = set(connection.execute(probe.limit(0)).keys())
    for column in table.columns:
        if column.name not in existing:
            sql_type = column.type.compile(dialect=connection.dialect)
            name = connection.dialect.identifier_preparer.format_table(table)
            connection.execute(sa.text(f'ALTER TABLE {name} ADD COLUMN "{column.name}" {sql_type}'))


def _make_sqlite_transactional(engine: sa.Engine) -> None:
    """Make the whole publish, CREATE TABLE included, one SQLite transaction.

    Python's sqlite3 module opens a transaction only before INSERT/UPDATE/DELETE, so a CREATE
    TABLE would commit on its own. SQLAlchemy's documented recipe: take over transaction control
    and BEGIN IMMEDIATE, which also takes the write lock up front (readers carry on meanwhile).
    """

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _serialize_publishers(connection: sa.Connection, tables: Sequence[sa.Table]) -> None:
    """On PostgreSQL, let one publisher at a time through (readers are never blocked).

    Two publishes of the same as-of date running at once would each delete the rows committed
    before they started and both insert: duplicates. A transaction-level advisory lock, taken
    before the tables may be created, serializes them; it is released at commit or rollback.
    """
    if connection.dialect.name != "postgresql":
        return  # SQLite and DuckDB already allow a single writer at a time
    for table in sorted(tables, key=lambda t: t.fullname):
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
            {"name": f"recover.publish:{table.fullname}"},
        )


def _quoted_target(connection: sa.Connection, table: sa.Table) -> tuple[str, str]:
    """The table's quoted name (with its schema, if any) and its quoted column list, for raw SQL."""
    quote = connection.dialect.identifier_preparer.quote_identifier
    target = (f"{quote(table.schema)}." if table.schema else "") + quote(table.name)
    return target, ", ".join(quote(c.name) for c in table.columns)


def _write_chunks(
    table: sa.Table,
    chunks: Iterable[_Chunk],
    write: Callable[[_Chunk], object],
    after_chunk: ChunkCallback | None,
) -> int:
    """``write`` each chunk in turn, telling ``after_chunk`` the table's rows written so far;
    returns how many were written."""
    written = 0
    for chunk in chunks:
        write(chunk)
        written += len(chunk)
        if after_chunk is not None:
            after_chunk(table.name, written)
    return written


def _insert_postgres(
    connection: sa.Connection, table: sa.Table, rows: Iterator[list[tuple]], after_chunk: ChunkCallback | None
) -> int:
    """COPY into the table on the transaction's own psycopg connection: the fastest bulk path."""
    target, columns = _quoted_target(connection, table)
    dbapi_connection = connection.connection.dbapi_connection
    with dbapi_connection.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:

        def copy_rows(chunk: list[tuple]) -> None:
            for row in chunk:
                copy.write_row(row)

        written = _write_chunks(table, rows, copy_rows, after_chunk)
    return written


def _insert_generic(
    connection: sa.Connection, table: sa.Table, rows: Iterator[list[tuple]], after_chunk: ChunkCallback | None
) -> int:
    """Executemany of a Core insert, one chunk at a time."""
    names = [c.name for c in table.columns]

    def insert(chunk: list[tuple]) -> None:
        connection.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in chunk])

    return _write_chunks(table, rows, insert, after_chunk)


def _insert_duckdb(
    connection: sa.Connection,
    table: sa.Table,
    frame: pd.DataFrame,
    chunk_rows: int,
    after_chunk: ChunkCallback | None,
) -> int:
    """INSERT ... SELECT from each chunk of the frame registered with DuckDB (executemany crawls)."""
    target, names = _quoted_target(connection, table)
    quote = connection.dialect.identifier_preparer.quote_identifier
    casts = ", ".join(
        f"CAST({quote(c.name)} AS {c.type.compile(dialect=connection.dialect)})" for c in table.columns
    )
    duckdb_connection = connection.connection.dbapi_connection  # the transaction's own connection
    view = "recover_publish_chunk"

    def insert(chunk: pd.DataFrame) -> None:
        duckdb_connection.register(view, chunk)
        try:
            duckdb_connection.execute(f"INSERT INTO {target} ({names}) SELECT {casts} FROM {view}")
        finally:
            duckdb_connection.unregister(view)

    chunks = (frame.iloc[start : start + chunk_rows] for start in range(0, len(frame), chunk_rows))
    return _write_chunks(table, chunks, insert, after_chunk)


def _replace_as_of(
    connection: sa.Connection,
    table: sa.Table,
    frame: pd.DataFrame,
    kinds: dict[str, str],
    as_of: dt.date,
    chunk_rows: int,
    after_chunk: ChunkCallback | None,
) -> tuple[int, int]:
    """Delete the as-of date's rows and insert the frame's; returns (deleted, inserted)."""
    deleted = connection.execute(table.delete().where(table.c.as_of == as_of)).rowcount
    if connection.dialect.name == "duckdb":
        return max(deleted, 0), _insert_duckdb(connection, table, frame, chunk_rows, after_chunk)
    rows = chunked_rows(python_columns(frame, kinds), len(frame), chunk_rows)
    insert = _insert_postgres if connection.dialect.name == "postgresql" else _insert_generic
    return max(deleted, 0), insert(connection, table, rows, after_chunk)


def publish_queue(
    url: str,
    queue: pd.DataFrame,
    suppressed: pd.DataFrame,
    *,
    as_of: dt.date | str,
    run_id: str,
    table: str = "recover_queue",
    suppressed_table: str = "recover_suppressed",
    schema: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    after_chunk: ChunkCallback | None = None,
    contacts: pd.DataFrame | None = None,
    contacts_table: str = "recover_contacts",
) -> PublishReport:
    """Publish a run's queue and suppressed rows to ``url``, atomically per as-of date.

    In one transaction: create the tables if missing (columns and SQL types from the frames,
    plus an index on as_of), delete the rows of ``as_of`` from both tables and insert the new
    ones (COPY on PostgreSQL, registered frames on DuckDB, chunked executemany on SQLite).
    Other sessions see the previous rows until the commit. ``after_chunk(table, rows_written)`` runs between chunks; an
    exception from it (or any failure) rolls back everything and re-raises. With ``contacts``
    (one row per contact, :func:`scoring.worklist.contact_worklist`) the ``contacts_table`` is
    replaced for the as-of date in the same transaction.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    names = [table, suppressed_table, *([contacts_table] if contacts is not None else [])]
    if len(set(names)) < len(names):
        raise ValueError(f"the queue, the suppressed rows and the contacts need different tables: {names}")
    as_of = as_date(as_of)
    frames = {
        table: with_run_columns(queue, as_of, run_id),
        suppressed_table: with_run_columns(suppressed, as_of, run_id),
    }
    if contacts is not None:
        frames[contacts_table] = with_run_columns(contacts, as_of, run_id)
    kinds = {name: {c: column_kind(frame[c]) for c in frame.columns} for name, frame in frames.items()}
    metadata = sa.MetaData(schema=schema)
    definitions = {name: _table_definition(metadata, name, kinds[name]) for name in frames}

    started = time.perf_counter()
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        _make_sqlite_transactional(engine)
    counts: dict[str, tuple[int, int]] = {}
    try:
        # Migrations first, in their own short transaction: ALTER TABLE locks readers out on
        # PostgreSQL, and a dialer must not wait for the whole publish.
        with engine.begin() as connection:
            for definition in definitions.values():
                _add_missing_columns(connection, definition)
        with engine.begin() as connection:
            _serialize_publishers(connection, list(definitions.values()))
            for definition in definitions.values():
                _ensure_table(connection, definition)
            for name, definition in definitions.items():
                counts[name] = _replace_as_of(
                    connection, definition, frames[name], kinds[name], as_of, chunk_rows, after_chunk
                )
    finally:
        engine.dispose()
    return PublishReport(
        target=normalize_url(url).render_as_string(hide_password=True),
        table=table,
        suppressed_table=suppressed_table,
        schema=schema,
        as_of=as_of,
        run_id=run_id,
        queue_rows=counts[table][1],
        suppressed_rows=counts[suppressed_table][1],
        replaced_queue_rows=counts[table][0],
        replaced_suppressed_rows=counts[suppressed_table][0],
        seconds=round(time.perf_counter() - started, 3),
        contacts_table=contacts_table if contacts is not None else None,
        contacts_rows=counts[contacts_table][1] if contacts is not None else 0,
        replaced_contacts_rows=counts[contacts_table][0] if contacts is not None else 0,
    )
