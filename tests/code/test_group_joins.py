"""The call sites that join each group's strings with data_contracts.columnar.join_per_group give
what their Python-level groupby joins gave (the old definitions are kept here as references)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.excel import dispute_sheet, is_dispute
from scoring.dispositions import _suppression_rows
from scoring.worklist import _offers, contact_worklist, offer_text

KEYS = ["loan_id", "policy", "policy_version", "rule_id", "reason"]
RULES = [("pack_a", "cease"), ("pack_a", "open_dispute"), ("pack_b", "quiet_hours"), ("pack_b", "dispute_x")]


def _old_suppression_rows(blocks: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    described = blocks.merge(rules, on=["policy", "rule_id", "reason"], how="left", validate="many_to_one")
    described = described.sort_values("channel", kind="stable")
    rows = (
        described.groupby(KEYS, observed=True, sort=True)
        .agg(
            channels=("channel", ",".join),
            n_channels=("channel", "nunique"),
            detail=("description", "first"),
            source=("source", "first"),
        )
        .reset_index()
    )
    return rows.astype({column: "str" for column in [*KEYS, "channels", "detail", "source"]})


def _old_dispute_sheet(suppressed: pd.DataFrame) -> pd.DataFrame:
    disputed = suppressed[is_dispute(suppressed)].drop_duplicates("loan_id")
    others = (
        suppressed[~is_dispute(suppressed)]
        .groupby("loan_id")["rule_id"]
        .agg(lambda ids: ", ".join(sorted(ids)))
    )
    sheet = disputed.assign(other_holds=disputed["loan_id"].map(others)).sort_values("loan_id")
    return sheet.assign(received_on=pd.NaT, respond_by=pd.NaT, days_left=pd.NA)


def _old_offers(rows: pd.DataFrame) -> pd.Series:
    text = offer_text(rows)
    offered = rows.assign(_offer=rows["loan_id"].astype("str") + ": " + text)[text.notna()]
    return offered.groupby("contact_id", sort=False)["_offer"].agg("; ".join)


BLOCK = st.tuples(
    st.sampled_from(["L3", "L1", "L10", "L2", "é1"]),
    st.sampled_from(RULES + [("pack_b", "no_such_rule")]),  # a block no rule describes: no version
    st.sampled_from(["call", "sms", "email", "letter", "visit"]),
)


@settings(max_examples=150, deadline=None)
@given(
    blocks=st.lists(BLOCK, max_size=30),
    described=st.lists(st.one_of(st.none(), st.sampled_from(["", "Held", "Écrit"])), min_size=4, max_size=4),
)
def test_suppression_rows_are_the_named_aggregation_with_the_python_join(blocks, described):
    frame = pd.DataFrame(
        [(loan, policy, rule, f"{rule}_reason", channel) for loan, (policy, rule), channel in blocks],
        columns=["loan_id", "policy", "rule_id", "reason", "channel"],
    ).astype("str")
    rules = pd.DataFrame(
        {
            "policy": [policy for policy, _ in RULES],
            "policy_version": [f"{policy}-1" for policy, _ in RULES],
            "rule_id": [rule for _, rule in RULES],
            "reason": [f"{rule}_reason" for _, rule in RULES],
            "description": pd.Series(described, dtype="str"),
            "source": ["s1", None, "s3", "s4"],
        }
    )
    frame = frame.merge(rules[["policy", "rule_id", "policy_version"]], on=["policy", "rule_id"], how="left")
    described_rules = rules.drop(columns="policy_version")
    pd.testing.assert_frame_equal(
        _suppression_rows(frame, described_rules), _old_suppression_rows(frame, described_rules)
    )


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["L3", "L1", "L10", "L2"]),
            st.sampled_from(["open_dispute", "cease", "bankruptcy", "Quiet", "dispute_x", "é"]),
        ),
        max_size=25,
    )
)
def test_dispute_sheet_lists_the_other_holds_sorted_as_before(rows):
    suppressed = pd.DataFrame(rows, columns=["loan_id", "rule_id"], dtype="str")
    suppressed = suppressed.assign(reason=suppressed["rule_id"] + "_reason", detail="held")
    pd.testing.assert_frame_equal(dispute_sheet(suppressed), _old_dispute_sheet(suppressed))


LOAN = st.tuples(
    st.sampled_from(["B1", "B2", "B3"]),
    st.sampled_from([None, "payment_plan", "deferment", "settlement"]),
)


def _queue(loans: list[tuple[str, str | None]], ids: list) -> pd.DataFrame:
    n = len(loans)
    treatment = [t for _, t in loans]
    return pd.DataFrame(
        {
            "loan_id": ids,
            "borrower_id": [b for b, _ in loans],
            "rank": list(range(n, 0, -1)),  # reversed: the work list reorders by rank
            "recommended_channel": "call",
            "team": "call-east",
            "amount_overdue": [100.0 + i for i in range(n)],
            "incremental_value": [10.0 * i for i in range(n)],
            "exploration": False,
            "within_capacity": True,
            "as_of": pd.Timestamp("2025-03-03"),
            "run_id": "r1",
            "contact_from_local": "2025-03-03T09:00:00-05:00",
            "contact_until_local": "2025-03-03T20:00:00-05:00",
            "timezone": "America/New_York",
            "contact_from_utc": pd.Timestamp("2025-03-03 14:00", tz="UTC"),
            "contact_until_utc": pd.Timestamp("2025-03-04 01:00", tz="UTC"),
            "preferred_language": "en",
            "last_contact_at": pd.Series([pd.NaT] * n, dtype="datetime64[ns, UTC]"),
            "last_contact_channel": pd.Series([None] * n, dtype="str"),
            "last_contact_outcome": pd.Series([None] * n, dtype="str"),
            "next_due_date": pd.Timestamp("2025-03-20"),
            "open_promise_amount": pd.Series([None] * n, dtype="float64"),
            "open_promise_date": pd.Series([pd.NaT] * n, dtype="datetime64[ns]"),
            "priority_reason": "A call is expected to add about 120",
            "treatment": pd.Series(treatment, dtype="str"),
            # Unnamed but on the last loan (alone, as the queue would name it): the work list
            # joins the others' loans itself.
            "contact_loans": pd.Series([None] * (n - 1) + [str(ids[-1])], dtype="str"),
            "offer_n_instalments": 6,
            "offer_instalment": 183.33,
            "offer_holiday_days": 30,
            "offer_amount_to_accept": 250.0,
            "offer_discount": 0.25,
        }
    )


@settings(max_examples=60, deadline=None)
@given(loans=st.lists(LOAN, min_size=1, max_size=12), ids_as=st.sampled_from(["str", "int", "object"]))
def test_the_work_list_joins_loans_and_offers_as_before(loans, ids_as):
    loans = [*loans, ("B9", None)]
    ids = {
        "str": pd.Series([f"L{i}" for i in range(len(loans))], dtype="str"),
        "int": pd.Series(range(len(loans)), dtype="int64"),  # joined through str(), as before
        "object": pd.Series([f"L{i}" if i % 2 else i for i in range(len(loans))], dtype="object"),
    }[ids_as]
    queue = _queue(loans, list(ids))
    queue["loan_id"] = ids.to_numpy()
    out = contact_worklist(queue)
    rows = queue.sort_values("rank", kind="stable")
    rows["contact_id"] = "20250303-" + rows["borrower_id"]
    loans_before = rows.groupby("contact_id", sort=False)["loan_id"].agg(lambda ids: "; ".join(map(str, ids)))
    pd.testing.assert_series_equal(
        out["loan_ids"], out["contact_id"].map(loans_before).astype("str"), check_names=False
    )
    pd.testing.assert_series_equal(_offers(rows), _old_offers(rows))
    pd.testing.assert_series_equal(
        out["offer"], out["contact_id"].map(_old_offers(rows)).astype("str"), check_names=False
    )
