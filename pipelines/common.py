"""Tasks shared by the flows: reading, validating and run identity."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from adapters.io import read_source
from data_contracts.cutoff import AsOf, Cutoff
from data_contracts.validation import ContractError, ValidationResult, validate_tables
from recover.config import Config


class InvalidInputError(RuntimeError):
    """Too many rows broke the contract: the run stops before anything is published."""

    def __init__(self, result: ValidationResult, over: dict[str, float], ceiling: float):
        self.result = result
        self.over = over
        shares = ", ".join(f"{table} {share:.1%}" for table, share in over.items())
        super().__init__(
            f"input contract violated: quarantined rows exceed the {ceiling:.1%} ceiling ({shares}); "
            "nothing is published.\n" + "\n".join(f"  - {line}" for line in result.describe_failures())
        )


@task(
    name="load-and-validate",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=lambda task, run, state: is_transient(state),
)
def load_and_validate(data: str | Path, as_of: AsOf | None, config: Config) -> ValidationResult:
    """Read (folder, database or store) and validate the six tables. Bad rows are quarantined;
    structural problems, or more bad rows than the ceiling in any table, stop the run."""
    raw = read_source(data, config.source.tables, config.resolved_state_dir())
    return check_ceiling(validate_tables(raw, as_of=as_of), config.validation.max_bad_row_share)


def cutoff_timezone_of(config: Config, policy: str | None = None) -> str:
    """The lender's clock for the night's cut-off: ``cutoff.timezone`` when set, else the time
    zone of the run's default rule pack (``policy`` or ``policy.default``), else
    ``schedule.timezone``."""
    if config.cutoff.timezone:
        return config.cutoff.timezone
    from scoring.policy.packs import load_pack

    pack = load_pack(policy or config.policy.default, config.policy.packs_dir)
    return pack.timezone or config.schedule.timezone


def night_cutoff(config: Config, as_of: dt.date, policy: str | None = None) -> Cutoff:
    """The cut-off of work day ``as_of``: 00:00 of it on the lender's clock (see
    :func:`cutoff_timezone_of`). Training, scoring, validation and replays all use it."""
    return Cutoff(as_of, cutoff_timezone_of(config, policy))


def check_ceiling(result: ValidationResult, max_bad_row_share: float) -> ValidationResult:
    """Raise :class:`InvalidInputError` when any table has more bad rows than the ceiling."""
    over = result.tables_over(max_bad_row_share)
    if over:
        raise InvalidInputError(result, over, max_bad_row_share)
    return result


def stop_the_line_errors() -> tuple[type[BaseException], ...]:
    """Failures a retry cannot cure: broken contracts, drift beyond the limit, a night another run
    holds. Retrying them would only delay the clear error."""
    from pandera.errors import SchemaError, SchemaErrors

    from features.snapshots import HistoryTooShortError
    from monitoring.drift import DriftError
    from pipelines.runtime.operations import NightLockedError

    return (
        ContractError,
        InvalidInputError,
        SchemaError,
        SchemaErrors,
        DriftError,
        NightLockedError,
        HistoryTooShortError,
    )


def is_transient(state) -> bool:
    """Retry only I/O trouble (a source, MLflow or a publish target failing), never a contract
    violation or another stop-the-line condition."""
    try:
        state.result()
    except stop_the_line_errors():
        return False
    except Exception:
        return True
    return False


def with_retries(task_, config: Config):
    """``task_`` retrying transient failures as ``operations`` says (count and backoff)."""
    return task_.with_options(
        retries=config.operations.retries,
        retry_delay_seconds=list(config.operations.retry_delay_seconds),
        retry_condition_fn=lambda task, run, state: is_transient(state),
    )


def validation_summary(result: ValidationResult) -> dict:
    """Counts per table, quarantined rows per rule and the rows held for a later night (after
    the cut-off), for manifests and tracking."""
    cutoff = result.cutoff
    return {
        "data_cutoff_utc": None if cutoff is None else cutoff.instant.isoformat(),
        "cutoff_timezone": None if cutoff is None else cutoff.timezone,
        "tables": result.counts().set_index("table").to_dict(orient="index"),
        "held_for_later_nights": result.held_summary(),
        "quarantined_by_rule": [
            {"table": r.table, "column": r.column, "rule": r.rule, "rows": int(r.rows)}
            for r in result.failures_by_rule().itertuples()
        ],
    }


def new_run_id() -> str:
    """The Prefect flow run id when inside a flow run, else a fresh UUID."""
    try:
        from prefect.runtime import flow_run

        if flow_run.id:
            return str(flow_run.id)
    except Exception:
        pass
    return str(uuid.uuid4())


def table_sizes(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    return {name: int(len(frame)) for name, frame in tables.items()}


@dataclass(frozen=True)
class PriorChannel:
    """The stated prior standing in for an unregistered best-channel model (the manifest and
    the stage cache read it as they read a registered version)."""

    model: object
    reason: str
    name: str = "prior"
    version: str | None = None
    run_id: str | None = None

    @property
    def label(self) -> str:
        return "prior (channel_model.prior_lift)"


NO_CHANNEL_MODEL = (
    "no best-channel model is registered (the training history held too few contacts to learn channels from)"
)


def channel_champion_or_prior(config: Config, propensity_champion):
    """The best-channel champion, or the stated prior (models/channel_prior.py) on top of the
    propensity champion when training registered none: a book without contact history still
    gets a lawful queue, and says where its channels came from."""
    from adapters import tracking
    from models.channel_prior import ChannelPriorModel

    name = config.mlflow.channel_model_name
    if tracking.alias_version(config, name, config.mlflow.champion_alias) is not None:
        return tracking.load_champion(config, name)
    prior = ChannelPriorModel(
        propensity_champion.model, config.channel_model.prior_lift, NO_CHANNEL_MODEL
    ).fit()
    return PriorChannel(model=prior, reason=NO_CHANNEL_MODEL)
