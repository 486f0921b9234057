"""Benchmark: accuracy vs scoring and explanation cost of candidate propensity model sizes.

Not a test. Simulates a book, builds the out-of-time training set once, then for each
candidate tree shape fits the model and prints out-of-time AUC, training time, prediction and
TreeSHAP throughput (rows/s) on the test block. This is the measurement behind the default
shape in configs/default.yaml: TreeSHAP cost grows with trees x leaves x depth^2, so depth
is bought only where it buys accuracy.

    .venv/bin/python bench/model_size.py [--loans 20000] [--seed 42]
"""

from __future__ import annotations

import os

# Before lightgbm loads OpenMP: idle threads sleep rather than spin (see recover/cli/runtime.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import time
from pathlib import Path

from data_contracts.validation import validate_tables
from features.snapshots import SnapshotPlan, build_training_set, out_of_time_split
from models.evaluation import classification_metrics
from models.propensity import PropensityModel
from recover.config import load_config
from simulation import SimulationConfig, simulate_book

CANDIDATES = {
    "d3 x 7 leaves": {"num_leaves": 7, "max_depth": 3},
    "d5 x 15 leaves (default)": {"num_leaves": 15, "max_depth": 5},
    "d8 x 31 leaves": {"num_leaves": 31, "max_depth": 8},
    "no limit x 63 leaves": {"num_leaves": 63, "max_depth": -1},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "model_size.json")
    args = parser.parse_args()

    config = load_config()
    sim = SimulationConfig(n_loans=args.loans, seed=args.seed)
    book = simulate_book(sim)
    tables = validate_tables(book.tables, as_of=sim.as_of).tables
    plan = SnapshotPlan(
        every_days=config.training.snapshot_every_days,
        window_days=config.label.window_days,
        validation_days=config.training.validation_days,
        test_days=config.training.test_days,
    )
    split = out_of_time_split(build_training_set(tables, sim.as_of, plan), plan)
    train, valid, test = split["train"], split["valid"], split["test"]
    print(
        f"book: {args.loans:,} loans; rows train {len(train):,} / valid {len(valid):,} / test {len(test):,}"
    )

    rows = []
    base = config.training.lightgbm.model_dump()
    for name, shape in CANDIDATES.items():
        model = PropensityModel(params={**base, **shape}, random_state=config.training.seed)
        started = time.perf_counter()
        model.fit(train, train["label"], eval_set=(valid, valid["label"]))
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        p = model.predict_proba(test)[:, 1]
        predict_s = time.perf_counter() - started
        started = time.perf_counter()
        model.shap_values(test)
        shap_s = time.perf_counter() - started
        auc = classification_metrics(test["label"], p)["auc"]
        rows.append(
            {
                "model": name,
                "trees": model.best_iteration_,
                "test_auc": round(auc, 4),
                "fit_s": round(fit_s, 2),
                "predict_rows_per_s": round(len(test) / predict_s),
                "shap_rows_per_s": round(len(test) / shap_s),
            }
        )
        print(
            f"{name:<26} trees {rows[-1]['trees']:>4}  AUC {auc:.4f}  fit {fit_s:6.1f} s  "
            f"predict {rows[-1]['predict_rows_per_s']:>9,} rows/s  SHAP {rows[-1]['shap_rows_per_s']:>8,} rows/s"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"machine": platform.platform(), "loans": args.loans, "seed": args.seed, "results": rows},
            indent=2,
        )
    )
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
