"""The `recover` command line: simulate, validate, train, score, demo."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from data_contracts.artifacts import PAYMENT_AMOUNT_ARTIFACT

app = typer.Typer(
    name="recover",
    help="Machine-learning recovery prioritization for loan collections.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
# Error messages carry paths and rule names: never break them mid-word to fit a terminal width.
errors = Console(stderr=True, soft_wrap=True)

DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        help="A folder with the six tables, a database URL (postgresql://, sqlite:///, duckdb:///) or 'store'.",
    ),
]
ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", help="YAML merged over configs/default.yaml.")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own logs.")]
ClusterOption = Annotated[
    Optional[str],
    typer.Option(
        "--cluster",
        help="Dask scheduler (e.g. tcp://scheduler:8786) to run the per-loan work and the training on "
        "(default: cluster.address; none: in this process).",
    ),
]
PolicyOption = Annotated[
    Optional[str],
    typer.Option(
        "--policy",
        help="Contact-policy rule pack (us_reg_f, india_rbi, uk_fca, or a YAML file); "
        "default from the config. Region overrides in the config still apply.",
    ),
]

EXIT_INVALID_INPUT = 2
EXIT_NO_MODEL = 3
# Tables of model versions and gate results stay readable when output is not a terminal (80).
WIDE = 120
EXIT_REFUSED = 5  # `recover promote`: the gate judged a challenger and refused it
EXIT_DRIFT = 4  # tonight's book drifted beyond monitoring.drift_fail_psi: nothing published
EXIT_LOCKED = 6  # another run holds this as-of's night lock: this one published nothing


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


AsOfFilterOption = Annotated[
    Optional[str], typer.Option("--as-of", help="Quarantine events on or after this date.")
]
AsOfOption = Annotated[
    str, typer.Option("--as-of", help="Run date D (YYYY-MM-DD): history strictly before D.")
]


def _setup(config_path: Path | None, verbose: bool = False):
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


def _fail(message: str, code: int) -> None:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def _print_held(result) -> None:
    """Say which valid rows lie after the night's cut-off: held for a later night, not errors."""
    for table, held in result.held_summary().items():
        console.print(
            f"held for a later night: {held['rows']:,} {table} rows with {held['column']} from "
            f"{held['first']} to {held['last']} (after the cut-off)",
            highlight=False,
            soft_wrap=True,
        )


def _known_conditions() -> tuple[type[BaseException], ...]:
    """The failures a user is told about in one line and an exit code, never a traceback."""
    from data_contracts.validation import ContractError
    from features.snapshots import HistoryTooShortError
    from monitoring.drift import DriftError
    from pipelines.common import InvalidInputError
    from pipelines.runtime.operations import NightLockedError

    return (NightLockedError, ContractError, InvalidInputError, HistoryTooShortError, LookupError, DriftError)


class _NoTracebackForKnownConditions(logging.Filter):
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
def _quiet_known_conditions():
    """While a flow runs: Prefect's run loggers drop the traceback of a known condition."""
    names = ("prefect.flow_runs", "prefect.task_runs", "prefect.flow_engine", "prefect.task_engine")
    quiet = _NoTracebackForKnownConditions(_known_conditions())
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def _run_guarded(function, *args, **kwargs):
    """Run a flow; turn contract, model-lookup and drift failures into clear messages and exit codes."""
    from data_contracts.validation import ContractError
    from features.snapshots import HistoryTooShortError
    from monitoring.drift import DriftError
    from pipelines.common import InvalidInputError
    from pipelines.runtime.operations import NightLockedError

    try:
        with _quiet_known_conditions():
            return function(*args, **kwargs)
    except NightLockedError as error:
        _fail(str(error), EXIT_LOCKED)
    except (ContractError, InvalidInputError) as error:
        _fail(str(error), EXIT_INVALID_INPUT)
    except HistoryTooShortError as error:
        _fail(f"cannot train: {error}", EXIT_INVALID_INPUT)
    except LookupError as error:
        # KeyError and IndexError are LookupErrors too, but they are bugs or broken models, not
        # a missing champion: let them surface with their traceback.
        if isinstance(error, KeyError | IndexError):
            raise
        _fail(str(error), EXIT_NO_MODEL)
    except DriftError as error:
        _fail(str(error), EXIT_DRIFT)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the six tables (truth/ beside them).")],
    loans: Annotated[Optional[int], typer.Option("--loans", help="Number of loans.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed.")] = None,
    as_of: Annotated[
        Optional[str], typer.Option("--as-of", help="History ends strictly before this date.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    corrupt: Annotated[
        float,
        typer.Option(
            "--corrupt",
            help="Damage this share of payment, interaction and installment rows (a broken export; "
            "written as CSV, with a log in truth/corruption_log.parquet).",
        ),
    ] = 0.0,
    config_path: ConfigOption = None,
) -> None:
    """Simulate a synthetic loan book: input tables in OUT, ground truth in OUT/truth."""
    config = _setup(config_path)
    _simulate(config, out, loans, seed, _parse_date(as_of) if as_of else None, fmt, corrupt)


def _simulate(config, out: Path, loans, seed, as_of, fmt: str = "parquet", corrupt: float = 0.0):
    import dataclasses

    from simulation import simulate_book, simulation_config, write_book
    from simulation.corruption import corrupt_tables

    overrides = {k: v for k, v in {"n_loans": loans, "seed": seed, "as_of": as_of}.items() if v is not None}
    sim_config = simulation_config(config.simulation, **overrides)
    started = time.perf_counter()
    book = simulate_book(sim_config)
    if corrupt > 0:
        damaged, log = corrupt_tables(book.tables, corrupt, seed=sim_config.seed, as_of=sim_config.as_of)
        book = dataclasses.replace(book, tables=damaged, truth={**book.truth, "corruption_log": log})
        fmt = "csv"  # damaged values cannot be stored in typed Parquet columns
        console.print(f"Damaged {len(log):,} rows ({log['corruption'].value_counts().to_dict()})")
    paths = write_book(book, out, fmt=fmt)
    console.print(
        f"Simulated {sim_config.n_loans:,} loans (seed {sim_config.seed}, as of {sim_config.as_of}) "
        f"in {time.perf_counter() - started:.1f} s -> {out}"
    )
    table = Table("table", "rows", "file")
    for name, frame in book.tables.items():
        table.add_row(name, f"{len(frame):,}", str(paths[name]))
    console.print(table)
    return sim_config


@app.command()
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
    config = _setup(config_path)
    from adapters.io import read_source, write_quarantine
    from data_contracts.validation import ContractError, validate_tables
    from pipelines.common import new_run_id, night_cutoff

    try:
        raw = read_source(data, config.source.tables, config.resolved_state_dir())
        cutoff = night_cutoff(config, _parse_date(as_of)) if as_of else None
        result = validate_tables(raw, as_of=cutoff)
    except ContractError as error:
        _fail(str(error), EXIT_INVALID_INPUT)
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
    _print_held(result)
    if out is not None:
        path = write_quarantine(out, result.quarantine(new_run_id()))
        console.print(f"quarantine: {path}")
    if result.is_valid:
        console.print("[green]valid[/]: every row meets the contract")
        return
    console.print(f"[red]invalid[/]: {len(result.failures_by_rule())} (table, column, rule) failures")
    for line in result.describe_failures(limit=None):
        console.print(f"  - {line}", highlight=False, markup=False, soft_wrap=True)
    ceiling = config.validation.max_bad_row_share
    for table, share in result.tables_over(ceiling).items():
        console.print(
            f"[red]ceiling[/]: {share:.1%} of '{table}' rows are bad (> {ceiling:.1%}): train and score would stop"
        )
    raise typer.Exit(1)


@app.command()
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
    config = _setup(config_path)
    import pandas as pd

    from adapters.io import read_source, write_quarantine
    from adapters.store import EngineStore, conflicts_as_quarantine, default_store_path
    from data_contracts.validation import ContractError, validate_tables
    from pipelines.common import InvalidInputError, check_ceiling, new_run_id, night_cutoff

    run_id = new_run_id()
    folder = out or config.resolved_state_dir() / "ingest" / run_id
    try:
        raw = read_source(data, config.source.tables, config.resolved_state_dir())
        result = check_ceiling(
            validate_tables(raw, as_of=night_cutoff(config, _parse_date(as_of)) if as_of else None),
            config.validation.max_bad_row_share,
        )
    except ContractError as error:
        _fail(str(error), EXIT_INVALID_INPUT)
    except InvalidInputError as error:
        write_quarantine(folder, error.result.quarantine(run_id))
        _fail(f"{error}\nquarantine: {folder / 'quarantine'}", EXIT_INVALID_INPUT)
    store = EngineStore(default_store_path(config.resolved_state_dir()))
    # Rows after the cut-off are valid: the store keeps them, and each night reads up to its own.
    report = store.ingest(result.with_held_rows())
    quarantine = pd.concat(
        [result.quarantine(run_id), conflicts_as_quarantine(report, run_id)], ignore_index=True
    )
    counts = result.counts().merge(report.counts(), on="table").set_index("table")
    table = Table(title=f"Ingest into {store.path}")
    table.add_column("table", min_width=13, no_wrap=True)
    for header in ("rows in", "bad", "dups", "new", "known", "conflicts"):
        table.add_column(header, justify="right")
    for name, row in counts.iterrows():
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
    if not quarantine.empty:
        console.print(f"quarantine: {write_quarantine(folder, quarantine)}")
        raise typer.Exit(1)


PromoteOption = Annotated[
    bool,
    typer.Option(
        "--promote/--no-promote",
        help="Move alias champion to the new versions when the promotion gate passes.",
    ),
]


@app.command()
def train(
    data: DataOption,
    as_of: AsOfOption,
    promote: PromoteOption = False,
    search_trials: Annotated[
        Optional[int],
        typer.Option(
            "--search-trials", min=0, help="Optuna trials before training (default: training.search.trials)."
        ),
    ] = None,
    search_timeout: Annotated[
        Optional[float],
        typer.Option(
            "--search-timeout",
            min=1,
            help="Seconds the search may take (default: training.search.timeout_seconds).",
        ),
    ] = None,
    cluster: ClusterOption = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Train on snapshots whose label windows end before AS_OF; register both models as
    challengers and show the promotion gate (--promote: and promote what passes)."""
    config = _setup(config_path, verbose)
    _train(
        config,
        data,
        _parse_date(as_of),
        config_path,
        promote=promote,
        search_trials=search_trials,
        search_timeout=search_timeout,
        cluster=cluster,
    )


def _train(
    config,
    data: Path,
    as_of: dt.date,
    config_path,
    promote: bool = False,
    search_trials: int | None = None,
    search_timeout: float | None = None,
    cluster: str | None = None,
):
    from pipelines.runtime.cluster import on_cluster
    from pipelines.train_flow import train_flow

    address = cluster or config.cluster.address
    result = _run_guarded(
        on_cluster(train_flow, address),
        str(data),
        as_of,
        str(config_path) if config_path else None,
        promote=promote,
        search_trials=search_trials,
        search_timeout_seconds=search_timeout,
        cluster=address,
    )
    if result.get("search_run_id"):
        console.print(
            f"Hyperparameter search run {result['search_run_id']}: trained with "
            + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result["lightgbm"].items()
            )
        )
    m = result["metrics"]
    registered = (
        f"[bold]{result['model']}[/] and [bold]{result['channel_model']}[/]"
        if result["channel_model"]
        else f"[bold]{result['model']}[/]"
    )
    nan = float("nan")
    console.print(
        f"Registered {registered} as "
        f"'{config.mlflow.challenger_alias}'. Out-of-time test AUC "
        f"[bold]{m['test_auc']:.3f}[/] vs days-past-due heuristic {m['test_heuristic_dpd_auc']:.3f} "
        f"and plain LightGBM {m.get('test_plain_lightgbm_auc', nan):.3f} "
        f"(validation {m['valid_auc']:.3f} vs {m['valid_heuristic_dpd_auc']:.3f} "
        f"and {m.get('valid_plain_lightgbm_auc', nan):.3f}); "
        f"Brier {m['test_brier']:.3f}, calibration error {m['test_ece']:.3f}."
    )
    data = result.get("data", {})
    monotone, inputs = data.get("monotone_constraints"), data.get("model_inputs")
    if monotone and inputs:
        dropped = inputs.get("dropped") or {}
        console.print(
            f"Monotone constraints {monotone['choice']} (validation AUC {monotone['valid_auc_constrained']:.4f} "
            f"with, {monotone['valid_auc_unconstrained']:.4f} without); inputs {inputs['used']} of "
            f"{inputs['of']} features"
            + (
                "; dropped, no information on the train block: "
                + ", ".join(f"{name} ({why})" for name, why in dropped.items())
                if dropped
                else ""
            )
            + ".",
            highlight=False,
            soft_wrap=True,
        )
    from adapters.tracking import baseline_verdict

    for sentence in baseline_verdict(config, m):
        console.print(
            f"[bold yellow]Warning[/]: the propensity model {sentence}.", highlight=False, soft_wrap=True
        )
    console.print(f"Propensity {result['out_of_time_plan']}.", highlight=False, soft_wrap=True)
    if result.get("channel_model_not_fitted"):
        console.print(
            f"No best-channel model: {result['channel_model_not_fitted']}. Tonight's queue values "
            "channels by the stated prior (channel_model.prior_lift) and says so in every "
            "channel reason and the manifest; its exploration contacts build the history a later "
            "training learns channels from.",
            highlight=False,
            soft_wrap=True,
        )
    _print_promotion(result["promotion"], config)
    return result


def _wide_console() -> Console:
    """A console at least WIDE columns wide, made at call time so captured output is honoured."""
    return Console(width=max(console.width, WIDE))


def _print_promotion(decisions: list[dict], config) -> None:
    """The gate's table per model and what happened to the champion alias."""
    for decision in decisions:
        gate = decision["gate"]
        title = f"{decision['model']}: challenger v{decision['challenger']} vs champion v{decision['champion_before']}"
        if gate is not None:
            table = Table(title=title, title_justify="left")
            for column in ("metric", "champion", "challenger", "difference", "rule", "passed"):
                table.add_column(
                    column, justify="right" if column in {"champion", "challenger", "difference"} else "left"
                )
            for row in gate["table"]:
                table.add_row(
                    row["metric"],
                    *(
                        f"{row[k]:.4f}" if row[k] is not None else "-"
                        for k in ("champion", "challenger", "difference")
                    ),
                    row["rule"],
                    "[green]yes[/]" if row["passed"] else "[bold red]NO[/]",
                )
            _wide_console().print(table)
            for sentence in gate.get("warnings") or []:
                console.print(
                    f"[bold yellow]Warning[/]: {decision['model']} v{decision['challenger']} {sentence}.",
                    highlight=False,
                    soft_wrap=True,
                )
        alias = config.mlflow.champion_alias
        if decision["promoted"]:
            outcome = f"[bold green]promoted[/]: '{alias}' -> v{decision['champion_after']}"
        elif gate is not None and not gate["passed"]:
            outcome = f"[bold red]not promoted[/]: '{alias}' stays v{decision['champion_after']}"
        else:
            outcome = f"'{alias}' is v{decision['champion_after']}"
        console.print(f"{decision['model']}: {outcome}. {decision['note']}", highlight=False)


@app.command()
def promote(
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model", help="Registered model name (default: both the propensity and channel models)."
        ),
    ] = None,
    version: Annotated[
        Optional[str], typer.Option("--version", help="Version to judge (default: the challenger alias).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Judge and log the gate, move nothing.")] = False,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Run the promotion gate: the challenger becomes champion only if, on its own out-of-time
    test block, it is no worse than the champion under the config's tolerances and limits.
    Exit code 5 when a challenger was judged and refused."""
    config = _setup(config_path, verbose)
    from pipelines.promotion import model_kinds, promote_models, run_gate

    names = [model] if model else list(model_kinds(config))
    unknown = [name for name in names if name not in model_kinds(config)]
    if unknown:
        raise typer.BadParameter(f"unknown model {unknown}; known: {list(model_kinds(config))}")
    if version is not None:
        if len(names) != 1:
            raise typer.BadParameter("--version needs --model")
        decisions = [_run_guarded(run_gate, config, names[0], version, promote=not dry_run)]
    else:
        decisions = _run_guarded(promote_models, config, names, promote=not dry_run)
    as_dicts = [decision.to_dict() for decision in decisions]
    _print_promotion(as_dicts, config)
    if any(d["gate"] is not None and not d["gate"]["passed"] for d in as_dicts):
        raise typer.Exit(EXIT_REFUSED)


@app.command()
def models(config_path: ConfigOption = None) -> None:
    """List the registered versions of both models: aliases, test metrics and gate results."""
    config = _setup(config_path)
    from adapters import tracking

    names = [config.mlflow.propensity_model_name, config.mlflow.channel_model_name]
    frame = tracking.model_versions(config, names)
    if frame.empty:
        console.print(f"No registered models in {tracking.tracking_uri(config)}: run `recover train` first.")
        return
    table = Table(title=f"Registered models in {tracking.tracking_uri(config)}", title_justify="left")
    for column in ("model", "v", "aliases", "as of", "test AUC", "Brier", "ECE", "gate"):
        table.add_column(column, no_wrap=True)
    for row in frame.itertuples(index=False):
        table.add_row(
            row.model,
            str(row.version),
            row.aliases,
            row.as_of,
            *(
                "-" if value is None or value != value else f"{value:.3f}"
                for value in (row.test_auc, row.test_brier, row.test_ece)
            ),
            row.gate or "-",
        )
    _wide_console().print(table)
    for row in frame[frame["gate_verdict"] != ""].itertuples(index=False):
        console.print(f"  {row.model} v{row.version}: {row.gate_verdict}", highlight=False)


@app.command()
def score(
    data: DataOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for queue, suppressed and manifest (with --as-of-range: one subfolder per night).",
        ),
    ],
    as_of: Annotated[
        Optional[str], typer.Option("--as-of", help="Run date D (YYYY-MM-DD): history strictly before D.")
    ] = None,
    as_of_range: Annotated[
        Optional[tuple[str, str]],
        typer.Option(
            "--as-of-range",
            metavar="START END",
            help="Replay every night from START to END (both included) in order, each its own run "
            "writing OUT/YYYY-MM-DD; nights already published there are skipped (--fresh redoes them). "
            "Stops at the first night that fails.",
        ),
    ] = None,
    publish: Annotated[
        Optional[str],
        typer.Option("--publish", help="Also write the queue to this database (SQLAlchemy URL), atomically."),
    ] = None,
    policy: PolicyOption = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Recompute every stage, even of a failed night that could resume."),
    ] = False,
    cluster: ClusterOption = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Score overdue loans with the champion and write tomorrow's ranked, lawful, explained queue.

    A rerun of a night that failed resumes after its last completed stage. Exit codes: 2 invalid
    input, 3 no champion, 4 drift beyond the limit, 6 another run holds the night."""
    if (as_of is None) == (as_of_range is None):
        raise typer.BadParameter("give exactly one of --as-of D and --as-of-range START END")
    config = _setup(config_path, verbose)
    if as_of is not None:
        _score(
            config, data, _parse_date(as_of), out, config_path, publish, policy, fresh=fresh, cluster=cluster
        )
        return
    from pipelines.runtime.operations import nights

    start, end = (_parse_date(value) for value in as_of_range)
    try:
        dates = nights(start, end)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    for night in dates:
        folder = out / str(night)
        published = _published_as_of(folder)
        if published == str(night) and not fresh:
            console.print(f"{night}: already published in {folder}, skipped (--fresh redoes it)")
            continue
        console.rule(f"night {night}")
        try:
            _score(config, data, night, folder, config_path, publish, policy, fresh=fresh, cluster=cluster)
        except typer.Exit as stop:
            done = [str(d) for d in dates if d < night]
            errors.print(
                f"the replay stopped at {night}; nights before it are published ({', '.join(done) or 'none'}). "
                "Rerun the same command to resume from this night."
            )
            raise stop
    console.print(f"replayed {len(dates)} nights {start} .. {end} -> {out}")


def _published_as_of(folder: Path) -> str | None:
    """The as-of of the queue published in ``folder`` (its manifest), or None."""
    import json

    try:
        return json.loads((folder / "manifest.json").read_text())["as_of"]
    except (OSError, ValueError, KeyError):
        return None


def _score(
    config,
    data,
    as_of: dt.date,
    out: Path,
    config_path,
    publish_url: str | None = None,
    policy: str | None = None,
    fresh: bool = False,
    cluster: str | None = None,
):
    from pipelines.nightly_score_flow import nightly_score_flow
    from pipelines.runtime.cluster import on_cluster

    _check_policy(config, policy)
    address = cluster or config.cluster.address
    result = _run_guarded(
        on_cluster(nightly_score_flow, address),
        str(data),
        as_of,
        str(out),
        str(config_path) if config_path else None,
        publish_url,
        policy,
        fresh,
        address,
    )
    if "database" in result["manifest"]:
        database = result["manifest"]["database"]
        console.print(
            f"Published {database['queue_rows']:,} rows to {database['table']} at {database['target']}"
        )
    counts = result["manifest"]["counts"]
    packs = ", ".join(f"{name} {version}" for name, version in result["manifest"]["policy"]["packs"].items())
    console.print(
        f"Queue for {as_of} under {packs}: {counts['overdue']:,} overdue -> {counts['queued']:,} queued "
        f"({counts['within_capacity']:,} within today's team capacity), {counts['suppressed']:,} held back "
        f"(of which {counts['forbearance']:,} to forbearance), {counts['promise_follow_up']:,} awaiting a "
        f"promise -> {out}"
    )
    _print_cutoff(result["manifest"])
    _print_drift(result["manifest"].get("drift"), out)
    return result


def _print_cutoff(manifest: dict) -> None:
    """What the run knew: its data cut-off, and the rows after it held for a later night."""
    held = manifest["validation"].get("held_for_later_nights") or {}
    later = ", ".join(f"{facts['rows']:,} {table}" for table, facts in held.items())
    console.print(
        f"Data cut-off {manifest['cutoff']['local']} = {manifest['data_cutoff_utc']} UTC"
        + (f"; held for a later night: {later}" if later else ""),
        highlight=False,
        soft_wrap=True,
    )


def _print_drift(drift: dict | None, out: Path) -> None:
    """One line when tonight's book drifted past the warn threshold, or cannot be checked."""
    if not drift or drift["status"] == "ok":
        return
    if drift["status"] == "no reference":
        console.print(f"[yellow]drift not checked[/]: {drift['detail']}", highlight=False)
        return
    over = {**drift["failed"], **drift["warned"]}
    listed = ", ".join(f"{name} {psi:.3f}" for name, psi in over.items())
    console.print(
        f"[yellow]drift warning[/]: PSI >= {drift['thresholds']['warn_psi']:g} for {listed} "
        f"(p_pay {drift['score_psi']:.3f}) -> {Path(out) / 'drift.csv'}",
        highlight=False,
    )
    if drift.get("downgraded"):
        console.print(
            f"[yellow]drift beyond the fail threshold[/] ({', '.join(drift['blocking'])}): {drift['downgraded']}",
            highlight=False,
            soft_wrap=True,
        )


def _check_policy(config, policy: str | None) -> None:
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
        _fail(f"contact policy: {error}", EXIT_INVALID_INPUT)


@app.command()
def serve(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", help="Folder the nightly runs publish to.")],
    publish: Annotated[
        Optional[str],
        typer.Option("--publish", help="Also publish each night to this database (SQLAlchemy URL)."),
    ] = None,
    policy: PolicyOption = None,
    nightly_cron: Annotated[
        Optional[str],
        typer.Option("--nightly-cron", help="Cron of the nightly scoring (default: schedule.nightly_cron)."),
    ] = None,
    training_cron: Annotated[
        Optional[str],
        typer.Option("--training-cron", help="Cron of the retraining (default: schedule.training_cron)."),
    ] = None,
    training: Annotated[
        bool, typer.Option("--training/--no-training", help="Also serve the scheduled retraining.")
    ] = True,
    port: Annotated[
        Optional[int],
        typer.Option("--port", help="Port of the local Prefect server (without PREFECT_API_URL)."),
    ] = None,
    cluster: ClusterOption = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Serve the nightly scoring and the retraining on their crons (Prefect deployments).

    Against the Prefect server at $PREFECT_API_URL, or, without it, a local server started for as
    long as this runs (UI and API on --port). Crons are read in schedule.timezone; a scheduled night
    scores the work day begun there. Stop with Ctrl-C."""
    config = _setup(config_path, verbose)
    from pipelines.serve import ServePlan, serve_deployments

    _check_policy(config, policy)
    try:
        plan = ServePlan.from_config(
            config,
            data=str(Path(data).resolve()) if Path(data).exists() else str(data),
            out=str(out.resolve()),
            config_path=str(config_path.resolve()) if config_path else None,
            publish_url=publish,
            policy=policy,
            nightly_cron=nightly_cron,
            training_cron=training_cron,
            training=training,
            cluster=cluster,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    console.print(
        f"nightly scoring on '{plan.nightly_cron}'"
        + (f", retraining on '{plan.training_cron}'" if plan.training_cron else ", no retraining")
        + f" ({plan.timezone}) -> {plan.out}"
    )
    # Flow runs start in subprocesses, maybe in another working directory: pin the state folder.
    os.environ["RECOVER_STATE_DIR"] = str(config.resolved_state_dir())
    serve_deployments(plan, Path(os.environ["PREFECT_HOME"]), port)


@app.command("evaluate-policy")
def evaluate_policy(
    out: Annotated[Path, typer.Option("--out", help="Folder for the table, daily CSV and plot.")] = Path(
        "policy-evaluation"
    ),
    days: Annotated[
        Optional[int], typer.Option("--days", help="Days to run forward (default: config).")
    ] = None,
    loans: Annotated[Optional[int], typer.Option("--loans", help="Loans in the simulated book.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the simulated book.")] = None,
    only: Annotated[
        Optional[str], typer.Option("--policies", help="Comma-separated subset, e.g. random,engine,oracle.")
    ] = None,
    futures: Annotated[
        Optional[int],
        typer.Option("--futures", min=1, help="Independent futures per policy (default: config)."),
    ] = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Run the simulator forward under random, heuristic, engine and oracle policies (same luck,
    same capacity) and print net recovery, costs, contacts, cures and the share of the oracle's gain."""
    from evaluation.policy_flow import OPTIONAL_POLICIES, POLICIES, evaluate_policy_flow

    _setup(config_path, verbose)
    names = [name.strip() for name in only.split(",")] if only else list(POLICIES)
    known = [*POLICIES, *OPTIONAL_POLICIES]
    unknown = sorted(set(names) - set(known))
    if unknown:
        _fail(f"unknown policies {unknown}; known: {', '.join(known)}", EXIT_INVALID_INPUT)
    overrides = {k: v for k, v in {"n_loans": loans, "seed": seed}.items() if v is not None}
    result = _run_guarded(
        evaluate_policy_flow,
        str(out),
        str(config_path) if config_path else None,
        days,
        names,
        True,
        overrides,
        futures,
    )
    facts = result["facts"]
    table = Table(
        title=(
            f"Policy evaluation: {facts['book']['n_loans']:,} loans from {facts['book']['as_of']}, "
            f"{facts['book']['horizon_days']} days, mean of {facts['futures']} futures, "
            f"seeds {facts['seeds']}"
        ),
        title_justify="left",
    )
    columns = {
        "recovered": "recovered",
        "contact_cost": "cost",
        "net_recovery": "net",
        "contacts": "contacts",
        "cures": "cures",
        "gain_over_random": "net vs random",
        "gain_over_random_se": "± s.e.",
        "share_of_oracle_gain": "% of oracle gain",
    }
    table.add_column("policy", no_wrap=True)
    for header in columns.values():
        table.add_column(header, justify="right")
    for policy, row in result["table"].iterrows():
        cells = []
        for column in columns:
            value = row.get(column, float("nan"))
            if value != value:
                cells.append("")
            elif column == "share_of_oracle_gain":
                cells.append(f"{value:.0%}")
            else:
                cells.append(f"{value:,.0f}")
        table.add_row(policy, *cells)
    console.print(table)
    console.print(f"Capacity per day: {facts['capacity_per_day']}", highlight=False)
    for other, paired in facts.get("engine_vs", {}).items():
        console.print(
            f"engine - {other}: {paired['mean_difference']:+,.0f} ± {paired['standard_error']:,.0f} "
            f"(ahead in {paired['ahead_in_futures']} of {paired['futures']} futures)",
            highlight=False,
        )
    for model, report in facts.get("uplift_on_randomised_units", {}).items():
        shown = {k: round(v, 4) for k, v in report.items()}
        console.print(f"Best-channel model ({model}) on randomised units: {shown}", highlight=False)
    console.print(f"Files: {', '.join(result['files'].values())}; MLflow run {result['mlflow_run_id']}")


@app.command()
def backfill(
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of",
            help="Backfill date D (YYYY-MM-DD): payments strictly before D; queues whose outcome "
            "window ends by D are reported.",
        ),
    ],
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
    from pipelines.backfill_flow import backfill_flow

    _setup(config_path, verbose)
    result = _run_guarded(
        backfill_flow,
        data,
        _parse_date(as_of),
        str(out) if out else None,
        str(config_path) if config_path else None,
    )
    _print_backfill(result)


def _rate_se(value: float, se: float, spec: str) -> str:
    if value != value:
        return ""
    return f"{value:{spec}}" if se != se else f"{value:{spec}} ± {se:{spec.lstrip('+')}}"


def _print_rows(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """A compact table (fits 80 columns): first column left and wrapping, numbers right."""
    from rich import box

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(headers[0], overflow="fold")
    for header in headers[1:]:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _print_groups(title: str, frame) -> None:
    _print_rows(
        title,
        ["group", "loan-nights", "p_pay", "paid ± s.e.", "per loan ± s.e.", "collected"],
        [
            [
                row.group,
                f"{row.loans:,}",
                f"{row.p_pay_mean:{sign}.3f}",
                _rate_se(row.pay_rate, row.pay_rate_se, f"{sign}.3f"),
                _rate_se(row.collected_per_loan, row.collected_per_loan_se, f"{sign},.2f"),
                "" if row.collected != row.collected else f"{row.collected:,.0f}",
            ]
            for row in frame.itertuples()
            for sign in ["+" if " - " in row.group else ""]
        ],
    )


def _print_backfill(result: dict) -> None:
    facts, tables, metrics = result["facts"], result["tables"], result["metrics"]
    console.print(
        f"Backfill on {facts['backfill_as_of']}, outcome window {facts['window_days']} days "
        f"({facts['window']}): {facts['queues_closed']} queue{'' if facts['queues_closed'] == 1 else 's'} closed "
        f"({facts['first_closed_as_of']} to {facts['last_closed_as_of']}), {facts['queues_partial']} "
        f"partial (window still open: left out), {facts['runs_superseded']} superseded runs; "
        f"{facts['rows_closed']:,} loan-nights, {facts['queued_rows_closed']:,} of them queued. Archived rows "
        f"{facts['archived_rows']:,} = {facts['rows_closed']:,} closed + {facts['rows_partial']:,} partial + "
        f"{facts['rows_superseded']:,} superseded.",
        highlight=False,
    )
    if facts.get("unknown_loans"):
        console.print(
            f"[yellow]warning[/]: {facts['unknown_loans']:,} archived rows name loans the data does not know"
        )
    if not facts["queues_closed"]:
        console.print("No queue's outcome window has closed yet: nothing to report.")
        console.print(f"Reports: {result['out']}; MLflow run {result['mlflow_run_id']}", highlight=False)
        return
    _print_rows(
        "Realized recovery by rank decile of the queue (1 = top tenth of each night's queue; "
        "paid = the model's label: the qualifying amount paid in the window)",
        ["decile", "loans", "p_pay", "paid", "cured", "collected", "per loan", "share", "cum."],
        [
            [
                str(row.decile),
                f"{row.loans:,}",
                f"{row.p_pay_mean:.3f}",
                f"{row.pay_rate:.3f}",
                f"{row.cure_rate:.3f}",
                f"{row.collected:,.0f}",
                f"{row.collected_per_loan:,.2f}",
                f"{row.share_of_collected:.1%}",
                f"{row.cumulative_share:.1%}",
            ]
            for row in tables["deciles"].itertuples()
        ],
    )
    _print_groups("Exploration vs model picks (contacted: queued within capacity)", tables["exploration"])
    _print_groups("Control vs contacted", tables["control"])
    _print_rows(
        "Realized uplift, treated - control (randomised; s.e. clustered by loan; 95% intervals in uplift.csv)",
        ["comparison", "treated / control", "paid", "per loan"],
        [
            [
                row.comparison,
                f"{row.treated_loans:,} / {row.control_loans:,}",
                _rate_se(row.uplift_pay_rate, row.uplift_pay_rate_se, "+.3f"),
                _rate_se(row.uplift_per_loan, row.uplift_per_loan_se, "+,.2f"),
            ]
            for row in tables["uplift"].itertuples()
        ],
    )
    _print_rows(
        f"Calibration: predicted vs realized pay rate (expected calibration error "
        f"{metrics.get('calibration_error', float('nan')):.3f})",
        ["p_pay", "loan-nights", "predicted", "realized ± s.e.", "gap"],
        [
            [
                row.bin,
                f"{row.loans:,}",
                f"{row.p_pay_mean:.3f}",
                _rate_se(row.pay_rate, row.pay_rate_se, ".3f"),
                f"{row.gap:+.3f}",
            ]
            for row in tables["calibration"].itertuples()
        ],
    )
    if len(tables["challenger"]):
        _print_rows(
            f"Champion vs challenger (shadow score): each model's top k by p_pay x amount overdue, "
            f"k = the night's queued count; the two top-k sets overlap {facts['challenger_top_k_overlap']:.1%}",
            ["model", "top k", "paid", "collected", "share", "AUC", "Brier", "calib."],
            [
                [
                    f"{row.model} v{str(row.version).rsplit('/', 1)[-1]}",
                    f"{row.top_k:,}",
                    f"{row.top_k_pay_rate:.3f}",
                    f"{row.top_k_collected:,.0f}",
                    f"{row.top_k_share_of_collected:.1%}",
                    f"{row.auc:.3f}",
                    f"{row.brier:.4f}",
                    f"{row.calibration_error:.3f}",
                ]
                for row in tables["challenger"].itertuples()
            ],
        )
    else:
        console.print("Champion vs challenger: no challenger was shadow-scored on the closed nights.")
    console.print(f"Reports: {result['out']}; MLflow run {result['mlflow_run_id']}", highlight=False)


@app.command("simulate-month")
def simulate_month(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the final tables (OUT/data) and the nights.")
    ],
    days: Annotated[int, typer.Option("--days", min=1, help="Days simulated from the book's as-of.")] = 30,
    every: Annotated[int, typer.Option("--every", min=1, help="Score and work a queue every N nights.")] = 1,
    queue_days: Annotated[
        Optional[int],
        typer.Option(
            "--queue-days", min=1, help="Queues only in the first N days (default: all); no contact after."
        ),
    ] = None,
    loans: Annotated[Optional[int], typer.Option("--loans", help="Loans in the simulated book.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the simulated book.")] = None,
    policy: PolicyOption = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Simulate the book forward with the engine's nightly queues actually worked (the old rule
    book retired), archiving every queue; then `recover backfill` on OUT/data. The champions
    must be trained on the same book (`recover simulate` + `recover train`, same --loans/--seed)."""
    config = _setup(config_path, verbose)
    from evaluation.month import simulate_month as run_month
    from simulation import simulation_config

    overrides = {k: v for k, v in {"n_loans": loans, "seed": seed}.items() if v is not None}
    sim_config = simulation_config(config.simulation, **overrides)
    _check_policy(config, policy)

    def progress(row: dict) -> None:
        if row["scored"]:
            console.print(
                f"{row['date']}: {row['overdue']:,} overdue, {row['queued']:,} queued, {row['contacts']:,} "
                f"contacted ({row['exploration']} exploration, {row['control']} control left alone), "
                f"collected {row['collected']:,.0f} ({row['seconds']:.0f} s)",
                highlight=False,
            )
        else:
            why = f"run stopped ({row['stopped']}): nobody contacted" if row["stopped"] else "no queue"
            console.print(f"{row['date']}: {why}, collected {row['collected']:,.0f}", highlight=False)

    month = _run_guarded(
        run_month,
        out,
        days=days,
        every_days=every,
        queue_days=queue_days,
        config_path=str(config_path) if config_path else None,
        simulation=sim_config,
        policy=policy,
        on_night=progress,
    )
    nights = month.nights
    console.print(
        f"Simulated {days} days from {month.start} ({int(nights['scored'].sum())} queues worked, "
        f"{int(nights['contacts'].sum()):,} contacts, collected {nights['collected'].sum():,.0f}) -> {month.data_dir}"
    )
    console.print(f"Next: recover backfill --as-of {month.end} --data {month.data_dir}", highlight=False)


@app.command()
def explain(
    loan_id: Annotated[str, typer.Argument(help="The loan to explain.")],
    as_of: AsOfOption,
    data: DataOption = "store",
    out: Annotated[Path, typer.Option("--out", help="Folder for the waterfall plot.")] = Path("."),
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """One account's full breakdown: every feature's value and SHAP contribution, the base value
    and the final score, each channel's response and incremental value; writes a waterfall plot."""
    config = _setup(config_path, verbose)
    as_of_date = _parse_date(as_of)
    explanation = _run_guarded(_explain, config, data, as_of_date, loan_id)
    table = Table(
        title=f"{loan_id} on {as_of_date}: why p_pay = {explanation.p_pay:.3f}", title_justify="left"
    )
    for header, justify in (
        ("feature", "left"),
        ("value", "right"),
        ("SHAP (log-odds)", "right"),
        ("meaning", "left"),
    ):
        table.add_column(header, justify=justify, overflow="fold")
    for row in explanation.contributions.itertuples():
        value = row.value
        shown = "missing" if value is None or (isinstance(value, float) and value != value) else str(value)
        table.add_row(row.feature, shown, f"{row.shap:+.4f}", row.description)
    console.print(table)
    console.print(
        f"base value {explanation.base_value:+.4f} + contributions "
        f"{explanation.margin - explanation.base_value:+.4f} = margin {explanation.margin:+.4f} "
        f"-> calibrated p_pay {explanation.p_pay:.3f}",
        highlight=False,
    )
    if not explanation.channels.empty:
        channels = Table(
            title="Channels (lawfulness is decided by the nightly run's rule pack)", title_justify="left"
        )
        for header in ("channel", "p_response", "p_self_cure", "uplift", "incremental value", "identified"):
            channels.add_column(header, justify="right")
        funnel = Table(
            title="Funnel: uplift = p_reach x (p_pay if reached - p_pay if not)", title_justify="left"
        )
        for header in ("channel", "p_reach", "p_pay if reached", "p_pay if not"):
            funnel.add_column(header, justify="right")
        for row in explanation.channels.itertuples():
            channels.add_row(
                row.channel,
                f"{row.p_response:.3f}",
                f"{row.p_self_cure:.3f}",
                f"{row.uplift:+.3f}",
                f"{row.incremental_value:+,.2f}",
                # How far the history identifies the effect (1) or the stated prior decides (0).
                f"{row.overlap_weight:.0%}",
            )
            funnel.add_row(
                row.channel, f"{row.p_reach:.3f}", f"{row.p_if_reached:.3f}", f"{row.p_if_not_reached:.3f}"
            )
        wide = _wide_console()  # six columns: a narrow terminal would break the headers
        wide.print(channels)
        wide.print(funnel)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"explain-{loan_id}-{as_of_date}.png"
    from review.explain import waterfall_png

    waterfall_png(explanation, path)
    console.print(f"Waterfall plot: {path}")


def _explain(config, data, as_of: dt.date, loan_id: str):
    from adapters import tracking
    from features.responses import channel_history
    from models.payment_amount import payment_share_from
    from pipelines.common import channel_champion_or_prior, load_and_validate, night_cutoff
    from pipelines.nightly_score_flow import features_for
    from review.explain import explain_account

    cutoff = night_cutoff(config, as_of)
    validated = load_and_validate(data, cutoff, config)
    features = features_for.fn(validated.tables, cutoff, config)
    if not (features["loan_id"] == loan_id).any():
        known = (validated.tables["loans"]["loan_id"] == loan_id).any()
        why = "is not overdue on that date: nothing to explain" if known else "is not in the loan book"
        _fail(f"loan {loan_id} {why}", EXIT_INVALID_INPUT)
    propensity = tracking.load_champion(config)
    channel = channel_champion_or_prior(config, propensity)
    history = channel_history(validated.tables["interactions"], validated.tables["payments"], cutoff)
    return explain_account(
        features,
        loan_id,
        propensity.model,
        channel.model,
        history,
        config.decisions.channel_cost,
        payment_share=payment_share_from(
            tracking.load_run_document(config, propensity.run_id, PAYMENT_AMOUNT_ARTIFACT)
        ),
        repeat_contact_discount=config.decisions.repeat_contact_discount,
    )


@app.command()
def policies(config_path: ConfigOption = None) -> None:
    """List the contact-policy rule packs and their rules."""
    from scoring.policy.engine import rule_table
    from scoring.policy.packs import available_packs, load_pack

    config = _setup(config_path, False)
    for name in available_packs(config.policy.packs_dir):
        pack = load_pack(name, config.policy.packs_dir)
        marker = " (default)" if name == config.policy.default else ""
        table = Table(title=f"{pack.name} {pack.version}{marker}: {pack.jurisdiction}", title_justify="left")
        for header in ("rule", "reason code", "what it does", "source"):
            table.add_column(header, overflow="fold")
        for row in rule_table(pack).itertuples():
            table.add_row(row.rule_id, row.reason, row.description, row.source)
        console.print(table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo book and outputs.")] = Path(
        "demo-output"
    ),
    loans: Annotated[Optional[int], typer.Option("--loans", help="Number of loans.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed.")] = None,
    policy: PolicyOption = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Simulate a book, validate it, train, register the champion and score the queue."""
    config = _setup(config_path, verbose)
    started = time.perf_counter()
    data_dir, queue_dir = out / "data", out / "queue"
    console.rule("1/4 simulate a loan book")
    sim = _simulate(config, data_dir, loans, seed, None)
    console.rule("2/4 validate")
    from adapters.io import read_tables
    from data_contracts.validation import validate_tables
    from pipelines.common import night_cutoff

    result = validate_tables(read_tables(data_dir), as_of=night_cutoff(config, sim.as_of))
    rows = int(result.counts()["rows_in"].sum())
    console.print(f"{'valid' if result.is_valid else 'INVALID'}: {rows:,} rows in six tables")
    if not result.is_valid:
        _fail("the simulated book failed validation", EXIT_INVALID_INPUT)
    console.rule("3/4 train and register the champion")
    trained = _train(config, data_dir, sim.as_of, config_path, promote=True)
    console.rule("4/4 score tomorrow's queue")
    scored = _score(config, data_dir, sim.as_of, queue_dir, config_path, policy=policy)
    _print_summary(config, scored, trained, queue_dir, time.perf_counter() - started)


def _print_summary(config, scored: dict, trained: dict, queue_dir: Path, seconds: float) -> None:
    from adapters import tracking

    manifest = scored["manifest"]
    counts = manifest["counts"]
    console.rule("summary")
    console.print(
        f"Accounts overdue: [bold]{counts['overdue']:,}[/]   scored: [bold]{counts['scored']:,}[/]   "
        f"queued: [bold]{counts['queued']:,}[/]   held back: {counts['suppressed']:,}   "
        f"awaiting a promise: {counts['promise_follow_up']:,}   left alone: {counts.get('left_alone', 0):,}"
    )
    console.print(f"Held back by reason: {manifest['suppressed_by_reason']}", highlight=False)
    decisions = manifest.get("decisions", {})
    if decisions:
        console.print(
            f"Left alone by reason: {decisions['left_alone_by_reason']}   exploration: "
            f"{decisions['exploration']}   control: {decisions['control']}",
            highlight=False,
        )
        console.print(f"Queued by channel: {decisions['queued_by_channel']}", highlight=False)
    console.print(
        "[bold]Top 10 of the queue[/] (rank, loan, days past due, overdue, channel, "
        "p_response vs p_self_cure, incremental value):"
    )
    for row in scored["queue"].head(10).itertuples():
        console.print(
            f"{row.rank:>3}. {row.loan_id}  dpd {row.days_past_due:>3}  "
            f"overdue {row.amount_overdue:>10,.2f}  {row.recommended_channel:<11} "
            f"{row.p_response:.2f} vs {row.p_self_cure:.2f}  +{row.incremental_value:,.2f}"
            + ("  (exploration)" if row.exploration else ""),
            highlight=False,
        )
        for reason in (row.reason_1, row.reason_2, row.reason_3):
            console.print(f"       - {reason}", highlight=False)
        console.print(
            f"       {row.recommended_channel} rather than {row.runner_up_channel}:", highlight=False
        )
        for reason in (row.channel_reason_1, row.channel_reason_2, row.channel_reason_3):
            console.print(f"       - {reason}", highlight=False)
    _print_review(scored["review"], queue_dir)
    console.print(f"Files in {queue_dir}:")
    team_files = [name for name in scored["files"] if name.startswith("teams/")]
    for name in scored["files"]:
        if not name.startswith("teams/"):
            console.print(f"  {name}", highlight=False)
    console.print(f"  teams/: {len(team_files) // 2} team queues (Parquet and CSV each)", highlight=False)
    uri = tracking.tracking_uri(config)
    console.print(
        f"Model {trained['model']} (out-of-time AUC {trained['metrics']['test_auc']:.3f} vs "
        f"days-past-due heuristic {trained['metrics']['test_heuristic_dpd_auc']:.3f})."
    )
    console.print(
        f"MLflow UI: [bold].venv/bin/mlflow ui --backend-store-uri {uri}[/] then open http://127.0.0.1:5000"
    )
    console.print(f"Done in {seconds:.0f} s.")


def _print_review(review: dict, folder: Path) -> None:
    """The fair-practice review in a few lines: coverage and flagged disparities."""
    explanations = review["explanations"]
    flagged = review["disparities"]["flagged"]
    console.print(
        f"[bold]Fair-practice review[/] ({folder / 'review.html'}): "
        f"{explanations['share_with_three_reasons']:.0%} of queued rows with three reasons, "
        f"{explanations['share_with_three_channel_reasons']:.0%} with three channel reasons; "
        f"{len(flagged)} group disparities flagged",
        highlight=False,
    )
    for row in flagged[:8]:
        console.print(
            f"  - {row['metric']} for {row['attribute']} {row['group']} ({row['loans']:,} loans): "
            f"{row['value']:.3f}, {row['ratio_to_reference']:.2f}x {row['reference_group']} (p={row['p_value']:.3f})",
            highlight=False,
        )


def main() -> None:  # pragma: no cover - console-script entry
    app()
