"""One contact per borrower and day, and what the officer should know before making it.

An officer calls a person, not a loan. After the allocation (:func:`scoring.choice.settle`) the
queued loans of one borrower may carry different channels (a call for one loan, a letter for
another): :func:`one_contact_per_borrower` gives them one channel and one contact. The lead is
the borrower's highest-value queued loan; each other loan joins the lead's channel when that
channel is lawful for it today, and the contact's window is the intersection of the loans'
lawful windows, so it satisfies every loan. A loan that cannot join (the channel is not lawful
for it today, or the windows do not meet) is left alone with the reason: the borrower is
already being contacted today. Rules that count per debt stay per debt: each loan keeps its own
``attempts_left_today``.

:func:`officer_context` adds what an officer needs before the contact, computed from the tables
before the night's cut-off only: the borrower's preferred language, the borrower's last contact
(when, channel, outcome), the loan's next due date and any open promise to pay on the borrower's
loans. Nothing here reads a contact point (those reach only the officer's work list,
:mod:`scoring.worklist`).

Pure functions on frames.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from data_contracts.columnar import join_per_group
from data_contracts.cutoff import AsOf, as_of_date, as_of_instant
from scoring.allocation import incremental_values
from scoring.dispositions import WINDOW_TO_QUEUE, Decisions
from scoring.frames import member_of

# Left-alone reasons of a loan whose borrower is contacted today through another loan. Both
# begin alike so the two can be counted together.
CONTACTED_VIA_OTHER_LOAN = "borrower contacted today via another loan"
CHANNEL_NOT_LAWFUL_FOR_LOAN = f"{CONTACTED_VIA_OTHER_LOAN}: its channel is not lawful for this loan today"
NO_COMMON_WINDOW = f"{CONTACTED_VIA_OTHER_LOAN}: no contact window lawful for both loans today"

# The option columns a loan that joins the lead's channel takes from that channel's option.
_OPTION_COLUMNS = ("p_contact", "p_self_cure", "p_reach", "overlap_weight", "resource")


# The dtype of each queue column this module adds (data_contracts.outputs.CONTACT_QUEUE_COLUMNS).
CONTACT_QUEUE_DTYPES: dict[str, str] = {
    "contact_id": "str",
    "contact_loans": "str",
    "preferred_language": "str",
    "last_contact_at": "datetime64[ns, UTC]",
    "last_contact_channel": "str",
    "last_contact_outcome": "str",
    "next_due_date": "datetime64[ns]",
    "open_promise_amount": "float64",
    "open_promise_date": "datetime64[ns]",
}
# What an officer needs to act: every column above but the contact's own keys.
OFFICER_CONTEXT_COLUMNS: list[str] = [
    c for c in CONTACT_QUEUE_DTYPES if c not in ("contact_id", "contact_loans")
]


def contact_id(day: dt.date, borrower_id: pd.Series) -> pd.Series:
    """The contact of each borrower on ``day``: ``YYYYMMDD-<borrower_id>``, the same in every
    rerun of the night."""
    return f"{day:%Y%m%d}-" + borrower_id.astype("str")


def one_contact_per_borrower(
    decisions: Decisions,
    left_alone: pd.DataFrame,
    options: pd.DataFrame,
    windows: pd.DataFrame,
    channel_cost: Mapping[str, float],
    *,
    as_of: dt.date,
) -> tuple[Decisions, pd.DataFrame]:
    """The settled ``decisions`` with one contact per borrower: every queued loan carries
    ``contact_id`` and ``contact_loans`` (the contact's loans, lead first, joined by "; "), the
    contact's channel and window; loans that cannot join their borrower's contact move to
    ``left_alone`` (and their disposition with them). Returns (decisions, left_alone).

    ``options`` are the scored (loan, channel) options (with ``resource``, the team of the
    channel), ``windows`` the contact policy's lawful windows of every (loan, channel)."""
    queued = decisions.candidates
    if queued.empty:
        out = queued.assign(
            contact_id=pd.Series(dtype="str", index=queued.index),
            contact_loans=pd.Series(dtype="str", index=queued.index),
        )
        return replace(decisions, candidates=out), left_alone
    order = _contact_order(queued)
    lead_of = order.drop_duplicates("borrower_id").set_index("borrower_id")
    lead_channel = queued["borrower_id"].map(lead_of["recommended_channel"]).astype("str")
    is_lead = member_of(queued["loan_id"], lead_of["loan_id"])

    # Each loan's window and option through its contact's channel (the lead's).
    keys = pd.MultiIndex.from_arrays([queued["loan_id"], lead_channel])
    window = windows.set_index(["loan_id", "channel"]).reindex(keys)
    window.index = queued.index
    scored = options.set_index(["loan_id", "channel"]).reindex(keys)
    scored.index = queued.index
    lawful = (
        window["lawful_today"].fillna(False).to_numpy(dtype=bool) & scored["p_contact"].notna().to_numpy()
    )
    reason = pd.Series(None, index=queued.index, dtype="object")
    reason[~is_lead & ~lawful] = CHANNEL_NOT_LAWFUL_FOR_LOAN

    # The contact's window: the intersection of its loans' windows, built lead first in value
    # order; a loan whose window would empty it stays out.
    starts = window["window_from_utc"]
    ends = window["window_until_utc"]
    joins = pd.Series(True, index=queued.index)
    joins[reason.notna()] = False
    several = queued["borrower_id"].duplicated(keep=False).to_numpy()
    walk = order.index[member_of(order["borrower_id"], queued.loc[several, "borrower_id"])]
    walk = walk[joins.loc[walk].to_numpy()]
    current, lo, hi = None, None, None
    for row, borrower in zip(walk, queued.loc[walk, "borrower_id"], strict=True):
        begin, end = starts.loc[row], ends.loc[row]
        if borrower != current:  # the lead: its own window
            current, lo, hi = borrower, begin, end
            continue
        new_lo, new_hi = max(lo, begin), min(hi, end)
        if new_lo < new_hi:
            lo, hi = new_lo, new_hi
        else:
            joins.loc[row] = False
            reason.loc[row] = NO_COMMON_WINDOW

    staying = queued[joins.to_numpy()].copy()
    leaving = queued[~joins.to_numpy()]
    staying = _on_contact_channel(staying, window, scored, lead_channel, channel_cost, lead_of)
    staying = _with_contact_window(staying, window)
    staying["contact_id"] = contact_id(as_of, staying["borrower_id"])
    in_order = staying.loc[order.index.intersection(staying.index, sort=False)]
    loans = join_per_group(in_order.groupby("borrower_id", sort=False)["loan_id"], "; ")
    staying["contact_loans"] = staying["borrower_id"].map(loans).astype("str")

    dispositions = decisions.dispositions.copy()
    gone = reason.loc[leaving.index]
    is_gone = member_of(dispositions["loan_id"], leaving["loan_id"])
    by_loan = pd.Series(gone.to_numpy(), index=leaving["loan_id"].to_numpy())
    dispositions.loc[is_gone, "disposition"] = "left_alone"
    dispositions.loc[is_gone, "detail"] = dispositions.loc[is_gone, "loan_id"].map(by_loan).to_numpy()
    if "exploration" in dispositions:
        explored = set(staying.loc[staying["exploration"].astype(bool), "loan_id"])
        dispositions["exploration"] = member_of(dispositions["loan_id"], explored)
    left = _left_alone_rows(leaving, gone, dispositions)
    if len(left):
        left_alone = pd.concat([left_alone, left[[c for c in left.columns if c in left_alone.columns]]])
        left_alone = left_alone.sort_values(["control", "loan_id"], ascending=[False, True], kind="stable")
        left_alone = left_alone.reset_index(drop=True)
    return replace(decisions, dispositions=dispositions, candidates=staying), left_alone


def _contact_order(queued: pd.DataFrame) -> pd.DataFrame:
    """Queued loans by borrower, each borrower's highest-value loan first (then the larger
    amount overdue, then the loan id: the same lead in every rerun)."""
    value = queued["incremental_value"] if "incremental_value" in queued else queued["amount_overdue"]
    keyed = queued[["borrower_id", "loan_id", "recommended_channel", "amount_overdue"]].assign(_value=value)
    return keyed.sort_values(
        ["borrower_id", "_value", "amount_overdue", "loan_id"],
        ascending=[True, False, False, True],
        kind="stable",
    )


def _on_contact_channel(
    staying: pd.DataFrame,
    window: pd.DataFrame,
    scored: pd.DataFrame,
    lead_channel: pd.Series,
    channel_cost: Mapping[str, float],
    lead_of: pd.DataFrame,
) -> pd.DataFrame:
    """The loans that join a lead of another channel take that channel's option (its
    response, value, cost and team), the lead's capacity verdict, and lose the exploration
    flag (their channel is no longer the random draw)."""
    channel = lead_channel.loc[staying.index]
    moved = (staying["recommended_channel"].astype("str") != channel).to_numpy()
    if not moved.any():
        return staying
    rows = staying.index[moved]
    staying.loc[rows, "recommended_channel"] = channel.loc[rows]
    for column in _OPTION_COLUMNS:
        if column in staying and column in scored:
            staying.loc[rows, column] = scored.loc[rows, column].to_numpy()
    option = scored.loc[rows].reset_index(drop=True).assign(channel=channel.loc[rows].to_numpy())
    value = incremental_values(option, channel_cost).to_numpy()
    staying.loc[rows, "incremental_value"] = value
    staying.loc[rows, "channel_cost"] = channel.loc[rows].map(dict(channel_cost)).astype("float64")
    if "within_capacity" in staying:
        lead_loan = staying.loc[rows, "borrower_id"].map(lead_of["loan_id"])
        capacity = staying.set_index("loan_id")["within_capacity"]
        staying.loc[rows, "within_capacity"] = lead_loan.map(capacity).astype(bool).to_numpy()
    if "exploration" in staying:
        staying.loc[rows, "exploration"] = False
    # A rule counted per debt stays per debt: the loan's own attempts left on that channel.
    staying["attempts_left_today"] = staying["attempts_left_today"].astype("Int64")
    staying.loc[rows, "attempts_left_today"] = window.loc[rows, "attempts_left_today"].astype("Int64")
    return staying


def _with_contact_window(staying: pd.DataFrame, window: pd.DataFrame) -> pd.DataFrame:
    """Every loan of a contact carries the contact's window: the latest start and the earliest
    end of its loans' windows through the contact's channel (local times from the same rows)."""
    own = window.loc[staying.index]
    frame = pd.DataFrame(
        {
            "borrower_id": staying["borrower_id"].astype("str"),
            "from_utc": own["window_from_utc"],
            "until_utc": own["window_until_utc"],
            "from_local": own["window_from_local"],
            "until_local": own["window_until_local"],
        },
        index=staying.index,
    )
    latest_start = frame.sort_values("from_utc", kind="stable").drop_duplicates("borrower_id", keep="last")
    earliest_end = frame.sort_values("until_utc", kind="stable").drop_duplicates("borrower_id", keep="first")
    start = latest_start.set_index("borrower_id")
    end = earliest_end.set_index("borrower_id")
    out = staying.copy()
    borrower = out["borrower_id"].astype("str")
    for source, target in WINDOW_TO_QUEUE.items():
        picked = start if "from" in source else end
        column = ("from_" if "from" in source else "until_") + ("utc" if "utc" in source else "local")
        out[target] = _lookup(picked[column], borrower).astype(staying[target].dtype)
    return out


def _left_alone_rows(leaving: pd.DataFrame, reason: pd.Series, dispositions: pd.DataFrame) -> pd.DataFrame:
    """Left-alone rows of the loans that could not join their borrower's contact: what they
    would have had on their own (their allocated channel and its value), and why not."""
    if leaving.empty:
        return pd.DataFrame()
    policy = dispositions.set_index("loan_id")
    return pd.DataFrame(
        {
            "loan_id": leaving["loan_id"].to_numpy(),
            "borrower_id": leaving["borrower_id"].to_numpy(),
            "as_of": leaving["as_of"].to_numpy(),
            "best_channel": leaving["recommended_channel"].astype("str").to_numpy(),
            "p_best_channel": leaving["p_contact"].astype("float64").to_numpy(),
            "p_self_cure": leaving["p_self_cure"].astype("float64").to_numpy(),
            "best_incremental_value": leaving["incremental_value"].astype("float64").to_numpy(),
            "best_channel_cost": leaving["channel_cost"].astype("float64").to_numpy(),
            "amount_overdue": leaving["amount_overdue"].astype("float64").to_numpy(),
            "days_past_due": leaving["days_past_due"].to_numpy(),
            "reason": reason.astype("str").to_numpy(),
            "control": False,
            "policy": leaving["loan_id"].map(policy["policy"]).to_numpy(),
            "policy_version": leaving["loan_id"].map(policy["policy_version"]).to_numpy(),
        }
    )


def officer_context(
    loans: pd.DataFrame, tables: Mapping[str, pd.DataFrame], promises: pd.DataFrame, as_of: AsOf
) -> pd.DataFrame:
    """What an officer should know before contacting the borrower of each of ``loans`` (loan_id,
    borrower_id), indexed like ``loans``: the borrower's ``preferred_language``; the borrower's
    last contact on any loan (``last_contact_at`` UTC, ``_channel``, ``_outcome``, inbound
    included); the loan's ``next_due_date`` (the first installment due on or after the work
    day); the open promises to pay on the borrower's loans (``open_promise_amount`` in total,
    ``open_promise_date`` the earliest promised date) from the night's promise ledger.

    Only events before the cut-off ``as_of`` count: a contact made after it changes nothing."""
    instant, day = as_of_instant(as_of), as_of_date(as_of)
    # As text: a categorical id column cannot look up timestamps through map().
    borrower = loans["borrower_id"].astype("str")
    loan = loans["loan_id"].astype("str")
    out = pd.DataFrame(index=loans.index)
    languages = tables["borrowers"].set_index("borrower_id")["preferred_language"]
    out["preferred_language"] = _lookup(languages, borrower).astype("str")

    book = tables["loans"]
    theirs = book[member_of(book["borrower_id"], borrower)]
    owner = pd.Series(theirs["borrower_id"].to_numpy(), index=theirs["loan_id"].to_numpy())
    interactions = tables["interactions"]
    known = interactions[member_of(interactions["loan_id"], theirs["loan_id"])]
    known = known[known["occurred_at"] < instant]
    last = (
        known.assign(borrower_id=known["loan_id"].map(owner))
        .sort_values(["occurred_at", "interaction_id"], kind="stable")
        .drop_duplicates("borrower_id", keep="last")
        .set_index("borrower_id")
    )
    out["last_contact_at"] = _typed(_lookup(last["occurred_at"], borrower), "datetime64[ns, UTC]")
    out["last_contact_channel"] = _lookup(last["channel"], borrower).astype("str")
    out["last_contact_outcome"] = _lookup(last["outcome"], borrower).astype("str")

    schedule = tables["installments"]
    upcoming = schedule[member_of(schedule["loan_id"], loans["loan_id"]) & (schedule["due_date"] >= day)]
    next_due = upcoming.groupby("loan_id")["due_date"].min()
    out["next_due_date"] = _typed(_lookup(next_due, loan), "datetime64[ns]")

    open_promises = promises[
        (promises["status"] == "open") & member_of(promises["loan_id"], theirs["loan_id"])
    ]
    open_promises = open_promises.assign(borrower_id=open_promises["loan_id"].map(owner))
    by_borrower = open_promises.groupby("borrower_id")
    amount = by_borrower["promised_amount"].sum(min_count=1)
    promised_on = by_borrower["promised_date"].min()
    out["open_promise_amount"] = _lookup(amount, borrower).astype("float64")
    out["open_promise_date"] = _typed(_lookup(promised_on, borrower), "datetime64[ns]")
    return out[OFFICER_CONTEXT_COLUMNS]


def _lookup(values: pd.Series, keys: pd.Series) -> pd.Series:
    """``values`` (indexed by id) at each of ``keys``, indexed like ``keys``."""
    values = values[~values.index.duplicated()]
    values.index = values.index.astype("str")
    found = values.reindex(keys.to_numpy())
    found.index = keys.index
    return found


def _typed(values: pd.Series, dtype: str) -> pd.Series:
    """``values`` in the queue's dtype (a lookup that found nothing comes back as floats)."""
    target = pd.api.types.pandas_dtype(dtype)
    if values.isna().all():
        return pd.Series(None, index=values.index, dtype=target)
    return values.astype(target)


def contacted_via_other_loan(reasons: pd.Series) -> np.ndarray:
    """Which left-alone ``reasons`` say the borrower is contacted today through another loan."""
    return reasons.astype("str").str.startswith(CONTACTED_VIA_OTHER_LOAN).to_numpy(dtype=bool)


__all__ = [
    "CHANNEL_NOT_LAWFUL_FOR_LOAN",
    "CONTACT_QUEUE_DTYPES",
    "CONTACTED_VIA_OTHER_LOAN",
    "NO_COMMON_WINDOW",
    "OFFICER_CONTEXT_COLUMNS",
    "contact_id",
    "contacted_via_other_loan",
    "officer_context",
    "one_contact_per_borrower",
]
