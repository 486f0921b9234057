"""A range of nights replayed in order (`recover score --as-of-range`), each its own run writing
``OUT/YYYY-MM-DD``: which nights to run, and which are already published and skipped."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from pipelines.runtime.operations import nights


@dataclass(frozen=True)
class ReplayNight:
    """One night of a replay: its date, its folder, and whether its queue is already published
    there (and is skipped)."""

    night: dt.date
    folder: Path
    skip: bool


def published_as_of(folder: Path) -> str | None:
    """The as-of of the queue published in ``folder`` (its manifest), or None."""
    try:
        return json.loads((folder / "manifest.json").read_text())["as_of"]
    except (OSError, ValueError, KeyError):
        return None


def replay_nights(start: dt.date, end: dt.date, out: Path, fresh: bool = False) -> list[ReplayNight]:
    """Every night from ``start`` to ``end`` (both included) in order, each in ``out/<date>``; a
    night whose queue is already published there is skipped unless ``fresh``. Raises
    ``ValueError`` when the range ends before it starts."""
    replay = []
    for night in nights(start, end):
        folder = out / str(night)
        replay.append(ReplayNight(night, folder, skip=published_as_of(folder) == str(night) and not fresh))
    return replay
