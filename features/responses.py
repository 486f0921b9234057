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
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from data_contracts.enums import CHANNELS, RIGHT_PARTY_OUTCOMES
from features.build import build_features
from features.labels import pays_qualifying_amount
from features.point_in_time import (
    UTC,
    AsOf,
    Cutoff,
    as_of_date,
    as_of_instant,
    business_dates,
    local_midnights,
)
from features.snapshots import SnapshotCallback, planned_dates, snapshot_dates

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
    # One as-of reads only its window: attempts in the ``days`` before it and the payments that
    # can follow them before it (indexing the whole history for one night cost gigabytes at 1M).
    instant = as_of_instant(as_of)
    start = instant - pd.Timedelta(days=days)
    recent = interactions[(interactions["occurred_at"] >= start) & (interactions["occurred_at"] < instant)]
    paid = payments[(payments["paid_at"] >= start) & (payments["paid_at"] < instant)]
    history = ContactHistory(recent, paid)
    return history.channel_history(as_of, days=days, paid_after_days=paid_after_days)


def _history_frame(recent: pd.DataFrame, instant: pd.Timestamp, paid_after: np.ndarray) -> pd.DataFrame:
    """:func:`channel_history` of the attempts ``recent`` (outbound, in the window before
    ``instant``) and their paid-after flags. Every aggregate is a count, a mean of 0/1 values or
    a minimum, so the order of ``recent``'s rows does not change any value."""
    age_days = (instant - recent["occurred_at"]).dt.total_seconds() / 86_400
    reached = recent["outcome"].isin(REACHED_OUTCOMES)
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


def _attempts_frame(that_day: pd.DataFrame) -> pd.DataFrame:
    """:func:`attempts_on` of the outbound attempts ``that_day`` (any row order)."""
    reached = that_day["outcome"].isin(REACHED_OUTCOMES)
    return (
        that_day.assign(reached=reached)
        .groupby(["loan_id", "channel"], observed=True)["reached"]
        .any()
        .reset_index()
        .astype({"loan_id": "str", "channel": "str", "reached": bool})
    )


def _epoch(instants: pd.Series, unit: Literal["us", "ns"]) -> npt.NDArray[np.int64]:
    """UTC instants as integers in ``unit`` (``us`` truncates finer instants, as a cast does)."""
    as_unit = instants.astype(pd.DatetimeTZDtype(unit=unit, tz=UTC))
    return np.asarray(pd.DatetimeIndex(as_unit).asi8, dtype=np.int64)


class _Events:
    """Events (loan code, integer time) sorted by loan, then time, then input order, for
    vectorised per-(loan, instant) look-ups: one ``searchsorted`` instead of a scan per query."""

    def __init__(self, codes: npt.NDArray[np.int64], times: npt.NDArray[np.int64]) -> None:
        kept = np.flatnonzero(codes >= 0)
        # lexsort is stable: ties in (loan, time) keep the input order.
        self.order = kept[np.lexsort((times[kept], codes[kept]))]
        self.codes = codes[self.order]
        self.times = times[self.order]
        self._distinct = np.unique(self.times)
        self._stride = len(self._distinct) + 1
        # (loan, rank of time) in one integer, sorted: loans < 2**31 and ranks < 2**31 fit.
        self._keys = self.codes * self._stride + np.searchsorted(self._distinct, self.times)

    def first_at_or_after(
        self, codes: npt.NDArray[np.int64], times: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Per query: the position of its loan's first event at or after ``times``, and whether
        there is one."""
        ranks = np.searchsorted(self._distinct, times, "left")
        at = np.searchsorted(self._keys, codes * self._stride + ranks, "left")
        clipped = np.minimum(at, max(len(self.codes) - 1, 0))
        found = (at < len(self.codes)) & (codes >= 0)
        if len(self.codes):
            found &= self.codes[clipped] == codes
        return clipped, found

    def count_before(
        self, codes: npt.NDArray[np.int64], times: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Per query: the position of its loan's first event and how many of its events lie
        strictly before ``times``."""
        ranks = np.searchsorted(self._distinct, times, "left")
        first = np.searchsorted(self._keys, codes * self._stride, "left")
        until = np.searchsorted(self._keys, codes * self._stride + ranks, "left")
        return first, np.where(codes >= 0, until - first, 0)


class ContactHistory:
    """The outbound attempts and payments of a history, indexed once for many as-of instants.

    Built once per response set, it answers :func:`channel_history`, :func:`attempts_on` and
    the response label for any day by ``searchsorted`` on pre-sorted times instead of scanning
    the whole history each day; the answers are exactly those of the plain functions.
    """

    def __init__(self, interactions: pd.DataFrame, payments: pd.DataFrame) -> None:
        outbound = interactions[
            (interactions["direction"] == "outbound") & interactions["occurred_at"].notna()
        ]
        payments = payments[payments["paid_at"].notna()]
        loan_ids = np.concatenate(
            [np.asarray(outbound["loan_id"], dtype=object), np.asarray(payments["loan_id"], dtype=object)]
        )
        self.loans = pd.Index(pd.unique(loan_ids))
        times = _epoch(outbound["occurred_at"], "ns")
        order = np.argsort(times, kind="stable")
        self.outbound = outbound.iloc[order]
        self._times = times[order]
        self._codes = self.codes_of(self.outbound["loan_id"])
        channels, self.channel_names = pd.factorize(self.outbound["channel"])
        self._channels = np.asarray(channels, dtype=np.int64)  # -1: no channel (never grouped)
        self._reached = self.outbound["outcome"].isin(REACHED_OUTCOMES).to_numpy(dtype=bool)
        # Paid after: each attempt's loan's next payment at or after it, computed once for the
        # whole history on microsecond clocks (as the as-of merge always compared them). A day
        # counts it only if it also lies before that day's instant: payments before an instant
        # are a prefix in time, so the next payment among them is this one or none.
        self._attempt_us = _epoch(self.outbound["occurred_at"], "us")
        paid_us = _epoch(payments["paid_at"], "us")
        by_us = _Events(self.codes_of(payments["loan_id"]), paid_us)
        at, found = by_us.first_at_or_after(self._codes, self._attempt_us)
        never = np.iinfo(np.int64).max
        self._next_payment_us = np.where(found, by_us.times[at] if len(by_us.times) else never, never)
        # Label: each loan's running total paid, in the order features.accounts accumulates it
        # (by payment time, ties in input order), so totals before an instant are the same sums.
        self._paid = _Events(self.codes_of(payments["loan_id"]), _epoch(payments["paid_at"], "ns"))
        amounts = payments["amount"].to_numpy(dtype="float64")[self._paid.order]
        self._running = (
            pd.Series(amounts).groupby(self._paid.codes).cumsum().to_numpy(dtype="float64")
            if len(amounts)
            else np.zeros(0)
        )

    def codes_of(self, loan_ids: pd.Series | npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Integer code of each loan id (-1: no outbound attempt nor payment)."""
        return np.asarray(self.loans.get_indexer(np.asarray(loan_ids, dtype=object)), dtype=np.int64)

    def channel_history(
        self, as_of: AsOf, *, days: int = CHANNEL_HISTORY_DAYS, paid_after_days: int = PAID_AFTER_DAYS
    ) -> pd.DataFrame:
        """:func:`channel_history` at ``as_of``, every loan."""
        instant = as_of_instant(as_of)
        rows = self._window(instant, days)
        return _history_frame(
            self.outbound.iloc[rows], instant, self._paid_after(rows, instant, paid_after_days)
        )

    def _window(self, instant: pd.Timestamp, days: int) -> npt.NDArray[np.int64]:
        """Positions of the attempts in the ``days`` before ``instant`` (a slice of the sorted times)."""
        first = np.searchsorted(self._times, (instant - pd.Timedelta(days=days)).value, "left")
        until = np.searchsorted(self._times, instant.value, "left")
        return np.arange(first, until)

    def _paid_after(
        self, rows: npt.NDArray[np.int64], instant: pd.Timestamp, within_days: int
    ) -> npt.NDArray[np.bool_]:
        """Whether each attempt of ``rows`` was followed by a payment within ``within_days``,
        counting only payments before ``instant``: its loan's next payment must lie before the
        instant (on the microsecond clock the next whole microsecond bounds it) and within the
        days. Exactly the as-of merge over the payments known at ``instant``."""
        instant_us = -(-instant.value // 1_000)
        next_payment = self._next_payment_us[rows]
        return (next_payment < instant_us) & (
            next_payment < self._attempt_us[rows] + within_days * 86_400_000_000
        )

    def paid_before(self, codes: npt.NDArray[np.int64], instants: pd.Series) -> npt.NDArray[np.float64]:
        """What each loan (by code) had paid strictly before its UTC instant (0 when nothing):
        :func:`features.accounts.paid_between`'s running totals, by look-up."""
        first, count = self._paid.count_before(codes, _epoch(instants, "ns"))
        last = np.maximum(first + count - 1, 0)
        running = self._running[last] if len(self._running) else np.zeros(len(last))
        return np.where(count > 0, running, 0.0)

    def label(
        self,
        rows: pd.DataFrame,
        codes: npt.NDArray[np.int64],
        *,
        window_days: int,
        rule: str,
        tolerance: float,
        timezone: str,
    ) -> pd.Series:
        """:func:`features.labels.label_pays` of ``rows`` (their loans' ``codes``) against this
        history's payments."""
        days = rows["as_of"].reset_index(drop=True)
        start = self.paid_before(codes, local_midnights(days, timezone))
        end = self.paid_before(codes, local_midnights(days + pd.Timedelta(days=window_days), timezone))
        paid = pd.Series(end - start, index=rows.index, name="amount_paid_in_window", dtype="float64")
        return pays_qualifying_amount(rows, paid, rule=rule, tolerance=tolerance)

    def day_attempts(
        self, day: Cutoff, loans: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """The (loan code, channel code) pairs tried on work day ``day`` among ``loans``
        (sorted), and whether any attempt of the pair reached the borrower."""
        first = np.searchsorted(self._times, day.instant.value, "left")
        until = np.searchsorted(self._times, day.next().instant.value, "left")
        rows = np.arange(first, until)
        rows = rows[np.isin(self._codes[rows], loans) & (self._channels[rows] >= 0)]
        pairs, inverse = np.unique(self._pair_keys(rows), return_inverse=True)
        reached = np.bincount(inverse, weights=self._reached[rows], minlength=len(pairs)) > 0
        return pairs // self.pair_stride, pairs % self.pair_stride, reached

    def history_of(
        self, instant: pd.Timestamp, loans: npt.NDArray[np.int64], *, days: int, paid_after_days: int
    ) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.float64]]]:
        """:func:`channel_history` of ``loans`` as arrays: the sorted (loan, channel) pair keys
        and each feature per pair, with the values the grouped means and minimum give."""
        rows = self._window(instant, days)
        rows = rows[np.isin(self._codes[rows], loans) & (self._channels[rows] >= 0)]
        paid_after = self._paid_after(rows, instant, paid_after_days)
        # The very expression channel_history ages attempts with, so the floors are the same.
        age = ((instant - self.outbound["occurred_at"].iloc[rows]).dt.total_seconds() / 86_400).to_numpy()
        keys = self._pair_keys(rows)
        order = np.argsort(keys, kind="stable")
        pairs, starts = np.unique(keys[order], return_index=True)
        reached = self._reached[rows][order]
        paid_after = paid_after[order]
        # Counts of 0/1 flags are exact, so each share is the mean pandas computes.
        attempts = np.diff(np.append(starts, len(keys))).astype("float64")
        n_reached = np.add.reduceat(reached.astype("float64"), starts) if len(keys) else np.zeros(0)
        n_paid = np.add.reduceat(paid_after.astype("float64"), starts) if len(keys) else np.zeros(0)
        n_paid_reached = (
            np.add.reduceat((paid_after & reached).astype("float64"), starts) if len(keys) else np.zeros(0)
        )
        youngest = np.minimum.reduceat(age[order], starts) if len(keys) else np.zeros(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            features = {
                "channel_attempts_180d": attempts,
                "channel_reached_share_180d": n_reached / attempts,
                "channel_days_since_last_attempt": np.floor(youngest),
                "channel_paid_after_share_180d": n_paid / attempts,
                "channel_reached_attempts_180d": n_reached,
                "channel_paid_after_reached_share_180d": np.where(
                    n_reached > 0, n_paid_reached / n_reached, np.nan
                ),
            }
        return pairs, features

    @property
    def pair_stride(self) -> int:
        """Loan code times this plus channel code: one integer per (loan, channel) pair."""
        return len(self.channel_names) + 1

    def _pair_keys(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The (loan, channel) pair key of outbound attempts ``rows`` (positions)."""
        return self._codes[rows] * self.pair_stride + self._channels[rows]


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
    return _attempts_frame(
        interactions[
            (interactions["direction"] == "outbound")
            & (interactions["occurred_at"] >= cutoff.instant)
            & (interactions["occurred_at"] < cutoff.next().instant)
        ]
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
    history = ContactHistory(interactions, payments)
    return _response_rows(
        features,
        history,
        window_days=window_days,
        qualifying_rule=qualifying_rule,
        tolerance=tolerance,
        timezone=timezone,
    )


def _response_rows(
    features: pd.DataFrame,
    history: ContactHistory,
    *,
    window_days: int,
    qualifying_rule: str,
    tolerance: float,
    timezone: str,
) -> pd.DataFrame:
    """:func:`response_rows` from an indexed history: the same rows, merged by array look-ups
    over the loans of ``features`` only."""
    if features.empty:
        return features.assign(channel=pd.Series(dtype="str"), label=0, reached=False).iloc[:0]
    day = Cutoff(features["as_of"].iloc[0].date(), timezone)
    codes = history.codes_of(features["loan_id"])
    known = np.unique(codes[codes >= 0])
    tried_loans, tried_channels, reached = history.day_attempts(day, known)
    # Each tried (loan, channel) pair is a row of its loan's features; every other loan a
    # ``none`` row. Features have one row per loan.
    by_code = np.argsort(codes, kind="stable")
    treated = by_code[np.searchsorted(codes[by_code], tried_loans)]
    untreated = np.setdiff1d(np.arange(len(features)), treated)
    rows = features.iloc[np.concatenate([treated, untreated])].reset_index(drop=True)
    channel_names = np.asarray(history.channel_names, dtype=object)
    rows["channel"] = pd.Series(
        np.concatenate([channel_names[tried_channels], np.full(len(untreated), NO_CONTACT, dtype=object)]),
        dtype="str",
    )
    rows["reached"] = np.concatenate([reached, np.zeros(len(untreated), dtype=bool)])
    pairs, channel_features = history.history_of(
        as_of_instant(day), known, days=CHANNEL_HISTORY_DAYS, paid_after_days=PAID_AFTER_DAYS
    )
    row_codes = codes[np.concatenate([treated, untreated])]
    row_pairs = np.concatenate(
        [tried_loans * history.pair_stride + tried_channels, np.full(len(untreated), -1, dtype=np.int64)]
    )
    at = np.minimum(np.searchsorted(pairs, row_pairs), max(len(pairs) - 1, 0))
    found = (pairs[at] == row_pairs) if len(pairs) else np.zeros(len(rows), dtype=bool)
    for name in CHANNEL_FEATURES:
        values = channel_features[name][at] if len(pairs) else np.zeros(len(rows))
        # Untried channels: no attempt, unknown shares (as with_channel_features gives them).
        missing = 0.0 if name in ("channel_attempts_180d", "channel_reached_attempts_180d") else np.nan
        rows[name] = np.where(found, values, missing).astype("float64")
    rows["label"] = history.label(
        rows, row_codes, window_days=window_days, rule=qualifying_rule, tolerance=tolerance, timezone=timezone
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

    sampled = planned_dates(tables, as_of, plan, "response day")
    first_day = tables["loans"]["disbursed_on"].min().date()
    every_attempt_day = snapshot_dates(first_day, as_of, replace(plan, every_days=plan.attempts_every_days))
    attempt_days = sorted(set(every_attempt_day) - set(sampled))
    total = len(sampled) + len(attempt_days)
    timezone = plan.cutoff_timezone
    # The history is indexed once; each day then looks up its slice of it.
    history = ContactHistory(tables["interactions"], tables["payments"])
    loan_rows = _LoanRows(tables)
    arrears = _Arrears(tables, loan_rows, max(min_amount_overdue, tolerance))

    def responses(features: pd.DataFrame) -> pd.DataFrame:
        return _response_rows(
            features,
            history,
            window_days=plan.window_days,
            qualifying_rule=qualifying_rule,
            tolerance=tolerance,
            timezone=timezone,
        )

    def features_of(cutoff: Cutoff, loans: npt.NDArray[np.int64] | None) -> pd.DataFrame:
        # Every feature is a function of one loan's rows, so the features of the loans that may
        # be overdue (a superset of those that are), built from their rows alone, are the rows
        # the whole book gives. When none may be, the whole book's (empty) frame keeps its dtypes.
        candidates = arrears.candidates(cutoff)
        if loans is not None:
            candidates = np.intersect1d(candidates, loans)
        if len(candidates):
            subset = loan_rows.subset(candidates)
        else:
            subset = dict(tables) if loans is None else loan_rows.subset(loans)
        return build_features(subset, cutoff, min_amount_overdue=min_amount_overdue, tolerance=tolerance)

    # The sampled days: every overdue loan (as features.snapshots.rows_by_date builds them).
    sampled_frames = []
    for i, date in enumerate(sampled, start=1):
        sampled_frames.append(responses(features_of(Cutoff(date, timezone), None)))
        if on_snapshot is not None:
            on_snapshot(i, total, date)
    frames = [pd.concat(sampled_frames, ignore_index=True).assign(sampled_day=True)]
    outbound = tables["interactions"][tables["interactions"]["direction"] == "outbound"]
    # One pass over the history, not one per day: the loans attempted on each work day.
    work_days = business_dates(outbound["occurred_at"], timezone).dt.date
    attempted_by_day = outbound.groupby(work_days)["loan_id"].unique()
    for i, day in enumerate(attempt_days, start=len(sampled) + 1):
        attempted = attempted_by_day.get(day, [])
        if len(attempted):
            features = features_of(Cutoff(day, timezone), np.unique(loan_rows.codes_of(attempted)))
            rows = responses(features)
            frames.append(rows[rows["channel"] != NO_CONTACT].assign(sampled_day=False))
        if on_snapshot is not None:
            on_snapshot(i, total, day)
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["as_of", "loan_id", "channel"], kind="stable", ignore_index=True)


class _LoanRows:
    """Each table's rows grouped by loan once, so the rows of a day's loans are one ``take`` (in
    the tables' own row order) instead of an ``isin`` over every table."""

    def __init__(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self.tables = tables
        ids = [np.asarray(f["loan_id"], dtype=object) for f in tables.values() if "loan_id" in f.columns]
        self.loans = pd.Index(pd.unique(np.concatenate(ids)) if ids else np.array([], dtype=object))
        self._rows: dict[str, tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]] = {}
        for name, frame in tables.items():
            if "loan_id" in frame.columns:
                codes = self.codes_of(frame["loan_id"])
                order = np.argsort(codes, kind="stable")
                bounds = np.searchsorted(codes[order], np.arange(len(self.loans) + 1), "left")
                self._rows[name] = (order, bounds)

    def codes_of(self, loan_ids: pd.Series | npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Integer code of each loan id (-1: in no table)."""
        return np.asarray(self.loans.get_indexer(np.asarray(loan_ids, dtype=object)), dtype=np.int64)

    def subset(self, codes: npt.NDArray[np.int64]) -> dict[str, pd.DataFrame]:
        """:func:`tables_of_loans` of the loans ``codes`` (distinct)."""
        codes = codes[codes >= 0]
        out = {}
        for name, frame in self.tables.items():
            if name not in self._rows:
                out[name] = frame
                continue
            order, bounds = self._rows[name]
            starts = bounds[codes]
            lengths = bounds[codes + 1] - starts
            ends = np.cumsum(lengths)
            at = np.repeat(starts - ends + lengths, lengths) + np.arange(ends[-1] if len(ends) else 0)
            out[name] = frame.iloc[np.sort(order[at])]
        return out


class _Arrears:
    """A cheap superset of the loans in arrears on a day: disbursed before it, with at least the
    threshold (less a margin far above any rounding) due before it and not paid before its
    cut-off. Only a filter: :func:`features.build.build_features` decides on their rows."""

    def __init__(self, tables: Mapping[str, pd.DataFrame], loan_rows: _LoanRows, threshold: float) -> None:
        loans, installments, payments = tables["loans"], tables["installments"], tables["payments"]
        self._threshold = threshold
        self._loans = loan_rows.codes_of(loans["loan_id"])
        disbursed = loans["disbursed_on"]
        self._disbursed = np.where(disbursed.notna(), _naive_ns(disbursed), np.iinfo(np.int64).max)
        due, self._due_running = _running_totals(
            loan_rows.codes_of(installments["loan_id"]), installments["due_date"], installments["amount_due"]
        )
        paid, self._paid_running = _running_totals(
            loan_rows.codes_of(payments["loan_id"]), payments["paid_at"], payments["amount"]
        )
        self._due, self._paid = due, paid
        magnitude = float(np.abs(installments["amount_due"]).sum() + np.abs(payments["amount"]).sum())
        self._margin = 1e-9 * magnitude + 1e-6

    def candidates(self, cutoff: Cutoff) -> npt.NDArray[np.int64]:
        """Codes of the loans that may be overdue at ``cutoff`` (distinct, sorted)."""
        day = as_of_date(cutoff).value
        codes = self._loans[(self._loans >= 0) & (self._disbursed < day)]
        if self._threshold <= 0:  # every loan with a schedule is kept by build_features
            return np.unique(codes)
        due = _total_before(self._due, self._due_running, codes, day)
        paid = _total_before(self._paid, self._paid_running, codes, as_of_instant(cutoff).value)
        return np.unique(codes[due - paid >= self._threshold - self._margin])


def _naive_ns(values: pd.Series) -> npt.NDArray[np.int64]:
    """Dates or instants as integer nanoseconds (UTC epoch for instants), NaT as the minimum."""
    return np.asarray(pd.DatetimeIndex(values).as_unit("ns").asi8, dtype=np.int64)


def _running_totals(
    codes: npt.NDArray[np.int64], when: pd.Series, amounts: pd.Series
) -> tuple[_Events, npt.NDArray[np.float64]]:
    """Events per loan in time order (NaT left out) and the running total of their amounts."""
    codes = np.where(when.notna().to_numpy(), codes, -1)
    events = _Events(codes, _naive_ns(when))
    running = np.cumsum(np.nan_to_num(amounts.to_numpy(dtype="float64"))[events.order])
    return events, running


def _total_before(
    events: _Events, running: npt.NDArray[np.float64], codes: npt.NDArray[np.int64], instant: int
) -> npt.NDArray[np.float64]:
    """Each loan's total of ``events`` strictly before ``instant`` (approximate: a difference of
    one running total over all loans)."""
    first, count = events.count_before(codes, np.full(len(codes), instant, dtype=np.int64))
    if not len(running):
        return np.zeros(len(codes))
    before_first = np.where(first > 0, running[np.maximum(first - 1, 0)], 0.0)
    last = running[np.maximum(first + count - 1, 0)]
    return np.where(count > 0, last - before_first, 0.0)


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
