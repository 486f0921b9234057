"""Checks that a reason says what its numbers say, shared by the property tests
(tests/model/test_reason_properties.py) and the read-back of a whole night (tests/e2e).

Each ``*_problems`` function returns the list of what is wrong with one row's reasons (empty
when they are coherent), so a failing assertion names the sentence and the fault. The checks read
the sentences as an officer would: they do not call the code that wrote them, only the feature
catalog that defines the phrases.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping, Sequence
from functools import cache

from features.catalog import BY_NAME, FeatureSpec, is_missing

RAISES = ": raises the chance to pay"
LOWERS = ": lowers the chance to pay"
_MORE = ("more", "higher")
_LESS = ("fewer", "less", "lower")
_COMPARISON = re.compile(r", (more|fewer|less|higher|lower) than the typical (.+)$")


@cache
def _phrase_pattern(feature: FeatureSpec) -> re.Pattern[str]:
    """A regex matching the feature's phrase (value, missing or off-flag) at a sentence start."""
    alternatives = []
    for template in (feature.phrase, feature.missing_phrase, feature.false_phrase):
        if not template:
            continue
        pattern = ""
        for literal, field, format_spec, _ in string.Formatter().parse(template):
            pattern += re.escape(literal)
            if field == "s":
                pattern += "s?"
            elif field is not None:
                # A formatted number, or free text (a category, a channel).
                pattern += r"-?[\d,.]+%?" if format_spec else ".+?"
        alternatives.append(pattern)
    if feature.missing_phrase is None:
        alternatives.append(re.escape(f"{feature.description}: unknown"))
    return re.compile("^(?:" + "|".join(alternatives) + ")(?=,| \\(|: |$)")


def features_named_by(sentence: str) -> list[FeatureSpec]:
    """The catalog features whose phrase the sentence starts with."""
    return [feature for feature in BY_NAME.values() if _phrase_pattern(feature).match(sentence)]


def _number(text: str) -> float:
    text = text.strip().rstrip("%").replace(",", "")
    return float(text)


def propensity_problems(
    reasons: Sequence[str],
    row: Mapping[str, object] | None = None,
    contributions: Mapping[str, float] | None = None,
    reference: Mapping[str, object] | None = None,
) -> list[str]:
    """What is wrong with one account's p_pay reasons.

    From the text alone: every reason names a catalogued feature; its comparison with the
    typical value and its stated effect never read backwards for a feature with a declared
    direction. With the account's ``row``, ``contributions`` (SHAP) and ``reference`` besides:
    the comparison agrees with the value against the reference and the effect with the SHAP
    sign."""
    problems = []
    for sentence in reasons:
        if not isinstance(sentence, str) or not sentence:
            problems.append(f"empty reason {sentence!r}")
            continue
        candidates = features_named_by(sentence)
        if not candidates:
            problems.append(f"names no catalogued feature: {sentence!r}")
            continue
        effect = 1 if sentence.endswith(RAISES) else -1 if sentence.endswith(LOWERS) else 0
        body = sentence.removesuffix(RAISES).removesuffix(LOWERS)
        match = _COMPARISON.search(body)
        side = 0
        if match:
            side = 1 if match.group(1) in _MORE else -1
        elif ", unlike most accounts tonight" in body:
            side = 2  # a flag that differs: its side depends on the value
        faults = [
            _feature_problems(feature, sentence, body, side, effect, match, row, contributions, reference)
            for feature in candidates
        ]
        if all(faults):
            problems.append(f"{sentence!r}: {faults[0]}")
    return problems


def _feature_problems(
    feature: FeatureSpec,
    sentence: str,
    body: str,
    side: int,
    effect: int,
    match: re.Match[str] | None,
    row: Mapping[str, object] | None,
    contributions: Mapping[str, float] | None,
    reference: Mapping[str, object] | None,
) -> str:
    """Why ``sentence`` cannot be a coherent reason about ``feature`` ("" when it can)."""
    value = None if row is None else row.get(feature.name)
    if side == 2:  # a flag unlike most accounts: above its reference when on
        on = (
            bool(value)
            if row is not None
            else not (feature.false_phrase and sentence.startswith(feature.false_phrase))
        )
        side = 1 if on else -1
    if side == 0 and feature.missing_as is not None and " (typical tonight: " in body:
        # A missing value of declared meaning (never paid: longer ago than any payment).
        side = 1 if feature.missing_as > 0 else -1
    if feature.direction != 0 and effect != 0:
        if side == 0 and feature.kind != "boolean":
            return "a declared feature states an effect without a side of its reference"
        if feature.kind == "boolean" and side == 0:
            return "a declared flag states an effect while typical"
        if side * feature.direction != effect:
            return "reads backwards against the declared direction"
    if row is None or reference is None:
        return ""
    typical = reference.get(feature.name)
    compared = feature.missing_as if is_missing(value) else value
    if match is not None:
        if is_missing(compared) or is_missing(typical):
            return "compares a missing value"
        ours, theirs = float(compared), float(typical)  # type: ignore[arg-type]
        if side == 1 and not ours > theirs:
            return f"says more/higher but {ours} <= typical {theirs}"
        if side == -1 and not ours < theirs:
            return f"says fewer/lower but {ours} >= typical {theirs}"
        if feature.format_value(theirs) != match.group(2).strip():
            return f"quotes the typical {match.group(2)!r}, not {feature.format_value(theirs)!r}"
    if ", the same as the typical " in body and feature.format_value(value) != feature.format_value(typical):
        return "says typical but the value differs"
    if feature.kind == "boolean" and not is_missing(typical):
        if ", unlike most accounts tonight" in body and bool(value) == bool(typical):
            return "says unlike most but the flag is typical"
        if ", like most accounts tonight" in body and bool(value) != bool(typical):
            return "says like most but the flag is not typical"
    if contributions is not None and effect != 0:
        shap = contributions.get(feature.name, 0.0)
        if math.copysign(1, shap) != effect or shap == 0:
            return f"states effect {effect:+d} against SHAP {shap:+.3f}"
    return ""


def channel_problems(
    reasons: Sequence[str],
    chosen: str,
    runner_up: str,
    *,
    exploration: bool = False,
    differences: Mapping[str, float] | None = None,
) -> list[str]:
    """What is wrong with one row's channel reasons: a circular reason (the channel indicator),
    a reason favouring another option, a reason against the chosen channel not introduced by
    "Despite", or one after which a favouring reason follows; exploration rows must say they are
    randomised. With the per-feature SHAP ``differences`` (chosen minus rival), each reason's
    words agree with its sign."""
    other = "no contact" if runner_up == "none" else runner_up
    problems = []
    if exploration:
        if not any("random" in r.lower() for r in reasons):
            problems.append("an exploration row does not say it is randomised")
        if any("favours" in r for r in reasons):
            problems.append("an exploration row argues for its channel")
        return problems
    seen_against = False
    for sentence in reasons:
        if sentence.lower().startswith("contact by") or BY_NAME["channel"].phrase.split("{")[0] in sentence:
            problems.append(f"circular: {sentence!r}")
        favours = re.findall(r"favours ([a-z_ ]+?) over ([a-z_ ]+?)\)", sentence)
        if "favours" in sentence and not favours:
            problems.append(f"favours without 'over': {sentence!r}")
        for ours, theirs in favours:
            if ours != chosen or theirs != other:
                problems.append(
                    f"favours {ours} over {theirs} on a {chosen} row against {other}: {sentence!r}"
                )
        despite = sentence.startswith("Despite ")
        if despite:
            seen_against = True
            if not sentence.endswith(f"(counts against {chosen} compared with {other})"):
                problems.append(f"a 'Despite' reason that does not name the choice: {sentence!r}")
        elif favours and seen_against:
            problems.append(f"a favouring reason after a 'Despite': {sentence!r}")
        if differences is not None and (favours or despite):
            text = sentence.removeprefix("Despite ")
            text = text[:1].upper() + text[1:]
            named = [f for f in features_named_by(text) if f.name in differences]
            signs = {math.copysign(1, differences[f.name]) for f in named if differences[f.name] != 0}
            wanted = -1.0 if despite else 1.0
            if wanted not in signs:
                problems.append(f"words disagree with the SHAP difference: {sentence!r}")
    return problems


_N = r"-?[\d,]+(?:\.\d+)?"
_VALUE = re.compile(
    rf"is expected to add about ({_N}): the chance of a payment .*? "
    rf"(?:from ({_N})% without contact to ({_N})% with it|stays at ({_N})% with or without contact), "
    rf"on ({_N}) at stake \(about ({_N})\), less its cost of ({_N})"
)


def _unit(shown: str) -> float:
    """Half the last shown digit: the rounding a shown number may carry."""
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return 0.5 * 10.0**-decimals


def priority_problems(text: str, row: Mapping[str, object]) -> list[str]:
    """What is wrong with one row's priority reason: the value, the probabilities, the amount at
    stake and the cost it quotes must be the row's, and gross - cost = value within rounding."""
    if not isinstance(text, str) or not text:
        return ["empty priority reason"]
    value = row.get("incremental_value")
    if value is None or is_missing(value):
        return [] if text.startswith("Ranked by expected recovery") else [f"unvalued row says {text!r}"]
    problems = []
    if bool(row.get("exploration")) and not text.startswith("Randomised exploration pick"):
        problems.append("an exploration row does not say it is randomised")
    match = _VALUE.search(text)
    if match is None:
        return [*problems, f"no value breakdown in {text!r}"]
    shown_value, before, after, same, stake, gross, cost = match.groups()
    if same is not None:
        before = after = same
    v, s, g, c = (_number(x) for x in (shown_value, stake, gross, cost))
    tolerance = _unit(shown_value) + _unit(gross) + _unit(cost) + 1e-9
    if abs(g - c - v) > tolerance:
        problems.append(f"{gross} - {cost} != {shown_value}")
    checks = [
        (v, float(value), _unit(shown_value), "value"),  # type: ignore[arg-type]
        (s, float(row["amount_at_stake"]), _unit(stake), "amount at stake"),  # type: ignore[arg-type]
        (c, float(row["channel_cost"]), _unit(cost), "cost"),  # type: ignore[arg-type]
        (_number(before) / 100, float(row["p_self_cure"]), 0.0005 + 1e-12, "p_self_cure"),  # type: ignore[arg-type]
        (_number(after) / 100, float(row["p_response"]), 0.0005 + 1e-12, "p_response"),  # type: ignore[arg-type]
    ]
    for shown, actual, unit, name in checks:
        if abs(shown - actual) > unit + 1e-9 * max(1.0, abs(actual)):
            problems.append(f"{name} shown {shown} but is {actual}")
    lift = float(row["p_response"]) - float(row["p_self_cure"])  # type: ignore[arg-type]
    if abs(g - lift * float(row["amount_at_stake"])) > _unit(gross) + 1e-6:  # type: ignore[arg-type]
        problems.append(f"gross {gross} is not the lift x the amount at stake")
    return problems


_STANDING = re.compile(
    r"(among the largest tonight|among the smallest tonight|above the typical|below the typical|typical \(median)"
)


def standing_problems(words: str, value: float, median: float) -> list[str]:
    """Whether a standing against tonight's queue agrees with the value and the median."""
    match = _STANDING.search(words)
    if match is None:
        return [f"no standing in {words!r}"]
    kind = match.group(1)
    if kind in ("among the largest tonight", "above the typical") and not value > median:
        return [f"{words!r} but {value} <= median {median}"]
    if kind in ("among the smallest tonight", "below the typical") and not value < median:
        return [f"{words!r} but {value} >= median {median}"]
    return []
