"""Prefect flow: prove the engine's decisions in the simulator against heuristics and an oracle.

The simulated book's history up to as_of trains the models exactly as `recover train` would;
then every policy runs the same book forward for ``horizon_days`` from the same state with the
same borrower luck, the same daily capacity and (``evaluation.shared_control``) the same loans
left alone as the engine's control group. Two oracles bound what decisions can reach: the
oracle knows the simulator's whole truth; the state oracle knows everything but how each
borrower answers contact. Outputs: the results table (CSV, printed),
money recovered per day per policy (CSV and PNG), the best-channel model's uplift metrics on
the randomised (exploration / control) units, all logged to MLflow.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from adapters import tracking
from data_contracts.validation import validate_tables
from evaluation.harness import (
    TreatmentCosts,
    daily_frame,
    future_starts,
    label_randomised,
    paired_comparison,
    plot_recovered_per_day,
    randomised_uplift_report,
    results_table,
    run_policy,
    runs_table,
)
from evaluation.policies import (
    EnginePolicy,
    EngineTreatmentPolicy,
    EvaluationRules,
    ExpectedRecoveryPolicy,
    LargestBalancePolicy,
    OldestDuePolicy,
    OraclePolicy,
    RandomPolicy,
)
from evaluation.policy_results import (
    ControlGroup,
    EvaluatedModels,
    EvaluationSeeds,
    PairedComparison,
    PolicyEvaluationFacts,
    PolicyEvaluationResult,
    SimulatedBook,
)
from pipelines.common import cutoff_timezone_of, night_cutoff
from pipelines.runtime.progress import logger, stage
from pipelines.train_flow import (
    fit_channel_model,
    fit_propensity,
    response_set,
    share_of_payments,
    training_snapshots,
)
from recover.config import Config, allocation_settings, load_config, treatment_settings
from simulation import NoContactPolicy, observed_tables, run_history
from simulation.config import simulation_config

POLICIES = (
    "no_contact",
    "random",
    "oldest_dpd_first",
    "largest_balance_first",
    "p_pay_x_balance",
    "engine",
    "engine_with_treatments",
    "state_oracle",
    "oracle",
)
# Run on request (--policies): the engine with no control group at all, on every loan the other
# policies may work too; its paired gain over "engine" is what the 2% holdout costs.
OPTIONAL_POLICIES = ("engine_without_control",)


@task(name="simulate-history", cache_policy=NO_CACHE)
def simulate_history(config: Config):
    history = run_history(simulation_config(config.simulation))
    result = validate_tables(
        observed_tables(history.simulator),
        as_of=night_cutoff(config, simulation_config(config.simulation).as_of),
    )
    return history, result.tables


@task(name="train-models", cache_policy=NO_CACHE)
def train_models(tables, config: Config):
    """Both models, trained on the book's history before as_of exactly as `recover train` does;
    the best-channel model also without IPW, to show what the correction changes; and the payment
    share that prices a response (:mod:`models.payment_amount`)."""
    as_of = simulation_config(config.simulation).as_of
    snapshots = training_snapshots(tables, as_of, config)
    propensity = fit_propensity(snapshots, config)
    responses = response_set(tables, as_of, config)
    return (
        propensity,
        fit_channel_model(responses, config, ipw=True),
        fit_channel_model(responses, config, ipw=False),
        share_of_payments(snapshots, tables, config),
    )


@task(name="run-policy", cache_policy=NO_CACHE)
def forward(start, policy, horizon_days: int, channel_cost: dict, future: int = 0, costs=TreatmentCosts()):
    outcome = run_policy(
        start,
        policy,
        horizon_days,
        channel_cost,
        keep_final=_records_randomised(policy),
        future=future,
        costs=costs,
    )
    totals = outcome.totals
    logger.info(
        "  future %d  %-22s net %12s  contacts %7s  (%.0f s)",
        future,
        outcome.name,
        f"{totals['net_recovery']:,.0f}",
        f"{totals['contacts']:,.0f}",
        totals["seconds"],
    )
    return outcome


def _records_randomised(policy) -> bool:
    """The engine's exploration and control units measure the best-channel model on randomised
    data (the engine without a control group would count the same exploration twice)."""
    return isinstance(policy, EnginePolicy) and policy.name == "engine"


def treatment_costs(config: Config) -> TreatmentCosts:
    """The costs of treatments as the engine states them (section ``treatments``)."""
    section = config.treatments
    return TreatmentCosts(
        agency_commission=section.agency_commission,
        referral_fee=section.referral_fee,
        offer_cost=(section.plan_cost, section.settlement_cost, section.deferment_cost),
    )


def evaluation_rules(config: Config) -> EvaluationRules:
    evaluation, decisions = config.evaluation, config.decisions
    return EvaluationRules(
        capacity=evaluation.capacity(simulation_config(config.simulation).n_loans),
        channel_cost=decisions.channel_cost,
        min_days_between=evaluation.min_days_between,
        conversation_cooldown_days=evaluation.conversation_cooldown_days,
        response_window_days=config.channel_model.response_window_days,
        control_share=decisions.control_share if evaluation.shared_control else 0.0,
        control_days=decisions.control_days,
        control_salt=decisions.salt,
        cutoff_timezone=cutoff_timezone_of(config),
    )


def build_policies(
    names,
    rules: EvaluationRules,
    config: Config,
    propensity,
    channel_model,
    future: int = 0,
    payment_share=None,
):
    """Fresh policies for one future (the random policy draws anew in every future); the engine
    prices a response with ``payment_share`` as the nightly run does."""
    settings = allocation_settings(config)
    exploit = replace(settings, exploration_share=0.0, control_share=0.0)
    seed = config.evaluation.random_seed
    makers = {
        "no_contact": lambda: NoContactPolicy(),
        "random": lambda: RandomPolicy(rules, np.random.SeedSequence([seed, future])),
        "oldest_dpd_first": lambda: OldestDuePolicy(rules),
        "largest_balance_first": lambda: LargestBalancePolicy(rules),
        "p_pay_x_balance": lambda: ExpectedRecoveryPolicy(rules, propensity),
        "engine": lambda: EnginePolicy(rules, settings, channel_model, payment_share=payment_share),
        "engine_with_treatments": lambda: EngineTreatmentPolicy(
            rules, settings, channel_model, treatment_settings(config), payment_share=payment_share
        ),
        "engine_without_control": lambda: EnginePolicy(
            replace(rules, control_share=0.0),
            replace(settings, control_share=0.0),
            channel_model,
            payment_share=payment_share,
        ),
        "state_oracle": lambda: OraclePolicy(
            rules, exploit, config.evaluation.oracle_replicates, seed, own_contact_traits=False
        ),
        "oracle": lambda: OraclePolicy(rules, exploit, config.evaluation.oracle_replicates, seed),
    }
    unknown = sorted(set(names) - set(makers))
    if unknown:
        raise ValueError(f"unknown policies {unknown}; known: {list(makers)}")
    policies = []
    for name in names:
        policy = makers[name]()
        policy.name = name
        policies.append(policy)
    return policies


def uplift_on_randomised(units: pd.DataFrame, models: dict) -> dict:
    """Qini / uplift at k of each model on the engine's labelled randomised units (exploration
    contacts and control loans of every future)."""
    if units.empty:
        return {}
    report = {}
    for name, model in models.items():
        scored = (
            units.assign(predicted_uplift=model.uplift(units)["uplift"].to_numpy()) if len(units) else units
        )
        report[name] = randomised_uplift_report(scored)
    return report


@flow(name="evaluate-policy", log_prints=True)
def evaluate_policy_flow(
    out: str,
    config_path: str | None = None,
    horizon_days: int | None = None,
    policies: list[str] | None = None,
    log_to_mlflow: bool = True,
    simulation: dict | None = None,
    futures: int | None = None,
) -> PolicyEvaluationResult:
    """Run every policy forward in the simulator and write the comparison to ``out``.
    ``simulation`` overrides settings of the simulated book (e.g. n_loans, seed); ``futures``
    how many independent futures every policy is run in (default: config)."""
    config = load_config(Path(config_path) if config_path else None)
    if simulation:
        config = config.model_copy(update={"simulation": {**config.simulation, **simulation}})
    horizon = horizon_days or config.evaluation.horizon_days
    names = list(policies or POLICIES)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with stage("simulate the book's history", timings):
        history, tables = simulate_history(config)
    with stage("train models on history before as_of", timings):
        propensity, with_ipw, without_ipw, payment_share = train_models(tables, config)
    rules = evaluation_rules(config)
    n_futures = futures or config.evaluation.futures
    starts = future_starts(history.simulator, n_futures, config.evaluation.random_seed)
    with stage(f"run {len(names)} policies forward {horizon} days in {n_futures} futures", timings):
        outcomes, randomised = run_futures(
            starts, names, rules, config, (propensity.model, with_ipw.model), payment_share, horizon
        )
    table = results_table(outcomes)
    daily = daily_frame(outcomes)
    runs = runs_table(outcomes)
    uplift = uplift_on_randomised(
        pd.concat(randomised, ignore_index=True) if randomised else pd.DataFrame(),
        {"with_ipw": with_ipw.model, "without_ipw": without_ipw.model},
    )
    others = [name for name in names if name not in ("engine", "oracle", "no_contact")]
    treatments_gain = paired_comparison(outcomes, "engine_with_treatments", ["engine"]).get("engine")
    facts = evaluation_facts(
        config,
        rules,
        horizon,
        n_futures,
        paired_comparison(outcomes, "engine", [*others, "oracle"]),
        (propensity, with_ipw, without_ipw),
        uplift,
        timings,
        treatments_gain,
    )
    files = write_outputs(out_dir, table, daily, runs, facts)
    run_id = tracking.log_policy_evaluation(config, table, facts, files) if log_to_mlflow else None
    return PolicyEvaluationResult(
        table=table,
        daily=daily,
        facts=facts,
        files={k: str(v) for k, v in files.items()},
        mlflow_run_id=run_id,
    )


def run_futures(starts, names, rules: EvaluationRules, config: Config, models, payment_share, horizon: int):
    """Every policy of ``names`` run forward ``horizon`` days from each of ``starts`` (one per
    future) with the ``models`` (propensity, best-channel): the outcomes (without their final
    state) and the engine's labelled randomised units."""
    propensity, channel_model = models
    window = config.channel_model.response_window_days
    outcomes, randomised = [], []
    for future, start in enumerate(starts):
        built = build_policies(
            names, rules, config, propensity, channel_model, future, payment_share=payment_share
        )
        for policy in built:
            outcome = forward(
                start, policy, horizon, dict(config.decisions.channel_cost), future, treatment_costs(config)
            )
            if _records_randomised(policy) and policy.randomised:
                units = pd.concat(policy.randomised, ignore_index=True)
                randomised.append(label_randomised(units, outcome.final, window).assign(future=future))
            outcomes.append(replace(outcome, final=None))
    return outcomes, randomised


def evaluation_facts(
    config: Config,
    rules: EvaluationRules,
    horizon: int,
    n_futures: int,
    engine_vs: dict,
    trained,
    uplift: dict,
    timings: dict[str, float],
    treatments_gain: dict | None = None,
) -> PolicyEvaluationFacts:
    """The run's seeds, book, settings and paired results; ``engine_vs`` is the engine's paired
    comparison with the other policies and ``trained`` the (propensity, best-channel with IPW,
    best-channel without IPW) training outcomes."""
    propensity, with_ipw, without_ipw = trained
    sim = simulation_config(config.simulation)
    return PolicyEvaluationFacts(
        seeds=EvaluationSeeds(
            simulation=sim.seed,
            random_policy=config.evaluation.random_seed,
            oracle=config.evaluation.random_seed,
            decisions_salt=config.decisions.salt,
        ),
        book=SimulatedBook(n_loans=sim.n_loans, as_of=sim.as_of, horizon_days=horizon),
        futures=n_futures,
        engine_vs={other: PairedComparison(**paired) for other, paired in engine_vs.items()},
        control_group=ControlGroup(
            share=config.decisions.control_share,
            period_days=config.decisions.control_days,
            left_alone_by_every_policy=rules.control_share > 0,
        ),
        capacity_per_day=rules.capacity,
        channel_cost=dict(rules.channel_cost),
        min_days_between=dict(rules.min_days_between),
        models=EvaluatedModels(
            propensity_test_auc=propensity.metrics["test_auc"],
            channel_test_auc_with_ipw=with_ipw.metrics["test_auc"],
            channel_test_auc_without_ipw=without_ipw.metrics["test_auc"],
            ipw={
                k: v
                for k, v in with_ipw.metrics.items()
                if k.startswith("ipw_") or k in ("effective_sample_size", "rows", "max_weight")
            },
        ),
        uplift_on_randomised_units=uplift,
        timings_seconds=timings,
        treatments_gain=PairedComparison(**treatments_gain) if treatments_gain else None,
    )


def write_outputs(out_dir: Path, table, daily, runs, facts: PolicyEvaluationFacts) -> dict[str, Path]:
    """The results table, money recovered per day (CSV and plot), the runs by future and the
    facts (JSON) in ``out_dir``; returns their paths by name."""
    files = {
        "results": out_dir / "policy_evaluation.csv",
        "daily": out_dir / "recovered_per_day.csv",
        "runs": out_dir / "policy_evaluation_by_future.csv",
        "plot": out_dir / "recovered_per_day.png",
        "facts": out_dir / "policy_evaluation.json",
    }
    table.round(4).to_csv(files["results"])
    daily.to_csv(files["daily"], index=False)
    runs.round(4).to_csv(files["runs"], index=False)
    plot_recovered_per_day(daily, files["plot"])
    files["facts"].write_text(json.dumps(facts.to_dict(), indent=2, default=str))
    return files
