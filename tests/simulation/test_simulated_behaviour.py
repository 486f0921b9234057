"""Behavioural realism, ground truth and engine mechanics of the simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from simulation import (
    Contacts,
    HistoricalPolicy,
    LoanBookSimulator,
    NoContactPolicy,
    SimulatedBook,
    SimulationConfig,
    observed_tables,
    run_history,
    write_book,
)
from simulation.catalog import CALL, SMS
from simulation.engine import luck_uniforms
from tests.simulation.conftest import local_dates


def _loan_state(book: SimulatedBook) -> pd.DataFrame:
    return book.truth["loan_state_at_as_of"].set_index("loan_id")


def test_overdue_share_and_30_day_pay_rate_are_plausible(sim_book: SimulatedBook) -> None:
    state = _loan_state(sim_book)
    overdue_share = state["is_overdue"].sum() / state["is_active"].sum()
    assert 0.10 <= overdue_share <= 0.30
    dpd = state.loc[state["is_overdue"], "days_past_due"]
    assert (dpd >= 1).all()
    assert dpd.between(1, 30).mean() > 0.3 and dpd.max() > 180  # skewed to early delinquency, long tail
    qualified = state.loc[state["is_overdue"], "qualified_30d_historical_policy"].astype(float)
    assert 0.30 <= qualified.mean() <= 0.65
    p_no_contact = state.loc[state["is_overdue"], "p_pay_30d_no_contact"]
    assert p_no_contact.between(0, 1).all() and p_no_contact.std() > 0.2  # strongly varying, learnable


def test_truth_state_matches_tables(sim_book: SimulatedBook, sim_config: SimulationConfig) -> None:
    tables = sim_book.tables
    as_of = pd.Timestamp(sim_config.as_of)
    installments = tables["installments"]
    due = installments[installments["due_date"] < as_of].groupby("loan_id")["amount_due"].sum()
    paid = tables["payments"].groupby("loan_id")["amount"].sum()
    state = _loan_state(sim_book)
    # A settled loan owes nothing in truth; its schedule still shows the forgiven balance (the
    # engine closes it from the arrangements table: features.arrangements.settled_loans).
    state = state[~state["settled"]] if "settled" in state else state
    overdue = (due.reindex(state.index, fill_value=0) - paid.reindex(state.index, fill_value=0)).clip(lower=0)
    assert np.allclose(overdue, state["amount_overdue"], atol=0.006)

    schedule = installments.assign(
        cumulative=installments.groupby("loan_id")["amount_due"].cumsum(),
        paid=installments["loan_id"].map(paid).fillna(0.0),
    )
    unpaid = schedule[(schedule["cumulative"] > schedule["paid"] + 0.005) & (schedule["due_date"] < as_of)]
    dpd = (as_of - unpaid.groupby("loan_id")["due_date"].min()).dt.days
    assert (dpd.reindex(state.index, fill_value=0) == state["days_past_due"]).all()


def test_broken_promises_predict_lower_repayment(
    sim_book: SimulatedBook, sim_config: SimulationConfig
) -> None:
    tables = sim_book.tables
    as_of = pd.Timestamp(sim_config.as_of)
    interactions = tables["interactions"]
    promises = interactions[
        (interactions["outcome"] == "promise_to_pay") & (interactions["promised_date"] < as_of)
    ]
    payments = tables["payments"]
    payments = payments.assign(paid_on=local_dates(tables, "payments"))  # the borrower's calendar
    joined = promises[["interaction_id", "loan_id", "occurred_at", "promised_date", "promised_amount"]].merge(
        payments[["loan_id", "paid_at", "paid_on", "amount"]], on="loan_id", how="left"
    )
    in_window = (joined["paid_at"] >= joined["occurred_at"]) & (joined["paid_on"] <= joined["promised_date"])
    paid = joined["amount"].where(in_window, 0.0).groupby(joined["interaction_id"]).sum()
    promises = promises.assign(
        kept=promises["interaction_id"].map(paid) >= promises["promised_amount"] - 0.005
    )
    broken = (~promises["kept"]).groupby(promises["loan_id"]).sum()

    state = _loan_state(sim_book)
    overdue = state[state["is_overdue"]]
    n_broken = broken.reindex(overdue.index, fill_value=0)
    qualified = overdue["qualified_30d_historical_policy"].astype(float)
    with_broken, without_broken = qualified[n_broken >= 1].mean(), qualified[n_broken == 0].mean()
    assert (n_broken >= 1).sum() >= 30
    assert with_broken < without_broken - 0.05


def test_contact_uplift_truth_is_heterogeneous(sim_book: SimulatedBook) -> None:
    overdue = _loan_state(sim_book).query("is_overdue")
    uplift = overdue[[f"uplift_{c}" for c in ("call", "sms", "email", "whatsapp", "field_visit", "letter")]]
    assert uplift.notna().all().all()
    assert (uplift["uplift_call"] == 0).mean() > 0.3  # many borrowers do not react to a call at all
    assert uplift["uplift_call"].max() > 0.2
    assert uplift["uplift_field_visit"].mean() > uplift["uplift_letter"].mean()


def test_historical_policy_is_not_random(sim_book: SimulatedBook, sim_config: SimulationConfig) -> None:
    tables = sim_book.tables
    calls = tables["interactions"].query("direction == 'outbound' and channel == 'call'")
    # Calls target deeper delinquency than reminders: compare dpd at contact via the truth-free tables.
    reminder = tables["interactions"].query("direction == 'outbound' and channel == 'sms'")
    assert len(calls) > 0 and len(reminder) > 0
    state = _loan_state(sim_book)
    called_recently = calls.loc[
        calls["occurred_at"] >= pd.Timestamp(sim_config.as_of).tz_localize("UTC") - pd.Timedelta(days=14),
        "loan_id",
    ].unique()
    overdue = state[state["is_overdue"]]
    called = overdue.index.isin(called_recently)
    assert overdue.loc[called, "days_past_due"].median() > overdue.loc[~called, "days_past_due"].median()


def test_write_book_parquet_and_csv(sim_book: SimulatedBook, tmp_path) -> None:
    written = write_book(sim_book, tmp_path / "parquet")
    assert (tmp_path / "parquet" / "loans.parquet").exists()
    assert (tmp_path / "parquet" / "truth" / "loan_state_at_as_of.parquet").exists()
    assert written["payments"] == tmp_path / "parquet" / "payments.parquet"
    back = pd.read_parquet(written["payments"])
    assert len(back) == len(sim_book.tables["payments"])
    assert back["paid_at"].dt.tz is not None

    written_csv = write_book(sim_book, tmp_path / "csv", fmt="csv")
    assert written_csv["interactions"].suffix == ".csv"
    assert (tmp_path / "csv" / "truth" / "future_payments.parquet").exists()
    payments = pd.read_csv(written_csv["payments"], dtype=str)
    assert payments["paid_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00").all()
    loans = pd.read_csv(written_csv["loans"], dtype=str)
    assert loans["disbursed_on"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


def test_config_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        SimulationConfig(n_loans=10, not_a_knob=1)
    with pytest.raises(ValidationError):
        SimulationConfig(product_mix={"mortgage": 1.0})


def test_forks_share_borrower_luck_and_policies_change_outcomes() -> None:
    config = SimulationConfig(n_loans=800, seed=3, truth_mc_replicates=0)
    history = run_history(config)
    horizon = config.as_of_day + 20

    def forward(policy) -> int:
        fork = history.simulator.snapshot()
        fork.run(policy, until_day=horizon)
        return fork.log.collected_cents(config.as_of_day, horizon)

    def historical() -> HistoricalPolicy:
        return HistoricalPolicy(config, rng=np.random.default_rng(99))

    assert forward(historical()) == forward(historical())  # same state + same luck => same future
    assert forward(NoContactPolicy()) != forward(historical())
    assert history.simulator.day == config.as_of_day  # forks never move the original


def test_observed_tables_at_earlier_cutoff_hold_the_earlier_days(sim_config: SimulationConfig) -> None:
    """Cut at an earlier day, the tables hold exactly the later cut's events of the local days
    before it (in the same order), including evening events stamped after 00:00 UTC of the
    cut-off day."""
    config = sim_config.model_copy(update={"n_loans": 500, "truth_mc_replicates": 0})
    history = run_history(config)
    cutoff = config.as_of_day - 90
    early = observed_tables(history.simulator, cutoff_day=cutoff)
    late = observed_tables(history.simulator)
    cutoff_date = pd.Timestamp(config.sim_start) + pd.Timedelta(days=cutoff)
    for table, column in (("payments", "paid_at"), ("interactions", "occurred_at")):
        expected = late[table][local_dates(late, table) < cutoff_date].reset_index(drop=True)
        pd.testing.assert_frame_equal(early[table], expected)
        assert (early[table][column] >= cutoff_date.tz_localize("UTC")).any(), table


def test_engine_rejects_impossible_or_duplicate_contacts() -> None:
    config = SimulationConfig(n_loans=300, seed=1, truth_mc_replicates=0)
    simulator = LoanBookSimulator(config)
    simulator.run(None, until_day=200)
    active = np.flatnonzero(simulator.active_mask())
    without_phone = active[~simulator.has_means(SMS)[active]]
    if without_phone.size:
        with pytest.raises(ValueError):
            simulator.snapshot().step(Contacts.single_channel(without_phone[:1], SMS))
    with pytest.raises(ValueError):
        simulator.snapshot().step(
            Contacts(np.array([active[0], active[0]]), np.array([CALL, CALL], dtype=np.int8))
        )
    inactive = np.flatnonzero(~simulator.active_mask())
    with pytest.raises(ValueError):
        simulator.snapshot().step(Contacts.single_channel(inactive[:1], CALL))


def test_luck_is_counter_based_and_uniform() -> None:
    units = np.arange(200_000)
    draws = luck_uniforms(12345, day=17, row=3, unit=units)
    assert abs(draws.mean() - 0.5) < 0.005 and abs(draws.var() - 1 / 12) < 0.002
    assert ((draws >= 0) & (draws < 1)).all()
    subset = np.array([199_999, 5, 77])
    np.testing.assert_array_equal(luck_uniforms(12345, 17, 3, subset), draws[subset])  # order-free
    other_row = luck_uniforms(12345, 17, 4, units)
    other_day = luck_uniforms(12345, 18, 3, units)
    assert abs(np.corrcoef(draws, other_row)[0, 1]) < 0.01 and abs(np.corrcoef(draws, other_day)[0, 1]) < 0.01


def test_a_fork_with_future_luck_keeps_the_past_and_draws_another_future() -> None:
    config = SimulationConfig(n_loans=800, seed=3, truth_mc_replicates=0)
    history = run_history(config)
    horizon = config.as_of_day + 20

    def collected(fork: LoanBookSimulator) -> int:
        fork.run(NoContactPolicy(), until_day=horizon)
        return fork.log.collected_cents(config.as_of_day, horizon)

    def future(seed: int) -> LoanBookSimulator:
        return history.simulator.snapshot(np.random.SeedSequence([7, seed]))

    same = future(0)
    assert np.array_equal(same.loan_state.paid_cents, history.simulator.loan_state.paid_cents)
    assert same.log.collected_cents(0, config.as_of_day) == history.simulator.log.collected_cents(
        0, config.as_of_day
    )
    assert collected(future(0)) == collected(future(0))  # a future is reproducible from its seed
    assert len({collected(future(0)), collected(future(1)), collected(history.simulator.snapshot())}) == 3


def test_pay_probabilities_with_the_book_s_contact_traits_know_the_state_but_not_the_borrower() -> None:
    """The state oracle's truth: a borrower who never answers an SMS has exactly no SMS uplift
    under their own traits (same luck with and without the contact), yet an average positive one
    when each replicate answers contact like a random borrower of the book; the no-contact
    probability does not depend on contact traits at all."""
    from simulation import estimate_pay_probabilities

    config = SimulationConfig(n_loans=1500, seed=5, truth_mc_replicates=0)
    sim = run_history(config).simulator
    deaf = np.flatnonzero(sim.overdue_mask() & sim.has_means(SMS) & (sim._responsiveness[:, SMS] == 0))
    assert len(deaf) > 20

    def estimate(own: bool) -> tuple[np.ndarray, np.ndarray]:
        return estimate_pay_probabilities(sim, deaf, 7, 16, np.random.SeedSequence(4), own_contact_traits=own)

    own_none, own_contact = estimate(True)
    np.testing.assert_array_equal(own_contact[:, SMS], own_none)
    book_none, book_contact = estimate(False)
    assert (book_contact[:, SMS] - book_none).mean() > 0.005
    np.testing.assert_array_equal(book_none, estimate(False)[0])  # reproducible for a seed
    assert abs(book_none.mean() - own_none.mean()) < 0.05
    assert sim._responsiveness[deaf, SMS].max() == 0  # the simulator itself is left untouched
