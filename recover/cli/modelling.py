"""The models: `recover train` (and register), `promote` (the gate) and `models` (the registry)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from recover.cli.options import (
    AsOfOption,
    ClusterOption,
    ConfigOption,
    DataOption,
    VerboseOption,
    config_arg,
    parse_date,
)
from recover.cli.render import modelling as render
from recover.cli.runtime import EXIT_REFUSED, run_guarded, setup

PromoteOption = Annotated[
    bool,
    typer.Option(
        "--promote/--no-promote",
        help="Move alias champion to the new versions when the promotion gate passes.",
    ),
]
SearchTrialsOption = Annotated[
    Optional[int],
    typer.Option(
        "--search-trials", min=0, help="Optuna trials before training (default: training.search.trials)."
    ),
]
SearchTimeoutOption = Annotated[
    Optional[float],
    typer.Option(
        "--search-timeout",
        min=1,
        help="Seconds the search may take (default: training.search.timeout_seconds).",
    ),
]


def train(
    data: DataOption,
    as_of: AsOfOption,
    promote: PromoteOption = False,
    search_trials: SearchTrialsOption = None,
    search_timeout: SearchTimeoutOption = None,
    cluster: ClusterOption = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Train on snapshots whose label windows end before AS_OF; register both models as
    challengers and show the promotion gate (--promote: and promote what passes)."""
    config = setup(config_path, verbose)
    as_of_date = parse_date(as_of)
    from pipelines.runtime.cluster import on_cluster
    from pipelines.train_flow import train_flow

    address = cluster or config.cluster.address
    result = run_guarded(
        on_cluster(train_flow, address),
        str(data),
        as_of_date,
        config_arg(config_path),
        promote=promote,
        search_trials=search_trials,
        search_timeout_seconds=search_timeout,
        cluster=address,
    )
    render.print_training(result, config)


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
    config = setup(config_path, verbose)
    from pipelines.promotion import model_kinds, promote_models, run_gate

    names = [model] if model else list(model_kinds(config))
    unknown = [name for name in names if name not in model_kinds(config)]
    if unknown:
        raise typer.BadParameter(f"unknown model {unknown}; known: {list(model_kinds(config))}")
    if version is not None:
        if len(names) != 1:
            raise typer.BadParameter("--version needs --model")
        decisions = [run_guarded(run_gate, config, names[0], version, promote=not dry_run)]
    else:
        decisions = run_guarded(promote_models, config, names, promote=not dry_run)
    as_dicts = [decision.to_dict() for decision in decisions]
    render.print_promotion(as_dicts, config)
    if any(d["gate"] is not None and not d["gate"]["passed"] for d in as_dicts):
        raise typer.Exit(EXIT_REFUSED)


def models(config_path: ConfigOption = None) -> None:
    """List the registered versions of both models: aliases, test metrics and gate results."""
    config = setup(config_path)
    from adapters import tracking

    names = [config.mlflow.propensity_model_name, config.mlflow.channel_model_name]
    render.print_model_versions(tracking.model_versions(config, names), tracking.tracking_uri(config))
