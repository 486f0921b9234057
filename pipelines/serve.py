"""`recover serve`: the nightly scoring and the retraining as scheduled Prefect deployments.

Prefect schedules runs only from a real server (its scheduler service does not run in the
temporary in-process server that one-off commands use). With ``PREFECT_API_URL`` set, the
deployments are served against that server; without it, :func:`prefect_server` starts a local
one (``prefect server start``, its SQLite database in the state folder's Prefect home) for as
long as ``recover serve`` runs, and stops it on exit.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from recover.config import Config

NIGHTLY_DEPLOYMENT = "nightly"
TRAINING_DEPLOYMENT = "monthly-retraining"
REPORT_DEPLOYMENT = "monthly-report"


@dataclass(frozen=True)
class ServePlan:
    """What `recover serve` schedules, and with which parameters."""

    data: str
    out: str
    config_path: str | None
    publish_url: str | None
    policy: str | None
    nightly_cron: str
    training_cron: str | None  # None: no retraining deployment
    timezone: str
    cluster: str | None = None  # Dask scheduler both deployments run their tasks on
    # The previous calendar month's report (KPIs, compliance audit) into <state>/reports; None: none.
    report_cron: str | None = None

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        data: str,
        out: str,
        config_path: str | None = None,
        publish_url: str | None = None,
        policy: str | None = None,
        nightly_cron: str | None = None,
        training_cron: str | None = None,
        training: bool = True,
        cluster: str | None = None,
        report_cron: str | None = None,
        report: bool = True,
    ) -> ServePlan:
        from recover.config import ScheduleConfig

        # Validated like the config's own crons (a typo fails here, not at 02:00).
        schedule = ScheduleConfig(
            timezone=config.schedule.timezone,
            nightly_cron=nightly_cron or config.schedule.nightly_cron,
            training_cron=training_cron or config.schedule.training_cron,
            report_cron=report_cron or config.schedule.report_cron,
        )
        return cls(
            data=data,
            out=out,
            config_path=config_path,
            publish_url=publish_url,
            policy=policy,
            nightly_cron=schedule.nightly_cron,
            training_cron=schedule.training_cron if training else None,
            timezone=schedule.timezone,
            cluster=cluster or config.cluster.address,
            report_cron=schedule.report_cron if report else None,
        )


def deployments(plan: ServePlan) -> list:
    """The Prefect deployments of ``plan``: nightly scoring (as-of = the work day begun in the
    lender's time zone) and, unless disabled, retraining with the promotion gate and the monthly
    report."""
    from prefect.schedules import Cron

    from pipelines.nightly_score_flow import nightly_score_flow
    from pipelines.train_flow import train_flow

    served = [
        nightly_score_flow.to_deployment(
            name=NIGHTLY_DEPLOYMENT,
            schedule=Cron(plan.nightly_cron, timezone=plan.timezone),
            parameters={
                "data": plan.data,
                "as_of": None,
                "out": plan.out,
                "config_path": plan.config_path,
                "publish_url": plan.publish_url,
                "policy": plan.policy,
                # The served flow is loaded from its module: it moves onto the cluster itself.
                "cluster": plan.cluster,
            },
            # Prefect's own guard on top of the night lock: one nightly run at a time.
            concurrency_limit=1,
            tags=["recover", "nightly"],
            description="Tonight's ranked, lawful, explained work queues.",
        )
    ]
    if plan.training_cron:
        served.append(
            train_flow.to_deployment(
                name=TRAINING_DEPLOYMENT,
                schedule=Cron(plan.training_cron, timezone=plan.timezone),
                parameters={
                    "data": plan.data,
                    "as_of": None,
                    "config_path": plan.config_path,
                    "promote": True,
                    "cluster": plan.cluster,
                },
                concurrency_limit=1,
                tags=["recover", "training"],
                description="Retrain both models; the promotion gate decides the champions.",
            )
        )
    if plan.report_cron:
        served.append(_report_deployment(plan, plan.report_cron))
    return served


def _report_deployment(plan: ServePlan, cron: str):
    """The monthly report's deployment: start/end None report the previous calendar month on the
    lender's clock."""
    from prefect.schedules import Cron

    from pipelines.report_flow import report_flow

    return report_flow.to_deployment(
        name=REPORT_DEPLOYMENT,
        schedule=Cron(plan.report_cron, timezone=plan.timezone),
        parameters={
            "data": plan.data,
            "start": None,
            "end": None,
            "out": None,
            "config_path": plan.config_path,
        },
        concurrency_limit=1,
        tags=["recover", "report"],
        description="Last month's KPIs by team, channel and agent, and the compliance audit.",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def prefect_server(
    prefect_home: Path, port: int | None = None, timeout_seconds: float = 180
) -> Iterator[str]:
    """The API URL to serve against: ``PREFECT_API_URL`` when set, else a local Prefect server
    started here (with its scheduler) and stopped when the block exits."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield configured
        return
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/api"
    prefect_home.mkdir(parents=True, exist_ok=True)
    log = (prefect_home / "server.log").open("ab")
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_healthy(url, server, timeout_seconds, prefect_home / "server.log")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_healthy(url: str, server: subprocess.Popen, timeout_seconds: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the local Prefect server exited ({server.returncode}); see {log_path}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(
        f"the local Prefect server did not answer within {timeout_seconds:g} s; see {log_path}"
    )


def serve_deployments(plan: ServePlan, prefect_home: Path, port: int | None = None) -> None:
    """Serve ``plan``'s deployments until interrupted (Ctrl-C or SIGTERM)."""
    with prefect_server(prefect_home, port) as api_url:
        os.environ["PREFECT_API_URL"] = api_url  # the flow-run subprocesses inherit it
        from prefect import serve
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            print(f"serving against the Prefect API at {api_url}", flush=True)
            serve(*deployments(plan), print_starting_message=True)
