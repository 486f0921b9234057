"""The engine judged: `recover evaluate-policy` (against other policies in simulated futures),
`backfill` (what past queues recovered) and `simulate-month` (queues worked in a simulated book)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recover.cli.options import (
    BookLoansOption,
    BookSeedOption,
    ConfigOption,
    DataOption,
    PolicyOption,
    VerboseOption,
    config_arg,
    parse_date,
)
from recover.cli.render import evaluation as render
from recover.cli.runtime import EXIT_INVALID_INPUT, check_policy, fail, run_guarded, setup

PoliciesOption = Annotated[
    Optional[str], typer.Option("--policies", help="Comma-separated subset, e.g. random,engine,oracle.")
]
FuturesOption = Annotated[
    Optional[int],
    typer.Option("--futures", min=1, help="Independent futures per policy (default: config)."),
]
BackfillAsOfOption = Annotated[
    str,
    typer.Option(
        "--as-of",
        help="Backfill date D (YYYY-MM-DD): payments strictly before D; queues whose outcome "
        "window ends by D are reported.",
    ),
]
QueueDaysOption = Annotated[
    Optional[int],
    typer.Option(
        "--queue-days", min=1, help="Queues only in the first N days (default: all); no contact after."
    ),
]


def evaluate_policy(
    out: Annotated[Path, typer.Option("--out", help="Folder for the table, daily CSV and plot.")] = Path(
        "policy-evaluation"
    ),
    days: Annotated[
        Optional[int], typer.Option("--days", help="Days to run forward (default: config).")
    ] = None,
    loans: BookLoansOption = None,
    seed: BookSeedOption = None,
    only: PoliciesOption = None,
    futures: FuturesOption = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Run the simulator forward under random, heuristic, engine and oracle policies (same luck,
    same capacity) and print net recovery, costs, contacts, cures and the share of the oracle's gain."""
    setup(config_path, verbose)
    from evaluation.policy_flow import OPTIONAL_POLICIES, POLICIES, evaluate_policy_flow

    names = [name.strip() for name in only.split(",")] if only else list(POLICIES)
    known = [*POLICIES, *OPTIONAL_POLICIES]
    unknown = sorted(set(names) - set(known))
    if unknown:
        fail(f"unknown policies {unknown}; known: {', '.join(known)}", EXIT_INVALID_INPUT)
    overrides = {k: v for k, v in {"n_loans": loans, "seed": seed}.items() if v is not None}
    result = run_guarded(
        evaluate_policy_flow, str(out), config_arg(config_path), days, names, True, overrides, futures
    )
    render.print_policy_evaluation(result)


def backfill(
    as_of: BackfillAsOfOption,
    data: DataOption,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="Folder for the reports (default: <state>/backfill/as_of=D)."),
    ] = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Join the payments that followed past queues to them: realized recovery by rank decile,
    exploration vs model picks, control vs contacted (realized uplift), calibration, and
    champion vs challenger when a challenger was shadow-scored; logged to MLflow."""
    setup(config_path, verbose)
    as_of_date = parse_date(as_of)
    from pipelines.backfill_flow import backfill_flow

    result = run_guarded(backfill_flow, data, as_of_date, str(out) if out else None, config_arg(config_path))
    render.print_backfill(result)


def simulate_month(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the final tables (OUT/data) and the nights.")
    ],
    days: Annotated[int, typer.Option("--days", min=1, help="Days simulated from the book's as-of.")] = 30,
    every: Annotated[int, typer.Option("--every", min=1, help="Score and work a queue every N nights.")] = 1,
    queue_days: QueueDaysOption = None,
    loans: BookLoansOption = None,
    seed: BookSeedOption = None,
    policy: PolicyOption = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Simulate the book forward with the engine's nightly queues actually worked (the old rule
    book retired), archiving every queue; then `recover backfill` on OUT/data. The champions
    must be trained on the same book (`recover simulate` + `recover train`, same --loans/--seed)."""
    config = setup(config_path, verbose)
    from evaluation.books import book_settings
    from evaluation.month import simulate_month as run_month

    settings = book_settings(config, loans=loans, seed=seed)
    check_policy(config, policy)
    month = run_guarded(
        run_month,
        out,
        days=days,
        every_days=every,
        queue_days=queue_days,
        config_path=config_arg(config_path),
        simulation=settings,
        policy=policy,
        on_night=render.print_month_night,
    )
    render.print_month(month, days)
