"""How well the engine learns acceptance of plans and settlements, against the simulator's truth.

The acceptance models (models/acceptance.py) are fitted on the arrangements history before a split
day, exactly as a night would see it, and judged on the offers made after it: ranking (AUC of the
predicted p_accept against what borrowers did), calibration (mean predicted against observed
acceptance), and agreement with the simulator's true acceptance probability of each offer
(``truth/arrangement_offers.parquet``: Spearman correlation and mean absolute error).

    python bench/acceptance_truth.py --book demo-output/data --split 2026-03-01
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from adapters.io import read_tables
from data_contracts.validation import validate_tables
from features.arrangements import offer_rows
from models.acceptance import fit_acceptance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--book", type=Path, required=True, help="A simulated book's data folder (with truth/)."
    )
    parser.add_argument("--split", type=dt.date.fromisoformat, required=True, help="Fit before, judge from.")
    args = parser.parse_args()
    tables = validate_tables(read_tables(args.book)).tables
    as_of = tables["arrangements"]["offered_on"].max().date() + dt.timedelta(days=1)
    offers = offer_rows(tables, as_of)
    models = fit_acceptance(offer_rows(tables, args.split))
    truth = pd.read_parquet(args.book / "truth" / "arrangement_offers.parquet")
    truth = truth[truth["outcome"].isin(["accepted", "declined"])]
    later = offers[offers["offered_on"] >= pd.Timestamp(args.split)]
    for kind, model in (("plan", models.plan), ("settlement", models.settlement)):
        mine = later[later["kind"] == kind].copy()
        mine["predicted"] = model.predict_proba(mine)
        judged = mine.merge(
            truth[["loan_id", "offered_on", "kind", "p_accept"]],
            on=["loan_id", "offered_on", "kind"],
            how="left",
        )
        known = judged.dropna(subset=["p_accept"])
        rho = spearmanr(known["predicted"], known["p_accept"]).statistic if len(known) > 2 else float("nan")
        auc = (
            roc_auc_score(mine["accepted"], mine["predicted"])
            if mine["accepted"].nunique() == 2
            else float("nan")
        )
        print(
            f"{kind}: {model.describe()}\n"
            f"  judged on {len(mine):,} later offers: AUC {auc:.3f}; mean predicted {mine['predicted'].mean():.3f} "
            f"vs accepted {mine['accepted'].mean():.3f}; against the truth's p_accept ({len(known):,} offers): "
            f"Spearman {rho:.3f}, mean absolute error {(known['predicted'] - known['p_accept']).abs().mean():.3f} "
            f"(the truth's own AUC on the outcomes: "
            f"{roc_auc_score(known['accepted'], known['p_accept']) if known['accepted'].nunique() == 2 else float('nan'):.3f})"
        )


if __name__ == "__main__":
    main()
