"""Benchmark: the engine in Tidewater's closed loop, beside the world's own baseline policies.

Not a test. Tidewater (``--worlds``, written independently of the engine) runs its world on from
the as-of day by day while a policy chooses each day's contacts within a budget; what the policy
causes (fatigue, opt-outs, promises, the Reg F clocks) feeds back into the next day's tables
(README.md of the worlds, "Closed loop"). For each seed this runs, with the worlds' own
``tidewater_loop.py`` and this interpreter:

1. ``--compare BASELINES``: the baselines (none, random, oldest, balance, ladder, oracle) on one
   world with one luck;
2. ``engine``: the ``recover`` CLI on the same world and luck (trained on the first day, scoring
   every day; each seed in its own state folder).

It prints, per seed, each policy's net as a share of (oracle - random), the same share of the net
of payments by loans in arrears, contacts, cost and breaches, the mean shares over the seeds, the
engine minus the ladder (the world's historical policy) on both shares, and PASS/FAIL per seed for

    engine net share > ladder net share
    engine arrears share > ladder arrears share
    engine breaches == 0

and the days on which ``recover score`` exited non-zero (those days get no contacts). ``--out``
saves every raw report, the shares and the run's details (JSON) and a markdown summary beside it.

    .venv/bin/python bench/tidewater_loop.py [--worlds /work/shared/worlds] [--loans 20000] \\
        [--seeds 1,2] [--as-of 2026-03-02] [--days 10] [--loop-seed 0] \\
        [--baselines none,random,oldest,balance,ladder,oracle] [--work DIR] [--keep] \\
        [--out bench/results/tidewater_loop.json]

On two shared cores, a 3,000-loan book trains in about 75 s and scores in about 25 s a day (the
baselines take seconds); a 20,000-loan book trains in about 2.5 min, scores in 30 to 45 s a day,
and its baselines take 2 to 3 min (the oracle's Monte-Carlo): about 12 min per seed for 10 days. Exits 0 when the runs
complete (a check that fails is a result, not an error), 1 when a run fails (with the tail of its
log; a temporary working folder is then kept), 2 when the worlds folder holds no
``tidewater_loop.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORLDS = Path("/work/shared/worlds")
DEFAULT_BASELINES = "none,random,oldest,balance,ladder,oracle"
TAIL_LINES = 15


def _bench_tidewater():
    """bench/tidewater.py as a module (bench/ is not a package: load it from its path)."""
    spec = importlib.util.spec_from_file_location("bench_tidewater", Path(__file__).with_name("tidewater.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_shared = _bench_tidewater()
recover_cli, git_state, clean_json, machine = (
    _shared.recover_cli,
    _shared.git_state,
    _shared.clean_json,
    _shared.machine,
)


class StepFailed(Exception):
    """A world run exited non-zero or printed no readable JSON report."""


def log_tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    """The last non-empty lines of a log file (none when it does not exist)."""
    if not path.is_file():
        return []
    kept = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return kept[-lines:]


def run_world(
    name: str, command: list[str], work: Path, env: dict[str, str] | None = None, also: Path | None = None
) -> dict:
    """Run one world command; stderr to ``work/<name>.log``, stdout (JSON) to ``work/<name>.json``.

    Returns the parsed report(s), the wall seconds and the log's path; raises StepFailed with the
    log's tail (and that of ``also``, say the engine's train.log, when it exists)."""
    log, out = work / f"{name}.log", work / f"{name}.json"
    print(f"  {name}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    with log.open("w") as err:
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=err, text=True, check=False)
    seconds = round(time.perf_counter() - started, 1)
    out.write_text(done.stdout)
    try:
        report = json.loads(done.stdout) if done.returncode == 0 else None
    except json.JSONDecodeError:
        report = None
    if report is None:
        why = f"exited {done.returncode}" if done.returncode else "printed no JSON report"
        tail = "\n".join(log_tail(log) or ["(empty log)"])
        if also is not None and also.is_file():
            tail += f"\nlast lines of {also}:\n" + "\n".join(log_tail(also))
        raise StepFailed(f"{name} {why} after {seconds:.1f} s; last lines of {log}:\n{tail}")
    print(f"  {name}: ok in {seconds:.1f} s", flush=True)
    return {"report": report, "seconds": seconds, "log": str(log), "command": command}


def world_args(args: argparse.Namespace, seed: int) -> list[str]:
    """The options every world run of one seed shares (same world, same luck)."""
    return [
        "--loans",
        str(args.loans),
        "--seed",
        str(seed),
        "--as-of",
        args.as_of,
        "--days",
        str(args.days),
        "--loop-seed",
        str(args.loop_seed),
        "--json",
    ]


def engine_env() -> dict[str, str]:
    """This environment, with idle OpenMP threads sleeping and no outside Prefect server or profile."""
    env = dict(os.environ)
    for name in ("PREFECT_API_URL", "PREFECT_PROFILES_PATH"):
        env.pop(name, None)
    env.update(OMP_WAIT_POLICY="PASSIVE", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def run_seed(args: argparse.Namespace, seed: int, work: Path) -> dict:
    """The baselines, then the engine, on one seed's world; raises StepFailed."""
    print(f"seed {seed}: {args.loans:,} loans, as-of {args.as_of}, {args.days} days", flush=True)
    loop = str(args.worlds / "tidewater_loop.py")
    common = world_args(args, seed)
    compare = run_world(
        f"seed{seed}-compare",
        [sys.executable, loop, "--compare", args.baselines, *common, "--quiet"],
        work,
    )
    state = work / f"seed{seed}-engine"
    if state.exists():  # the world wants a new or empty folder: a rerun in the same --work
        shutil.rmtree(state)
    engine = run_world(
        f"seed{seed}-engine-run",
        [sys.executable, loop, "engine", *common, "--cli", recover_cli(), "--work", str(state)],
        work,
        engine_env(),
        also=state / "train.log",
    )
    reports = [engine["report"], *compare["report"]]
    steps = {
        name: {key: step[key] for key in ("seconds", "log", "command")}
        for name, step in (("compare", compare), ("engine", engine))
    }
    return {"seed": seed, "steps": steps, "reports": reports, **figures(reports)}


def share(value: float, low: float | None, high: float | None) -> float | None:
    """(value - low) / (high - low); None when the span is not positive or missing."""
    if low is None or high is None or high - low <= 0:
        return None
    return (value - low) / (high - low)


def figures(reports: list[dict]) -> dict:
    """Shares of (oracle - random) per policy, engine minus ladder, the checks, failed score days."""
    by = {r["policy"]: r for r in reports}
    shares = {}
    for policy, r in by.items():
        shares[policy] = {
            key: share(r[field], by.get("random", {}).get(field), by.get("oracle", {}).get(field))
            for key, field in (("net", "net"), ("arrears", "net_in_arrears"))
        }
    engine, ladder = shares.get("engine", {}), shares.get("ladder", {})
    minus = {key: _minus(engine.get(key), ladder.get(key)) for key in ("net", "arrears")}
    checks = {
        "engine net share > ladder net share": minus["net"] is not None and minus["net"] > 0,
        "engine arrears share > ladder arrears share": minus["arrears"] is not None and minus["arrears"] > 0,
        "engine breaches == 0": by.get("engine", {}).get("breaches") == 0,
    }
    return {
        "shares": shares,
        "engine_minus_ladder": minus,
        "checks": checks,
        "score_failures": score_failures(by.get("engine", {})),
    }


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def score_failures(report: dict) -> list[dict]:
    """The loop days on which ``recover score`` exited non-zero (no contacts those days)."""
    codes = (report.get("engine") or {}).get("score_exit_codes") or []
    dates = [day.get("date") for day in report.get("per_day") or []]
    return [
        {"day": i + 1, "date": dates[i] if i < len(dates) else None, "exit_code": code}
        for i, code in enumerate(codes)
        if code != 0
    ]


def mean_shares(records: list[dict]) -> dict:
    """Mean of each policy's shares over the seeds that have them (None when none has)."""
    means: dict[str, dict] = {}
    for policy in policy_order(records):
        means[policy] = {}
        for key in ("net", "arrears"):
            values = [r["shares"].get(policy, {}).get(key) for r in records]
            values = [v for v in values if v is not None]
            means[policy][key] = sum(values) / len(values) if values else None
    return means


def policy_order(records: list[dict]) -> list[str]:
    """Engine first, then the baselines in the world's order."""
    seen = [r["policy"] for record in records for r in record["reports"]]
    return list(dict.fromkeys(["engine", *seen]))


def _cell(value, spec: str, width: int) -> str:
    return f"{'-' if value is None else format(value, spec):>{width}}"


SEED_HEAD = f"{'net share':>9} {'arr share':>9} {'contacts':>8} {'cost':>9} {'breaches':>8}"
MEAN_HEAD = f"{'net share':>9} {'arr share':>9}"


def table(records: list[dict], means: dict) -> list[str]:
    """Policies by seed (shares, contacts, cost, breaches) and the mean shares; then the checks."""
    label = 14
    groups = [f"seed {r['seed']}" for r in records] + ["mean"]
    widths = [len(SEED_HEAD)] * len(records) + [len(MEAN_HEAD)]
    lines = [
        f"{'':<{label}}" + " | ".join(f"{g:<{w}}" for g, w in zip(groups, widths, strict=True)),
        f"{'policy':<{label}}" + " | ".join([SEED_HEAD] * len(records) + [MEAN_HEAD]),
    ]
    for policy in policy_order(records):
        cells = [seed_cells(r, policy) for r in records]
        mean = means.get(policy, {})
        cells.append(_cell(mean.get("net"), ".3f", 9) + " " + _cell(mean.get("arrears"), ".3f", 9))
        lines.append(f"{policy:<{label}}" + " | ".join(cells))
    lines.append(minus_row(records, means, label))
    return [line.rstrip() for line in lines + [""] + check_lines(records)]


def seed_cells(record: dict, policy: str) -> str:
    """One seed's cells of one policy's row."""
    r = next((x for x in record["reports"] if x["policy"] == policy), None)
    s = record["shares"].get(policy, {})
    if r is None:
        return " ".join(_cell(None, "", w) for w in (9, 9, 8, 9, 8))
    return " ".join(
        [
            _cell(s.get("net"), ".3f", 9),
            _cell(s.get("arrears"), ".3f", 9),
            _cell(r["contacts"], "d", 8),
            _cell(r["cost"], ".1f", 9),
            _cell(r["breaches"], "d", 8),
        ]
    )


def minus_row(records: list[dict], means: dict, label: int) -> str:
    """Engine minus ladder on both shares, per seed and on the means."""
    blank = " " * (len(SEED_HEAD) - 20)
    cells = [
        _cell(r["engine_minus_ladder"]["net"], "+.3f", 9)
        + " "
        + _cell(r["engine_minus_ladder"]["arrears"], "+.3f", 9)
        + " "
        + blank
        for r in records
    ]
    engine, ladder = means.get("engine", {}), means.get("ladder", {})
    cells.append(" ".join(_cell(_minus(engine.get(k), ladder.get(k)), "+.3f", 9) for k in ("net", "arrears")))
    return f"{'engine-ladder':<{label}}" + " | ".join(cells)


def check_lines(records: list[dict]) -> list[str]:
    """PASS/FAIL per check and seed, then the engine's timings and failed score days per seed."""
    names = list(records[0]["checks"]) if records else []
    width = max([len("check"), *map(len, names)])
    lines = [f"{'check':<{width}}  " + "  ".join(f"{'seed ' + str(r['seed']):>8}" for r in records)]
    for name in names:
        cells = ["PASS" if r["checks"][name] else "FAIL" for r in records]
        lines.append(f"{name:<{width}}  " + "  ".join(f"{c:>8}" for c in cells))
    return lines + [""] + [engine_line(r) for r in records]


def engine_line(record: dict) -> str:
    """The engine's train and score seconds, queue sizes and non-zero score exits of one seed."""
    report = next(r for r in record["reports"] if r["policy"] == "engine")
    stats = report.get("engine") or {}
    score = stats.get("score_seconds") or []
    queued = stats.get("queued") or []
    failures = record["score_failures"]
    failed = ", ".join(f"{f['date'] or 'day ' + str(f['day'])} exit {f['exit_code']}" for f in failures)
    return (
        f"engine seed {record['seed']}: train {_cell(stats.get('train_seconds'), '.1f', 0)} s, "
        f"score {sum(score) / len(score) if score else 0:.1f} s/day over {len(score)} days, "
        f"queued {min(queued, default=0)}-{max(queued, default=0)} a day; "
        f"score exit != 0: {failed or 'none'}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=Path, default=DEFAULT_WORLDS, help=f"default {DEFAULT_WORLDS}")
    parser.add_argument("--loans", type=int, default=20000)
    parser.add_argument("--seeds", default="1,2", help="comma-separated world seeds")
    parser.add_argument("--as-of", default="2026-03-02")
    parser.add_argument("--days", type=int, default=10, help="days the loop runs from as-of")
    parser.add_argument(
        "--loop-seed", type=int, default=0, help="the loop's luck (the same for every policy)"
    )
    parser.add_argument("--baselines", default=DEFAULT_BASELINES, help="the world's policies to compare")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary working folder")
    parser.add_argument("--out", type=Path, help="JSON results; a .md summary goes beside")
    args = parser.parse_args(argv)
    try:
        dt.date.fromisoformat(args.as_of)
        args.seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    except ValueError as error:
        parser.error(str(error))
    if not args.seeds:
        parser.error("--seeds names no seed")
    args.worlds = args.worlds.resolve()
    return args


def result_json(args, records, means, failures, work, started, wall) -> dict:
    """Everything the run produced and how it ran, for ``--out``."""
    return {
        "benchmark": "tidewater_loop",
        "started": started,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(wall, 1),
        "config": {
            "worlds": str(args.worlds),
            "loans": args.loans,
            "seeds": args.seeds,
            "as_of": args.as_of,
            "days": args.days,
            "loop_seed": args.loop_seed,
            "baselines": args.baselines.split(","),
            "work": str(work) if args.work or args.keep or failures else None,
            "python": sys.executable,
            "recover_cli": recover_cli(),
        },
        "machine": machine(),
        "git": git_state(),
        "seeds": records,
        "mean_shares": means,
        "failures": failures,
    }


def markdown(result: dict, lines: list[str]) -> str:
    """A short summary: when and on what it ran, the table, failures."""
    config, git = result["config"], result["git"]
    uncommitted = len(git["uncommitted_files"])
    parts = [
        "# Tidewater closed loop",
        "",
        f"Run {result['finished']} on {result['machine']['cpus']} CPUs, commit `{git['commit'][:12]}`"
        + (f" with {uncommitted} uncommitted files" if uncommitted else "")
        + f" ({result['seconds']:.0f} s in all). The worlds' `tidewater_loop.py` ran {config['days']} days "
        f"from {config['as_of']} on {config['loans']:,}-loan books (seeds "
        f"{', '.join(map(str, config['seeds']))}, loop seed {config['loop_seed']}): the engine (`recover` "
        "trained on the first day, scoring each day) and the baselines "
        f"{', '.join(config['baselines'])} on the same world and luck. Shares are of (oracle - random), "
        "for the net and for the net of payments by loans in arrears; `bench/tidewater_loop.py`.",
        "",
        "```",
        *lines,
        "```",
    ]
    for failure in result["failures"]:
        parts += ["", f"Seed {failure['seed']} failed:", "", "```", *failure["error"].splitlines(), "```"]
    return "\n".join(parts) + "\n"


def run_all(args: argparse.Namespace, work: Path) -> tuple[list[dict], list[dict]]:
    """Every seed; the completed records and the failures (message with the log's tail)."""
    records, failures = [], []
    for seed in args.seeds:
        try:
            records.append(run_seed(args, seed, work))
        except StepFailed as error:
            print(f"seed {seed}: {error}", file=sys.stderr, flush=True)
            failures.append({"seed": seed, "error": str(error)})
    return records, failures


def main(argv: list[str] | None = None) -> int:
    """Run the seeds, print the table, save ``--out``; exit 0, 1 (a run failed) or 2 (no world)."""
    args = parse_args(argv)
    loop = args.worlds / "tidewater_loop.py"
    if not loop.is_file():
        print(f"bench/tidewater_loop.py: no {loop} (pass --worlds PATH)", file=sys.stderr)
        return 2
    recover_cli()  # exits with a message when the engine's CLI is not installed
    temporary = args.work is None
    work = Path(tempfile.mkdtemp(prefix="tidewater-loop-bench-")) if temporary else args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", flush=True)
    started, clock = dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), time.perf_counter()
    failures: list[dict] = []
    try:
        records, failures = run_all(args, work)
    finally:
        if temporary and not args.keep and not failures:
            shutil.rmtree(work, ignore_errors=True)
    if failures and temporary and not args.keep:
        print(f"kept the work folder with the logs: {work}", file=sys.stderr)
    means = mean_shares(records)
    lines = table(records, means) if records else ["(no seed completed)"]
    lines += [f"seed {f['seed']}: FAILED, {f['error'].splitlines()[0]}" for f in failures]
    print("\n" + "\n".join(lines))
    if args.out:
        result = result_json(args, records, means, failures, work, started, time.perf_counter() - clock)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(clean_json(result), indent=2) + "\n")
        args.out.with_suffix(".md").write_text(markdown(result, lines))
        print(f"\nwrote {args.out} and {args.out.with_suffix('.md')}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
