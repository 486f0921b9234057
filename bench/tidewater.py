"""Benchmark: the engine on Tidewater, a lender world written independently of it.

Not a test. For each seed, generates a Tidewater book with the worlds' own generator
(``tidewater.py``), trains and scores the engine on it through the ``recover`` CLI (each seed in
its own state folder, MLflow store and Prefect home), and judges the queue with the worlds'
evaluator (``score_queue.py --json``) against the book's hidden truth. Prints, per seed and as
the mean over seeds: the propensity AUC against the days-past-due heuristic, the decision value
as a share of (oracle - random) next to the largest-balance-call baseline, the channel choice
against always-call, violations, exploration (rows and share of the queue) and the wall time of
each step; then PASS/FAIL per seed for the targets:

    auc >= auc_dpd_heuristic + 0.05
    decision share >= 0.40 and >= largest_balance_call share + 0.15
    channel engine >= channel always_call + 0.10
    violations == 0

``--taiwan PATH`` also trains and scores the real card book (as-of 2005-09-01) and records the
exit codes and the out-of-time AUC lines the training logs. Results go to ``--out`` (JSON) and a
short markdown summary beside it (same name, ``.md``). The worlds folder is read, never copied.

    .venv/bin/python bench/tidewater.py --worlds /work/shared/worlds \\
        [--loans 20000] [--seeds 1,2,3] [--as-of 2026-03-02] [--replicates 400] \\
        [--work DIR] [--keep] [--out bench/results/tidewater.json] \\
        [--taiwan /work/shared/realdata/taiwan-2005-09/input]

A 20,000-loan seed takes roughly 15-20 minutes on two cores (generation under a minute, the
rest training and scoring). Exits 1 when a step of a run failed, 0 otherwise (targets missed
are reported, not an error).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORLDS = ROOT.parent / "shared" / "worlds"
DEFAULT_OUT = ROOT / "bench" / "results" / "tidewater.json"
TAIWAN_AS_OF = "2005-09-01"

# The issue's targets, per seed.
AUC_MARGIN = 0.05
DECISION_FLOOR = 0.40
DECISION_MARGIN = 0.15
CHANNEL_MARGIN = 0.10

AUC_LINE = re.compile(
    r"Out-of-time test AUC (?P<auc>[0-9.]+) vs days-past-due heuristic (?P<heuristic>[0-9.]+)"
    r"(?: and plain LightGBM (?P<plain>[0-9.]+))?"
    r"(?: \(validation (?P<val_auc>[0-9.]+) vs (?P<val_heuristic>[0-9.]+)"
    r"(?: and (?P<val_plain>[0-9.]+))?\))?"
)


def recover_cli() -> str:
    """The ``recover`` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "recover"
    if beside.exists():
        return str(beside)
    found = shutil.which("recover")
    if not found:
        sys.exit("bench/tidewater.py: no `recover` CLI beside this Python or on PATH (pip install -e .)")
    return found


def engine_env(folder: Path) -> dict[str, str]:
    """An environment whose MLflow store, Prefect home and state folder all live in ``folder``."""
    env = dict(os.environ)
    for name in ("PREFECT_API_URL", "PREFECT_PROFILES_PATH"):
        env.pop(name, None)
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}",
        PREFECT_HOME=str(folder / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        RECOVER_STATE_DIR=str(folder / "state"),
        OMP_WAIT_POLICY="PASSIVE",
        # Rich wraps the CLI's summary at 80 columns when not on a terminal.
        COLUMNS="200",
    )
    return env


def run_step(name: str, command: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict:
    """Run one command, logging its output to ``cwd/<name>.log``; exit code, seconds and output."""
    print(f"  {name}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (cwd / f"{name}.log").write_text(
        f"$ {' '.join(command)}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    status = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    print(f"  {name}: {status} in {seconds:.1f} s", flush=True)
    return {
        "exit_code": done.returncode,
        "seconds": round(seconds, 2),
        "stdout": done.stdout,
        "stderr": done.stderr,
    }


def error_tail(step: dict, lines: int = 12) -> list[str]:
    """The last lines of a failed step's output (what to read first)."""
    text = (step["stderr"] or "") + (step["stdout"] or "")
    # Without the traceback's frames: the message is what matters here (the log has the rest).
    kept = [line for line in text.splitlines() if line.strip() and not line.startswith(("  File ", "    "))]
    return kept[-lines:]


def auc_lines(step: dict) -> dict:
    """The out-of-time AUC the training reported, parsed, and the raw lines mentioning AUC."""
    text = " ".join(((step["stdout"] or "") + "\n" + (step["stderr"] or "")).split())
    match = AUC_LINE.search(text)
    parsed = {key: float(value) for key, value in match.groupdict().items() if value} if match else {}
    raw = [
        line.strip()
        for line in ((step["stdout"] or "") + "\n" + (step["stderr"] or "")).splitlines()
        if "AUC" in line
    ]
    return {"parsed": parsed, "lines": raw}


def train_and_score(data: Path, as_of: str, folder: Path) -> dict:
    """``recover train`` then ``recover score`` on ``data`` in an isolated state folder."""
    folder.mkdir(parents=True, exist_ok=True)
    env = engine_env(folder)
    cli = recover_cli()
    record: dict = {"folder": str(folder)}
    train = run_step("train", [cli, "train", "--data", str(data), "--as-of", as_of], folder, env)
    record["train"] = {
        "exit_code": train["exit_code"],
        "seconds": train["seconds"],
        "out_of_time_auc": auc_lines(train),
    }
    if train["exit_code"] != 0:
        record["train"]["error_tail"] = error_tail(train)
        return record
    out = folder / "out"
    score = run_step(
        "score", [cli, "score", "--data", str(data), "--as-of", as_of, "--out", str(out)], folder, env
    )
    record["score"] = {"exit_code": score["exit_code"], "seconds": score["seconds"]}
    if score["exit_code"] != 0:
        record["score"]["error_tail"] = error_tail(score)
        return record
    record["queue"] = str(out / "queue.parquet")
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        record["manifest"] = {
            "counts": manifest.get("counts"),
            "decisions": {
                key: value
                for key, value in (manifest.get("decisions") or {}).items()
                if key != "channel_cost"
            },
            "channel_model": manifest.get("channel_model"),
            "model": manifest.get("model"),
        }
    return record


def exploration_figures(queue_path: Path, manifest: dict | None) -> dict:
    """Exploration rows of the queue and their share of it (and of its within-capacity part)."""
    import pandas as pd

    queue = pd.read_parquet(queue_path, columns=["exploration", "within_capacity"])
    explore = queue["exploration"].fillna(False).astype(bool)
    within = queue["within_capacity"].fillna(False).astype(bool)
    decisions = (manifest or {}).get("decisions") or {}
    return {
        "queued": len(queue),
        "within_capacity": int(within.sum()),
        "exploration": int(explore.sum()),
        "exploration_share": float(explore.mean()) if len(queue) else float("nan"),
        "exploration_share_within_capacity": float(explore[within].mean()) if within.any() else float("nan"),
        "manifest_exploration": decisions.get("exploration"),
        "manifest_exploration_share_of_queue": decisions.get("exploration_share_of_queue"),
        "configured_exploration_share": decisions.get("exploration_share"),
    }


def evaluate_queue(worlds: Path, queue: Path, truth: Path, folder: Path) -> dict:
    """The worlds' evaluator on the queue (``score_queue.py --json``), as a subprocess."""
    step = run_step(
        "score_queue",
        [sys.executable, str(worlds / "score_queue.py"), str(queue), str(truth), "--json"],
        folder,
    )
    if step["exit_code"] != 0:
        return {"exit_code": step["exit_code"], "seconds": step["seconds"], "error_tail": error_tail(step)}
    return {"exit_code": 0, "seconds": step["seconds"], "figures": json.loads(step["stdout"])}


def headline(record: dict) -> dict:
    """The figures of one seed the table and the targets read (NaN where a step failed)."""
    nan = float("nan")
    figures = (record.get("evaluation") or {}).get("figures") or {}
    decision = figures.get("decision") or {}
    channel = figures.get("channel") or {}
    explore = record.get("exploration") or {}
    oot = ((record.get("engine") or {}).get("train") or {}).get("out_of_time_auc", {}).get("parsed", {})

    def share(name: str) -> float:
        return (decision.get(name) or {}).get("share", nan)

    return {
        "auc": figures.get("auc", nan),
        "auc_dpd_heuristic": figures.get("auc_dpd_heuristic", nan),
        "auc_rows": figures.get("auc_rows", nan),
        "decision_share_engine": share("engine"),
        "decision_share_largest_balance_call": share("largest_balance_call"),
        "decision_share_oldest_dpd_call": share("oldest_dpd_call"),
        "channel_engine": channel.get("engine", nan),
        "channel_always_call": channel.get("always_call", nan),
        "violations": figures.get("violations", nan),
        "top_k_violations": figures.get("top_k_violations", nan),
        "contactable": figures.get("contactable", nan),
        "K": figures.get("K", nan),
        "queued": explore.get("queued", nan),
        "exploration": explore.get("exploration", nan),
        "exploration_share": explore.get("exploration_share", nan),
        "oot_test_auc": oot.get("auc", nan),
        "oot_test_auc_dpd": oot.get("heuristic", nan),
        "generate_seconds": (record.get("world") or {}).get("seconds", nan),
        "train_seconds": ((record.get("engine") or {}).get("train") or {}).get("seconds", nan),
        "score_seconds": ((record.get("engine") or {}).get("score") or {}).get("seconds", nan),
    }


def _bad(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def targets(h: dict) -> dict[str, bool]:
    """PASS (True) or FAIL (False) per target; a figure that is missing fails its target."""

    def at_least(value, floor) -> bool:
        return not _bad(value) and not _bad(floor) and value >= floor - 1e-12

    largest = h["decision_share_largest_balance_call"]
    return {
        f"auc >= dpd + {AUC_MARGIN}": at_least(
            h["auc"], h["auc_dpd_heuristic"] + AUC_MARGIN if not _bad(h["auc_dpd_heuristic"]) else None
        ),
        f"decision share >= {DECISION_FLOOR}": at_least(h["decision_share_engine"], DECISION_FLOOR),
        f"decision share >= largest_balance + {DECISION_MARGIN}": at_least(
            h["decision_share_engine"], largest + DECISION_MARGIN if not _bad(largest) else None
        ),
        f"channel >= always_call + {CHANNEL_MARGIN}": at_least(
            h["channel_engine"],
            h["channel_always_call"] + CHANNEL_MARGIN if not _bad(h["channel_always_call"]) else None,
        ),
        "violations == 0": not _bad(h["violations"]) and h["violations"] == 0,
    }


def run_seed(args: argparse.Namespace, seed: int, work: Path) -> dict:
    """Generate one world, run the engine on it, judge its queue."""
    print(f"seed {seed}: {args.loans:,} loans, as-of {args.as_of}", flush=True)
    folder = work / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    world = folder / "world"
    if world.exists():
        shutil.rmtree(world)
    generate = run_step(
        "generate",
        [
            sys.executable,
            str(args.worlds / "tidewater.py"),
            str(world),
            "--loans",
            str(args.loans),
            "--seed",
            str(seed),
            "--as-of",
            args.as_of,
            "--replicates",
            str(args.replicates),
        ],
        folder,
    )
    record: dict = {
        "seed": seed,
        "world": {"exit_code": generate["exit_code"], "seconds": generate["seconds"], "folder": str(world)},
    }
    if generate["exit_code"] != 0:
        record["world"]["error_tail"] = error_tail(generate)
        record["failed"] = "generate"
        return record
    summary = world / "summary.json"
    if summary.exists():
        card = json.loads(summary.read_text())
        record["world"]["summary"] = {key: card[key] for key in ("rows", "truth", "seconds") if key in card}
    record["engine"] = train_and_score(world / "input", args.as_of, folder / "engine")
    engine = record["engine"]
    if engine["train"]["exit_code"] != 0:
        record["failed"] = "train"
        return record
    if engine["score"]["exit_code"] != 0:
        record["failed"] = "score"
        return record
    queue = Path(engine["queue"])
    record["exploration"] = exploration_figures(queue, engine.get("manifest"))
    record["evaluation"] = evaluate_queue(args.worlds, queue, world / "truth.parquet", folder)
    if record["evaluation"]["exit_code"] != 0:
        record["failed"] = "score_queue"
    return record


def run_taiwan(path: Path, work: Path) -> dict:
    """Train and score the real card book; exit codes and the logged out-of-time AUC."""
    print(f"taiwan: {path}, as-of {TAIWAN_AS_OF}", flush=True)
    record = train_and_score(path, TAIWAN_AS_OF, work / "taiwan")
    record["as_of"] = TAIWAN_AS_OF
    record["data"] = str(path)
    if record.get("queue") and Path(record["queue"]).exists():
        record["exploration"] = exploration_figures(Path(record["queue"]), record.get("manifest"))
    return record


def mean_of(rows: list[dict]) -> dict:
    """Mean of every figure over the seeds that have it."""
    keys = rows[0].keys() if rows else []
    means = {}
    for key in keys:
        values = [row[key] for row in rows if not _bad(row[key])]
        means[key] = sum(values) / len(values) if values else float("nan")
    return means


ROWS = [
    ("auc", "auc", ".4f"),
    ("auc_dpd_heuristic", "auc dpd heuristic", ".4f"),
    ("auc_rows", "auc rows (queued, contactable)", ".0f"),
    ("decision_share_engine", "decision share engine", ".3f"),
    ("decision_share_largest_balance_call", "decision share largest_balance_call", ".3f"),
    ("decision_share_oldest_dpd_call", "decision share oldest_dpd_call", ".3f"),
    ("channel_engine", "channel engine", ".3f"),
    ("channel_always_call", "channel always_call", ".3f"),
    ("violations", "violations", ".0f"),
    ("contactable", "contactable loans (K = 0.2 x)", ".0f"),
    ("queued", "queued", ".0f"),
    ("exploration", "exploration rows", ".0f"),
    ("exploration_share", "exploration share of queue", ".3f"),
    ("oot_test_auc", "train: out-of-time test auc", ".4f"),
    ("oot_test_auc_dpd", "train: out-of-time dpd auc", ".4f"),
    ("generate_seconds", "generate s", ".1f"),
    ("train_seconds", "train s", ".1f"),
    ("score_seconds", "score s", ".1f"),
]


def _fmt(value, spec: str) -> str:
    return "-" if _bad(value) else format(value, spec)


def table(seeds: list[int], heads: list[dict], means: dict, checks: list[dict]) -> list[str]:
    """The figures (a column per seed and the mean), then PASS/FAIL per target and seed."""
    width = max(len(label) for _, label, _ in ROWS + [("", "target", "")])
    width = max(width, *(len(name) for name in (checks[0] if checks else {})))
    columns = [f"seed {seed}" for seed in seeds] + ["mean"]
    lines = [f"{'':<{width}}  " + "  ".join(f"{c:>9}" for c in columns)]
    for key, label, spec in ROWS:
        cells = [_fmt(h[key], spec) for h in heads] + [_fmt(means.get(key), spec)]
        lines.append(f"{label:<{width}}  " + "  ".join(f"{c:>9}" for c in cells))
    if checks:
        lines.append("")
        for name in checks[0]:
            cells = ["PASS" if check[name] else "FAIL" for check in checks]
            lines.append(f"{name:<{width}}  " + "  ".join(f"{c:>9}" for c in cells))
    return lines


def machine() -> dict:
    """Where a benchmark ran: platform, Python version, CPU count."""
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}


def git_state() -> dict:
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if len(line) > 3]
    found = subprocess.run(
        [sys.executable, "-P", "-c", "import recover; print(recover.__file__)"],
        capture_output=True,
        text=True,
    )
    # PYTHONPATH may put another copy of the engine before this checkout: say so.
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "uncommitted_files": changed,
        "pythonpath": os.environ.get("PYTHONPATH"),
        # The engine the CLI runs (another copy when PYTHONPATH puts one first).
        "engine_source": str(Path(found.stdout.strip()).parents[1]) if found.returncode == 0 else None,
    }


def clean_json(value):
    """NaN -> None, so the file is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: clean_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(item) for item in value]
    return value


def markdown(result: dict, lines: list[str]) -> str:
    config = result["config"]
    parts = [
        "# Tidewater benchmark",
        "",
        f"Run {result['finished']} on {result['machine']['cpus']} CPUs, commit "
        f"`{result['git']['commit'][:12]}`"
        + (
            f" with {len(result['git']['uncommitted_files'])} uncommitted files"
            if result["git"]["uncommitted_files"]
            else ""
        )
        + "."
        + (
            f" Engine code run: `{result['git']['engine_source']}` (not this checkout)."
            if result["git"].get("engine_source") and result["git"]["engine_source"] != str(ROOT)
            else ""
        ),
        f"Books: {config['loans']:,} loans, seeds {', '.join(map(str, config['seeds']))}, as-of "
        f"{config['as_of']}, {config['replicates']} Monte-Carlo replicates; `bench/tidewater.py` "
        "(figures from the worlds' `score_queue.py` at capacity 0.2).",
        "",
        "```",
        *lines,
        "```",
    ]
    failed = [f"seed {r['seed']}: {r['failed']}" for r in result["seeds"] if r.get("failed")]
    if failed:
        parts += ["", "Failed steps: " + "; ".join(failed) + " (see the JSON for the error tails)."]
    taiwan = result.get("taiwan")
    if taiwan:
        train = taiwan.get("train", {})
        score = taiwan.get("score", {})
        parsed = train.get("out_of_time_auc", {}).get("parsed", {})
        parts += [
            "",
            f"Taiwan card book (as-of {taiwan['as_of']}): train exit {train.get('exit_code')} "
            f"({_fmt(train.get('seconds'), '.1f')} s), score exit {score.get('exit_code', '-')} "
            f"({_fmt(score.get('seconds'), '.1f')} s)"
            + (
                f"; out-of-time test AUC {parsed['auc']:.3f} vs dpd heuristic {parsed['heuristic']:.3f}"
                if "auc" in parsed
                else ""
            )
            + ".",
        ]
        for step in ("train", "score"):
            tail = (taiwan.get(step) or {}).get("error_tail")
            if tail:
                parts += ["", f"Taiwan {step} error (last lines):", "", "```", *tail, "```"]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=Path, default=DEFAULT_WORLDS, help=f"default {DEFAULT_WORLDS}")
    parser.add_argument("--loans", type=int, default=20000)
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated world seeds")
    parser.add_argument("--as-of", default="2026-03-02")
    parser.add_argument(
        "--replicates", type=int, default=400, help="Monte-Carlo replicates of the truth (>= 400)"
    )
    parser.add_argument(
        "--work", type=Path, help="working folder (default: a temporary one, removed at the end)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary working folder")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="JSON results; a .md summary goes beside"
    )
    parser.add_argument("--taiwan", type=Path, help="also run the real card book in this input folder")
    args = parser.parse_args(argv)

    args.worlds = args.worlds.resolve()
    missing = [name for name in ("tidewater.py", "score_queue.py") if not (args.worlds / name).is_file()]
    if missing:
        sys.exit(
            f"bench/tidewater.py: no Tidewater worlds at {args.worlds} (missing {', '.join(missing)}); "
            "pass --worlds PATH to the folder holding tidewater.py and score_queue.py"
        )
    if (
        args.taiwan
        and not (args.taiwan / "loans.parquet").exists()
        and not (args.taiwan / "loans.csv").exists()
    ):
        sys.exit(f"bench/tidewater.py: --taiwan {args.taiwan} holds no loans table")
    dt.date.fromisoformat(args.as_of)
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]

    temporary = args.work is None
    work = Path(tempfile.mkdtemp(prefix="tidewater-bench-")) if temporary else args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", flush=True)
    started = time.perf_counter()
    try:
        records = [run_seed(args, seed, work) for seed in seeds]
        taiwan = run_taiwan(args.taiwan.resolve(), work) if args.taiwan else None
    finally:
        if temporary and not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    heads = [headline(record) for record in records]
    means = mean_of(heads)
    checks = [targets(h) for h in heads]
    lines = table(seeds, heads, means, checks)
    print()
    print("\n".join(lines))
    if taiwan:
        train = taiwan["train"]
        print(
            f"\ntaiwan: train exit {train['exit_code']} ({train['seconds']:.1f} s), "
            f"score exit {taiwan.get('score', {}).get('exit_code', '-')}; "
            f"AUC lines: {train['out_of_time_auc']['lines'] or 'none'}"
        )

    for record, h, check in zip(records, heads, checks, strict=True):
        record["headline"] = h
        record["targets"] = check
    result = {
        "benchmark": "tidewater",
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "config": {
            "worlds": str(args.worlds),
            "loans": args.loans,
            "seeds": seeds,
            "as_of": args.as_of,
            "replicates": args.replicates,
            "work": str(work) if not temporary or args.keep else None,
        },
        "targets": {
            "auc_margin_over_dpd": AUC_MARGIN,
            "decision_share_floor": DECISION_FLOOR,
            "decision_margin_over_largest_balance": DECISION_MARGIN,
            "channel_margin_over_always_call": CHANNEL_MARGIN,
        },
        "machine": machine(),
        "git": git_state(),
        "seeds": records,
        "mean": means,
        "all_targets_pass": all(all(check.values()) for check in checks),
        "taiwan": taiwan,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(clean_json(result), indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result, lines))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.md')}")
    failed = [record for record in records if record.get("failed")]
    taiwan_failed = taiwan is not None and (
        taiwan["train"]["exit_code"] != 0 or (taiwan.get("score") or {}).get("exit_code", 1) != 0
    )
    return 1 if failed or taiwan_failed else 0


if __name__ == "__main__":
    sys.exit(main())
