"""Open disputes as a workflow: every dispute holding an overdue loan tonight, with the deadline
its rule pack encodes to answer it, the days left and the loans it holds.

A dispute is an ``account_flags`` row of the ``dispute`` flag (:data:`DISPUTE_FLAG`) in force on
the work day; it was received on its ``starts_on``. The pack's rule on that flag (``open_dispute``
in every shipped pack) holds the loan, or with ``scope: borrower`` every loan of the borrower, and
may state ``response_days``: the calendar days the lender has to answer (verify the debt, send a
final response). A rule without one leaves the deadline null and ``deadline_source`` says so.

Only disputes that hold at least one overdue loan of tonight's book are listed: a dispute on a
loan the night does not judge holds nothing in collection. Pure functions: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from data_contracts.cutoff import AsOf, as_of_date
from data_contracts.outputs import DISPUTES_COLUMNS
from scoring.policy.engine import PolicyResult
from scoring.policy.packs import DISPUTE_FLAG, FlagHold, RulePack
from scoring.queue import cutoff_column

# What open_disputes returns: the published columns less the run's stamp (run id, cut-off).
RUN_STAMP_COLUMNS = ("run_id", "data_cutoff_utc")
DISPUTE_LIST_COLUMNS: list[str] = [c for c in DISPUTES_COLUMNS if c not in RUN_STAMP_COLUMNS]
DUE_SOON_DAYS = 7


@dataclass(frozen=True)
class DisputeRule:
    """How one pack treats a dispute: the governing rule, whether it holds every loan of the
    borrower, and the deadline to answer (None when the pack encodes none)."""

    policy: str
    policy_version: str
    rule_id: str
    borrower_scope: bool
    response_days: int | None
    deadline_source: str


def dispute_rule(pack: RulePack) -> DisputeRule | None:
    """The pack's rule on the dispute flag, or None when no rule holds on it.

    With several rules on the flag the earliest deadline governs (a rule without one counts
    last; ties go to file order), and the dispute holds all the borrower's loans when any of
    them has ``scope: borrower``: that rule holds them all whatever the others say.
    """
    rules = [rule for rule in pack.of_kind(FlagHold) if rule.flag == DISPUTE_FLAG]
    if not rules:
        return None
    governing = min(rules, key=lambda rule: (rule.response_days is None, rule.response_days or 0))
    if governing.response_days is None:
        stated = f": {governing.response_source}" if governing.response_source else ""
        source = f"{pack.label} states no deadline to answer a dispute{stated}"
    else:
        source = governing.response_source
    return DisputeRule(
        policy=pack.name,
        policy_version=pack.version,
        rule_id=governing.id,
        borrower_scope=any(rule.scope == "borrower" for rule in rules),
        response_days=governing.response_days,
        deadline_source=source,
    )


def open_disputes(
    policy: PolicyResult,
    features: pd.DataFrame,
    packs: Mapping[str, RulePack],
    as_of: AsOf,
) -> pd.DataFrame:
    """One row per open dispute holding an overdue loan on the work day ``as_of``, most urgent
    first: overdue responses, then the fewest days left (no deadline last), then the oldest.

    ``policy`` is the night's verdict (its ``flags`` in force, ``accounts`` with their pack),
    ``features`` gives each held loan's ``amount_overdue``, ``packs`` the packs by name (a pack
    judging a loan but missing here is a ValueError). A flag is in force from its ``starts_on``
    (a dispute received this morning counts, as it does for the contact rules) through its
    ``ends_on``. Columns: :data:`DISPUTE_LIST_COLUMNS`; :func:`stamp_disputes` adds the run's.
    """
    day = as_of_date(as_of)
    rules = _dispute_rules(packs, policy.accounts["policy"])
    flags = policy.flags
    in_force = (
        (flags["flag"] == DISPUTE_FLAG)
        & (flags["starts_on"] <= day)
        & (flags["ends_on"].isna() | (flags["ends_on"] >= day))
    )
    # The engine keeps the flags of every pack it applied; a flag row is one dispute.
    disputes = flags.loc[in_force, ["loan_id", "borrower_id", "starts_on"]].drop_duplicates(
        ["loan_id", "starts_on"]
    )
    accounts = policy.accounts[["loan_id", "borrower_id", "policy"]].rename(columns={"loan_id": "held_loan"})
    # Every overdue loan of the disputing borrower, under its pack; the pack's scope keeps them
    # all (borrower) or only the disputed loan itself (loan).
    pairs = disputes.merge(accounts, on="borrower_id").merge(rules, on="policy")
    held = pairs[pairs["borrower_scope"] | (pairs["held_loan"] == pairs["loan_id"])]
    owed = features.drop_duplicates("loan_id").set_index("loan_id")["amount_overdue"]
    held = held.assign(amount=held["held_loan"].map(owed).fillna(0.0).astype("float64"))
    held = held.sort_values(["loan_id", "starts_on", "held_loan"], kind="stable")
    grouped = held.groupby(["loan_id", "starts_on"], sort=False)
    listed = grouped.first().drop(columns=["held_loan", "amount"])
    listed["loans_held"] = grouped["held_loan"].agg(",".join)
    listed["n_loans_held"] = grouped["held_loan"].size().astype("int64")
    listed["amount_held"] = grouped["amount"].sum().astype("float64")
    return _with_deadlines(listed.reset_index(), day)


def _dispute_rules(packs: Mapping[str, RulePack], used: pd.Series) -> pd.DataFrame:
    """One row per pack judging a loan tonight that holds on the dispute flag."""
    missing = sorted(set(used) - set(packs))
    if missing:
        raise ValueError(f"no rule pack loaded for {missing}; loaded: {sorted(packs)}")
    found = [dispute_rule(packs[name]) for name in sorted(set(used))]
    rows = [vars(rule) for rule in found if rule is not None]
    columns = list(DisputeRule.__dataclass_fields__)
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype(
        {"borrower_scope": "bool", "response_days": "Int64", "policy": "str", "policy_version": "str"}
    )


def _with_deadlines(listed: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """Received date, deadline, days left and the stable id of every listed dispute, sorted
    most urgent first."""
    received = listed["starts_on"].astype("datetime64[ns]")
    response_days = listed["response_days"].astype("Int64")
    # NaT where the pack states no deadline: the float NaN turns into a missing timedelta.
    respond_by = received + pd.to_timedelta(response_days.astype("float64"), unit="D")
    days_left = (respond_by - day).dt.days.astype("Int64")
    frame = pd.DataFrame(
        {
            "as_of": pd.Series(day, index=listed.index, dtype="datetime64[ns]"),
            "dispute_id": "D-" + listed["loan_id"].astype("str") + "-" + received.dt.strftime("%Y%m%d"),
            "borrower_id": listed["borrower_id"].astype("str"),
            "loan_id": listed["loan_id"].astype("str"),
            "received_on": received,
            "days_open": (day - received).dt.days.astype("int64"),
            "policy": listed["policy"].astype("str"),
            "policy_version": listed["policy_version"].astype("str"),
            "rule_id": listed["rule_id"].astype("str"),
            "response_days": response_days,
            "respond_by": respond_by.astype("datetime64[ns]"),
            "days_left": days_left,
            "overdue_response": (days_left < 0).fillna(False).astype("bool"),
            "deadline_source": listed["deadline_source"].astype("str"),
            "loans_held": listed["loans_held"].astype("str"),
            "n_loans_held": listed["n_loans_held"].astype("int64"),
            "amount_held": listed["amount_held"].astype("float64"),
        },
        index=listed.index,
    )
    urgency = frame.assign(
        on_time=~frame["overdue_response"], no_deadline=frame["days_left"].isna()
    ).sort_values(
        ["on_time", "no_deadline", "days_left", "received_on", "dispute_id"],
        kind="stable",
        na_position="last",
    )
    return frame.loc[urgency.index, DISPUTE_LIST_COLUMNS].reset_index(drop=True)


def stamp_disputes(
    disputes: pd.DataFrame, run_id: str, data_cutoff_utc: pd.Timestamp | None = None
) -> pd.DataFrame:
    """The list as published (:data:`~data_contracts.outputs.DISPUTES_COLUMNS`, checked by the
    ``Disputes`` contract): every row stamped with the run's id and the night's cut-off."""
    stamped = disputes.assign(run_id=run_id, data_cutoff_utc=cutoff_column(data_cutoff_utc, disputes.index))
    return stamped[DISPUTES_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class LateResponse:
    """The dispute whose response is the most overdue."""

    dispute_id: str
    loan_id: str
    received_on: dt.date
    days_late: int


@dataclass(frozen=True)
class DisputeSummary:
    """What the run summary and the review print about the open disputes.

    open: disputes listed; overdue: past their deadline; due_within_7_days: not yet late and due
    within :data:`DUE_SOON_DAYS` days (today included); no_deadline: under a pack that states
    none; loans_held: distinct overdue loans they hold; oldest_received_on: the oldest still
    open; most_late: the most overdue response, if any.
    """

    open: int
    overdue: int
    due_within_7_days: int
    no_deadline: int
    loans_held: int
    oldest_received_on: dt.date | None
    most_late: LateResponse | None

    def sentence(self) -> str:
        """One line, e.g. "3 open disputes, 1 response overdue (D-L123-20260201 on loan L123,
        received 2026-02-01, 4 days late), 1 due within 7 days"."""
        if self.open == 0:
            return "no open disputes"
        parts = [_count(self.open, "open dispute")]
        if self.most_late is None:
            parts.append("no response overdue")
        else:
            late = self.most_late
            which = "" if self.overdue == 1 else "most late: "
            parts.append(
                f"{_count(self.overdue, 'response')} overdue ({which}{late.dispute_id} on loan {late.loan_id}, "
                f"received {late.received_on.isoformat()}, {_count(late.days_late, 'day')} late)"
            )
        parts.append(f"{self.due_within_7_days} due within {DUE_SOON_DAYS} days")
        if self.no_deadline:
            parts.append(f"{self.no_deadline} without a deadline in their rule pack")
        return ", ".join(parts)


def summarize_disputes(disputes: pd.DataFrame) -> DisputeSummary:
    """The counts of a dispute list (from :func:`open_disputes`, stamped or not)."""
    late = disputes[disputes["overdue_response"]]
    days_left = disputes["days_left"]
    soon = (~disputes["overdue_response"] & (days_left <= DUE_SOON_DAYS)).fillna(False).astype(bool)
    most_late = None
    if len(late):
        worst = late.sort_values(["days_left", "received_on", "dispute_id"], kind="stable").iloc[0]
        most_late = LateResponse(
            dispute_id=str(worst["dispute_id"]),
            loan_id=str(worst["loan_id"]),
            received_on=pd.Timestamp(worst["received_on"]).date(),
            days_late=-int(worst["days_left"]),
        )
    held = disputes["loans_held"].str.split(",").explode()
    return DisputeSummary(
        open=len(disputes),
        overdue=len(late),
        due_within_7_days=int(soon.sum()),
        no_deadline=int(days_left.isna().sum()),
        loans_held=int(held.dropna().nunique()),
        oldest_received_on=pd.Timestamp(disputes["received_on"].min()).date() if len(disputes) else None,
        most_late=most_late,
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
