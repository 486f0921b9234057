"""The simulator's truth for offers, arrangements and agency referrals (issue 28)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from data_contracts.validation import validate_tables
from simulation import (
    Contacts,
    HistoricalPolicy,
    LoanBookSimulator,
    Offers,
    SimulationConfig,
    catalog,
    observed_tables,
    run_history,
    simulate_book,
)
from simulation.catalog import CALL, SMS

# Contacts only, as the history was before offers existed.
CONTACTS_ONLY = SimulationConfig(n_loans=3000, seed=7, truth_mc_replicates=0, arrangements_in_history=False)


@pytest.fixture(scope="module")
def history() -> LoanBookSimulator:
    return run_history(CONTACTS_ONLY).simulator


def _event_digest(sim: LoanBookSimulator) -> str:
    sha = hashlib.sha256()
    for part, names in (
        ("payments", ("loan_index", "day", "amount_cents", "kind")),
        (
            "interactions",
            ("loan_index", "day", "channel", "direction", "outcome", "promised_cents", "promised_day"),
        ),
        ("flags", ("loan_index", "flag", "start_day", "end_day")),
    ):
        log = getattr(sim.log, part)()
        for name in names:
            sha.update(np.ascontiguousarray(log[name], dtype=np.int64).tobytes())
    return sha.hexdigest()


def test_a_history_without_offers_is_event_for_event_the_one_before_offers_existed():
    """Pinned: the digest of this book's history computed with the simulator as it was before
    issue 28 (no offers, no referrals). New decisions read their own luck stream, so a run
    without them must draw exactly what it drew before."""
    config = SimulationConfig(n_loans=400, seed=3, truth_mc_replicates=0, arrangements_in_history=False)
    run = run_history(config)
    assert _event_digest(run.simulator) == "5b7a56ffb0dbb222bec407289a0f86a74b27b7b91194470e19eb649ab5deab69"
    assert len(run.simulator.log.offers()["loan_index"]) == 0


def _days(sim: LoanBookSimulator, policy: HistoricalPolicy, days: int, offers_for=None) -> list:
    events = []
    for _ in range(days):
        contacts = policy.select_contacts(sim)
        offers = offers_for(sim, contacts) if offers_for is not None else None
        events.append(sim.step(contacts, offers=offers))
    return events


def _same_events(first: list, second: list) -> None:
    for a, b in zip(first, second, strict=True):
        for part in ("payments", "interactions", "flags"):
            for name, values in getattr(a, part).items():
                np.testing.assert_array_equal(values, getattr(b, part)[name], err_msg=f"{part}.{name}")


def test_offers_never_put_to_a_borrower_change_nothing_else(history):
    """Offers to loans nobody contacted that day are recorded as not presented; every payment,
    contact and flag of the day is the one of a day without them."""

    def offers_to_the_uncontacted(sim, contacts):
        idle = np.flatnonzero(
            sim.overdue_mask() & ~np.isin(np.arange(sim.population.n_loans), contacts.loan_index)
        )
        return Offers.plans(idle[:50], 5_000, 6)

    policy = HistoricalPolicy(CONTACTS_ONLY, rng=np.random.default_rng(1))
    plain = _days(history.snapshot(), policy, 5)
    policy = HistoricalPolicy(CONTACTS_ONLY, rng=np.random.default_rng(1))
    with_offers = _days(history.snapshot(), policy, 5, offers_to_the_uncontacted)
    _same_events(plain, with_offers)
    assert sum(day.offers_not_presented for day in with_offers) == 5 * 50
    outcomes = np.concatenate([day.offers["outcome"] for day in with_offers])
    assert (outcomes == catalog.OFFER_NOT_CONTACTED).all()
    assert np.isnan(np.concatenate([day.offers["p_accept"] for day in with_offers])).all()


def _callable_overdue(sim: LoanBookSimulator, min_dpd: int = 1) -> np.ndarray:
    return np.flatnonzero(
        sim.overdue_mask() & sim.contactable(CALL) & (sim.days_past_due() >= min_dpd) & ~sim.in_arrangement()
    )


def _call_with_offers(sim: LoanBookSimulator, offers: Offers):
    return sim.step(Contacts.single_channel(offers.loan_index, CALL), offers=offers)


def _accepted(events, kind: int) -> np.ndarray:
    offers = events.offers
    return offers["loan_index"][(offers["outcome"] == catalog.OFFER_ACCEPTED) & (offers["kind"] == kind)]


def test_offers_are_put_only_to_borrowers_the_call_reached(history):
    sim = history.snapshot()
    loans = _callable_overdue(sim)
    events = _call_with_offers(sim, Offers.plans(loans, 2_000, 6))
    reached = np.isin(
        events.interactions["outcome"], [catalog.RIGHT_PARTY_CONTACT, catalog.PROMISE_TO_PAY, catalog.REFUSED]
    )
    reached &= events.interactions["direction"] == catalog.OUTBOUND  # not a call the borrower made later
    reached_loans = set(events.interactions["loan_index"][reached])
    put = events.offers["outcome"] >= catalog.OFFER_DECLINED
    assert set(events.offers["loan_index"][put]) == reached_loans
    not_put = events.offers["outcome"][~put]
    assert (not_put == catalog.OFFER_NOT_REACHED).all() and len(not_put) > 0
    assert (events.offers["channel"][put] == CALL).all() and (events.offers["channel"][~put] == -1).all()
    assert events.offers_not_presented == int((~put).sum())


def test_an_accepted_plan_pays_instalments_every_30_days_until_broken_or_completed(history):
    sim = history.snapshot()
    loans = _callable_overdue(sim, min_dpd=15)
    start = sim.day
    events = _call_with_offers(sim, Offers.plans(loans, 1_500, 4))
    plans = _accepted(events, catalog.OFFER_PLAN)
    assert len(plans) >= 20
    assert sim.in_arrangement()[plans].all()
    sim.run(None, until_day=start + 130)
    pay = pd.DataFrame(sim.log.payments())
    pay = pay[pay["day"] >= start]
    instalments = pay[pay["kind"] == catalog.INSTALMENT_PAYMENT]
    assert set(instalments["loan_index"]) <= set(plans)
    ends = pd.DataFrame(sim.log.arrangement_events())
    ends = ends[ends["event"] != catalog.INSTALMENT_KEPT].set_index("loan_index")
    seen_kept = seen_broken = 0
    for loan in plans:
        days = instalments.loc[instalments["loan_index"] == loan, "day"].to_numpy()
        end = ends.loc[loan]
        if len(days):
            assert 1 <= days[0] - start <= 5
            assert (np.diff(days) == 30).all()
            assert (instalments.loc[instalments["loan_index"] == loan, "amount_cents"] <= 1_500).all()
        if end["event"] == catalog.ARRANGEMENT_BROKEN:
            seen_broken += 1
            assert (days < end["day"]).all()  # nothing after the break...
            # ... which is the day of the first instalment missed.
            first_missed = days[0] + 30 * len(days) if len(days) else end["day"]
            assert end["day"] == first_missed and 1 <= first_missed - start <= 5 + 30 * len(days)
            after = pay[(pay["loan_index"] == loan) & (pay["day"] > end["day"])]
            assert (after["kind"] != catalog.INSTALMENT_PAYMENT).all()
        else:
            assert end["event"] == catalog.ARRANGEMENT_COMPLETED
            seen_kept += 1
            assert (
                len(days) == 4
                or sim.population.loans.total_due_cents[loan] <= sim.loan_state.paid_cents[loan]
            )
        # While the plan ran it was all the borrower paid (but a promise made in the call).
        running = pay[(pay["loan_index"] == loan) & (pay["day"] >= start) & (pay["day"] < end["day"])]
        assert set(running["kind"]) <= {catalog.INSTALMENT_PAYMENT, catalog.PROMISE_PAYMENT}
    assert seen_kept > 0 and seen_broken > 0
    assert not sim.in_arrangement()[plans].any()


def test_a_paid_settlement_closes_the_loan_and_writes_off_the_rest(history):
    sim = history.snapshot()
    loans = _callable_overdue(sim, min_dpd=60)
    balance = sim.outstanding_balance_cents()[loans]
    start = sim.day
    events = _call_with_offers(sim, Offers.settlements(loans, np.round(balance * 0.6), 0.4))
    accepted = _accepted(events, catalog.OFFER_SETTLEMENT)
    assert len(accepted) >= 10
    sim.run(None, until_day=start + 20)
    outcome = pd.DataFrame(sim.log.arrangement_events()).set_index("loan_index").loc[accepted]
    assert set(outcome["event"]) == {catalog.SETTLEMENT_PAID, catalog.ARRANGEMENT_BROKEN}
    assert (outcome["day"] - start).between(1, 14).all()
    paid = outcome.index[outcome["event"] == catalog.SETTLEMENT_PAID].to_numpy()
    broken = outcome.index[outcome["event"] == catalog.ARRANGEMENT_BROKEN].to_numpy()
    assert (
        sim.settled()[paid].all() and not sim.active_mask()[paid].any() and not sim.overdue_mask()[paid].any()
    )
    assert not sim.settled()[broken].any()
    payments = pd.DataFrame(sim.log.payments())
    settled_with = payments[payments["kind"] == catalog.SETTLEMENT_PAYMENT].set_index("loan_index")[
        "amount_cents"
    ]
    # A promise made in the call may be paid before the settlement: the balance is what is left.
    promised = payments[(payments["day"] >= start) & (payments["kind"] == catalog.PROMISE_PAYMENT)]
    before = promised.groupby("loan_index")["amount_cents"].sum().reindex(paid, fill_value=0).to_numpy()
    at_offer = pd.Series(balance, index=loans).loc[paid].to_numpy()
    written_off = sim.written_off_cents()[paid]
    assert (written_off > 0).all()
    np.testing.assert_array_equal(settled_with.loc[paid].to_numpy() + written_off, at_offer - before)
    assert sim.log.written_off_cents(start) == written_off.sum()


def test_a_larger_discount_raises_acceptance(history):
    """Same loans, same calls, same borrower luck: only the discount differs."""
    start = history.snapshot()
    loans = _callable_overdue(start)
    balance = start.outstanding_balance_cents()[loans]
    rates = {}
    accepted = {}
    for discount in (0.1, 0.5):
        events = _call_with_offers(
            start.snapshot(), Offers.settlements(loans, np.round(balance * (1 - discount)), discount)
        )
        put = events.offers["outcome"] >= catalog.OFFER_DECLINED
        took = events.offers["outcome"] == catalog.OFFER_ACCEPTED
        rates[discount] = took[put].mean()
        accepted[discount] = set(events.offers["loan_index"][took])
        p = events.offers["p_accept"][put]
        assert ((p > 0) & (p < 1)).all()
    assert put.sum() >= 100
    assert rates[0.5] > rates[0.1] + 0.15
    assert accepted[0.1] <= accepted[0.5]  # with common luck, monotone loan by loan


def test_written_offers_are_taken_up_less_often_than_spoken_ones(history):
    start = history.snapshot()
    loans = np.flatnonzero(
        start.overdue_mask() & start.contactable(CALL) & start.contactable(SMS) & ~start.in_arrangement()
    )
    offers = Offers.plans(loans, 1_000, 6)
    by_channel = {}
    for channel in (CALL, SMS):
        events = start.snapshot().step(Contacts.single_channel(loans, channel), offers=offers)
        put = events.offers["outcome"] >= catalog.OFFER_DECLINED
        by_channel[channel] = events.offers["p_accept"][put].mean()
    assert by_channel[SMS] < 0.6 * by_channel[CALL]


def test_a_deferment_is_taken_mostly_by_borrowers_in_an_income_shock(history):
    sim = history.snapshot()
    loans = _callable_overdue(sim)
    shocked = sim.borrower_state.shock_until[sim.population.loans.borrower_index[loans]] > sim.day
    events = _call_with_offers(sim, Offers.deferments(loans, 45))
    put = events.offers["outcome"] >= catalog.OFFER_DECLINED
    p = pd.Series(events.offers["p_accept"][put]).groupby(shocked[put]).mean()
    assert p[True] > p[False] + 0.3
    deferred = _accepted(events, catalog.OFFER_DEFERMENT)
    start = sim.day - 1
    sim.run(None, until_day=start + 45)
    pay = pd.DataFrame(sim.log.payments())
    during = pay[(pay["day"] >= start) & (pay["day"] < start + 45) & pay["loan_index"].isin(deferred)]
    assert set(during["kind"]) <= {catalog.PROMISE_PAYMENT}  # a holiday: no decisions of the borrower's own
    assert sim.in_arrangement()[deferred].all()
    sim.step()
    assert not sim.in_arrangement()[deferred].any()


def test_a_referred_loan_leaves_in_house_collection_and_the_agency_collects(history):
    sim = history.snapshot()
    loans = np.flatnonzero(sim.overdue_mask() & (sim.days_past_due() >= 60) & ~sim.contact_blocked())
    balance = sim.outstanding_balance_cents()[loans]
    start = sim.day
    events = sim.step(referrals=loans)
    assert set(events.referrals["loan_index"]) == set(loans)
    assert sim.referred()[loans].all()
    for channel in range(catalog.N_CHANNELS):
        assert not sim.contactable(channel)[loans].any()
    with pytest.raises(ValueError, match="in-house"):
        sim.snapshot().step(Contacts.single_channel(loans[:1], catalog.LETTER))
    with pytest.raises(ValueError, match="in-house"):
        sim.snapshot().step(offers=Offers.plans(loans[:1], 1_000, 3))
    with pytest.raises(ValueError, match="referred once"):
        sim.snapshot().step(referrals=loans[:1])
    sim.run(HistoricalPolicy(CONTACTS_ONLY, rng=np.random.default_rng(2)), until_day=start + 130)
    interactions = pd.DataFrame(sim.log.interactions())
    later = interactions[(interactions["day"] > start) & interactions["loan_index"].isin(loans)]
    assert later.empty  # not contacted, and they no longer call the lender
    payments = pd.DataFrame(sim.log.payments())
    after = payments[(payments["day"] > start) & payments["loan_index"].isin(loans)]
    assert set(after["kind"]) == {catalog.AGENCY_PAYMENT}
    agency = payments[payments["kind"] == catalog.AGENCY_PAYMENT]
    assert set(agency["loan_index"]) <= set(loans)
    assert (agency["day"] - start).between(10, 120).all()
    recovered = agency["amount_cents"].sum() / balance.sum()
    assert 0.02 < recovered < 0.30
    table = observed_tables(sim)["payments"]
    assert (table["method"] == "agency").sum() == len(agency)


def test_the_history_offers_plans_and_settlements_within_the_contract():
    config = SimulationConfig(n_loans=2500, seed=5, truth_mc_replicates=0, forward_days=40)
    book = simulate_book(config)
    arrangements = book.tables["arrangements"]
    assert set(arrangements["kind"]) == {"plan", "settlement"}
    assert arrangements["accepted"].any() and not arrangements["accepted"].all()
    as_of = pd.Timestamp(config.as_of)
    assert (arrangements["offered_on"] < as_of).all()
    assert (arrangements["broken_on"].dropna() < as_of).all()
    assert arrangements["broken_on"].notna().any()
    plans = arrangements[arrangements["kind"] == "plan"]
    assert set(plans["n_instalments"]) <= {3, 6, 12} and plans["discount"].isna().all()
    settlements = arrangements[arrangements["kind"] == "settlement"]
    assert settlements["discount"].between(0.1, 0.5).all() and (settlements["n_instalments"] == 1).all()
    result = validate_tables(book.tables, as_of=config.as_of)
    assert result.is_valid, result.describe_failures()
    counts = result.counts().set_index("table").loc["arrangements"]
    assert counts["accepted"] == counts["rows_in"] == len(arrangements) and counts["held"] == 0
    # The truth goes on past as_of, where the tables stop.
    truth = book.truth["arrangement_offers"]
    assert (truth["offered_on"] >= as_of).any()
    put = truth[truth["outcome"].isin(["accepted", "declined"]) & (truth["offered_on"] < as_of)]
    assert len(put) == len(arrangements)
    assert put["p_accept"].between(0, 1).all()
    methods = set(book.tables["payments"]["method"])
    assert "arrangement" in methods and "agency" not in methods


def test_a_history_without_arrangements_has_an_empty_but_valid_table(history):
    tables = observed_tables(history)
    assert tables["arrangements"].empty
    assert list(tables["arrangements"].columns) == [
        "loan_id",
        "kind",
        "offered_on",
        "accepted",
        "instalment",
        "n_instalments",
        "discount",
        "broken_on",
    ]
    assert validate_tables(tables, as_of=CONTACTS_ONLY.as_of).is_valid


def test_bad_offers_are_rejected(history):
    sim = history.snapshot()
    loan = _callable_overdue(sim)[:2]
    with pytest.raises(ValueError, match="at most one offer"):
        sim.step(offers=Offers.plans(np.repeat(loan[:1], 2), 1_000, 3))
    with pytest.raises(ValueError, match="positive"):
        sim.step(offers=Offers.plans(loan, 0, 3))
    with pytest.raises(ValueError, match="discount"):
        sim.step(offers=Offers.settlements(loan, 1_000, 1.0))
    assert sim.day == history.day  # nothing was simulated
