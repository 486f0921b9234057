"""Contact points reach the officer's contact rows and nothing else (issue 27, part 5).

A night on the small book whose contact points and names carry distinctive markers: the markers
appear in the team files and the database contacts table, and in no other output file, not in
the state folder (MLflow store, stage caches, queue history), not in the run's output or logs.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from recover.cli import app
from tests.conftest import SMALL_BOOK_AS_OF

pytestmark = pytest.mark.e2e

runner = CliRunner()
AS_OF = str(SMALL_BOOK_AS_OF)
MARKERS = ("Zebulon", "pii.marker", "Marker Lane", "5557770199")
# The officer-facing outputs that carry contact points: team files, the workbook, and the
# batch files an automated channel's sending platform reads.
ALLOWED = ("teams", "team_queues.xlsx", "batches")


def _book_with_markers(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("truth"))
    borrowers = pd.read_parquet(target / "borrowers.parquet")
    borrowers["display_name"] = "Zebulon " + borrowers["borrower_id"]
    borrowers.to_parquet(target / "borrowers.parquet", index=False)
    ids = borrowers["borrower_id"]
    points = pd.concat(
        [
            pd.DataFrame({"borrower_id": ids, "kind": "phone", "value": "+15557770199"}),
            pd.DataFrame({"borrower_id": ids, "kind": "messaging", "value": "+15557770199"}),
            pd.DataFrame(
                {"borrower_id": ids, "kind": "email", "value": ids.str.lower() + ".pii.marker@example.org"}
            ),
            pd.DataFrame({"borrower_id": ids, "kind": "address", "value": "77 Marker Lane, " + ids}),
        ],
        ignore_index=True,
    ).assign(is_primary=True, verified_on=pd.NaT)
    points["verified_on"] = points["verified_on"].astype("datetime64[ns]")
    points.to_parquet(target / "contact_points.parquet", index=False)


def _texts(path: Path) -> list[str]:
    """What a reader of ``path`` can find in it: every cell of a Parquet file (compressed on
    disk), else the file's bytes as text."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        return [frame.astype("str").to_csv(index=False), " ".join(map(str, frame.columns))]
    return [path.read_bytes().decode("utf-8", errors="ignore")]


def _holding_markers(folder: Path) -> set[str]:
    found = set()
    for path in folder.rglob("*"):
        if path.is_file() and any(marker in text for text in _texts(path) for marker in MARKERS):
            found.add(str(path.relative_to(folder)))
    return found


def test_contact_points_reach_only_the_officers_contact_rows(
    champions, small_book, tmp_path, prefect_harness, caplog
):
    data = tmp_path / "book"
    _book_with_markers(small_book[0], data)
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'dialer.db'}"
    with caplog.at_level(logging.DEBUG):
        result = runner.invoke(
            app,
            ["score", "--data", str(data), "--as-of", AS_OF, "--out", str(out), "--publish", url],
            catch_exceptions=False,
        )
    assert result.exit_code == 0, result.output

    # The team files carry one row per contact with its point and name.
    teams = pd.concat([pd.read_parquet(path) for path in (out / "teams").glob("*.parquet")])
    queue = pd.read_parquet(out / "queue.parquet")
    assert len(teams) == queue["contact_id"].nunique() == queue["borrower_id"].nunique()
    assert teams["display_name"].str.startswith("Zebulon ").all()
    assert teams["contact_point"].notna().all()
    assert set(teams["loan_ids"].str.split("; ").explode()) == set(queue["loan_id"])
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        published = pd.read_sql("SELECT * FROM recover_contacts", connection)
    engine.dispose()
    assert set(published["contact_id"]) == set(teams["contact_id"])
    assert published["display_name"].str.startswith("Zebulon ").all()

    # Nowhere else: no other output file, not the state folder (MLflow store, stage caches,
    # queue history), not the run's output or its log records.
    holding = _holding_markers(out)
    assert any(Path(path).parts[0] == "teams" for path in holding)  # the scan finds them where they are
    leaked = {path for path in holding if Path(path).parts[0] not in ALLOWED}
    assert not leaked
    assert not _holding_markers(Path(champions[0].resolved_state_dir()))
    logs = result.output + caplog.text
    assert not any(marker in logs for marker in MARKERS)


def test_a_book_without_contact_points_still_gets_its_team_files(
    champions, small_book, tmp_path, prefect_harness
):
    data = tmp_path / "book"
    shutil.copytree(small_book[0], data, ignore=shutil.ignore_patterns("truth", "contact_points.*"))
    borrowers = pd.read_parquet(data / "borrowers.parquet").drop(columns="display_name", errors="ignore")
    borrowers.to_parquet(data / "borrowers.parquet", index=False)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["score", "--data", str(data), "--as-of", AS_OF, "--out", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    teams = pd.concat([pd.read_parquet(path) for path in (out / "teams").glob("*.parquet")])
    assert len(teams) and teams["contact_point"].isna().all() and teams["display_name"].isna().all()
