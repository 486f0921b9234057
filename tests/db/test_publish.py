"""Publishing the queue to a database: atomic per as-of date, on SQLite, DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pytest
import sqlalchemy as sa

from adapters.publish import column_kind, publish_queue, with_run_columns
from data_contracts.outputs import QUEUE_COLUMNS, SUPPRESSED_COLUMNS
from tests.factories import contact_policy_columns

AS_OF = dt.date(2025, 1, 15)


def queue(n: int, run_id: str, as_of: dt.date = AS_OF) -> pd.DataFrame:
    """A queue as scoring.queue.rank_queue builds it (as_of a naive midnight, int ranks)."""
    return pd.DataFrame(
        {
            "as_of": pd.Series(pd.Timestamp(as_of), index=range(n), dtype="datetime64[ns]"),
            "run_id": run_id,
            "rank": range(1, n + 1),
            "loan_id": [f"L{i}" for i in range(n)],
            "borrower_id": [f"B{i}" for i in range(n)],
            "product": "personal_loan",
            "days_past_due": [30 + i for i in range(n)],
            "amount_overdue": [100.0 + i for i in range(n)],
            "outstanding_balance": 500.0,
            "p_pay_30d": [round(0.9 - i / (2 * n), 6) for i in range(n)],
            "expected_recovery": 50.0,
            "priority_score": 50.0,
            "recommended_channel": "call",
            "reason_1": "Kept 3 of the last 3 promises to pay (raises likelihood)",
            "reason_2": "b (lowers likelihood)",
            "reason_3": "c (raises likelihood)",
            "model_version": "recover-propensity/1",
            **contact_policy_columns(n),
        }
    )[QUEUE_COLUMNS]


def suppressed(n: int, run_id: str, as_of: dt.date = AS_OF) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of": pd.Series(pd.Timestamp(as_of), index=range(n), dtype="datetime64[ns]"),
            "run_id": run_id,
            "loan_id": [f"S{i}" for i in range(n)],
            "borrower_id": [f"SB{i}" for i in range(n)],
            "reason": "bankruptcy",
            "rule_id": "bankruptcy",
            "channels": "call,email,field_visit,letter,sms,whatsapp",
            "next_lawful_from_local": None,
            "next_lawful_from_utc": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
            "detail": "The automatic stay forbids collection.",
            "source": "11 USC 362",
            "policy": "us_reg_f",
            "policy_version": "2026.11.0",
            "data_cutoff_utc": pd.Series(
                pd.Timestamp("2025-01-15T05:00Z"), index=range(n), dtype="datetime64[ns, UTC]"
            ),
        }
    )[SUPPRESSED_COLUMNS]


@dataclass
class Target:
    """A database to publish to, and a way to look at it the way a dialer would."""

    url: str
    schema: str | None

    def name(self, table: str) -> str:
        return f'"{self.schema}"."{table}"' if self.schema else f'"{table}"'

    def open_reader(self) -> sa.Engine:
        # NullPool: every connect is a brand-new session, separate from the publisher's.
        return sa.create_engine(self.url, poolclass=sa.NullPool)

    def runs(self, table: str = "recover_queue") -> pd.DataFrame:
        """(as_of, run_id, rows, distinct loans) per published run, from a separate connection."""
        engine = self.open_reader()
        try:
            with engine.connect() as connection:
                return pd.read_sql(
                    sa.text(
                        f"SELECT CAST(as_of AS TEXT) AS as_of, run_id, COUNT(*) AS n_rows, "
                        f"COUNT(DISTINCT loan_id) AS loans FROM {self.name(table)} "
                        "GROUP BY as_of, run_id ORDER BY as_of, run_id"
                    ),
                    connection,
                )
        finally:
            engine.dispose()


def runs_as_tuples(frame: pd.DataFrame) -> list[tuple]:
    return [(r.as_of[:10], r.run_id, int(r.n_rows), int(r.loans)) for r in frame.itertuples()]


@pytest.fixture(params=["sqlite", "duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, tmp_path) -> Target:
    if request.param == "sqlite":
        return Target(f"sqlite:///{tmp_path / 'dialer.db'}", None)
    if request.param == "duckdb":
        return Target(f"duckdb:///{tmp_path / 'dialer.duckdb'}", None)
    url = request.getfixturevalue("postgres_url")
    return Target(url, request.getfixturevalue("postgres_schema"))


def publish(target: Target, n: int, run_id: str, as_of: dt.date = AS_OF, **kwargs):
    return publish_queue(
        target.url,
        queue(n, run_id, as_of),
        suppressed(2, run_id, as_of),
        as_of=as_of,
        run_id=run_id,
        schema=target.schema,
        **kwargs,
    )


def test_first_publish_creates_the_tables_and_writes_every_row(target):
    report = publish(target, 5, "run-1")
    assert (report.queue_rows, report.suppressed_rows, report.replaced_queue_rows) == (5, 2, 0)
    assert runs_as_tuples(target.runs()) == [("2025-01-15", "run-1", 5, 5)]
    assert runs_as_tuples(target.runs("recover_suppressed")) == [("2025-01-15", "run-1", 2, 2)]

    engine = target.open_reader()
    with engine.connect() as connection:
        row = (
            connection.execute(sa.text(f"SELECT * FROM {target.name('recover_queue')} WHERE loan_id = 'L1'"))
            .one()
            ._mapping
        )
    engine.dispose()
    assert row["rank"] == 2 and row["days_past_due"] == 31 and row["amount_overdue"] == 101.0
    assert row["reason_1"].startswith("Kept 3 of the last 3")


def test_extra_columns_keep_their_names_and_types(target):
    # "at" is reserved in DuckDB, "Segment" is mixed case: both must come through as named.
    extra = suppressed(2, "run-1").assign(at=pd.Timestamp("2025-01-14T08:30Z"), Segment=["a", None])
    publish_queue(target.url, queue(1, "run-1"), extra, as_of=AS_OF, run_id="run-1", schema=target.schema)
    engine = target.open_reader()
    with engine.connect() as connection:
        read = pd.read_sql(
            sa.text(f'SELECT "at", "Segment" FROM {target.name("recover_suppressed")} ORDER BY loan_id'),
            connection,
        )
    engine.dispose()
    assert read["Segment"].tolist()[0] == "a" and pd.isna(read["Segment"].tolist()[1])
    assert pd.to_datetime(read["at"], utc=True).tolist() == [pd.Timestamp("2025-01-14T08:30Z")] * 2


def test_republishing_an_as_of_replaces_its_rows(target):
    publish(target, 5, "run-1")
    report = publish(target, 3, "run-2", chunk_rows=2)
    assert (report.replaced_queue_rows, report.replaced_suppressed_rows) == (5, 2)
    assert runs_as_tuples(target.runs()) == [("2025-01-15", "run-2", 3, 3)]
    assert runs_as_tuples(target.runs("recover_suppressed")) == [("2025-01-15", "run-2", 2, 2)]


def test_other_as_of_dates_are_left_alone(target):
    publish(target, 4, "run-1", as_of=dt.date(2025, 1, 14))
    publish(target, 3, "run-2")
    publish(target, 3, "run-3")
    assert runs_as_tuples(target.runs()) == [("2025-01-14", "run-1", 4, 4), ("2025-01-15", "run-3", 3, 3)]


def test_a_failure_half_way_leaves_the_previous_queue_whole_and_visible(target):
    publish(target, 5, "run-1")
    seen_during: list[list[tuple]] = []

    def crash_after_first_chunk(table: str, rows_written: int) -> None:
        # Mid-transaction: the old rows are deleted and 2 new ones written, uncommitted. Another
        # session must still see the complete previous queue and nothing of the new run.
        seen_during.append(runs_as_tuples(target.runs()))
        raise RuntimeError("simulated crash half-way through the publish")

    with pytest.raises(RuntimeError, match="simulated crash"):
        publish(target, 6, "run-2", chunk_rows=2, after_chunk=crash_after_first_chunk)

    assert seen_during == [[("2025-01-15", "run-1", 5, 5)]]
    assert runs_as_tuples(target.runs()) == [("2025-01-15", "run-1", 5, 5)]
    assert runs_as_tuples(target.runs("recover_suppressed")) == [("2025-01-15", "run-1", 2, 2)]


def test_a_failed_first_publish_leaves_no_table_behind(target):
    def crash(table: str, rows_written: int) -> None:
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        publish(target, 3, "run-1", chunk_rows=1, after_chunk=crash)
    engine = target.open_reader()
    try:
        with engine.connect() as connection:
            assert not sa.inspect(connection).has_table("recover_queue", schema=target.schema)
    finally:
        engine.dispose()


def test_a_table_from_an_earlier_version_gains_the_new_columns(target):
    earlier = dt.date(2025, 1, 14)
    publish_queue(
        target.url,
        queue(2, "run-1", earlier).drop(columns=["team", "policy_version"]),
        suppressed(1, "run-1", earlier),
        as_of=earlier,
        run_id="run-1",
        schema=target.schema,
    )
    publish(target, 2, "run-2")
    assert runs_as_tuples(target.runs()) == [("2025-01-14", "run-1", 2, 2), ("2025-01-15", "run-2", 2, 2)]
    engine = target.open_reader()
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                f"SELECT run_id, team, policy_version FROM {target.name('recover_queue')} ORDER BY run_id"
            )
        ).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("run-1", None, None),
        ("run-1", None, None),
        ("run-2", "call-northeast", "2026.11.0"),
        ("run-2", "call-northeast", "2026.11.0"),
    ]


@pytest.mark.postgres
def test_postgres_columns_have_proper_types_and_as_of_is_indexed(postgres_url, postgres_schema):
    target = Target(postgres_url, postgres_schema)
    with_instant = suppressed(1, "run-1").assign(flagged_at=pd.Timestamp("2025-01-14T08:00Z"), manual=False)
    publish_queue(
        target.url, queue(2, "run-1"), with_instant, as_of=AS_OF, run_id="run-1", schema=postgres_schema
    )
    engine = target.open_reader()
    with engine.connect() as connection:
        types = dict(
            connection.execute(
                sa.text(
                    "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = :schema"
                ),
                {"schema": postgres_schema},
            ).all()
        )
        indexes = connection.execute(
            sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = :schema ORDER BY 1"),
            {"schema": postgres_schema},
        ).scalars()
        indexes = list(indexes)
    engine.dispose()
    assert types["recover_queue.as_of"] == "date"
    assert types["recover_queue.run_id"] == "text"
    assert types["recover_queue.rank"] == "bigint"
    assert types["recover_queue.p_pay_30d"] == "double precision"
    assert types["recover_suppressed.flagged_at"] == "timestamp with time zone"
    assert types["recover_suppressed.manual"] == "boolean"
    assert indexes == ["ix_recover_queue_as_of", "ix_recover_suppressed_as_of"]


# --- pure preparation -----------------------------------------------------------------------------


def test_rows_must_belong_to_the_run_being_published():
    with pytest.raises(ValueError, match="run_id"):
        with_run_columns(queue(2, "run-1"), AS_OF, "run-2")
    with pytest.raises(ValueError, match="as_of"):
        with_run_columns(queue(2, "run-1", as_of=dt.date(2025, 1, 1)), AS_OF, "run-1")
    stamped = with_run_columns(pd.DataFrame({"loan_id": ["L1"]}), AS_OF, "run-1")
    assert list(stamped.columns) == ["as_of", "run_id", "loan_id"]


def test_column_kinds_follow_dtypes():
    frame = queue(2, "run-1").assign(at=pd.Timestamp("2025-01-01T10:00Z"), ok=True)
    kinds = {c: column_kind(frame[c]) for c in frame.columns}
    assert (kinds["as_of"], kinds["rank"], kinds["p_pay_30d"], kinds["loan_id"]) == (
        "date",
        "int",
        "float",
        "text",
    )
    assert (kinds["at"], kinds["ok"]) == ("timestamp", "bool")
    with pytest.raises(ValueError, match="time of day"):
        column_kind(pd.Series(pd.to_datetime(["2025-01-01T10:00"]), name="when"))
