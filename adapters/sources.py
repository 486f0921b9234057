"""Reading the six input tables (and the optional ones present) from a database: the engine's
SQL-source edge.

A source is a SQLAlchemy-style URL (``postgresql://``, ``sqlite:///path``, ``duckdb:///path``).
Each input table comes from a table of the same name unless the source configuration maps it to
another table (``crm.borrowers``) or to a query (anything starting with SELECT or WITH). Frames
are returned as the database delivers them: turning them into contract types is validation's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from data_contracts.enums import OPTIONAL_TABLES, TABLES
from data_contracts.validation import ContractError, StructuralProblem

# Backends this module can read, as written before "://" (an optional "+driver" may follow).
SUPPORTED_BACKENDS: frozenset[str] = frozenset({"postgresql", "postgres", "sqlite", "duckdb"})

_URL_SCHEME = re.compile(r"^(?P<backend>[A-Za-z][A-Za-z0-9]*)(\+[A-Za-z0-9_]+)?://")
_QUERY_START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_DEFAULT_CONNECT_TIMEOUT_S = 10


def is_database_url(text: str) -> bool:
    """True when ``text`` is a database URL this module can read (not a folder path)."""
    match = _URL_SCHEME.match(str(text))
    return match is not None and match["backend"].lower() in SUPPORTED_BACKENDS


def is_sql_query(text: str) -> bool:
    """True when a table mapping is a query (starts with SELECT or WITH) rather than a name."""
    return _QUERY_START.match(text) is not None


@dataclass(frozen=True)
class TableSource:
    """Where one input table is read from: a (schema, table) name or a query."""

    table: str
    name: str | None = None
    schema: str | None = None
    query: str | None = None

    @property
    def description(self) -> str:
        if self.query is not None:
            return "query"
        return f"{self.schema}.{self.name}" if self.schema else str(self.name)


def plan_sources(tables: Mapping[str, str] | None = None) -> list[TableSource]:
    """Resolve the per-table mapping into one :class:`TableSource` per input table, in order."""
    tables = dict(tables or {})
    unknown = sorted(set(tables) - set(TABLES) - set(OPTIONAL_TABLES))
    if unknown:
        raise ValueError(f"unknown input tables {unknown}; known: {[*TABLES, *OPTIONAL_TABLES]}")
    plan = []
    for table in (*TABLES, *OPTIONAL_TABLES):
        source = tables.get(table, table).strip()
        if is_sql_query(source):
            plan.append(TableSource(table, query=source))
        else:
            # A dot separates schema from table; names are taken as written (SQLAlchemy quotes
            # mixed-case names, so "Borrowers" means exactly that table).
            schema, _, name = source.rpartition(".")
            plan.append(TableSource(table, name=name, schema=schema or None))
    return plan


def normalize_url(url: str) -> sa.URL:
    """Parse ``url``; plain ``postgresql://`` and ``postgres://`` use the psycopg 3 driver."""
    if not is_database_url(url):
        raise ValueError(f"not a supported database URL (postgresql://, sqlite:///, duckdb:///): {url!r}")
    parsed = sa.make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str, *, read_only: bool = False) -> sa.Engine:
    """A SQLAlchemy engine for ``url`` (PostgreSQL gets a connect timeout unless one is given)."""
    parsed = normalize_url(url)
    connect_args: dict[str, object] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # Without it a firewalled host hangs the nightly run instead of failing it.
        connect_args["connect_timeout"] = _DEFAULT_CONNECT_TIMEOUT_S
    if parsed.get_backend_name() == "duckdb" and read_only:
        # Read-only also lets several readers share the file, and never creates a missing one.
        connect_args["read_only"] = True
    return sa.create_engine(parsed, connect_args=connect_args)


def _database_file(parsed: sa.URL) -> Path | None:
    """The file behind a SQLite or DuckDB URL, or None for in-memory and server databases."""
    if parsed.get_backend_name() not in {"sqlite", "duckdb"}:
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _error_detail(error: BaseException) -> str:
    """The database's own message (first line), without pandas' and SQLAlchemy's wrappers."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, sa.exc.DBAPIError) and cause.orig is not None:
            return str(cause.orig).strip().splitlines()[0]
        cause = cause.__cause__
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read_one(connection: sa.Connection, source: TableSource) -> pd.DataFrame:
    if source.query is not None:
        # The query is the user's SQL, not a template: escaped colons keep text() from reading
        # "::date" or ':' in a literal as bind parameters (it already escapes '%' for psycopg).
        return pd.read_sql(sa.text(source.query.replace(":", r"\:")), connection)
    # Quoted always, like publish.py's tables: a dialect may not know every reserved word.
    name = sa.sql.quoted_name(source.name, quote=True)
    schema = sa.sql.quoted_name(source.schema, quote=True) if source.schema else None
    statement = sa.select(sa.literal_column("*")).select_from(sa.table(name, schema=schema))
    return pd.read_sql(statement, connection)


def _snapshot_connection(connection: sa.Connection) -> sa.Connection:
    """On PostgreSQL, read all six tables from one read-only snapshot.

    A loader writing payments while we read loans would otherwise hand us payments of loans we
    never saw (rejected as orphans) or a schedule newer than its loan.
    """
    if connection.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return connection


def read_database_tables(url: str, tables: Mapping[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """Read the six input tables from the database at ``url``, exactly as stored.

    ``tables`` maps an input table name to a table name (optionally ``schema.table``) or a SQL
    query starting with SELECT or WITH; unmapped tables are read from a table of their own name.
    Raises :class:`ContractError` listing every table that is missing or whose query fails (and
    a single problem for table ``*`` when the database itself cannot be opened).
    """
    plan = plan_sources(tables)
    parsed = normalize_url(url)
    database_file = _database_file(parsed)
    if database_file is not None and not database_file.is_file():
        # SQLite and DuckDB would silently create an empty database here.
        raise ContractError([StructuralProblem("*", None, "database file not found", str(database_file))])

    engine = create_engine(url, read_only=True)
    frames: dict[str, pd.DataFrame] = {}
    problems: list[StructuralProblem] = []
    try:
        with engine.connect() as raw_connection:
            connection = _snapshot_connection(raw_connection)
            for source in plan:
                try:
                    if source.query is None and not sa.inspect(connection).has_table(
                        source.name, schema=source.schema
                    ):
                        if source.table in OPTIONAL_TABLES:
                            continue  # an optional table the database does not have
                        problems.append(
                            StructuralProblem(
                                source.table, None, "table missing", f"no table {source.description}"
                            )
                        )
                        continue
                    frames[source.table] = _read_one(connection, source)
                except Exception as error:
                    problems.append(
                        StructuralProblem(
                            source.table,
                            None,
                            "unreadable source",
                            f"{source.description}: {_error_detail(error)}",
                        )
                    )
                    # A failed statement aborts the transaction (PostgreSQL, DuckDB); roll back
                    # so the remaining tables are still checked and every problem is reported.
                    connection.rollback()
    except sa.exc.OperationalError as error:
        hidden = parsed.render_as_string(hide_password=True)
        raise ContractError(
            [StructuralProblem("*", None, "database unreachable", f"{hidden}: {_error_detail(error)}")]
        ) from error
    finally:
        engine.dispose()
    if problems:
        raise ContractError(problems)
    return frames
