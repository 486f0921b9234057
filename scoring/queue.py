"""From the night's decisions to the ranked, team-split work queue and its companion lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from data_contracts.outputs import (
    CONTACT_WINDOW_COLUMNS,
    DISPOSITION_COLUMNS,
    FORBEARANCE_COLUMNS,
    PROMISE_FOLLOW_UP_COLUMNS,
    QUEUE_COLUMNS,
    SUPPRESSED_COLUMNS,
)
from scoring.dispositions import Decisions
from scoring.teams import assign_teams


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
) -> pd.DataFrame:
    """Rank queued loans by expected recovery = p_pay x amount overdue, then split into teams.

    ``candidates`` come from :func:`scoring.dispositions.decide` (lawful channel and window
    included); ``p_pay`` and ``reasons`` share their index. Ties are broken by loan_id so the
    same inputs always give the same queue.
    """
    queue = candidates[
        ["as_of", "loan_id", "borrower_id", "product", "amount_overdue", "outstanding_balance"]
    ].copy()
    queue["days_past_due"] = candidates["days_past_due"].astype("int64")
    queue["p_pay_30d"] = p_pay.astype("float64")
    queue["expected_recovery"] = queue["p_pay_30d"] * queue["amount_overdue"]
    queue["priority_score"] = queue["expected_recovery"]
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
    queue = queue.join(reasons)
    where = accounts.set_index("loan_id")
    for column in ["region", "branch_id", "policy"]:
        queue[column] = queue["loan_id"].map(where[column]).astype("str")
    queue["policy_version"] = queue["policy"].map(dict(policy_versions)).astype("str")
    queue["run_id"] = run_id
    queue["model_version"] = model_version
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


def finalize_decisions(decisions: Decisions, windows: pd.DataFrame, run_id: str) -> dict[str, pd.DataFrame]:
    """The companion outputs in their public column order: suppressed, dispositions, promise
    follow-up, forbearance and contact windows."""
    as_of = decisions.dispositions["as_of"].iloc[0] if len(decisions.dispositions) else pd.NaT
    windows = windows.assign(as_of=as_of).astype({"as_of": "datetime64[ns]"})
    frames = {
        "suppressed": (decisions.suppressed, SUPPRESSED_COLUMNS),
        "dispositions": (decisions.dispositions, DISPOSITION_COLUMNS),
        "promise_follow_up": (decisions.promise_follow_up, PROMISE_FOLLOW_UP_COLUMNS),
        "forbearance": (decisions.forbearance, FORBEARANCE_COLUMNS),
        "contact_windows": (windows, CONTACT_WINDOW_COLUMNS),
    }
    return {
        name: frame.assign(run_id=run_id)[columns].reset_index(drop=True)
        for name, (frame, columns) in frames.items()
    }
