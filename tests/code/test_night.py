"""One night as pure functions (scoring/night.py) and its manifest (scoring/manifest.py).

A fixture night: a few loans under the default config's settings, scored by a stand-in
propensity model with the stated channel prior on top (no MLflow, no Prefect). Its manifest must
carry exactly the keys of the documented output contract (docs/outputs.md#the-manifest), in
order, and read back from its JSON unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from data_contracts.cutoff import Cutoff
from data_contracts.validation import validate_tables
from features.build import build_features
from features.catalog import FEATURE_NAMES
from models.channel_prior import ChannelPriorModel
from models.payment_amount import PaymentShare
from monitoring.drift import DriftSummary, drift_block
from pipelines.common import NO_CHANNEL_MODEL, PriorChannel, validation_summary
from recover.config import DecisionsConfig, load_config, night_settings
from review.report import reason_coverage
from review.run_summary import run_summary_markdown
from scoring.allocation import AllocationSettings
from scoring.manifest import DriftChecked, DriftNotChecked, RunFacts, RunManifest, build_manifest
from scoring.night import NightResult, PartitionMap, RunStamp, score_night
from tests.factories import borrower, flag, interaction, loan, raw_tables, schedule

AS_OF = dt.date(2025, 1, 15)
CUTOFF = Cutoff(AS_OF, "America/New_York")


class StandInPropensity:
    """p_pay from days past due; SHAP contributions that name every feature."""

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        p_pay = 0.9 - features["days_past_due"].to_numpy(dtype="float64") / 200.0
        return np.column_stack([1.0 - p_pay, p_pay])

    def shap_values(self, features: pd.DataFrame) -> tuple[pd.DataFrame, float]:
        weights = np.linspace(-1.0, 1.0, len(FEATURE_NAMES))
        contributions = pd.DataFrame(
            np.tile(weights, (len(features), 1)), columns=list(FEATURE_NAMES), index=features.index
        )
        return contributions, 0.0


@dataclass(frozen=True)
class Registered:
    model: object
    name: str = "recover-propensity"
    version: str = "3"
    run_id: str = "abc123"

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


def _book():
    people = [
        borrower("B1"),
        borrower("B2", region="west", timezone="America/Los_Angeles"),
        borrower("B3", do_not_contact=True),
        borrower("B4"),
        borrower("B5", has_phone=False, consent_sms=False),
        borrower("B6", region="west", timezone="America/Los_Angeles"),
    ]
    loans = [loan(f"L{i}", f"B{i}") for i in range(1, 7)]
    installments = sum((schedule(f"L{i}", first_due=f"2024-{8 + i % 3:02d}-01") for i in range(1, 7)), [])
    flags = [flag("L4", "hardship_plan", "2025-01-01")]
    promise = interaction(
        "I1", "2025-01-13T15:00:00Z", loan_id="L6", outcome="promise_to_pay", promised_amount=100.0,
        promised_date="2025-01-20",
    )  # fmt: skip
    raw = raw_tables(
        borrowers=people, loans=loans, installments=installments, account_flags=flags, interactions=[promise]
    )
    result = validate_tables(raw, as_of=CUTOFF)
    assert result.is_valid, result.failures.to_string()
    return result


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def validated():
    return _book()


def _night(validated, config, partitions: PartitionMap | None = None) -> NightResult:
    features = build_features(validated.tables, CUTOFF)
    propensity = StandInPropensity()
    prior = ChannelPriorModel(propensity, config.channel_model.prior_lift, NO_CHANNEL_MODEL).fit()
    kwargs = {} if partitions is None else {"partitions": partitions}
    return score_night(
        features,
        validated.tables,
        CUTOFF,
        night_settings(config),
        propensity_model=propensity,
        channel_model=prior,
        run=RunStamp(run_id="run-1", model_version="recover-propensity/3", data_cutoff_utc=CUTOFF.instant),
        payment_share=PaymentShare(edges=(1.0, 2.0), shares=(0.9, 0.8, 0.7), overall=0.85, rows=(5, 3, 2)),
        **kwargs,
    )


@pytest.fixture(scope="module")
def night(validated, config):
    return _night(validated, config)


def _manifest(night, validated, config, drift=None, database=None, payment_share=None) -> RunManifest:
    facts = RunFacts(
        run_id="run-1",
        as_of=AS_OF,
        cutoff=CUTOFF,
        data_source="book/",
        input_rows=validated.rows_in,
        validation=validation_summary(validated),
        model=Registered(model=StandInPropensity()),
        channel_model=PriorChannel(model=night_channel_model(config), reason=NO_CHANNEL_MODEL),
        payment_share=payment_share,
        prior_lift=config.channel_model.prior_lift,
    )
    review = {"explanations": reason_coverage(night.queue).model_dump(), "disparities": {"flagged": []}}
    return build_manifest(
        night,
        facts,
        night_settings(config),
        review=review,
        drift=drift or drift_block(None, warn=0.1, fail=0.25, fail_on="score"),
        timings={"validate inputs": 0.5, "build features": 0.25},
        database=database,
    )


def night_channel_model(config):
    return ChannelPriorModel(StandInPropensity(), config.channel_model.prior_lift, NO_CHANNEL_MODEL).fit()


# The documented output contract of manifest.json: its keys in order, and those of its sections.
MANIFEST_KEYS = [
    "run_id",
    "as_of",
    "data_cutoff_utc",
    "cutoff",
    "data_source",
    "input_rows",
    "validation",
    "model",
    "channel_model",
    "decisions",
    "policy",
    "counts",
    "suppressed_by_reason",
    "teams",
    "review",
    "drift",
    "timings_seconds",
    "stage_detail_seconds",
    "treatments",
    "disputes",
]
SECTION_KEYS = {
    "cutoff": ["timezone", "local"],
    "validation": ["data_cutoff_utc", "cutoff_timezone", "tables", "held_for_later_nights", "quarantined_by_rule"],
    "model": ["name", "version", "label", "mlflow_run_id"],
    "channel_model": ["name", "version", "label", "mlflow_run_id", "source", "not_fitted", "prior_lift"],
    "decisions": [
        "channel_cost", "exploration_share", "control_share", "control_days", "self_cure_threshold", "salt",
        "repeat_contact_discount", "exploration", "exploration_share_of_queue", "control",
        "left_alone_by_reason", "incremental_value_within_capacity", "queued_by_channel", "rank_by",
        "response_worth",
    ],
    "policy": ["packs", "default", "by_region", "cadence", "loans_by_pack", "regions_without_loans"],
    "counts": [
        "overdue", "scored", "suppressed", "queued", "promise_follow_up", "forbearance", "left_alone",
        "within_capacity", "dispositions",
    ],
    "review": ["share_with_three_reasons", "share_with_three_channel_reasons", "disparities_flagged",
               "explain_seconds"],
    "drift": ["status", "detail", "thresholds"],
    "treatments": ["counts", "acceptance", "expected_value_of_offers", "expected_value_of_referrals"],
    "disputes": ["open", "overdue_responses", "due_within_7_days", "without_deadline", "summary"],
}  # fmt: skip
TABLE_KEYS = ["rows_in", "accepted", "quarantined", "duplicates_collapsed", "held"]
TEAM_KEYS = [
    "team", "queued", "within_capacity", "amount_overdue", "expected_recovery", "overflow",
    "capacity", "unused_capacity", "capacity_note",
]  # fmt: skip
DISPOSITION_KEYS = ["queued", "suppressed", "promise_follow_up", "left_alone"]
CHECKED_DRIFT_KEYS = [
    "status", "stops_run", "score_psi", "worst", "warned", "failed", "blocking", "unreferenced", "downgraded",
    "thresholds",
]  # fmt: skip


def test_a_fixture_night_gives_every_overdue_loan_one_disposition(night):
    dispositions = night.companions["dispositions"].set_index("loan_id")["disposition"]
    assert len(dispositions) == len(night.features) == 6
    assert dispositions["L3"] == "suppressed" and dispositions["L4"] == "suppressed"  # do not contact, care
    assert dispositions["L6"] == "promise_follow_up"
    assert set(night.queue["loan_id"]) == set(dispositions[dispositions == "queued"].index)
    assert set(night.companions["forbearance"]["loan_id"]) == {"L4"}
    assert (night.queue["run_id"] == "run-1").all()
    assert set(night.scored.scores.seconds) == {
        "propensity scoring",
        "propensity explanations",
        "ranking and companion lists",
    }


def test_a_partitioned_night_gives_the_same_queue(night, validated, config):
    """A PartitionMap that cuts the loans in two (as a cluster does) changes nothing."""
    from pipelines.runtime.partitions import split_frame

    def in_two(fn, *frames, name, **shared):
        pieces = [split_frame(frame, 2) for frame in frames]
        return [fn(*parts, **shared) for parts in zip(*pieces, strict=True)]

    split = _night(validated, config, partitions=in_two)
    pd.testing.assert_frame_equal(split.queue, night.queue)
    for name, frame in night.companions.items():
        pd.testing.assert_frame_equal(split.companions[name], frame, obj=name)


def test_the_manifest_carries_exactly_the_documented_keys(night, validated, config):
    document = _manifest(night, validated, config).model_dump(mode="json")
    assert list(document) == MANIFEST_KEYS
    for section, keys in SECTION_KEYS.items():
        assert list(document[section]) == keys, section
    for counts in document["validation"]["tables"].values():
        assert list(counts) == TABLE_KEYS
    assert document["teams"] and all(list(row) == TEAM_KEYS for row in document["teams"])
    assert list(document["counts"]["dispositions"]) == DISPOSITION_KEYS
    assert list(document["review"]["explain_seconds"]) == ["propensity_reasons", "channel_reasons"]
    assert document["decisions"]["response_worth"] == {
        "amount_at_stake": "amount_overdue (the champion logged no payment share)"
    }
    assert document["channel_model"]["source"] == "prior"
    assert document["channel_model"]["not_fitted"] == NO_CHANNEL_MODEL
    assert document["counts"]["overdue"] == 6 and document["counts"]["promise_follow_up"] == 1
    assert document["policy"]["cadence"] == [rule.id for rule in config.policy.cadence]
    assert document["stage_detail_seconds"].keys() == {
        "channel scoring",
        "treatments",
        "allocation",
        "channel explanations",
        "propensity scoring",
        "propensity explanations",
        "ranking and companion lists",
    }


def test_optional_sections_appear_only_when_the_night_has_them(night, validated, config):
    summary = DriftSummary(fail_on="score", worst=("loan_age_days", 0.31), score_psi=0.02, warned={"a": 0.12})
    database = {
        "target": "sqlite://",
        "table": "queue",
        "queue_rows": 3,
        "replaced_queue_rows": 0,
        "seconds": 0.1,
    }
    share = PaymentShare(edges=(1.0, 2.0), shares=(0.9, 0.8, 0.7), overall=0.85, rows=(5, 3, 2))
    drift = drift_block(summary, warn=0.1, fail=0.25, fail_on="score")
    manifest = _manifest(night, validated, config, drift, database, share)
    document = manifest.model_dump(mode="json")
    assert list(document)[-1] == "database" and list(document["database"]) == list(database)
    assert isinstance(manifest.drift, DriftChecked) and list(document["drift"]) == CHECKED_DRIFT_KEYS
    assert document["decisions"]["response_worth"] == {
        "amount_at_stake": "amount_overdue x learnt share",
        **share.to_document(),
    }
    assert isinstance(_manifest(night, validated, config).drift, DriftNotChecked)


def test_the_manifest_reads_back_from_its_json_unchanged(night, validated, config):
    manifest = _manifest(night, validated, config)
    text = json.dumps(manifest.model_dump(mode="json"), indent=2)
    again = RunManifest.model_validate_json(text)
    assert again == manifest
    assert json.dumps(again.model_dump(mode="json"), indent=2) == text
    assert manifest.with_timings({"validate inputs": 1.0}).timings_seconds == {"validate inputs": 1.0}


def test_the_run_summary_reads_the_typed_manifest(night, validated, config, tmp_path):
    text = run_summary_markdown(_manifest(night, validated, config), {}, None)
    assert "# Nightly queue 2025-01-15" in text and "Status: **no reference**." in text
    assert f"- overdue: {len(night.features)}" in text


def test_the_manifest_states_the_allocation_settings_the_config_gives():
    """The decisions section holds the allocation's settings: the config's `decisions` fields."""
    allocation = [f.name for f in dataclasses.fields(AllocationSettings)]
    assert allocation == list(DecisionsConfig.model_fields)
    assert SECTION_KEYS["decisions"][: len(allocation)] == allocation


def test_every_overdue_loan_has_one_treatment_and_the_queue_carries_its_own(night):
    treatments = night.companions["treatments"].set_index("loan_id")
    assert sorted(treatments.index) == sorted(night.features["loan_id"])
    queued = treatments.loc[night.queue["loan_id"]]
    assert queued["treatment"].tolist() == night.queue["treatment"].tolist()
    assert queued["expected_value"].tolist() == pytest.approx(night.queue["treatment_value"].tolist())
    assert (queued["channel"].to_numpy() == night.queue["recommended_channel"].to_numpy()).all()
    # A borrower who asked not to be contacted is held; an open promise is waited on.
    assert (
        treatments.loc["L3", "treatment"] == "hold"
        and "do_not_contact" in treatments.loc["L3", "treatment_reason"]
    )
    assert (
        treatments.loc["L6", "treatment"] == "hold" and "promise" in treatments.loc["L6", "treatment_reason"]
    )
    # The hardship case goes to the care team with an affordable plan, never a settlement.
    care = treatments.loc["L4"]
    assert care["team"] == "care" and care["treatment"] in {"payment_plan", "deferment"}
    assert care["treatment"] != "settlement"
    if care["treatment"] == "payment_plan":
        assert care["offer_instalment"] <= 0.05 * 3000.0 + 0.005
