"""Contact policies compared in the policy evaluation, all under the same rules and capacity.

Every policy picks from the same lawful (loan, channel) pairs of the day (:func:`lawful_pairs`)
and may use at most the same number of contacts per channel. The heuristics rank loans by a
score and give the most expensive channel to the highest-ranked loans (as rule-based shops
do); the engine and the oracles value each (loan, channel) by its incremental value and use
:func:`scoring.allocation.allocate`: the engine with its models, the oracle with the
simulator's own Monte-Carlo truth, the state oracle with the truth of everything but how each
borrower answers contact.

The engine's control group (a random share of loans held out for a whole period to measure
uplift) is left alone by every policy when the rules name it: a measurement holdout is a cost of
measuring, not of deciding, and a policy allowed to work loans the engine may not would be
credited with the holdout rather than with its decisions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data_contracts.enums import CHANNELS
from features.arrangements import arrangements_in_force, offer_rows
from features.build import build_features
from features.point_in_time import Cutoff
from features.responses import channel_history, option_rows
from models.acceptance import AcceptanceModels, fit_acceptance
from scoring.allocation import AllocationSettings, allocate, in_control_group, random_option
from scoring.choice import response_options
from scoring.treatments import TreatmentSettings, choose_treatments, trace_signals
from simulation import Contacts, LoanBookSimulator, Offers, estimate_pay_probabilities, observed_tables
from simulation.book import loan_ids
from simulation.catalog import CALL, FIELD_VISIT


@dataclass(frozen=True)
class EvaluationRules:
    """What every compared policy must respect: capacity, costs and contact spacing."""

    capacity: Mapping[str, int]
    channel_cost: Mapping[str, float]
    min_days_between: Mapping[str, int]
    conversation_cooldown_days: int = 7
    response_window_days: int = 7
    control_share: float = 0.0
    control_days: int = 30
    control_salt: str = "recover"
    cutoff_timezone: str = "UTC"  # the lender's clock: each night reads events before its 00:00

    def cutoff(self, sim: LoanBookSimulator) -> Cutoff:
        """Tonight's data cut-off: 00:00 of the simulator's day on the lender's clock."""
        return Cutoff(pd.Timestamp(sim.date).date(), self.cutoff_timezone)

    def in_control(self, sim: LoanBookSimulator, loan_index: np.ndarray) -> np.ndarray:
        """Whether each loan is in today's control group (drawn as the engine draws it)."""
        ids = pd.Series(loan_ids(sim.population.n_loans)[np.asarray(loan_index, dtype=np.int64)])
        date = pd.Timestamp(sim.date).date()
        return in_control_group(
            ids, date, share=self.control_share, days=self.control_days, salt=self.control_salt
        )


def lawful_pairs(
    sim: LoanBookSimulator, rules: EvaluationRules, *, with_control: bool = False
) -> pd.DataFrame:
    """Today's (loan_index, channel) pairs any policy may use.

    Overdue, not in a hardship plan, no open promise; the channel's consent, means, opt-outs and
    account holds (cease, dispute, bankruptcy, deceased, legal hold, do-not-contact); no repeat
    of a channel within its spacing; no call or visit for ``conversation_cooldown_days`` after a
    right-party conversation (the Reg F rule); not in the rules' control group, unless
    ``with_control`` (the engine, which draws the same group itself and records it).
    """
    t = sim.day
    # A loan handed to the agency is out of in-house collection for every policy.
    base = sim.overdue_mask() & ~sim.in_hardship() & ~sim.has_open_promise() & ~sim.referred()
    blocked = sim.contact_blocked()
    last = sim.last_contact_day()
    talked_recently = (t - sim.last_right_party_contact_day()) < rules.conversation_cooldown_days
    frames = []
    for code, channel in enumerate(CHANNELS):
        ok = base & sim.contactable(code, blocked) & sim.has_means(code)
        ok &= (t - last[:, code]) >= rules.min_days_between.get(channel, 1)
        if code in (CALL, FIELD_VISIT):
            ok &= ~talked_recently
        index = np.flatnonzero(ok)
        frames.append(pd.DataFrame({"loan_index": index, "channel": channel}))
    pairs = pd.concat(frames, ignore_index=True)
    if rules.control_share > 0 and not with_control and len(pairs):
        loans = np.unique(pairs["loan_index"].to_numpy())
        held = loans[rules.in_control(sim, loans)]
        pairs = pairs[~pairs["loan_index"].isin(held)].reset_index(drop=True)
    return pairs


def _contacts(pairs: pd.DataFrame) -> Contacts:
    code = pairs["channel"].map({c: i for i, c in enumerate(CHANNELS)}).to_numpy(dtype=np.int8)
    return Contacts(pairs["loan_index"].to_numpy(dtype=np.int64), code, lawful_hours=True)


class RankingPolicy:
    """Rank loans by a score; fill the costliest channel first with the best-ranked loans."""

    name = "ranking"

    def __init__(self, rules: EvaluationRules):
        self.rules = rules

    def score(self, sim: LoanBookSimulator, loans: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def select_contacts(self, sim: LoanBookSimulator) -> Contacts:
        pairs = lawful_pairs(sim, self.rules)
        if pairs.empty:
            return Contacts.empty()
        loans = np.unique(pairs["loan_index"].to_numpy())
        scores = pd.Series(self.score(sim, loans), index=loans)
        pairs = pairs.assign(score=pairs["loan_index"].map(scores))
        taken: set[int] = set()
        chosen = []
        for channel in sorted(CHANNELS, key=lambda c: -self.rules.channel_cost[c]):
            room = int(self.rules.capacity.get(channel, 0))
            if room <= 0:
                continue
            here = pairs[(pairs["channel"] == channel) & ~pairs["loan_index"].isin(taken)]
            top = here.sort_values(["score", "loan_index"], ascending=[False, True], kind="stable").head(room)
            taken.update(top["loan_index"].tolist())
            chosen.append(top)
        return _contacts(pd.concat(chosen, ignore_index=True)) if chosen else Contacts.empty()


class RandomPolicy(RankingPolicy):
    name = "random"

    def __init__(self, rules: EvaluationRules, seed: int | np.random.SeedSequence):
        super().__init__(rules)
        self.rng = np.random.default_rng(seed)

    def score(self, sim, loans):
        return self.rng.random(len(loans))


class OldestDuePolicy(RankingPolicy):
    name = "oldest_dpd_first"

    def score(self, sim, loans):
        return sim.days_past_due()[loans].astype(float)


class LargestBalancePolicy(RankingPolicy):
    name = "largest_balance_first"

    def score(self, sim, loans):
        return sim.outstanding_balance_cents()[loans].astype(float)


def _features_today(
    sim: LoanBookSimulator, rules: EvaluationRules
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The engine's own features of the simulator's book as a nightly run would see it."""
    tables = observed_tables(sim)
    return build_features(tables, rules.cutoff(sim)), tables


class ExpectedRecoveryPolicy(RankingPolicy):
    """The classic model-driven heuristic: p_pay (the propensity model) x outstanding balance."""

    name = "p_pay_x_balance"

    def __init__(self, rules: EvaluationRules, propensity_model):
        super().__init__(rules)
        self.model = propensity_model

    def score(self, sim, loans):
        features, _ = _features_today(sim, self.rules)
        index = pd.Index(loan_ids(sim.population.n_loans))
        features = features[np.isin(index.get_indexer(features["loan_id"]), loans)]
        p_pay = pd.Series(
            self.model.predict_proba(features)[:, 1], index=index.get_indexer(features["loan_id"])
        )
        balance = sim.outstanding_balance_cents()[loans] / 100.0
        return p_pay.reindex(loans).fillna(0.0).to_numpy() * balance


@dataclass
class DecisionPolicy:
    """Incremental value per lawful (loan, channel), then :func:`allocate` under capacity."""

    rules: EvaluationRules
    settings: AllocationSettings
    name: str = "decision"
    randomised: list[pd.DataFrame] = field(default_factory=list)

    def options(self, sim: LoanBookSimulator, pairs: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def keeps_own_control(self) -> bool:
        """Whether this policy draws the rules' control group itself (the engine with the
        configured decisions), and so is given those loans to flag rather than have them removed."""
        settings, rules = self.settings, self.rules
        return settings.control_share > 0 and (
            settings.control_share,
            settings.control_days,
            settings.salt,
        ) == (rules.control_share, rules.control_days, rules.control_salt)

    def select_contacts(self, sim: LoanBookSimulator) -> Contacts:
        pairs = lawful_pairs(sim, self.rules, with_control=self.keeps_own_control())
        if pairs.empty:
            return Contacts.empty()
        options = self.options(sim, pairs)
        if options.empty:
            return Contacts.empty()
        options["resource"] = options["channel"]
        date = pd.Timestamp(sim.date).date()
        choice = allocate(options, dict(self.rules.capacity), self.settings, as_of=date)
        self._record_randomised(sim.day, date, options, choice)
        work = choice.assignments[choice.assignments["within_capacity"]]
        index = pd.Index(loan_ids(sim.population.n_loans))
        return _contacts(
            pd.DataFrame(
                {"loan_index": index.get_indexer(work["loan_id"]), "channel": work["channel"].to_numpy()}
            )
        )

    def _record_randomised(self, day: int, date: dt.date, options: pd.DataFrame, choice) -> None:
        """Exploration contacts and control loans, with the predicted uplift of their (random)
        channel, for measuring the model on randomised data."""
        explored = choice.assignments[choice.assignments["exploration"]][["loan_id", "channel"]].assign(
            treated=True
        )
        control_ids = choice.left_alone.loc[choice.left_alone["control"], "loan_id"]
        control_options = options[options["loan_id"].isin(control_ids)]
        control = random_option(control_options, date, self.settings.salt)[["loan_id", "channel"]].assign(
            treated=False
        )
        units = pd.concat([explored, control], ignore_index=True)
        if units.empty:
            return
        keep = [c for c in options.columns if c not in ("resource", "value")]
        units = units.merge(options[keep], on=["loan_id", "channel"])
        units["predicted_uplift"] = units["p_contact"] - units["p_self_cure"]
        self.randomised.append(units.assign(day=day))


class EnginePolicy(DecisionPolicy):
    """The engine: channel-response model -> incremental value -> capacity allocation."""

    def __init__(
        self,
        rules: EvaluationRules,
        settings: AllocationSettings,
        channel_model,
        name: str = "engine",
        payment_share=None,
    ):
        super().__init__(rules=rules, settings=settings, name=name)
        self.model = channel_model
        self.payment_share = payment_share

    def options(self, sim, pairs):
        rows, valued = self._valued(sim, pairs, *_features_today(sim, self.rules))
        if rows.empty:
            return rows
        # The model rows ride along so randomised units can be rescored by other models later.
        return rows.assign(
            p_contact=valued["p_contact"].to_numpy(),
            p_self_cure=valued["p_self_cure"].to_numpy(),
            qualifying_amount=np.minimum(rows["amount_overdue"], rows["installment_amount"]).to_numpy(),
            amount_at_stake=valued["amount_at_stake"].to_numpy(),
        ).reset_index(drop=True)

    def _valued(self, sim, pairs, features, tables) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The model rows of today's lawful pairs and the night's own valuation of them (amount
        at stake, repeat-contact discount); both empty when no pair has a model row."""
        index = pd.Index(loan_ids(sim.population.n_loans))
        pairs = pairs.assign(loan_id=index[pairs["loan_index"].to_numpy()])
        rows = option_rows(
            features,
            pairs[["loan_id", "channel"]],
            channel_history(tables["interactions"], tables["payments"], self.rules.cutoff(sim)),
        )
        if rows.empty:
            return rows, rows
        valued = response_options(
            rows,
            self.model.uplift(rows),
            payment_share=self.payment_share,
            repeat_contact_discount=self.settings.repeat_contact_discount,
        )
        return rows, valued


@dataclass(frozen=True)
class DayPlan:
    """What a policy does on one day: its contacts, the offers they carry, the loans it refers."""

    contacts: Contacts
    offers: Offers | None = None
    referrals: np.ndarray | None = None


class EngineTreatmentPolicy(EnginePolicy):
    """The engine with treatments beyond the next contact (scoring/treatments.py), as the night
    runs them: the same valued options, then each candidate's treatment; referred, traced and
    arranged loans leave the allocation; the contacts carry their offers (plan, deferment,
    settlement) and the referred loans go to the simulator's agency. Acceptance is learnt once,
    from the history the policy starts from (the book's arrangements table)."""

    def __init__(
        self,
        rules,
        settings,
        channel_model,
        treatments: TreatmentSettings,
        name="engine_with_treatments",
        payment_share=None,
    ):
        super().__init__(rules, settings, channel_model, name=name, payment_share=payment_share)
        self.treatments = treatments
        self.acceptance: AcceptanceModels | None = None

    def select_contacts(self, sim: LoanBookSimulator) -> Contacts:
        return self.select_day(sim).contacts

    def select_day(self, sim: LoanBookSimulator) -> DayPlan:
        pairs = lawful_pairs(sim, self.rules, with_control=self.keeps_own_control())
        if pairs.empty:
            return DayPlan(Contacts.empty())
        features, tables = _features_today(sim, self.rules)
        _, options = self._valued(sim, pairs, features, tables)
        if options.empty:
            return DayPlan(Contacts.empty())
        cutoff = self.rules.cutoff(sim)
        if self.acceptance is None:
            self.acceptance = fit_acceptance(
                offer_rows(tables, cutoff),
                plan_prior=self.treatments.plan_prior,
                settlement_prior=self.treatments.settlement_prior,
                min_offers=self.treatments.min_offers,
            )
        candidates = features[features["loan_id"].isin(options["loan_id"])]
        plan = choose_treatments(
            candidates,
            options,
            arrangements_in_force(tables, cutoff),
            trace_signals(tables["interactions"], candidates, cutoff, self.treatments),
            self.acceptance,
            self.treatments,
        )
        options = options[~options["loan_id"].isin(plan.out_of_contact())].assign(resource=options["channel"])
        date = pd.Timestamp(sim.date).date()
        choice = allocate(options, dict(self.rules.capacity), self.settings, as_of=date)
        work = choice.assignments[choice.assignments["within_capacity"]]
        index = pd.Index(loan_ids(sim.population.n_loans))
        contacts = _contacts(
            pd.DataFrame(
                {"loan_index": index.get_indexer(work["loan_id"]), "channel": work["channel"].to_numpy()}
            )
        )
        chosen = plan.frame.reindex(work["loan_id"])
        referred = plan.frame.index[plan.frame["treatment"] == "referral"]
        return DayPlan(
            contacts, simulator_offers(chosen, index), index.get_indexer(referred).astype(np.int64)
        )


def simulator_offers(chosen: pd.DataFrame, index: pd.Index) -> Offers:
    """The simulator's offers for the contacted loans of ``chosen`` (indexed by loan_id, with the
    queue's treatment columns) whose treatment is an offer; ``index`` maps loan ids to the
    simulator's loan indices."""
    loans = index.get_indexer(chosen.index)
    cents = np.round(chosen["offer_instalment"].astype("float64").fillna(0.0).to_numpy() * 100.0).astype(
        np.int64
    )
    parts = []
    plan = (chosen["treatment"] == "payment_plan").to_numpy()
    if plan.any():
        n = chosen["offer_n_instalments"].astype("float64").to_numpy()[plan].astype(np.int32)
        parts.append(Offers.plans(loans[plan], cents[plan], n))
    settle = (chosen["treatment"] == "settlement").to_numpy()
    if settle.any():
        discount = chosen["offer_discount"].astype("float64").to_numpy()[settle]
        parts.append(Offers.settlements(loans[settle], cents[settle], discount))
    defer = (chosen["treatment"] == "deferment").to_numpy()
    if defer.any():
        days = chosen["offer_holiday_days"].astype("float64").to_numpy()[defer].astype(np.int32)
        parts.append(Offers.deferments(loans[defer], days))
    return Offers.concat(parts)


class OraclePolicy(DecisionPolicy):
    """Knows the simulator's truth: Monte-Carlo P(pay within the window) per channel and without
    contact for every lawful loan, replayed with the borrowers' own behaviour parameters.

    ``own_contact_traits=False`` makes the *state oracle*: the same truth of the book's state and
    of every borrower's ability and willingness, but each replicate answers contact like a random
    borrower of the book (reachability, responsiveness, wrong number). It is the most a policy can
    do without learning how each borrower responds to contact, which the engine must infer from
    a few past attempts."""

    def __init__(
        self,
        rules: EvaluationRules,
        settings: AllocationSettings,
        replicates: int,
        seed: int,
        *,
        own_contact_traits: bool = True,
    ):
        super().__init__(
            rules=rules, settings=settings, name="oracle" if own_contact_traits else "state_oracle"
        )
        self.replicates = replicates
        self.seed = np.random.SeedSequence(seed)
        self.own_contact_traits = own_contact_traits

    def options(self, sim, pairs):
        loans = np.unique(pairs["loan_index"].to_numpy())
        (child,) = self.seed.spawn(1)
        p_none, p_contact = estimate_pay_probabilities(
            sim,
            loans,
            self.rules.response_window_days,
            self.replicates,
            child,
            own_contact_traits=self.own_contact_traits,
        )
        position = pd.Series(np.arange(len(loans)), index=loans)
        row = position.reindex(pairs["loan_index"]).to_numpy()
        code = pairs["channel"].map({c: i for i, c in enumerate(CHANNELS)}).to_numpy()
        overdue = sim.amount_overdue_cents()[pairs["loan_index"].to_numpy()] / 100.0
        index = pd.Index(loan_ids(sim.population.n_loans))
        installment = sim.population.loans.installment_cents[pairs["loan_index"].to_numpy()] / 100.0
        return pd.DataFrame(
            {
                "loan_id": index[pairs["loan_index"].to_numpy()],
                "channel": pairs["channel"].to_numpy(),
                "p_contact": p_contact[row, code],
                "p_self_cure": p_none[row],
                "amount_overdue": overdue,
                "qualifying_amount": np.minimum(overdue, installment),
            }
        )


__all__ = [
    "EnginePolicy",
    "EvaluationRules",
    "ExpectedRecoveryPolicy",
    "LargestBalancePolicy",
    "OldestDuePolicy",
    "OraclePolicy",
    "RandomPolicy",
    "lawful_pairs",
]
