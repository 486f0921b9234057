"""Assemble the simulated book: the input tables, the ground truth, files on disk.

The six required tables and the optional ``arrangements`` table (the plans and settlements
offered in right-party contacts, see :func:`observed_tables`).

Table conventions (the engine's input contract):

* dates are ``datetime64[ns]`` at midnight (naive); timestamps are
  ``datetime64[ns, UTC]`` with whole seconds;
* every event of simulated day ``t`` happens at a local clock time of local
  calendar date ``t`` in the borrower's region time zone and is stamped with that
  true UTC instant (DST aware): an evening event in the Americas falls after
  00:00 UTC of date ``t + 1``;
* a flag is in force on days ``starts_on <= d <= ends_on`` (``ends_on`` is its last
  day, as the input contract defines it); ``ends_on`` is null while the flag is (as
  far as the cut-off knows) still in force;
* IDs of events are stable ordinals, so tables cut at different dates agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from data_contracts.parsing import csv_text
from simulation import catalog
from simulation.breaches import plant_breaches
from simulation.catalog import CALL, DIRECT_DEBIT, FIELD_VISIT, INBOUND, PROMISE_TO_PAY
from simulation.config import SimulationConfig
from simulation.engine import NO_DAY, Contacts, LoanBookSimulator, SimulationSeeds
from simulation.policies import HistoricalPolicy
from simulation.population import Population

TABLE_NAMES: tuple[str, ...] = (
    "borrowers",
    "loans",
    "installments",
    "payments",
    "interactions",
    "account_flags",
    "arrangements",
)
TRUTH_NAMES: tuple[str, ...] = (
    "borrower_latent",
    "loan_state_at_as_of",
    "future_payments",
    "future_interactions",
    "future_account_flags",
    "arrangement_offers",
)
_NS_PER_DAY = 86_400 * 10**9
_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class SimulatedBook:
    """The input tables (``TABLE_NAMES``) plus ground truth the engine must never read."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    config: SimulationConfig | None = None


@dataclass
class HistoryRun:
    """A simulator positioned at the start of ``as_of`` and the policy that produced its history."""

    simulator: LoanBookSimulator
    policy: HistoricalPolicy


def run_history(config: SimulationConfig) -> HistoryRun:
    """Simulate from sim_start up to (not including) as_of under the historical policy.

    Fork ``run.simulator.snapshot()`` to run alternative policies forward from
    as_of with the same borrower luck.
    """
    seeds = SimulationSeeds.from_seed(config.seed)
    simulator = LoanBookSimulator(config, seeds=seeds)
    policy = HistoricalPolicy(
        config, rng=np.random.default_rng(seeds.policy), offer_rng=np.random.default_rng(seeds.offers)
    )
    simulator.run(policy, until_day=config.as_of_day)
    return HistoryRun(simulator, policy)


def simulate_book(config: SimulationConfig) -> SimulatedBook:
    """Simulate a whole book: history up to as_of (tables) and the forward window (truth)."""
    seeds = SimulationSeeds.from_seed(config.seed)
    history = run_history(config)
    at_as_of = history.simulator.snapshot()
    final = history.simulator  # continues under the same policy into the forward window
    final.run(history.policy, until_day=config.end_day)
    tables = observed_tables(final, cutoff_day=config.as_of_day)
    truth = _ground_truth(config, at_as_of, final, seeds)
    # Planted, logged breaches for the compliance audit: added rows only, from their own stream.
    tables["interactions"], truth["planted_breaches"] = plant_breaches(tables, config)
    return SimulatedBook(tables=tables, truth=truth, config=config)


# ---------------------------------------------------------------------------- tables


def observed_tables(simulator: LoanBookSimulator, cutoff_day: int | None = None) -> dict[str, pd.DataFrame]:
    """The input tables as known at the start of ``cutoff_day`` (default: the simulator's day).

    Only loans disbursed and events of simulated days before ``cutoff_day`` are
    included; installment schedules are complete (future due dates included).
    Events are selected by simulated (local) day, not by timestamp: an evening event
    of day ``cutoff_day - 1`` is stamped after 00:00 UTC of ``cutoff_day`` and is in
    the tables, as it is in a real extract taken that night.

    ``arrangements`` (the optional table, always given, empty when no offer was made) holds the
    plans and settlements put to a borrower on days before ``cutoff_day``, accepted or not;
    ``broken_on`` only where the break happened before ``cutoff_day``. Deferments are the
    simulator's own: the contract has no place for them.
    """
    if simulator.log is None:
        raise ValueError("the simulator does not record events")
    cutoff = simulator.day if cutoff_day is None else cutoff_day
    if cutoff > simulator.day:
        raise ValueError("cannot cut the tables after the simulator's current day")
    population = simulator.population
    config = simulator.config
    loan_rows = np.flatnonzero(population.loans.disbursed_day < cutoff)
    borrower_rows = np.unique(population.loans.borrower_index[loan_rows])
    events = _EventFrames(simulator)
    return {
        "borrowers": _borrowers_table(config, population, borrower_rows),
        "loans": _loans_table(config, population, loan_rows),
        "installments": _installments_table(config, population, loan_rows),
        "payments": events.payments(0, cutoff),
        "interactions": events.interactions(0, cutoff),
        "account_flags": events.flags(0, cutoff, open_after=cutoff),
        "arrangements": events.arrangements(0, cutoff, known_before=cutoff),
    }


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    return prefix + pd.Series(np.asarray(numbers, dtype=np.int64)).astype(str).str.zfill(width)


def borrower_ids(n: int) -> np.ndarray:
    """Borrower id strings for borrower indices 0..n-1."""
    return _ids("B", np.arange(1, n + 1), 7).to_numpy(dtype=object)


def loan_ids(n: int) -> np.ndarray:
    """Loan id strings for loan indices 0..n-1."""
    return _ids("L", np.arange(1, n + 1), 7).to_numpy(dtype=object)


def _dates(config: SimulationConfig, day: np.ndarray) -> np.ndarray:
    return (np.datetime64(config.sim_start, "D") + np.asarray(day, dtype=np.int64)).astype("datetime64[ns]")


def _lookup(values: tuple[str, ...], codes: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=object)[codes]


def _borrowers_table(config: SimulationConfig, population: Population, rows: np.ndarray) -> pd.DataFrame:
    b = population.borrowers.take(rows)
    ids = borrower_ids(population.n_borrowers)[rows]
    language = np.where(b.language >= 0, _lookup(catalog.LANGUAGES, np.maximum(b.language, 0)), None)
    gender = np.where(b.gender_reported, _lookup(catalog.GENDERS, b.gender), None)
    birth_year = pd.array(config.as_of.year - b.age.astype(np.int64), dtype="Int64")
    birth_year[~b.birth_year_reported] = pd.NA
    return pd.DataFrame(
        {
            "borrower_id": pd.Series(ids, dtype="str"),
            "region": pd.Series(_lookup(tuple(r.name for r in catalog.REGIONS), b.region), dtype="str"),
            "timezone": pd.Series(_lookup(tuple(r.timezone for r in catalog.REGIONS), b.region), dtype="str"),
            "preferred_language": pd.Series(language, dtype="str"),
            "birth_year": birth_year,
            "gender": pd.Series(gender, dtype="str"),
            "monthly_income": np.where(b.income_reported, b.reported_income, np.nan).astype(np.float64),
            "has_phone": b.has_phone.astype(bool),
            "has_email": b.has_email.astype(bool),
            "consent_sms": b.consent_sms.astype(bool),
            "consent_email": b.consent_email.astype(bool),
            "consent_whatsapp": b.consent_whatsapp.astype(bool),
            "do_not_contact": b.do_not_contact.astype(bool),
        }
    )


def _loans_table(config: SimulationConfig, population: Population, rows: np.ndarray) -> pd.DataFrame:
    loans = population.loans.take(rows)
    product = _lookup(catalog.PRODUCTS, loans.product)
    frequency = _lookup(tuple(p.frequency for p in catalog.PRODUCT_SPECS), loans.product)
    return pd.DataFrame(
        {
            "loan_id": pd.Series(loan_ids(population.n_loans)[rows], dtype="str"),
            "borrower_id": pd.Series(borrower_ids(population.n_borrowers)[loans.borrower_index], dtype="str"),
            "product": pd.Series(product, dtype="str"),
            "branch_id": pd.Series(_lookup(population.branch_ids, loans.branch), dtype="str"),
            "currency": pd.Series(np.full(len(rows), "USD", dtype=object), dtype="str"),
            "disbursed_on": _dates(config, loans.disbursed_day),
            "principal": loans.principal_cents / 100.0,
            "annual_interest_rate": loans.annual_rate.astype(np.float64),
            "installment_frequency": pd.Series(frequency, dtype="str"),
            "n_installments": loans.n_installments.astype(np.int64),
            "installment_amount": loans.installment_cents / 100.0,
        }
    )


def _installments_table(config: SimulationConfig, population: Population, rows: np.ndarray) -> pd.DataFrame:
    loans = population.loans
    schedule = loans.schedule_row[rows]
    n_installments = loans.n_installments[rows]
    column = np.arange(population.schedules.due_day.shape[1])
    in_schedule = column[None, :] < n_installments[:, None]
    row_of, col_of = np.nonzero(in_schedule)
    cumulative = population.schedules.cumulative_due_cents[schedule]
    amount = np.diff(np.where(in_schedule, cumulative, 0), axis=1, prepend=0)
    return pd.DataFrame(
        {
            "loan_id": pd.Series(loan_ids(population.n_loans)[rows[row_of]], dtype="str"),
            "installment_no": (col_of + 1).astype(np.int64),
            "due_date": _dates(config, population.schedules.due_day[schedule[row_of], col_of]),
            "amount_due": amount[row_of, col_of] / 100.0,
        }
    )


def _utc_timestamps(
    config: SimulationConfig, day: np.ndarray, region: np.ndarray, local_seconds: np.ndarray
) -> pd.Series:
    """The true UTC instants of local clock time ``local_seconds`` on local date ``day``.

    ``local_seconds`` (in [0, 86400)) is the wall-clock time after local midnight of
    simulated day ``day`` in the region's time zone, converted with the zone's real
    offset at that local time (DST aware, vectorised per zone by pandas). A wall-clock
    time that happens twice (the autumn fold) is the first pass, still on daylight
    time; one that never happens (the spring gap) moves forward to the first instant
    after the gap, 03:00 local (pandas ``ambiguous=True, nonexistent="shift_forward"``).
    An evening event of day ``t`` in the Americas is thus after 00:00 UTC of day ``t + 1``.
    """
    start_ns = np.datetime64(config.sim_start, "D").astype("datetime64[ns]").astype(np.int64)
    wall_ns = (
        start_ns
        + np.asarray(day, dtype=np.int64) * _NS_PER_DAY
        + np.asarray(local_seconds).astype(np.int64) * 10**9
    )
    zone = np.asarray(catalog.REGION_TIMEZONE_CODE, dtype=np.int64)[region]
    utc_ns = np.empty(len(wall_ns), dtype=np.int64)
    for code, name in enumerate(catalog.TIMEZONES):
        rows = np.flatnonzero(zone == code)
        if rows.size:
            wall = pd.DatetimeIndex(wall_ns[rows].astype("datetime64[ns]"))
            utc_ns[rows] = wall.tz_localize(
                name, ambiguous=np.ones(rows.size, dtype=bool), nonexistent="shift_forward"
            ).asi8
    return pd.Series(utc_ns.astype("datetime64[ns]")).dt.tz_localize("UTC")


def _hours(start: float, end: float, u: np.ndarray) -> np.ndarray:
    return np.floor((start + (end - start) * u) * 3600.0)


def _payment_local_seconds(method: np.ndarray, u: np.ndarray) -> np.ndarray:
    card_like = np.where(
        u < 0.05, np.mod(_hours(23.0, 31.0, u / 0.05), _SECONDS_PER_DAY), _hours(7.0, 23.0, (u - 0.05) / 0.95)
    )
    return np.select(
        [
            method == DIRECT_DEBIT,
            method == catalog.CASH,
            (method == catalog.BANK_TRANSFER) | (method == catalog.AGENCY_METHOD),
        ],
        [_hours(2.0, 6.0, u), _hours(9.0, 18.0, u), _hours(7.0, 21.0, u)],
        default=card_like,
    )


_OUTBOUND_HOURS = {  # local business windows per channel, all inside the lawful 08:00-21:00
    catalog.CALL: (8.5, 20.5),
    catalog.SMS: (9.0, 19.0),
    catalog.EMAIL: (8.0, 21.0),
    catalog.WHATSAPP: (9.0, 20.0),
    catalog.FIELD_VISIT: (9.0, 19.0),
    catalog.LETTER: (9.0, 17.0),
}


def _interaction_local_seconds(
    config: SimulationConfig,
    channel: np.ndarray,
    direction: np.ndarray,
    u: np.ndarray,
    u_outside: np.ndarray,
    lawful_hours: np.ndarray,
) -> np.ndarray:
    """Local clock time (seconds after local midnight) of each interaction.

    Outbound contacts fall uniformly in their channel's business window, inbound calls in
    08:00-21:00. A share ``outside_hours_share`` of the outbound contacts of the lender's old
    rule book is logged between 21:00 and 08:00 instead (same local date), as in messy real
    data; contacts whose dialer keeps lawful hours (``lawful_hours``: the engine's queue)
    never are.
    """
    start = np.select([channel == c for c in _OUTBOUND_HOURS], [w[0] for w in _OUTBOUND_HOURS.values()])
    end = np.select([channel == c for c in _OUTBOUND_HOURS], [w[1] for w in _OUTBOUND_HOURS.values()])
    inbound = direction == INBOUND
    start = np.where(inbound, 8.0, start)
    end = np.where(inbound, 21.0, end)
    seconds = _hours(start, end, u)
    # A small share of the old rule book's outbound contacts is logged outside 08:00-21:00.
    outside = (~inbound) & ~lawful_hours & (u_outside < config.outside_hours_share)
    seconds[outside] = np.mod(_hours(21.0, 32.0, u[outside]), _SECONDS_PER_DAY)
    return seconds


def _dialer_calls_first(
    loan: np.ndarray,
    day: np.ndarray,
    channel: np.ndarray,
    direction: np.ndarray,
    lawful_hours: np.ndarray,
    local: np.ndarray,
) -> np.ndarray:
    """Local times with every lawful-hours dialer call placed before the borrower's own calls
    of that loan and day.

    A dialer that re-checks the account before dialing (what a queue's ``data_cutoff_utc`` asks
    of it) does not call a borrower who has already phoned in that day: Reg F's 7 days after a
    conversation start then. The simulator has already decided that both calls happened, so the
    dialer's is the earlier one: drawn between 08:00 and the inbound call (which moves to at
    least 08:02 when it came earlier).
    """
    dialed = lawful_hours & (channel == CALL) & (direction != INBOUND)
    inbound = (channel == CALL) & (direction == INBOUND)
    if not (dialed.any() and inbound.any()):
        return local
    out = local.astype(np.float64).copy()
    key = loan.astype(np.int64) * 1_000_000 + day.astype(np.int64)
    first_inbound = pd.Series(out[inbound]).groupby(key[inbound]).min()
    limit = pd.Series(key[dialed]).map(first_inbound).to_numpy(dtype=np.float64)
    clash = ~np.isnan(limit) & (out[dialed] >= limit)
    if clash.any():
        opens = 8 * 3600.0
        latest = np.maximum(limit[clash], opens + 120.0)
        rows = np.flatnonzero(dialed)[clash]
        # Keep the dialer's own draw's position within the morning, deterministic for the seed.
        share = (out[rows] % 3600.0) / 3600.0
        out[rows] = np.floor(opens + share * (latest - 60.0 - opens))
        moved_in = inbound & np.isin(key, key[rows]) & (out < opens + 120.0)
        out[moved_in] = opens + 120.0
    return out


def _payment_methods(population: Population, loan: np.ndarray, kind: np.ndarray, u: np.ndarray) -> np.ndarray:
    preferred = population.borrowers.preferred_method[population.loans.borrower_index[loan]]
    non_debit = np.array([catalog.CARD, catalog.BANK_TRANSFER, catalog.CASH, catalog.WALLET])
    other = non_debit[np.minimum(((u - 0.8) / 0.2 * 4).astype(np.int64), 3).clip(0)]
    # Direct debits only collect scheduled installments; a debit payer catching up pays by card or transfer.
    debit_fallback = np.where(u < 0.48, catalog.CARD, catalog.BANK_TRANSFER)
    scheduled_debit = (preferred == DIRECT_DEBIT) & (kind == catalog.SCHEDULED_PAYMENT)
    method = np.where(
        scheduled_debit,
        DIRECT_DEBIT,
        np.where(preferred == DIRECT_DEBIT, debit_fallback, np.where(u < 0.8, preferred, other)),
    )
    # The lender books arrangement and agency money under those names, whatever the borrower used.
    arrangement = (kind == catalog.INSTALMENT_PAYMENT) | (kind == catalog.SETTLEMENT_PAYMENT)
    method = np.where(arrangement, catalog.ARRANGEMENT_METHOD, method)
    return np.where(kind == catalog.AGENCY_PAYMENT, catalog.AGENCY_METHOD, method).astype(np.int8)


class _EventFrames:
    """Turns the simulator's event log into table-shaped frames for a day window."""

    def __init__(self, simulator: LoanBookSimulator) -> None:
        self.config = simulator.config
        self.population = simulator.population
        self._payments = simulator.log.payments()
        self._interactions = simulator.log.interactions()
        self._flags = simulator.log.flags()
        self._offers = simulator.log.offers()
        self._arrangement_events = simulator.log.arrangement_events()
        self._loan_ids = loan_ids(self.population.n_loans)

    def _region(self, loan: np.ndarray) -> np.ndarray:
        return self.population.borrowers.region[self.population.loans.borrower_index[loan]]

    def payments(self, from_day: int, to_day: int) -> pd.DataFrame:
        log = self._payments
        rows = np.flatnonzero((log["day"] >= from_day) & (log["day"] < to_day))
        loan, day = log["loan_index"][rows], log["day"][rows]
        method = _payment_methods(self.population, loan, log["kind"][rows], log["u_method"][rows])
        paid_at = _utc_timestamps(
            self.config, day, self._region(loan), _payment_local_seconds(method, log["u_time"][rows])
        )
        frame = pd.DataFrame(
            {
                "payment_id": _ids("P", rows + 1, 8).astype("str"),
                "loan_id": pd.Series(self._loan_ids[loan], dtype="str"),
                "paid_at": paid_at,
                "amount": log["amount_cents"][rows] / 100.0,
                "method": pd.Series(_lookup(catalog.PAYMENT_METHODS, method), dtype="str"),
            }
        )
        return frame.sort_values(["paid_at", "payment_id"], kind="stable", ignore_index=True)

    def interactions(self, from_day: int, to_day: int) -> pd.DataFrame:
        log = self._interactions
        rows = np.flatnonzero((log["day"] >= from_day) & (log["day"] < to_day))
        loan, day = log["loan_index"][rows], log["day"][rows]
        channel, direction, outcome = log["channel"][rows], log["direction"][rows], log["outcome"][rows]
        local = _interaction_local_seconds(
            self.config,
            channel,
            direction,
            log["u_time"][rows],
            log["u_outside"][rows],
            log["lawful_hours"][rows],
        )
        local = _dialer_calls_first(loan, day, channel, direction, log["lawful_hours"][rows], local)
        promise = outcome == PROMISE_TO_PAY
        promised_amount = np.where(promise, log["promised_cents"][rows] / 100.0, np.nan)
        promised_date = np.where(
            promise, _dates(self.config, np.maximum(log["promised_day"][rows], 0)), np.datetime64("NaT", "ns")
        ).astype("datetime64[ns]")
        cfg = self.config
        agent_number = np.where(
            channel == FIELD_VISIT,
            cfg.n_call_agents + 1 + (log["u_agent"][rows] * cfg.n_field_agents).astype(np.int64),
            1 + (log["u_agent"][rows] * cfg.n_call_agents).astype(np.int64),
        )
        has_agent = (channel == CALL) | (channel == FIELD_VISIT)
        agent = np.where(has_agent, _ids("A", agent_number, 4).to_numpy(dtype=object), None)
        frame = pd.DataFrame(
            {
                "interaction_id": _ids("I", rows + 1, 8).astype("str"),
                "loan_id": pd.Series(self._loan_ids[loan], dtype="str"),
                "occurred_at": _utc_timestamps(cfg, day, self._region(loan), local),
                "channel": pd.Series(_lookup(catalog.CHANNELS, channel), dtype="str"),
                "direction": pd.Series(_lookup(catalog.DIRECTIONS, direction), dtype="str"),
                "outcome": pd.Series(_lookup(catalog.OUTCOMES, outcome), dtype="str"),
                "promised_amount": promised_amount.astype(np.float64),
                "promised_date": promised_date,
                "agent_id": pd.Series(agent, dtype="str"),
            }
        )
        return frame.sort_values(["occurred_at", "interaction_id"], kind="stable", ignore_index=True)

    def flags(self, from_day: int, to_day: int, open_after: int) -> pd.DataFrame:
        log = self._flags
        rows = np.flatnonzero((log["start_day"] >= from_day) & (log["start_day"] < to_day))
        # The engine keeps flags in force on [start_day, end_day); the contract's ends_on is
        # the last day in force, and it is only known once that day has passed.
        last_day = log["end_day"][rows] - 1
        ends_on = np.where(
            last_day < open_after,
            _dates(self.config, np.minimum(last_day, open_after)),
            np.datetime64("NaT", "ns"),
        ).astype("datetime64[ns]")
        frame = pd.DataFrame(
            {
                "loan_id": pd.Series(self._loan_ids[log["loan_index"][rows]], dtype="str"),
                "flag": pd.Series(_lookup(catalog.FLAGS, log["flag"][rows]), dtype="str"),
                "starts_on": _dates(self.config, log["start_day"][rows]),
                "ends_on": ends_on,
            }
        )
        return frame.sort_values(["starts_on", "loan_id", "flag"], kind="stable", ignore_index=True)

    def _end_of_offers(self, rows: np.ndarray, known_before: int) -> tuple[np.ndarray, np.ndarray]:
        """For the offers ``rows`` of the log: the day and event that ended each arrangement
        before ``known_before`` (NO_DAY and -1 while running, or when never accepted)."""
        log, events = self._offers, self._arrangement_events
        ending = np.flatnonzero((events["event"] != catalog.INSTALMENT_KEPT) & (events["day"] < known_before))
        ends = pd.DataFrame(
            {
                "loan_index": events["loan_index"][ending],
                "day": events["offered_day"][ending],
                "end_day": events["day"][ending],
                "end_event": events["event"][ending].astype(np.int64),
            }
        )
        keys = pd.DataFrame({"loan_index": log["loan_index"][rows], "day": log["day"][rows]})
        # An arrangement ends once: one row per offer (validate raises otherwise).
        joined = keys.merge(ends, on=["loan_index", "day"], how="left", validate="many_to_one")
        return (
            joined["end_day"].fillna(NO_DAY).to_numpy(dtype=np.int64),
            joined["end_event"].fillna(-1).to_numpy(dtype=np.int64),
        )

    def arrangements(self, from_day: int, to_day: int, known_before: int) -> pd.DataFrame:
        """The input contract's ``arrangements`` rows: plans and settlements put to a borrower on
        days [from_day, to_day); ``broken_on`` when the break happened before ``known_before``."""
        log = self._offers
        put = log["outcome"] >= catalog.OFFER_DECLINED
        in_contract = log["kind"] != catalog.OFFER_DEFERMENT
        rows = np.flatnonzero(put & in_contract & (log["day"] >= from_day) & (log["day"] < to_day))
        end_day, end_event = self._end_of_offers(rows, known_before)
        broken = end_event == catalog.ARRANGEMENT_BROKEN
        kind = log["kind"][rows]
        settlement = kind == catalog.OFFER_SETTLEMENT
        frame = pd.DataFrame(
            {
                "loan_id": pd.Series(self._loan_ids[log["loan_index"][rows]], dtype="str"),
                "kind": pd.Series(_lookup(catalog.OFFER_KINDS, kind), dtype="str"),
                "offered_on": _dates(self.config, log["day"][rows]),
                "accepted": log["outcome"][rows] == catalog.OFFER_ACCEPTED,
                "instalment": log["amount_cents"][rows] / 100.0,
                "n_instalments": pd.array(np.where(settlement, 1, log["n_instalments"][rows]), dtype="Int64"),
                "discount": np.where(settlement, log["discount"][rows], np.nan).astype(np.float64),
                "broken_on": np.where(
                    broken, _dates(self.config, np.maximum(end_day, 0)), np.datetime64("NaT", "ns")
                ).astype("datetime64[ns]"),
            }
        )
        return frame.sort_values(["offered_on", "loan_id"], kind="stable", ignore_index=True)

    def offers_truth(self, to_day: int) -> pd.DataFrame:
        """Every offer of days before ``to_day`` (deferments and offers never put included) with
        the true probability that the borrower accepted it as put, and how it ended."""
        log = self._offers
        rows = np.flatnonzero(log["day"] < to_day)
        end_day, end_event = self._end_of_offers(rows, to_day)
        channel = log["channel"][rows]
        ended = end_event >= 0
        return pd.DataFrame(
            {
                "loan_id": pd.Series(self._loan_ids[log["loan_index"][rows]], dtype="str"),
                "kind": pd.Series(_lookup(catalog.OFFER_KINDS, log["kind"][rows]), dtype="str"),
                "offered_on": _dates(self.config, log["day"][rows]),
                "amount": log["amount_cents"][rows] / 100.0,
                "n_instalments": log["n_instalments"][rows].astype(np.int64),
                "discount": log["discount"][rows].astype(np.float64),
                "outcome": pd.Series(_lookup(catalog.OFFER_OUTCOMES, log["outcome"][rows]), dtype="str"),
                "channel": pd.Series(
                    np.where(channel >= 0, _lookup(catalog.CHANNELS, np.maximum(channel, 0)), None),
                    dtype="str",
                ),
                "p_accept": log["p_accept"][rows].astype(np.float64),
                "ended_on": np.where(
                    ended, _dates(self.config, np.maximum(end_day, 0)), np.datetime64("NaT", "ns")
                ).astype("datetime64[ns]"),
                "ended_by": pd.Series(
                    np.where(ended, _lookup(catalog.ARRANGEMENT_EVENTS, np.maximum(end_event, 0)), None),
                    dtype="str",
                ),
            }
        )


# ---------------------------------------------------------------------------- ground truth


def estimate_pay_probabilities(
    simulator: LoanBookSimulator,
    loan_index: np.ndarray,
    horizon_days: int,
    replicates: int,
    seed: np.random.SeedSequence,
    *,
    own_contact_traits: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo P(qualifying payment within the horizon) without contact and per channel.

    Every loan in ``loan_index`` (overdue at the simulator's day) is replicated
    ``replicates`` times per scenario: no contact at all, or a single contact
    through one channel today and nothing afterwards. Replicas of different
    scenarios share their behavioural draws, so the uplift estimate only
    reflects the contact. A channel without the means (no phone/e-mail) gets the
    no-contact probability (uplift 0).

    ``own_contact_traits=False`` gives each replicate the contact traits (reachability,
    responsiveness, wrong number) of a random loan of the book, the same in every scenario of
    that replicate: the probabilities then average over how borrowers answer contact, knowing
    everything else (state, ability, willingness), which is the best any policy can know of a
    borrower it has never seen respond.

    Returns ``(p_no_contact[n], p_contact[n, channels])``.
    """
    loan_index = np.asarray(loan_index, dtype=np.int64)
    n = len(loan_index)
    n_scenarios = 1 + catalog.N_CHANNELS
    if n == 0 or replicates == 0:
        return np.full(n, np.nan), np.full((n, catalog.N_CHANNELS), np.nan)
    rows = np.tile(loan_index, n_scenarios * replicates)
    luck = np.tile(np.arange(replicates * n), n_scenarios)
    scenario = np.repeat(np.arange(n_scenarios), replicates * n)
    threshold = np.minimum(
        simulator.amount_overdue_cents()[rows], simulator.population.loans.installment_cents[rows]
    )
    trait_seed, luck_seed = seed.spawn(2) if not own_contact_traits else (None, seed)
    replica = simulator.replicate_loans(rows, luck_index=luck, seed=luck_seed)
    if not own_contact_traits:
        donors = np.random.default_rng(trait_seed).integers(0, simulator.population.n_loans, replicates * n)
        replica.adopt_contact_traits(simulator, np.tile(donors, n_scenarios))
    paid_before = replica.loan_state.paid_cents.copy()
    contacts = []
    for channel in range(catalog.N_CHANNELS):
        in_scenario = np.flatnonzero((scenario == channel + 1) & replica.has_means(channel))
        contacts.append(Contacts.single_channel(in_scenario, channel))
    replica.step(Contacts.concat(contacts))
    replica.run(None, until_day=simulator.day + horizon_days)
    qualified = (replica.loan_state.paid_cents - paid_before) >= threshold
    probability = qualified.reshape(n_scenarios, replicates, n).mean(axis=1)
    return probability[0], probability[1:].T


def _ground_truth(
    config: SimulationConfig, at_as_of: LoanBookSimulator, final: LoanBookSimulator, seeds: SimulationSeeds
) -> dict[str, pd.DataFrame]:
    population = at_as_of.population
    borrowers = population.borrowers
    as_of_day = config.as_of_day
    shock_until = at_as_of.borrower_state.shock_until
    in_shock = shock_until > as_of_day
    latent = {
        "borrower_id": pd.Series(borrower_ids(population.n_borrowers), dtype="str"),
        "ability": borrowers.ability,
        "willingness": borrowers.willingness,
        "true_monthly_income": borrowers.monthly_income,
        "shock_daily_rate": borrowers.shock_daily_rate,
        "in_shock_at_as_of": in_shock,
        "shock_ends_on": np.where(
            in_shock, _dates(config, np.maximum(shock_until, 0)), np.datetime64("NaT", "ns")
        ).astype("datetime64[ns]"),
        "wrong_number": borrowers.wrong_number,
        "preferred_payment_method": pd.Series(
            _lookup(catalog.PAYMENT_METHODS, borrowers.preferred_method), dtype="str"
        ),
    }
    for code, channel in enumerate(catalog.CHANNELS):
        latent[f"reachability_{channel}"] = borrowers.reachability[:, code]
    for code, channel in enumerate(catalog.CHANNELS):
        latent[f"responsiveness_{channel}"] = borrowers.responsiveness[:, code]

    loans = population.loans
    overdue = at_as_of.overdue_mask()
    overdue_cents = at_as_of.amount_overdue_cents()
    threshold_cents = np.where(overdue, np.minimum(overdue_cents, loans.installment_cents), 0)
    overdue_rows = np.flatnonzero(overdue)
    p_none = np.full(population.n_loans, np.nan)
    uplift = np.full((population.n_loans, catalog.N_CHANNELS), np.nan)
    if config.truth_mc_replicates > 0:
        p0, p_contact = estimate_pay_probabilities(
            at_as_of, overdue_rows, config.truth_horizon_days, config.truth_mc_replicates, seeds.truth
        )
        p_none[overdue_rows] = p0
        uplift[overdue_rows] = p_contact - p0[:, None]

    paid_in_horizon = _paid_between(final, as_of_day, as_of_day + config.truth_horizon_days)
    horizon_observed = config.forward_days >= config.truth_horizon_days
    state = {
        "loan_id": pd.Series(loan_ids(population.n_loans), dtype="str"),
        "is_active": at_as_of.active_mask().copy(),
        "is_overdue": overdue.copy(),
        "amount_overdue": overdue_cents / 100.0,
        "days_past_due": at_as_of.days_past_due().astype(np.int64),
        "outstanding_balance": at_as_of.outstanding_balance_cents() / 100.0,
        "qualifying_amount": np.where(overdue, threshold_cents / 100.0, np.nan),
        "daily_hazard_no_contact": at_as_of.no_contact_daily_hazard(),
        "p_pay_30d_no_contact": p_none,
    }
    for code, channel in enumerate(catalog.CHANNELS):
        state[f"uplift_{channel}"] = uplift[:, code]
    # Realised outcome under the historical policy; null where the label is undefined
    # (loan not overdue) or the forward window is shorter than the horizon.
    state["paid_30d_historical_policy"] = paid_in_horizon / 100.0
    qualified = pd.array(paid_in_horizon >= threshold_cents, dtype="boolean")
    qualified[~overdue | (not horizon_observed)] = pd.NA
    state["qualified_30d_historical_policy"] = qualified
    state.update(_arrangement_state(at_as_of))

    events = _EventFrames(final)
    return {
        "borrower_latent": pd.DataFrame(latent),
        "loan_state_at_as_of": pd.DataFrame(state),
        "future_payments": events.payments(as_of_day, config.end_day),
        "future_interactions": events.interactions(as_of_day, config.end_day),
        "future_account_flags": events.flags(as_of_day, config.end_day, open_after=config.end_day),
        "arrangement_offers": events.offers_truth(config.end_day),
    }


def _arrangement_state(simulator: LoanBookSimulator) -> dict[str, object]:
    """Per loan at the simulator's day: the arrangement in force (plan, settlement, deferment or
    null), closed by a paid settlement, and the balance that settlement wrote off."""
    kind = simulator.arrangement_kind()
    return {
        "arrangement_at_as_of": pd.Series(
            np.where(kind >= 0, _lookup(catalog.OFFER_KINDS, np.maximum(kind, 0)), None), dtype="str"
        ),
        "settled": simulator.settled().copy(),
        "written_off": simulator.written_off_cents() / 100.0,
    }


def _paid_between(simulator: LoanBookSimulator, from_day: int, to_day: int) -> np.ndarray:
    log = simulator.log.payments()
    window = (log["day"] >= from_day) & (log["day"] < to_day)
    return (
        np.bincount(
            log["loan_index"][window],
            weights=log["amount_cents"][window],
            minlength=simulator.population.n_loans,
        )
        .round()
        .astype(np.int64)
    )


# ---------------------------------------------------------------------------- files


# Fictional names and streets for the demo book's contact details (no real person's).
_FIRST_NAMES = ("Ada", "Bo", "Cleo", "Dev", "Esi", "Finn", "Gia", "Hal", "Ines", "Jun", "Kofi", "Lena")
_LAST_NAMES = ("Adler", "Brook", "Castell", "Dunmore", "Everly", "Fairbank", "Greaves", "Holloway", "Ivers")
_STREETS = ("Alder", "Birch", "Cedar", "Elm", "Maple", "Oak", "Pine", "Willow")


def contact_details(borrowers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The optional contact details of a simulated book, derived from the borrower ids alone (no
    random draw, so the rest of the book is unchanged): ``borrowers`` with a ``display_name``,
    and the ``contact_points`` table (a phone where the borrower has one, a messaging handle
    where they consented to WhatsApp, an e-mail where they have one, a postal address for
    everyone; all primary). Fictional: 555 numbers, example.com addresses."""
    number = (
        borrowers["borrower_id"].astype("str").str.extract(r"(\d+)", expand=False).fillna("0").astype("int64")
    )
    first = np.asarray(_FIRST_NAMES, dtype=object)[(number % len(_FIRST_NAMES)).to_numpy()]
    last = np.asarray(_LAST_NAMES, dtype=object)[
        ((number // len(_FIRST_NAMES)) % len(_LAST_NAMES)).to_numpy()
    ]
    named = borrowers.assign(display_name=pd.Series(first + " " + last, index=borrowers.index, dtype="str"))
    ids = borrowers["borrower_id"].astype("str")
    phone = "+1555" + number.astype("str").str.zfill(7)
    email = (
        pd.Series(first, index=borrowers.index) + "." + pd.Series(last, index=borrowers.index)
    ).str.lower()
    email = email + "." + number.astype("str") + "@example.com"
    street = np.asarray(_STREETS, dtype=object)[(number % len(_STREETS)).to_numpy()]
    address = (
        (number % 900 + 100).astype("str") + " " + street + " Street, " + borrowers["region"].astype("str")
    )
    pieces = [
        pd.DataFrame({"borrower_id": ids, "kind": "phone", "value": phone})[
            borrowers["has_phone"].to_numpy()
        ],
        pd.DataFrame({"borrower_id": ids, "kind": "messaging", "value": phone})[
            (borrowers["has_phone"] & borrowers["consent_whatsapp"]).to_numpy()
        ],
        pd.DataFrame({"borrower_id": ids, "kind": "email", "value": email})[
            borrowers["has_email"].to_numpy()
        ],
        pd.DataFrame({"borrower_id": ids, "kind": "address", "value": address}),
    ]
    points = pd.concat(pieces, ignore_index=True).sort_values(["borrower_id", "kind"], kind="stable")
    points = points.reset_index(drop=True).astype({"borrower_id": "str", "kind": "str", "value": "str"})
    points["is_primary"] = True
    points["verified_on"] = pd.Series(pd.NaT, index=points.index, dtype="datetime64[ns]")
    return named, points


def write_book(
    book: SimulatedBook,
    out_dir: Path,
    fmt: Literal["parquet", "csv"] = "parquet",
    *,
    with_contact_details: bool = True,
) -> dict[str, Path]:
    """Write the six tables to ``out_dir/<table>.<fmt>`` and the truth to ``out_dir/truth/<name>.parquet``.

    With ``with_contact_details`` (the default) the borrowers carry a ``display_name`` and the
    optional ``contact_points`` table is written too (:func:`contact_details`).
    CSV output writes dates as ``YYYY-MM-DD`` and timestamps as ISO 8601 with a
    ``+00:00`` offset. The book's config (if any) is saved to
    ``out_dir/truth/simulation_config.json`` for reproducibility. Returns the
    written paths keyed by table name (truth tables as ``truth/<name>``).
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unsupported format: {fmt!r}")
    out_dir = Path(out_dir)
    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    tables = dict(book.tables)
    if with_contact_details and "borrowers" in tables:
        tables["borrowers"], tables["contact_points"] = contact_details(tables["borrowers"])
    for name, frame in tables.items():
        path = out_dir / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            csv_text(frame).to_csv(path, index=False)
        written[name] = path
    for name, frame in book.truth.items():
        path = truth_dir / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        written[f"truth/{name}"] = path
    if book.config is not None:
        path = truth_dir / "simulation_config.json"
        path.write_text(json.dumps(book.config.model_dump(mode="json"), indent=2, sort_keys=True))
        written["truth/simulation_config"] = path
    return written
