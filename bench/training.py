"""Benchmark: training both models on 2 million rows.

Not a test (`make bench`, after bench/nightly.py, whose cached base book it reuses). Builds the
base book's training snapshots and contact-response rows once, tiles them (fresh loan ids,
dates kept, so the out-of-time split is the real one) to ``--rows`` rows each, and times the
real fits the train flow runs: the propensity model (LightGBM with early stopping on the
validation block, isotonic calibration, out-of-time metrics) and the best-channel model (with
inverse propensity weights). Prints seconds and peak RSS; saves bench/results/training.json.

    .venv/bin/python bench/training.py [--rows 2000000] [--cache bench/cache]
"""

from __future__ import annotations

import os

from simulation.config import simulation_config

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bench/ folder's siblings

from bench.nightly import ROOT, machine

# Snapshot and response rows carry the loan's id; nothing else identifies a loan.
ID_COLUMNS = ("loan_id", "borrower_id")


def tiled_rows(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``frame`` repeated to ``rows`` rows, copy k's ids suffixed ``-k``."""
    copies = -(-rows // len(frame))
    out = frame.iloc[np.tile(np.arange(len(frame)), copies)[:rows]].reset_index(drop=True)
    suffix = np.repeat(np.array([""] + [f"-{k}" for k in range(1, copies)], dtype=object), len(frame))[:rows]
    for column in ID_COLUMNS:
        if column in out.columns:
            out[column] = out[column].astype(object).to_numpy() + suffix
    return out


def peak_rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / "cache")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "training.json")
    args = parser.parse_args()
    from adapters.io import read_tables
    from data_contracts.validation import validate_tables
    from pipelines.train_flow import fit_channel_model, fit_propensity, response_set, training_snapshots
    from recover.config import load_config
    from simulation import simulate_book, write_book

    config = load_config()
    as_of = simulation_config(config.simulation).as_of
    folder = args.cache / "base"
    if not (folder / "loans.parquet").exists():
        write_book(simulate_book(simulation_config(config.simulation)), folder)
    snapshots_path, responses_path = args.cache / "snapshots.parquet", args.cache / "responses.parquet"
    if not snapshots_path.exists():
        tables = validate_tables(read_tables(folder), as_of=as_of).tables
        training_snapshots(tables, as_of, config).to_parquet(snapshots_path)
        response_set(tables, as_of, config).to_parquet(responses_path)
    results = {}
    for name, path, fit in (
        ("propensity", snapshots_path, fit_propensity),
        ("channel", responses_path, fit_channel_model),
    ):
        base = pd.read_parquet(path)
        rows = tiled_rows(base, args.rows)
        began = time.perf_counter()
        fit(rows, config)  # the train flow's own fit: out-of-time split, early stopping, calibration
        seconds = time.perf_counter() - began
        results[name] = {
            "base_rows": len(base),
            "rows": len(rows),
            "fit_seconds": round(seconds, 1),
            "peak_rss_gb": peak_rss_gb(),
        }
        print(
            f"{name:<10} {len(rows):>10,} rows (base {len(base):,}): split + fit + calibrate + evaluate "
            f"{seconds:6.1f} s, peak RSS {peak_rss_gb():.2f} GB",
            flush=True,
        )
    total = sum(r["fit_seconds"] for r in results.values())
    print(f"both models on {args.rows:,} rows each: {total:.1f} s (target: at most 600 s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"machine": machine(), "results": results, "total_seconds": round(total, 1)}, indent=2)
    )
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
