"""The compliance audit of the contacts actually made (issue 29).

Every historical outbound contact in a window is judged against the rule pack of its loan's
region, on what was known just before it: the flags in force that day, the earlier contacts
that count towards a cap or start a conversation's cooldown, the opt-outs already received. A
contact breaks a rule when the engine would have refused it; each (contact, rule) pair broken is
one row of :attr:`AuditResult.breaches`, under the pack's own rule id and reason code (those of
``suppressed``).

Point in time. Interactions are ordered by (occurred_at, interaction_id); a contact sees only
those before it. Account flags carry dates, not instants: a flag counts from the local day
after its ``starts_on`` (a flag dated the contact's own day may have been raised by that very
contact, e.g. a dispute raised on the call), through its ``ends_on``. Borrower columns (consents,
do_not_contact) carry no date: they are read as delivered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.night import ContactSettings, TeamSettings
from scoring.policy.engine import assign_packs
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
    RulePack,
    resolve_packs,
)
from scoring.teams import team_names

BREACH_COLUMNS = [
    "interaction_id",
    "loan_id",
    "occurred_at",
    "channel",
    "agent_id",
    "rule_id",
    "reason",
    "source",
]
CHECKED_COLUMNS = ["interaction_id", "loan_id", "occurred_at", "channel", "agent_id", "team", "breached"]
ADHERENCE_COLUMNS = ["contacts", "contacts_with_breach", "adherence_rate"]
SOURCE_ENGINE, SOURCE_OUTSIDE, SOURCE_UNKNOWN = "engine queue", "outside the engine", "unknown"


@dataclass(frozen=True)
class AuditResult:
    """The audit's result.

    breaches: one row per contact and rule it broke (:data:`BREACH_COLUMNS`).
    checked: one row per audited outbound contact (:data:`CHECKED_COLUMNS`), ``breached``
        true when it broke at least one rule.
    """

    breaches: pd.DataFrame
    checked: pd.DataFrame

    def adherence(self, by: list[str]) -> pd.DataFrame:
        """Per group of ``by`` (columns of ``checked``, e.g. ["team"] or ["agent_id"]; [] for the
        whole book): contacts, contacts_with_breach and adherence_rate (the share of contacts
        that broke no rule). Contacts without a value of ``by`` (a message has no agent) are
        grouped under null."""
        frame = self.checked.assign(_one=1)
        if not by:
            frame = frame.assign(_all="all")
        keys = by or ["_all"]
        grouped = frame.groupby(keys, dropna=False, observed=True, sort=True)
        out = pd.DataFrame(
            {
                "contacts": grouped["_one"].sum().astype("int64"),
                "contacts_with_breach": grouped["breached"].sum().astype("int64"),
            }
        ).reset_index()
        out["adherence_rate"] = 1.0 - out["contacts_with_breach"] / out["contacts"].where(out["contacts"] > 0)
        return out[[*by, *ADHERENCE_COLUMNS]] if by else out[ADHERENCE_COLUMNS]


def _events(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every interaction with its borrower, region, branch, time zone, local date and clock
    time, and ``seq``: its position in time (ties broken by interaction_id)."""
    loans = tables["loans"][["loan_id", "borrower_id", "branch_id"]]
    borrowers = tables["borrowers"][["borrower_id", "region", "timezone"]]
    events = tables["interactions"].merge(loans, on="loan_id", how="left", validate="many_to_one")
    events = events.merge(borrowers, on="borrower_id", how="left", validate="many_to_one")
    # Nanosecond UTC instants whatever the reader produced (the output contract's type).
    events["occurred_at"] = pd.to_datetime(events["occurred_at"], utc=True).astype("datetime64[ns, UTC]")
    events = events.sort_values(["occurred_at", "interaction_id"], kind="stable", ignore_index=True)
    events["seq"] = np.arange(len(events), dtype=np.int64)
    local_clock = pd.Series(pd.NaT, index=events.index, dtype="datetime64[ns]")
    for zone, index in events.groupby("timezone", observed=True).groups.items():
        local_clock.loc[index] = (
            events.loc[index, "occurred_at"]
            .dt.tz_convert(str(zone))
            .dt.tz_localize(None)
            .astype("datetime64[ns]")
        )
    events["local_date"] = local_clock.dt.normalize()
    events["local_time"] = local_clock - events["local_date"]
    return events


def _key(scope: str) -> str:
    return "borrower_id" if scope == "borrower" else "loan_id"


def _earlier_count(
    audited: pd.DataFrame, counted: pd.DataFrame, key: str, on: str, values: pd.Series
) -> np.ndarray:
    """Per audited row, how many ``counted`` rows of the same ``key`` have ``on`` strictly below
    ``values`` (``counted`` is sorted by time, so ``on`` is monotone within a key)."""
    ranked = counted[[key, on]].assign(_n=counted.groupby(key, observed=True).cumcount() + 1)
    ranked = ranked.sort_values(on, kind="stable")
    query = pd.DataFrame(
        {key: audited[key].to_numpy(), on: values.to_numpy(), "_row": np.arange(len(audited))}
    )
    query = query.sort_values(on, kind="stable")
    matched = pd.merge_asof(query, ranked, on=on, by=key, allow_exact_matches=False, direction="backward")
    out = np.zeros(len(audited), dtype=np.int64)
    out[matched["_row"].to_numpy()] = matched["_n"].fillna(0).to_numpy(dtype=np.int64)
    return out


def _attempt_cap(rule: AttemptCap, audited: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Breaks when the counted attempts of the ``window_days`` local days ending on the
    contact's day, before it, plus the contact itself if it counts, exceed ``max_attempts``."""
    key = _key(rule.scope)
    counted = events[
        events["channel"].isin(rule.counted_channels) & events["direction"].isin(rule.directions)
    ]
    if counted.empty:
        return pd.Series(False, index=audited.index)
    before = _earlier_count(audited, counted, key, "seq", audited["seq"])
    window_start = audited["local_date"] - pd.Timedelta(days=rule.window_days - 1)
    before_window = _earlier_count(audited, counted, key, "local_date", window_start)
    itself = (
        audited["channel"].isin(rule.counted_channels) & audited["direction"].isin(rule.directions)
    ).to_numpy()
    made = before - before_window + itself.astype(np.int64)
    return pd.Series(made > rule.max_attempts, index=audited.index)


def _conversation_cooldown(
    rule: ConversationCooldown, audited: pd.DataFrame, events: pd.DataFrame
) -> pd.Series:
    """Breaks when a conversation before the contact fell on one of the ``days`` local days
    ending on the contact's day (the conversation day is day 1)."""
    key = _key(rule.scope)
    talks = events[
        events["channel"].isin(rule.conversation_channels)
        & events["direction"].isin(rule.directions)
        & events["outcome"].isin(rule.outcomes)
    ]
    if talks.empty:
        return pd.Series(False, index=audited.index)
    query = pd.DataFrame(
        {key: audited[key].to_numpy(), "seq": audited["seq"].to_numpy(), "_row": np.arange(len(audited))}
    )
    latest = pd.merge_asof(
        query.sort_values("seq"),
        talks[[key, "seq", "local_date"]].sort_values("seq"),
        on="seq",
        by=key,
        allow_exact_matches=False,
        direction="backward",
    )
    last_talk = np.full(len(audited), np.datetime64("NaT"), dtype="datetime64[ns]")
    last_talk[latest["_row"].to_numpy()] = latest["local_date"].to_numpy(dtype="datetime64[ns]")
    first_day = (audited["local_date"] - pd.Timedelta(days=rule.days - 1)).to_numpy()
    return pd.Series(~np.isnat(last_talk) & (last_talk >= first_day), index=audited.index)


def _flag_hold(rule: FlagHold, audited: pd.DataFrame, flags: pd.DataFrame) -> pd.Series:
    """Breaks when a flag row of the rule's flag (on the loan, or any loan of the borrower for
    borrower scope) started before the contact's local day and had not ended by it."""
    key = _key(rule.scope)
    rows = flags.loc[flags["flag"] == rule.flag, [key, "starts_on", "ends_on"]]
    if rows.empty:
        return pd.Series(False, index=audited.index)
    pairs = audited[[key, "local_date"]].reset_index().merge(rows, on=key)
    held = (pairs["starts_on"] < pairs["local_date"]) & (
        pairs["ends_on"].isna() | (pairs["ends_on"] >= pairs["local_date"])
    )
    return pd.Series(audited.index.isin(pairs.loc[held, "index"]), index=audited.index)


def _opt_out(rule: OptOut, audited: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Breaks when the borrower opted out of the contact's channel, on any of their loans,
    before it."""
    opted = events.loc[events["outcome"] == "opted_out", ["borrower_id", "channel", "seq"]]
    first = opted.groupby(["borrower_id", "channel"], observed=True)["seq"].min().rename("_first")
    matched = audited[["borrower_id", "channel", "seq"]].join(first, on=["borrower_id", "channel"])
    return matched["_first"].notna() & (matched["_first"] < matched["seq"])


def _breaks(rule: Rule, audited: pd.DataFrame, events: pd.DataFrame, flags: pd.DataFrame) -> pd.Series:
    """Per audited contact on a channel the rule governs: does it break the rule?"""
    if isinstance(rule, FlagHold):
        applies = audited["channel"].isin(rule.channels)
        return applies & _flag_hold(rule, audited, flags)
    if isinstance(rule, BorrowerHold):
        return audited["channel"].isin(rule.channels) & audited[rule.column].astype(bool)
    if isinstance(rule, BorrowerPermission):
        broken = pd.Series(False, index=audited.index)
        for channel, column in rule.requires.items():
            broken |= (audited["channel"] == channel) & ~audited[column].astype(bool)
        return broken
    if isinstance(rule, OptOut):
        return audited["channel"].isin(rule.channels) & _opt_out(rule, audited, events)
    if isinstance(rule, ContactHours):
        start = pd.Timedelta(hours=rule.start.hour, minutes=rule.start.minute, seconds=rule.start.second)
        end = pd.Timedelta(hours=rule.end.hour, minutes=rule.end.minute, seconds=rule.end.second)
        outside = (audited["local_time"] < start) | (audited["local_time"] >= end)
        return audited["channel"].isin(rule.channels) & outside
    if isinstance(rule, ContactGap):
        rule = rule.as_attempt_cap()
    if isinstance(rule, AttemptCap):
        return audited["channel"].isin(rule.channels) & _attempt_cap(rule, audited, events)
    if isinstance(rule, ConversationCooldown):
        return audited["channel"].isin(rule.channels) & _conversation_cooldown(rule, audited, events)
    raise TypeError(f"no audit for rule kind {type(rule).__name__}")


def _sources(breaches: pd.DataFrame, queued: pd.DataFrame | None) -> pd.Series:
    """Where each breaching contact came from: the archived queue of its local day recommended
    that loan on that channel ("engine queue"), or not ("outside the engine"); without archived
    queues, "unknown"."""
    if queued is None:
        return pd.Series(SOURCE_UNKNOWN, index=breaches.index, dtype="str")
    recommended = pd.DataFrame(
        {
            "loan_id": queued["loan_id"].astype("str"),
            "local_date": pd.to_datetime(queued["as_of"]).dt.tz_localize(None).dt.normalize(),
            "channel": queued["recommended_channel"].astype("str"),
            "_queued": True,
        }
    ).drop_duplicates(["loan_id", "local_date", "channel"])
    matched = breaches[["loan_id", "local_date", "channel"]].merge(
        recommended, on=["loan_id", "local_date", "channel"], how="left"
    )
    came = matched["_queued"].fillna(False).astype(bool).to_numpy()
    return pd.Series(np.where(came, SOURCE_ENGINE, SOURCE_OUTSIDE), index=breaches.index, dtype="str")


def audit_contacts(
    tables: Mapping[str, pd.DataFrame],
    start: dt.date,
    end: dt.date,
    settings: ContactSettings,
    *,
    queued: pd.DataFrame | None = None,
    split_by: Sequence[str] = TeamSettings.split_by,
) -> AuditResult:
    """Judge every outbound contact of ``tables["interactions"]`` whose ``occurred_at`` falls
    on a UTC date in [start, end] against its loan's rule pack (``settings``: default pack,
    by_region, packs_dir, house_rules, as :func:`recover.config.night_settings` builds them),
    on what was known just before it (the module docstring says how).

    ``queued`` (optional archived queue rows: loan_id, as_of, recommended_channel) sets each
    breach's ``source``: "engine queue" when the queue of the contact's local day recommended
    that loan on that channel, else "outside the engine"; without it, "unknown". ``split_by``
    names each contact's ``team`` as the queue does (channel and region by default).
    """
    packs, default, by_region = resolve_packs(
        settings.default_pack, dict(settings.by_region), settings.packs_dir, house_rules=settings.house_rules
    )
    events = _events(tables)
    stamp_day = events["occurred_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    in_window = (stamp_day >= pd.Timestamp(start)) & (stamp_day <= pd.Timestamp(end))
    audited = events[in_window & (events["direction"] == "outbound")]
    borrowers = tables["borrowers"]
    person_columns = [
        c
        for c in (
            "do_not_contact",
            "has_phone",
            "has_email",
            "consent_sms",
            "consent_email",
            "consent_whatsapp",
        )
        if c in borrowers
    ]
    audited = audited.merge(borrowers[["borrower_id", *person_columns]], on="borrower_id", how="left")
    audited["policy"] = assign_packs(audited, default, by_region)
    flags = tables["account_flags"].merge(
        tables["loans"][["loan_id", "borrower_id"]], on="loan_id", how="left"
    )
    flags = flags.assign(
        starts_on=pd.to_datetime(flags["starts_on"]).astype("datetime64[ns]"),
        ends_on=pd.to_datetime(flags["ends_on"]).astype("datetime64[ns]"),
    )

    pieces = []
    for name, contacts in audited.groupby("policy", sort=True):
        pack: RulePack = packs[str(name)]
        for rule in pack.rules:
            broken = _breaks(rule, contacts, events, flags)
            if broken.any():
                pieces.append(contacts.loc[broken.to_numpy()].assign(rule_id=rule.id, reason=rule.reason))
    columns = [*BREACH_COLUMNS[:-1], "local_date"]
    found = (
        pd.concat(pieces, ignore_index=True)[columns]
        if pieces
        else audited.head(0).assign(rule_id="", reason="")[columns]
    )
    found = found.assign(source=_sources(found, queued))
    breaches = found.sort_values(
        ["occurred_at", "interaction_id", "rule_id"], kind="stable", ignore_index=True
    )
    breaches = breaches[BREACH_COLUMNS].astype(
        {
            "interaction_id": "str",
            "loan_id": "str",
            "channel": "str",
            "agent_id": "str",
            "rule_id": "str",
            "reason": "str",
            "source": "str",
        }
    )

    checked = audited.assign(recommended_channel=audited["channel"])
    checked["team"] = team_names(checked, split_by) if len(checked) else pd.Series(dtype="str")
    checked["breached"] = checked["interaction_id"].isin(breaches["interaction_id"])
    checked = checked[CHECKED_COLUMNS].sort_values(
        ["occurred_at", "interaction_id"], kind="stable", ignore_index=True
    )
    return AuditResult(breaches=breaches.reset_index(drop=True), checked=checked)


__all__ = [
    "ADHERENCE_COLUMNS",
    "BREACH_COLUMNS",
    "CHECKED_COLUMNS",
    "AuditResult",
    "audit_contacts",
]
