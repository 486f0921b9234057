"""Training snapshots and out-of-time splits whose label windows never cross the as-of date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import pandas as pd

from features.build import build_features
from features.labels import amount_paid_in_window, pays_qualifying_amount
from features.point_in_time import UTC, Cutoff


@dataclass(frozen=True)
class SnapshotPlan:
    """When to take snapshots and how to split them, all in days."""

    every_days: int = 14
    min_history_days: int = 60
    window_days: int = 30
    validation_days: int = 56
    test_days: int = 56
    cutoff_timezone: str = UTC  # each snapshot day starts at 00:00 on the lender's clock
    # days: every `every_days`; monthly: the as-of's day of the month in each earlier month (a book
    # billed monthly is then seen at the same point of its cycle as on the scoring night); auto:
    # monthly when at least MONTHLY_BOOK_SHARE of the loans pay monthly.
    cadence: Literal["days", "monthly", "auto"] = "days"


MONTHLY_BOOK_SHARE = 0.8

# ``on_snapshot(i, n, date)``: progress after each of n snapshot dates.
SnapshotCallback = Callable[[int, int, dt.date], object]


class DatePlan(Protocol):
    """What the snapshot calendar reads of a plan (:class:`SnapshotPlan` and the response plan)."""

    @property
    def every_days(self) -> int: ...
    @property
    def min_history_days(self) -> int: ...
    @property
    def window_days(self) -> int: ...


def snapshot_dates(
    first_day: dt.date, as_of: dt.date, plan: DatePlan, *, monthly: bool = False
) -> list[dt.date]:
    """Snapshot dates S, newest first aligned on ``as_of`` (every ``plan.every_days``, or with
    ``monthly`` on the as-of's day of each earlier month), with S + window_days <= as_of and
    S >= first_day + min_history_days."""
    first = pd.Timestamp(first_day) + pd.Timedelta(days=plan.min_history_days)
    latest = pd.Timestamp(as_of) - pd.Timedelta(days=plan.window_days)
    dates = []
    if monthly:
        months = 1
        while (current := pd.Timestamp(as_of) - pd.DateOffset(months=months)) >= first:
            if current <= latest:
                dates.append(current.date())
            months += 1
        return sorted(dates)
    current = latest
    while current >= first:
        dates.append(current.date())
        current -= pd.Timedelta(days=plan.every_days)
    return sorted(dates)


def is_monthly_book(loans: pd.DataFrame) -> bool:
    """Whether most loans (:data:`MONTHLY_BOOK_SHARE`) pay monthly: card and instalment books
    billed once a month, whose snapshots should fall on the same day of each month."""
    frequency = loans["installment_frequency"]
    return bool(len(frequency)) and float((frequency == "monthly").mean()) >= MONTHLY_BOOK_SHARE


def rows_by_date(
    tables: Mapping[str, pd.DataFrame],
    dates: list[dt.date],
    make_rows: Callable[[pd.DataFrame], pd.DataFrame],
    *,
    min_amount_overdue: float = 1.0,
    tolerance: float = 0.01,
    timezone: str = UTC,
    on_snapshot: SnapshotCallback | None = None,
) -> pd.DataFrame:
    """``make_rows(features)`` of the features at each date (cut off at 00:00 on the lender's
    clock ``timezone``), concatenated: the loop shared by training snapshots and contact-response
    rows. ``on_snapshot(i, n, date)`` reports progress."""
    frames = []
    for i, date in enumerate(dates, start=1):
        features = build_features(
            tables, Cutoff(date, timezone), min_amount_overdue=min_amount_overdue, tolerance=tolerance
        )
        frames.append(make_rows(features))
        if on_snapshot is not None:
            on_snapshot(i, len(dates), date)
    return pd.concat(frames, ignore_index=True)


def planned_dates(
    tables: Mapping[str, pd.DataFrame], as_of: dt.date, plan: DatePlan, what: str
) -> list[dt.date]:
    """:func:`snapshot_dates` from the first disbursement; a clear error when none fits."""
    first_day = tables["loans"]["disbursed_on"].min().date()
    cadence = getattr(plan, "cadence", "days")
    monthly = cadence == "monthly" or (cadence == "auto" and is_monthly_book(tables["loans"]))
    dates = snapshot_dates(first_day, as_of, plan, monthly=monthly)
    if not dates:
        raise HistoryTooShortError(
            f"no {what} fits between {first_day} + {plan.min_history_days} days and "
            f"{as_of} - {plan.window_days} days: the history is too short"
        )
    return dates


def build_training_set(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    plan: SnapshotPlan,
    *,
    qualifying_rule: str = "min_overdue_or_installment",
    min_amount_overdue: float = 1.0,
    tolerance: float = 0.01,
    on_snapshot: SnapshotCallback | None = None,
) -> pd.DataFrame:
    """Features at every snapshot date plus the label of the window that follows it (and what
    the loan paid in that window, ``amount_paid_in_window``: evidence, never a model input).

    Every label window ends on or before ``as_of``, so all training labels are fully observed.
    ``on_snapshot(i, n, date)`` is called after each snapshot (progress reporting).
    """

    def labelled(features: pd.DataFrame) -> pd.DataFrame:
        paid = amount_paid_in_window(
            features, tables["payments"], window_days=plan.window_days, timezone=plan.cutoff_timezone
        )
        features["label"] = pays_qualifying_amount(features, paid, rule=qualifying_rule, tolerance=tolerance)
        features["amount_paid_in_window"] = paid
        return features

    return rows_by_date(
        tables,
        planned_dates(tables, as_of, plan, "snapshot"),
        labelled,
        min_amount_overdue=min_amount_overdue,
        tolerance=tolerance,
        timezone=plan.cutoff_timezone,
        on_snapshot=on_snapshot,
    )


# How far the validation and test blocks may shrink, in order, when the history is too short for
# the configured ones: below a quarter of them the blocks hold too few days to judge a model on.
BLOCK_SCALES = (1.0, 0.75, 0.5, 1 / 3, 0.25)  # the configured rule first, then back to back


class HistoryTooShortError(ValueError):
    """The history cannot give an honest out-of-time plan; the message says what is missing."""


@dataclass(frozen=True)
class SplitPlan:
    """The out-of-time blocks actually used: snapshot dates per block and the block lengths,
    shortened from the configured ones when the history is short (``shortened``)."""

    train: tuple[dt.date, ...]
    valid: tuple[dt.date, ...]
    test: tuple[dt.date, ...]
    validation_days: int
    test_days: int
    shortened: bool

    def describe(self) -> str:
        """One line for the CLI, the MLflow run and the model card."""
        blocks = ", ".join(
            f"{name} {len(dates)} snapshot{'s' * (len(dates) != 1)} ({dates[0]} to {dates[-1]})"
            for name, dates in (("train", self.train), ("validation", self.valid), ("test", self.test))
        )
        how = (
            f"shortened to validation {self.validation_days} and test {self.test_days} days: the history is "
            "too short for the configured blocks"
            if self.shortened
            else "as configured"
        )
        return f"out-of-time plan {how}; {blocks}"


def split_plan(dates: Iterable[dt.date], plan: SnapshotPlan) -> SplitPlan:
    """The blocks of :func:`out_of_time_split` for these snapshot dates.

    Test holds the newest ``test_days`` of snapshots, validation the ``validation_days`` before;
    a snapshot enters an earlier block only if its label window ends by the start of the next
    block (an embargo), so no label of one block overlaps the features of a later one. When the
    history is too short for that, both blocks shrink together (to 3/4, 1/2, 1/3, then 1/4 of
    their configured length; the embargo never shrinks). Below that,
    :class:`HistoryTooShortError` says how much history an honest plan needs.
    """
    dates = pd.Series(sorted(pd.to_datetime(pd.Series(dates)).unique()))
    if dates.empty:
        raise HistoryTooShortError(
            "no training snapshot: no loan was overdue on any snapshot date (see the snapshot plan)"
        )
    window = pd.Timedelta(days=plan.window_days)
    newest = dates.max()
    for scale in BLOCK_SCALES:
        test_days = max(1, int(plan.test_days * scale))
        validation_days = max(1, int(plan.validation_days * scale))
        test_dates = dates[dates > newest - pd.Timedelta(days=test_days)]
        if scale == 1.0:  # the configured blocks: validation right before test, less the embargo
            valid_dates = dates[
                (dates > newest - pd.Timedelta(days=test_days + validation_days))
                & (dates + window <= test_dates.min())
            ]
        else:  # shortened blocks shorter than the embargo: validation ends where the embargo starts
            valid_end = test_dates.min() - window
            valid_dates = dates[
                (dates <= valid_end) & (dates > valid_end - pd.Timedelta(days=validation_days))
            ]
        train_dates = dates[dates + window <= valid_dates.min()] if len(valid_dates) else valid_dates
        if len(train_dates):
            return SplitPlan(
                train=tuple(d.date() for d in train_dates),
                valid=tuple(d.date() for d in valid_dates),
                test=tuple(d.date() for d in test_dates),
                validation_days=validation_days,
                test_days=test_days,
                shortened=scale != 1.0,
            )
    needed = 2 * plan.window_days
    raise HistoryTooShortError(
        f"the history is too short for an out-of-time evaluation: {len(dates)} snapshot date(s) from "
        f"{dates.min().date()} to {newest.date()}, but an honest plan needs a training, a validation and "
        f"a test snapshot, each at least the label window ({plan.window_days} days) after the one before, "
        f"so snapshots spanning at least {needed} days. Snapshots start {plan.min_history_days} days "
        f"after the first disbursement and end {plan.window_days} days before the as-of date (every "
        "label window must be observed): deliver at least "
        f"{plan.min_history_days + needed + plan.window_days} days of history (payments and "
        "installments), or lower training.min_history_days or label.window_days in the config"
    )


def out_of_time_split(snapshots: pd.DataFrame, plan: SnapshotPlan) -> dict[str, pd.DataFrame]:
    """Split snapshots by date into train, validation and test blocks, newest last (the blocks of
    :func:`split_plan`, shortened on a short history)."""
    return split_by_plan(snapshots, split_plan(snapshots["as_of"], plan))


def split_by_plan(snapshots: pd.DataFrame, blocks: SplitPlan) -> dict[str, pd.DataFrame]:
    """The rows of each block of ``blocks`` (train, valid, test)."""
    return {
        name: snapshots[snapshots["as_of"].isin(pd.to_datetime(list(dates)))].reset_index(drop=True)
        for name, dates in (("train", blocks.train), ("valid", blocks.valid), ("test", blocks.test))
    }
