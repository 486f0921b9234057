"""Contract and integrity tests of the six simulated input tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from data_contracts.enums import FLAGS
from simulation import TABLE_NAMES, SimulatedBook, SimulationConfig, simulate_book
from tests.simulation.conftest import local_clock, local_dates

EXPECTED_COLUMNS = {
    "borrowers": [
        "borrower_id",
        "region",
        "timezone",
        "preferred_language",
        "birth_year",
        "gender",
        "monthly_income",
        "has_phone",
        "has_email",
        "consent_sms",
        "consent_email",
        "consent_whatsapp",
        "do_not_contact",
    ],
    "loans": [
        "loan_id",
        "borrower_id",
        "product",
        "branch_id",
        "currency",
        "disbursed_on",
        "principal",
        "annual_interest_rate",
        "installment_frequency",
        "n_installments",
        "installment_amount",
    ],
    "installments": ["loan_id", "installment_no", "due_date", "amount_due"],
    "payments": ["payment_id", "loan_id", "paid_at", "amount", "method"],
    "interactions": [
        "interaction_id",
        "loan_id",
        "occurred_at",
        "channel",
        "direction",
        "outcome",
        "promised_amount",
        "promised_date",
        "agent_id",
    ],
    "account_flags": ["loan_id", "flag", "starts_on", "ends_on"],
}
DATE_COLUMNS = {
    "loans": ["disbursed_on"],
    "installments": ["due_date"],
    "interactions": ["promised_date"],
    "account_flags": ["starts_on", "ends_on"],
}
TIMESTAMP_COLUMNS = {"payments": ["paid_at"], "interactions": ["occurred_at"]}
BOOL_COLUMNS = [
    "has_phone",
    "has_email",
    "consent_sms",
    "consent_email",
    "consent_whatsapp",
    "do_not_contact",
]


def _as_of_utc(config: SimulationConfig) -> pd.Timestamp:
    return pd.Timestamp(config.as_of).tz_localize("UTC")


def test_same_seed_gives_identical_tables() -> None:
    config = SimulationConfig(n_loans=600, seed=5, truth_mc_replicates=2)
    first, second = simulate_book(config), simulate_book(config)
    for name in TABLE_NAMES:
        pdt.assert_frame_equal(first.tables[name], second.tables[name])
    for name, frame in first.truth.items():
        pdt.assert_frame_equal(frame, second.truth[name])
    other = simulate_book(config.model_copy(update={"seed": 6}))
    assert not other.tables["payments"].equals(first.tables["payments"])


def test_exact_columns_and_dtypes(sim_book: SimulatedBook) -> None:
    assert set(sim_book.tables) == set(TABLE_NAMES)
    for name, columns in EXPECTED_COLUMNS.items():
        frame = sim_book.tables[name]
        assert list(frame.columns) == columns, name
        for column in DATE_COLUMNS.get(name, []):
            assert frame[column].dtype == "datetime64[ns]", (name, column)
            values = frame[column].dropna()
            assert (values == values.dt.normalize()).all(), (name, column)
        for column in TIMESTAMP_COLUMNS.get(name, []):
            assert str(frame[column].dtype) == "datetime64[ns, UTC]", (name, column)
    borrowers = sim_book.tables["borrowers"]
    for column in BOOL_COLUMNS:
        assert borrowers[column].dtype == bool
    assert str(borrowers["birth_year"].dtype) == "Int64"
    assert borrowers["monthly_income"].dtype == np.float64
    loans = sim_book.tables["loans"]
    assert loans["n_installments"].dtype == np.int64
    assert sim_book.tables["installments"]["installment_no"].dtype == np.int64
    assert (loans["currency"] == "USD").all()
    for name, id_column in [
        ("borrowers", "borrower_id"),
        ("loans", "loan_id"),
        ("payments", "payment_id"),
        ("interactions", "interaction_id"),
    ]:
        assert sim_book.tables[name][id_column].is_unique, name


def test_value_domains(sim_book: SimulatedBook) -> None:
    tables = sim_book.tables
    borrowers, loans = tables["borrowers"], tables["loans"]
    assert borrowers["region"].nunique() == 6 and borrowers["timezone"].nunique() == 5
    assert "America/Phoenix" in set(borrowers["timezone"])
    assert set(borrowers["gender"].dropna()) <= {"female", "male", "nonbinary"}
    assert 0.005 < borrowers["birth_year"].isna().mean() < 0.06
    assert 0.03 < borrowers["monthly_income"].isna().mean() < 0.13
    assert (borrowers["monthly_income"].dropna() >= 0).all()
    assert 0.002 < borrowers["do_not_contact"].mean() < 0.03
    assert set(loans["product"]) == {"personal_loan", "microloan", "bnpl", "auto_loan"}
    assert set(loans["installment_frequency"]) == {"weekly", "fortnightly", "monthly"}
    assert (loans["principal"] > 0).all() and (loans["installment_amount"] > 0).all()
    assert loans["annual_interest_rate"].between(0, 2).all()
    assert (loans["n_installments"] > 0).all()
    assert 0.05 < loans["borrower_id"].duplicated().mean() < 0.15  # ~10% of borrowers hold two loans
    payments, interactions = tables["payments"], tables["interactions"]
    assert (payments["amount"] > 0).all()
    assert np.allclose(payments["amount"], payments["amount"].round(2))
    # Plan instalments and settlements come as "arrangement", agency collections as "agency".
    assert set(payments["method"]) <= {
        "card", "bank_transfer", "cash", "direct_debit", "wallet", "arrangement", "agency",
    }  # fmt: skip
    assert set(interactions["channel"]) <= {"call", "sms", "email", "whatsapp", "field_visit", "letter"}
    assert set(interactions["direction"]) == {"outbound", "inbound"}
    voice = interactions["channel"].isin(["call", "field_visit"])
    assert set(interactions.loc[voice, "outcome"]) <= {
        "no_answer",
        "right_party_contact",
        "promise_to_pay",
        "refused",
        "dispute_raised",
        "wrong_party",
    }
    messages = interactions.loc[~voice]
    assert set(messages["outcome"]) <= {"delivered", "undelivered", "right_party_contact", "opted_out"}
    assert (messages.loc[messages["outcome"] == "right_party_contact", "channel"] == "whatsapp").all()
    assert set(messages.loc[messages["outcome"] == "opted_out", "channel"]) <= {"sms", "email", "whatsapp"}
    inbound = interactions[interactions["direction"] == "inbound"]
    assert (inbound["channel"] == "call").all()
    assert (
        interactions.loc[voice, "agent_id"].notna().all()
        and interactions.loc[~voice, "agent_id"].isna().all()
    )


def test_every_event_is_before_as_of(sim_book: SimulatedBook, sim_config: SimulationConfig) -> None:
    as_of = pd.Timestamp(sim_config.as_of)
    tables = sim_book.tables
    # Before as_of on the borrower's own clock; an evening event of the day before is stamped
    # after 00:00 UTC of as_of, and the tables hold it (as a real extract taken that night does).
    for table, column in (("payments", "paid_at"), ("interactions", "occurred_at")):
        assert (local_dates(tables, table) < as_of).all(), table
        assert (tables[table][column] >= _as_of_utc(sim_config)).any(), table
        assert (tables[table][column] < _as_of_utc(sim_config) + pd.Timedelta(hours=8)).all(), table
    assert (tables["account_flags"]["starts_on"] < as_of).all()
    assert (tables["account_flags"]["ends_on"].dropna() < as_of).all()
    assert (tables["loans"]["disbursed_on"] <= as_of - pd.Timedelta(days=sim_config.min_loan_age_days)).all()
    assert (tables["loans"]["disbursed_on"] >= pd.Timestamp(sim_config.sim_start)).all()
    assert (tables["installments"]["due_date"] >= as_of).any()  # full schedules include future due dates


def test_referential_integrity(sim_book: SimulatedBook) -> None:
    tables = sim_book.tables
    borrower_ids = set(tables["borrowers"]["borrower_id"])
    loan_ids = set(tables["loans"]["loan_id"])
    assert set(tables["loans"]["borrower_id"]) == borrower_ids
    for name in ("installments", "payments", "interactions", "account_flags"):
        assert set(tables[name]["loan_id"]) <= loan_ids, name
    for name, frame in sim_book.truth.items():
        if "loan_id" in frame:
            assert set(frame["loan_id"]) <= loan_ids, name


def test_installment_schedules(sim_book: SimulatedBook) -> None:
    installments = sim_book.tables["installments"]
    loans = sim_book.tables["loans"].set_index("loan_id")
    assert not installments.duplicated(["loan_id", "installment_no"]).any()
    per_loan = installments.groupby("loan_id")["installment_no"].agg(["min", "max", "count"])
    n_installments = loans.loc[per_loan.index, "n_installments"]
    assert (per_loan["min"] == 1).all()
    assert (per_loan["max"] == n_installments).all() and (per_loan["count"] == n_installments).all()
    assert (installments["amount_due"] > 0).all()
    regular = installments.merge(
        loans[["installment_amount", "n_installments"]], left_on="loan_id", right_index=True
    )
    not_last = regular["installment_no"] < regular["n_installments"]
    assert np.allclose(regular.loc[not_last, "amount_due"], regular.loc[not_last, "installment_amount"])
    first = installments[installments["installment_no"] == 1].set_index("loan_id")["due_date"]
    gap = (first - loans.loc[first.index, "disbursed_on"]).dt.days
    frequency = loans.loc[first.index, "installment_frequency"]
    assert (gap[frequency == "weekly"] == 7).all()
    assert (gap[frequency == "fortnightly"] == 14).all()
    assert gap[frequency == "monthly"].between(28, 31).all()
    assert installments.groupby("loan_id")["due_date"].is_monotonic_increasing.all()


def test_promise_fields(sim_book: SimulatedBook) -> None:
    interactions = sim_book.tables["interactions"]
    promise = interactions["outcome"] == "promise_to_pay"
    assert promise.any()
    assert (interactions["promised_amount"].notna() == promise).all()
    assert (interactions["promised_date"].notna() == promise).all()
    promised = interactions[promise]
    assert (promised["promised_amount"] >= 0).all()
    lead_days = (promised["promised_date"] - local_dates(sim_book.tables, "interactions")[promise]).dt.days
    assert lead_days.between(1, 14).all()


def test_flag_dates_and_static_flags(sim_book: SimulatedBook) -> None:
    flags = sim_book.tables["account_flags"]
    closed = flags.dropna(subset=["ends_on"])
    assert (closed["ends_on"] >= closed["starts_on"]).all()
    assert set(flags["flag"]) <= set(FLAGS)
    permanent = flags[flags["flag"].isin(["do_not_visit", "bankruptcy", "deceased", "cease_and_desist"])]
    assert permanent["ends_on"].isna().all()
    loans = sim_book.tables["loans"].set_index("loan_id")
    do_not_visit = flags[flags["flag"] == "do_not_visit"]
    assert (
        do_not_visit["starts_on"].to_numpy() == loans.loc[do_not_visit["loan_id"], "disbursed_on"].to_numpy()
    ).all()
    assert 0.02 < len(do_not_visit) / len(loans) < 0.09


def test_consent_implies_means(sim_book: SimulatedBook) -> None:
    borrowers = sim_book.tables["borrowers"]
    assert not (borrowers["consent_sms"] & ~borrowers["has_phone"]).any()
    assert not (borrowers["consent_whatsapp"] & ~borrowers["has_phone"]).any()
    assert not (borrowers["consent_email"] & ~borrowers["has_email"]).any()


def test_outbound_contacts_mostly_in_local_business_hours(sim_book: SimulatedBook) -> None:
    tables = sim_book.tables
    interactions = tables["interactions"]
    outbound = interactions[interactions["direction"] == "outbound"]
    borrower_of = tables["loans"].set_index("loan_id")["borrower_id"]
    zone_of = tables["borrowers"].set_index("borrower_id")["timezone"]
    zones = outbound["loan_id"].map(borrower_of).map(zone_of)
    inside = []
    for zone, group in outbound.groupby(zones):
        hour = group["occurred_at"].dt.tz_convert(zone).dt.hour
        inside.append((hour >= 8) & (hour < 21))
    share_inside = pd.concat(inside).mean()
    assert 0.98 < share_inside < 1.0  # a few messy records outside hours, as in real data


def _planted(interactions: pd.DataFrame) -> pd.Series:
    """The compliance audit's planted breaches (simulation.breaches): not the old rule book's."""
    return interactions["interaction_id"].str.startswith("IX")


def _by_policy(interactions: pd.DataFrame) -> pd.DataFrame:
    """The outbound contacts the old rule book made (planted breaches left out)."""
    return interactions[(interactions["direction"] == "outbound") & ~_planted(interactions)]


@pytest.mark.parametrize("flag", ["cease_and_desist", "bankruptcy", "deceased"])
def test_historical_policy_stops_contact_after_blocking_flags(sim_book: SimulatedBook, flag: str) -> None:
    interactions = sim_book.tables["interactions"]
    by_policy = (interactions["direction"] == "outbound") & ~_planted(interactions)
    outbound = interactions[by_policy]
    flags = sim_book.tables["account_flags"]
    starts = flags[flags["flag"] == flag].groupby("loan_id")["starts_on"].min()
    contacted_day = local_dates(sim_book.tables, "interactions")[by_policy]
    after = outbound["loan_id"].map(starts)
    assert not (contacted_day > after).any()


def test_historical_policy_respects_do_not_contact_and_consents(sim_book: SimulatedBook) -> None:
    tables = sim_book.tables
    outbound = _by_policy(tables["interactions"])
    borrower = outbound["loan_id"].map(tables["loans"].set_index("loan_id")["borrower_id"])
    profile = tables["borrowers"].set_index("borrower_id").loc[borrower]
    assert not profile["do_not_contact"].to_numpy().any()
    channel = outbound["channel"].to_numpy()
    assert profile["consent_sms"].to_numpy()[channel == "sms"].all()
    assert profile["consent_email"].to_numpy()[channel == "email"].all()
    assert profile["consent_whatsapp"].to_numpy()[channel == "whatsapp"].all()
    assert profile["has_phone"].to_numpy()[channel == "call"].all()
    no_visit = set(tables["account_flags"].loc[tables["account_flags"]["flag"] == "do_not_visit", "loan_id"])
    assert not outbound.loc[outbound["channel"] == "field_visit", "loan_id"].isin(no_visit).any()


@pytest.mark.parametrize("flag", ["dispute", "legal_hold"])
def test_historical_policy_pauses_during_disputes_and_legal_holds(sim_book: SimulatedBook, flag: str) -> None:
    tables = sim_book.tables
    outbound = _by_policy(tables["interactions"])
    episodes = tables["account_flags"][tables["account_flags"]["flag"] == flag]
    merged = outbound.merge(episodes, on="loan_id")
    day = local_clock(tables, merged, "occurred_at").dt.normalize()
    ends = merged["ends_on"].fillna(pd.Timestamp.max.normalize())
    assert not ((day > merged["starts_on"]) & (day < ends)).any()


def test_the_simulated_lender_honours_opt_outs(small_tables):
    """After a borrower opts out of a channel on a loan, no outbound message follows on it."""
    events = small_tables["interactions"]
    events = events[~_planted(events)]
    opted = events[events["outcome"] == "opted_out"].groupby(["loan_id", "channel"])["occurred_at"].min()
    assert len(opted) > 0
    later = events.merge(opted.rename("opted_at").reset_index(), on=["loan_id", "channel"])
    later = later[(later["direction"] == "outbound") & (later["occurred_at"] > later["opted_at"])]
    assert later.empty
