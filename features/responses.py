"""Training rows for the contact-response model: what happened after a contact, or after none.

A row is an (overdue loan, day S, treatment) triple. The treatment is the channel of an
outbound attempt made on the UTC day [S, S + 1 day), or ``none`` when the loan had no outbound
attempt that day (the self-cure baseline). Its features are the account features at S (events
strictly before S, from :func:`features.build.build_features`) plus features of the
treatment channel's own history with the borrower before S (:func:`channel_history`). The label
is a qualifying payment in [S, S + window_days); the secondary label ``reached`` says whether the
attempt got through to the borrower: the right party answered a call or opened the door to a
visit, or a message or letter was delivered. An attempt that does not get through cannot
persuade anybody, so the comparison of reached with unreached attempts through the same channel
is the contact's effect among the accounts that channel was used on (see
:mod:`models.channel`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from data_contracts.enums import CHANNELS, RIGHT_PARTY_OUTCOMES
from features.build import build_features
from features.labels import label_pays
from features.point_in_time import UTC, AsOf, Cutoff, as_of_instant, business_dates
from features.snapshots import SnapshotCallback, planned_dates, rows_by_date, snapshot_dates

NO_CONTACT = "none"
TREATMENTS: tuple[str, ...] = (NO_CONTACT, *CHANNELS)
CHANNEL_HISTORY_DAYS = 180
CHANNEL_FEATURES: tuple[str, ...] = (
    "channel_attempts_180d",
    "channel_reached_share_180d",
    "channel_days_since_last_attempt",
    "channel_paid_after_share_180d",
    "channel_reached_attempts_180d",
    "channel_paid_after_reached_share_180d",
)
# How long after an attempt a payment counts as following it (the default response window).
PAID_AFTER_DAYS = 7
# An attempt reaches the borrower when a message or letter is delivered (an opt-out is a reply
# to a delivered message) or when the right party answers a call or a visit.
REACHED_OUTCOMES: tuple[str, ...] = (*RIGHT_PARTY_OUTCOMES, "delivered", "opted_out")


@dataclass(frozen=True)
class ResponsePlan:
    """Which days become response rows and how long the response window is, in days.

    Every ``every_days`` day is a *sampled* response day: every overdue loan gives a row, an
    attempt or ``none``. Every ``attempts_every_days`` day in between gives rows for that day's
    attempts only (``sampled_day`` False), so the funnel learns from (nearly) every attempt of
    the history, not a quarter of them.
    """

    every_days: int = 4
    min_history_days: int = 60
    window_days: int = 7
    validation_days: int = 56
    test_days: int = 56
    attempts_every_days: int = 1
    cutoff_timezone: str = UTC  # each response day starts at 00:00 on the lender's clock


def channel_history(
    interactions: pd.DataFrame,
    payments: pd.DataFrame,
    as_of: AsOf,
    *,
    days: int = CHANNEL_HISTORY_DAYS,
    paid_after_days: int = PAID_AFTER_DAYS,
) -> pd.DataFrame:
    """Per (loan, channel): outbound attempts in the ``days`` before ``as_of``, the share that
    reached the borrower (delivered, or answered by the right party), the days since the last
    attempt, the share of attempts followed by a payment within ``paid_after_days`` (payments
    before ``as_of`` only), and the same two counts for the attempts that reached the borrower.
    Absent pairs were not tried.

    The paid-after shares are the borrower's own record of answering that channel with money:
    how strongly a contact moves a borrower is personal and channel-specific, and past
    responses are the only trace of it in the data. The share after *reached* attempts is the
    sharper trace (an attempt that did not get through says nothing about persuasion): on the
    default simulated book its rank correlation with the borrower's true responsiveness to calls
    is about three times that of the share after all attempts.
    """
    instant = as_of_instant(as_of)
    recent = interactions[
        (interactions["direction"] == "outbound")
        & (interactions["occurred_at"] < instant)
        & (interactions["occurred_at"] >= instant - pd.Timedelta(days=days))
    ]
    age_days = (instant - recent["occurred_at"]).dt.total_seconds() / 86_400
    reached = recent["outcome"].isin(REACHED_OUTCOMES)
    paid_after = _followed_by_payment(recent, payments, instant, paid_after_days)
    recent = recent.assign(
        reached=reached,
        age=age_days,
        paid_after=paid_after,
        # NaN for unreached attempts, so the mean runs over reached ones only.
        paid_after_reached=np.where(reached, paid_after.astype("float64"), np.nan),
    )
    grouped = recent.groupby(["loan_id", "channel"], observed=True)
    # Recent attempts through a channel are why another one adds less: the effect saturates.
    history = pd.DataFrame(
        {
            "channel_attempts_180d": grouped.size().astype("float64"),
            "channel_reached_share_180d": grouped["reached"].mean().astype("float64"),
            "channel_days_since_last_attempt": np.floor(grouped["age"].min()).astype("float64"),
            "channel_paid_after_share_180d": grouped["paid_after"].mean().astype("float64"),
            "channel_reached_attempts_180d": grouped["reached"].sum().astype("float64"),
            "channel_paid_after_reached_share_180d": grouped["paid_after_reached"].mean().astype("float64"),
        }
    )
    return history.reset_index().astype({"loan_id": "str", "channel": "str"})


def _followed_by_payment(
    attempts: pd.DataFrame, payments: pd.DataFrame, instant: pd.Timestamp, within_days: int
) -> np.ndarray:
    """Per attempt: was the loan's next payment (at or after the attempt, before ``instant``)
    made within ``within_days``?"""
    paid = payments.loc[payments["paid_at"] < instant, ["loan_id", "paid_at"]]
    if attempts.empty or paid.empty:
        return np.zeros(len(attempts), dtype=bool)
    left = pd.DataFrame(
        {
            "position": np.arange(len(attempts)),
            "loan_id": attempts["loan_id"].astype("str").to_numpy(),
            "at": attempts["occurred_at"].astype("datetime64[us, UTC]").array,
        }
    ).sort_values("at", kind="stable")
    right = pd.DataFrame(
        {
            "loan_id": paid["loan_id"].astype("str").to_numpy(),
            "at": paid["paid_at"].astype("datetime64[us, UTC]").array,
        }
    ).sort_values("at", kind="stable")
    right["next_payment_at"] = right["at"]
    joined = pd.merge_asof(left, right, on="at", by="loan_id", direction="forward")
    followed = joined["next_payment_at"].notna() & (
        joined["next_payment_at"] < joined["at"] + pd.Timedelta(days=within_days)
    )
    out = np.zeros(len(attempts), dtype=bool)
    out[joined["position"].to_numpy()] = followed.to_numpy()
    return out


def with_channel_features(options: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """``options`` (rows with loan_id and channel) plus the channel-history features of their
    channel; untried channels get 0 attempts and unknown (NaN) shares."""
    out = options.drop(columns=[c for c in CHANNEL_FEATURES if c in options.columns]).merge(
        history, on=["loan_id", "channel"], how="left", validate="many_to_one"
    )
    for count in ("channel_attempts_180d", "channel_reached_attempts_180d"):
        out[count] = out[count].fillna(0.0)
    out.index = options.index
    return out


def attempts_on(interactions: pd.DataFrame, day: AsOf) -> pd.DataFrame:
    """Outbound attempts of work day ``day`` (between its cut-off and the next one; a plain date
    is a UTC day): one row per (loan, channel), ``reached`` when any attempt that day reached the
    borrower (:data:`REACHED_OUTCOMES`)."""
    # Cutoff normalises any date-like day itself (pd.Timestamp(day).date()); so does this.
    cutoff = day if isinstance(day, Cutoff) else Cutoff(pd.Timestamp(day).date())
    that_day = interactions[
        (interactions["direction"] == "outbound")
        & (interactions["occurred_at"] >= cutoff.instant)
        & (interactions["occurred_at"] < cutoff.next().instant)
    ]
    reached = that_day["outcome"].isin(REACHED_OUTCOMES)
    return (
        that_day.assign(reached=reached)
        .groupby(["loan_id", "channel"], observed=True)["reached"]
        .any()
        .reset_index()
        .astype({"loan_id": "str", "channel": "str", "reached": bool})
    )


def response_rows(
    features: pd.DataFrame,
    interactions: pd.DataFrame,
    payments: pd.DataFrame,
    *,
    window_days: int,
    qualifying_rule: str = "min_overdue_or_installment",
    tolerance: float = 0.01,
    timezone: str = UTC,
) -> pd.DataFrame:
    """Response rows of one snapshot: ``features`` (one as_of) joined to that day's attempts
    (the work day between two cut-offs on the lender's clock ``timezone``).

    Loans tried through two channels that day give two rows; loans not tried give one ``none``
    row. Columns: the features, ``channel``, the channel features, ``label`` and ``reached``.
    """
    if features.empty:
        return features.assign(channel=pd.Series(dtype="str"), label=0, reached=False).iloc[:0]
    day = Cutoff(features["as_of"].iloc[0].date(), timezone)
    attempts = attempts_on(interactions, day)
    attempts = attempts[attempts["loan_id"].isin(features["loan_id"])]
    treated = features.merge(attempts, on="loan_id", how="inner")
    untreated = features[~features["loan_id"].isin(attempts["loan_id"])].assign(
        channel=NO_CONTACT, reached=False
    )
    rows = pd.concat([treated, untreated], ignore_index=True)
    rows = with_channel_features(rows, channel_history(interactions, payments, day))
    rows["label"] = label_pays(
        rows, payments, window_days=window_days, rule=qualifying_rule, tolerance=tolerance, timezone=timezone
    ).to_numpy()
    return rows.sort_values(["loan_id", "channel"], kind="stable", ignore_index=True)


def build_response_set(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    plan: ResponsePlan,
    *,
    qualifying_rule: str = "min_overdue_or_installment",
    min_amount_overdue: float = 1.0,
    tolerance: float = 0.01,
    on_snapshot: SnapshotCallback | None = None,
) -> pd.DataFrame:
    """Response rows of every response day before ``as_of``; every label window ends by ``as_of``.

    Sampled response days S (every ``plan.every_days``, aligned on ``as_of`` like training
    snapshots, S + window_days <= as_of) give a row per overdue loan, ``sampled_day`` True.
    The days between them (every ``plan.attempts_every_days``) add the rows of that day's
    attempts alone, ``sampled_day`` False: :func:`sampled_rows` keeps a sample of account-days
    with and without contact (the self-cure baseline, treatment summaries, the gate's evidence);
    the reach and response-when-reached boosters learn from every attempt. Attempt-only days
    build features for the loans attempted that day only, which is what keeps them cheap.
    ``on_snapshot(i, n, date)`` is called after each day (progress reporting).
    """

    def responses(features: pd.DataFrame, interactions: pd.DataFrame, payments: pd.DataFrame) -> pd.DataFrame:
        return response_rows(
            features,
            interactions,
            payments,
            window_days=plan.window_days,
            qualifying_rule=qualifying_rule,
            tolerance=tolerance,
            timezone=plan.cutoff_timezone,
        )

    sampled = planned_dates(tables, as_of, plan, "response day")
    first_day = tables["loans"]["disbursed_on"].min().date()
    every_attempt_day = snapshot_dates(first_day, as_of, replace(plan, every_days=plan.attempts_every_days))
    attempt_days = sorted(set(every_attempt_day) - set(sampled))
    total = len(sampled) + len(attempt_days)

    def progress(i: int, _n: int, date: dt.date) -> None:
        if on_snapshot is not None:
            on_snapshot(i, total, date)

    frames = [
        rows_by_date(
            tables,
            sampled,
            lambda features: responses(features, tables["interactions"], tables["payments"]),
            min_amount_overdue=min_amount_overdue,
            tolerance=tolerance,
            timezone=plan.cutoff_timezone,
            on_snapshot=progress,
        ).assign(sampled_day=True)
    ]
    outbound = tables["interactions"][tables["interactions"]["direction"] == "outbound"]
    # One pass over the history, not one per day: the loans attempted on each work day.
    work_days = business_dates(outbound["occurred_at"], plan.cutoff_timezone).dt.date
    attempted_by_day = outbound.groupby(work_days)["loan_id"].unique()
    for i, day in enumerate(attempt_days, start=len(sampled) + 1):
        attempted = attempted_by_day.get(day, [])
        if len(attempted):
            subset = tables_of_loans(tables, attempted)
            features = build_features(
                subset,
                Cutoff(day, plan.cutoff_timezone),
                min_amount_overdue=min_amount_overdue,
                tolerance=tolerance,
            )
            rows = responses(features, subset["interactions"], subset["payments"])
            frames.append(rows[rows["channel"] != NO_CONTACT].assign(sampled_day=False))
        progress(i, total, day)
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["as_of", "loan_id", "channel"], kind="stable", ignore_index=True)


def sampled_mask(rows: pd.DataFrame) -> np.ndarray:
    """Which rows come from sampled response days (every overdue loan, with and without
    contact); all of them when ``rows`` carry no ``sampled_day`` column."""
    if "sampled_day" not in rows.columns:
        return np.ones(len(rows), dtype=bool)
    return rows["sampled_day"].to_numpy(dtype=bool)


def sampled_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of sampled response days (see :func:`sampled_mask`)."""
    return rows[sampled_mask(rows)] if "sampled_day" in rows.columns else rows


def tables_of_loans(tables: Mapping[str, pd.DataFrame], loan_ids: npt.ArrayLike) -> dict[str, pd.DataFrame]:
    """``tables`` restricted to the rows of ``loan_ids`` (borrowers and other tables unchanged):
    every feature is a function of one loan's rows, so the features of these loans are the same."""
    keep = pd.Index(pd.unique(np.asarray(loan_ids, dtype="object")))
    return {
        name: frame[frame["loan_id"].isin(keep)] if "loan_id" in frame.columns else frame
        for name, frame in tables.items()
    }


def treatment_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows, pay rate and reach rate per treatment: what the history says before any model."""
    grouped = rows.groupby("channel", observed=True)
    summary = pd.DataFrame(
        {"rows": grouped.size(), "pay_rate": grouped["label"].mean(), "reach_rate": grouped["reached"].mean()}
    )
    return summary.reindex([t for t in TREATMENTS if t in summary.index]).reset_index()


def option_rows(features: pd.DataFrame, options: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Model rows for scoring: each (loan, channel) in ``options`` (with any other columns it
    carries, e.g. ``reached``) with that loan's features and the channel's history features."""
    rows = options.merge(features, on="loan_id", how="inner", validate="many_to_one")
    return with_channel_features(rows, history)
