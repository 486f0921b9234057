"""The arrangements history as the engine may read it on a night: point in time.

The optional ``arrangements`` input table (one row per plan or settlement offered: loan_id,
kind, offered_on, accepted, instalment, n_instalments, discount, broken_on) teaches the engine
how often borrowers accept and keep what they are offered. Two views of it, both strictly
before the night's cut-off:

- :func:`offer_rows`: one row per past offer with the account's state on the day it was made
  (days past due, arrears, balance, on-time share, the borrower's declared income: from the schedule and the payments before
  that day, as :func:`features.accounts.account_state` computes them for any night) and what
  is known tonight of its outcome (a break dated on or after ``as_of`` is not known yet);
- :func:`arrangements_in_force`: the accepted plans and settlements still running tonight, so
  a borrower keeping a plan is not chased.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from data_contracts.columnar import is_in
from features.accounts import account_state
from features.point_in_time import AsOf, as_of_date, events_before

ARRANGEMENT_KINDS: tuple[str, ...] = ("plan", "settlement")
# A settlement is paid in one go within this many days of acceptance (the simulator's and most
# lenders' terms): after that an unbroken settlement is done.
SETTLEMENT_DAYS = 30
# A plan's instalments fall due monthly; a plan is over once its last instalment is due.
DAYS_PER_INSTALMENT = 30

OFFER_COLUMNS = [
    "loan_id",
    "kind",
    "offered_on",
    "accepted",
    "instalment",
    "n_instalments",
    "discount",
    "days_past_due",
    "amount_overdue",
    "outstanding_balance",
    "on_time_share",
    "monthly_income",
    "fulfilled",
    "outcome_known",
    "share_paid",
]


def known_arrangements(tables: Mapping[str, pd.DataFrame], as_of: AsOf) -> pd.DataFrame:
    """The arrangements offered before ``as_of`` (empty when the book has no such table), with
    a ``broken_on`` dated on or after ``as_of`` read as not known yet."""
    frame = tables.get("arrangements")
    day = as_of_date(as_of)
    if frame is None or frame.empty:
        return pd.DataFrame(
            {
                "loan_id": pd.Series(dtype="str"),
                "kind": pd.Series(dtype="str"),
                "offered_on": pd.Series(dtype="datetime64[ns]"),
                "accepted": pd.Series(dtype="bool"),
                "instalment": pd.Series(dtype="float64"),
                "n_instalments": pd.Series(dtype="float64"),
                "discount": pd.Series(dtype="float64"),
                "broken_on": pd.Series(dtype="datetime64[ns]"),
            }
        )
    known = frame[frame["offered_on"] < day].copy()
    known["broken_on"] = known["broken_on"].where(known["broken_on"] < day)
    known["n_instalments"] = known["n_instalments"].astype("float64")
    known["discount"] = known["discount"].astype("float64").fillna(0.0)
    return known.reset_index(drop=True)


def _ends_on(known: pd.DataFrame) -> pd.Series:
    """The last day each arrangement runs: a plan's last instalment, a settlement's payment."""
    days = np.where(
        known["kind"] == "plan",
        known["n_instalments"].fillna(1.0).to_numpy(dtype="float64") * DAYS_PER_INSTALMENT,
        SETTLEMENT_DAYS,
    )
    return known["offered_on"] + pd.to_timedelta(days, unit="D")


def offer_rows(tables: Mapping[str, pd.DataFrame], as_of: AsOf, tolerance: float = 0.01) -> pd.DataFrame:
    """One row per offer made before ``as_of`` with the account's state on the offer's day and
    its outcome as known tonight: ``fulfilled`` (an accepted arrangement that ran its course
    unbroken), ``outcome_known`` (refused, broken, or over by tonight), ``share_paid`` (of the
    arrangement's money: 1 when fulfilled; a broken plan's instalments due before its break;
    0 otherwise). Columns :data:`OFFER_COLUMNS`."""
    known = known_arrangements(tables, as_of)
    day = pd.Timestamp(as_of_date(as_of))
    if known.empty:
        return pd.DataFrame({column: pd.Series(dtype="float64") for column in OFFER_COLUMNS})
    offered = known["loan_id"].unique()
    installments = tables["installments"][is_in(tables["installments"]["loan_id"], offered)]
    payments = tables["payments"][is_in(tables["payments"]["loan_id"], offered)]
    states = []
    # One account-state pass per week of offers, over the offered loans only, each at the start of
    # its week: point in time for every offer of the week (it sees less, never more); the days
    # past due then age by the days from the week's start to the offer.
    week = pd.to_timedelta((known["offered_on"] - pd.Timestamp("2000-01-03")).dt.days % 7, unit="D")
    known = known.assign(_state_on=known["offered_on"] - week)
    for state_on, offers in known.groupby("_state_on", sort=True):
        state = account_state(
            installments[is_in(installments["loan_id"], offers["loan_id"])],
            payments[is_in(payments["loan_id"], offers["loan_id"])],
            pd.Timestamp(str(state_on)).date(),
            tolerance,
        )
        columns = ["days_past_due", "amount_overdue", "outstanding_balance", "on_time_share"]
        at_offer = offers[["loan_id", "offered_on"]].join(state[columns], on="loan_id")
        aged = (offers["offered_on"] - offers["_state_on"]).dt.days
        at_offer["days_past_due"] = at_offer["days_past_due"] + aged.where(at_offer["days_past_due"] > 0, 0)
        states.append(at_offer)
    known = known.drop(columns="_state_on")
    state = pd.concat(states).drop_duplicates(["loan_id", "offered_on"])
    rows = known.merge(state, on=["loan_id", "offered_on"], how="left")
    income = tables["loans"][["loan_id", "borrower_id"]].merge(
        tables["borrowers"][["borrower_id", "monthly_income"]], on="borrower_id", how="left"
    )
    rows = rows.merge(income[["loan_id", "monthly_income"]], on="loan_id", how="left")
    ends_on = _ends_on(rows)
    broken = rows["broken_on"].notna()
    over = ends_on < day
    rows["fulfilled"] = rows["accepted"] & ~broken & over
    rows["outcome_known"] = ~rows["accepted"] | broken | over
    # Of an accepted plan that broke, the instalments that fell due before the break were kept.
    months_kept = ((rows["broken_on"] - rows["offered_on"]).dt.days // DAYS_PER_INSTALMENT).astype("float64")
    kept_share = (months_kept / rows["n_instalments"].clip(lower=1)).clip(0.0, 1.0)
    rows["share_paid"] = np.where(
        rows["fulfilled"], 1.0, np.where(broken & (rows["kind"] == "plan"), kept_share.fillna(0.0), 0.0)
    )
    return rows[OFFER_COLUMNS].reset_index(drop=True)


def arrangements_in_force(tables: Mapping[str, pd.DataFrame], as_of: AsOf) -> pd.DataFrame:
    """The accepted arrangements running tonight (not broken, not over), latest per loan:
    loan_id, kind, offered_on, instalment, n_instalments, discount, ends_on."""
    known = known_arrangements(tables, as_of)
    day = pd.Timestamp(as_of_date(as_of))
    running = known[known["accepted"] & known["broken_on"].isna()].copy()
    running["ends_on"] = _ends_on(running)
    running = running[running["ends_on"] >= day]
    latest = running.sort_values(["loan_id", "offered_on"], kind="stable").drop_duplicates(
        "loan_id", keep="last"
    )
    columns = ["loan_id", "kind", "offered_on", "instalment", "n_instalments", "discount", "ends_on"]
    return latest[columns].reset_index(drop=True)


def settled_loans(tables: Mapping[str, pd.DataFrame], as_of: AsOf, tolerance: float = 0.01) -> pd.Index:
    """Loans closed by a settlement before ``as_of``: an accepted settlement, not broken as far
    as is known tonight, whose amount was paid by payments on or after its offer day. The
    schedule still shows the forgiven balance as due; the loan is no longer in collection."""
    known = known_arrangements(tables, as_of)
    accepted = known[(known["kind"] == "settlement") & known["accepted"] & known["broken_on"].isna()]
    if accepted.empty:
        return pd.Index([], name="loan_id", dtype="str")
    # The settled loans' payments only: this runs for every night and every training day.
    payments = tables["payments"]
    payments = events_before(payments[is_in(payments["loan_id"], accepted["loan_id"])], "paid_at", as_of)
    paid_day = payments["paid_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    joined = accepted[["loan_id", "offered_on", "instalment"]].merge(
        payments[["loan_id"]].assign(paid_on=paid_day.to_numpy(), amount=payments["amount"].to_numpy()),
        on="loan_id",
    )
    since = joined[joined["paid_on"] >= joined["offered_on"]]
    paid = since.groupby(["loan_id", "offered_on"])["amount"].sum()
    owed = accepted.set_index(["loan_id", "offered_on"])["instalment"]
    settled = paid.reindex(owed.index).fillna(0.0) >= owed - tolerance
    loan_ids: pd.Index = settled[settled].index.get_level_values("loan_id").unique()
    return loan_ids.rename("loan_id")
