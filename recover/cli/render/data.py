"""What `recover simulate`, `validate` and `ingest` print: the book written, the validation
counts and failures, and what a delivery did to the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from recover.cli.render import console

if TYPE_CHECKING:
    from data_contracts.validation import ValidationResult
    from evaluation.books import WrittenBook
    from pipelines.ingest import Ingested


def print_simulated(book: WrittenBook, out: Path) -> None:
    """The damage done (with --corrupt), the book's settings and its tables' rows and files."""
    log = book.corruption
    if log is not None:
        console.print(f"Damaged {len(log):,} rows ({log['corruption'].value_counts().to_dict()})")
    settings = book.settings
    console.print(
        f"Simulated {settings.n_loans:,} loans (seed {settings.seed}, as of {settings.as_of}) "
        f"in {book.seconds:.1f} s -> {out}"
    )
    table = Table("table", "rows", "file")
    for name, rows in book.rows.items():
        table.add_row(name, f"{rows:,}", str(book.paths[name]))
    console.print(table)


def print_validation(result: ValidationResult) -> None:
    """Per table rows in, accepted, quarantined, duplicates collapsed and held; then the held rows."""
    cutoff = result.cutoff
    counts = Table(
        "table",
        "rows in",
        "accepted",
        "quarantined",
        "duplicates collapsed",
        "held",
        title="Input validation" + (f" (cut-off {cutoff})" if cutoff else ""),
    )
    for row in result.counts().itertuples():
        counts.add_row(
            row.table,
            f"{row.rows_in:,}",
            f"{row.accepted:,}",
            f"{row.quarantined:,}",
            f"{row.duplicates_collapsed:,}",
            f"{row.held:,}",
        )
    console.print(counts)
    print_held(result)


def print_held(result: ValidationResult) -> None:
    """Say which valid rows lie after the night's cut-off: held for a later night, not errors."""
    for table, held in result.held_summary().items():
        console.print(
            f"held for a later night: {held['rows']:,} {table} rows with {held['column']} from "
            f"{held['first']} to {held['last']} (after the cut-off)",
            highlight=False,
            soft_wrap=True,
        )


def print_verdict(result: ValidationResult, ceiling: float) -> None:
    """Valid, or every failure by table, column and rule and the tables over the ceiling."""
    if result.is_valid:
        console.print("[green]valid[/]: every row meets the contract")
        return
    console.print(f"[red]invalid[/]: {len(result.failures_by_rule())} (table, column, rule) failures")
    for line in result.describe_failures(limit=None):
        console.print(f"  - {line}", highlight=False, markup=False, soft_wrap=True)
    for table, share in result.tables_over(ceiling).items():
        console.print(
            f"[red]ceiling[/]: {share:.1%} of '{table}' rows are bad (> {ceiling:.1%}): train and score would stop"
        )


def print_ingest(ingested: Ingested) -> None:
    """Per table rows in, bad, duplicates, new, already known and conflicts; the quarantine."""
    table = Table(title=f"Ingest into {ingested.store_path}")
    table.add_column("table", min_width=13, no_wrap=True)
    for header in ("rows in", "bad", "dups", "new", "known", "conflicts"):
        table.add_column(header, justify="right")
    for name, row in ingested.counts.iterrows():
        table.add_row(
            name,
            f"{row.rows_in:,}",
            f"{row.quarantined:,}",
            f"{row.duplicates_collapsed:,}",
            f"{row.inserted:,}",
            f"{row.already_present:,}",
            f"{row.conflicts:,}",
        )
    console.print(table)
    if ingested.quarantine_path is not None:
        console.print(f"quarantine: {ingested.quarantine_path}")
