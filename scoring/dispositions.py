"""Where each overdue loan goes tonight: exactly one of queued, suppressed, promise follow-up
or left alone; plus the forbearance (care) list and the lawful channel of each queued loan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from data_contracts.columnar import join_per_group
from scoring.frames import member_of
from scoring.policy.engine import PolicyResult

WINDOW_TO_QUEUE = {
    "window_from_utc": "contact_from_utc",
    "window_until_utc": "contact_until_utc",
    "window_from_local": "contact_from_local",
    "window_until_local": "contact_until_local",
}


@dataclass(frozen=True)
class Decisions:
    """The night's verdict on every overdue loan (frames keyed by loan_id, run_id not yet set).

    dispositions: one row per overdue loan: disposition and a plain-language detail.
    suppressed: one row per (suppressed loan, rule that holds it back).
    promise_follow_up: one row per loan waiting on an open promise to pay.
    forbearance: one row per loan routed to the care team by a forbearance rule.
    candidates: the loans to queue, with their lawful channel and its contact window today.
    """

    dispositions: pd.DataFrame
    suppressed: pd.DataFrame
    promise_follow_up: pd.DataFrame
    forbearance: pd.DataFrame
    candidates: pd.DataFrame


def preferred_lawful_channel(windows: pd.DataFrame, preference: Sequence[str]) -> pd.DataFrame:
    """Per loan, the first channel in ``preference`` that is lawful today, with its window.

    Loans with no lawful channel today are absent.
    """
    order = {channel: position for position, channel in enumerate(preference)}
    lawful = windows[windows["lawful_today"] & windows["channel"].isin(order)]
    ranked = lawful.assign(_order=lawful["channel"].map(order)).sort_values(
        ["loan_id", "_order"], kind="stable"
    )
    return ranked.drop_duplicates("loan_id").drop(columns="_order").reset_index(drop=True)


def _next_lawful_contact(windows: pd.DataFrame) -> pd.DataFrame:
    """Per loan, the earliest lawful window over all its channels (null when none ever opens)."""
    opening = windows.dropna(subset=["window_from_utc"]).sort_values(
        ["loan_id", "window_from_utc"], kind="stable"
    )
    first = opening.drop_duplicates("loan_id").set_index("loan_id")
    return first[["window_from_local", "window_from_utc"]].rename(
        columns={"window_from_local": "next_lawful_from_local", "window_from_utc": "next_lawful_from_utc"}
    )


def _suppression_rows(blocks: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """One row per (loan, rule): the rule's reason, the channels it blocks, its words and source."""
    described = blocks.merge(rules, on=["policy", "rule_id", "reason"], how="left", validate="many_to_one")
    described = described.sort_values("channel", kind="stable")
    keys = ["loan_id", "policy", "policy_version", "rule_id", "reason"]
    grouped = described.groupby(keys, observed=True, sort=True)
    # The channels joined apart: a Python join among the named aggregations would run them
    # all group by group.
    rows = grouped.agg(
        n_channels=("channel", "nunique"),
        detail=("description", "first"),
        source=("source", "first"),
    )
    rows.insert(0, "channels", join_per_group(grouped["channel"], ","))
    rows = rows.reset_index()
    # An empty night aggregates to untyped columns; the contract wants strings even then.
    return rows.astype({column: "str" for column in [*keys, "channels", "detail", "source"]})


def decide(
    features: pd.DataFrame,
    policy: PolicyResult,
    promises: pd.DataFrame,
    *,
    as_of: dt.date,
    preference: Sequence[str],
) -> Decisions:
    """Give every overdue loan in ``features`` exactly one disposition, in this order:

    1. suppressed by an account-level hold (cease, dispute, bankruptcy, forbearance...);
    2. promise follow-up while a promise to pay is open (``promises`` from promise_ledger);
    3. suppressed when no channel is lawful today (each blocking rule listed);
    4. queued, through the first lawful channel in ``preference``.
    A broken promise (the latest promise broken, none open) puts the loan back in play and
    is marked on its queue row.
    """
    keys = features[["loan_id", "borrower_id", "as_of"]].reset_index(drop=True)
    accounts = policy.accounts.set_index("loan_id")
    rules = policy.rules
    marked = policy.blocks.merge(rules[["policy", "rule_id", "account_level"]], on=["policy", "rule_id"])
    held_ids = pd.Index(marked.loc[marked["account_level"], "loan_id"].unique())

    open_promises = promises[(promises["status"] == "open") & member_of(promises["loan_id"], keys["loan_id"])]
    waiting_ids = pd.Index(open_promises["loan_id"].unique()).difference(held_ids)

    choice = preferred_lawful_channel(policy.windows, preference)
    undecided = keys[~member_of(keys["loan_id"], held_ids.union(waiting_ids))]
    no_channel_ids = pd.Index(undecided.loc[~member_of(undecided["loan_id"], choice["loan_id"]), "loan_id"])
    # Described only for the loans held back: at scale most blocks belong to queued loans.
    all_rows = _suppression_rows(
        policy.blocks[member_of(policy.blocks["loan_id"], held_ids.union(no_channel_ids))], rules
    )
    all_rows = all_rows.merge(
        rules[["policy", "rule_id", "account_level", "forbearance"]], on=["policy", "rule_id"], how="left"
    )
    held = all_rows[all_rows["account_level"] & member_of(all_rows["loan_id"], held_ids)]
    channel_rows = all_rows[member_of(all_rows["loan_id"], no_channel_ids)]
    queued_ids = pd.Index(undecided["loan_id"]).difference(no_channel_ids)

    suppressed = pd.concat([held, channel_rows], ignore_index=True)
    suppressed = suppressed.merge(keys, on="loan_id", how="inner")
    suppressed = suppressed.join(_next_lawful_contact(policy.windows), on="loan_id")
    suppressed = suppressed.sort_values(["loan_id", "rule_id"], kind="stable").reset_index(drop=True)

    disposition = pd.Series("queued", index=keys.index, dtype="str")
    disposition[member_of(keys["loan_id"], held_ids.union(no_channel_ids))] = "suppressed"
    disposition[member_of(keys["loan_id"], waiting_ids)] = "promise_follow_up"
    detail = pd.Series("", index=keys.index, dtype="str")
    reasons_by_loan = join_per_group(
        suppressed.drop_duplicates(["loan_id", "reason"]).groupby("loan_id")["reason"], ", "
    )
    detail = detail.mask(disposition == "suppressed", keys["loan_id"].map(reasons_by_loan))
    detail = detail.mask(disposition == "promise_follow_up", "open promise to pay")
    dispositions = keys.assign(
        disposition=disposition,
        policy=keys["loan_id"].map(accounts["policy"]),
        detail=detail.fillna(""),
    )
    dispositions["policy_version"] = dispositions["policy"].map(policy.packs)

    follow_up = _promise_follow_up(
        open_promises[member_of(open_promises["loan_id"], waiting_ids)], features, accounts
    )
    follow_up["policy_version"] = follow_up["policy"].map(policy.packs)
    forbearance = _forbearance(held, features, policy)

    latest = (
        promises[promises["status"] != "open"]
        .sort_values("occurred_at")
        .drop_duplicates("loan_id", keep="last")
    )
    broken_ids = set(latest.loc[latest["status"] == "broken", "loan_id"])
    candidates = features[member_of(features["loan_id"], queued_ids)].merge(
        choice.drop(columns=["borrower_id"]).rename(
            columns={"channel": "recommended_channel", **WINDOW_TO_QUEUE}
        ),
        on="loan_id",
        how="left",
        validate="one_to_one",
    )
    candidates.index = features.index[member_of(features["loan_id"], queued_ids)]
    candidates["broken_promise"] = member_of(candidates["loan_id"], broken_ids)
    return Decisions(
        dispositions=dispositions,
        suppressed=suppressed,
        promise_follow_up=follow_up,
        forbearance=forbearance,
        candidates=candidates,
    )


def _promise_follow_up(
    open_promises: pd.DataFrame, features: pd.DataFrame, accounts: pd.DataFrame
) -> pd.DataFrame:
    """The loans waiting on a promise: the latest open promise, and the day to follow up."""
    latest = open_promises.sort_values("occurred_at", kind="stable").drop_duplicates("loan_id", keep="last")
    frame = latest.merge(
        features[["loan_id", "borrower_id", "as_of", "days_past_due", "amount_overdue"]], on="loan_id"
    )
    frame["promised_on"] = frame["occurred_at"].dt.tz_localize(None).dt.normalize()
    frame["follow_up_on"] = frame["deadline"].dt.tz_localize(None).dt.normalize()
    frame["policy"] = frame["loan_id"].map(accounts["policy"])
    return frame.sort_values(["follow_up_on", "loan_id"], kind="stable").reset_index(drop=True)


def _forbearance(held: pd.DataFrame, features: pd.DataFrame, policy: PolicyResult) -> pd.DataFrame:
    """Loans a forbearance rule routes to the care team, oldest case first; ``contact_held``
    says another hold (cease, bankruptcy...) forbids even care contact."""
    routed = held[held["forbearance"]]
    other_holds = set(held.loc[~held["forbearance"], "loan_id"])
    routed_flags = routed[["loan_id", "policy", "rule_id"]].merge(
        policy.rules[["policy", "rule_id", "flag"]], on=["policy", "rule_id"]
    )
    # A borrower-scoped flag may sit on another of the borrower's loans: match by borrower.
    routed_flags["borrower_id"] = routed_flags["loan_id"].map(
        policy.accounts.set_index("loan_id")["borrower_id"]
    )
    in_force = policy.flags.drop(columns="loan_id").merge(routed_flags, on=["borrower_id", "flag"])
    since = in_force.groupby("loan_id")["starts_on"].min()
    frame = routed.drop_duplicates("loan_id")[["loan_id", "policy", "policy_version"]]
    frame = frame.assign(
        reason=frame["loan_id"].map(
            join_per_group(routed.drop_duplicates(["loan_id", "reason"]).groupby("loan_id")["reason"], ",")
        )
    )
    frame = frame.merge(
        features[
            ["loan_id", "borrower_id", "as_of", "days_past_due", "amount_overdue", "outstanding_balance"]
        ],
        on="loan_id",
    )
    accounts = policy.accounts.set_index("loan_id")
    frame["region"] = frame["loan_id"].map(accounts["region"])
    frame["timezone"] = frame["loan_id"].map(accounts["timezone"])
    since = since.astype("datetime64[ns]").rename("in_care_since")
    frame = frame.merge(since, left_on="loan_id", right_index=True, how="left")
    frame["contact_held"] = member_of(frame["loan_id"], other_holds)
    return frame.sort_values(["in_care_since", "loan_id"], kind="stable").reset_index(drop=True)


class PartitionError(RuntimeError):
    """The night's lists do not account for every overdue loan exactly once: nothing is published."""


def check_partition(
    features: pd.DataFrame,
    dispositions: pd.DataFrame,
    queue: pd.DataFrame,
    lists: dict[str, pd.DataFrame],
) -> None:
    """Raise :class:`PartitionError` unless every overdue loan has exactly one disposition and
    each list (queue, suppressed, promise follow-up) holds exactly the loans of its disposition;
    the forbearance list must be part of the suppressed one."""
    problems = []
    if dispositions["loan_id"].duplicated().any():
        problems.append(f"{int(dispositions['loan_id'].duplicated().sum())} loans have two dispositions")
    overdue, decided = set(features["loan_id"]), set(dispositions["loan_id"])
    if overdue != decided:
        problems.append(
            f"{len(overdue - decided)} overdue loans undecided, {len(decided - overdue)} unknown loans decided"
        )
    members = {
        "queued": set(queue["loan_id"]),
        "suppressed": set(lists["suppressed"]["loan_id"]),
        "promise_follow_up": set(lists["promise_follow_up"]["loan_id"]),
    }
    if "left_alone" in lists:
        members["left_alone"] = set(lists["left_alone"]["loan_id"])
    for disposition, listed in members.items():
        expected = set(dispositions.loc[dispositions["disposition"] == disposition, "loan_id"])
        if listed != expected:
            problems.append(
                f"{disposition}: {len(expected - listed)} loans missing from its list, {len(listed - expected)} extra"
            )
    if not set(lists["forbearance"]["loan_id"]) <= members["suppressed"]:
        problems.append("forbearance loans must be held back from the collection queue")
    if problems:
        raise PartitionError("; ".join(problems))
