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


# How a note names a team's channel ("only 66 borrowers had a lawful call ...").
_CHANNEL_WORDS = {
    "call": "call",
    "field_visit": "field visit",
    "sms": "SMS",
    "email": "e-mail",
    "whatsapp": "WhatsApp message",
    "letter": "letter",
}


def team_summary(
    queue: pd.DataFrame,
    *,
    default_capacity: int | None,
    capacity_by_channel: Mapping[str, int | None],
    capacity_by_team: Mapping[str, int | None],
) -> pd.DataFrame:
    """Per team: queued rows, rows within today's capacity, overflow to later days, money at
    stake, then the configured ``capacity`` (None = no limit; the same settings as
    :func:`assign_teams`), ``unused_capacity`` (None = no limit) and ``capacity_note``, which
    says in words why the team is full or why slots go unused.

    Capacity counts contacts where the queue carries ``contact_id`` (one contact per borrower),
    else rows; ``queued``, ``within_capacity`` and ``overflow`` stay row counts (the manifest's
    published meaning)."""
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
    summary.index.name = "team"
    notes = [
        _capacity_note(
            rows,
            team_capacity(
                str(team),
                str(rows["recommended_channel"].iloc[0]),
                default_capacity,
                capacity_by_channel,
                capacity_by_team,
            ),
        )
        for team, rows in grouped
    ]
    summary["capacity"] = pd.Series([note[0] for note in notes], index=summary.index, dtype="object")
    summary["unused_capacity"] = pd.Series([note[1] for note in notes], index=summary.index, dtype="object")
    summary["capacity_note"] = pd.Series([note[2] for note in notes], index=summary.index, dtype="str")
    return summary.reset_index()


def _capacity_note(rows: pd.DataFrame, capacity: int | None) -> tuple[int | None, int | None, str]:
    """(capacity, unused capacity, why) for one team's queued rows."""
    unit = "borrowers" if "contact_id" in rows else "loans"
    keys = rows["contact_id"] if "contact_id" in rows else pd.Series(range(len(rows)), index=rows.index)
    queued = int(keys.nunique())
    within = int(keys[rows["within_capacity"].astype(bool)].nunique())
    explored = (
        rows["exploration"].astype(bool) if "exploration" in rows else pd.Series(False, index=rows.index)
    )
    picks = int(keys[explored].nunique())
    channels = rows["recommended_channel"].astype("str").unique()
    channel = _CHANNEL_WORDS.get(channels[0], channels[0]) if len(channels) == 1 else "contact"
    if capacity is None:
        return None, None, f"No daily limit: all {queued} {unit} go out today."
    if queued > within:
        return capacity, 0, f"Full: {queued - within} more {unit} wait for a later day."
    unused = capacity - within
    if unused <= 0:
        return capacity, 0, "Full: every slot is used and nothing waits."
    loans_within = int(rows["within_capacity"].astype(bool).sum())
    if unit == "borrowers" and loans_within >= capacity:
        # The allocation filled the slots loan by loan; one contact per borrower then merged
        # loans of the same borrower into one contact, which frees the difference.
        return (
            capacity,
            unused,
            f"{unused} of {capacity} unused: the {loans_within} loans allocated tonight belong to "
            f"{within} borrowers, one contact each.",
        )
    valued = queued - picks
    # The allocation fills every team up to its capacity with the contacts worth more than they
    # cost; a slot stays empty only because no further lawful contact through it was worth it.
    worth = (
        f"no {unit[:-1]} had a lawful {channel} worth more than its cost tonight"
        if valued == 0
        else f"only {valued} {unit} had a lawful {channel} worth more than its cost tonight"
    )
    exploring = f", plus {picks} randomised exploration pick{'s' if picks != 1 else ''}" if picks else ""
    return capacity, unused, f"{unused} of {capacity} unused: {worth}{exploring}."
