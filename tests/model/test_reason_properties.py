"""Properties: reasons cannot contradict what they explain (issue 27).

Over many random accounts, contributions and queues (hypothesis): every p_pay reason agrees with
its value against the stated reference and with its SHAP sign, and never reads backwards for a
feature of declared direction; every channel reason's words agree with its sign and with the
chosen channel, none is circular; every priority reason's numbers add up to the row's
incremental value within rounding, and its standing against tonight's queue agrees with the
queue. The checks (tests/reason_checks.py) read the sentences, not the code that wrote them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_contracts.enums import CHANNELS
from features.catalog import CHANNEL_INPUTS, FEATURE_NAMES, FEATURES, spec
from models.channel_prior import ChannelPriorModel
from scoring.allocation import incremental_values
from scoring.choice import explain_channels
from scoring.priority import Tonight, priority_reasons, standing
from scoring.reasons import (
    LOWERS,
    RAISES,
    channel_reasons,
    exploration_channel_reasons,
    reference_values,
    top_reasons,
)
from tests.reason_checks import (
    channel_problems,
    features_named_by,
    priority_problems,
    propensity_problems,
    standing_problems,
)

COST = {"call": 2.0, "sms": 0.05, "email": 0.02, "whatsapp": 0.05, "field_visit": 25.0, "letter": 1.0}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NULLABLE = {
    "on_time_share",
    "paid_share",
    "days_since_last_payment",
    "days_since_last_right_party_contact",
    "call_no_answer_share_90d",
    "monthly_income",
    "installment_to_income",
    "channel_reached_share_180d",
    "channel_days_since_last_attempt",
    "channel_paid_after_share_180d",
    "channel_paid_after_reached_share_180d",
}


def _value(name: str) -> st.SearchStrategy[object]:
    """Values of one feature, from small sets so that ties with the reference occur."""
    feature = spec(name)
    if feature.kind == "boolean":
        return st.booleans()
    if feature.kind == "categorical":
        return st.sampled_from(["personal", "sme", "auto"] if name == "product" else ["weekly", "monthly"])
    if feature.unit in ("fraction", "share", "ratio"):
        values: st.SearchStrategy[float] = st.sampled_from([0.0, 0.25, 0.5, 0.504, 0.75, 1.0, 2.5])
    elif feature.unit == "currency":
        values = st.sampled_from([0.0, 12.5, 100.0, 1200.0, 3363.66, 13239.0])
    else:
        values = st.sampled_from([0.0, 1.0, 2.0, 3.0, 30.0, 45.0, 445.0])
    return st.one_of(values, st.just(math.nan)) if name in NULLABLE else values


def _accounts(names: list[str], size: int) -> st.SearchStrategy[pd.DataFrame]:
    row = st.fixed_dictionaries({name: _value(name) for name in names})
    return st.lists(row, min_size=size, max_size=size).map(pd.DataFrame)


_shap = st.sampled_from([-1.2, -0.4, -0.05, 0.0, 0.05, 0.4, 1.2])


@SETTINGS
@given(
    accounts=_accounts(list(FEATURE_NAMES), 6),
    contributions=st.lists(
        st.lists(_shap, min_size=len(FEATURE_NAMES), max_size=len(FEATURE_NAMES)), min_size=6, max_size=6
    ),
)
def test_every_propensity_reason_agrees_with_its_value_its_reference_and_its_sign(accounts, contributions):
    shap = pd.DataFrame(contributions, columns=list(FEATURE_NAMES))
    reference = reference_values(accounts)
    reasons = top_reasons(accounts, shap, n=3, reference=reference)
    assert list(reasons.columns) == ["reason_1", "reason_2", "reason_3"]
    for i in range(len(accounts)):
        row = accounts.iloc[i].to_dict()
        sentences = reasons.iloc[i].tolist()
        assert len(set(sentences)) == 3 and all(sentences)
        problems = propensity_problems(sentences, row, shap.iloc[i].to_dict(), reference)
        assert not problems, problems
        # The strongest coherent features come first: when three exist, all three are reasons.
        coherent = [name for name in FEATURE_NAMES if _coherent(name, row, shap.iloc[i][name], reference)]
        stated = sum(s.endswith((RAISES, LOWERS)) and _declared(s) for s in sentences)
        assert stated == min(3, len(coherent))


@SETTINGS
@given(
    accounts=_accounts(list(FEATURE_NAMES), 8),
    contributions=st.lists(
        st.lists(_shap, min_size=len(FEATURE_NAMES), max_size=len(FEATURE_NAMES)), min_size=8, max_size=8
    ),
    n=st.integers(1, 5),
)
def test_reasons_picked_for_all_rows_at_once_are_those_picked_row_by_row(accounts, contributions, n):
    # Scale (issue 26): top_reasons decides every row's reasons with array operations; the
    # row-by-row walk (_row_reasons) is the definition they must equal, sentence for sentence.
    from scoring.reasons import _context, _row_reasons

    shap = pd.DataFrame(contributions, columns=list(FEATURE_NAMES))
    reference = reference_values(accounts)
    reasons = top_reasons(accounts, shap, n=n, reference=reference)
    values = shap.to_numpy(dtype="float64")
    for i, row in enumerate(accounts[list(FEATURE_NAMES)].to_dict("records")):
        expected = _row_reasons(list(FEATURE_NAMES), values[i], _context(row), reference, n)
        assert reasons.iloc[i].tolist() == expected


def _declared(sentence: str) -> bool:
    return any(feature.direction != 0 for feature in features_named_by(sentence))


def _coherent(name: str, row: dict, contribution: float, reference: dict) -> bool:
    """Independently of scoring.reasons: a declared feature on one side of its reference whose
    SHAP sign agrees with its direction."""
    feature = spec(name)
    if feature.direction == 0 or contribution == 0 or name not in reference:
        return False
    value, typical = row[name], reference[name]
    if feature.kind == "boolean":
        if bool(value) == bool(typical):
            return False
        side = 1 if value else -1
    else:
        if isinstance(value, float) and math.isnan(value):
            if feature.missing_as is None:
                return False
            value = feature.missing_as
        if math.isfinite(value) and feature.format_value(value) == feature.format_value(typical):
            return False
        side = 1 if value > typical else -1
    return side * feature.direction == np.sign(contribution)


def test_a_reason_names_its_reference_and_never_reads_backwards():
    accounts = pd.DataFrame({name: [1.0, 3.0, 3.0, 3.0] for name in ["n_payments_30d", "amount_paid_90d"]})
    shap = pd.DataFrame({"n_payments_30d": [-0.5, 0.0, 0.0, 0.0], "amount_paid_90d": [0.9, 0.0, 0.0, 0.0]})
    reasons = top_reasons(accounts, shap, n=2)
    # Fewer payments than typical lowering the chance is coherent; less paid than typical
    # raising it would read backwards: stated without any effect, after the coherent one.
    assert reasons.iloc[0].tolist() == [
        "1 payment in the last 30 days, fewer than the typical 3: lowers the chance to pay",
        "Paid 1.00 in the last 90 days, less than the typical 3.00",
    ]


def test_a_missing_value_of_declared_meaning_compares_with_the_reference():
    accounts = pd.DataFrame({"days_since_last_payment": [math.nan, 40.0, 40.0]})
    shap = pd.DataFrame({"days_since_last_payment": [-0.5, 0.0, 0.0]})
    reason = top_reasons(accounts, shap, n=1).iloc[0, 0]
    assert (
        reason == "No payment on record (typical tonight: last payment 40 days ago): lowers the chance to pay"
    )


def test_a_flag_is_phrased_against_most_accounts():
    accounts = pd.DataFrame({"has_open_promise": [True, False, False]})
    reasons = top_reasons(accounts, pd.DataFrame({"has_open_promise": [0.3, -0.1, 0.2]}), n=1)
    assert (
        reasons.iloc[0, 0]
        == "Has an open promise to pay, unlike most accounts tonight: raises the chance to pay"
    )
    # Typical and declared: no effect is claimed for it.
    assert reasons.iloc[1, 0] == "No open promise to pay, like most accounts tonight"


# --- channel reasons -----------------------------------------------------------------------------

CHANNEL_NAMES = [s.name for s in CHANNEL_INPUTS]
ACCOUNT_SUBSET = ["days_past_due", "n_payments_30d", "has_open_promise", "product", "amount_overdue"]


@st.composite
def _option_pairs(draw):
    n = 5
    names = [*ACCOUNT_SUBSET, *[c for c in CHANNEL_NAMES if c != "channel"]]
    accounts = draw(_accounts(names, n))
    chosen_channel = draw(st.lists(st.sampled_from(CHANNELS), min_size=n, max_size=n))
    rival_channel = [
        draw(st.sampled_from([c for c in (*CHANNELS, "none") if c != ours])) for ours in chosen_channel
    ]
    rival_history = draw(_accounts([c for c in CHANNEL_NAMES if c != "channel"], n))
    chosen = accounts.assign(channel=chosen_channel)
    rival = accounts.assign(channel=rival_channel)
    for column in rival_history.columns:
        against_none = np.array(rival_channel) == "none"
        rival[column] = np.where(against_none, chosen[column], rival_history[column])
    columns = [*names, "channel", "reached"]
    shap_rows = st.lists(
        st.lists(_shap, min_size=len(columns), max_size=len(columns)), min_size=n, max_size=n
    )
    return (
        chosen,
        rival,
        pd.DataFrame(draw(shap_rows), columns=columns),
        pd.DataFrame(draw(shap_rows), columns=columns),
    )


@SETTINGS
@given(pairs=_option_pairs())
def test_every_channel_reason_argues_for_the_chosen_channel_or_says_despite(pairs):
    chosen, rival, chosen_shap, rival_shap = pairs
    reasons = channel_reasons(chosen, rival, chosen_shap, rival_shap, n=3)
    difference = (chosen_shap - rival_shap).drop(columns=["channel", "reached"])
    for i in range(len(chosen)):
        sentences = reasons.iloc[i].tolist()
        assert all(sentences)
        problems = channel_problems(
            sentences,
            chosen["channel"].iloc[i],
            rival["channel"].iloc[i],
            differences=difference.iloc[i].to_dict(),
        )
        assert not problems, problems


def _channel_reasons_row_by_row(chosen, rival, chosen_shap, rival_shap, n):
    """The definition, one row at a time (the version before issue 26): what the vectorised
    pick must equal."""
    from scoring.reasons import _context, _lower_first, _rival_value, option_name

    names = [c for c in chosen_shap.columns if c not in ("channel", "reached")]
    difference = chosen_shap[names].to_numpy(dtype="float64") - rival_shap[names].to_numpy(dtype="float64")
    out = []
    for i, row in enumerate(chosen.to_dict("records")):
        ours, theirs = str(chosen["channel"].iloc[i]), str(rival["channel"].iloc[i])
        other, context = option_name(theirs), _context(row)
        favour = [j for j in np.argsort(-difference[i], kind="stable") if difference[i, j] > 0]
        against = [j for j in np.argsort(difference[i], kind="stable") if difference[i, j] < 0]
        sentences = []
        for j in [*favour, *against][:n]:
            feature = spec(names[j])
            phrase = feature.describe_value(context) + _rival_value(
                feature, context.get(feature.name), rival.iloc[i].to_dict(), theirs, ours
            )
            if difference[i, j] > 0:
                sentences.append(f"{phrase} (favours {ours} over {other})")
            else:
                sentences.append(
                    f"Despite {_lower_first(phrase)} (counts against {ours} compared with {other})"
                )
        while len(sentences) < n:
            sentences.append(f"Nothing else in this account's data separates {ours} from {other}")
        out.append(sentences)
    return out


@SETTINGS
@given(pairs=_option_pairs(), n=st.integers(1, 4))
def test_channel_reasons_picked_for_all_rows_at_once_are_those_picked_row_by_row(pairs, n):
    # Scale (issue 26): the picks are array operations; the row-by-row walk is the definition.
    chosen, rival, chosen_shap, rival_shap = pairs
    reasons = channel_reasons(chosen, rival, chosen_shap, rival_shap, n=n)
    expected = _channel_reasons_row_by_row(chosen, rival, chosen_shap, rival_shap, n)
    assert [reasons.iloc[i].tolist() for i in range(len(chosen))] == expected


def test_the_channel_indicator_is_never_a_reason_even_when_it_differs_most():
    rows = pd.DataFrame({"loan_id": ["L1"], "channel": ["sms"], "days_past_due": [40.0]})
    chosen_shap = pd.DataFrame({"channel": [2.0], "days_past_due": [0.3]})
    rival_shap = pd.DataFrame({"channel": [0.0], "days_past_due": [0.5]})
    reasons = channel_reasons(rows, rows.assign(channel="letter"), chosen_shap, rival_shap, n=2).iloc[0]
    assert reasons.tolist() == [
        "Despite days past due: 40 (counts against sms compared with letter)",
        "Nothing else in this account's data separates sms from letter",
    ]


def test_exploration_rows_say_they_are_random_on_both_paths():
    queued = pd.DataFrame(
        {
            "loan_id": ["L1", "L2"],
            "recommended_channel": ["field_visit", "sms"],
            "exploration": [True, False],
            "incremental_value": [-12.0, 40.0],
        }
    )
    prior = ChannelPriorModel(_FixedPropensity(), {c: 0.05 for c in CHANNELS}, reason="no contacts").fit()
    reasons = explain_channels(queued, pd.Series({"L1": "call", "L2": "none"}), pd.DataFrame(), prior, n=3)
    assert not channel_problems(reasons.iloc[0, 1:].tolist(), "field_visit", "call", exploration=True)
    assert "-12.00" in reasons.iloc[0]["channel_reason_3"]
    assert not channel_problems(reasons.iloc[1, 1:].tolist(), "sms", "none")
    assert "over no contact" in reasons.iloc[1]["channel_reason_3"].lower()
    assert (
        exploration_channel_reasons(pd.Series(["call"]), n=3).iloc[0, 0].startswith("Randomised exploration")
    )


class _FixedPropensity:
    def predict_proba(self, X):
        return np.column_stack([np.full(len(X), 0.8), np.full(len(X), 0.2)])


# --- priority reasons ----------------------------------------------------------------------------


@st.composite
def _queues(draw):
    n = draw(st.integers(1, 12))
    channel = draw(st.lists(st.sampled_from(CHANNELS), min_size=n, max_size=n))
    p_self = np.array(draw(st.lists(st.floats(0.0, 0.9), min_size=n, max_size=n)))
    lift = np.array(draw(st.lists(st.floats(0.0, 0.1), min_size=n, max_size=n)))
    stake = np.array(draw(st.lists(st.floats(1.0, 50_000.0), min_size=n, max_size=n)))
    queue = pd.DataFrame(
        {
            "loan_id": [f"L{i}" for i in range(n)],
            "recommended_channel": channel,
            "channel": channel,
            "p_self_cure": p_self,
            "p_contact": p_self + lift,
            "p_response": p_self + lift,
            "amount_overdue": stake * 1.1,
            "amount_at_stake": stake,
            "exploration": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
            "within_capacity": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
            "team": "call-north",
            "overlap_weight": draw(st.lists(st.sampled_from([0.0, 0.3, 1.0]), min_size=n, max_size=n)),
        }
    )
    queue["channel_cost"] = queue["channel"].map(COST)
    queue["incremental_value"] = incremental_values(queue, COST)
    return queue


@SETTINGS
@given(queue=_queues())
def test_every_priority_reason_adds_up_to_the_incremental_value(queue):
    reasons = priority_reasons(queue, response_window_days=7)
    for text, row in zip(reasons, queue.to_dict("records"), strict=True):
        problems = priority_problems(text, row)
        assert not problems, (text, problems)
        if row["incremental_value"] <= 0 and not row["exploration"]:
            assert "would not be worth contacting" in text
        if row["overlap_weight"] < 0.5 and not row["exploration"]:
            assert "configured prior" in text


@SETTINGS
@given(
    values=st.lists(st.floats(-100, 1e5, allow_nan=False), min_size=1, max_size=40),
    pick=st.integers(0, 39),
)
def test_a_standing_against_tonight_agrees_with_the_value_and_the_median(values, pick):
    tonight = pd.Series(values)
    value = values[pick % len(values)]
    words = standing(value, tonight, f"{value:.2f}", f"{tonight.median():.2f}")
    assert not standing_problems(words, value, float(tonight.median()))


def _plain_shares(value: float, values: np.ndarray) -> tuple[float, float, float, float]:
    """The shares as a pass over every value computes them (the reference for Tonight)."""
    return (
        float((values < value).mean()),
        float((values == value).mean()),
        float((values >= value).mean()),
        float((values <= value).mean()),
    )


def _plain_standing(value: float, values: np.ndarray, shown: str, typical_shown: str) -> str:
    """The words as the version before issue 26 wrote them, from a pass over every value."""
    if len(values) == 0 or not math.isfinite(value):
        return "not comparable tonight"
    median = float(np.median(values))
    below, ties, top, bottom = _plain_shares(value, values)
    percentile = below + ties / 2
    if shown == typical_shown or value == median or 0.4 <= percentile <= 0.6:
        return f"typical (median {typical_shown})"
    if value > median:
        if top <= 0.10:
            return f"among the largest tonight (top {max(math.ceil(100 * top), 1)}%)"
        return f"above the typical {typical_shown}"
    if bottom <= 0.10:
        return f"among the smallest tonight (bottom {max(math.ceil(100 * bottom), 1)}%)"
    return f"below the typical {typical_shown}"


@SETTINGS
@given(
    values=st.lists(
        st.one_of(st.sampled_from([0.0, 1.0, 2.5, float("nan")]), st.floats(-100, 1e5, allow_nan=False)),
        min_size=0,
        max_size=40,
    ),
    probe=st.one_of(st.sampled_from([0.0, 1.0, 2.5, float("nan"), float("inf")]), st.floats(-200, 2e5)),
)
def test_tonight_sorted_once_gives_the_shares_and_words_of_a_pass_over_every_row(values, probe):
    # The queue asks where each of its rows stands: sorted once and searched (scale, issue 26),
    # the answer must be the one a pass over every value gives.
    tonight = pd.Series(values, dtype="float64")
    present = tonight.dropna().to_numpy()
    distribution = Tonight(tonight)
    if len(present):
        if not math.isnan(probe):
            assert distribution.shares(probe) == _plain_shares(probe, present)
        below, ties, _, _ = _plain_shares(probe, present)
        assert distribution.percentile(probe) == below + ties / 2
        assert distribution.median == float(np.median(present))
    else:
        assert distribution.percentile(probe) == 0.5
    median = f"{float(np.median(present)):.2f}" if len(present) else "nan"
    for shown in (f"{probe:.2f}", median):
        assert standing(probe, tonight, shown, median) == _plain_standing(probe, present, shown, median)


def test_a_priority_reason_states_value_drivers_and_exploration():
    queue = pd.DataFrame(
        {
            "recommended_channel": ["call", "sms", "field_visit"],
            "p_self_cure": [0.06, 0.2, 0.1],
            "p_response": [0.09, 0.21, 0.1005],
            "amount_at_stake": [13239.0, 800.0, 500.0],
            "channel_cost": [87.0, 0.05, 25.0],
            "exploration": [False, False, True],
            "within_capacity": [True, True, True],
        }
    )
    queue["incremental_value"] = (queue["p_response"] - queue["p_self_cure"]) * queue[
        "amount_at_stake"
    ] - queue["channel_cost"]
    reasons = priority_reasons(queue, response_window_days=7)
    assert reasons.iloc[0].startswith(
        "A call is expected to add about 310: the chance of a payment within 7 days rises from 6.0% without "
        "contact to 9.0% with it, on 13,239 at stake (about 397), less its cost of 87. Its value is "
    )
    assert "the amount at stake, 13,239, is " in reasons.iloc[0]
    assert reasons.iloc[2].startswith("Randomised exploration pick: a field visit drawn at random")
    assert "its expected value (-24.75) is not why it is here" in reasons.iloc[2]


def test_a_queue_ranked_without_the_channel_model_speaks_of_expected_recovery():
    queue = pd.DataFrame(
        {
            "incremental_value": [math.nan],
            "p_pay_30d": [0.45],
            "amount_overdue": [1234.0],
            "expected_recovery": [555.3],
        }
    )
    reason = priority_reasons(queue).iloc[0]
    assert reason.startswith("Ranked by expected recovery")
    assert "45% chance to pay within 30 days on 1,234 overdue, about 555 expected" in reason


@pytest.mark.parametrize("feature", [f.name for f in FEATURES if f.direction != 0])
def test_every_declared_direction_is_one_of_plus_or_minus_one(feature):
    assert spec(feature).direction in (-1, 1)


class _ReadRecorder(dict):
    """A row that remembers which of its columns were read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


@SETTINGS
@given(queue=_queues())
def test_the_priority_sentences_read_only_the_columns_kept_for_them(queue):
    # priority_reasons turns only PRIORITY_INPUTS into records: a sentence that read any other
    # column would silently see it missing.
    from scoring import priority

    queue = queue.assign(p_pay_30d=0.4, expected_recovery=123.0, amount_overdue=queue["amount_overdue"])
    stakes = Tonight(queue["amount_at_stake"])
    lifts = Tonight(queue["p_response"] - queue["p_self_cure"])
    values = Tonight(queue["incremental_value"])
    read: set[str] = set()
    for record in queue.to_dict("records"):
        row = _ReadRecorder(record)
        priority.value_sentence(row, 7)
        priority._drivers(row, stakes, lifts, values)
        priority._prior_note(row)
        priority.recovery_sentence(row, values)
        read |= row.read
    assert read <= set(priority.PRIORITY_INPUTS), read - set(priority.PRIORITY_INPUTS)
    assert priority_reasons(queue, response_window_days=7).equals(
        priority_reasons(queue[list(priority.PRIORITY_INPUTS)], response_window_days=7)
    )
