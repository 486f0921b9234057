"""From the night's decisions to the ranked, team-split work queue and its companion lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from data_contracts.outputs import (
    CHANNEL_REASON_COLUMNS,
    CONTACT_WINDOW_COLUMNS,
    DISPOSITION_COLUMNS,
    FORBEARANCE_COLUMNS,
    PROMISE_FOLLOW_UP_COLUMNS,
    QUEUE_COLUMNS,
    SUPPRESSED_COLUMNS,
)
from scoring.contacts import CONTACT_QUEUE_DTYPES
from scoring.dispositions import Decisions
from scoring.priority import priority_reasons
from scoring.teams import assign_teams

# Channels priced below this (free ones included) are ranked as if they cost it: the order
# stays finite and a free channel's options stay in value order among themselves.
MIN_RANKING_COST = 0.01


def value_per_cost(incremental_value: pd.Series, channel_cost: pd.Series) -> pd.Series:
    """Incremental value per unit of contact cost (costs below :data:`MIN_RANKING_COST` count as
    that)."""
    cost = channel_cost.astype("float64").fillna(MIN_RANKING_COST).clip(lower=MIN_RANKING_COST)
    return (incremental_value.astype("float64") / cost).rename("priority_score")


def rank_queue(
    candidates: pd.DataFrame,
    p_pay: pd.Series,
    reasons: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    run_id: str,
    model_version: str,
    policy_versions: Mapping[str, str],
    team_split: Sequence[str],
    default_capacity: int | None = None,
    capacity_by_channel: Mapping[str, int | None] | None = None,
    capacity_by_team: Mapping[str, int | None] | None = None,
    data_cutoff_utc: pd.Timestamp | None = None,
    rank_by: str = "value",
    response_window_days: int | None = None,
) -> pd.DataFrame:
    """Rank queued loans and split them into teams.

    ``candidates`` come from :func:`scoring.choice.settle` (allocated channel, its window,
    incremental value, ``within_capacity`` and team included): the rank is within capacity
    first, then by ``priority_score``: the incremental value (``rank_by="value"``) or the
    incremental value per unit of channel cost (``"value_per_cost"``, :func:`value_per_cost`:
    when one budget pays for every channel's contacts, it buys the most value in this order;
    a visit worth 25 times a text message is not worth 300 of them). Within a team of one
    channel both orders agree. Candidates straight from
    :func:`scoring.dispositions.decide` (no allocation) are ranked by expected recovery =
    p_pay x amount overdue and cut to team capacity in that order. ``p_pay`` and ``reasons``
    share their index. Ties are broken by loan_id so the same inputs always give the same queue.
    ``data_cutoff_utc`` (the night's cut-off: what the run knew) is stamped on every row.
    Every row carries its ``priority_reason`` (:func:`scoring.priority.priority_reasons`: what
    the contact is expected to add, in money, and what drives it against tonight's queue;
    ``response_window_days`` names the response window in it) and the ``amount_at_stake`` it
    is priced on.
    """
    allocated = "incremental_value" in candidates.columns
    queue = candidates[
        ["as_of", "loan_id", "borrower_id", "product", "amount_overdue", "outstanding_balance"]
    ].copy()
    queue["days_past_due"] = candidates["days_past_due"].astype("int64")
    queue["p_pay_30d"] = p_pay.astype("float64")
    queue["expected_recovery"] = queue["p_pay_30d"] * queue["amount_overdue"]
    if allocated:
        queue = _with_allocation(queue, candidates, rank_by)
    else:
        queue = _without_allocation(queue)
    queue = _with_window_and_contact(queue, candidates).join(reasons)
    where = accounts.set_index("loan_id")
    for column in ["region", "branch_id", "policy"]:
        queue[column] = queue["loan_id"].map(where[column]).astype("str")
    queue["policy_version"] = queue["policy"].map(dict(policy_versions)).astype("str")
    queue["run_id"] = run_id
    queue["model_version"] = model_version
    queue["data_cutoff_utc"] = cutoff_column(data_cutoff_utc, queue.index)
    basis = queue.assign(
        within_capacity=queue["within_capacity"] if allocated else True,
        overlap_weight=candidates["overlap_weight"] if "overlap_weight" in candidates else float("nan"),
    )
    queue["priority_reason"] = priority_reasons(basis, response_window_days=response_window_days)
    if allocated:
        queue = queue.sort_values(
            ["within_capacity", "priority_score", "loan_id"], ascending=[False, False, True], kind="stable"
        )
        queue["rank"] = range(1, len(queue) + 1)
        queue["team_rank"] = queue.groupby("team", sort=False).cumcount().astype("int64") + 1
        return queue[QUEUE_COLUMNS].reset_index(drop=True)
    queue = queue.sort_values(["priority_score", "loan_id"], ascending=[False, True], kind="stable")
    queue["rank"] = range(1, len(queue) + 1)
    queue = assign_teams(
        queue,
        team_split,
        default_capacity=default_capacity,
        capacity_by_channel=capacity_by_channel or {},
        capacity_by_team=capacity_by_team or {},
    )
    return queue[QUEUE_COLUMNS].reset_index(drop=True)


def _with_allocation(queue: pd.DataFrame, candidates: pd.DataFrame, rank_by: str) -> pd.DataFrame:
    """The allocation's columns: value, cost, responses, team, capacity, exploration, the amount
    at stake and the channel reasons; ``priority_score`` by ``rank_by``."""
    queue["incremental_value"] = candidates["incremental_value"].astype("float64")
    queue["channel_cost"] = candidates["channel_cost"].astype("float64")
    queue["priority_score"] = (
        value_per_cost(queue["incremental_value"], queue["channel_cost"])
        if rank_by == "value_per_cost"
        else queue["incremental_value"]
    )
    queue["p_response"] = candidates["p_contact"].astype("float64")
    queue["p_self_cure"] = candidates["p_self_cure"].astype("float64")
    queue["p_reach"] = candidates["p_reach"].astype("float64")
    queue["exploration"] = candidates["exploration"].astype(bool)
    queue["within_capacity"] = candidates["within_capacity"].astype(bool)
    queue["team"] = candidates["resource"].astype("str")
    overdue = candidates["amount_overdue"].astype("float64")
    stake = candidates.get("amount_at_stake", overdue)
    queue["amount_at_stake"] = stake.astype("float64").fillna(overdue)
    for column in CHANNEL_REASON_COLUMNS:
        queue[column] = pd.Series(candidates.get(column), index=queue.index, dtype="str")
    return queue


def _without_allocation(queue: pd.DataFrame) -> pd.DataFrame:
    """A queue ranked from raw candidates: by expected recovery, no channel values or reasons."""
    queue["priority_score"] = queue["expected_recovery"]
    for column in ["p_response", "p_self_cure", "incremental_value", "channel_cost", "p_reach"]:
        queue[column] = float("nan")
    queue["exploration"] = False
    queue["amount_at_stake"] = float("nan")
    for column in CHANNEL_REASON_COLUMNS:
        queue[column] = pd.Series(None, index=queue.index, dtype="str")
    return queue


def _with_window_and_contact(queue: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    """The recommended channel's lawful window and caps, and the contact and officer columns of
    :mod:`scoring.contacts` (null in a queue ranked from raw candidates)."""
    for column in [
        "recommended_channel",
        "timezone",
        "contact_from_local",
        "contact_until_local",
        "contact_from_utc",
        "contact_until_utc",
        "broken_promise",
        "attempts_left_today",
    ]:
        queue[column] = candidates[column]
    queue["recommended_channel"] = queue["recommended_channel"].astype("str")
    for column, dtype in CONTACT_QUEUE_DTYPES.items():
        queue[column] = pd.Series(candidates.get(column), index=queue.index, dtype=dtype)
    for column, dtype in TREATMENT_QUEUE_DTYPES.items():
        queue[column] = pd.Series(candidates.get(column), index=queue.index, dtype=dtype)
    return queue


# The treatment columns (scoring/treatments.py; null in a queue ranked from raw candidates).
TREATMENT_QUEUE_DTYPES: dict[str, str] = {
    "treatment": "str",
    "offer_instalment": "float64",
    "offer_n_instalments": "Int64",
    "offer_discount": "float64",
    "offer_amount_to_accept": "float64",
    "offer_holiday_days": "Int64",
    "p_accept": "float64",
    "treatment_value": "float64",
    "treatment_reason": "str",
}


def cutoff_column(data_cutoff_utc: pd.Timestamp | None, index: pd.Index) -> pd.Series:
    """The night's cut-off as a UTC timestamp column (NaT when the frame was built outside a run)."""
    value = pd.NaT if data_cutoff_utc is None else pd.Timestamp(data_cutoff_utc).tz_convert("UTC")
    return pd.Series(value, index=index, dtype="datetime64[ns, UTC]")


def finalize_decisions(
    decisions: Decisions, windows: pd.DataFrame, run_id: str, data_cutoff_utc: pd.Timestamp | None = None
) -> dict[str, pd.DataFrame]:
    """The companion outputs in their public column order: suppressed, dispositions, promise
    follow-up, forbearance and contact windows, each row stamped with the night's cut-off."""
    as_of = decisions.dispositions["as_of"].iloc[0] if len(decisions.dispositions) else pd.NaT
    # NaT is a scalar like any other to assign(); the stubs leave it out of the accepted scalars.
    windows = windows.assign(as_of=as_of).astype({"as_of": "datetime64[ns]"})  # type: ignore[arg-type]
    for column in ["p_response", "p_self_cure", "incremental_value"]:
        if column not in windows.columns:
            windows[column] = float("nan")
    dispositions = decisions.dispositions
    for column in ["control", "exploration"]:
        if column not in dispositions.columns:
            dispositions = dispositions.assign(**{column: False})
    frames = {
        "suppressed": (decisions.suppressed, SUPPRESSED_COLUMNS),
        "dispositions": (dispositions, DISPOSITION_COLUMNS),
        "promise_follow_up": (decisions.promise_follow_up, PROMISE_FOLLOW_UP_COLUMNS),
        "forbearance": (decisions.forbearance, FORBEARANCE_COLUMNS),
        "contact_windows": (windows, CONTACT_WINDOW_COLUMNS),
    }
    return {
        name: frame.assign(run_id=run_id, data_cutoff_utc=cutoff_column(data_cutoff_utc, frame.index))[
            columns
        ].reset_index(drop=True)
        for name, (frame, columns) in frames.items()
    }
