"""`recover demo`: a fresh simulated book through the whole engine (evaluation/demo.py), each
step shown as it ends, and a summary."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recover.cli.options import (
    ConfigOption,
    LoansOption,
    PolicyOption,
    SeedOption,
    VerboseOption,
    config_arg,
)
from recover.cli.render import console
from recover.cli.render.data import print_simulated
from recover.cli.render.demo import print_summary
from recover.cli.render.modelling import print_training
from recover.cli.render.night import print_night
from recover.cli.runtime import EXIT_INVALID_INPUT, check_policy, fail, run_guarded, setup

if TYPE_CHECKING:
    from data_contracts.validation import ValidationResult
    from evaluation.books import WrittenBook
    from pipelines.results import TrainResult
    from recover.config import Config


class _DemoConsole:
    """Shows each of the demo's steps as it begins and ends (a :class:`evaluation.demo.DemoObserver`)."""

    def __init__(self, config: Config):
        self.config = config

    def step(self, title: str) -> None:
        console.rule(title)

    def simulated(self, book: WrittenBook, out: Path) -> None:
        print_simulated(book, out)

    def validated(self, result: ValidationResult) -> None:
        counts = result.counts()
        rows = int(counts["rows_in"].sum())
        console.print(
            f"{'valid' if result.is_valid else 'INVALID'}: {rows:,} rows in {len(counts)} tables "
            "(the six required and the optional ones the book carries)"
        )

    def trained(self, result: TrainResult) -> None:
        print_training(result, self.config)

    def scored(self, result: dict, as_of: dt.date, out: Path) -> None:
        print_night(result, as_of, out)


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo book and outputs.")] = Path(
        "demo-output"
    ),
    loans: LoansOption = None,
    seed: SeedOption = None,
    policy: PolicyOption = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Simulate a book, validate it, train, register the champion and score the queue."""
    config = setup(config_path, verbose)
    started = time.perf_counter()
    check_policy(config, policy)
    from evaluation.demo import SimulatedBookInvalidError, run_demo

    try:
        ran = run_guarded(
            run_demo,
            config,
            out,
            _DemoConsole(config),
            loans=loans,
            seed=seed,
            policy=policy,
            config_path=config_arg(config_path),
        )
    except SimulatedBookInvalidError as error:
        fail(str(error), EXIT_INVALID_INPUT)
    print_summary(config, ran.scored, ran.trained, ran.queue_dir, time.perf_counter() - started)
