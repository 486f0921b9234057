"""The `recover` command line (typer), one module per command group.

    data.py        simulate, validate, ingest
    modelling.py   train, promote, models
    night.py       score, serve, explain, policies
    evaluation.py  evaluate-policy, backfill, simulate-month
    report.py      report (the month's KPIs and the compliance audit)
    demo.py        demo
    options.py     the options several commands share, and date parsing
    runtime.py     the set-up, exit codes, and failures told in one line and an exit code
    render/        everything printed, one module per command group (reads the flows' results)

Commands parse their options, call one function of the layers below (a flow, or a plain
function of pipelines/ or evaluation/) and render its result; the work itself lives below.

Why the imports inside command bodies: every command first calls
:func:`recover.cli.runtime.setup`, which sets environment variables that Prefect, MLflow and
LightGBM read when they are imported (PREFECT_HOME, PREFECT_LOGGING_LEVEL, OMP_WAIT_POLICY, ...).
So prefect, mlflow, lightgbm, pandas and every module that loads them (pipelines.*,
evaluation.*, adapters.*, recover.config, data_contracts.validation, scoring.*, review.*) are
imported inside the commands, after the set-up; that also keeps `recover --help` fast. Module
tops import only typer, rich and the standard library.
"""

from __future__ import annotations

import typer

from recover.cli import data, demo, evaluation, modelling, night, report
from recover.cli.runtime import (
    EXIT_DRIFT,
    EXIT_INVALID_INPUT,
    EXIT_LOCKED,
    EXIT_NO_MODEL,
    EXIT_REFUSED,
)

__all__ = ["EXIT_DRIFT", "EXIT_INVALID_INPUT", "EXIT_LOCKED", "EXIT_NO_MODEL", "EXIT_REFUSED", "app", "main"]

app = typer.Typer(
    name="recover",
    help="Machine-learning recovery prioritization for loan collections.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# In the order `recover --help` lists them.
COMMANDS = {
    "simulate": data.simulate,
    "validate": data.validate,
    "ingest": data.ingest,
    "train": modelling.train,
    "promote": modelling.promote,
    "models": modelling.models,
    "score": night.score,
    "serve": night.serve,
    "evaluate-policy": evaluation.evaluate_policy,
    "backfill": evaluation.backfill,
    "simulate-month": evaluation.simulate_month,
    "report": report.report,
    "explain": night.explain,
    "policies": night.policies,
    "demo": demo.demo,
}
for _name, _command in COMMANDS.items():
    app.command(_name)(_command)


def main() -> None:  # pragma: no cover - console-script entry
    app()
