"""Benchmark: cost of the contact-policy stage (rule packs, lawful windows, dispositions).

Not a test. Simulates a book once, then tiles its tables ``--copies`` times (fresh ids per
copy) to reach larger books without simulating them, and times, per pack, the parts of the
decision chain (scoring.night.decide_contacts): the rule blocks and lawful windows
(apply_contact_policy), the promise ledger, and the dispositions (decide).
Prints one line per (copies, pack) and writes bench/results/contact_policy.json.

    .venv/bin/python bench/contact_policy.py [--loans 20000] [--copies 1 10 40]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
from pathlib import Path

from data_contracts.validation import validate_tables
from features.build import build_features
from recover.config import load_config
from scoring.night import ContactSettings, decide_contacts
from simulation import SimulationConfig, simulate_book
from simulation.config import simulation_config
from simulation.scale import tiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10, 40])
    args = parser.parse_args()
    config = load_config()
    sim = SimulationConfig(
        n_loans=args.loans, seed=args.seed, as_of=simulation_config(config.simulation).as_of
    )
    as_of = sim.as_of
    base = validate_tables(simulate_book(sim).tables, as_of=as_of).tables
    results = []
    for copies in args.copies:
        tables = tiled(base, copies)
        features = build_features(tables, as_of)
        for name in ("us_reg_f", "india_rbi", "uk_fca"):
            settings = ContactSettings(default_pack=name, preference=tuple(config.scoring.channel_preference))
            decided = decide_contacts(features, tables, as_of, settings)
            policy_s, ledger_s, decide_s = (
                decided.seconds[part] for part in ("contact policy", "promise ledger", "dispositions")
            )
            decisions = decided.decisions
            row = {
                "copies": copies,
                "pack": name,
                "overdue_loans": len(features),
                "interactions": len(tables["interactions"]),
                "policy_seconds": round(policy_s, 2),
                "ledger_seconds": round(ledger_s, 2),
                "decide_seconds": round(decide_s, 2),
                "queued": int((decisions.dispositions["disposition"] == "queued").sum()),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
            results.append(row)
            print(
                f"{copies:>3}x  {name:<9} overdue {row['overdue_loans']:>8,}  interactions "
                f"{row['interactions']:>11,}  policy {policy_s:6.2f} s  ledger {ledger_s:5.2f} s  "
                f"decide {decide_s:5.2f} s  peak RSS {row['peak_rss_mb']:,} MB",
                flush=True,
            )
    out = Path(__file__).parent / "results" / "contact_policy.json"
    out.write_text(json.dumps({"machine": platform.platform(), "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
