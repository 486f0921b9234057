"""Tasks shared by the flows: reading, validating and run identity."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from data_contracts.validation import ValidationResult, validate_tables
from recover.io import read_tables


class InvalidInputError(RuntimeError):
    """Row-level contract failures: the run stops before anything is published."""

    def __init__(self, result: ValidationResult):
        self.result = result
        super().__init__(
            "input contract violated:\n" + "\n".join(f"  - {line}" for line in result.describe_failures())
        )


@task(name="load-and-validate", cache_policy=NO_CACHE)
def load_and_validate(data: str | Path, as_of: dt.date | None) -> ValidationResult:
    """Read the six tables and validate them; structural or row failures stop the run."""
    result = validate_tables(read_tables(Path(data)), as_of=as_of)
    if not result.is_valid:
        raise InvalidInputError(result)
    return result


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
