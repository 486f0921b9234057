"""One small pure function per rule kind: rule + contact history -> blocks in force on the work day.

A block is one row ``(loan_id, channel, rule_id, reason, blocked_through)``: the channel may not
be used for the loan from the work day through ``blocked_through`` (a local calendar date,
inclusive); ``NaT`` means indefinitely. Every function returns only blocks in force on the work
day, assuming no further contact is made, so the next lawful day of a channel is the day after
the latest of its blocks.

Days are the borrower's local calendar days (``local_date`` of interactions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy.typing as npt
import pandas as pd

from scoring.policy.packs import (
    AttemptCap,
    BorrowerHold,
    BorrowerPermission,
    ContactGap,
    ContactHours,
    ConversationCooldown,
    FlagHold,
    OptOut,
    Rule,
)

BLOCK_COLUMNS = ["loan_id", "channel", "rule_id", "reason", "blocked_through"]


@dataclass(frozen=True)
class ContactHistory:
    """What the rules look at, for one work day.

    accounts: one row per loan: loan_id, borrower_id, timezone and the borrower's permission
        and hold columns (has_phone, consent_sms, do_not_contact, ...).
    interactions: loan_id, borrower_id, channel, direction, outcome, local_date (naive date in
        the borrower's time zone): recent interactions and every opt-out, on any loan of the
        accounts' borrowers (borrower-scoped rules read them all).
    flags: loan_id, borrower_id, flag, starts_on, ends_on: the flag rows in force on the work
        day, on any loan of the accounts' borrowers.
    work_day: the queue's day, a naive midnight timestamp, read in each borrower's local calendar.
    """

    accounts: pd.DataFrame
    interactions: pd.DataFrame
    flags: pd.DataFrame
    work_day: pd.Timestamp


def _blocks(
    loan_ids: Iterable[str] | pd.Index,
    channels: Iterable[str],
    rule: Rule,
    blocked_through: npt.ArrayLike | pd.api.typing.NaTType,
) -> pd.DataFrame:
    """The cross product of loans (with their block end) and channels."""
    per_loan = pd.DataFrame(
        {"loan_id": pd.Series(loan_ids, dtype="str").to_numpy(), "blocked_through": blocked_through}
    )
    per_loan["blocked_through"] = pd.to_datetime(per_loan["blocked_through"])
    out = per_loan.merge(pd.DataFrame({"channel": list(channels)}), how="cross")
    out["rule_id"] = rule.id
    out["reason"] = rule.reason
    return out[BLOCK_COLUMNS]


def _per_account(keyed: pd.Series, scope: str, history: ContactHistory) -> pd.Series:
    """A value keyed by loan_id or, for borrower scope, by borrower_id, as one value per
    account loan (loans of the same borrower share the borrower's value)."""
    key = "borrower_id" if scope == "borrower" else "loan_id"
    accounts = history.accounts[list(dict.fromkeys(["loan_id", key]))].drop_duplicates("loan_id")
    matched = accounts.merge(keyed.rename("value"), left_on=key, right_index=True)
    return pd.Series(matched["value"].to_numpy(), index=pd.Index(matched["loan_id"], name="loan_id"))


def flag_hold(rule: FlagHold, history: ContactHistory) -> pd.DataFrame:
    """Every loan with the flag in force (on itself, or with borrower scope on any loan of its
    borrower): blocked through the flag's last day, or for good."""
    rows = history.flags[history.flags["flag"] == rule.flag]
    key = "borrower_id" if rule.scope == "borrower" else "loan_id"
    # Several rows of the same flag: the loan is free only when all of them have ended.
    grouped = rows.assign(open=rows["ends_on"].isna()).groupby(key, observed=True)
    ends = grouped["ends_on"].max().mask(grouped["open"].any())
    ends = _per_account(ends, rule.scope, history)
    return _blocks(ends.index, rule.channels, rule, ends.to_numpy())


def borrower_hold(rule: BorrowerHold, history: ContactHistory) -> pd.DataFrame:
    """Loans whose borrower has the hold column set: blocked for good."""
    held = history.accounts.loc[history.accounts[rule.column].astype(bool), "loan_id"]
    return _blocks(held, rule.channels, rule, pd.NaT)


def borrower_permission(rule: BorrowerPermission, history: ContactHistory) -> pd.DataFrame:
    """Per channel, loans whose borrower lacks the required column: that channel blocked for good."""
    pieces = [
        _blocks(
            history.accounts.loc[~history.accounts[column].astype(bool), "loan_id"], [channel], rule, pd.NaT
        )
        for channel, column in rule.requires.items()
    ]
    return pd.concat(pieces, ignore_index=True)


def opt_out(rule: OptOut, history: ContactHistory) -> pd.DataFrame:
    """A channel the borrower opted out of, on any of their loans, is blocked for good on all
    of them: the opt-out belongs to their number or address, not to one debt."""
    events = history.interactions
    opted = events[(events["outcome"] == "opted_out") & events["channel"].isin(rule.channels)]
    by_borrower = opted[["borrower_id", "channel"]].drop_duplicates()
    pairs = history.accounts[["loan_id", "borrower_id"]].merge(by_borrower, on="borrower_id")
    # NaT is a scalar like any other to assign(); the stubs leave it out of the accepted scalars.
    out = pairs[["loan_id", "channel"]].assign(rule_id=rule.id, reason=rule.reason, blocked_through=pd.NaT)  # type: ignore[arg-type]
    out["blocked_through"] = pd.to_datetime(out["blocked_through"])
    return out.astype({"loan_id": "str", "channel": "str"})[BLOCK_COLUMNS].reset_index(drop=True)


def contact_hours(rule: ContactHours, history: ContactHistory) -> pd.DataFrame:
    """Hours never block a whole day: they shape the daily window (see windows.py)."""
    return _blocks([], [], rule, pd.NaT)


def _counted_attempts(rule: AttemptCap, history: ContactHistory) -> tuple[pd.DataFrame, str]:
    """The attempts the cap counts in the ``window_days`` ending on the work day, and the
    column they are counted by (loan_id, or borrower_id for borrower scope)."""
    first_day = history.work_day - pd.Timedelta(days=rule.window_days - 1)
    events = history.interactions
    counted = events[
        events["channel"].isin(rule.counted_channels)
        & events["direction"].isin(rule.directions)
        & (events["local_date"] >= first_day)
        & (events["local_date"] <= history.work_day)
    ]
    return counted, "borrower_id" if rule.scope == "borrower" else "loan_id"


def attempt_cap(rule: AttemptCap, history: ContactHistory) -> pd.DataFrame:
    """Blocked while the last ``window_days`` already hold ``max_attempts`` counted attempts.

    With the M-th most recent counted attempt on local day L, every window of ``window_days``
    days containing day X holds M attempts for as long as X <= L + window_days - 1, so one more
    attempt would exceed the cap through that day.
    """
    counted, key = _counted_attempts(rule, history)
    newest_first = counted.sort_values([key, "local_date"], ascending=[True, False], kind="stable")
    mth = newest_first.groupby(key, observed=True).nth(rule.max_attempts - 1).set_index(key)["local_date"]
    through = _per_account(mth + pd.Timedelta(days=rule.window_days - 1), rule.scope, history)
    return _blocks(through.index, rule.channels, rule, through.to_numpy())


def attempts_left(rule: AttemptCap, history: ContactHistory) -> pd.Series:
    """Per account loan, how many more counted attempts the cap allows on the work day
    (max_attempts minus those in the window ending today; never below zero)."""
    counted, key = _counted_attempts(rule, history)
    made = _per_account(counted.groupby(key, observed=True).size(), rule.scope, history)
    made = made.reindex(pd.Index(history.accounts["loan_id"], name="loan_id"), fill_value=0)
    return (rule.max_attempts - made).clip(lower=0).astype("int64")


def conversation_cooldown(rule: ConversationCooldown, history: ContactHistory) -> pd.DataFrame:
    """Blocked from the day of the latest conversation (day 1) through day ``days``."""
    first_day = history.work_day - pd.Timedelta(days=rule.days - 1)
    events = history.interactions
    talks = events[
        events["channel"].isin(rule.conversation_channels)
        & events["direction"].isin(rule.directions)
        & events["outcome"].isin(rule.outcomes)
        & (events["local_date"] >= first_day)
        & (events["local_date"] <= history.work_day)
    ]
    key = "borrower_id" if rule.scope == "borrower" else "loan_id"
    latest = talks.groupby(key, observed=True)["local_date"].max()
    through = _per_account(latest + pd.Timedelta(days=rule.days - 1), rule.scope, history)
    return _blocks(through.index, rule.channels, rule, through.to_numpy())


def contact_gap(rule: ContactGap, history: ContactHistory) -> pd.DataFrame:
    """Blocked from the work day through L + ``days`` - 1, L the local day of the latest counted
    contact in the ``days`` ending on the work day (whatever its outcome).

    A gap of ``days`` is a cap of one attempt in any ``days`` consecutive local days, so it is
    computed by :func:`attempt_cap`: the 1st most recent attempt on day L blocks through the
    same L + ``days`` - 1.
    """
    return attempt_cap(rule.as_attempt_cap(), history)


RULE_FUNCTIONS: dict[type, Callable[..., pd.DataFrame]] = {
    FlagHold: flag_hold,
    BorrowerHold: borrower_hold,
    BorrowerPermission: borrower_permission,
    OptOut: opt_out,
    ContactHours: contact_hours,
    AttemptCap: attempt_cap,
    ConversationCooldown: conversation_cooldown,
    ContactGap: contact_gap,
}


def lookback_days(rules: Sequence[Rule]) -> int:
    """How many local days of interactions (work day included) the rules can see; opt-outs
    are kept whatever their age."""
    spans = [r.window_days for r in rules if isinstance(r, AttemptCap)]
    spans += [r.days for r in rules if isinstance(r, ConversationCooldown | ContactGap)]
    return max(spans, default=1)
