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
    """Too many rows broke the contract: the run stops before anything is published."""

    def __init__(self, result: ValidationResult, over: dict[str, float], ceiling: float):
        self.result = result
        self.over = over
        shares = ", ".join(f"{table} {share:.1%}" for table, share in over.items())
        super().__init__(
            f"input contract violated: quarantined rows exceed the {ceiling:.1%} ceiling ({shares}); "
            "nothing is published.\n" + "\n".join(f"  - {line}" for line in result.describe_failures())
        )


@task(name="load-and-validate", cache_policy=NO_CACHE)
def load_and_validate(data: str | Path, as_of: dt.date | None, max_bad_row_share: float) -> ValidationResult:
    """Read and validate the six tables. Bad rows are quarantined; structural problems, or more
    bad rows than the ceiling in any table, stop the run."""
    result = validate_tables(read_tables(Path(data)), as_of=as_of)
    over = result.tables_over(max_bad_row_share)
    if over:
        raise InvalidInputError(result, over, max_bad_row_share)
    return result


def validation_summary(result: ValidationResult) -> dict:
    """Counts per table and quarantined rows per rule, for manifests and tracking."""
    return {
        "tables": result.counts().set_index("table").to_dict(orient="index"),
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
