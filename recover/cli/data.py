"""The input data: `recover simulate` (a synthetic book), `validate` (against the contract) and
`ingest` (into the engine's store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recover.cli.options import (
    AsOfFilterOption,
    ConfigOption,
    DataOption,
    LoansOption,
    SeedOption,
    parse_optional_date,
)
from recover.cli.render import console
from recover.cli.render import data as render
from recover.cli.runtime import EXIT_INVALID_INPUT, fail, setup

CorruptOption = Annotated[
    float,
    typer.Option(
        "--corrupt",
        help="Damage this share of payment, interaction and installment rows (a broken export; "
        "written as CSV, with a log in truth/corruption_log.parquet).",
    ),
]


def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the six tables (truth/ beside them).")],
    loans: LoansOption = None,
    seed: SeedOption = None,
    as_of: Annotated[
        Optional[str], typer.Option("--as-of", help="History ends strictly before this date.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    corrupt: CorruptOption = 0.0,
    config_path: ConfigOption = None,
) -> None:
    """Simulate a synthetic loan book: input tables in OUT, ground truth in OUT/truth."""
    config = setup(config_path)
    from evaluation.books import write_simulated_book

    book = write_simulated_book(
        config,
        out,
        loans=loans,
        seed=seed,
        as_of=parse_optional_date(as_of),
        fmt=fmt,
        corrupt=corrupt,
    )
    render.print_simulated(book, out)


def validate(
    data: DataOption,
    as_of: AsOfFilterOption = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", help="Write the quarantined rows to OUT/quarantine/.")
    ] = None,
    config_path: ConfigOption = None,
) -> None:
    """Validate the input tables; exit 0 only if every row meets the contract.

    Prints per table the rows read, accepted, quarantined and exact duplicates collapsed (they
    always add up), then every failure by table, column and rule.
    """
    config = setup(config_path)
    from adapters.io import write_quarantine
    from data_contracts.validation import ContractError
    from pipelines.common import new_run_id
    from pipelines.ingest import validate_delivery

    try:
        result = validate_delivery(data, parse_optional_date(as_of), config)
    except ContractError as error:
        fail(str(error), EXIT_INVALID_INPUT)
    render.print_validation(result)
    if out is not None:
        path = write_quarantine(out, result.quarantine(new_run_id()))
        console.print(f"quarantine: {path}")
    render.print_verdict(result, config.validation.max_bad_row_share)
    if not result.is_valid:
        raise typer.Exit(1)


def ingest(
    data: DataOption,
    as_of: AsOfFilterOption = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="Folder for this delivery's quarantine (default: the state folder)."),
    ] = None,
    config_path: ConfigOption = None,
) -> None:
    """Append a delivery's valid rows to the engine's store (train and score read it as --data store).

    Idempotent: rows already stored are skipped; a re-delivered row whose content changed is
    quarantined, never overwritten. Exit 0 when nothing was quarantined, 1 otherwise.
    """
    config = setup(config_path)
    from data_contracts.validation import ContractError
    from pipelines.common import InvalidInputError, new_run_id
    from pipelines.ingest import ingest_delivery, ingest_folder

    run_id = new_run_id()
    folder = ingest_folder(config, run_id, out)
    try:
        ingested = ingest_delivery(data, parse_optional_date(as_of), config, run_id, folder)
    except ContractError as error:
        fail(str(error), EXIT_INVALID_INPUT)
    except InvalidInputError as error:
        fail(f"{error}\nquarantine: {folder / 'quarantine'}", EXIT_INVALID_INPUT)
    render.print_ingest(ingested)
    if ingested.quarantine_path is not None:
        raise typer.Exit(1)
