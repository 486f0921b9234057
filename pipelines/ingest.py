"""A delivery checked against the input contract, and appended to the engine's store.

`recover validate` reads a source and validates it (:func:`validate_delivery`); `recover ingest`
also appends the valid rows to the engine's own DuckDB store (:func:`ingest_delivery`), which
train and score then read as ``--data store``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from adapters.io import read_source, write_quarantine
from adapters.store import EngineStore, conflicts_as_quarantine, default_store_path
from data_contracts.validation import ValidationResult, validate_tables
from pipelines.common import InvalidInputError, check_ceiling, night_cutoff
from recover.config import Config


def validate_delivery(data: str | Path, as_of: dt.date | None, config: Config) -> ValidationResult:
    """Read the six tables from ``data`` (folder, database URL or ``store``) and validate them;
    with ``as_of``, valid rows at or after that work day's cut-off are held for a later night
    (the result's ``cutoff`` says which). Raises ``ContractError`` on a structural problem (a
    missing table or column, an unreadable file)."""
    raw = read_source(data, config.source.tables, config.resolved_state_dir())
    return validate_tables(raw, as_of=night_cutoff(config, as_of) if as_of else None)


def ingest_folder(config: Config, run_id: str, out: Path | None = None) -> Path:
    """Where a delivery's quarantine goes: ``out``, else ``<state>/ingest/<run id>``."""
    return out or config.resolved_state_dir() / "ingest" / run_id


@dataclass(frozen=True)
class Ingested:
    """What one delivery did to the store: per table (the index) ``rows_in``, ``quarantined``,
    ``duplicates_collapsed``, ``inserted``, ``already_present`` and ``conflicts``; the rows that
    were not stored (bad rows and conflicts) and where they were written, when there were any."""

    store_path: Path
    counts: pd.DataFrame
    quarantine: pd.DataFrame
    quarantine_path: Path | None


def ingest_delivery(
    data: str | Path, as_of: dt.date | None, config: Config, run_id: str, folder: Path
) -> Ingested:
    """Validate a delivery and append its valid rows to the engine's store, idempotently: rows
    already stored are skipped; a re-delivered row whose content changed is a conflict,
    quarantined and never written. Rows after the cut-off of ``as_of`` are valid: the store
    keeps them, and each night reads up to its own.

    The bad rows and conflicts go to ``folder/quarantine/`` (only when there are any). More bad
    rows than ``validation.max_bad_row_share`` in any table stores nothing: the quarantine is
    written and :class:`~pipelines.common.InvalidInputError` raised; a structural problem raises
    ``ContractError`` and writes nothing.
    """
    try:
        result = check_ceiling(validate_delivery(data, as_of, config), config.validation.max_bad_row_share)
    except InvalidInputError as error:
        write_quarantine(folder, error.result.quarantine(run_id))
        raise
    store = EngineStore(default_store_path(config.resolved_state_dir()))
    report = store.ingest(result.with_held_rows())
    quarantine = pd.concat(
        [result.quarantine(run_id), conflicts_as_quarantine(report, run_id)], ignore_index=True
    )
    return Ingested(
        store_path=store.path,
        counts=result.counts().merge(report.counts(), on="table").set_index("table"),
        quarantine=quarantine,
        quarantine_path=None if quarantine.empty else write_quarantine(folder, quarantine),
    )
