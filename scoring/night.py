"""One night of the engine as pure functions with typed results: from tonight's features and
input tables, the champions and the settings, to the ranked queue and its companion lists.

The night is three stages, each a function here, and :func:`score_night` runs them in order:

1. :func:`decide_contacts`: the decision chain (resolve the rule packs, apply the contact
   policy, the promise ledger, one disposition per loan): a :class:`ContactDecisions`;
2. :func:`choose_contacts`: the best channel and incremental value of every candidate, the
   capacity allocation, the loans left alone and the channel reasons: a :class:`ChosenContacts`;
3. :func:`score_and_rank`: p_pay, its reasons, the rank and the companion lists, each checked
   against its output contract: a :class:`ScoredQueue`.

Nothing here reads or writes files, MLflow or Prefect. The nightly flow
(pipelines/nightly_score_flow.py) runs the same three functions as stages it can persist,
resume and retry; tests, benches and notebooks call them directly. Per-loan work goes through
a :data:`PartitionMap`: in process by default, on a cluster when the flow passes its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import pandas as pd
import pandera.pandas as pa

from data_contracts.cutoff import AsOf, as_of_date, as_of_instant, cutoff_timezone
from data_contracts.enums import CHANNELS
from data_contracts.outputs import (
    LEFT_ALONE_COLUMNS,
    TREATMENT_COLUMNS,
    ContactWindows,
    Dispositions,
    Disputes,
    Explanations,
    Forbearance,
    LeftAlone,
    PromiseFollowUp,
    Queue,
    Suppressed,
    Treatments,
)
from features.arrangements import arrangements_in_force, offer_rows
from features.promises import DEFAULT_GRACE_DAYS, promise_ledger
from features.responses import channel_history
from models.acceptance import fit_acceptance
from models.payment_amount import PaymentShare
from scoring.allocation import AllocationSettings, allocate
from scoring.choice import (
    explain_channels,
    lawful_options,
    options_for_windows,
    runner_up_channels,
    score_options,
    settle,
    team_capacities,
    with_teams,
)
from scoring.contacts import officer_context, one_contact_per_borrower
from scoring.dispositions import Decisions, check_partition, decide
from scoring.disputes import DISPUTE_LIST_COLUMNS, open_disputes, stamp_disputes
from scoring.frames import combine, in_key_order, member_of
from scoring.policy.engine import PolicyResult, apply_contact_policy
from scoring.policy.packs import PACKS_DIR, Rule, RulePack, resolve_packs
from scoring.queue import cutoff_column, finalize_decisions, rank_queue
from scoring.reasons import reference_values, top_reasons
from scoring.treatments import (
    TreatmentPlan,
    TreatmentSettings,
    care_treatments,
    choose_treatments,
    no_treatments,
    out_of_contact_rows,
    queue_treatment_columns,
    trace_signals,
    treatment_list,
)

# The output contract of each companion list (explanations: with ``scoring.explain: all``).
COMPANION_CONTRACTS: dict[str, type[pa.DataFrameModel]] = {
    "suppressed": Suppressed,
    "dispositions": Dispositions,
    "promise_follow_up": PromiseFollowUp,
    "forbearance": Forbearance,
    "contact_windows": ContactWindows,
    "left_alone": LeftAlone,
    "explanations": Explanations,
    "treatments": Treatments,
    "disputes": Disputes,
}


# --- settings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactSettings:
    """What the decision chain reads: the rule packs (``default_pack`` and ``by_region``: names
    in ``packs_dir`` or YAML paths; ``house_rules`` added to every pack), the promise ledger's
    ``tolerance`` and ``grace_days``, and the channel ``preference`` of a queued loan."""

    default_pack: str | Path
    by_region: Mapping[str, str] = field(default_factory=dict)
    packs_dir: Path = PACKS_DIR
    house_rules: tuple[Rule, ...] = ()
    tolerance: float = 0.01
    grace_days: int = DEFAULT_GRACE_DAYS
    preference: tuple[str, ...] = CHANNELS


@dataclass(frozen=True)
class TeamSettings:
    """How the queue splits into teams, and each team's contacts a day (None: no limit)."""

    split_by: tuple[str, ...] = ("channel", "region")
    default_capacity: int | None = 200
    capacity_by_channel: Mapping[str, int | None] = field(default_factory=dict)
    capacity_by_team: Mapping[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class NightSettings:
    """Everything a night decides by (recover.config.night_settings builds it from the config)."""

    contacts: ContactSettings
    allocation: AllocationSettings
    teams: TeamSettings = field(default_factory=TeamSettings)
    n_reasons: int = 3
    rank_by: Literal["value_per_cost", "value"] = "value_per_cost"
    explain: Literal["queued", "all"] = "queued"
    # The best-channel model's response window: the priority reasons name it ("within 7 days").
    response_window_days: int | None = None
    treatments: TreatmentSettings = field(default_factory=TreatmentSettings)


@dataclass(frozen=True)
class RunStamp:
    """What every output row of the run carries: its id, the propensity model's version and the
    night's data cut-off (None outside a run)."""

    run_id: str
    model_version: str
    data_cutoff_utc: pd.Timestamp | None = None


# --- partitions and timings -----------------------------------------------------------------------


class PartitionMap(Protocol):
    """Runs ``fn(*frames, **shared)`` and returns its results as a list: once on the whole
    frames in process, or once per partition of loans on a cluster (``name`` names the work)."""

    def __call__(self, fn: Callable[..., Any], /, *frames: Any, name: str, **shared: Any) -> list[Any]: ...


def in_process(fn: Callable[..., Any], /, *frames: Any, name: str, **shared: Any) -> list[Any]:
    """The :class:`PartitionMap` of one process: a single call on the whole frames."""
    return [fn(*frames, **shared)]


@contextmanager
def timed(name: str, seconds: dict[str, float]) -> Iterator[None]:
    """Add the wall time of the block to ``seconds[name]``."""
    began = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - began, 3)


# --- 1. the decision chain ------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactDecisions:
    """The decision chain's result: the rule packs it loaded (``packs`` by name, the name of
    the ``default`` one), the contact policy's ``verdict`` (lawful windows, blocks), the
    ``promises`` ledger, the ``decisions`` (one disposition per overdue loan) and the
    ``seconds`` of its parts."""

    packs: dict[str, RulePack]
    default: str
    verdict: PolicyResult
    promises: pd.DataFrame
    decisions: Decisions
    seconds: dict[str, float]
    # The overdue loans' features the chain judged (the treatments read the care list's).
    features: pd.DataFrame | None = None
    # The open disputes holding overdue loans tonight (scoring.disputes.open_disputes).
    disputes: pd.DataFrame | None = None


def decide_contacts(
    features: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: AsOf,
    settings: ContactSettings,
    *,
    unreadable_holds: pd.Series | None = None,
) -> ContactDecisions:
    """Judge every overdue loan in ``features`` under its rule pack and give it exactly one
    disposition. The rules and the promise ledger read the events of ``tables`` before the
    cut-off ``as_of`` (a :class:`~data_contracts.cutoff.Cutoff`, or a date: a UTC clock);
    ``unreadable_holds`` (loan ids of quarantined hold rows) are held by the engine's safety
    rule."""
    packs, default, by_region = resolve_packs(
        settings.default_pack, dict(settings.by_region), settings.packs_dir, house_rules=settings.house_rules
    )
    seconds: dict[str, float] = {}
    with timed("contact policy", seconds):
        verdict = apply_contact_policy(
            features["loan_id"], tables, as_of, packs, default, by_region, unreadable_holds=unreadable_holds
        )
    with timed("promise ledger", seconds):
        promises = promise_ledger(
            tables["interactions"],
            tables["payments"],
            as_of_instant(as_of),
            tolerance=settings.tolerance,
            grace_days=settings.grace_days,
            timezone=cutoff_timezone(as_of),
        )
    with timed("dispositions", seconds):
        decisions = decide(
            features, verdict, promises, as_of=as_of_date(as_of).date(), preference=settings.preference
        )
    with timed("dispositions", seconds):
        disputes = open_disputes(verdict, features, packs, as_of)
    return ContactDecisions(
        packs, default, verdict, promises, decisions, seconds, features=features, disputes=disputes
    )


def regions_without_loans(settings: ContactSettings, verdict: PolicyResult) -> list[str]:
    """The regions ``by_region`` names that no overdue loan carries tonight (region names match
    exactly: such a key may be a misspelling)."""
    return sorted(set(settings.by_region) - set(verdict.accounts["region"]))


# --- 2. channels and capacity ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChosenContacts:
    """The decisions after the allocation (queued candidates carry their channel, its window
    and incremental value, their ``contact_id``, ``contact_loans`` and the officer's context:
    :data:`data_contracts.outputs.CONTACT_QUEUE_COLUMNS`), the loans ``left_alone`` with the
    reason, the contact ``windows`` with each scored option's value, and the ``seconds`` of
    channel scoring, allocation (one contact per borrower included) and channel explanations."""

    decisions: Decisions
    left_alone: pd.DataFrame
    windows: pd.DataFrame
    seconds: dict[str, float]
    treatments: TreatmentPlan | None = None
    care: pd.DataFrame | None = None
    trace: pd.Series | None = None
    disputes: pd.DataFrame | None = None


def choose_contacts(
    contacts: ContactDecisions,
    tables: Mapping[str, pd.DataFrame],
    as_of: AsOf,
    channel_model: object,
    settings: NightSettings,
    *,
    payment_share: PaymentShare | None = None,
    partitions: PartitionMap = in_process,
) -> ChosenContacts:
    """Best channel and incremental value of every candidate, the allocation under the teams'
    capacities, one contact per borrower (:mod:`scoring.contacts`: the queued loans of a
    borrower share one channel and window, each carries its ``contact_id`` and the officer's
    context), the loans left alone and the channel reasons of the queued ones.
    ``payment_share`` (the propensity champion's) prices a response; without it a response is
    worth the amount overdue."""
    seconds: dict[str, float] = {}
    verdict, allocation = contacts.verdict, settings.allocation
    with timed("channel scoring", seconds):
        history = channel_history(tables["interactions"], tables["payments"], as_of)
        options = _scored_options(
            contacts.decisions.candidates,
            verdict,
            history,
            channel_model,
            allocation.repeat_contact_discount,
            payment_share,
            partitions,
        )
    with timed("treatments", seconds):
        plan, care, trace = _treatments(contacts, options, tables, as_of, settings)
        out_of_contact = plan.out_of_contact()
    with timed("allocation", seconds):
        teams = settings.teams
        options = with_teams(options, verdict.accounts, teams.split_by)
        capacity = team_capacities(
            options, teams.default_capacity, teams.capacity_by_channel, teams.capacity_by_team
        )
        in_contact = options[~member_of(options["loan_id"], out_of_contact)]
        allocated = allocate(in_contact, capacity, allocation, as_of=as_of_date(as_of).date())
        settled, left_alone = settle(contacts.decisions, allocated, verdict.windows, allocation)
    with timed("allocation", seconds):  # one contact per borrower: part of the allocation
        settled, left_alone = one_contact_per_borrower(
            settled,
            left_alone,
            in_contact,
            verdict.windows,
            allocation.channel_cost,
            as_of=as_of_date(as_of).date(),
        )
        context = officer_context(settled.candidates, tables, contacts.promises, as_of)
        settled = replace(settled, candidates=settled.candidates.join(context))
        settled, left_alone = _taken_out_of_contact(
            contacts.decisions.candidates, settled, left_alone, options, plan, allocation
        )
        queued = settled.candidates
        settled = replace(settled, candidates=queued.join(queue_treatment_columns(queued, plan)))
    with timed("channel explanations", seconds):
        queued = settled.candidates
        # Against the channel each loan is contacted through: a loan that joined its borrower's
        # contact may have moved off the channel the allocation gave it.
        contacted = queued[["loan_id"]].assign(channel=queued["recommended_channel"].astype("str"))
        runner_up = runner_up_channels(contacted, options, allocation.channel_cost)
        pieces = partitions(
            explain_channels,
            queued,
            runner_up,
            history,
            model=channel_model,
            n=settings.n_reasons,
            name="explain-channels-partition",
        )
        settled = replace(settled, candidates=queued.join(combine(pieces, index=queued.index)))
    with timed("allocation", seconds):
        windows = options_for_windows(verdict.windows, options, allocation.channel_cost)
    return ChosenContacts(
        settled,
        left_alone,
        windows,
        seconds,
        treatments=plan,
        care=care,
        trace=trace,
        disputes=contacts.disputes,
    )


def _treatments(
    contacts: ContactDecisions,
    options: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: AsOf,
    settings: NightSettings,
) -> tuple[TreatmentPlan, pd.DataFrame, pd.Series]:
    """Tonight's treatment of every candidate, the care team's offers and the loans to trace
    (:mod:`scoring.treatments`); acceptance learnt from the book's arrangements history."""
    candidates = contacts.decisions.candidates
    treatment_settings = replace(settings.treatments, channel_cost=settings.allocation.channel_cost)
    if not treatment_settings.enabled or contacts.features is None:
        empty = pd.Series(dtype="str", index=pd.Index([], name="loan_id"))
        return no_treatments(candidates), pd.DataFrame(columns=["treatment"]), empty
    acceptance = fit_acceptance(
        offer_rows(tables, as_of),
        plan_prior=treatment_settings.plan_prior,
        settlement_prior=treatment_settings.settlement_prior,
        min_offers=treatment_settings.min_offers,
    )
    overdue = contacts.features
    trace = trace_signals(tables["interactions"], overdue, as_of, treatment_settings)
    plan = choose_treatments(
        candidates,
        options,
        arrangements_in_force(tables, as_of),
        trace.reindex(trace.index.intersection(pd.Index(candidates["loan_id"]))),
        acceptance,
        treatment_settings,
    )
    care = care_treatments(contacts.decisions.forbearance, overdue, acceptance, treatment_settings)
    return plan, care, trace


def _taken_out_of_contact(
    candidates: pd.DataFrame,
    settled: Decisions,
    left_alone: pd.DataFrame,
    options: pd.DataFrame,
    plan: TreatmentPlan,
    allocation: AllocationSettings,
) -> tuple[Decisions, pd.DataFrame]:
    """The loans a treatment took out of the allocation (referral, trace, a running
    arrangement) join the left-alone list with the treatment's reason."""
    rows = out_of_contact_rows(options, plan, allocation.channel_cost)
    if rows.empty:
        return settled, left_alone
    keyed = settled.dispositions.set_index("loan_id")
    rows = rows.assign(
        borrower_id=rows["loan_id"].map(keyed["borrower_id"]),
        days_past_due=rows["loan_id"].map(candidates.set_index("loan_id")["days_past_due"]),
        as_of=rows["loan_id"].map(keyed["as_of"]),
        policy=rows["loan_id"].map(keyed["policy"]),
        policy_version=rows["loan_id"].map(keyed["policy_version"]),
        best_channel_cost=rows["best_channel"].map(dict(allocation.channel_cost)).astype("float64"),
    )
    dispositions = settled.dispositions.copy()
    taken = member_of(dispositions["loan_id"], rows["loan_id"])
    dispositions.loc[taken, "disposition"] = "left_alone"
    dispositions.loc[taken, "detail"] = dispositions.loc[taken, "loan_id"].map(
        rows.set_index("loan_id")["reason"]
    )
    return replace(settled, dispositions=dispositions), pd.concat([left_alone, rows], ignore_index=True)


def _scored_options(
    candidates: pd.DataFrame,
    verdict: PolicyResult,
    history: pd.DataFrame,
    channel_model: object,
    repeat_contact_discount: float,
    payment_share: PaymentShare | None,
    partitions: PartitionMap,
) -> pd.DataFrame:
    """Every lawful (candidate, channel) option with the model's responses, in the order of the
    lawful options (the allocation breaks ties by row order)."""
    lawful = lawful_options(candidates, verdict.windows)
    pieces = partitions(
        score_options,
        candidates,
        lawful,
        history,
        model=channel_model,
        payment_share=payment_share,
        repeat_contact_discount=repeat_contact_discount,
        name="score-channels-partition",
    )
    options: pd.DataFrame = combine(pieces)
    if len(pieces) > 1:  # keep the unpartitioned order
        options = in_key_order(options, lawful, ["loan_id", "channel"])
    return options


# --- 3. scores, reasons and the ranked queue ------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """What scoring leaves for the review: p_pay of every overdue loan, the SHAP contributions of
    the queued ones, and the seconds of scoring's parts (scoring, explanations, ranking)."""

    p_pay: pd.Series
    contributions: pd.DataFrame
    seconds: dict[str, float]

    @property
    def explain_seconds(self) -> float:
        return self.seconds.get("propensity explanations", 0.0)


@dataclass(frozen=True)
class ScoredQueue:
    """The ranked queue and the companion lists (each checked against its output contract), and
    the scores behind them."""

    queue: pd.DataFrame
    companions: dict[str, pd.DataFrame]
    scores: Scores

    def for_run(self, run_id: str) -> ScoredQueue:
        """Every row stamped with ``run_id`` (a stage resumed from a failed run carries its id)."""
        companions = {
            name: frame.assign(run_id=run_id) if "run_id" in frame.columns else frame
            for name, frame in self.companions.items()
        }
        return replace(self, queue=self.queue.assign(run_id=run_id), companions=companions)


def propensity_of(features: pd.DataFrame, model: Any) -> pd.Series:
    """The champion's calibrated p_pay of each row of ``features``."""
    return pd.Series(model.predict_proba(features)[:, 1], index=features.index)


def propensity_reasons(
    explained: pd.DataFrame,
    model: Any,
    n_reasons: int,
    reference: Mapping[str, object] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The SHAP contributions and the plain-language reasons of each row of ``explained``,
    stated against ``reference`` (the typical value of each feature among tonight's overdue
    accounts, :func:`scoring.reasons.reference_values`; by default among ``explained``)."""
    contributions, _ = model.shap_values(explained)
    return contributions, top_reasons(explained, contributions, n=n_reasons, reference=reference)


def score_and_rank(
    features: pd.DataFrame,
    verdict: PolicyResult,
    chosen: ChosenContacts,
    model: Any,
    run: RunStamp,
    settings: NightSettings,
    partitions: PartitionMap = in_process,
) -> ScoredQueue:
    """Score every overdue loan; explain and rank the ones queued for contact today (every loan
    with ``explain: all``). Every output row carries the night's cut-off."""
    seconds: dict[str, float] = {}
    with timed("propensity scoring", seconds):
        pieces = partitions(propensity_of, features, model=model, name="score-partition")
        p_pay: pd.Series = combine(pieces, index=features.index)
    to_work = chosen.decisions.candidates
    explained = features if settings.explain == "all" else to_work
    with timed("propensity explanations", seconds):
        # "Typical" in every reason is tonight's overdue book, whichever rows are explained.
        reference = reference_values(features)
        parts = partitions(
            propensity_reasons,
            explained[features.columns],
            model=model,
            n_reasons=settings.n_reasons,
            reference=reference,
            name="explain-partition",
        )
        contributions = combine([piece for piece, _ in parts], index=explained.index)
        reasons = combine([piece for _, piece in parts], index=explained.index)
    ranking = time.perf_counter()
    queue = _ranked(to_work, p_pay.loc[to_work.index], reasons.loc[to_work.index], verdict, run, settings)
    companions = companion_lists(features, chosen, queue, run)
    if settings.explain == "all":
        explanations = explanations_of(explained, p_pay, reasons, run.run_id)
        companions["explanations"] = explanations.assign(
            data_cutoff_utc=cutoff_column(run.data_cutoff_utc, explanations.index)
        )
    seconds["ranking and companion lists"] = round(time.perf_counter() - ranking, 3)
    return ScoredQueue(
        queue=Queue.validate(queue, lazy=True),
        companions={
            name: COMPANION_CONTRACTS[name].validate(frame, lazy=True) for name, frame in companions.items()
        },
        scores=Scores(p_pay=p_pay, contributions=contributions.loc[to_work.index], seconds=seconds),
    )


def _ranked(
    to_work: pd.DataFrame,
    p_pay: pd.Series,
    reasons: pd.DataFrame,
    verdict: PolicyResult,
    run: RunStamp,
    settings: NightSettings,
) -> pd.DataFrame:
    teams = settings.teams
    return rank_queue(
        to_work,
        p_pay,
        reasons,
        verdict.accounts,
        run_id=run.run_id,
        model_version=run.model_version,
        policy_versions=verdict.packs,
        team_split=teams.split_by,
        default_capacity=teams.default_capacity,
        capacity_by_channel=teams.capacity_by_channel,
        capacity_by_team=teams.capacity_by_team,
        data_cutoff_utc=run.data_cutoff_utc,
        rank_by=settings.rank_by,
        # Named in each priority reason where the settings carry it.
        response_window_days=settings.response_window_days,
    )


def companion_lists(
    features: pd.DataFrame, chosen: ChosenContacts, queue: pd.DataFrame, run: RunStamp
) -> dict[str, pd.DataFrame]:
    """Suppressed, dispositions, promise follow-up, forbearance, contact windows and left alone,
    in their public columns; raises :class:`~scoring.dispositions.PartitionError` unless every
    overdue loan is in exactly one of the lists of its disposition."""
    companions = finalize_decisions(chosen.decisions, chosen.windows, run.run_id, run.data_cutoff_utc)
    left_alone = chosen.left_alone
    companions["left_alone"] = left_alone.assign(
        run_id=run.run_id, data_cutoff_utc=cutoff_column(run.data_cutoff_utc, left_alone.index)
    )[LEFT_ALONE_COLUMNS].reset_index(drop=True)
    check_partition(features, companions["dispositions"], queue, companions)
    companions["treatments"] = _treatment_list(features, chosen, companions["dispositions"], queue, run)
    disputes = chosen.disputes if chosen.disputes is not None else pd.DataFrame(columns=DISPUTE_LIST_COLUMNS)
    companions["disputes"] = stamp_disputes(disputes, run.run_id, run.data_cutoff_utc)
    return companions


def _treatment_list(
    features: pd.DataFrame,
    chosen: ChosenContacts,
    dispositions: pd.DataFrame,
    queue: pd.DataFrame,
    run: RunStamp,
) -> pd.DataFrame:
    """treatments.parquet in its public columns (:func:`scoring.treatments.treatment_list`)."""
    plan = chosen.treatments if chosen.treatments is not None else no_treatments(chosen.decisions.candidates)
    care = chosen.care if chosen.care is not None else pd.DataFrame(columns=["treatment"])
    trace = chosen.trace if chosen.trace is not None else pd.Series(dtype="str")
    suppressed = chosen.decisions.suppressed
    held = pd.Index(
        suppressed.loc[suppressed["account_level"].fillna(False).astype(bool), "loan_id"].unique()
    )
    frame = treatment_list(features, dispositions, queue, plan, care, trace, held)
    return frame.assign(run_id=run.run_id, data_cutoff_utc=cutoff_column(run.data_cutoff_utc, frame.index))[
        TREATMENT_COLUMNS
    ]


def explanations_of(
    explained: pd.DataFrame, p_pay: pd.Series, reasons: pd.DataFrame, run_id: str
) -> pd.DataFrame:
    """The explanations.parquet rows: keys, p_pay and reasons of every explained loan."""
    frame = explained[["loan_id", "borrower_id", "as_of"]].copy()
    frame["run_id"] = run_id
    frame["p_pay_30d"] = p_pay.loc[explained.index]
    for column in ("reason_1", "reason_2", "reason_3"):
        frame[column] = reasons[column] if column in reasons.columns else None
    return frame.reset_index(drop=True)


# --- the whole night ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NightResult:
    """One night's typed results: the overdue loans' ``features`` and the three stages'."""

    features: pd.DataFrame
    contacts: ContactDecisions
    chosen: ChosenContacts
    scored: ScoredQueue

    @property
    def queue(self) -> pd.DataFrame:
        return self.scored.queue

    @property
    def companions(self) -> dict[str, pd.DataFrame]:
        return self.scored.companions


def score_night(
    features: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: AsOf,
    settings: NightSettings,
    *,
    propensity_model: Any,
    channel_model: object,
    run: RunStamp,
    payment_share: PaymentShare | None = None,
    unreadable_holds: pd.Series | None = None,
    partitions: PartitionMap = in_process,
) -> NightResult:
    """The three stages of a night in order (see the module docstring)."""
    contacts = decide_contacts(features, tables, as_of, settings.contacts, unreadable_holds=unreadable_holds)
    chosen = choose_contacts(
        contacts, tables, as_of, channel_model, settings, payment_share=payment_share, partitions=partitions
    )
    scored = score_and_rank(features, contacts.verdict, chosen, propensity_model, run, settings, partitions)
    return NightResult(features=features, contacts=contacts, chosen=chosen, scored=scored)


__all__ = [
    "COMPANION_CONTRACTS",
    "ChosenContacts",
    "ContactDecisions",
    "ContactSettings",
    "NightResult",
    "NightSettings",
    "PartitionMap",
    "RunStamp",
    "ScoredQueue",
    "Scores",
    "TeamSettings",
    "choose_contacts",
    "companion_lists",
    "decide_contacts",
    "explanations_of",
    "in_process",
    "propensity_of",
    "propensity_reasons",
    "regions_without_loans",
    "score_and_rank",
    "score_night",
    "timed",
]
