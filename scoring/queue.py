"""From scored overdue loans to tomorrow's ranked work queue and its suppression list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import pandas as pd

from data_contracts.outputs import QUEUE_COLUMNS, SUPPRESSED_COLUMNS
from features.point_in_time import active_flags
from scoring.channels import first_reachable_channel, reachable_channels


def suppressions(
    features: pd.DataFrame,
    borrowers: pd.DataFrame,
    account_flags: pd.DataFrame,
    as_of: dt.date,
    suppressing_flags: Mapping[str, str],
) -> pd.DataFrame:
    """One row per (overdue loan, reason) that holds the loan back from the queue.

    Reasons: every active flag listed in ``suppressing_flags`` (mapped to its reason code) and
    the borrower's do_not_contact.
    """
    flags = active_flags(account_flags, as_of)
    flags = flags[flags["flag"].isin(list(suppressing_flags)) & flags["loan_id"].isin(features["loan_id"])]
    by_flag = pd.DataFrame(
        {"loan_id": flags["loan_id"].to_numpy(), "reason": flags["flag"].map(suppressing_flags).to_numpy()}
    )
    dnc_borrowers = borrowers.loc[borrowers["do_not_contact"], "borrower_id"]
    by_borrower = features.loc[features["borrower_id"].isin(dnc_borrowers), ["loan_id"]].assign(
        reason="do_not_contact"
    )
    reasons = pd.concat([by_flag, by_borrower], ignore_index=True).drop_duplicates()
    # Empty pieces carry no string dtype; the contract wants one even when nothing is held back.
    reasons = reasons.astype({"loan_id": "str", "reason": "str"})
    keyed = reasons.merge(features[["loan_id", "borrower_id", "as_of"]], on="loan_id")
    return keyed.sort_values(["loan_id", "reason"], kind="stable").reset_index(drop=True)


def workable(features: pd.DataFrame, suppressed: pd.DataFrame) -> pd.DataFrame:
    """The overdue loans not held back by any suppression."""
    return features[~features["loan_id"].isin(suppressed["loan_id"])]


def recommended_channels(
    features: pd.DataFrame,
    borrowers: pd.DataFrame,
    account_flags: pd.DataFrame,
    as_of: dt.date,
    preference: Sequence[str],
) -> pd.Series:
    """The first channel in the configured preference order that reaches each loan's borrower."""
    flags = active_flags(account_flags, as_of)
    no_visit = flags.loc[flags["flag"] == "do_not_visit", "loan_id"]
    people = features[["loan_id", "borrower_id"]].merge(
        borrowers, on="borrower_id", how="left", validate="many_to_one"
    )
    people.index = features.index
    reach = reachable_channels(people, features["loan_id"].isin(no_visit))
    return first_reachable_channel(reach, preference)


def rank_queue(
    features: pd.DataFrame,
    p_pay: pd.Series,
    reasons: pd.DataFrame,
    channels: pd.Series,
    *,
    run_id: str,
    model_version: str,
) -> pd.DataFrame:
    """Rank workable loans by expected recovery = p_pay x amount overdue (skeleton priority).

    Ties are broken by loan_id so the same inputs always give the same queue.
    """
    queue = features[
        ["as_of", "loan_id", "borrower_id", "product", "amount_overdue", "outstanding_balance"]
    ].copy()
    queue["days_past_due"] = features["days_past_due"].astype("int64")
    queue["p_pay_30d"] = p_pay.astype("float64")
    queue["expected_recovery"] = queue["p_pay_30d"] * queue["amount_overdue"]
    queue["priority_score"] = queue["expected_recovery"]
    queue["recommended_channel"] = channels.astype(str)
    queue = queue.join(reasons)
    queue["run_id"] = run_id
    queue["model_version"] = model_version
    queue = queue.sort_values(["priority_score", "loan_id"], ascending=[False, True], kind="stable")
    queue["rank"] = range(1, len(queue) + 1)
    return queue[QUEUE_COLUMNS].reset_index(drop=True)


def finalize_suppressed(suppressed: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The suppression list in its public column order."""
    return suppressed.assign(run_id=run_id)[SUPPRESSED_COLUMNS]
