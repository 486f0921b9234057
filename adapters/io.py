"""Reading input tables and publishing run outputs: the engine's file-system edge."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from data_contracts.enums import OPTIONAL_TABLES, TABLES
from data_contracts.parsing import csv_text
from data_contracts.validation import ContractError, StructuralProblem


def read_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Read ``<table>.parquet`` or ``<table>.csv`` for each of the six input tables, and for
    each optional table (``contact_points``) the folder holds.

    CSV cells are read as text (parsing into contract types is validation's job), UTF-8 only.
    Raises :class:`ContractError` naming every missing, ambiguous or unreadable table.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ContractError([StructuralProblem("*", None, "data directory not found", str(data_dir))])
    tables: dict[str, pd.DataFrame] = {}
    problems: list[StructuralProblem] = []
    for table in (*TABLES, *OPTIONAL_TABLES):
        candidates = [p for p in (data_dir / f"{table}.parquet", data_dir / f"{table}.csv") if p.exists()]
        if not candidates and table in OPTIONAL_TABLES:
            continue
        if not candidates:
            problems.append(
                StructuralProblem(
                    table, None, "table missing", f"no {table}.parquet or {table}.csv in {data_dir}"
                )
            )
            continue
        if len(candidates) > 1:
            problems.append(
                StructuralProblem(table, None, "ambiguous table", "both .parquet and .csv present")
            )
            continue
        path = candidates[0]
        try:
            if path.suffix == ".parquet":
                frame = pd.read_parquet(path)
            else:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
            frame.attrs["source"] = path.name  # quarantine reports name the file (and CSV line)
            if path.suffix == ".csv":
                frame.attrs["lines"] = csv_record_lines(path)
            tables[table] = frame
        except UnicodeDecodeError as error:
            problems.append(
                StructuralProblem(table, None, "unreadable file: not UTF-8", f"{path.name}: {error}")
            )
        except Exception as error:
            problems.append(StructuralProblem(table, None, "unreadable file", f"{path.name}: {error}"))
    if problems:
        raise ContractError(problems)
    return tables


STORE_SOURCE = "store"


def read_source(
    data: str | Path, source_tables: Mapping[str, str], state_dir: Path
) -> dict[str, pd.DataFrame]:
    """Read the six tables from a folder, a database URL, or the engine's store (``store``)."""
    from adapters.sources import is_database_url, read_database_tables
    from adapters.store import EngineStore, default_store_path

    text = str(data)
    if text == STORE_SOURCE:
        tables = EngineStore(default_store_path(state_dir)).read_tables()
    elif is_database_url(text):
        tables = read_database_tables(text, source_tables)
    else:
        return read_tables(Path(text))
    for name, frame in tables.items():
        frame.attrs["source"] = f"{'store' if text == STORE_SOURCE else 'database'}:{name}"
    return tables


def csv_record_lines(path: Path) -> np.ndarray:
    """The physical line on which each data record of a CSV file starts (header = line 1).

    Records can span lines (quoted newlines) and blank lines are skipped, as pandas does, so
    "row + 2" is not the line a person must open.
    """
    starts = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        previous_end = 0
        for record in reader:
            if record:
                starts.append(previous_end + 1)
            previous_end = reader.line_num
    return np.asarray(starts[1:], dtype="int64")


def _json_default(value: object) -> object:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def write_json(path: Path, payload: Mapping) -> None:
    """Write JSON atomically (temp file + rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default))
    os.replace(tmp, path)


def publish_outputs(
    out_dir: Path,
    frames: Mapping[str, pd.DataFrame],
    manifest: Mapping,
    run_id: str,
    *,
    parquet_only: Collection[str] = (),
    files: Mapping[str, Callable[[Path], None]] | None = None,
    replace_folders: Collection[str] = (),
) -> dict[str, Path]:
    """Write a run's outputs so readers never see half a run.

    Everything is written into a staging folder inside ``out_dir`` first; only when all files
    are complete are they moved into place (each move atomic), manifest.json last. A failure
    before the moves leaves the previous outputs untouched. ``frames`` maps a stem (e.g.
    "queue", or "teams/call-west" for a subfolder) to a frame written as <stem>.parquet and,
    unless the stem is in ``parquet_only``, <stem>.csv. ``files`` maps a file name to a function
    that writes it. Each folder in ``replace_folders`` is swapped whole, so files of an earlier
    run (a team that no longer exists) do not linger.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / f".staging-{run_id}"
    retired = out_dir / f".retired-{run_id}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(retired, ignore_errors=True)
    staging.mkdir()
    retired.mkdir()
    written: dict[str, Path] = {}
    # (published path, its previous version in `retired` or None): undone in reverse on failure.
    done: list[tuple[Path, Path | None]] = []
    try:
        names: list[str] = []
        for stem, frame in frames.items():
            extensions = ("parquet",) if stem in parquet_only else ("parquet", "csv")
            _write_frame(staging, stem, frame, extensions)
            names += [f"{stem}.{ext}" for ext in extensions]
        for name, write in (files or {}).items():
            write(staging / name)
            names.append(name)
        write_json(staging / "manifest.json", manifest)
        for folder in replace_folders:
            (staging / folder).mkdir(parents=True, exist_ok=True)
            backup = retired / folder if (out_dir / folder).exists() else None
            if backup is not None:
                os.replace(out_dir / folder, backup)
            done.append((out_dir / folder, backup))
            os.replace(staging / folder, out_dir / folder)
        in_folders = {name for name in names if Path(name).parts[0] in replace_folders}
        for name in [*(n for n in names if n not in in_folders), "manifest.json"]:
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            backup = None
            if target.exists():
                # A hard link keeps the previous file readable at its path until the atomic
                # replace, and lets a failure put it back.
                backup = retired / name
                backup.parent.mkdir(parents=True, exist_ok=True)
                os.link(target, backup)
            done.append((target, backup))
            os.replace(staging / name, target)
        written = {name: out_dir / name for name in [*names, "manifest.json"]}
    except BaseException:
        _roll_back(done)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    return written


def _roll_back(done: list[tuple[Path, Path | None]]) -> None:
    """Put back what a failed publish replaced, newest first; remove what it added. Best
    effort: one path that cannot be restored does not stop the others."""
    for target, backup in reversed(done):
        try:
            if backup is not None:
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target, ignore_errors=True)
                os.replace(backup, target)
            elif target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        except OSError as error:
            logging.getLogger("recover").error(
                "could not restore %s after a failed publish: %s", target, error
            )


def _write_frame(folder: Path, stem: str, frame: pd.DataFrame, extensions=("parquet", "csv")) -> None:
    (folder / stem).parent.mkdir(parents=True, exist_ok=True)
    if "parquet" in extensions:
        frame.to_parquet(folder / f"{stem}.parquet", index=False)
    if "csv" in extensions:
        csv_text(frame).to_csv(folder / f"{stem}.csv", index=False)


def write_quarantine(out_dir: Path, quarantine: pd.DataFrame) -> Path:
    """Write a run's quarantined rows to ``out_dir/quarantine/`` (Parquet and CSV, atomically)."""
    folder = Path(out_dir) / "quarantine"
    staging = Path(out_dir) / ".staging-quarantine"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write_frame(staging, "quarantine", quarantine)
        folder.mkdir(parents=True, exist_ok=True)
        for ext in ("parquet", "csv"):
            os.replace(staging / f"quarantine.{ext}", folder / f"quarantine.{ext}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / "quarantine.parquet"


DRIFT_FAILURE_FOLDER = "drift_failure"


def write_drift_failure(out_dir: Path, table: pd.DataFrame, document: Mapping) -> Path:
    """Write the evidence of a run that drift stopped to ``out_dir/drift_failure/``: the drift
    table (``drift.parquet``, ``drift.csv``) and ``drift.json`` (the drift block, with the run
    id), each file replaced atomically. The published outputs beside it are not touched: they
    stay those of the last run that passed."""
    folder = Path(out_dir) / DRIFT_FAILURE_FOLDER
    staging = Path(out_dir) / ".staging-drift"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write_frame(staging, "drift", table)
        write_json(staging / "drift.json", document)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("drift.parquet", "drift.csv", "drift.json"):
            os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / "drift.csv"
