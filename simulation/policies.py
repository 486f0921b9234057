"""Contact policies that drive the simulator.

``HistoricalPolicy`` reproduces the lender's legacy rule book. It is
deliberately *not* random: reminders go to early delinquents, the dialler works
the worst accounts first and field agents visit deep, large balances. Contacted
loans are therefore worse than uncontacted ones, and a model that reads
"contacted -> paid less" as a causal effect is fooled, as in a real book.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.catalog import CALL, CHANNELS, EMAIL, FIELD_VISIT, LETTER, SMS, WHATSAPP
from simulation.config import SimulationConfig
from simulation.engine import Contacts, LoanBookSimulator, Offers, SimulationSeeds

SUNDAY, SATURDAY = 6, 5


@dataclass(frozen=True)
class DailyCapacity:
    """Maximum number of outbound contacts per channel on one day."""

    call: int
    sms: int
    email: int
    whatsapp: int
    field_visit: int
    letter: int

    def for_channel(self, channel: int) -> int:
        return getattr(self, CHANNELS[channel])

    @classmethod
    def for_day(cls, config: SimulationConfig, n_active_loans: int, weekday: int) -> DailyCapacity:
        """The historical operation's capacity: proportional to the active book, smaller at weekends."""
        call_factor = 0.0 if weekday == SUNDAY else 0.4 if weekday == SATURDAY else 1.0
        office_factor = 0.0 if weekday == SUNDAY else 1.0
        message_factor = 0.6 if weekday == SUNDAY else 1.0

        def share(value: float, factor: float) -> int:
            return int(round(value * n_active_loans * factor))

        return cls(
            call=share(config.call_capacity_share, call_factor),
            sms=share(config.sms_capacity_share, message_factor),
            email=share(config.email_capacity_share, message_factor),
            whatsapp=share(config.whatsapp_capacity_share, message_factor),
            field_visit=share(config.field_visit_capacity_share, office_factor),
            letter=share(config.letter_capacity_share, office_factor),
        )


def top_k(candidates: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` candidates with the highest score (all of them if there are fewer)."""
    if k <= 0 or not candidates.size:
        return candidates[:0]
    if candidates.size <= k:
        return candidates
    best = np.argpartition(-score, k - 1)[:k]
    return candidates[best]


def days_in(days_past_due: np.ndarray, schedule: tuple[int, ...]) -> np.ndarray:
    """Vectorised ``days_past_due in schedule`` through a lookup table (faster than np.isin)."""
    table = np.zeros(max(schedule) + 2, dtype=bool)
    table[list(schedule)] = True
    return table[np.minimum(days_past_due, len(table) - 1)]


class NoContactPolicy:
    """Never contacts anybody; the counterfactual baseline."""

    def select_contacts(self, simulator: LoanBookSimulator) -> Contacts:
        return Contacts.empty()


class HistoricalPolicy:
    """The legacy rule-based contact strategy whose traces fill the interactions table.

    * SMS / e-mail / WhatsApp reminders at fixed days past due early in delinquency;
    * letters at 30/60/90 days past due;
    * calls to loans at least ``call_min_dpd`` past due, ordered by a noisy score of
      days past due and balance, skipping loans with an open promise or a recent
      right-party contact;
    * field visits for deep delinquency with large balances.

    It never contacts do_not_contact borrowers or loans under cease-and-desist,
    bankruptcy, deceased, legal hold or an open dispute, honours consents,
    phone/e-mail availability and do_not_visit, and skips hardship plans except
    for a small daily leak (``hardship_contact_leak``). Loans with an arrangement in
    force are left to it, and referred loans are the agency's.

    With ``arrangements_in_history`` it also makes offers on its calls and visits
    (:meth:`select_offers`, from a generator of its own): plans to loans
    ``history_plan_min_dpd``-``history_plan_max_dpd`` days past due, settlements at a
    random discount to later ones.
    """

    SMS_DPD = (1, 4, 8, 15, 22)
    EMAIL_DPD = (2, 10, 25, 40)
    WHATSAPP_DPD = (5, 12, 20, 35)
    # Two-day windows so that a letter due on a Sunday goes out on Monday.
    LETTER_DPD = (30, 31, 60, 61, 90, 91)

    def __init__(
        self,
        config: SimulationConfig,
        rng: np.random.Generator | None = None,
        *,
        offer_rng: np.random.Generator | None = None,
    ) -> None:
        self.config = config
        seeds = SimulationSeeds.from_seed(config.seed)
        self.rng = rng if rng is not None else np.random.default_rng(seeds.policy)
        # Offers draw from a generator of their own: the contacts chosen stay those of a
        # history without offers, draw for draw.
        self.offer_rng = offer_rng if offer_rng is not None else np.random.default_rng(seeds.offers)

    def capacity(self, simulator: LoanBookSimulator) -> DailyCapacity:
        """Today's capacity of the historical operation."""
        return DailyCapacity.for_day(self.config, int(simulator.active_mask().sum()), simulator.weekday)

    def select_contacts(self, simulator: LoanBookSimulator) -> Contacts:
        cfg = self.config
        t = simulator.day
        n = simulator.population.n_loans
        capacity = self.capacity(simulator)
        dpd = simulator.days_past_due()
        blocked = simulator.contact_blocked()
        last = simulator.last_contact_day()
        in_hardship = np.flatnonzero(simulator.in_hardship())
        skipped_hardship = np.zeros(n, dtype=bool)
        skipped_hardship[in_hardship] = self.rng.random(in_hardship.size) >= cfg.hardship_contact_leak
        workable = simulator.overdue_mask() & ~skipped_hardship & ~simulator.in_arrangement()
        overdue_usd = simulator.amount_overdue_cents() / 100.0
        balance_usd = simulator.outstanding_balance_cents() / 100.0
        no_open_promise = ~simulator.has_open_promise()
        weekday = simulator.weekday

        chosen: list[Contacts] = []

        def reminders(channel: int, schedule: tuple[int, ...], k: int) -> None:
            eligible = (
                workable
                & simulator.contactable(channel, blocked)
                & days_in(dpd, schedule)
                & (t - last[:, channel] >= 2)
            )
            candidates = np.flatnonzero(eligible)
            # Over capacity, the earliest delinquencies are reminded first.
            picked = top_k(candidates, -dpd[candidates].astype(float), k)
            chosen.append(Contacts.single_channel(picked, channel))

        reminders(SMS, self.SMS_DPD, capacity.sms)
        reminders(EMAIL, self.EMAIL_DPD, capacity.email)
        reminders(WHATSAPP, self.WHATSAPP_DPD, capacity.whatsapp)
        if weekday != SUNDAY:
            letters = (
                workable
                & simulator.contactable(LETTER, blocked)
                & days_in(dpd, self.LETTER_DPD)
                & (t - last[:, LETTER] >= 15)
            )
            candidates = np.flatnonzero(letters)
            chosen.append(
                Contacts.single_channel(
                    top_k(candidates, dpd[candidates].astype(float), capacity.letter), LETTER
                )
            )

        callable_ = (
            workable
            & simulator.contactable(CALL, blocked)
            & (dpd >= cfg.call_min_dpd)
            & no_open_promise
            & (t - last[:, CALL] >= 2)
            & (t - simulator.last_right_party_contact_day() >= 5)
        )
        candidates = np.flatnonzero(callable_)
        score = (
            np.minimum(dpd[candidates], 180) / 30.0
            + 0.5 * np.log10(1.0 + overdue_usd[candidates])
            + 0.25 * np.log10(1.0 + balance_usd[candidates])
            + self.rng.standard_normal(candidates.size) * cfg.call_score_noise
        )
        chosen.append(Contacts.single_channel(top_k(candidates, score, capacity.call), CALL))

        visitable = (
            workable
            & simulator.contactable(FIELD_VISIT, blocked)
            & (dpd >= cfg.field_visit_min_dpd)
            & (balance_usd >= cfg.field_visit_min_balance)
            & no_open_promise
            & (t - last[:, FIELD_VISIT] >= 30)
        )
        candidates = np.flatnonzero(visitable)
        score = (
            np.log10(balance_usd[candidates])
            + dpd[candidates] / 90.0
            + self.rng.standard_normal(candidates.size) * 0.3
        )
        chosen.append(Contacts.single_channel(top_k(candidates, score, capacity.field_visit), FIELD_VISIT))
        return Contacts.concat(chosen)

    def select_offers(self, simulator: LoanBookSimulator, contacts: Contacts) -> Offers | None:
        """The old rule book's offers on today's calls and visits (put only where the borrower
        is reached): a plan to a share of the loans ``history_plan_min_dpd`` to
        ``history_plan_max_dpd`` days past due (instalment: the arrears over a term drawn from
        ``history_plan_terms``), a settlement to a share of the later ones at a discount drawn
        uniformly (randomised, so the history shows how acceptance rises with the discount)."""
        cfg = self.config
        if not cfg.arrangements_in_history or not len(contacts):
            return None
        talks = np.isin(contacts.channel, (CALL, FIELD_VISIT))
        loans = np.unique(contacts.loan_index[talks])
        loans = loans[~simulator.in_arrangement()[loans]]
        dpd = simulator.days_past_due()[loans]
        u = self.offer_rng.random(loans.size)
        in_plan_band = (dpd >= cfg.history_plan_min_dpd) & (dpd <= cfg.history_plan_max_dpd)
        plan = loans[in_plan_band & (u < cfg.history_plan_share)]
        settle = loans[(dpd > cfg.history_plan_max_dpd) & (u < cfg.history_settlement_share)]
        terms = self.offer_rng.choice(np.asarray(cfg.history_plan_terms, dtype=np.int32), plan.size)
        instalment = -(
            -simulator.amount_overdue_cents()[plan] // terms
        )  # ceiling: the term clears the arrears
        discount = self.offer_rng.uniform(
            cfg.history_settlement_discount_min, cfg.history_settlement_discount_max, settle.size
        )
        balance = simulator.outstanding_balance_cents()[settle]
        amount = np.maximum(np.round(balance * (1.0 - discount)), 1).astype(np.int64)
        return Offers.concat(
            [
                Offers.plans(plan, np.maximum(instalment, 1), terms),
                Offers.settlements(settle, amount, discount),
            ]
        )
