"""Split the ranked queue into team queues (channel x region or branch), each with its capacity."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

TEAM_KEYS = {"channel": "recommended_channel", "region": "region", "branch": "branch_id"}


def team_names(queue: pd.DataFrame, split_by: Sequence[str]) -> pd.Series:
    """Each queue row's team: the values of ``split_by`` joined by '-', e.g. ``call-northeast``."""
    parts = [queue[TEAM_KEYS[key]].astype("str") for key in split_by]
    name = parts[0]
    for part in parts[1:]:
        name = name + "-" + part
    # \w keeps letters of every script: दिल्ली and मुंबई must stay two teams.
    return name.map(lambda text: re.sub(r"[^\w.-]+", "_", text))


def team_capacity(
    team: str,
    channel: str,
    default: int | None,
    by_channel: Mapping[str, int | None],
    by_team: Mapping[str, int | None],
) -> int | None:
    """A team's contacts for the work day: its own setting, else its channel's, else the
    default; ``None`` means no limit (e.g. letters or e-mail)."""
    if team in by_team:
        return by_team[team]
    if channel in by_channel:
        return by_channel[channel]
    return default


def assign_teams(
    queue: pd.DataFrame,
    split_by: Sequence[str],
    *,
    default_capacity: int | None,
    capacity_by_channel: Mapping[str, int | None],
    capacity_by_team: Mapping[str, int | None],
) -> pd.DataFrame:
    """The queue (already in rank order) with ``team``, ``team_rank`` (1 = the team's first
    contact) and ``within_capacity`` (the rows the team can work today)."""
    out = queue.copy()
    out["team"] = team_names(out, split_by)
    out["team_rank"] = out.groupby("team", sort=False).cumcount().astype("int64") + 1
    limits = {
        team: team_capacity(team, channel, default_capacity, capacity_by_channel, capacity_by_team)
        for team, channel in out.drop_duplicates("team")[["team", "recommended_channel"]].itertuples(
            index=False
        )
    }
    limit = out["team"].map(lambda team: float("inf") if limits[team] is None else limits[team])
    out["within_capacity"] = (out["team_rank"] <= limit.astype("float64")).astype(bool)
    return out


def team_summary(queue: pd.DataFrame) -> pd.DataFrame:
    """Per team: queued rows, rows within today's capacity, overflow to later days, money at stake."""
    grouped = queue.groupby("team", sort=True)
    summary = pd.DataFrame(
        {
            "queued": grouped.size(),
            "within_capacity": grouped["within_capacity"].sum().astype("int64"),
            "amount_overdue": grouped["amount_overdue"].sum().round(2),
            "expected_recovery": grouped["expected_recovery"].sum().round(2),
        }
    )
    summary["overflow"] = summary["queued"] - summary["within_capacity"]
    return summary.reset_index()
