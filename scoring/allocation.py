"""Which loans to contact today, through which channel, under each team's capacity.

Pure functions on an *options* frame: one row per (loan, lawful channel) with the predicted
response to that channel (``p_contact``), the same account's self-cure probability
(``p_self_cure``), the amount overdue, optionally the ``amount_at_stake`` (what a paying loan
is expected to pay, learnt per book: :mod:`models.payment_amount`) and the ``resource`` (team)
whose capacity a contact through that channel uses. The incremental value of an option is

    (p_contact - p_self_cure) x amount_at_stake - channel cost

(the amount overdue stands in where no amount at stake is given).

and the allocation chooses at most one option per loan to maximise total incremental value
under the capacities. Randomised units are drawn by hashing (loan, day, salt), so a rerun of the
same night gives the same queue and adding one loan does not reshuffle the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from data_contracts.columnar import is_in

LIKELY_SELF_CURE = "likely to pay without contact"
CONTACT_UNLIKELY_TO_HELP = "contact unlikely to help"
CONTROL_GROUP = "control group: randomly held out from contact to measure uplift"


@dataclass(frozen=True)
class AllocationSettings:
    """How the night's contacts are chosen (see configs/default.yaml, section ``decisions``)."""

    channel_cost: Mapping[str, float]
    exploration_share: float = 0.05
    control_share: float = 0.02
    control_days: int = 30
    self_cure_threshold: float = 0.5
    salt: str = "recover"
    repeat_contact_discount: float = 1.0


@dataclass(frozen=True)
class Allocation:
    """The night's choice.

    assignments: one row per loan to contact, with its channel, resource, incremental value,
        ``within_capacity`` (False = worth contacting but beyond today's capacity) and
        ``exploration`` (a random channel on a random loan, kept for learning).
    left_alone: one row per loan not contacted on purpose, with ``reason``, ``control``, the
        best channel and its value.
    """

    assignments: pd.DataFrame
    left_alone: pd.DataFrame


def amount_at_stake(options: pd.DataFrame) -> pd.Series:
    """The money a predicted response is worth, per option: the ``amount_at_stake`` column where
    given (:meth:`models.payment_amount.PaymentShare.amount_at_stake`), else the amount overdue."""
    overdue = options["amount_overdue"].astype("float64")
    if "amount_at_stake" not in options:
        return overdue
    return options["amount_at_stake"].astype("float64").fillna(overdue)


def incremental_values(options: pd.DataFrame, channel_cost: Mapping[str, float]) -> pd.Series:
    """(p_contact - p_self_cure) x :func:`amount_at_stake` - cost of the channel, per option."""
    unknown = sorted(set(options["channel"]) - set(channel_cost))
    if unknown:
        raise KeyError(f"no cost configured for channels {unknown}")
    cost = options["channel"].map(dict(channel_cost)).astype("float64")
    return (options["p_contact"] - options["p_self_cure"]) * amount_at_stake(options) - cost


def repeat_contact_factor(recent_contacts: npt.ArrayLike, discount: float) -> np.ndarray:
    """How much of a contact's effect is left after the loan's recent contacts:
    ``discount ** recent_contacts`` (1 when ``discount`` is 1 or nothing was recent; a missing
    count reads as none).

    A stated prior, not a learnt effect: the history's rule ladder contacts a loan day after day
    because of its days past due, so the learnt effect of a recent contact is confounded with
    the arrears that caused it. Without it the nightly queue sends the same top loans a contact
    every night (measured in tidewater's closed loop: 9 contacts in 9 days on the same loans)."""
    count = np.nan_to_num(np.asarray(recent_contacts, dtype="float64"), nan=0.0)
    factor: np.ndarray = np.power(float(discount), np.maximum(count, 0.0))  # NumPy: Any
    return factor


def with_repeat_contact_discount(
    options: pd.DataFrame, recent_contacts: npt.ArrayLike, discount: float
) -> pd.DataFrame:
    """``options`` with each contact's effect (p_contact - p_self_cure) scaled by
    :func:`repeat_contact_factor`; ``p_contact`` stays within [0, 1]."""
    if discount >= 1.0:
        return options
    factor = repeat_contact_factor(recent_contacts, discount)
    effect = (options["p_contact"] - options["p_self_cure"]).to_numpy(dtype="float64") * factor
    p_contact = np.clip(options["p_self_cure"].to_numpy(dtype="float64") + effect, 0.0, 1.0)
    return options.assign(p_contact=p_contact)


def control_period_start(as_of: dt.date, days: int) -> dt.date:
    """First day of the control period holding ``as_of``: periods of ``days`` days counted from
    day 1 of the proleptic calendar, the same for every night of the period."""
    ordinal = as_of.toordinal()
    return dt.date.fromordinal(ordinal - (ordinal - 1) % days)


def unit_uniforms(keys: pd.Series, as_of: dt.date, salt: str) -> np.ndarray:
    """A uniform draw in [0, 1) per key, a pure function of (key, day, salt)."""
    hashed = pd.util.hash_pandas_object(keys.astype("str") + f"|{as_of}|{salt}", index=False)
    return (hashed.to_numpy(dtype=np.uint64) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def in_control_group(
    loan_ids: pd.Series, as_of: dt.date, *, share: float, days: int, salt: str
) -> np.ndarray:
    """Whether each loan is in the control group on ``as_of``: a ``share`` draw hashed on (loan,
    start of the ``days``-day period holding ``as_of``, salt), the same every night of the period.
    :func:`allocate` leaves these loans alone; the policy evaluation leaves the same loans alone
    under every policy it compares."""
    if share <= 0 or len(loan_ids) == 0:
        return np.zeros(len(loan_ids), dtype=bool)
    period = control_period_start(as_of, days)
    return unit_uniforms(pd.Series(loan_ids, dtype="str"), period, f"{salt}:control") < share


def greedy_allocation(options: pd.DataFrame, capacity: Mapping[str, int | None]) -> pd.DataFrame:
    """At most one option per loan, maximising total ``value`` under per-resource capacities.

    Options on resources without a limit (``None`` or absent from ``capacity``) cost no capacity,
    so a capacitated option is only worth its *gain* over the loan's best free option. Capacitated
    options are granted in decreasing order of that gain (greedy by value per unit of capacity:
    every contact uses one unit); then every loan still unassigned takes its best free option.
    Only options with a positive value are considered. Returns the chosen option rows.
    """
    positive = options[options["value"] > 0]
    if positive.empty:
        return positive.copy()
    limits = {resource: capacity.get(resource) for resource in positive["resource"].unique()}
    free = positive["resource"].map(lambda r: limits[r] is None).to_numpy(dtype=bool)
    free_best = positive[free].groupby("loan_id")["value"].max()
    fallback = positive["loan_id"].map(free_best).fillna(0.0).to_numpy()
    gain = positive["value"].to_numpy() - fallback
    capped = positive[~free & (gain > 0)].assign(_gain=gain[~free & (gain > 0)])
    capped = capped.sort_values(["_gain", "loan_id"], ascending=[False, True], kind="stable")

    remaining = {r: int(v) for r, v in limits.items() if v is not None}
    taken: set[str] = set()
    chosen_rows = []
    for row, loan, resource in zip(
        capped.index.to_numpy(), capped["loan_id"].to_numpy(), capped["resource"].to_numpy(), strict=True
    ):
        if loan in taken or remaining[resource] <= 0:
            continue
        taken.add(loan)
        remaining[resource] -= 1
        chosen_rows.append(row)
    chosen = positive.loc[chosen_rows]
    rest = positive[free & ~is_in(positive["loan_id"], taken)]
    best_free = rest.sort_values(
        ["value", "channel"], ascending=[False, True], kind="stable"
    ).drop_duplicates("loan_id")
    return pd.concat([chosen, best_free]).drop(columns="_gain", errors="ignore")


def allocate(
    options: pd.DataFrame,
    capacity: Mapping[str, int | None],
    settings: AllocationSettings,
    *,
    as_of: dt.date,
) -> Allocation:
    """Control group, exploration, then value-maximising allocation of the rest.

    ``options`` columns: loan_id, channel, resource, p_contact, p_self_cure, amount_overdue.
    1. a ``control_share`` of loans (random, drawn once per ``control_days`` period so a control
       loan stays uncontacted for the whole period) is left alone, flagged ``control``;
    2. ``exploration_share`` of the queue goes to random loans through a random lawful
       channel, flagged ``exploration`` (:func:`_exploration`);
    3. the remaining capacity goes to the options of highest incremental value;
    4. loans whose best option has a positive value but found no capacity stay queued beyond
       capacity; loans whose best option is not positive are left alone, with the reason.
    """
    options = options.assign(value=incremental_values(options, settings.channel_cost))
    loans = pd.Series(options["loan_id"].unique(), dtype="str")
    best = options.sort_values(["value", "channel"], ascending=[False, True], kind="stable").drop_duplicates(
        "loan_id"
    )
    best = best.set_index("loan_id")

    # Drawn per period, not per night: a loan held out one night and contacted the next measures
    # one night's contact, not contact against none (measured by `recover backfill`: 93% of
    # nightly controls were contacted the next night, and realized uplift was indistinguishable).
    held_out = in_control_group(
        loans, as_of, share=settings.control_share, days=settings.control_days, salt=settings.salt
    )
    control_ids = set(loans[held_out])
    open_options = options[~is_in(options["loan_id"], control_ids)]

    explore = _exploration(open_options, capacity, settings, as_of)
    remaining_capacity = dict(capacity)
    used = explore["resource"].value_counts()
    for resource, count in used.items():
        name = cast(str, resource)  # a resource (team) name; the stubs key items() by Hashable
        limit = remaining_capacity.get(name)
        if limit is not None:
            remaining_capacity[name] = max(int(limit) - int(count), 0)
    rest = open_options[~is_in(open_options["loan_id"], explore["loan_id"])]
    granted = greedy_allocation(rest, remaining_capacity).assign(within_capacity=True, exploration=False)

    worth = best[(best["value"] > 0) & ~is_in(best.index, control_ids)]
    overflow_ids = worth.index.difference(pd.Index(granted["loan_id"])).difference(
        pd.Index(explore["loan_id"])
    )
    overflow = worth.loc[overflow_ids].reset_index().assign(within_capacity=False, exploration=False)
    assignments = pd.concat(
        [explore.assign(within_capacity=True, exploration=True), granted, overflow], ignore_index=True
    )
    assignments = assignments.rename(columns={"value": "incremental_value"}).sort_values(
        ["within_capacity", "incremental_value", "loan_id"], ascending=[False, False, True], kind="stable"
    )

    contacted = set(assignments["loan_id"])
    alone = best[~is_in(best.index, contacted)].reset_index()
    control = is_in(alone["loan_id"], control_ids)
    reason = np.where(
        control,
        CONTROL_GROUP,
        np.where(
            alone["p_self_cure"] >= settings.self_cure_threshold, LIKELY_SELF_CURE, CONTACT_UNLIKELY_TO_HELP
        ),
    )
    left_alone = alone.assign(reason=reason, control=control).rename(
        columns={"channel": "best_channel", "value": "best_incremental_value", "p_contact": "p_best_channel"}
    )
    return Allocation(
        assignments=assignments.reset_index(drop=True), left_alone=left_alone.reset_index(drop=True)
    )


def _exploration(
    options: pd.DataFrame,
    capacity: Mapping[str, int | None],
    settings: AllocationSettings,
    as_of: dt.date,
) -> pd.DataFrame:
    """Random loans through a uniformly random lawful channel: ``exploration_share`` of the
    queue the value ranking would fill within capacity on its own.

    The size is a share of the queue the value ranking would fill on its own (a share, not a
    count: a small book explores a little, a large one more; sizing it from team capacities
    made a third of a 3,000-loan book's queue random). The channel is drawn among the loan's
    lawful ones, so every channel gains randomised evidence, the ones the ranking never chooses
    included. A capacitated team gives exploration at most ``exploration_share`` of its slots
    (rounded up), so a small team is never taken over by it.
    """
    share = settings.exploration_share
    if share <= 0 or options.empty:
        return options.iloc[:0]
    planned = len(greedy_allocation(options, capacity))
    wanted = int(round(share * planned))
    if wanted == 0:
        return options.iloc[:0]
    pick = random_option(options, as_of, settings.salt)
    order = unit_uniforms(pick["loan_id"], as_of, f"{settings.salt}:explore")
    pick = pick.assign(_order=order).sort_values(["_order", "loan_id"], kind="stable")
    limits = pick["resource"].map(
        {resource: capacity.get(resource) for resource in pick["resource"].unique()}
    )
    room = limits.map(lambda limit: np.inf if limit is None or pd.isna(limit) else np.ceil(share * limit))
    position = pick.groupby("resource", sort=False).cumcount()
    chosen = pick[position.to_numpy() < room.to_numpy(dtype="float64")].head(wanted)
    return chosen.drop(columns=["_order"])


def random_option(options: pd.DataFrame, as_of: dt.date, salt: str) -> pd.DataFrame:
    """One option per loan, drawn at random among its options (reproducible for the day).

    Uniform, unless the options carry ``overlap_weight`` (how far the history identifies the
    channel's effect for the loan, :mod:`models.identification`): then a channel whose effect
    is not identified is drawn five times as often as one whose effect is (weights 1.25 and
    0.25), so exploration builds the evidence the history lacks."""
    draw = unit_uniforms(options["loan_id"] + "|" + options["channel"], as_of, f"{salt}:channel")
    if "overlap_weight" in options:
        weight = 0.25 + (1.0 - options["overlap_weight"].fillna(1.0).clip(0.0, 1.0).to_numpy())
        # Weighted draw without replacement (Efraimidis-Spirakis): the smallest -log(u) / w wins.
        draw = -np.log(np.maximum(draw, 1e-300)) / weight
    picked = (
        options.assign(_draw=draw).sort_values(["_draw", "loan_id"], kind="stable").drop_duplicates("loan_id")
    )
    return picked.drop(columns="_draw")
