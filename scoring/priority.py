"""Why each queued row is here, in money: the ``priority_reason`` of the queue.

The queue is ranked by what a contact is expected to add, never by the chance to pay alone, so
the first thing an officer reads is that value and how it is made:

    incremental value = (p_response - p_self_cure) x amount_at_stake - channel_cost

e.g. "A call is expected to add about 310: the chance of a payment within 7 days rises from 6.0%
without contact to 9.0% with it, on 13,239 at stake (about 397), less its cost of 87". The
numbers quoted add up to the row's ``incremental_value`` within rounding (tested). Then what
drives that value, stated against tonight's queue: "Its value is among the largest tonight (top
3%); the amount at stake, 13,239, is among the largest (top 5%); the lift from contact, 3.0
points, is typical (median 2.8)".

Randomised exploration rows say that they are random and that their value is not why they are
queued; rows ranked without the channel model speak of expected recovery; where the channel's
value is (mostly) the configured prior rather than learnt, the reason says so. Pure functions
over the queue's rows: nothing here reads a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

# How a reason names a contact through each channel.
CHANNEL_NOUNS: dict[str, str] = {
    "call": "a call",
    "sms": "an SMS",
    "email": "an e-mail",
    "whatsapp": "a WhatsApp message",
    "field_visit": "a field visit",
    "letter": "a letter",
}
# Share of the queue at either end that counts as "among the largest / smallest tonight".
EXTREME_SHARE = 0.10
# Percentile band around the median that counts as "typical".
TYPICAL_BAND = (0.4, 0.6)
# Overlap weight below which a channel's value is mostly the stated prior (scoring.choice).
WEAK_OVERLAP = 0.5


def money(amount: float) -> str:
    """An amount as reasons write it: whole units from 100 up (and for whole amounts), else to
    the cent."""
    return f"{amount:,.0f}" if abs(amount) >= 100 or float(amount).is_integer() else f"{amount:,.2f}"


def channel_noun(channel: str) -> str:
    """How a sentence names one contact through ``channel``: "a call", "an SMS"."""
    return CHANNEL_NOUNS.get(channel, f"a {channel.replace('_', ' ')}")


class Tonight:
    """A distribution of tonight's values (NaN dropped), sorted once: where a value stands in it
    costs two binary searches, not a pass over every row (the queue asks it for every row)."""

    def __init__(self, tonight: pd.Series):
        self.values = np.sort(tonight.dropna().to_numpy(dtype="float64"))
        self.size = len(self.values)
        self.median = float(np.median(self.values)) if self.size else math.nan

    def shares(self, value: float) -> tuple[float, float, float, float]:
        """Shares of tonight's values below, equal to, at least and at most ``value``."""
        below = int(np.searchsorted(self.values, value, side="left"))
        at_most = int(np.searchsorted(self.values, value, side="right"))
        n = self.size
        return below / n, (at_most - below) / n, (n - below) / n, at_most / n

    def percentile(self, value: float) -> float:
        """Mid-rank percentile of ``value`` (0.5 when tonight is empty)."""
        if self.size == 0:
            return 0.5
        if math.isnan(value):
            return 0.0  # nothing is below or equal to an unknown value
        below, ties, _, _ = self.shares(value)
        return below + ties / 2

    def standing(self, value: float, shown: str, typical_shown: str) -> str:
        """See :func:`standing`."""
        if self.size == 0 or not math.isfinite(value):
            return "not comparable tonight"
        below, ties, top, bottom = self.shares(value)
        percentile = below + ties / 2
        if shown == typical_shown or value == self.median or TYPICAL_BAND[0] <= percentile <= TYPICAL_BAND[1]:
            return f"typical (median {typical_shown})"
        if value > self.median:
            if top <= EXTREME_SHARE:
                return f"among the largest tonight (top {max(math.ceil(100 * top), 1)}%)"
            return f"above the typical {typical_shown}"
        if bottom <= EXTREME_SHARE:
            return f"among the smallest tonight (bottom {max(math.ceil(100 * bottom), 1)}%)"
        return f"below the typical {typical_shown}"


def standing(value: float, tonight: pd.Series | Tonight, shown: str, typical_shown: str) -> str:
    """How ``value`` stands in ``tonight``'s distribution, in words that agree with it: "among
    the largest tonight (top 5%)" (above the median), "among the smallest tonight (bottom 8%)"
    (below it), "above / below the typical X" (X the median), or "typical (median X)".
    ``shown`` and ``typical_shown`` are the value and the median as the sentence writes them;
    equal ones are typical."""
    distribution = tonight if isinstance(tonight, Tonight) else Tonight(tonight)
    return distribution.standing(value, shown, typical_shown)


def value_sentence(row: Mapping[str, Any], response_window_days: int | None = None) -> str:
    """What the contact is expected to add and how: "A call is expected to add about 310: the
    chance of a payment within 7 days rises from 6.0% without contact to 9.0% with it, on 13,239
    at stake (about 397), less its cost of 87"."""
    p_response, p_self_cure = float(row["p_response"]), float(row["p_self_cure"])
    stake, cost = float(row["amount_at_stake"]), float(row["channel_cost"])
    value = float(row["incremental_value"])
    gross = (p_response - p_self_cure) * stake
    window = f"within {response_window_days} days" if response_window_days else "in the response window"
    before, after = f"{p_self_cure:.1%}", f"{p_response:.1%}"
    if before == after:
        move = f"stays at {before} with or without contact"
    else:
        verb = "rises" if p_response > p_self_cure else "falls"
        move = f"{verb} from {before} without contact to {after} with it"
    noun = channel_noun(str(row["recommended_channel"]))
    return (
        f"{noun[:1].upper()}{noun[1:]} is expected to add about {money(value)}: the chance of a payment "
        f"{window} {move}, on {money(stake)} at stake (about {money(gross)}), less its cost of {money(cost)}"
    )


def _drivers(row: Mapping[str, Any], stakes: Tonight, lifts: Tonight, values: Tonight) -> str:
    """What drives the row's value, against tonight's queue, the most unusual first."""
    value = float(row["incremental_value"])
    stake = float(row["amount_at_stake"])
    row_lift = float(row["p_response"]) - float(row["p_self_cure"])
    parts = [
        (
            stakes.percentile(stake),
            f"the amount at stake, {money(stake)}, is "
            + stakes.standing(stake, money(stake), money(stakes.median)),
        ),
        (
            lifts.percentile(row_lift),
            f"the lift from contact, {100 * row_lift:.1f} points, is "
            + lifts.standing(row_lift, f"{100 * row_lift:.1f}", f"{100 * lifts.median:.1f}"),
        ),
    ]
    parts.sort(key=lambda part: -abs(part[0] - 0.5))
    size = values.standing(value, money(value), money(values.median))
    return f"Its value is {size}; " + "; ".join(text for _, text in parts)


def _prior_note(row: Mapping[str, Any]) -> str:
    weight = row.get("overlap_weight")
    if weight is None or pd.isna(weight) or float(weight) >= WEAK_OVERLAP:
        return ""
    if float(weight) == 0.0:
        return ". The lift is the configured prior (channel_model.prior_lift), not learnt from the history"
    return (
        ". The lift is mostly the configured prior (channel_model.prior_lift): the history rarely used "
        f"{str(row['recommended_channel']).replace('_', ' ')} on accounts like this"
    )


def recovery_sentence(row: Mapping[str, Any], tonight: pd.Series | Tonight) -> str:
    """A row ranked without the channel model: its expected recovery, against tonight's."""
    recovery = float(row["expected_recovery"])
    tonight = tonight if isinstance(tonight, Tonight) else Tonight(tonight)
    return (
        f"Ranked by expected recovery, without a channel model to value the contact: a "
        f"{float(row['p_pay_30d']):.0%} chance to pay within 30 days on {money(float(row['amount_overdue']))} "
        f"overdue, about {money(recovery)} expected, "
        + tonight.standing(recovery, money(recovery), money(tonight.median))
    )


#: Every column of a queue row that the priority sentences read (``value_sentence``, ``_drivers``,
#: ``_prior_note``, ``recovery_sentence`` and :func:`priority_reasons` itself).
PRIORITY_INPUTS = (
    "amount_at_stake",
    "amount_overdue",
    "channel_cost",
    "expected_recovery",
    "exploration",
    "incremental_value",
    "overlap_weight",
    "p_pay_30d",
    "p_response",
    "p_self_cure",
    "recommended_channel",
    "team",
    "within_capacity",
)


def priority_reasons(queue: pd.DataFrame, *, response_window_days: int | None = None) -> pd.Series:
    """The ``priority_reason`` of every row of ``queue`` (module docstring), a pure function of
    the rows: allocated rows need recommended_channel, incremental_value, p_response,
    p_self_cure, amount_at_stake, channel_cost and exploration (optionally within_capacity,
    team, overlap_weight); a row without an incremental value needs p_pay_30d, amount_overdue
    and expected_recovery. "Tonight" is the rows of ``queue``."""
    if queue.empty:
        return pd.Series([], index=queue.index, dtype="str", name="priority_reason")
    valued = (
        queue["incremental_value"].notna()
        if "incremental_value" in queue
        else pd.Series(False, index=queue.index)
    )
    # The value-ranked rows are tonight's reference; random exploration picks are not.
    allocated = queue[valued]
    normal = allocated[~allocated["exploration"].astype(bool)] if "exploration" in allocated else allocated
    normal_lift = (
        (normal["p_response"] - normal["p_self_cure"]).astype("float64")
        if len(normal)
        else pd.Series(dtype="float64")
    )
    recoveries = Tonight(
        queue.loc[~valued, "expected_recovery"].astype("float64")
        if (~valued).any()
        else pd.Series(dtype="float64")
    )
    # Tonight's distributions, sorted once for every row (a queue without values has none).
    empty = pd.Series(dtype="float64")
    stakes = Tonight(normal["amount_at_stake"].astype("float64") if len(normal) else empty)
    lifts = Tonight(normal_lift)
    values = Tonight(normal["incremental_value"].astype("float64") if len(normal) else empty)
    out = []
    # Records of the columns the sentences read only: a queue row has dozens of columns, and
    # turning all of them into Python objects cost most of this function at scale.
    read = [column for column in PRIORITY_INPUTS if column in queue]
    records = cast("list[dict[str, Any]]", queue[read].to_dict("records"))
    for index, row in zip(queue.index, records, strict=True):
        if not valued.loc[index]:
            out.append(recovery_sentence(row, recoveries))
            continue
        money_part = value_sentence(row, response_window_days)
        if bool(row.get("exploration", False)):
            noun = channel_noun(str(row["recommended_channel"]))
            out.append(
                f"Randomised exploration pick: {noun} drawn at random among the lawful channels so the "
                f"engine can measure what each channel adds; its expected value "
                f"({money(float(row['incremental_value']))}) is not why it is here. By the model, "
                + money_part[:1].lower()
                + money_part[1:]
            )
            continue
        text = f"{money_part}. {_drivers(row, stakes, lifts, values)}{_prior_note(row)}"
        if float(row["incremental_value"]) <= 0:
            # The allocation queues no such loan on its own: it joined its borrower's contact
            # (scoring/contacts.py), which is made anyway.
            text = (
                "Joins the borrower's contact made for another loan: on its own it would not be worth "
                f"contacting. {text}"
            )
        if "within_capacity" in row and not bool(row["within_capacity"]):
            team = f" of {row['team']}" if row.get("team") else ""
            text = f"Worth contacting but beyond today's capacity{team}: {text[:1].lower()}{text[1:]}"
        out.append(text)
    return pd.Series(out, index=queue.index, dtype="str", name="priority_reason")


__all__ = [
    "CHANNEL_NOUNS",
    "PRIORITY_INPUTS",
    "channel_noun",
    "money",
    "priority_reasons",
    "recovery_sentence",
    "standing",
    "Tonight",
    "value_sentence",
]
