"""The night: `recover score` (one night or a range), `serve` (on crons), `explain` (one
account) and `policies` (the rule packs)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from recover.cli.options import (
    AsOfOption,
    ClusterOption,
    ConfigOption,
    DataOption,
    OptionalAsOfOption,
    PolicyOption,
    VerboseOption,
    config_arg,
    parse_date,
)
from recover.cli.render import console, errors
from recover.cli.render import night as render
from recover.cli.runtime import EXIT_INVALID_INPUT, check_policy, fail, run_guarded, setup

if TYPE_CHECKING:
    from recover.config import Config

ScoreOutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        help="Folder for queue, suppressed and manifest (with --as-of-range: one subfolder per night).",
    ),
]
AsOfRangeOption = Annotated[
    Optional[tuple[str, str]],
    typer.Option(
        "--as-of-range",
        metavar="START END",
        help="Replay every night from START to END (both included) in order, each its own run "
        "writing OUT/YYYY-MM-DD; nights already published there are skipped (--fresh redoes them). "
        "Stops at the first night that fails.",
    ),
]
FreshOption = Annotated[
    bool,
    typer.Option("--fresh", help="Recompute every stage, even of a failed night that could resume."),
]


def score(
    data: DataOption,
    out: ScoreOutOption,
    as_of: OptionalAsOfOption = None,
    as_of_range: AsOfRangeOption = None,
    publish: Annotated[
        Optional[str],
        typer.Option("--publish", help="Also write the queue to this database (SQLAlchemy URL), atomically."),
    ] = None,
    policy: PolicyOption = None,
    fresh: FreshOption = False,
    cluster: ClusterOption = None,
    config_path: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Score overdue loans with the champion and write tomorrow's ranked, lawful, explained queue.

    A rerun of a night that failed resumes after its last completed stage. Exit codes: 2 invalid
    input, 3 no champion, 4 drift beyond the limit, 6 another run holds the night."""
    if (as_of is None) == (as_of_range is None):
        raise typer.BadParameter("give exactly one of --as-of D and --as-of-range START END")
    config = setup(config_path, verbose)
    if as_of is not None:
        _score_night(config, data, parse_date(as_of), out, config_path, publish, policy, fresh, cluster)
        return
    from pipelines.replay import replay_nights

    start, end = (parse_date(value) for value in as_of_range)
    try:
        replay = replay_nights(start, end, out, fresh)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    for night in replay:
        if night.skip:
            console.print(f"{night.night}: already published in {night.folder}, skipped (--fresh redoes it)")
            continue
        console.rule(f"night {night.night}")
        try:
            _score_night(
                config, data, night.night, night.folder, config_path, publish, policy, fresh, cluster
            )
        except typer.Exit as stop:
            done = [str(other.night) for other in replay if other.night < night.night]
            errors.print(
                f"the replay stopped at {night.night}; nights before it are published ({', '.join(done) or 'none'}). "
                "Rerun the same command to resume from this night."
            )
            raise stop
    console.print(f"replayed {len(replay)} nights {start} .. {end} -> {out}")


def _score_night(
    config: Config,
    data: str,
    as_of: dt.date,
    out: Path,
    config_path: Path | None,
    publish_url: str | None,
    policy: str | None,
    fresh: bool,
    cluster: str | None,
) -> None:
    """Run the nightly flow for ``as_of`` (on the cluster, if any) and print what it published."""
    from pipelines.nightly_score_flow import nightly_score_flow
    from pipelines.runtime.cluster import on_cluster

    check_policy(config, policy)
    address = cluster or config.cluster.address
    result = run_guarded(
        on_cluster(nightly_score_flow, address),
        str(data),
        as_of,
        str(out),
        config_arg(config_path),
        publish_url,
        policy,
        fresh,
        address,
    )
    render.print_night(result, as_of, out)


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
    report_cron: Annotated[
        Optional[str],
        typer.Option("--report-cron", help="Cron of the monthly report (default: schedule.report_cron)."),
    ] = None,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Also serve the monthly report (KPIs, audit).")
    ] = True,
) -> None:
    """Serve the nightly scoring, the retraining and the monthly report on their crons (Prefect
    deployments).

    Against the Prefect server at $PREFECT_API_URL, or, without it, a local server started for as
    long as this runs (UI and API on --port). Crons are read in schedule.timezone; a scheduled night
    scores the work day begun there. Stop with Ctrl-C."""
    config = setup(config_path, verbose)
    from pipelines.serve import ServePlan, serve_deployments

    check_policy(config, policy)
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
            report_cron=report_cron,
            report=report,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    console.print(
        f"nightly scoring on '{plan.nightly_cron}'"
        + (f", retraining on '{plan.training_cron}'" if plan.training_cron else ", no retraining")
        + (f", monthly report on '{plan.report_cron}'" if plan.report_cron else ", no monthly report")
        + f" ({plan.timezone}) -> {plan.out}"
    )
    # Flow runs start in subprocesses, maybe in another working directory: pin the state folder.
    os.environ["RECOVER_STATE_DIR"] = str(config.resolved_state_dir())
    serve_deployments(plan, Path(os.environ["PREFECT_HOME"]), port)


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
    config = setup(config_path, verbose)
    as_of_date = parse_date(as_of)
    from pipelines.explain import NothingToExplainError, explain_loan
    from review.explain import waterfall_png

    try:
        explanation = run_guarded(explain_loan, config, data, as_of_date, loan_id)
    except NothingToExplainError as error:
        fail(str(error), EXIT_INVALID_INPUT)
    render.print_explanation(explanation, loan_id, as_of_date)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"explain-{loan_id}-{as_of_date}.png"
    waterfall_png(explanation, path)
    console.print(f"Waterfall plot: {path}")


def policies(config_path: ConfigOption = None) -> None:
    """List the contact-policy rule packs and their rules."""
    config = setup(config_path, False)
    from scoring.policy.engine import rule_table
    from scoring.policy.packs import available_packs, load_pack

    for name in available_packs(config.policy.packs_dir):
        pack = load_pack(name, config.policy.packs_dir)
        render.print_rule_pack(pack, name == config.policy.default, rule_table(pack))
