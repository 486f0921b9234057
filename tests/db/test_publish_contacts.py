"""The contact rows published beside the queue: same transaction, same as-of replacement."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from adapters.publish import publish_queue

AS_OF = dt.date(2025, 3, 3)


def _frames(run_id: str, n: int):
    queue = pd.DataFrame({"loan_id": [f"L{k}" for k in range(n)], "rank": range(1, n + 1), "run_id": run_id})
    suppressed = pd.DataFrame({"loan_id": ["L99"], "reason": ["dispute"], "run_id": run_id})
    contacts = pd.DataFrame(
        {
            "contact_id": [f"20250303-B{k}" for k in range(n)],
            "contact_point": [f"+1555000{k:04d}" for k in range(n)],
            "n_loans": 1,
            "run_id": run_id,
        }
    )
    return queue, suppressed, contacts


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
def test_the_contacts_table_is_replaced_with_the_queue(tmp_path, backend):
    url = f"{backend}:///{tmp_path / 'dialer.db'}"
    for run_id, n in (("r1", 3), ("r2", 2)):
        queue, suppressed, contacts = _frames(run_id, n)
        report = publish_queue(url, queue, suppressed, as_of=AS_OF, run_id=run_id, contacts=contacts)
    assert report.contacts_table == "recover_contacts"
    assert (report.contacts_rows, report.replaced_contacts_rows) == (2, 3)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        published = pd.read_sql("SELECT * FROM recover_contacts", connection)
    engine.dispose()
    assert list(published["contact_id"]) == ["20250303-B0", "20250303-B1"]
    assert set(published["run_id"]) == {"r2"}


def test_without_contacts_no_contacts_table_is_made(tmp_path):
    url = f"sqlite:///{tmp_path / 'dialer.db'}"
    queue, suppressed, _ = _frames("r1", 2)
    report = publish_queue(url, queue, suppressed, as_of=AS_OF, run_id="r1")
    assert report.contacts_table is None and report.contacts_rows == 0
    engine = sa.create_engine(url)
    assert not sa.inspect(engine).has_table("recover_contacts")
    engine.dispose()


def test_the_contacts_need_a_table_of_their_own(tmp_path):
    queue, suppressed, contacts = _frames("r1", 1)
    with pytest.raises(ValueError, match="different tables"):
        publish_queue(
            f"sqlite:///{tmp_path / 'x.db'}",
            queue,
            suppressed,
            as_of=AS_OF,
            run_id="r1",
            contacts=contacts,
            contacts_table="recover_queue",
        )
