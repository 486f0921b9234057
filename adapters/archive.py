"""The queue history: every nightly run's scored loans, kept in the engine's state folder.

`recover score` overwrites its output folder every night; what `recover backfill` needs of each
night (one row per overdue loan scored: p_pay, rank, capacity, channel, value, exploration and
control flags, the challenger's shadow score; columns in :data:`monitoring.outcomes.HISTORY_COLUMNS`)
is appended here after the night's queue is published, as Parquet partitions::

    <state>/history/as_of=YYYY-MM-DD/run_id=<run id>/queue_history.parquet

Idempotent per (as_of, run_id): writing a run again with the same rows changes nothing; with
different rows it is refused (a night's history never changes behind the reports' back). A
re-run of a night has a new run id and a partition of its own; the backfill keeps the one
archived last. Files appear whole (written beside, then renamed).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from monitoring.outcomes import HISTORY_COLUMNS

HISTORY_FOLDER = "history"
PARTITION_FILE = "queue_history.parquet"


class ArchiveConflict(RuntimeError):
    """A run already archived with different rows."""


@dataclass(frozen=True)
class ArchivedRun:
    """What one write did: the partition's path, its rows, and whether it was new."""

    path: Path
    rows: int
    written: bool

    def as_dict(self) -> dict:
        return {"path": str(self.path), "rows": self.rows, "written": self.written}


class QueueArchive:
    """The queue history under ``root`` (default: ``<state folder>/history``)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @classmethod
    def in_state(cls, state_dir: Path | str) -> QueueArchive:
        return cls(Path(state_dir) / HISTORY_FOLDER)

    def __repr__(self) -> str:
        return f"QueueArchive({str(self.root)!r})"

    def partition(self, as_of, run_id: str) -> Path:
        day = pd.Timestamp(as_of).date().isoformat()
        return self.root / f"as_of={day}" / f"run_id={run_id}" / PARTITION_FILE

    def write(self, rows: pd.DataFrame) -> ArchivedRun:
        """Archive one run's rows (one as_of, one run_id, the history columns)."""
        missing = sorted(set(HISTORY_COLUMNS) - set(rows.columns))
        if missing:
            raise ValueError(f"queue history rows lack columns {missing}")
        keys = rows[["as_of", "run_id"]].drop_duplicates()
        if len(keys) != 1:
            raise ValueError(f"one run per write: got {len(keys)} (as_of, run_id) pairs")
        as_of, run_id = keys.iloc[0]["as_of"], str(keys.iloc[0]["run_id"])
        target = self.partition(as_of, run_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            rows[HISTORY_COLUMNS].reset_index(drop=True).to_parquet(staged, index=False)
            if target.exists():
                if _same_rows(pd.read_parquet(staged), pd.read_parquet(target)):
                    return ArchivedRun(target, len(rows), written=False)
                raise ArchiveConflict(
                    f"run {run_id} of {pd.Timestamp(as_of).date()} is already archived with different "
                    f"rows ({target}); the archive is never rewritten"
                )
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)
        return ArchivedRun(target, len(rows), written=True)

    def partitions(self) -> list[Path]:
        return sorted(self.root.glob(f"as_of=*/run_id=*/{PARTITION_FILE}"))

    def read(self) -> pd.DataFrame:
        """Every archived row (empty frame with the history columns when nothing is archived)."""
        frames = [pd.read_parquet(path) for path in self.partitions()]
        frames = [frame for frame in frames if len(frame)]
        if not frames:
            return pd.DataFrame(columns=HISTORY_COLUMNS)
        return pd.concat(frames, ignore_index=True)[HISTORY_COLUMNS]


def _same_rows(new: pd.DataFrame, stored: pd.DataFrame) -> bool:
    """The same rows, ignoring when each copy was archived (a retried write stamps a new time)."""
    columns = [c for c in HISTORY_COLUMNS if c != "archived_at"]
    return new[columns].equals(stored[columns])
