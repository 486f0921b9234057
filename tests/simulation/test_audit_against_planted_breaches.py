"""The compliance audit against the breaches the simulator plants (and logs) in its history."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from data_contracts.cutoff import Cutoff
from data_contracts.validation import validate_tables
from monitoring.audit import audit_contacts
from recover.config import load_config, night_settings
from simulation import SimulatedBook, simulate_book
from simulation.breaches import PLANTED_COLUMNS

# Rules the simulator's old rule book never breaks on its own: every breach the audit finds
# of them must be a planted one. The others (hours, the 7 days after a conversation, cross-loan
# opt-outs, the house cadence) are also broken by the ordinary history, as in a real book.
ONLY_PLANTED = [
    "cease_and_desist",
    "open_dispute",
    "bankruptcy",
    "do_not_contact",
    "message_consent",
    "call_frequency_7_in_7",
]


@pytest.fixture(scope="module")
def audited(sim_book: SimulatedBook):
    settings = night_settings(load_config()).contacts
    result = audit_contacts(sim_book.tables, dt.date(2000, 1, 1), dt.date(2100, 1, 1), settings)
    return sim_book.truth["planted_breaches"], result


def test_every_kind_is_planted_and_logged(sim_book: SimulatedBook):
    truth = sim_book.truth["planted_breaches"]
    assert list(truth.columns) == PLANTED_COLUMNS
    per_rule = truth.groupby("rule_id")["interaction_id"].nunique()
    expected = {
        *ONLY_PLANTED,
        "convenient_hours",
        "call_after_conversation",
        "channel_opt_out",
        "one_contact_a_day",
    }
    assert set(per_rule.index) == expected
    assert (per_rule >= sim_book.config.planted_breach_min).all(), per_rule
    assert set(truth["interaction_id"]) <= set(sim_book.tables["interactions"]["interaction_id"])


def test_a_planted_book_keeps_the_input_contract(sim_book: SimulatedBook):
    result = validate_tables(sim_book.tables, as_of=Cutoff(sim_book.config.as_of, "America/New_York"))
    assert result.is_valid, result.failures_by_rule()


def test_planting_only_adds_rows(sim_config):
    plain = simulate_book(
        sim_config.model_copy(update={"planted_breach_share": 0.0, "planted_breach_min": 0})
    )
    planted = simulate_book(sim_config)
    ordinary = planted.tables["interactions"]
    ordinary = ordinary[~ordinary["interaction_id"].str.startswith("IX")].reset_index(drop=True)
    pd.testing.assert_frame_equal(ordinary, plain.tables["interactions"])
    for name in ("payments", "account_flags", "borrowers", "loans"):
        pd.testing.assert_frame_equal(planted.tables[name], plain.tables[name])


def test_the_audit_finds_every_planted_breach_and_invents_none(audited):
    truth, result = audited
    found = result.breaches[["interaction_id", "rule_id"]]
    on_planted = found[found["interaction_id"].isin(truth["interaction_id"])]
    for rule, expected in truth.groupby("rule_id"):
        got = on_planted[on_planted["rule_id"] == rule]
        hits = expected.merge(got, on=["interaction_id", "rule_id"])
        assert len(hits) == len(expected), f"recall of {rule}: {len(hits)}/{len(expected)}"
    # No planted contact is charged with a rule it was not planted to break.
    extra = on_planted.merge(truth, on=["interaction_id", "rule_id"], how="left", indicator=True)
    assert (extra["_merge"] == "both").all(), extra[extra["_merge"] != "both"]
    for rule in ONLY_PLANTED:
        flagged = set(found.loc[found["rule_id"] == rule, "interaction_id"])
        assert flagged == set(truth.loc[truth["rule_id"] == rule, "interaction_id"]), rule
