"""Lawful contact windows: for every overdue loan and channel, whether it may be used on the
work day and the next lawful window, in the borrower's local time (DST-aware)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import cast

import numpy as np
import pandas as pd

from data_contracts.enums import CHANNELS
from features.point_in_time import AsOf, as_of_date, as_of_instant
from scoring.frames import member_of
from scoring.policy.packs import AttemptCap, ContactGap, ContactHours, RulePack
from scoring.policy.rules import BLOCK_COLUMNS, RULE_FUNCTIONS, ContactHistory, attempts_left, lookback_days

ACCOUNT_COLUMNS = [
    "loan_id",
    "borrower_id",
    "timezone",
    "region",
    "branch_id",
    "do_not_contact",
    "has_phone",
    "has_email",
    "consent_sms",
    "consent_email",
    "consent_whatsapp",
]
WINDOW_COLUMNS = [
    "loan_id",
    "borrower_id",
    "channel",
    "timezone",
    "lawful_today",
    "next_lawful_day",
    "window_from_utc",
    "window_until_utc",
    "window_from_local",
    "window_until_local",
    "blocked_by",
    "policy",
    "policy_version",
    "attempts_left_today",
]


def policy_accounts(loan_ids: pd.Series, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per loan with what contact rules read: borrower, time zone, region, branch,
    contact details, consents and holds."""
    loans = tables["loans"][["loan_id", "borrower_id", "branch_id"]]
    frame = pd.DataFrame({"loan_id": pd.Series(loan_ids, dtype="str").reset_index(drop=True)})
    frame = frame.merge(loans, on="loan_id", how="left", validate="one_to_one")
    frame = frame.merge(tables["borrowers"], on="borrower_id", how="left", validate="many_to_one")
    return frame[ACCOUNT_COLUMNS]


def local_dates(instants: pd.Series, timezones: pd.Series) -> pd.Series:
    """The calendar date (naive midnight) of each UTC instant on its own time zone's clock."""
    out = pd.Series(pd.NaT, index=instants.index, dtype="datetime64[ns]")
    for zone, index in timezones.groupby(timezones, observed=True).groups.items():
        local = instants.loc[index].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
        out.loc[index] = local.astype("datetime64[ns]")
    return out


def contact_history(
    accounts: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: AsOf,
    pack: RulePack,
) -> ContactHistory:
    """What the pack's rules see on the work day ``as_of``: recent interactions (and every
    opt-out) on local days, and the flags in force that day."""
    work_day = as_of_date(as_of)
    horizon = as_of_instant(as_of) - pd.Timedelta(days=lookback_days(pack.rules) + 1)
    loans = tables["loans"]
    # Borrower-scoped rules read every loan of the accounts' borrowers, overdue or not.
    related = loans[member_of(loans["borrower_id"], accounts["borrower_id"])]
    owner = related.set_index("loan_id")["borrower_id"]
    events = tables["interactions"]
    events = events[member_of(events["loan_id"], related["loan_id"])]
    keep = (events["occurred_at"] >= horizon).to_numpy() | (events["outcome"] == "opted_out").to_numpy()
    events = events[keep][["loan_id", "occurred_at", "channel", "direction", "outcome"]]
    events = events.assign(borrower_id=events["loan_id"].map(owner).astype("str"))
    zones = events["borrower_id"].map(
        accounts.drop_duplicates("borrower_id").set_index("borrower_id")["timezone"]
    )
    events = events.assign(local_date=local_dates(events["occurred_at"], zones))
    flags = tables["account_flags"]
    flags = flags[member_of(flags["loan_id"], related["loan_id"])]
    in_force = (flags["starts_on"] <= work_day) & (flags["ends_on"].isna() | (flags["ends_on"] >= work_day))
    flags = flags[in_force].assign(borrower_id=flags.loc[in_force, "loan_id"].map(owner).astype("str"))
    return ContactHistory(
        accounts=accounts.reset_index(drop=True),
        interactions=events.reset_index(drop=True),
        flags=flags.reset_index(drop=True),
        work_day=work_day,
    )


def evaluate_blocks(pack: RulePack, history: ContactHistory) -> pd.DataFrame:
    """Every block in force on the work day, one row per (loan, channel, rule)."""
    pieces = [RULE_FUNCTIONS[type(rule)](rule, history) for rule in pack.rules]
    blocks = (
        pd.concat([p for p in pieces if len(p)], ignore_index=True) if any(len(p) for p in pieces) else None
    )
    if blocks is None:
        blocks = pd.DataFrame({c: pd.Series(dtype="str") for c in BLOCK_COLUMNS[:-1]})
        blocks["blocked_through"] = pd.Series(dtype="datetime64[ns]")
    # Opt-outs of the borrowers' other loans are in the history; only these loans' blocks count.
    blocks = blocks[member_of(blocks["loan_id"], history.accounts["loan_id"])]
    return blocks.sort_values(["loan_id", "channel", "rule_id"], kind="stable").reset_index(drop=True)


def daily_hours(pack: RulePack) -> pd.DataFrame:
    """Per channel, the lawful part of every local day as offsets from midnight: the
    intersection of the pack's contact-hours rules (the whole day when none applies)."""
    rows = []
    for channel in CHANNELS:
        start, end = pd.Timedelta(0), pd.Timedelta(days=1)
        for rule in pack.of_kind(ContactHours):
            if channel in rule.channels:
                start = max(start, _offset(rule.start))
                end = min(end, _offset(rule.end))
        if start >= end:
            raise ValueError(f"{pack.label}: the contact hours for {channel} leave no lawful time")
        rows.append({"channel": channel, "day_start": start, "day_end": end})
    return pd.DataFrame(rows)


def _offset(clock: dt.time) -> pd.Timedelta:
    return pd.Timedelta(hours=clock.hour, minutes=clock.minute, seconds=clock.second)


def _localize(wall_clock: pd.Series, zone: str, *, earliest: bool) -> pd.Series:
    """Local wall-clock times to UTC instants. A clock time the DST change skips moves forward;
    one it repeats resolves to the later instant for a window's start and the earlier for its
    end, so the window never covers an hour it should not."""
    local = pd.DatetimeIndex(wall_clock).tz_localize(
        zone, nonexistent="shift_forward", ambiguous=np.full(len(wall_clock), earliest)
    )
    return pd.Series(local.tz_convert("UTC"), index=wall_clock.index)


def contact_windows(pack: RulePack, history: ContactHistory, blocks: pd.DataFrame) -> pd.DataFrame:
    """One row per (loan, channel): lawful on the work day or not, and the next lawful window
    (UTC instants and local ISO-8601 times with offset); null when blocked indefinitely."""
    accounts = history.accounts[["loan_id", "borrower_id", "timezone"]]
    grid = accounts.merge(pd.DataFrame({"channel": list(CHANNELS)}), how="cross")
    # Vectorized aggregations only: this runs over millions of (loan, channel) pairs at scale.
    keyed = blocks.assign(forever=blocks["blocked_through"].isna())
    grouped = keyed.groupby(["loan_id", "channel"], observed=True, sort=False)
    per_pair = pd.DataFrame(
        {"forever": grouped["forever"].any(), "through": grouped["blocked_through"].max()}
    )
    per_pair["blocked_by"] = _joined_reasons(keyed)
    grid = grid.merge(per_pair.reset_index(), on=["loan_id", "channel"], how="left")
    grid["forever"] = grid["forever"].fillna(False).astype(bool)
    grid["blocked_by"] = grid["blocked_by"].fillna("").astype("str")
    free_from = (grid["through"] + pd.Timedelta(days=1)).fillna(history.work_day)
    # Series.clip takes a Timestamp bound on datetime values; the stubs list numeric bounds only.
    grid["next_lawful_day"] = free_from.clip(lower=history.work_day).where(~grid["forever"])  # type: ignore[call-overload]
    grid["lawful_today"] = grid["next_lawful_day"] == history.work_day
    grid = grid.merge(daily_hours(pack), on="channel", how="left")

    grid["window_from_utc"] = pd.Series(pd.NaT, index=grid.index, dtype="datetime64[ns, UTC]")
    grid["window_until_utc"] = pd.Series(pd.NaT, index=grid.index, dtype="datetime64[ns, UTC]")
    grid["window_from_local"] = pd.Series(None, index=grid.index, dtype="str")
    grid["window_until_local"] = pd.Series(None, index=grid.index, dtype="str")
    open_rows = grid[grid["next_lawful_day"].notna()]
    for key, rows in open_rows.groupby("timezone", observed=True):
        zone = cast(str, key)  # an IANA zone name; the stubs type group keys as any scalar
        starts = _localize(rows["next_lawful_day"] + rows["day_start"], zone, earliest=False)
        ends = _localize(rows["next_lawful_day"] + rows["day_end"], zone, earliest=True)
        grid.loc[rows.index, "window_from_utc"] = starts
        grid.loc[rows.index, "window_until_utc"] = ends
        grid.loc[rows.index, "window_from_local"] = _local_text(starts, zone)
        grid.loc[rows.index, "window_until_local"] = _local_text(ends, zone)
    grid["attempts_left_today"] = _attempts_left_today(pack, history, grid)
    grid["policy"] = pack.name
    grid["policy_version"] = pack.version
    return grid[WINDOW_COLUMNS]


def _attempts_left_today(pack: RulePack, history: ContactHistory, grid: pd.DataFrame) -> pd.Series:
    """Per (loan, channel) row, the fewest attempts any cap on that channel still allows today
    (0 when not lawful today; null when no cap applies): a dialer that retries must stop there.
    A contact gap is a cap of one attempt in its days."""
    left = pd.Series(pd.NA, index=grid.index, dtype="Int64")
    caps = pack.of_kind(AttemptCap) + [gap.as_attempt_cap() for gap in pack.of_kind(ContactGap)]
    for rule in caps:
        allowed = attempts_left(rule, history)
        rows = grid["channel"].isin(rule.channels)
        this_rule = grid.loc[rows, "loan_id"].map(allowed).astype("Int64")
        left.loc[rows] = this_rule.where(left.loc[rows].isna(), np.minimum(left.loc[rows], this_rule))
    return left.mask(~grid["lawful_today"], 0).astype("Int64")


def _joined_reasons(blocks: pd.DataFrame) -> pd.Series:
    """Per (loan, channel), its distinct reason codes joined by commas, in block order: built
    column-wise (a Python join per pair costs seconds at a million loans)."""
    reasons = blocks.drop_duplicates(["loan_id", "channel", "reason"])
    if reasons.empty:
        return pd.Series(dtype="str", index=pd.MultiIndex.from_arrays([[], []], names=["loan_id", "channel"]))
    position = reasons.groupby(["loan_id", "channel"], observed=True, sort=False).cumcount()
    wide = reasons.assign(position=position).pivot(
        index=["loan_id", "channel"], columns="position", values="reason"
    )
    joined = wide[0].astype("str")
    for column in wide.columns[1:]:
        more = wide[column].notna()
        joined = joined.where(~more, joined + "," + wide[column].astype("str"))
    return joined


def _local_text(instants: pd.Series, zone: str) -> pd.Series:
    """ISO-8601 local times with their UTC offset, formatted once per distinct instant."""
    distinct = pd.Series(instants.unique())
    text = distinct.dt.tz_convert(zone).map(lambda stamp: stamp.isoformat())
    return instants.map(dict(zip(distinct, text, strict=True)))
