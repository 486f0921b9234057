"""Plain-language reasons from SHAP contributions.

Two kinds, each built so that it can never contradict what it explains (tested as properties in
tests/model/test_reason_properties.py):

* :func:`top_reasons`, why the chance to pay is what it is: each reason quotes the account's
  value against a stated reference, the typical value among tonight's overdue accounts ("1
  payment in the last 30 days, fewer than the typical 3: lowers the chance to pay"). A feature
  whose economic direction is declared in the catalog (``FeatureSpec.direction``) is a reason
  only where its value, its reference and its SHAP sign agree; otherwise the next one is taken.
* :func:`channel_reasons`, why the chosen channel rather than the runner-up: the features whose
  SHAP difference between the two options favours the chosen one come first ("... (favours call
  over sms)"), anything that argues against it begins with "Despite"; the channel indicator
  itself (circular: "Contact by sms") is never a reason.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from features.catalog import CHANNEL_INPUT_NAMES, REACHED_INPUT, FeatureSpec, is_missing, spec
from features.responses import NO_CONTACT

RAISES = "raises the chance to pay"
LOWERS = "lowers the chance to pay"

# How a value stands against its reference: above or below it (ordered kinds), the same, merely
# different (categories), or not comparable (a missing value with no declared meaning).
Comparison = Literal["above", "below", "same", "different", "incomparable"]

# The words that compare a value with its reference, by the feature's unit.
_MORE_LESS: dict[str, tuple[str, str]] = {
    "count": ("more", "fewer"),
    "days": ("more", "fewer"),
    "currency": ("more", "less"),
}
_HIGHER_LOWER = ("higher", "lower")

# The channel model's input that names the option itself: a reason quoting it is circular.
CHANNEL_INDICATOR = "channel"


def _context(row: Mapping[Hashable, Any]) -> dict[str, Any]:
    """Values that phrases may quote besides the features themselves."""
    kept = row.get("n_promises_kept_180d") or 0.0
    broken = row.get("n_promises_broken_180d") or 0.0
    # A record of a frame of model rows: its keys are column names, all strings.
    return cast("dict[str, Any]", {**row, "n_promises_resolved_180d": kept + broken})


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isalpha() else text


# --- references ------------------------------------------------------------------------------


def reference_values(features: pd.DataFrame, names: Iterable[str] | None = None) -> dict[str, object]:
    """The typical value of each feature among ``features`` (tonight's overdue accounts): the
    median of a numeric feature (missing values skipped), the most common value of a boolean or
    categorical one (ties to the first in sort order). A feature with no value is left out."""
    reference: dict[str, object] = {}
    for name in names if names is not None else features.columns:
        if name not in features:
            continue
        try:
            kind = spec(str(name)).kind
        except KeyError:
            continue
        column = features[name].dropna()
        if column.empty:
            continue
        if kind == "numeric":
            reference[str(name)] = float(pd.to_numeric(column, errors="coerce").median())
        else:
            counts = column.astype(bool if kind == "boolean" else "str").value_counts()
            top = counts[counts == counts.max()].index
            reference[str(name)] = sorted(top)[0]
    return reference


def compare(feature: FeatureSpec, value: object, reference: object) -> Comparison:
    """How ``value`` stands against ``reference``. Numbers that the phrase would write the same
    way count as the same; a missing value compares as ``feature.missing_as`` where declared."""
    if is_missing(reference):
        return "incomparable"
    if is_missing(value):
        if feature.missing_as is None:
            return "incomparable"
        value = feature.missing_as
    if feature.kind == "categorical":
        return "same" if str(value) == str(reference) else "different"
    if feature.kind == "boolean":
        ours, theirs = bool(value), bool(reference)
        return "same" if ours == theirs else ("above" if ours else "below")
    ours_f, theirs_f = float(cast(float, value)), float(cast(float, reference))
    if np.isfinite(ours_f) and feature.format_value(ours_f) == feature.format_value(theirs_f):
        return "same"
    return "above" if ours_f > theirs_f else "below"


def against_reference(
    feature: FeatureSpec, context: Mapping[str, Any], reference: object
) -> tuple[str, Comparison]:
    """The feature's phrase for one account, stated against the reference, and the comparison:
    "Days past due: 45, more than the typical 30"; "Has an open promise to pay, unlike most
    accounts tonight"; "No payment on record (typical tonight: last payment 40 days ago)"."""
    comparison = compare(feature, context.get(feature.name), reference)
    return _phrase_against(feature, context, reference, comparison), comparison


def _phrase_against(
    feature: FeatureSpec, context: Mapping[str, Any], reference: object, comparison: Comparison
) -> str:
    """The phrase of :func:`against_reference`, its comparison already known."""
    phrase = feature.describe_value(context)
    value = context.get(feature.name)
    if is_missing(reference):
        return phrase
    if is_missing(value):
        typical = feature.describe_value({**context, feature.name: reference})
        return f"{phrase} (typical tonight: {_lower_first(typical)})"
    if feature.kind == "boolean":
        like = "like" if comparison == "same" else "unlike"
        return f"{phrase}, {like} most accounts tonight"
    if feature.kind == "categorical":
        if comparison == "same":
            return f"{phrase}, the most common tonight"
        return f"{phrase}, unlike the most common {reference}"
    typical = feature.format_value(reference)
    if comparison == "same":
        return f"{phrase}, the same as the typical {typical}"
    more, less = _MORE_LESS.get(feature.unit, _HIGHER_LOWER)
    word = more if comparison == "above" else less
    return f"{phrase}, {word} than the typical {typical}"


def is_coherent(feature: FeatureSpec, comparison: Comparison, contribution: float) -> bool:
    """Whether a declared direction, the value's side of its reference and the SHAP sign agree
    (more payments than typical raising the chance to pay, more days past due lowering it)."""
    if feature.direction == 0 or comparison not in ("above", "below") or contribution == 0:
        return False
    side = 1 if comparison == "above" else -1
    return bool(np.sign(contribution) == side * feature.direction)


# --- propensity reasons ----------------------------------------------------------------------


def _row_reasons(
    names: list[str], shap: np.ndarray, context: Mapping[str, Any], reference: Mapping[str, object], n: int
) -> list[str]:
    """One account's ``n`` reasons: first the strongest features whose declared direction agrees
    with their value and SHAP sign; then features of undeclared direction, phrased against the
    reference (those that differ from it first); never a declared feature read backwards, which
    appears only as a last resort, stated without any effect."""
    coherent: list[str] = []
    differs: list[str] = []
    typical: list[str] = []
    unstated: list[str] = []
    for j in np.argsort(-np.abs(shap), kind="stable"):
        feature = spec(names[j])
        text, comparison = against_reference(feature, context, reference.get(feature.name))
        effect = RAISES if shap[j] > 0 else LOWERS
        if feature.direction != 0:
            if is_coherent(feature, comparison, float(shap[j])):
                coherent.append(f"{text}: {effect}")
            else:
                unstated.append(text)
        elif shap[j] == 0:
            unstated.append(text)
        elif comparison == "same":
            typical.append(f"{text}: {effect}")
        else:
            differs.append(f"{text}: {effect}")
        if len(coherent) >= n:
            break
    return [*coherent, *differs, *typical, *unstated][:n]


def top_reasons(
    features: pd.DataFrame,
    contributions: pd.DataFrame,
    n: int = 3,
    reference: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """The ``n`` features that best explain each account's chance to pay, as sentences against
    a stated reference, e.g. "1 payment in the last 30 days, fewer than the typical 3: lowers
    the chance to pay". Columns reason_1..reason_n.

    ``reference`` holds the typical value of each feature (:func:`reference_values` of
    tonight's overdue accounts; by default of ``features`` itself). Ranked by absolute SHAP
    contribution among the features whose declared direction (``FeatureSpec.direction``) agrees
    with their value against the reference and their SHAP sign; a feature that would read
    backwards ("Paid 3,000 in the last 90 days, more than the typical 200: lowers the chance to
    pay") is skipped, and undeclared features fill the rest (module docstring)."""
    names = list(contributions.columns)
    if reference is None:
        reference = reference_values(features, names)
    values = contributions.to_numpy(dtype="float64")
    columns = [f"reason_{k}" for k in range(1, n + 1)]
    if len(features) == 0 or not names:
        records = features[names].to_dict("records")
        reasons = [
            _row_reasons(names, values[i], _context(row), reference, n) for i, row in enumerate(records)
        ]
        return pd.DataFrame(reasons, index=features.index, columns=columns).astype("str")
    chosen, tiers, comparisons = _chosen_features(features[names], values, names, reference, n)
    records = features[names].to_dict("records")
    specs = [spec(name) for name in names]
    references = [reference.get(feature.name) for feature in specs]
    reasons = []
    for i, row in enumerate(records):
        context = _context(row)
        texts = []
        for j, tier in zip(chosen[i], tiers[i], strict=True):
            text = _phrase_against(specs[j], context, references[j], comparisons[i, j])
            texts.append(text if tier == _UNSTATED else f"{text}: {RAISES if values[i, j] > 0 else LOWERS}")
        reasons.append(texts)
    return pd.DataFrame(reasons, index=features.index, columns=columns).astype("str")


# Tiers of a candidate reason, in the order :func:`_row_reasons` fills the reasons.
_COHERENT, _DIFFERS, _TYPICAL, _UNSTATED = 0, 1, 2, 3


def _comparisons(column: pd.Series, feature: FeatureSpec, reference: object) -> np.ndarray:
    """:func:`compare` of every value of ``column``, computed once per distinct value."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    answers = np.array(
        [compare(feature, value, reference) for value in uniques] or ["incomparable"], dtype=object
    )
    missing = compare(feature, None, reference)
    return np.where(codes >= 0, answers[np.maximum(codes, 0)], missing)


def _chosen_features(
    features: pd.DataFrame, shap: np.ndarray, names: list[str], reference: Mapping[str, object], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the columns of its ``n`` reasons and their tiers (and every cell's comparison): exactly what
    :func:`_row_reasons` picks (tiers coherent, differs, typical, unstated, each in the order of
    absolute SHAP, ties by column), decided for all rows at once."""
    rows, width = shap.shape
    tier = np.empty((rows, width), dtype=np.int64)
    comparisons = np.empty((rows, width), dtype=object)
    for j, name in enumerate(names):
        feature = spec(name)
        comparison = _comparisons(features[name], feature, reference.get(feature.name))
        comparisons[:, j] = comparison
        contribution = shap[:, j]
        if feature.direction != 0:
            side = np.where(comparison == "above", 1, np.where(comparison == "below", -1, 0))
            coherent = (side != 0) & (contribution != 0) & (np.sign(contribution) == side * feature.direction)
            tier[:, j] = np.where(coherent, _COHERENT, _UNSTATED)
        else:
            tier[:, j] = np.where(
                contribution == 0, _UNSTATED, np.where(comparison == "same", _TYPICAL, _DIFFERS)
            )
    order = np.argsort(-np.abs(shap), axis=1, kind="stable")
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.arange(width)[None, :].repeat(rows, axis=0), axis=1)
    picked = np.argsort(tier * width + place, axis=1, kind="stable")[:, :n]
    return picked, np.take_along_axis(tier, picked, axis=1), comparisons


# --- channel reasons -------------------------------------------------------------------------


def option_name(channel: str) -> str:
    """How a reason names an option: the channel, or "no contact"."""
    return "no contact" if channel == NO_CONTACT else channel


def channel_reasons(
    chosen: pd.DataFrame,
    rival: pd.DataFrame,
    chosen_contributions: pd.DataFrame,
    rival_contributions: pd.DataFrame,
    n: int = 3,
) -> pd.DataFrame:
    """Why each loan's chosen channel rather than its runner-up (the next best channel, or no
    contact), as sentences.

    ``chosen`` and ``rival`` are aligned model rows (same loans, same order) with their
    ``channel``; the contributions are the best-channel model's SHAP values for those rows. The
    difference of each feature's contribution between the two rows is what it adds to the
    chosen option over the rival. The features that favour the chosen channel come first,
    largest first, phrased with the chosen row's values (and, for a channel's own history, the
    rival channel's: "Reached through call in 60% of recent attempts, against 10% for sms
    (favours call over sms)"); then those that argue against it, each beginning with "Despite"
    ("Despite 46 attempts through call in the last 180 days, against 2 for sms (counts against
    call compared with sms)"). The channel indicator (circular) and the ``reached`` arm are never
    reasons; features with no difference neither. Columns channel_reason_1..n."""
    excluded = {CHANNEL_INDICATOR, REACHED_INPUT.name}
    names = [name for name in chosen_contributions.columns if name not in excluded]
    difference = chosen_contributions[names].to_numpy(dtype="float64") - rival_contributions[names].to_numpy(
        dtype="float64"
    )
    # Only the columns a phrase can quote: the model rows carry many more.
    quoted = [c for c in chosen.columns if c in set(names) | _CONTEXT_INPUTS]
    records = chosen[quoted].to_dict("records")
    rival_records = rival[[c for c in rival.columns if c in CHANNEL_INPUT_NAMES]].to_dict("records")
    ours = chosen["channel"].astype("str").to_numpy()
    theirs = rival["channel"].astype("str").to_numpy()
    picks = _channel_picks(difference, n)
    specs = [spec(name) for name in names]
    reasons = []
    for i, row in enumerate(records):
        other = option_name(theirs[i])
        context = _context(row)
        sentences = []
        for j in picks[i]:
            if j < 0:
                break
            feature = specs[j]
            phrase = feature.describe_value(context) + _rival_value(
                feature, context.get(feature.name), rival_records[i], theirs[i], ours[i]
            )
            if difference[i, j] > 0:
                sentences.append(f"{phrase} (favours {ours[i]} over {other})")
            else:
                sentences.append(
                    f"Despite {_lower_first(phrase)} (counts against {ours[i]} compared with {other})"
                )
        while len(sentences) < n:
            sentences.append(f"Nothing else in this account's data separates {ours[i]} from {other}")
        reasons.append(sentences)
    columns = [f"channel_reason_{k}" for k in range(1, n + 1)]
    return pd.DataFrame(reasons, index=chosen.index, columns=columns).astype("str")


# Columns a phrase may quote besides the model's inputs (see _context).
_CONTEXT_INPUTS = {CHANNEL_INDICATOR, "n_promises_kept_180d", "n_promises_broken_180d"}


def _channel_picks(difference: np.ndarray, n: int) -> np.ndarray:
    """Per row, the columns of its (at most) ``n`` channel reasons, -1 past the last: those
    favouring the chosen option, largest first, then those against it, most negative first
    (ties by column), no column without a difference; for all rows at once."""
    rows, width = difference.shape
    if rows == 0 or width == 0:
        return np.full((rows, n), -1, dtype=np.int64)
    steps = np.broadcast_to(np.arange(width), (rows, width))
    favour_place = np.empty((rows, width), dtype=np.int64)
    np.put_along_axis(favour_place, np.argsort(-difference, axis=1, kind="stable"), steps, axis=1)
    against_place = np.empty((rows, width), dtype=np.int64)
    np.put_along_axis(against_place, np.argsort(difference, axis=1, kind="stable"), steps, axis=1)
    never = 2 * width
    key = np.where(difference > 0, favour_place, np.where(difference < 0, width + against_place, never))
    order = np.argsort(key, axis=1, kind="stable")[:, :n]
    picked = np.where(np.take_along_axis(key, order, axis=1) < never, order, -1)
    if picked.shape[1] < n:
        picked = np.hstack([picked, np.full((rows, n - picked.shape[1]), -1, dtype=np.int64)])
    return picked


def _rival_value(
    feature: FeatureSpec, ours: object, rival: Mapping[Hashable, Any], rival_channel: str, channel: str
) -> str:
    """The rival channel's own value of a channel-history input, ", against 10% for sms" (the
    account's features are the same for both options and need no second value)."""
    if feature.name not in CHANNEL_INPUT_NAMES or rival_channel in (NO_CONTACT, channel):
        return ""
    theirs = rival.get(feature.name)
    if is_missing(theirs):
        # The rival's history is as empty: no attempts to quote.
        return (
            f", nor through {rival_channel}"
            if is_missing(ours)
            else f", against no record for {rival_channel}"
        )
    return f", against {feature.format_value(theirs)} for {rival_channel}"


def exploration_channel_reasons(
    channel: pd.Series, incremental_value: pd.Series | None = None, n: int = 3
) -> pd.DataFrame:
    """channel_reason_1..n of randomised exploration rows: the channel was drawn at random, why
    that matters, and that its expected value is not why the row is queued."""
    value = (
        incremental_value.astype("float64")
        if incremental_value is not None
        else pd.Series(np.nan, index=channel.index)
    )
    rows = []
    for ours, worth in zip(channel.astype("str"), value, strict=True):
        worth_text = "" if np.isnan(worth) else f" ({worth:,.2f})"
        sentences = [
            f"Randomised exploration: {ours} was drawn at random among this account's lawful channels, "
            "not chosen for its value",
            "Why it matters: only random picks show what each channel really adds, free of the bias "
            "of past collection rules; the next training learns from them",
            f"Its expected value{worth_text} is not why it is queued",
        ]
        rows.append(sentences[:n] + [sentences[-1]] * max(n - len(sentences), 0))
    columns = [f"channel_reason_{k}" for k in range(1, n + 1)]
    return pd.DataFrame(rows, index=channel.index, columns=columns, dtype="str")


__all__ = [
    "LOWERS",
    "RAISES",
    "against_reference",
    "channel_reasons",
    "compare",
    "exploration_channel_reasons",
    "is_coherent",
    "option_name",
    "reference_values",
    "top_reasons",
]
