"""What `recover train`, `promote` and `models` print: the train flow's result (a
:class:`pipelines.results.TrainResult`: the propensity and best-channel models and the
promotion gate's decisions), the promotion gate's decisions and the registered versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from recover.cli.render import console, wide_console

if TYPE_CHECKING:
    import pandas as pd

    from pipelines.results import TrainResult
    from recover.config import Config


def print_training(result: TrainResult, config: Config) -> None:
    """The search, the registered versions and their out-of-time metrics, the inputs, the
    baseline warnings, the channel model (or why none) and the promotion gate."""
    from adapters.tracking import baseline_verdict

    propensity = result.propensity
    if propensity.search_run_id:
        console.print(
            f"Hyperparameter search run {propensity.search_run_id}: trained with "
            + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in propensity.lightgbm.items()
            )
        )
    _print_registered(result, config.mlflow.challenger_alias)
    _print_model_inputs(propensity.data)
    for sentence in baseline_verdict(config, propensity.metrics):
        console.print(
            f"[bold yellow]Warning[/]: the propensity model {sentence}.", highlight=False, soft_wrap=True
        )
    console.print(f"Propensity {propensity.out_of_time_plan}.", highlight=False, soft_wrap=True)
    if result.channel.not_fitted:
        console.print(
            f"No best-channel model: {result.channel.not_fitted}. Tonight's queue values "
            "channels by the stated prior (channel_model.prior_lift) and says so in every "
            "channel reason and the manifest; its exploration contacts build the history a later "
            "training learns channels from.",
            highlight=False,
            soft_wrap=True,
        )
    print_promotion([decision.to_dict() for decision in result.promotion], config)


def _print_registered(result: TrainResult, alias: str) -> None:
    """The versions registered under ``alias`` and the propensity model's out-of-time metrics."""
    m = result.propensity.metrics
    registered = (
        f"[bold]{result.propensity.model}[/] and [bold]{result.channel.model}[/]"
        if result.channel.model
        else f"[bold]{result.propensity.model}[/]"
    )
    nan = float("nan")
    console.print(
        f"Registered {registered} as "
        f"'{alias}'. Out-of-time test AUC "
        f"[bold]{m['test_auc']:.3f}[/] vs days-past-due heuristic {m['test_heuristic_dpd_auc']:.3f} "
        f"and plain LightGBM {m.get('test_plain_lightgbm_auc', nan):.3f} "
        f"(validation {m['valid_auc']:.3f} vs {m['valid_heuristic_dpd_auc']:.3f} "
        f"and {m.get('valid_plain_lightgbm_auc', nan):.3f}); "
        f"Brier {m['test_brier']:.3f}, calibration error {m['test_ece']:.3f}."
    )


def _print_model_inputs(data: dict) -> None:
    """The monotone constraints chosen, and the features used or dropped."""
    monotone, inputs = data.get("monotone_constraints"), data.get("model_inputs")
    if not (monotone and inputs):
        return
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


def print_promotion(decisions: list[dict], config: Config) -> None:
    """The gate's table per model and what happened to the champion alias."""
    for decision in decisions:
        gate = decision["gate"]
        if gate is not None:
            _print_gate(decision)
        alias = config.mlflow.champion_alias
        if decision["promoted"]:
            outcome = f"[bold green]promoted[/]: '{alias}' -> v{decision['champion_after']}"
        elif gate is not None and not gate["passed"]:
            outcome = f"[bold red]not promoted[/]: '{alias}' stays v{decision['champion_after']}"
        else:
            outcome = f"'{alias}' is v{decision['champion_after']}"
        console.print(f"{decision['model']}: {outcome}. {decision['note']}", highlight=False)


def _print_gate(decision: dict) -> None:
    """One model's gate: metric by metric, champion against challenger, and its warnings."""
    gate = decision["gate"]
    title = f"{decision['model']}: challenger v{decision['challenger']} vs champion v{decision['champion_before']}"
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
    wide_console().print(table)
    for sentence in gate.get("warnings") or []:
        console.print(
            f"[bold yellow]Warning[/]: {decision['model']} v{decision['challenger']} {sentence}.",
            highlight=False,
            soft_wrap=True,
        )


def print_model_versions(frame: pd.DataFrame, uri: str) -> None:
    """Every registered version: aliases, as-of, test metrics and the gate's result."""
    if frame.empty:
        console.print(f"No registered models in {uri}: run `recover train` first.")
        return
    table = Table(title=f"Registered models in {uri}", title_justify="left")
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
    wide_console().print(table)
    for row in frame[frame["gate_verdict"] != ""].itertuples(index=False):
        console.print(f"  {row.model} v{row.version}: {row.gate_verdict}", highlight=False)
