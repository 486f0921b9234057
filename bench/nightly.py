"""Benchmark: the real nightly run on books of 100k, 300k and 1M overdue loans.

Not a test (`make bench`). Builds each book once, or reuses it from the cache folder: a base
book is simulated (config.simulation: 20,000 loans), both champions are trained on it, and its
overdue core (every loan overdue at the as-of, with all its rows) is tiled with fresh ids to the
target number of overdue loans (simulation/scale.py). Then runs the real nightly flow
(pipelines/nightly_score_flow.py) on each book and prints, per stage, seconds, rows/s and the
peak RSS of the process during the stage; also the parts of the channel and scoring stages
(channel scoring, allocation, channel explanations, propensity scoring and explanations) and
how each stage's cost per loan grows across sizes. Saves everything with the machine's
description to bench/results/nightly.json.

    .venv/bin/python bench/nightly.py [--sizes 100000 300000 1000000] [--cache bench/cache]
"""

from __future__ import annotations

import os

from simulation.config import simulation_config

# Before lightgbm loads OpenMP: idle threads sleep rather than spin (see recover/cli/runtime.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import argparse
import datetime as dt
import json
import platform
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

from scoring.manifest import RunManifest

ROOT = Path(__file__).resolve().parents[1]
EVENT_STAGES = {"validate inputs", "build features"}  # rows/s of these counts input rows


class StageMemory:
    """Peak RSS of this process (and its children) per stage, sampled every 20 ms."""

    def __init__(self):
        self.process = psutil.Process()
        self.current: str | None = None
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def rss(self) -> int:
        return self.process.memory_info().rss

    def listener(self, event: str, name: str) -> None:
        if event == "start":
            self.current = name
            self.peaks[name] = self.rss()
        elif self.current == name:
            self.current = None

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            name = self.current
            if name is not None:
                self.peaks[name] = max(self.peaks.get(name, 0), self.rss())

    def __enter__(self):
        from pipelines.runtime.progress import stage_listeners

        stage_listeners.append(self.listener)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        from pipelines.runtime.progress import stage_listeners

        self._stop.set()
        stage_listeners.remove(self.listener)


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    import lightgbm
    import prefect
    import shap

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "lightgbm": lightgbm.__version__,
        "shap": shap.__version__,
        "pandas": pd.__version__,
        "prefect": prefect.__version__,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def base_book(cache: Path, config):
    """The simulated base book (validated tables) and a state folder with champions trained on it."""
    from adapters.io import read_tables
    from data_contracts.validation import validate_tables
    from simulation import simulate_book, write_book

    folder = cache / "base"
    if not (folder / "loans.parquet").exists():
        print(
            f"simulating the base book ({simulation_config(config.simulation).n_loans:,} loans) ...",
            flush=True,
        )
        write_book(simulate_book(simulation_config(config.simulation)), folder)
    state = cache / "state"
    os.environ["RECOVER_STATE_DIR"] = str(state)
    from adapters import tracking

    try:
        tracking.load_champion(config)
        tracking.load_champion(config, config.mlflow.channel_model_name)
    except LookupError:
        from pipelines.train_flow import train_flow

        print("training both champions on the base book ...", flush=True)
        train_flow(str(folder), simulation_config(config.simulation).as_of, None, True)
    return validate_tables(read_tables(folder), as_of=simulation_config(config.simulation).as_of).tables


def book_of(size: int, cache: Path, base: dict, config) -> tuple[Path, dict]:
    """A folder with ``size`` overdue loans (built once, then reused)."""
    from features.build import build_features
    from simulation.scale import book_summary, copies_for, overdue_core, tiled, trimmed

    folder = cache / f"book-{size}"
    summary_path = folder / "book.json"
    if summary_path.exists():
        return folder, json.loads(summary_path.read_text())
    as_of = simulation_config(config.simulation).as_of
    began = time.perf_counter()
    overdue = build_features(base, as_of)["loan_id"]
    core = overdue_core(base, overdue)
    tables = trimmed(tiled(core, copies_for(size, len(overdue))), size)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    summary = {**book_summary(tables, as_of), "build_seconds": round(time.perf_counter() - began, 1)}
    summary_path.write_text(json.dumps(summary, indent=2))
    return folder, summary


def run_night(folder: Path, out: Path, config_path: str | None) -> tuple[RunManifest, dict, float]:
    from pipelines.nightly_score_flow import nightly_score_flow

    with StageMemory() as memory:
        began = time.perf_counter()
        result = nightly_score_flow(str(folder), _as_of(folder), str(out), config_path)
        wall = time.perf_counter() - began
    return result["manifest"], memory.peaks, wall


def _as_of(folder: Path) -> dt.date:
    return dt.date.fromisoformat(json.loads((folder / "book.json").read_text())["as_of"])


def stage_rows(manifest: RunManifest, peaks: dict, book: dict) -> list[dict]:
    overdue = manifest.counts.overdue
    input_rows = sum(book["rows"].values())
    rows = []
    for name, seconds in manifest.timings_seconds.items():
        work = input_rows if name in EVENT_STAGES else overdue
        rows.append(
            {
                "stage": name,
                "seconds": seconds,
                "rows_per_second": round(work / seconds) if seconds > 0 else None,
                "rows": "input rows" if name in EVENT_STAGES else "overdue loans",
                "peak_rss_gb": round(peaks.get(name, 0) / 2**30, 2),
            }
        )
    return rows


def print_table(size: int, manifest: RunManifest, rows: list[dict], wall: float, book: dict) -> None:
    counts = manifest.counts
    print(
        f"\n{size:,} overdue loans, {book['events']:,} payment and interaction events "
        f"({sum(book['rows'].values()):,} input rows): {counts.queued:,} queued; wall {wall:.1f} s"
    )
    print(f"{'stage':<45} {'seconds':>9} {'rows/s':>12} {'peak RSS GB':>12}")
    for row in rows:
        rate = f"{row['rows_per_second']:,}" if row["rows_per_second"] else "-"
        print(f"{row['stage']:<45} {row['seconds']:>9.2f} {rate:>12} {row['peak_rss_gb']:>12.2f}")
    for name, seconds in manifest.stage_detail_seconds.items():
        print(f"  {name:<43} {seconds:>9.2f}")


def growth(results: list[dict]) -> list[dict]:
    """Seconds per 1,000 overdue loans of each stage at each size, relative to the smallest."""
    if len(results) < 2:
        return []
    smallest = results[0]
    table = []
    for row in smallest["stages"]:
        name = row["stage"]
        per_loan = {}
        for result in results:
            seconds = next((r["seconds"] for r in result["stages"] if r["stage"] == name), None)
            if seconds is not None:
                per_loan[result["overdue"]] = seconds / result["overdue"] * 1000
        base = per_loan[smallest["overdue"]]
        table.append(
            {
                "stage": name,
                "seconds_per_1000_loans": {str(k): round(v, 4) for k, v in per_loan.items()},
                "relative_to_smallest": {
                    str(k): round(v / base, 2) if base else None for k, v in per_loan.items()
                },
            }
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / "cache")
    parser.add_argument("--config", type=str, default=None, help="YAML merged over the default config.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nightly.json")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(args.cache / "prefect"))
    # A new PREFECT_HOME migrates its database on the first start (~30 s here): allow for it.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from recover.config import load_config

    config = load_config(Path(args.config) if args.config else None)
    base = base_book(args.cache, config)
    results = []
    for size in sorted(args.sizes):
        folder, book = book_of(size, args.cache, base, config)
        manifest, peaks, wall = run_night(folder, args.cache / f"out-{size}", args.config)
        rows = stage_rows(manifest, peaks, book)
        print_table(size, manifest, rows, wall, book)
        results.append(
            {
                "overdue": manifest.counts.overdue,
                "book": book,
                "wall_seconds": round(wall, 1),
                "stages_seconds_total": round(sum(manifest.timings_seconds.values()), 1),
                "peak_rss_gb": round(max(peaks.values()) / 2**30, 2),
                "queued": manifest.counts.queued,
                "share_with_three_reasons": manifest.review.share_with_three_reasons,
                "stages": rows,
                "stage_detail_seconds": manifest.stage_detail_seconds,
            }
        )
    table = growth(results)
    if table:
        print("\nseconds per 1,000 overdue loans, relative to the smallest book (1.0 = linear)")
        for row in table:
            ratios = "  ".join(f"{k}: {v}" for k, v in row["relative_to_smallest"].items())
            print(f"  {row['stage']:<45} {ratios}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "results": results, "growth": table}, indent=2))
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
