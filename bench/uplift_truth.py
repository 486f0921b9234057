"""Bench: the best-channel model's uplift against the simulator's truth on the night of as_of.

Not a test. Simulates the default book's history, trains both models as `recover train` does,
then for every lawful (loan, channel) pair of the as-of night compares the predicted uplift with
the simulator's Monte-Carlo truth (every borrower decision replayed with and without the contact
under shared luck, ``--replicates`` times). Per channel it prints the rank correlation of
predicted and true uplift and of predicted and true incremental value, the mean predicted and
true uplift, and the true value the model's top-k picks carry (k = the evaluation's daily
capacity) against random picks and the best k; then the true value of the whole night's
allocation chosen with the model against the one chosen with the truth.

One night is a small, noisy sample (a handful of field visits decide much of it): use it to see
*where* a model is wrong (which channel, ranking or level), and `recover evaluate-policy` over
several futures to judge a change.

    .venv/bin/python bench/uplift_truth.py [--loans 20000] [--seed 42] [--replicates 64]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import dataclasses

import numpy as np
import pandas as pd

from data_contracts.enums import CHANNELS
from data_contracts.validation import validate_tables
from evaluation.policies import EnginePolicy, lawful_pairs
from evaluation.policy_flow import evaluation_rules
from pipelines.train_flow import fit_channel_model, response_set
from recover.config import allocation_settings, load_config
from scoring.allocation import allocate
from simulation import estimate_pay_probabilities, observed_tables, run_history
from simulation.book import loan_ids
from simulation.config import simulation_config


def truth_of_pairs(sim, pairs: pd.DataFrame, window_days: int, replicates: int, seed: int):
    """Monte-Carlo P(pay within the window) with each pair's contact, and without contact."""
    loans = np.unique(pairs["loan_index"].to_numpy())
    p_none, p_contact = estimate_pay_probabilities(
        sim, loans, window_days, replicates, np.random.SeedSequence(seed)
    )
    row = pd.Series(np.arange(len(loans)), index=loans).reindex(pairs["loan_index"]).to_numpy()
    code = pairs["channel"].map({c: i for i, c in enumerate(CHANNELS)}).to_numpy()
    return p_contact[row, code], p_none[row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--replicates", type=int, default=64)
    args = parser.parse_args()
    config = load_config(None)
    updates = {k: v for k, v in {"n_loans": args.loans, "seed": args.seed}.items() if v is not None}
    config = config.model_copy(update={"simulation": {**config.simulation, **updates}})
    as_of = simulation_config(config.simulation).as_of

    history = run_history(simulation_config(config.simulation))
    sim = history.simulator
    tables = validate_tables(observed_tables(sim), as_of=as_of).tables
    model = fit_channel_model(response_set(tables, as_of, config), config).model

    rules = evaluation_rules(config)
    exploit = dataclasses.replace(allocation_settings(config), exploration_share=0.0, control_share=0.0)
    pairs = lawful_pairs(sim, rules)
    true_contact, true_none = truth_of_pairs(
        sim, pairs, rules.response_window_days, args.replicates, config.evaluation.random_seed
    )
    index = pd.Index(loan_ids(sim.population.n_loans))
    pairs = pairs.assign(
        loan_id=index[pairs["loan_index"].to_numpy()], true_contact=true_contact, true_none=true_none
    )
    options = EnginePolicy(rules, exploit, model).options(sim, pairs[["loan_index", "channel"]])
    options = options.merge(
        pairs[["loan_id", "channel", "true_contact", "true_none"]], on=["loan_id", "channel"]
    )
    cost = options["channel"].map(dict(rules.channel_cost))
    options["true_uplift"] = options["true_contact"] - options["true_none"]
    options["predicted_uplift"] = options["p_contact"] - options["p_self_cure"]
    options["true_value"] = options["true_uplift"] * options["amount_overdue"] - cost
    options["predicted_value"] = options["predicted_uplift"] * options["amount_overdue"] - cost

    rows = {}
    for channel, group in options.groupby("channel"):
        k = min(int(rules.capacity[channel]), len(group))
        best = group["true_value"].nlargest(k).sum()
        picked = group.nlargest(k, "predicted_value")["true_value"].sum()
        random = group["true_value"].mean() * k
        rows[channel] = {
            "pairs": len(group),
            "k": k,
            "uplift_rank_corr": group["predicted_uplift"].corr(group["true_uplift"], method="spearman"),
            "value_rank_corr": group["predicted_value"].corr(group["true_value"], method="spearman"),
            "mean_predicted_uplift": group["predicted_uplift"].mean(),
            "mean_true_uplift": group["true_uplift"].mean(),
            "top_k_true_value": picked,
            "random_k_true_value": random,
            "best_k_true_value": best,
            "share_of_best_gain": (picked - random) / (best - random) if best > random else np.nan,
        }
    print(pd.DataFrame(rows).T.round(3).to_string())

    def night_value(p_contact: pd.Series, p_none: pd.Series) -> tuple[float, int]:
        scored = options.assign(p_contact=p_contact, p_self_cure=p_none, resource=options["channel"])
        chosen = allocate(scored, dict(rules.capacity), exploit, as_of=as_of).assignments
        chosen = chosen[chosen["within_capacity"]]
        value = chosen[["loan_id", "channel"]].merge(options[["loan_id", "channel", "true_value"]])
        return float(value["true_value"].sum()), len(chosen)

    engine, n_engine = night_value(options["p_contact"], options["p_self_cure"])
    oracle, n_oracle = night_value(options["true_contact"], options["true_none"])
    print(
        f"night of {as_of}: true value of the allocation chosen with the model {engine:,.0f} "
        f"({n_engine} contacts), with the truth {oracle:,.0f} ({n_oracle}): {engine / oracle:.0%}"
    )


if __name__ == "__main__":
    main()
