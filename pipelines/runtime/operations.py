"""Nightly operations: the work day of a scheduled run, resuming a failed night, one run per night.

Resuming. Each expensive stage of a night after validation (features, contact policy, channel
choice, scoring and explanations) is a Prefect task whose result is persisted under a key made of
everything that determines it: the input's fingerprint, the as-of date, the whole configuration,
the rule pack, the champions' versions and the engine's version. A rerun of a night that failed
finds the stages that completed and skips them; a change to any of those inputs makes new keys,
so nothing stale is reused. A night that completes forgets its stages (:meth:`StageCache.forget`),
so rerunning a *successful* night recomputes it from the sources, and disk holds only failed
nights (each for at most ``operations.resume_hours``).

Locking. :class:`NightLock` is an OS file lock in the state folder, one per as-of date: a second
run for the same night waits ``operations.lock_wait_seconds`` and then fails naming the holder.
The OS releases the lock when its process dies, so a killed run never blocks the next night.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import pickle
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from filelock import FileLock, Timeout

RESUME_FOLDER = "resume"
_log = logging.getLogger("recover.operations")
LOCK_FOLDER = "locks"


def work_day(timezone: str, now: dt.datetime | None = None) -> dt.date:
    """The date that has begun in the lender's ``timezone``: what a scheduled nightly run scores
    (its history is everything strictly before that day)."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(ZoneInfo(timezone)).date()


def nights(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from ``start`` to ``end``, both included, in order."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


# --- resuming a failed night ---------------------------------------------------------------------


def source_fingerprint(data: str | Path, state_dir: Path) -> dict:
    """What identifies tonight's input without reading it: for a folder (or the engine's store,
    a DuckDB file) every file's name, size and modification time; for a database URL the URL
    alone (a database cannot be fingerprinted cheaply: a failed night's stages are reused only
    within ``operations.resume_hours``, and ``recover score --fresh`` recomputes them)."""
    from adapters.io import STORE_SOURCE
    from adapters.sources import is_database_url, normalize_url
    from adapters.store import default_store_path

    text = str(data)
    if is_database_url(text):
        return {"kind": "database", "url": normalize_url(text).render_as_string(hide_password=True)}
    path = default_store_path(state_dir) if text == STORE_SOURCE else Path(text)
    files = sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    return {
        "kind": "store" if text == STORE_SOURCE else "files",
        "path": str(path.resolve()),
        "files": [
            [str(p.relative_to(path) if p != path else p.name), p.stat().st_size, p.stat().st_mtime_ns]
            for p in files
        ],
    }


def digest(payload: object) -> str:
    """A stable hex digest of a JSON-able payload (keys sorted; dates and paths as strings)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class StageCache:
    """Persisted results of one night's stages (see the module docstring).

    ``folder`` holds one record per completed stage, named ``<prefix>-<stage>``: the pickled
    result of the stage's task."""

    folder: Path
    prefix: str
    expiration: dt.timedelta
    enabled: bool = True

    @classmethod
    def for_night(cls, state_dir: Path, night: dict, hours: float, enabled: bool = True) -> StageCache:
        return cls(
            folder=Path(state_dir) / RESUME_FOLDER,
            prefix=f"night-{night['as_of']}-{digest(night)[:20]}",
            expiration=dt.timedelta(hours=hours),
            enabled=enabled,
        )

    def key(self, stage: str) -> str:
        return f"{self.prefix}-{stage}"

    def run(self, stage: str, task_, *args, refresh: bool = False):
        """``task_(*args)``, or the persisted result of a completed ``stage`` of this night (unless
        ``refresh``); a completed stage's result is persisted before it is returned.

        The result is pickled straight into its file: unlike a Prefect result record (the
        pickle base64-encoded in memory, then written), no copy of it is built in memory; on
        100k overdue loans the records cost 1.4 GB of peak memory."""
        path = self.folder / self.key(stage)
        if self.enabled and not refresh and path.is_file() and not self._expired(path):
            try:
                with path.open("rb") as handle:
                    result = pickle.load(handle)
                _log.info("stage %s resumed from %s", stage, path.name)
                return result
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as error:
                _log.warning(
                    "stage %s: its record %s cannot be read (%s); recomputing", stage, path.name, error
                )
        result = task_(*args)
        if self.enabled:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            with partial.open("wb") as handle:
                pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(partial, path)  # a run killed mid-write leaves no half record
        return result

    def _expired(self, path: Path) -> bool:
        return time.time() - path.stat().st_mtime > self.expiration.total_seconds()

    def completed(self) -> list[str]:
        """The stages of this night with a persisted result, oldest first."""
        if not self.folder.is_dir():
            return []
        records = sorted(self.folder.glob(f"{self.prefix}-*"), key=lambda p: p.stat().st_mtime_ns)
        return [p.name[len(self.prefix) + 1 :] for p in records]

    def forget(self) -> int:
        """Delete this night's records and the results they point to; the number of stages."""
        forgotten = 0
        for record in self.folder.glob(f"{self.prefix}-*") if self.folder.is_dir() else []:
            record.unlink(missing_ok=True)
            forgotten += 1
        return forgotten


def prune_stage_records(state_dir: Path, older_than: dt.timedelta) -> int:
    """Delete every night's records (and results) older than ``older_than``; how many."""
    folder = Path(state_dir) / RESUME_FOLDER
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    stale = [p for p in folder.iterdir() if p.is_file() and p.stat().st_mtime < cutoff]
    for record in stale:
        record.unlink(missing_ok=True)
    return len(stale)


# --- one run per night ---------------------------------------------------------------------------


class NightLockedError(RuntimeError):
    """Another run holds the lock of this as-of date."""


@dataclass
class NightLock:
    """The lock of one as-of date in ``<state>/locks``; a context manager. Its sidecar JSON says
    who holds it (run id, host, pid, since) so the refusal can name the holder."""

    state_dir: Path
    as_of: dt.date
    run_id: str
    wait_seconds: float = 0.0

    def __post_init__(self) -> None:
        folder = Path(self.state_dir) / LOCK_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"nightly-{self.as_of}.lock"
        self.holder_path = folder / f"nightly-{self.as_of}.holder.json"
        # thread_local=False: the flow's tasks run on other threads than the one that locked.
        self._lock = FileLock(self.path, thread_local=False)

    def holder(self) -> dict:
        try:
            return json.loads(self.holder_path.read_text())
        except (OSError, ValueError):
            return {}

    def __enter__(self) -> NightLock:
        try:
            self._lock.acquire(timeout=self.wait_seconds, poll_interval=0.2)
        except Timeout:
            holder = self.holder()
            who = ", ".join(f"{k} {v}" for k, v in holder.items()) or "unknown holder"
            waited = f" after waiting {self.wait_seconds:g} s" if self.wait_seconds else ""
            raise NightLockedError(
                f"another run is scoring as-of {self.as_of} ({who}){waited}: this run ({self.run_id}) "
                "publishes nothing. Rerun once it has finished, or set operations.lock_wait_seconds to wait."
            ) from None
        self.holder_path.write_text(
            json.dumps(
                {
                    "run_id": self.run_id,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
        )
        return self

    def __exit__(self, *exc_info) -> None:
        self.holder_path.unlink(missing_ok=True)
        self._lock.release()
