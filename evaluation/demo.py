"""The demo (`recover demo`): a fresh simulated book through the engine, step by step.

Simulate a book, validate it, train both models and register the champions, and score the
night after the book's as-of. Each step reports to a :class:`DemoObserver` as it ends, so the
command line can show it before the next (long) step begins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from adapters.io import read_tables
from data_contracts.validation import ValidationResult, validate_tables
from evaluation.books import WrittenBook, write_simulated_book
from pipelines.common import night_cutoff
from pipelines.nightly_score_flow import nightly_score_flow
from pipelines.results import TrainResult
from pipelines.runtime.cluster import on_cluster
from pipelines.train_flow import train_flow
from recover.config import Config

STEPS = (
    "1/4 simulate a loan book",
    "2/4 validate",
    "3/4 train and register the champion",
    "4/4 score tomorrow's queue",
)


class SimulatedBookInvalidError(RuntimeError):
    """The simulated book broke the input contract (a simulator bug): nothing was trained."""


class DemoObserver(Protocol):
    """What the demo tells its caller: a step begins, and each step's result."""

    def step(self, title: str) -> None: ...

    def simulated(self, book: WrittenBook, out: Path) -> None: ...

    def validated(self, result: ValidationResult) -> None: ...

    def trained(self, result: TrainResult) -> None: ...

    def scored(self, result: dict, as_of: dt.date, out: Path) -> None: ...


@dataclass(frozen=True)
class Demo:
    """The demo's book, training and night: the train flow's and the nightly flow's results."""

    data_dir: Path
    queue_dir: Path
    as_of: dt.date
    trained: TrainResult
    scored: dict


def run_demo(
    config: Config,
    out: Path,
    observer: DemoObserver,
    *,
    loans: int | None = None,
    seed: int | None = None,
    policy: str | None = None,
    config_path: str | None = None,
) -> Demo:
    """Simulate a book of ``loans`` (seed ``seed``) to ``out/data``, validate it, train and
    promote both models (the champions of the state folder's MLflow), and score the night of
    the book's as-of under ``policy`` to ``out/queue``, on the config's cluster (if any).
    Raises :class:`SimulatedBookInvalidError` when the book fails validation, and the flows'
    own errors."""
    data_dir, queue_dir = out / "data", out / "queue"
    observer.step(STEPS[0])
    book = write_simulated_book(config, data_dir, loans=loans, seed=seed)
    observer.simulated(book, data_dir)
    as_of = book.settings.as_of
    observer.step(STEPS[1])
    result = validate_tables(read_tables(data_dir), as_of=night_cutoff(config, as_of))
    observer.validated(result)
    if not result.is_valid:
        raise SimulatedBookInvalidError("the simulated book failed validation")
    address = config.cluster.address
    observer.step(STEPS[2])
    trained = on_cluster(train_flow, address)(
        str(data_dir),
        as_of,
        config_path,
        promote=True,
        search_trials=None,
        search_timeout_seconds=None,
        cluster=address,
    )
    observer.trained(trained)
    observer.step(STEPS[3])
    scored = on_cluster(nightly_score_flow, address)(
        str(data_dir), as_of, str(queue_dir), config_path, None, policy, False, address
    )
    observer.scored(scored, as_of, queue_dir)
    return Demo(data_dir, queue_dir, as_of, trained, scored)
