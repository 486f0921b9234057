"""Stepping simulator of a collections book.

``LoanBookSimulator`` holds vectorised state for every loan and borrower and
advances one calendar day at a time: a policy looks at the state at the start of
the day and returns that day's outbound contacts; ``step`` then resolves
contacts, borrower decisions, payments and account flags, and returns the day's
events.

Day semantics: ``simulator.day = t`` means "start of day t". Installments with a
due day < t are due; payments logged on days < t are counted. Every event of day
t happens on local calendar date t in the borrower's time zone and is stamped with
its true UTC instant (see ``book``); the tables cut at day t hold the events of days
< t, whatever their UTC date, so the state at the start of day t is exactly what
they contain.

Randomness: every borrower decision reads a uniform that is a pure function of
(behaviour seed, day, decision, loan) -- counter-based "luck" (``luck_uniforms``).
Two policies run from the same snapshot therefore face the same borrower luck
(common random numbers); differences in outcomes come from the contacts, not from
reshuffled noise. Policies own separate generators, and presentation details
(time of day, payment method, agent) come from a third stream.

Treatments beyond contact (issue 28): ``step`` also takes the day's ``Offers`` (a payment plan,
a settlement, a deferment) and ``referrals`` to an external agency. An offer is put only to a
borrower reached by a contact that same day; whether it is accepted and kept is truth driven by
the borrower's latent traits. Their decisions read a luck stream of their own (a salt on the
behaviour stream), so a day without offers or referrals draws exactly what it drew before.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from simulation import catalog
from simulation.catalog import (
    AGENCY_PAYMENT,
    ARRANGEMENT_BROKEN,
    ARRANGEMENT_COMPLETED,
    BANKRUPTCY,
    CALL,
    CEASE_AND_DESIST,
    DECEASED,
    DEFERMENT_ENDED,
    DELIVERED,
    DIRECT_DEBIT,
    DISPUTE,
    DISPUTE_RAISED,
    DO_NOT_VISIT,
    EMAIL,
    FIELD_VISIT,
    HARDSHIP_PLAN,
    INBOUND,
    INSTALMENT_KEPT,
    INSTALMENT_PAYMENT,
    LEGAL_HOLD,
    N_CHANNELS,
    NO_ANSWER,
    NO_ARRANGEMENT,
    OFFER_ACCEPTED,
    OFFER_DECLINED,
    OFFER_DEFERMENT,
    OFFER_IN_ARRANGEMENT,
    OFFER_KINDS,
    OFFER_NOT_CONTACTED,
    OFFER_NOT_REACHED,
    OFFER_PLAN,
    OFFER_SETTLEMENT,
    OPTED_OUT,
    OUTBOUND,
    PROMISE_TO_PAY,
    REFUSED,
    RIGHT_PARTY_CONTACT,
    SETTLEMENT_PAID,
    SETTLEMENT_PAYMENT,
    SMS,
    UNDELIVERED,
    VULNERABLE,
    WHATSAPP,
    WRONG_PARTY,
)
from simulation.config import SimulationConfig
from simulation.population import NEVER_DUE_DAY, Population, _ArrayBundle, generate_population, sigmoid

NO_DAY = -1
NEVER = int(NEVER_DUE_DAY)  # "flag never ends"
LONG_AGO = -(10**6)
NEVER_PAY_PENALTY = 8.0  # log-odds: first-payment defaulters pay with probability ~0

# Decision rows of the luck function. Each decision has its own row so that a
# decision taken under one policy never shifts the noise of another decision.
(
    U_ONTIME,
    U_ONTIME_OFFSET,
    U_HAZARD,
    U_PAY_DELAY,
    U_AMOUNT_KIND,
    U_AMOUNT_FRACTION,
    U_INBOUND,
    U_INBOUND_OUTCOME,
    U_REACH_CALL,
    U_REACH_SMS,
    U_REACH_EMAIL,
    U_REACH_WHATSAPP,
    U_REACH_FIELD_VISIT,
    U_REACH_LETTER,
    U_CONTACT_SECONDARY,
    U_RPC_OUTCOME,
    U_PROMISE_AMOUNT,
    U_PROMISE_DAYS,
    U_PROMISE_KEEP,
    U_PROMISE_PAY_DAY,
    U_HARDSHIP,
    U_HARDSHIP_DURATION,
    U_DISPUTE_DURATION,
    U_CEASE_AND_DESIST,
    U_BANKRUPTCY,
    U_LEGAL_HOLD,
    U_LEGAL_HOLD_DURATION,
    U_ONTIME_SLIP,
) = range(28)
N_LOAN_LUCK = 28
U_REACH = U_REACH_CALL  # + channel code
# Borrower-level decisions live in their own block of rows.
U_SHOCK_ONSET, U_SHOCK_DURATION, U_DECEASED = range(N_LOAN_LUCK, N_LOAN_LUCK + 3)
N_LUCK_ROWS = N_LOAN_LUCK + 3

# Decision rows of the treatments' own luck stream. Adding rows above would renumber every
# existing draw (the row count is part of each key), so offers, arrangements and referrals read
# a second stream: a run without them draws exactly what it drew before. Rows stay below
# N_LUCK_ROWS so no two (day, row) pairs share a key.
(
    T_ACCEPT,
    T_FIRST_INSTALMENT,
    T_KEEP_INSTALMENT,
    T_SETTLEMENT_PAYS,
    T_SETTLEMENT_DAY,
    T_DEFERMENT_CURE,
    T_DEFERMENT_CURE_DAY,
    T_AGENCY_RECOVERS,
    T_AGENCY_SHARE,
    T_AGENCY_PAYMENTS,
    T_AGENCY_FIRST_DAY,
) = range(11)
_TREATMENT_STREAM_SALT = 0x7EA7_3E47_0FFE_25A1
# Right-party outcomes in which an offer can be put (a borrower raising a dispute is not offered
# terms on the debt they dispute), and message outcomes that reach the borrower in writing.
_CONVERSATION_OUTCOMES = np.array([RIGHT_PARTY_CONTACT, PROMISE_TO_PAY, REFUSED], dtype=np.int8)
_WRITTEN_REACH_OUTCOMES = np.array([DELIVERED, RIGHT_PARTY_CONTACT], dtype=np.int8)
# A refusal in the same conversation makes an offer much less likely to be taken; a borrower
# who never meant to repay (first-payment default, fraud) seldom agrees to new terms either.
REFUSAL_ACCEPT_PENALTY = 1.5
NEVER_PAY_ACCEPT_PENALTY = 2.0
MAX_DEFERMENT_DAYS = 366

_MASK64 = (1 << 64) - 1
_UNIT_MULTIPLIER = np.uint64(0xD1B54A32D192ED03)  # odd: a bijection of unit ids mod 2**64


def _mix64(value: int) -> int:
    """splitmix64 finaliser on a Python int (no numpy scalar overflow warnings)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def luck_uniforms(stream_key: int, day: int, row: int, unit: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) draws that are a pure function of (stream, day, decision row, luck unit).

    Counter-based "luck": a loan's draw for a decision on a day does not depend on
    which other loans were drawn for, or in which order, so every policy faces the
    same borrower luck, and only the loans a decision concerns pay for hashing.
    """
    key = np.uint64(_mix64(stream_key ^ _mix64(day * N_LUCK_ROWS + row)))
    x = np.asarray(unit, dtype=np.uint64) * _UNIT_MULTIPLIER + key  # wraps modulo 2**64
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


# What a planned payment will pay when it executes (computed from the state on
# that day, so a delayed "pay everything overdue" also covers a new installment).
PLAN_SCHEDULED, PLAN_FULL, PLAN_ONE_INSTALLMENT, PLAN_PARTIAL, PLAN_PROMISE = range(5)
_PLAN_TO_PAYMENT_KIND = np.array(
    [
        catalog.SCHEDULED_PAYMENT,
        catalog.OVERDUE_PAYMENT,
        catalog.OVERDUE_PAYMENT,
        catalog.OVERDUE_PAYMENT,
        catalog.PROMISE_PAYMENT,
    ],
    dtype=np.int8,
)
# Early-payment offsets (days before the due date) of borrowers who pay on time.
_EARLY_OFFSET_CDF = np.array([0.45, 0.65, 0.78, 0.88, 0.95, 1.0])


@dataclass(frozen=True)
class SimulationSeeds:
    """Independent seed sequences of one book, spawned in a fixed order from the master seed."""

    population: np.random.SeedSequence
    behaviour: np.random.SeedSequence
    policy: np.random.SeedSequence
    presentation: np.random.SeedSequence
    truth: np.random.SeedSequence
    # Spawned sixth, so the five streams above are the ones they always were.
    offers: np.random.SeedSequence

    @classmethod
    def from_seed(cls, seed: int) -> SimulationSeeds:
        return cls(*np.random.SeedSequence(seed).spawn(6))


@dataclass(frozen=True)
class Contacts:
    """Outbound contacts of one day: parallel arrays of loan indices and channel codes.

    ``lawful_hours`` (one flag for all, or one per contact) marks contacts made by a dialer
    that keeps the lawful 08:00-21:00 local window, such as the engine's queue: they are
    always logged inside it. Other contacts (the lender's old rule book) are logged outside
    it now and then (``outside_hours_share``), as in messy real data. Presentation only: the
    flag never changes what the borrower does.
    """

    loan_index: np.ndarray
    channel: np.ndarray
    lawful_hours: bool | np.ndarray = False

    @classmethod
    def empty(cls) -> Contacts:
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int8))

    @classmethod
    def single_channel(cls, loan_index: np.ndarray, channel: int, *, lawful_hours: bool = False) -> Contacts:
        loan_index = np.asarray(loan_index, dtype=np.int64)
        return cls(loan_index, np.full(len(loan_index), channel, dtype=np.int8), lawful_hours)

    @classmethod
    def concat(cls, parts: list[Contacts]) -> Contacts:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.loan_index for p in parts]).astype(np.int64),
            np.concatenate([p.channel for p in parts]).astype(np.int8),
            np.concatenate([p.lawful_hours_mask() for p in parts]),
        )

    def lawful_hours_mask(self) -> np.ndarray:
        """Per contact: is it kept inside 08:00-21:00 local?"""
        return np.broadcast_to(np.asarray(self.lawful_hours, dtype=bool), (len(self),)).copy()

    def __len__(self) -> int:
        return len(self.loan_index)


_OFFER_DTYPES = {
    "loan_index": np.int64,
    "kind": np.int8,
    "amount_cents": np.int64,
    "n_instalments": np.int32,
    "discount": np.float64,
}


@dataclass(frozen=True)
class Offers:
    """Offers of one day, at most one per loan: parallel arrays (scalars are broadcast).

    * ``kind``: ``catalog.OFFER_PLAN``, ``OFFER_SETTLEMENT`` or ``OFFER_DEFERMENT``;
    * ``amount_cents``: a plan's instalment; the amount a settlement accepts as one payment;
      0 for a deferment;
    * ``n_instalments``: a plan's number of instalments (one every ``plan_interval_days``); a
      deferment's holiday in days; 1 for a settlement;
    * ``discount``: the share of the balance a settlement forgives (recorded in the
      ``arrangements`` table); 0 otherwise. The borrower weighs the amount asked against the
      balance owed that day, so ``amount_cents`` is what counts.

    An offer is put to the borrower only when a contact of the same day reached them (see
    :meth:`LoanBookSimulator.step`).
    """

    loan_index: np.ndarray
    kind: np.ndarray
    amount_cents: np.ndarray
    n_instalments: np.ndarray
    discount: np.ndarray

    def __post_init__(self) -> None:
        n = np.asarray(self.loan_index).size
        for name, dtype in _OFFER_DTYPES.items():
            value = np.asarray(getattr(self, name), dtype=dtype)
            object.__setattr__(self, name, np.broadcast_to(value, (n,)).copy() if value.ndim == 0 else value)

    @classmethod
    def empty(cls) -> Offers:
        return cls(*(np.empty(0, dtype=dtype) for dtype in _OFFER_DTYPES.values()))

    @classmethod
    def plans(cls, loan_index: np.ndarray, instalment_cents: np.ndarray, n_instalments: np.ndarray) -> Offers:
        """Payment plans: ``n_instalments`` monthly instalments of ``instalment_cents``."""
        return cls(loan_index, OFFER_PLAN, instalment_cents, n_instalments, 0.0)

    @classmethod
    def settlements(cls, loan_index: np.ndarray, amount_cents: np.ndarray, discount: np.ndarray) -> Offers:
        """Settlements: the debt closed for one payment of ``amount_cents``."""
        return cls(loan_index, OFFER_SETTLEMENT, amount_cents, 1, discount)

    @classmethod
    def deferments(cls, loan_index: np.ndarray, days: np.ndarray | int) -> Offers:
        """Payment holidays of ``days`` days."""
        return cls(loan_index, OFFER_DEFERMENT, 0, days, 0.0)

    @classmethod
    def concat(cls, parts: list[Offers]) -> Offers:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in _OFFER_DTYPES))

    def __len__(self) -> int:
        return len(self.loan_index)


class ContactPolicy(Protocol):
    """Anything that chooses a day's outbound contacts from the simulator state."""

    def select_contacts(self, simulator: LoanBookSimulator) -> Contacts: ...


class OfferPolicy(ContactPolicy, Protocol):
    """A contact policy that also makes offers on its contacts (``LoanBookSimulator.run`` asks
    for them after the contacts, before the day is simulated)."""

    def select_offers(self, simulator: LoanBookSimulator, contacts: Contacts) -> Offers | None: ...


def _empty_fields(fields: dict) -> dict[str, np.ndarray]:
    return {name: np.empty(0, dtype=dtype) for name, dtype in fields.items()}


@dataclass
class DayEvents:
    """Events of one simulated day, as parallel arrays (engine codes, money in cents).

    ``u_*`` arrays are presentation draws (time of day, payment method, agent)
    turned into table values by ``simulation.book``; they never feed back into
    behaviour. ``interactions["lawful_hours"]`` marks outbound contacts whose dialer
    keeps 08:00-21:00 local (``Contacts.lawful_hours``); it is False for inbound calls,
    whose hours the borrower chooses (see ``book``).

    ``payments["kind"]`` says why money came (``catalog.PAYMENT_KINDS``): ``INSTALMENT_PAYMENT``
    (a plan's instalment), ``SETTLEMENT_PAYMENT`` and ``AGENCY_PAYMENT`` (collected by the agency,
    gross) besides the ordinary kinds. ``offers`` holds every offer of the day with its
    ``outcome`` (``catalog.OFFER_OUTCOMES``; the first three were never put to the borrower),
    the ``channel`` that put it (-1 if none) and ``p_accept``, the true probability that the
    borrower accepts it as put (NaN when not put). ``arrangements`` holds what happened to
    accepted arrangements (``catalog.ARRANGEMENT_EVENTS``), keyed by loan and ``offered_day``;
    ``referrals`` the loans handed to the agency.
    """

    day: int
    payments: dict[str, np.ndarray]
    interactions: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]
    offers: dict[str, np.ndarray] = field(default_factory=lambda: _empty_fields(_OFFER_FIELDS))
    arrangements: dict[str, np.ndarray] = field(default_factory=lambda: _empty_fields(_ARRANGEMENT_FIELDS))
    referrals: dict[str, np.ndarray] = field(default_factory=lambda: _empty_fields(_REFERRAL_FIELDS))

    @property
    def offers_not_presented(self) -> int:
        """Offers never put to the borrower: no contact today, not reached, already arranged."""
        return int((self.offers["outcome"] < OFFER_DECLINED).sum())

    @property
    def written_off_cents(self) -> int:
        """Balance forgiven by the settlements paid today."""
        return int(self.arrangements["written_off_cents"].sum())

    @property
    def agency_cents(self) -> int:
        """Money the agency collected today (gross of its commission)."""
        return int(self.payments["amount_cents"][self.payments["kind"] == AGENCY_PAYMENT].sum())


_PAYMENT_FIELDS = {
    "loan_index": np.int64,
    "day": np.int32,
    "amount_cents": np.int64,
    "kind": np.int8,
    "u_time": np.float64,
    "u_method": np.float64,
}
_INTERACTION_FIELDS = {
    "loan_index": np.int64,
    "day": np.int32,
    "channel": np.int8,
    "direction": np.int8,
    "outcome": np.int8,
    "promised_cents": np.int64,
    "promised_day": np.int32,
    "u_time": np.float64,
    "u_agent": np.float64,
    "u_outside": np.float64,
    "lawful_hours": bool,
}
_FLAG_FIELDS = {"loan_index": np.int64, "flag": np.int8, "start_day": np.int32, "end_day": np.int32}
_OFFER_FIELDS = {
    "loan_index": np.int64,
    "day": np.int32,
    "kind": np.int8,
    "amount_cents": np.int64,
    "n_instalments": np.int32,
    "discount": np.float64,
    "outcome": np.int8,
    "channel": np.int8,
    "p_accept": np.float64,
}
_ARRANGEMENT_FIELDS = {
    "loan_index": np.int64,
    "day": np.int32,
    "kind": np.int8,
    "offered_day": np.int32,
    "event": np.int8,
    "amount_cents": np.int64,
    "written_off_cents": np.int64,
}
_REFERRAL_FIELDS = {
    "loan_index": np.int64,
    "day": np.int32,
    "balance_cents": np.int64,
    "days_past_due": np.int32,
}


class _DayBuffer:
    """Collects event chunks during a step; concatenated once at the end of the day."""

    def __init__(self, day: int) -> None:
        self.day = day
        self.payments: list[tuple] = []
        self.interactions: list[tuple] = []
        self.flags: list[tuple] = []
        self.offers: list[tuple] = []
        self.arrangements: list[tuple] = []
        self.referrals: list[tuple] = []

    def add_payments(self, loans: np.ndarray, cents: np.ndarray, kind: np.ndarray) -> None:
        if len(loans):
            self.payments.append((loans, cents, kind))

    def add_interactions(
        self,
        loans: np.ndarray,
        channel: int | np.ndarray,
        direction: int,
        outcome: np.ndarray,
        promised_cents: np.ndarray | None = None,
        promised_day: np.ndarray | None = None,
        lawful_hours: bool | np.ndarray = False,
    ) -> None:
        n = len(loans)
        if not n:
            return
        if promised_cents is None:
            promised_cents = np.full(n, -1, dtype=np.int64)
            promised_day = np.full(n, NO_DAY, dtype=np.int32)
        self.interactions.append(
            (
                loans,
                np.broadcast_to(np.asarray(channel, dtype=np.int8), (n,)),
                np.full(n, direction, np.int8),
                outcome,
                promised_cents,
                promised_day,
                np.broadcast_to(np.asarray(lawful_hours, dtype=bool), (n,)),
            )
        )

    def add_flags(self, loans: np.ndarray, flag: int, start_day: int, end_day: np.ndarray | int) -> None:
        n = len(loans)
        if n:
            self.flags.append(
                (
                    loans,
                    np.full(n, flag, np.int8),
                    np.full(n, start_day, np.int32),
                    np.broadcast_to(np.asarray(end_day, dtype=np.int32), (n,)),
                )
            )

    def add_offers(
        self, offers: Offers, outcome: np.ndarray, channel: np.ndarray, p_accept: np.ndarray
    ) -> None:
        if len(offers):
            self.offers.append(
                (
                    offers.loan_index,
                    offers.kind,
                    offers.amount_cents,
                    offers.n_instalments,
                    offers.discount,
                    outcome,
                    channel,
                    p_accept,
                )
            )

    def add_arrangement_events(
        self,
        loans: np.ndarray,
        kind: np.ndarray,
        offered_day: np.ndarray,
        event: int,
        amount_cents: np.ndarray | int = 0,
        written_off_cents: np.ndarray | int = 0,
    ) -> None:
        n = len(loans)
        if n:
            self.arrangements.append(
                (
                    loans,
                    kind,
                    offered_day,
                    np.full(n, event, np.int8),
                    np.broadcast_to(np.asarray(amount_cents, dtype=np.int64), (n,)),
                    np.broadcast_to(np.asarray(written_off_cents, dtype=np.int64), (n,)),
                )
            )

    def add_referrals(self, loans: np.ndarray, balance_cents: np.ndarray, days_past_due: np.ndarray) -> None:
        if len(loans):
            self.referrals.append((loans, balance_cents, days_past_due))

    def _treatment_events(self) -> dict[str, dict[str, np.ndarray]]:
        """The day's offers, arrangement events and referrals (no presentation draws)."""
        parts = {
            "offers": (
                self.offers,
                (
                    "loan_index",
                    "kind",
                    "amount_cents",
                    "n_instalments",
                    "discount",
                    "outcome",
                    "channel",
                    "p_accept",
                ),
                _OFFER_FIELDS,
            ),
            "arrangements": (
                self.arrangements,
                ("loan_index", "kind", "offered_day", "event", "amount_cents", "written_off_cents"),
                _ARRANGEMENT_FIELDS,
            ),
            "referrals": (self.referrals, ("loan_index", "balance_cents", "days_past_due"), _REFERRAL_FIELDS),
        }
        out = {}
        for part, (chunks, names, dtypes) in parts.items():
            stacked = _stack(chunks, names, dtypes)
            stacked["day"] = np.full(len(stacked["loan_index"]), self.day, np.int32)
            out[part] = stacked
        return out

    def finish(self, presentation_rng: np.random.Generator | None) -> DayEvents:
        payments = _stack(self.payments, ("loan_index", "amount_cents", "kind"), _PAYMENT_FIELDS)
        interactions = _stack(
            self.interactions,
            (
                "loan_index",
                "channel",
                "direction",
                "outcome",
                "promised_cents",
                "promised_day",
                "lawful_hours",
            ),
            _INTERACTION_FIELDS,
        )
        flags = _stack(self.flags, ("loan_index", "flag", "start_day", "end_day"), _FLAG_FIELDS)
        payments["day"] = np.full(len(payments["loan_index"]), self.day, np.int32)
        interactions["day"] = np.full(len(interactions["loan_index"]), self.day, np.int32)
        n_pay, n_int = len(payments["loan_index"]), len(interactions["loan_index"])
        if presentation_rng is not None:
            payments["u_time"] = presentation_rng.random(n_pay)
            payments["u_method"] = presentation_rng.random(n_pay)
            interactions["u_time"] = presentation_rng.random(n_int)
            interactions["u_agent"] = presentation_rng.random(n_int)
            interactions["u_outside"] = presentation_rng.random(n_int)
        return DayEvents(self.day, payments, interactions, flags, **self._treatment_events())


def _stack(chunks: list[tuple], names: tuple[str, ...], dtypes: dict) -> dict[str, np.ndarray]:
    if not chunks:
        return {name: np.empty(0, dtype=dtypes[name]) for name in names}
    return {
        name: np.concatenate([chunk[i] for chunk in chunks]).astype(dtypes[name], copy=False)
        for i, name in enumerate(names)
    }


class EventLog:
    """Append-only record of every simulated day's events."""

    def __init__(self) -> None:
        self.days: list[DayEvents] = []

    def append(self, events: DayEvents) -> None:
        self.days.append(events)

    def copy(self) -> EventLog:
        clone = EventLog()
        clone.days = list(self.days)  # DayEvents are never mutated after the day ends
        return clone

    def _concat(self, part: str, fields: dict) -> dict[str, np.ndarray]:
        chunks = [getattr(day, part) for day in self.days]
        return {
            name: np.concatenate([c[name] for c in chunks]).astype(dtype, copy=False)
            if chunks
            else np.empty(0, dtype=dtype)
            for name, dtype in fields.items()
        }

    def payments(self) -> dict[str, np.ndarray]:
        """All payments so far; ordinal position is the stable payment number."""
        return self._concat("payments", _PAYMENT_FIELDS)

    def interactions(self) -> dict[str, np.ndarray]:
        """All interactions so far; ordinal position is the stable interaction number."""
        return self._concat("interactions", _INTERACTION_FIELDS)

    def flags(self) -> dict[str, np.ndarray]:
        """All account-flag episodes so far (end_day is exclusive; NEVER = open-ended)."""
        return self._concat("flags", _FLAG_FIELDS)

    def offers(self) -> dict[str, np.ndarray]:
        """Every offer so far, put to the borrower or not (see ``DayEvents``)."""
        return self._concat("offers", _OFFER_FIELDS)

    def arrangement_events(self) -> dict[str, np.ndarray]:
        """What happened to accepted arrangements so far, keyed by loan and ``offered_day``."""
        return self._concat("arrangements", _ARRANGEMENT_FIELDS)

    def referrals(self) -> dict[str, np.ndarray]:
        """Every loan handed to the agency so far."""
        return self._concat("referrals", _REFERRAL_FIELDS)

    def collected_cents(self, from_day: int = 0, to_day: int | None = None) -> int:
        """Money received in days [from_day, to_day)."""
        total = 0
        for day in self.days:
            if day.day >= from_day and (to_day is None or day.day < to_day):
                total += int(day.payments["amount_cents"].sum())
        return total

    def written_off_cents(self, from_day: int = 0, to_day: int | None = None) -> int:
        """Balance forgiven by settlements paid in days [from_day, to_day)."""
        return sum(
            day.written_off_cents
            for day in self.days
            if day.day >= from_day and (to_day is None or day.day < to_day)
        )


@dataclass(frozen=True)
class LoanState(_ArrayBundle):
    """Dynamic per-loan state (arrays of length n_loans)."""

    paid_cents: np.ndarray
    n_due: np.ndarray  # installments with due day < current day
    oldest_unpaid: np.ndarray  # index of the oldest installment not fully covered by payments
    closed: np.ndarray
    contact_boost: np.ndarray  # decaying payment log-odds from recent successful contacts
    contact_load: np.ndarray  # decaying count of recent contact attempts (annoyance)
    last_contact_day: np.ndarray  # (n, channels)
    last_rpc_day: np.ndarray
    planned_day: np.ndarray  # day of a payment the borrower has decided to make, NO_DAY if none
    planned_kind: np.ndarray
    planned_value: np.ndarray  # installment index / fraction / promised cents, depending on the kind
    promise_day: np.ndarray  # promised date of the open promise, NO_DAY if none
    promise_cents: np.ndarray
    paid_at_promise_cents: np.ndarray
    n_promises: np.ndarray
    n_kept_promises: np.ndarray
    n_broken_promises: np.ndarray
    last_payment_day: np.ndarray
    dispute_until: np.ndarray  # flags are in force while day < *_until
    legal_hold_until: np.ndarray
    hardship_until: np.ndarray
    opted_out: np.ndarray  # (n, channels) bool: the borrower opted out of messages on the channel
    # The arrangement in force (catalog.OFFER_* code, NO_ARRANGEMENT if none) and its terms.
    arr_kind: np.ndarray
    arr_offered_day: np.ndarray
    arr_next_day: np.ndarray  # next plan instalment / settlement payment; NO_DAY if none will come
    arr_cents: np.ndarray  # plan instalment or settlement amount
    arr_left: np.ndarray  # plan instalments still to pay
    arr_until: np.ndarray  # deferment: first day after the holiday; settlement: the deadline
    arr_shocked: np.ndarray  # deferment: the borrower was in an income shock when accepting
    settled: np.ndarray  # closed by a paid settlement
    written_off_cents: np.ndarray  # balance a paid settlement forgave
    # Referral to the external agency: the day (NO_DAY if never) and its collections to come.
    referred_day: np.ndarray
    agency_next_day: np.ndarray
    agency_cents: np.ndarray
    agency_left: np.ndarray

    @classmethod
    def initial(cls, n: int) -> LoanState:
        def full(value, dtype, shape=(n,)):
            return np.full(shape, value, dtype=dtype)

        return cls(
            paid_cents=full(0, np.int64),
            n_due=full(0, np.int32),
            oldest_unpaid=full(0, np.int32),
            closed=full(False, bool),
            contact_boost=full(0.0, np.float64),
            contact_load=full(0.0, np.float64),
            last_contact_day=full(LONG_AGO, np.int32, (n, N_CHANNELS)),
            last_rpc_day=full(LONG_AGO, np.int32),
            planned_day=full(NO_DAY, np.int32),
            planned_kind=full(0, np.int8),
            planned_value=full(0.0, np.float64),
            promise_day=full(NO_DAY, np.int32),
            promise_cents=full(0, np.int64),
            paid_at_promise_cents=full(0, np.int64),
            n_promises=full(0, np.int32),
            n_kept_promises=full(0, np.int32),
            n_broken_promises=full(0, np.int32),
            last_payment_day=full(LONG_AGO, np.int32),
            dispute_until=full(LONG_AGO, np.int32),
            legal_hold_until=full(LONG_AGO, np.int32),
            hardship_until=full(LONG_AGO, np.int32),
            opted_out=full(False, bool, (n, N_CHANNELS)),
            arr_kind=full(NO_ARRANGEMENT, np.int8),
            arr_offered_day=full(NO_DAY, np.int32),
            arr_next_day=full(NO_DAY, np.int32),
            arr_cents=full(0, np.int64),
            arr_left=full(0, np.int32),
            arr_until=full(NO_DAY, np.int32),
            arr_shocked=full(False, bool),
            settled=full(False, bool),
            written_off_cents=full(0, np.int64),
            referred_day=full(NO_DAY, np.int32),
            agency_next_day=full(NO_DAY, np.int32),
            agency_cents=full(0, np.int64),
            agency_left=full(0, np.int32),
        )


@dataclass(frozen=True)
class BorrowerState(_ArrayBundle):
    """Dynamic per-borrower state; permanent borrower-level flags hold their start day."""

    shock_until: np.ndarray  # income shock in force while day < shock_until
    deceased_day: np.ndarray
    bankrupt_day: np.ndarray
    cease_and_desist_day: np.ndarray

    @classmethod
    def initial(cls, m: int) -> BorrowerState:
        return cls(
            shock_until=np.full(m, LONG_AGO, np.int32),
            deceased_day=np.full(m, NO_DAY, np.int32),
            bankrupt_day=np.full(m, NO_DAY, np.int32),
            cease_and_desist_day=np.full(m, NO_DAY, np.int32),
        )


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class LoanBookSimulator:
    """Vectorised day-by-day simulator of borrowers, payments, contacts and flags.

    Typical use::

        sim = LoanBookSimulator(config)
        sim.run(HistoricalPolicy(config), until_day=config.as_of_day)
        fork = sim.snapshot()          # same state, same borrower luck ahead
        fork.run(other_policy, until_day=config.end_day)
    """

    def __init__(
        self,
        config: SimulationConfig,
        population: Population | None = None,
        *,
        seeds: SimulationSeeds | None = None,
        record_events: bool = True,
    ) -> None:
        seeds = seeds or SimulationSeeds.from_seed(config.seed)
        self.config = config
        self.population = population or generate_population(config, np.random.default_rng(seeds.population))
        self.day = 0
        self.loan_state = LoanState.initial(self.population.n_loans)
        self.borrower_state = BorrowerState.initial(self.population.n_borrowers)
        self.log: EventLog | None = EventLog() if record_events else None
        self._luck_stream = int(seeds.behaviour.generate_state(1, np.uint64)[0])
        self._presentation_rng = np.random.default_rng(seeds.presentation) if record_events else None
        self._loan_luck_index: np.ndarray | None = None
        self._borrower_luck_index: np.ndarray | None = None
        self._prepare_static()
        self._refresh_start_of_day()

    # ------------------------------------------------------------------ construction
    def _prepare_static(self) -> None:
        pop = self.population
        loans, borrowers = pop.loans, pop.borrowers
        b = loans.borrower_index
        self._rows = np.arange(pop.n_loans)
        self._schedule_row = loans.schedule_row
        self._schedule_offset = loans.schedule_row * pop.schedules.due_day.shape[1]
        self._due_day_flat = pop.schedules.due_day.ravel()
        self._cumulative_due_flat = pop.schedules.cumulative_due_cents.ravel()
        self._disbursed_day = loans.disbursed_day
        self._borrower_of = b
        self._borrower_units = np.arange(pop.n_borrowers, dtype=np.int64)
        cfg = self.config
        product_ontime = np.array([p.risk_offset for p in catalog.PRODUCT_SPECS])[loans.product]
        product_cure = np.array([p.cure_offset for p in catalog.PRODUCT_SPECS])[loans.product]
        periods_per_year = np.array([p.periods_per_year for p in catalog.PRODUCT_SPECS])[loans.product]
        monthly_installment = loans.installment_cents / 100.0 * periods_per_year / 12.0
        burden = monthly_installment / np.maximum(borrowers.monthly_income[b], 1.0)
        # Affordability: the heavier the installment relative to income, the harder to pay.
        affordability = -cfg.affordability_weight * np.log(burden / cfg.affordability_reference)
        # Never-payers get a prohibitive penalty on every repayment decision.
        never_pays = np.where(loans.never_pays, NEVER_PAY_PENALTY, 0.0)
        self._ontime_offset = product_ontime + affordability - never_pays
        self._cure_offset = product_cure + affordability - never_pays
        # Borrower traits gathered per loan once: they are read every day.
        self._ability = borrowers.ability[b]
        self._willingness = borrowers.willingness[b]
        self._reachability = borrowers.reachability[b]
        self._responsiveness = borrowers.responsiveness[b]
        self._pays_by_direct_debit = borrowers.preferred_method[b] == DIRECT_DEBIT
        self._has_phone = borrowers.has_phone[b]
        self._has_email = borrowers.has_email[b]
        self._wrong_number = borrowers.wrong_number[b]
        self._consent = {
            CALL: borrowers.has_phone[b],
            SMS: borrowers.consent_sms[b],
            EMAIL: borrowers.consent_email[b],
            WHATSAPP: borrowers.consent_whatsapp[b],
            FIELD_VISIT: ~loans.do_not_visit,
            catalog.LETTER: np.ones(pop.n_loans, dtype=bool),
        }
        self._do_not_contact = borrowers.do_not_contact[b]
        self._boost_decay = float(np.exp(-1.0 / cfg.contact_effect_days))
        self._load_decay = float(np.exp(-1.0 / 14.0))
        self._start_date = np.datetime64(cfg.sim_start, "D")

    # ------------------------------------------------------------------ copies
    def snapshot(self, future_luck: np.random.SeedSequence | None = None) -> LoanBookSimulator:
        """Independent copy at the current day: same state, same future borrower luck.

        The population is shared (it is never mutated); the event log is copied
        shallowly, so the fork's history is the original's history. With ``future_luck`` the
        copy keeps the state and history but draws a different future (another replicate of
        the days ahead: every borrower decision from today on reads a new luck stream).
        """
        clone = copy.copy(self)
        if future_luck is not None:
            clone._luck_stream = int(future_luck.generate_state(1, np.uint64)[0])
        clone.loan_state = self.loan_state.copy()
        clone.borrower_state = self.borrower_state.copy()
        clone.log = self.log.copy() if self.log is not None else None
        clone._presentation_rng = copy.deepcopy(self._presentation_rng)
        clone._refresh_start_of_day()
        return clone

    def replicate_loans(
        self, rows: np.ndarray, *, luck_index: np.ndarray, seed: np.random.SeedSequence
    ) -> LoanBookSimulator:
        """A simulator over copies of ``rows`` (repeats allowed), each with a private borrower.

        Copies sharing a ``luck_index`` share every behavioural draw, which makes
        scenario comparisons (contact vs. no contact) low-variance. No events are
        recorded. Used for Monte-Carlo ground truth.
        """
        rows = np.asarray(rows, dtype=np.int64)
        clone = copy.copy(self)
        clone.population = self.population.tile_loans(rows)
        clone.loan_state = self.loan_state.take(rows)
        clone.borrower_state = self.borrower_state.take(self._borrower_of[rows])
        clone.log = None
        clone._luck_stream = int(seed.generate_state(1, np.uint64)[0])
        clone._presentation_rng = None
        clone._loan_luck_index = np.asarray(luck_index, dtype=np.int64)
        clone._borrower_luck_index = clone._loan_luck_index
        clone._prepare_static()
        clone._refresh_start_of_day()
        return clone

    def adopt_contact_traits(self, source: LoanBookSimulator, rows: np.ndarray) -> None:
        """Give each loan the contact traits of ``source``'s loan ``rows[i]``: reachability and
        responsiveness per channel and a wrong number on file. State, ability and willingness
        stay the loan's own. A what-if of "the same account, a borrower who answers contact like
        somebody else of the book": drawn at random, it is what is known of a borrower's response
        to contact before any is observed (see :func:`simulation.book.estimate_pay_probabilities`)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.shape != (self.population.n_loans,):
            raise ValueError("one source row per loan is needed")
        self._reachability = source._reachability[rows]
        self._responsiveness = source._responsiveness[rows]
        self._wrong_number = source._wrong_number[rows] & self._has_phone

    # ------------------------------------------------------------------ running
    def run(self, policy: ContactPolicy | None, until_day: int) -> None:
        """Step day by day until ``self.day == until_day`` (``policy=None`` means no contacts).

        A policy with a ``select_offers(simulator, contacts)`` method (:class:`OfferPolicy`)
        makes its offers on the day's contacts."""
        select_offers = getattr(policy, "select_offers", None)
        while self.day < until_day:
            contacts = policy.select_contacts(self) if policy is not None else None
            offers = (
                select_offers(self, contacts) if select_offers is not None and contacts is not None else None
            )
            self.step(contacts, offers=offers)

    def step(
        self,
        contacts: Contacts | None = None,
        *,
        offers: Offers | None = None,
        referrals: np.ndarray | None = None,
    ) -> DayEvents:
        """Simulate the current day given its outbound contacts, then move to the next day.

        ``referrals`` (loan indices) are handed to the external agency at the start of the day:
        they leave in-house collection for good, and a contact or offer to a referred loan (that
        day or later) is rejected with ValueError, as one to an inactive loan is. ``offers`` are
        put to the borrowers the day's contacts reached (a right-party conversation by call or
        visit, or a delivered message or letter, which the borrower acts on less often); the
        others are recorded as not presented. With neither, the day is exactly what it was
        before treatments existed (same draws, same events).
        """
        t = self.day
        buffer = _DayBuffer(t)
        self._open_new_loans(t, buffer)
        self._advance_borrowers(t, buffer)
        self._settle_expired_promises(t)
        self._end_deferments(t, buffer)
        state = self.loan_state
        state.contact_boost[:] *= self._boost_decay
        state.contact_load[:] *= self._load_decay
        if referrals is not None and len(referrals):
            self._refer(t, np.asarray(referrals, dtype=np.int64), buffer)
        if contacts is not None and len(contacts):
            self._apply_contacts(t, contacts, buffer)
        if offers is not None and len(offers):
            self._present_offers(t, offers, buffer)
        self._decide_scheduled_payments(t)
        fired = self._draw_overdue_payments(t, buffer)
        self._draw_spontaneous_inbound(t, fired, buffer)
        self._execute_planned_payments(t, buffer)
        self._pay_arrangements(t, buffer)
        self._collect_agency_payments(t, buffer)
        self._draw_account_events(t, buffer)
        events = buffer.finish(self._presentation_rng)
        if self.log is not None:
            self.log.append(events)
        self.day = t + 1
        self._refresh_start_of_day()
        return events

    # ------------------------------------------------------------------ observable state (start of day)
    @property
    def date(self) -> np.datetime64:
        """Calendar date of the current day."""
        return self._start_date + self.day

    @property
    def weekday(self) -> int:
        """0 = Monday ... 6 = Sunday."""
        return int((self.date.astype("datetime64[D]").astype(np.int64) + 3) % 7)

    def active_mask(self) -> np.ndarray:
        """Loans disbursed and not fully repaid."""
        return _readonly(self._active)

    def overdue_mask(self) -> np.ndarray:
        return _readonly(self._overdue)

    def days_past_due(self) -> np.ndarray:
        """Days since the due date of the oldest unpaid installment (0 when not overdue)."""
        return _readonly(self._dpd)

    def amount_overdue_cents(self) -> np.ndarray:
        return _readonly(self._overdue_cents)

    def outstanding_balance_cents(self) -> np.ndarray:
        """Scheduled amounts (due or not) not yet paid; 0 for inactive loans."""
        return np.where(self._active, self.population.loans.total_due_cents - self.loan_state.paid_cents, 0)

    def has_open_promise(self) -> np.ndarray:
        return self.loan_state.promise_day >= self.day

    def in_hardship(self) -> np.ndarray:
        return self.loan_state.hardship_until > self.day

    def has_open_dispute(self) -> np.ndarray:
        return self.loan_state.dispute_until > self.day

    def in_arrangement(self) -> np.ndarray:
        """Loans with an arrangement in force: a plan running, a settlement awaiting payment or a
        payment holiday. Their ordinary payment decisions are suspended meanwhile."""
        return self.loan_state.arr_kind != NO_ARRANGEMENT

    def arrangement_kind(self) -> np.ndarray:
        """The arrangement in force per loan (``catalog.OFFER_*``), ``catalog.NO_ARRANGEMENT`` if none."""
        return _readonly(self.loan_state.arr_kind)

    def referred(self) -> np.ndarray:
        """Loans handed to the external agency: out of in-house collection for good."""
        return self.loan_state.referred_day >= 0

    def settled(self) -> np.ndarray:
        """Loans closed by a paid settlement (the rest of their balance written off)."""
        return _readonly(self.loan_state.settled)

    def written_off_cents(self) -> np.ndarray:
        """Per loan, the balance a paid settlement forgave (0 for the others)."""
        return _readonly(self.loan_state.written_off_cents)

    def last_contact_day(self) -> np.ndarray:
        """(n_loans, channels) day of the last outbound attempt per channel."""
        return _readonly(self.loan_state.last_contact_day)

    def last_right_party_contact_day(self) -> np.ndarray:
        return _readonly(self.loan_state.last_rpc_day)

    def contact_blocked(self) -> np.ndarray:
        """Loans no channel may lawfully contact today.

        do_not_contact, cease_and_desist, bankruptcy, deceased, legal hold and
        open disputes. Hardship plans are a business rule, left to the policy.
        """
        borrower_state = self.borrower_state
        b = self._borrower_of
        return (
            self._do_not_contact
            | (borrower_state.cease_and_desist_day[b] >= 0)
            | (borrower_state.bankrupt_day[b] >= 0)
            | (borrower_state.deceased_day[b] >= 0)
            | (self.loan_state.legal_hold_until > self.day)
            | (self.loan_state.dispute_until > self.day)
        )

    def contactable(self, channel: int, blocked: np.ndarray | None = None) -> np.ndarray:
        """Active loans that may be contacted through ``channel`` today (means, consent, flags;
        not referred to the agency)."""
        if blocked is None:
            blocked = self.contact_blocked()
        in_house = self.loan_state.referred_day < 0
        return (
            self._active
            & self._consent[channel]
            & ~self.loan_state.opted_out[:, channel]
            & ~blocked
            & in_house
        )

    def has_means(self, channel: int) -> np.ndarray:
        """Whether a contact through ``channel`` is physically possible (phone / e-mail on file)."""
        if channel in (CALL, SMS, WHATSAPP):
            return self._has_phone
        if channel == EMAIL:
            return self._has_email
        return np.ones(self.population.n_loans, dtype=bool)

    def no_contact_daily_hazard(self, loan_index: np.ndarray | None = None) -> np.ndarray:
        """Today's probability that an overdue loan decides to pay, ignoring contact effects."""
        idx = self._rows if loan_index is None else np.asarray(loan_index)
        hazard = sigmoid(self._overdue_logit(idx, self.day, include_contact=False))
        return np.where(self._overdue[idx], hazard, np.nan)

    # ------------------------------------------------------------------ internals: calendar
    def _schedule_at(self, matrix_flat: np.ndarray, idx: np.ndarray | None, column: np.ndarray) -> np.ndarray:
        """matrix[schedule_row[idx], column] through flat indexing (much faster than 2-D fancy indexing)."""
        base = self._schedule_offset if idx is None else self._schedule_offset[idx]
        return matrix_flat.take(base + column)

    def _refresh_start_of_day(self) -> None:
        t = self.day
        state = self.loan_state
        next_due = self._schedule_at(self._due_day_flat, None, state.n_due)
        became_due = np.flatnonzero(next_due < t)
        while became_due.size:  # usually one pass: installments of a loan are at least 7 days apart
            state.n_due[became_due] += 1
            next_due[became_due] = self._schedule_at(self._due_day_flat, became_due, state.n_due[became_due])
            became_due = became_due[next_due[became_due] < t]
        self._next_due_day = next_due
        self._active = (self._disbursed_day <= t) & ~state.closed
        self._overdue = self._active & (state.oldest_unpaid < state.n_due)
        overdue = np.flatnonzero(self._overdue)
        self._dpd = np.zeros(len(self._rows), dtype=np.int32)
        self._dpd[overdue] = t - self._schedule_at(self._due_day_flat, overdue, state.oldest_unpaid[overdue])
        self._overdue_cents = np.zeros(len(self._rows), dtype=np.int64)
        self._overdue_cents[overdue] = (
            self._schedule_at(self._cumulative_due_flat, overdue, state.n_due[overdue] - 1)
            - state.paid_cents[overdue]
        )
        today = self._start_date + t
        weekday = (int(today.astype(np.int64)) + 3) % 7  # 1970-01-01 was a Thursday
        day_of_month = (
            int((today - today.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)) + 1
        )
        # Fewer payments at weekends, more right after the usual paydays.
        self._calendar_logit = (-0.5 if weekday == 6 else -0.2 if weekday == 5 else 0.0) + (
            0.25 if day_of_month in (1, 2, 15, 16) else 0.0
        )

    def _u(self, row: int, idx: np.ndarray) -> np.ndarray:
        unit = idx if self._loan_luck_index is None else self._loan_luck_index[idx]
        return luck_uniforms(self._luck_stream, self.day, row, unit)

    def _u_treatment(self, row: int, idx: np.ndarray) -> np.ndarray:
        """Luck of the treatments' decisions: a stream apart from every ordinary decision's."""
        unit = idx if self._loan_luck_index is None else self._loan_luck_index[idx]
        return luck_uniforms(_mix64(self._luck_stream ^ _TREATMENT_STREAM_SALT), self.day, row, unit)

    def _u_borrowers(self, row: int) -> np.ndarray:
        unit = self._borrower_units if self._borrower_luck_index is None else self._borrower_luck_index
        return luck_uniforms(self._luck_stream, self.day, row, unit)

    # ------------------------------------------------------------------ internals: behaviour
    def _effective_ability(self, idx: np.ndarray, t: int) -> np.ndarray:
        shocked = self.borrower_state.shock_until[self._borrower_of[idx]] > t
        return self._ability[idx] - self.config.shock_severity * shocked

    def _overdue_logit(self, idx: np.ndarray, t: int, include_contact: bool) -> np.ndarray:
        cfg = self.config
        state = self.loan_state
        b = self._borrower_of[idx]
        logit = (
            cfg.overdue_hazard_intercept
            + self._cure_offset[idx]
            + cfg.overdue_ability_weight * self._effective_ability(idx, t)
            + cfg.overdue_willingness_weight * self._willingness[idx]
            - cfg.dpd_hazard_slope * np.log1p(self._delinquency_spell_days(idx, t))
            + self._calendar_logit
            - 3.5 * (self.borrower_state.bankrupt_day[b] >= 0)
            - 1.2 * (state.dispute_until[idx] > t)
            - 0.7 * (state.legal_hold_until[idx] > t)
            + 0.5 * (state.hardship_until[idx] > t)
        )
        if include_contact:
            logit = logit + state.contact_boost[idx]
        return logit

    def _delinquency_spell_days(self, idx: np.ndarray, t: int) -> np.ndarray:
        """Days since the loan last moved: the later of its last payment and its oldest unpaid due date.

        Payment propensity decays with this spell rather than with days past due,
        so a "rolling" account that pays one installment a month stays likely to
        pay despite a large dpd (payment recency beats dpd, as in real books).
        """
        return np.minimum(self._dpd[idx], t - self.loan_state.last_payment_day[idx])

    def _open_new_loans(self, t: int, buffer: _DayBuffer) -> None:
        new = np.flatnonzero(self.population.loans.disbursed_day == t)
        if not new.size:
            return
        buffer.add_flags(new[self.population.loans.do_not_visit[new]], DO_NOT_VISIT, t, NEVER)
        # A borrower-level flag raised earlier also covers a loan opened later.
        b = self._borrower_of[new]
        borrower_state = self.borrower_state
        for flag, start in (
            (CEASE_AND_DESIST, borrower_state.cease_and_desist_day),
            (BANKRUPTCY, borrower_state.bankrupt_day),
            (DECEASED, borrower_state.deceased_day),
        ):
            buffer.add_flags(new[start[b] >= 0], flag, t, NEVER)

    def _flag_borrowers(self, borrowers: np.ndarray, flag: int, t: int, buffer: _DayBuffer) -> None:
        """Record a permanent borrower-level flag on every active loan of ``borrowers``."""
        if not borrowers.size:
            return
        marked = np.zeros(self.population.n_borrowers, dtype=bool)
        marked[borrowers] = True
        buffer.add_flags(np.flatnonzero(marked[self._borrower_of] & self._active), flag, t, NEVER)

    def _advance_borrowers(self, t: int, buffer: _DayBuffer) -> None:
        cfg = self.config
        borrower_state = self.borrower_state
        onset = (borrower_state.shock_until <= t) & (
            self._u_borrowers(U_SHOCK_ONSET) < self.population.borrowers.shock_daily_rate
        )
        if onset.any():
            span = cfg.shock_max_days - cfg.shock_min_days + 1
            duration = cfg.shock_min_days + (self._u_borrowers(U_SHOCK_DURATION)[onset] * span).astype(
                np.int32
            )
            borrower_state.shock_until[onset] = t + duration
        dies = (borrower_state.deceased_day < 0) & (
            self._u_borrowers(U_DECEASED) < cfg.deceased_annual_rate / 365.0
        )
        if dies.any():
            died = np.flatnonzero(dies)
            borrower_state.deceased_day[died] = t
            self._flag_borrowers(died, DECEASED, t, buffer)

    def _settle_expired_promises(self, t: int) -> None:
        state = self.loan_state
        expired = np.flatnonzero((state.promise_day >= 0) & (state.promise_day < t))
        if not expired.size:
            return
        paid_since = state.paid_cents[expired] - state.paid_at_promise_cents[expired]
        kept = paid_since >= state.promise_cents[expired]
        state.n_kept_promises[expired] += kept
        state.n_broken_promises[expired] += ~kept
        state.promise_day[expired] = NO_DAY

    def _alive(self, idx: np.ndarray) -> np.ndarray:
        return self.borrower_state.deceased_day[self._borrower_of[idx]] < 0

    def _ordinary_collection(self, idx: np.ndarray) -> np.ndarray:
        """Loans whose payments the borrower decides day by day: no arrangement in force (its
        own terms decide), not referred (the agency collects)."""
        state = self.loan_state
        return (state.arr_kind[idx] == NO_ARRANGEMENT) & (state.referred_day[idx] < 0)

    def _apply_contacts(self, t: int, contacts: Contacts, buffer: _DayBuffer) -> None:
        loan = np.asarray(contacts.loan_index, dtype=np.int64)
        channel = np.asarray(contacts.channel, dtype=np.int8)
        self._validate_contacts(loan, channel)
        lawful_hours = contacts.lawful_hours_mask()
        cfg = self.config
        state = self.loan_state
        for code in range(N_CHANNELS):
            on_channel = channel == code
            sel = loan[on_channel]
            if not sel.size:
                continue
            reached = self._u(U_REACH + code, sel) < self._reachability[sel, code]
            effect = np.where(reached, self._responsiveness[sel, code], 0.0)
            promised_cents = promised_day = None
            if code in (CALL, FIELD_VISIT):
                outcome = np.full(len(sel), NO_ANSWER, dtype=np.int8)
                if code == CALL:
                    wrong = self._wrong_number[sel]
                    reached &= ~wrong
                    effect[wrong] = 0.0
                    secondary = self._u(U_CONTACT_SECONDARY, sel)
                    outcome[(wrong & (secondary < 0.7)) | (~wrong & ~reached & (secondary < 0.03))] = (
                        WRONG_PARTY
                    )
                reached_idx = np.flatnonzero(reached)
                rpc_outcome, effect_scale, rpc_cents, rpc_day = self._right_party_outcomes(
                    t, sel[reached_idx], buffer
                )
                outcome[reached_idx] = rpc_outcome
                effect[reached_idx] *= effect_scale
                promised_cents = np.full(len(sel), -1, dtype=np.int64)
                promised_day = np.full(len(sel), NO_DAY, dtype=np.int32)
                promised_cents[reached_idx] = rpc_cents
                promised_day[reached_idx] = rpc_day
            else:
                outcome = np.where(reached, DELIVERED, UNDELIVERED).astype(np.int8)
                secondary = self._u(U_CONTACT_SECONDARY, sel)
                if code == WHATSAPP:
                    replied = reached & (secondary < cfg.whatsapp_reply_rate)
                    outcome[replied] = RIGHT_PARTY_CONTACT
                    state.last_rpc_day[sel[replied]] = t
                if code in (SMS, EMAIL, WHATSAPP):
                    # The top of the draw, so opting out never overlaps a WhatsApp reply.
                    opted = reached & (secondary >= 1.0 - cfg.message_opt_out_rate)
                    outcome[opted] = OPTED_OUT
                    state.opted_out[sel[opted], code] = True
            state.contact_boost[sel] = np.minimum(state.contact_boost[sel] + effect, cfg.contact_effect_cap)
            state.last_contact_day[sel, code] = t
            state.contact_load[sel] += 1.0
            buffer.add_interactions(
                sel, code, OUTBOUND, outcome, promised_cents, promised_day, lawful_hours[on_channel]
            )

        # Heavy contact makes some borrowers demand that it stops.
        contacted_mask = np.zeros(len(self._rows), dtype=bool)
        contacted_mask[loan] = True
        contacted = np.flatnonzero(contacted_mask)
        demands_stop = self._u(U_CEASE_AND_DESIST, contacted) < (
            cfg.cease_and_desist_rate_per_contact * state.contact_load[contacted]
        )
        if demands_stop.any():
            b = np.unique(self._borrower_of[contacted[demands_stop]])
            b = b[self.borrower_state.cease_and_desist_day[b] < 0]
            self.borrower_state.cease_and_desist_day[b] = t
            self._flag_borrowers(b, CEASE_AND_DESIST, t, buffer)

    def _validate_contacts(self, loan: np.ndarray, channel: np.ndarray) -> None:
        if loan.shape != channel.shape:
            raise ValueError("contacts.loan_index and contacts.channel must have the same length")
        if loan.size and (loan.min() < 0 or loan.max() >= self.population.n_loans):
            raise ValueError("contact loan index out of range")
        if channel.size and (channel.min() < 0 or channel.max() >= N_CHANNELS):
            raise ValueError("unknown channel code in contacts")
        if not self._active[loan].all():
            raise ValueError("contacts must target active (disbursed, not repaid) loans")
        if (self.loan_state.referred_day[loan] >= 0).any():
            raise ValueError("contacts must target loans in in-house collection (not referred to an agency)")
        key = np.sort(loan * N_CHANNELS + channel)
        if np.any(key[1:] == key[:-1]):
            raise ValueError("a loan can be contacted at most once per channel per day")
        for code in (CALL, SMS, EMAIL, WHATSAPP):
            sel = loan[channel == code]
            if sel.size and not self.has_means(code)[sel].all():
                raise ValueError(f"{catalog.CHANNELS[code]} contact to a borrower without the means")

    def _right_party_outcomes(
        self, t: int, idx: np.ndarray, buffer: _DayBuffer
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Outcome of reaching the borrower: promise, plain RPC, refusal or dispute."""
        cfg = self.config
        state = self.loan_state
        n = len(idx)
        willingness = self._willingness[idx]
        broken = state.n_broken_promises[idx]
        u = self._u(U_RPC_OUTCOME, idx)
        p_dispute = cfg.dispute_rate_on_rpc * (1.0 + (willingness < -1.0))
        p_refuse = sigmoid(-2.0 - 1.0 * willingness)
        p_promise = sigmoid(cfg.promise_intercept + 0.9 * willingness - cfg.broken_promise_penalty * broken)
        overdue = self._overdue_cents[idx]
        can_promise = (overdue > 0) & (state.promise_day[idx] < t)
        dispute = u < p_dispute
        refused = ~dispute & (u < p_dispute + p_refuse)
        remaining_u = (u - p_dispute - p_refuse) / np.maximum(1.0 - p_dispute - p_refuse, 1e-9)
        promise = ~dispute & ~refused & can_promise & (remaining_u < p_promise)

        outcome = np.full(n, RIGHT_PARTY_CONTACT, dtype=np.int8)
        outcome[refused] = REFUSED
        outcome[dispute] = DISPUTE_RAISED
        outcome[promise] = PROMISE_TO_PAY
        effect_scale = np.where(dispute, 0.0, np.where(refused, 0.3, 1.0))
        promised_cents = np.full(n, -1, dtype=np.int64)
        promised_day = np.full(n, NO_DAY, dtype=np.int32)
        if promise.any():
            promised_cents[promise], promised_day[promise] = self._make_promises(t, idx[promise])
        self._open_disputes(t, idx[dispute], buffer)
        self._maybe_start_hardship(t, idx[~dispute], self.config.hardship_rate_on_contact, buffer)
        state.last_rpc_day[idx] = t
        return outcome, effect_scale, promised_cents, promised_day

    def _make_promises(self, t: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Borrowers promise an amount and a date; whether they keep it is decided now."""
        cfg = self.config
        state = self.loan_state
        overdue = self._overdue_cents[idx]
        one_installment = np.minimum(self.population.loans.installment_cents[idx], overdue)
        amount = np.where(self._u(U_PROMISE_AMOUNT, idx) < 0.55, overdue, one_installment)
        days_ahead = np.minimum(
            1 + (self._u(U_PROMISE_DAYS, idx) ** 1.5 * cfg.promise_max_days).astype(np.int32),
            cfg.promise_max_days,
        )
        promised_day = (t + days_ahead).astype(np.int32)
        broken = state.n_broken_promises[idx]
        p_keep = sigmoid(
            cfg.promise_keep_intercept
            + self._cure_offset[idx]
            + cfg.ability_weight * self._effective_ability(idx, t)
            + cfg.willingness_weight * self._willingness[idx]
            - cfg.broken_promise_penalty * broken
        )
        keeps = self._u(U_PROMISE_KEEP, idx) < p_keep
        free = state.planned_day[idx] < t
        u_day = self._u(U_PROMISE_PAY_DAY, idx)
        # Kept promises are mostly paid close to the promised date.
        pay_day = np.maximum(promised_day - (u_day**2 * days_ahead).astype(np.int32), t)
        plan_kept = keeps & free
        self._plan(idx[plan_kept], pay_day[plan_kept], PLAN_PROMISE, amount[plan_kept])
        # Some broken promises still bring a token payment on the promised date.
        token = ~keeps & free & (u_day > 0.7)
        token_amount = np.round(amount * (0.2 + 0.4 * self._u(U_AMOUNT_FRACTION, idx)))
        self._plan(idx[token], promised_day[token], PLAN_PROMISE, token_amount[token])
        self._register_promise(idx, amount, promised_day)
        return amount, promised_day

    def _register_promise(self, idx: np.ndarray, amount: np.ndarray, promised_day: np.ndarray) -> None:
        state = self.loan_state
        state.promise_day[idx] = promised_day
        state.promise_cents[idx] = amount
        state.paid_at_promise_cents[idx] = state.paid_cents[idx]
        state.n_promises[idx] += 1

    def _plan(
        self, idx: np.ndarray, day: np.ndarray | int, kind: np.ndarray | int, value: np.ndarray | float
    ) -> None:
        state = self.loan_state
        state.planned_day[idx] = day
        state.planned_kind[idx] = kind
        state.planned_value[idx] = value

    def _open_disputes(self, t: int, idx: np.ndarray, buffer: _DayBuffer) -> None:
        cfg = self.config
        state = self.loan_state
        idx = idx[state.dispute_until[idx] <= t]
        if not idx.size:
            return
        span = cfg.dispute_max_days - cfg.dispute_min_days + 1
        until = t + cfg.dispute_min_days + (self._u(U_DISPUTE_DURATION, idx) * span).astype(np.int32)
        state.dispute_until[idx] = until
        buffer.add_flags(idx, DISPUTE, t, until)

    def _maybe_start_hardship(self, t: int, idx: np.ndarray, probability: float, buffer: _DayBuffer) -> None:
        cfg = self.config
        state = self.loan_state
        shocked = self.borrower_state.shock_until[self._borrower_of[idx]] > t
        eligible = shocked & (self._overdue_cents[idx] > 0) & (state.hardship_until[idx] <= t)
        idx = idx[eligible]
        idx = idx[self._u(U_HARDSHIP, idx) < probability]
        if not idx.size:
            return
        span = cfg.hardship_max_days - cfg.hardship_min_days + 1
        severity = self._u(U_HARDSHIP_DURATION, idx)
        until = t + cfg.hardship_min_days + (severity * span).astype(np.int32)
        state.hardship_until[idx] = until
        buffer.add_flags(idx, HARDSHIP_PLAN, t, until)
        # The most severe hardships (the longest plans) come with a vulnerability the lender records.
        vulnerable = severity >= 1.0 - cfg.vulnerable_share_of_hardship
        buffer.add_flags(idx[vulnerable], VULNERABLE, t, until[vulnerable])

    def _decide_scheduled_payments(self, t: int) -> None:
        cfg = self.config
        state = self.loan_state
        lead = cfg.ontime_decision_lead_days
        idx = np.flatnonzero(
            self._active & ~self._overdue & (self._next_due_day - t == lead) & (state.planned_day < t)
        )
        if not idx.size:
            return
        idx = idx[self._alive(idx) & self._ordinary_collection(idx)]
        b = self._borrower_of[idx]
        logit = (
            cfg.ontime_intercept
            + self._ontime_offset[idx]
            + cfg.ability_weight * self._effective_ability(idx, t)
            + cfg.willingness_weight * self._willingness[idx]
            + cfg.direct_debit_ontime_bonus * self._pays_by_direct_debit[idx]
            - 4.0 * (self.borrower_state.bankrupt_day[b] >= 0)
            - 1.0 * (state.dispute_until[idx] > t)
        )
        pays = self._u(U_ONTIME, idx) < sigmoid(logit)
        idx = idx[pays]
        offset = np.searchsorted(_EARLY_OFFSET_CDF, self._u(U_ONTIME_OFFSET, idx), side="right")
        offset = np.where(self._pays_by_direct_debit[idx], 0, np.minimum(offset, lead))
        # Some payers slip past the due date for reasons unrelated to their traits
        # (forgot, payday timing, card expired): short, self-curing delinquencies.
        u_slip = self._u(U_ONTIME_SLIP, idx)
        slips = u_slip < cfg.late_slip_rate
        late_days = 1 + (u_slip / max(cfg.late_slip_rate, 1e-12) * cfg.late_slip_max_days).astype(np.int32)
        offset = np.where(slips, -np.minimum(late_days, cfg.late_slip_max_days), offset)
        self._plan(idx, self._next_due_day[idx] - offset, PLAN_SCHEDULED, state.n_due[idx])

    def _draw_overdue_payments(self, t: int, buffer: _DayBuffer) -> np.ndarray:
        cfg = self.config
        state = self.loan_state
        idx = np.flatnonzero(self._overdue & (state.planned_day < t))
        idx = idx[self._alive(idx) & self._ordinary_collection(idx)]
        fires = self._u(U_HAZARD, idx) < sigmoid(self._overdue_logit(idx, t, include_contact=True))
        idx = idx[fires]
        if not idx.size:
            return idx

        u_delay = self._u(U_PAY_DELAY, idx)
        same_day = cfg.same_day_payment_share
        delay = np.where(
            u_delay < same_day, 0, 1 + ((u_delay - same_day) / max(1 - same_day, 1e-9) * 3).astype(np.int32)
        )
        delay = np.minimum(delay, 3).astype(np.int32)

        ability = self._effective_ability(idx, t)
        # Deep delinquents who do pay tend to settle everything at once (collector settlements).
        p_full = sigmoid(
            cfg.full_cure_intercept
            + 0.8 * ability
            + 0.4 * self._willingness[idx]
            + cfg.deep_settlement_slope * np.log1p(self._dpd[idx] / 30.0)
        )
        u_kind = self._u(U_AMOUNT_KIND, idx)
        kind = np.where(
            u_kind < p_full,
            PLAN_FULL,
            np.where(
                u_kind < p_full + (1 - p_full) * cfg.one_installment_share, PLAN_ONE_INSTALLMENT, PLAN_PARTIAL
            ),
        )
        fraction = 0.2 + 0.6 * self._u(U_AMOUNT_FRACTION, idx)
        in_hardship = state.hardship_until[idx] > t
        kind = np.where(in_hardship, PLAN_PARTIAL, kind)
        fraction = np.where(in_hardship, 0.3 + 0.3 * self._u(U_AMOUNT_FRACTION, idx), fraction)
        self._plan(idx, t + delay, kind, fraction)

        # Borrowers often call in a day or two before they pay.
        calls_in = (delay > 0) & (self._u(U_INBOUND, idx) < cfg.inbound_before_payment_rate)
        callers = idx[calls_in]
        if callers.size:
            promises = self._u(U_INBOUND_OUTCOME, callers) < 0.5
            outcome = np.where(promises, PROMISE_TO_PAY, RIGHT_PARTY_CONTACT).astype(np.int8)
            pay_day = (t + delay[calls_in]).astype(np.int32)
            expected = self._planned_amount(callers, kind[calls_in], fraction[calls_in])
            promised_cents = np.where(promises, expected, -1).astype(np.int64)
            promised_day = np.where(promises, pay_day, NO_DAY).astype(np.int32)
            promises &= expected > 0
            outcome[~promises & (outcome == PROMISE_TO_PAY)] = RIGHT_PARTY_CONTACT
            promised_cents[~promises] = -1
            promised_day[~promises] = NO_DAY
            register = promises & (state.promise_day[callers] < t)
            self._register_promise(callers[register], expected[register], pay_day[register])
            state.last_rpc_day[callers] = t
            buffer.add_interactions(callers, CALL, INBOUND, outcome, promised_cents, promised_day)
        return idx

    def _draw_spontaneous_inbound(self, t: int, fired: np.ndarray, buffer: _DayBuffer) -> None:
        cfg = self.config
        candidates = self._overdue.copy()
        candidates[fired] = False
        idx = np.flatnonzero(candidates)
        idx = idx[self._u(U_INBOUND, idx) < cfg.spontaneous_inbound_rate]
        # A referred borrower deals with the agency, not with the lender.
        idx = idx[self._alive(idx) & (self.loan_state.referred_day[idx] < 0)]
        if not idx.size:
            return
        disputes = self._u(U_INBOUND_OUTCOME, idx) < 0.1
        outcome = np.where(disputes, DISPUTE_RAISED, RIGHT_PARTY_CONTACT).astype(np.int8)
        self._open_disputes(t, idx[disputes], buffer)
        self._maybe_start_hardship(t, idx[~disputes], cfg.hardship_rate_on_contact, buffer)
        self.loan_state.last_rpc_day[idx] = t
        buffer.add_interactions(idx, CALL, INBOUND, outcome)

    def _planned_amount(self, idx: np.ndarray, kind: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Cents a planned payment of ``kind`` would pay given today's state."""
        state = self.loan_state
        loans = self.population.loans
        overdue = np.maximum(self._overdue_cents[idx], 0)
        one_installment = np.minimum(loans.installment_cents[idx], overdue)
        installment_no = np.where(kind == PLAN_SCHEDULED, value, 0).astype(np.int64)
        scheduled = self._schedule_at(self._cumulative_due_flat, idx, installment_no) - state.paid_cents[idx]
        amount = np.select(
            [kind == PLAN_SCHEDULED, kind == PLAN_FULL, kind == PLAN_ONE_INSTALLMENT, kind == PLAN_PARTIAL],
            [scheduled, overdue, one_installment, np.round(value * one_installment)],
            default=np.round(value),
        )
        balance = loans.total_due_cents[idx] - state.paid_cents[idx]
        return np.clip(amount, 0, balance).astype(np.int64)

    def _execute_planned_payments(self, t: int, buffer: _DayBuffer) -> None:
        state = self.loan_state
        idx = np.flatnonzero(state.planned_day == t)
        if not idx.size:
            return
        kind = state.planned_kind[idx]
        state.planned_day[idx] = NO_DAY
        alive = self._alive(idx)
        idx, kind = idx[alive], kind[alive]
        amount = self._planned_amount(idx, kind, state.planned_value[idx])
        pays = amount > 0
        idx, kind, amount = idx[pays], kind[pays], amount[pays]
        if not idx.size:
            return
        self._book_payments(t, idx, amount, _PLAN_TO_PAYMENT_KIND[kind], buffer)

    def _book_payments(
        self, t: int, idx: np.ndarray, amount: np.ndarray, kind: np.ndarray, buffer: _DayBuffer
    ) -> None:
        """Money received today on the (distinct) loans ``idx``: allocated to the oldest unpaid
        installments first; a loan whose every installment is covered closes."""
        state = self.loan_state
        state.paid_cents[idx] += amount
        state.last_payment_day[idx] = t
        buffer.add_payments(idx, amount, kind)
        moving = idx
        while moving.size:
            covered = (
                self._schedule_at(self._cumulative_due_flat, moving, state.oldest_unpaid[moving])
                <= state.paid_cents[moving]
            )
            moving = moving[covered]
            state.oldest_unpaid[moving] += 1
        state.closed[idx] = state.paid_cents[idx] >= self.population.loans.total_due_cents[idx]

    def _draw_account_events(self, t: int, buffer: _DayBuffer) -> None:
        cfg = self.config
        state = self.loan_state
        borrower_state = self.borrower_state
        overdue = np.flatnonzero(self._overdue)
        if not overdue.size:
            return
        dpd = self._dpd[overdue]
        b = self._borrower_of[overdue]

        deep = overdue[(dpd >= 60) & (borrower_state.bankrupt_day[b] < 0)]
        p_bankrupt = cfg.bankruptcy_daily_rate * 2.0 * sigmoid(-1.5 * self._effective_ability(deep, t))
        bankrupt = np.unique(self._borrower_of[deep[self._u(U_BANKRUPTCY, deep) < p_bankrupt]])
        if bankrupt.size:
            borrower_state.bankrupt_day[bankrupt] = t
            self._flag_borrowers(bankrupt, BANKRUPTCY, t, buffer)

        very_deep = overdue[(dpd >= 120) & (state.legal_hold_until[overdue] <= t)]
        held = very_deep[self._u(U_LEGAL_HOLD, very_deep) < cfg.legal_hold_daily_rate]
        if held.size:
            u = self._u(U_LEGAL_HOLD_DURATION, held)
            permanent = u < cfg.legal_hold_permanent_share
            rest = (u - cfg.legal_hold_permanent_share) / max(1 - cfg.legal_hold_permanent_share, 1e-9)
            until = np.where(permanent, NEVER, t + 60 + (rest * 181).astype(np.int32)).astype(np.int32)
            state.legal_hold_until[held] = until
            buffer.add_flags(held, LEGAL_HOLD, t, until)

        self._maybe_start_hardship(t, overdue, cfg.hardship_daily_rate, buffer)

    # ------------------------------------------------------------------ internals: treatments
    def _validate_offers(self, offers: Offers) -> None:
        loan, kind = offers.loan_index, offers.kind
        if any(len(getattr(offers, name)) != len(loan) for name in _OFFER_DTYPES):
            raise ValueError("offers arrays must have the same length")
        if loan.size and (loan.min() < 0 or loan.max() >= self.population.n_loans):
            raise ValueError("offer loan index out of range")
        if np.unique(loan).size != loan.size:
            raise ValueError("a loan can receive at most one offer per day")
        if kind.size and (kind.min() < 0 or kind.max() >= len(OFFER_KINDS)):
            raise ValueError("unknown offer kind")
        if not self._active[loan].all():
            raise ValueError("offers must target active (disbursed, not repaid) loans")
        if (self.loan_state.referred_day[loan] >= 0).any():
            raise ValueError("offers must target loans in in-house collection (not referred to an agency)")
        paying = kind != OFFER_DEFERMENT
        if (offers.amount_cents[paying] <= 0).any():
            raise ValueError("a plan's instalment and a settlement's amount must be positive")
        if (offers.n_instalments < 1).any() or (offers.n_instalments[~paying] > MAX_DEFERMENT_DAYS).any():
            raise ValueError(f"n_instalments must be >= 1 (a deferment's days at most {MAX_DEFERMENT_DAYS})")
        if not ((offers.discount >= 0) & (offers.discount < 1)).all():  # NaN fails too
            raise ValueError("discount must be in [0, 1)")

    def _reach_today(self, buffer: _DayBuffer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per loan, from today's outbound contacts: contacted at all; the channel that reached
        the borrower (-1: none; a conversation wins over a message); the conversation refused."""
        n = self.population.n_loans
        contacted = np.zeros(n, dtype=bool)
        channel = np.full(n, -1, dtype=np.int8)
        refused = np.zeros(n, dtype=bool)
        chunks = [c for c in buffer.interactions if c[2][0] == OUTBOUND]
        talks = (CALL, FIELD_VISIT)
        for written_pass in (True, False):  # conversations last, so they overwrite messages
            for loans, code, _direction, outcome, *_rest in chunks:
                if (int(code[0]) in talks) == written_pass:
                    continue
                contacted[loans] = True
                good = _WRITTEN_REACH_OUTCOMES if written_pass else _CONVERSATION_OUTCOMES
                reached = np.isin(outcome, good)
                channel[loans[reached]] = code[reached]
                if not written_pass:
                    refused[loans[reached]] = outcome[reached] == REFUSED
        return contacted, channel, refused

    def _present_offers(self, t: int, offers: Offers, buffer: _DayBuffer) -> None:
        """Put each offer to a borrower reached today; the borrower accepts or declines (truth)."""
        self._validate_offers(offers)
        contacted, reach_channel, refused = self._reach_today(buffer)
        loan = offers.loan_index
        channel = reach_channel[loan]
        outcome = np.select(
            [~contacted[loan], channel < 0, self.loan_state.arr_kind[loan] != NO_ARRANGEMENT],
            [OFFER_NOT_CONTACTED, OFFER_NOT_REACHED, OFFER_IN_ARRANGEMENT],
            default=OFFER_DECLINED,
        ).astype(np.int8)
        put = np.flatnonzero(outcome == OFFER_DECLINED)
        p_accept = np.full(len(loan), np.nan)
        written = ~np.isin(channel[put], (CALL, FIELD_VISIT))
        p = self._acceptance_probability(t, loan[put], offers, put)
        p = np.where(refused[loan[put]], sigmoid(_logit(p) - REFUSAL_ACCEPT_PENALTY), p)
        p_accept[put] = np.where(written, self.config.written_offer_uptake * p, p)
        accepted = put[self._u_treatment(T_ACCEPT, loan[put]) < p_accept[put]]
        outcome[accepted] = OFFER_ACCEPTED
        channel = np.where(outcome >= OFFER_DECLINED, channel, -1).astype(np.int8)
        buffer.add_offers(offers, outcome, channel, p_accept)
        self._start_arrangements(t, offers, accepted)

    def _acceptance_probability(
        self, t: int, idx: np.ndarray, offers: Offers, rows: np.ndarray
    ) -> np.ndarray:
        """True P(accept) of the offers ``rows`` (to loans ``idx``) if put in a conversation."""
        cfg = self.config
        state = self.loan_state
        kind = offers.kind[rows]
        cents = offers.amount_cents[rows].astype(np.float64)
        ability = self._effective_ability(idx, t)
        willingness = self._willingness[idx]
        income = np.maximum(self.population.borrowers.monthly_income[self._borrower_of[idx]], 1.0)
        dpd = self._dpd[idx]
        plan = (
            cfg.plan_accept_intercept
            - cfg.plan_affordability_weight * self._burden_logit(idx, cents)
            + 0.5 * ability
            + 0.8 * willingness
        )
        balance = np.maximum(self.population.loans.total_due_cents[idx] - state.paid_cents[idx], 1)
        discount = np.clip(1.0 - cents / balance, 0.0, 0.99)
        settlement = (
            cfg.settlement_accept_intercept
            + cfg.settlement_discount_weight * discount
            + cfg.settlement_dpd_weight * np.log1p(dpd / 30.0)
            - 0.5 * np.log1p(cents / 100.0 / income)
            + 0.4 * ability
            + 0.3 * willingness
        )
        shocked = self.borrower_state.shock_until[self._borrower_of[idx]] > t
        # A first miss after a clean record looks like a passing setback to the borrower too.
        first_miss = (dpd <= 30) & (state.n_broken_promises[idx] == 0)
        deferment = (
            cfg.deferment_accept_intercept
            + cfg.deferment_shock_weight * shocked
            + 1.0 * first_miss
            + 0.3 * willingness
        )
        logit = np.select(
            [kind == OFFER_PLAN, kind == OFFER_SETTLEMENT], [plan, settlement], default=deferment
        )
        return sigmoid(logit - NEVER_PAY_ACCEPT_PENALTY * self.population.loans.never_pays[idx])

    def _burden_logit(self, idx: np.ndarray, instalment_cents: np.ndarray) -> np.ndarray:
        """log(monthly instalment / true income / affordability_reference): 0 at the reference."""
        income = np.maximum(self.population.borrowers.monthly_income[self._borrower_of[idx]], 1.0)
        burden = np.maximum(instalment_cents / 100.0, 0.01) / income
        return np.log(burden / self.config.affordability_reference)

    def _start_arrangements(self, t: int, offers: Offers, rows: np.ndarray) -> None:
        """Put the accepted offers ``rows`` in force; a settlement's payment is decided now."""
        cfg = self.config
        state = self.loan_state
        idx, kind = offers.loan_index[rows], offers.kind[rows]
        # The arrangement replaces the borrower's own payment decisions, those already taken
        # included; a promise made stays the borrower's word.
        undone = idx[(state.planned_day[idx] >= t) & (state.planned_kind[idx] != PLAN_PROMISE)]
        state.planned_day[undone] = NO_DAY
        state.arr_kind[idx] = kind
        state.arr_offered_day[idx] = t
        state.arr_cents[idx] = offers.amount_cents[rows]
        state.arr_left[idx] = offers.n_instalments[rows]
        state.arr_next_day[idx] = NO_DAY
        state.arr_until[idx] = NO_DAY
        plan = idx[kind == OFFER_PLAN]
        first = 1 + (self._u_treatment(T_FIRST_INSTALMENT, plan) * cfg.plan_first_instalment_max_days)
        state.arr_next_day[plan] = t + first.astype(np.int32)
        settle = idx[kind == OFFER_SETTLEMENT]
        pays = self._u_treatment(T_SETTLEMENT_PAYS, settle) < self._settlement_pay_probability(t, settle)
        pay_in = 1 + (self._u_treatment(T_SETTLEMENT_DAY, settle) * cfg.settlement_pay_days).astype(np.int32)
        state.arr_next_day[settle] = np.where(pays, t + np.minimum(pay_in, cfg.settlement_pay_days), NO_DAY)
        state.arr_until[settle] = t + cfg.settlement_pay_days
        defer = kind == OFFER_DEFERMENT
        state.arr_until[idx[defer]] = t + offers.n_instalments[rows][defer]
        state.arr_shocked[idx] = defer & (self.borrower_state.shock_until[self._borrower_of[idx]] > t)

    def _settlement_pay_probability(self, t: int, idx: np.ndarray) -> np.ndarray:
        cfg = self.config
        income = np.maximum(self.population.borrowers.monthly_income[self._borrower_of[idx]], 1.0)
        return sigmoid(
            cfg.settlement_pay_intercept
            + 0.8 * self._effective_ability(idx, t)
            + 0.4 * self._willingness[idx]
            - 0.5 * np.log1p(self.loan_state.arr_cents[idx] / 100.0 / income)
            - NEVER_PAY_PENALTY * self.population.loans.never_pays[idx]
        )

    def _pay_arrangements(self, t: int, buffer: _DayBuffer) -> None:
        """Today's plan instalments and settlement payments, or their breaking."""
        state = self.loan_state
        open_ = np.flatnonzero(state.arr_kind != NO_ARRANGEMENT)
        if not open_.size:
            return
        kind = state.arr_kind[open_]
        self._pay_instalments(t, open_[(kind == OFFER_PLAN) & (state.arr_next_day[open_] == t)], buffer)
        settle = open_[kind == OFFER_SETTLEMENT]
        # Both sets before paying: paying clears arr_next_day, and a payment on the deadline
        # day is a payment, not a break.
        paying = settle[state.arr_next_day[settle] == t]
        unpaid = settle[(state.arr_next_day[settle] == NO_DAY) & (state.arr_until[settle] == t)]
        self._pay_settlements(t, paying, buffer)
        self._close_arrangements(unpaid, ARRANGEMENT_BROKEN, buffer)

    def _pay_instalments(self, t: int, idx: np.ndarray, buffer: _DayBuffer) -> None:
        """A plan instalment falls due: kept (a payment) or missed (the plan breaks)."""
        if not idx.size:
            return
        cfg = self.config
        state = self.loan_state
        b = self._borrower_of[idx]
        p_keep = sigmoid(
            cfg.plan_keep_intercept
            + 1.0 * self._effective_ability(idx, t)
            + 0.7 * self._willingness[idx]
            - cfg.plan_affordability_weight * self._burden_logit(idx, state.arr_cents[idx].astype(np.float64))
            - NEVER_PAY_PENALTY * self.population.loans.never_pays[idx]
            - 3.5 * (self.borrower_state.bankrupt_day[b] >= 0)
        )
        keeps = self._alive(idx) & (self._u_treatment(T_KEEP_INSTALMENT, idx) < p_keep)
        balance = self.population.loans.total_due_cents[idx] - state.paid_cents[idx]
        amount = np.minimum(state.arr_cents[idx], balance)
        paying = keeps & (amount > 0)
        self._book_payments(
            t, idx[paying], amount[paying], np.full(int(paying.sum()), INSTALMENT_PAYMENT, np.int8), buffer
        )
        buffer.add_arrangement_events(
            idx[paying],
            state.arr_kind[idx[paying]],
            state.arr_offered_day[idx[paying]],
            INSTALMENT_KEPT,
            amount[paying],
        )
        state.arr_left[idx[keeps]] -= 1
        done = keeps & ((state.arr_left[idx] <= 0) | (amount >= balance))
        state.arr_next_day[idx[keeps & ~done]] += cfg.plan_interval_days
        self._close_arrangements(idx[done], ARRANGEMENT_COMPLETED, buffer)
        self._close_arrangements(idx[~keeps], ARRANGEMENT_BROKEN, buffer)

    def _pay_settlements(self, t: int, idx: np.ndarray, buffer: _DayBuffer) -> None:
        """A settlement is paid: the loan closes and the rest of its balance is written off."""
        state = self.loan_state
        gone = ~self._alive(idx)
        self._close_arrangements(idx[gone], ARRANGEMENT_BROKEN, buffer)
        idx = idx[~gone]
        if not idx.size:
            return
        balance = self.population.loans.total_due_cents[idx] - state.paid_cents[idx]
        amount = np.minimum(state.arr_cents[idx], balance)
        paying = amount > 0
        kinds = np.full(int(paying.sum()), SETTLEMENT_PAYMENT, np.int8)
        self._book_payments(t, idx[paying], amount[paying], kinds, buffer)
        written_off = balance - amount
        state.written_off_cents[idx] += written_off
        state.settled[idx] = True
        state.closed[idx] = True
        state.planned_day[idx] = NO_DAY  # nothing more is owed
        self._close_arrangements(idx, SETTLEMENT_PAID, buffer, amount, written_off)

    def _close_arrangements(
        self,
        idx: np.ndarray,
        event: int,
        buffer: _DayBuffer,
        amount_cents: np.ndarray | int = 0,
        written_off_cents: np.ndarray | int = 0,
    ) -> None:
        state = self.loan_state
        buffer.add_arrangement_events(
            idx, state.arr_kind[idx], state.arr_offered_day[idx], event, amount_cents, written_off_cents
        )
        state.arr_kind[idx] = NO_ARRANGEMENT
        state.arr_next_day[idx] = NO_DAY

    def _end_deferments(self, t: int, buffer: _DayBuffer) -> None:
        """Holidays ending today. A borrower whose income shock ended meanwhile resumes paying:
        most clear the arrears within days; the others are back in ordinary collection."""
        state = self.loan_state
        idx = np.flatnonzero((state.arr_kind == OFFER_DEFERMENT) & (state.arr_until == t))
        if not idx.size:
            return
        self._close_arrangements(idx, DEFERMENT_ENDED, buffer)
        recovered = self.borrower_state.shock_until[self._borrower_of[idx]] <= t
        idx = idx[state.arr_shocked[idx] & recovered & self._overdue[idx] & (state.planned_day[idx] < t)]
        idx = idx[self._alive(idx)]
        p_cure = sigmoid(
            self.config.deferment_cure_intercept
            + 1.0 * self._ability[idx]
            + 0.6 * self._willingness[idx]
            - NEVER_PAY_PENALTY * self.population.loans.never_pays[idx]
        )
        cures = idx[self._u_treatment(T_DEFERMENT_CURE, idx) < p_cure]
        delay = (self._u_treatment(T_DEFERMENT_CURE_DAY, cures) * 4).astype(np.int32)
        self._plan(cures, t + delay, PLAN_FULL, 0.0)

    def _validate_referrals(self, loans: np.ndarray) -> None:
        if loans.size and (loans.min() < 0 or loans.max() >= self.population.n_loans):
            raise ValueError("referral loan index out of range")
        if np.unique(loans).size != loans.size:
            raise ValueError("a loan can be referred once")
        if not self._active[loans].all():
            raise ValueError("referrals must target active (disbursed, not repaid) loans")
        if (self.loan_state.referred_day[loans] >= 0).any():
            raise ValueError("a loan can be referred once")

    def _refer(self, t: int, loans: np.ndarray, buffer: _DayBuffer) -> None:
        """Hand ``loans`` to the agency. What it will recover is truth decided now: more from
        able, willing borrowers, little from late accounts; paid in 1-4 parts within the window."""
        self._validate_referrals(loans)
        cfg = self.config
        state = self.loan_state
        balance = self.population.loans.total_due_cents[loans] - state.paid_cents[loans]
        dpd = self._dpd[loans]
        buffer.add_referrals(loans, balance, dpd)
        state.referred_day[loans] = t
        state.planned_day[loans] = NO_DAY  # the borrower now deals with the agency
        state.arr_kind[loans] = NO_ARRANGEMENT  # an arrangement in force lapses with the referral
        p_recover = sigmoid(
            cfg.agency_recovery_intercept
            + 0.9 * self._effective_ability(loans, t)
            + 0.5 * self._willingness[loans]
            - cfg.agency_dpd_weight * np.log1p(dpd / 30.0)
            - NEVER_PAY_PENALTY * self.population.loans.never_pays[loans]
        )
        recovers = self._u_treatment(T_AGENCY_RECOVERS, loans) < p_recover
        share = 0.2 + 0.6 * self._u_treatment(T_AGENCY_SHARE, loans)
        total = np.where(recovers, np.round(balance * share), 0).astype(np.int64)
        parts = 1 + np.minimum((self._u_treatment(T_AGENCY_PAYMENTS, loans) * 4).astype(np.int32), 3)
        first_span = cfg.agency_window_days // 3
        first = 10 + (self._u_treatment(T_AGENCY_FIRST_DAY, loans) * first_span).astype(np.int32)
        state.agency_cents[loans] = -(-total // parts)  # ceiling: the parts add up to at least the total
        state.agency_left[loans] = np.where(total > 0, parts, 0)
        state.agency_next_day[loans] = np.where(total > 0, t + first, NO_DAY)

    def _collect_agency_payments(self, t: int, buffer: _DayBuffer) -> None:
        """The agency's collections due today (gross: its commission is the lender's business)."""
        state = self.loan_state
        idx = np.flatnonzero((state.agency_left > 0) & (state.agency_next_day == t))
        if not idx.size:
            return
        idx = idx[self._alive(idx)]
        balance = self.population.loans.total_due_cents[idx] - state.paid_cents[idx]
        amount = np.minimum(state.agency_cents[idx], balance)
        paying = amount > 0
        kinds = np.full(int(paying.sum()), AGENCY_PAYMENT, np.int8)
        self._book_payments(t, idx[paying], amount[paying], kinds, buffer)
        state.agency_left[idx] -= 1
        step_days = max((self.config.agency_window_days - 10 - self.config.agency_window_days // 3) // 3, 1)
        state.agency_next_day[idx] += step_days


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(clipped / (1 - clipped))
