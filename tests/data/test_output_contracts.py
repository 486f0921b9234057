"""Contracts on the engine's own boundaries: features and the published queue."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from data_contracts.outputs import QUEUE_COLUMNS, AccountFeatures, Queue
from features.build import build_features
from tests.factories import contact_policy_columns, typed_tables


def _queue(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of": pd.Timestamp("2025-01-15"),
            "run_id": "run-1",
            "rank": range(1, n + 1),
            "loan_id": [f"L{i}" for i in range(n)],
            "borrower_id": [f"B{i}" for i in range(n)],
            "product": "personal_loan",
            "days_past_due": [30] * n,
            "amount_overdue": [100.0] * n,
            "outstanding_balance": [500.0] * n,
            "p_pay_30d": [0.9, 0.5, 0.1][:n],
            "expected_recovery": [90.0, 50.0, 10.0][:n],
            "priority_score": [90.0, 50.0, 10.0][:n],
            "recommended_channel": "call",
            "reason_1": "a (raises likelihood)",
            "reason_2": "b (lowers likelihood)",
            "reason_3": "c (raises likelihood)",
            "model_version": "recover-propensity/1",
            **contact_policy_columns(n),
        }
    )[QUEUE_COLUMNS]


def test_a_well_formed_queue_passes():
    Queue.validate(_queue())


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda q: q.assign(p_pay_30d=[1.5, 0.5, 0.1]),
        lambda q: q.assign(rank=[2, 1, 3]),
        lambda q: q.assign(recommended_channel="carrier_pigeon"),
        lambda q: q.assign(reason_3=["x", "", "y"]),
        lambda q: q.assign(loan_id=["L0", "L0", "L2"]),
        lambda q: q.assign(days_past_due=[-1, 0, 0]),
        lambda q: q.assign(surprise=1),
        lambda q: q.drop(columns="model_version"),
        lambda q: q.assign(contact_until_utc=q["contact_from_utc"] - pd.Timedelta(hours=1)),
        lambda q: q.drop(columns="policy_version"),
    ],
    ids=[
        "p_pay range",
        "rank order",
        "channel",
        "empty reason",
        "duplicate loan",
        "negative dpd",
        "extra column",
        "missing column",
        "window ends before it starts",
        "no policy version",
    ],
)
def test_a_malformed_queue_is_rejected(corrupt):
    with pytest.raises((pa.errors.SchemaError, pa.errors.SchemaErrors)):
        Queue.validate(corrupt(_queue()), lazy=True)


def test_features_meet_their_contract_and_reject_extras():
    features = build_features(typed_tables(), pd.Timestamp("2025-01-15").date())
    AccountFeatures.validate(features)
    with pytest.raises((pa.errors.SchemaError, pa.errors.SchemaErrors), match="gender"):
        AccountFeatures.validate(features.assign(gender="female"))
    with pytest.raises(pa.errors.SchemaErrors):
        AccountFeatures.validate(features.assign(term_elapsed_share=1.5), lazy=True)
