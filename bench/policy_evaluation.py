"""Bench: the policy evaluation on the default book (20,000 loans, seed 42, 60 days).

Runs `recover evaluate-policy` end to end (simulate history, train both models, run every
policy forward with the same luck and capacity) and prints the table and the timings. By default
every policy runs, the optional engine_without_control too (what the control group costs).
Usage: .venv/bin/python bench/policy_evaluation.py [--loans N] [--days D] [--futures F]
    [--policies a,b] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=None)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--futures", type=int, default=None)
    parser.add_argument("--policies", default=None, help="comma-separated subset (default: all)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="policy-eval-")))
    args = parser.parse_args()
    os.environ.setdefault("RECOVER_STATE_DIR", str(args.out / "state"))
    # A private Prefect home: a shared ~/.prefect database of older runs slowed the temporary
    # server's start past its timeout.
    prefect_home = args.out / "state" / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(prefect_home))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

    from evaluation.policy_flow import OPTIONAL_POLICIES, POLICIES, evaluate_policy_flow

    overrides = {"n_loans": args.loans} if args.loans else None
    names = args.policies.split(",") if args.policies else [*POLICIES, *OPTIONAL_POLICIES]
    started = time.perf_counter()
    result = evaluate_policy_flow(str(args.out), None, args.days, names, True, overrides, args.futures)
    seconds = time.perf_counter() - started
    table = result.table
    print(
        table[
            [
                "recovered",
                "contact_cost",
                "net_recovery",
                "contacts",
                "cures",
                "cease_requests",
                "net_recovery_se",
                "gain_over_random",
                "gain_over_random_se",
                "share_of_oracle_gain",
                "seconds",
            ]
        ]
        .round(3)
        .to_string()
    )
    print(
        json.dumps(
            {k: v for k, v in result.facts.to_dict().items() if k != "timings_seconds"}, indent=2, default=str
        )
    )
    print(json.dumps(result.facts.timings_seconds, indent=2))
    print(f"total {seconds:.0f} s; files in {args.out}")


if __name__ == "__main__":
    main()
