"""What every command shares: the set-up before the heavy imports, exit codes, and failures told
as one line and an exit code.

:func:`setup` sets environment variables that Prefect, MLflow and LightGBM (OpenMP) read when
they are imported, so it runs first in every command, and the modules that load them are
imported after it, inside functions (see the package docstring).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from recover.cli.render import errors

if TYPE_CHECKING:
    from recover.config import Config

EXIT_INVALID_INPUT = 2
EXIT_NO_MODEL = 3
EXIT_DRIFT = 4  # tonight's book drifted beyond monitoring.drift_fail_psi: nothing published
EXIT_REFUSED = 5  # `recover promote`: the gate judged a challenger and refused it
EXIT_LOCKED = 6  # another run holds this as-of's night lock: this one published nothing

T = TypeVar("T")


def setup(config_path: Path | None, verbose: bool = False) -> Config:
    """Load the config and prepare logging and Prefect's environment (before importing it)."""
    from recover.config import load_config

    config = load_config(config_path)
    state = config.resolved_state_dir()
    state.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(state / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary Prefect server's first start (database migrations) took 13-26 s here,
    # beyond Prefect's 20 s default: a slow start must not fail the night.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "recover")
    # MLflow's download progress bars would interleave with the run's log lines.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Idle OpenMP threads sleep instead of spinning: with any other busy process on two cores,
    # spinning LightGBM threads ran 10-20x slower (measured). Must precede importing lightgbm.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s  %(message)s", datefmt="%H:%M:%S"))
    # MLflow's INFO lines (database migrations, registrations) and its pickle caution (models
    # are loaded only from this engine's own registry) would bury the progress lines.
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    log = logging.getLogger("recover")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return config


def fail(message: str, code: int) -> NoReturn:
    """Print ``message`` as an error (to stderr) and exit with ``code``."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def known_conditions() -> tuple[type[BaseException], ...]:
    """The failures a user is told about in one line and an exit code, never a traceback."""
    from data_contracts.validation import ContractError
    from features.snapshots import HistoryTooShortError
    from monitoring.drift import DriftError
    from pipelines.common import InvalidInputError
    from pipelines.runtime.operations import NightLockedError

    return (NightLockedError, ContractError, InvalidInputError, HistoryTooShortError, LookupError, DriftError)


class NoTracebackForKnownConditions(logging.Filter):
    """Prefect logs a failed task or flow run with its traceback; for a known condition the
    one-line message (and the CLI's own) is the whole story, so the traceback is dropped. Bugs
    (anything else, and KeyError or IndexError among lookups) keep theirs."""

    def __init__(self, known: tuple[type[BaseException], ...]):
        super().__init__()
        self.known = known

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, self.known) and not isinstance(error, KeyError | IndexError):
            record.exc_info, record.exc_text = None, None
        return True


@contextmanager
def quiet_known_conditions() -> Iterator[None]:
    """While a flow runs: Prefect's run loggers drop the traceback of a known condition."""
    names = ("prefect.flow_runs", "prefect.task_runs", "prefect.flow_engine", "prefect.task_engine")
    quiet = NoTracebackForKnownConditions(known_conditions())
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def run_guarded(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a flow; turn contract, model-lookup and drift failures into clear messages and exit codes."""
    from data_contracts.validation import ContractError
    from features.snapshots import HistoryTooShortError
    from monitoring.drift import DriftError
    from pipelines.common import InvalidInputError
    from pipelines.runtime.operations import NightLockedError

    try:
        with quiet_known_conditions():
            return function(*args, **kwargs)
    except NightLockedError as error:
        fail(str(error), EXIT_LOCKED)
    except (ContractError, InvalidInputError) as error:
        fail(str(error), EXIT_INVALID_INPUT)
    except HistoryTooShortError as error:
        fail(f"cannot train: {error}", EXIT_INVALID_INPUT)
    except LookupError as error:
        # KeyError and IndexError are LookupErrors too, but they are bugs or broken models, not
        # a missing champion: let them surface with their traceback.
        if isinstance(error, KeyError | IndexError):
            raise
        fail(str(error), EXIT_NO_MODEL)
    except DriftError as error:
        fail(str(error), EXIT_DRIFT)


def check_policy(config: Config, policy: str | None) -> None:
    """Fail fast, before any work, on a pack that does not exist or does not parse."""
    from scoring.policy.packs import resolve_packs

    try:
        resolve_packs(
            policy or config.policy.default,
            config.policy.by_region,
            config.policy.packs_dir,
            house_rules=config.policy.cadence,
        )
    except (ValueError, OSError) as error:
        fail(f"contact policy: {error}", EXIT_INVALID_INPUT)
