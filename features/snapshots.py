"""Training snapshots and out-of-time splits whose label windows never cross the as-of date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

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


def snapshot_dates(first_day: dt.date, as_of: dt.date, plan: SnapshotPlan) -> list[dt.date]:
    """Snapshot dates S, newest first aligned on ``as_of``, with S + window_days <= as_of."""
    last = pd.Timestamp(as_of) - pd.Timedelta(days=plan.window_days)
    first = pd.Timestamp(first_day) + pd.Timedelta(days=plan.min_history_days)
    dates = []
    current = last
    while current >= first:
        dates.append(current.date())
        current -= pd.Timedelta(days=plan.every_days)
    return sorted(dates)


def rows_by_date(
    tables: Mapping[str, pd.DataFrame],
    dates: list[dt.date],
    make_rows: Callable[[pd.DataFrame], pd.DataFrame],
    *,
    min_amount_overdue: float = 1.0,
    tolerance: float = 0.01,
    timezone: str = UTC,
    on_snapshot=None,
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


def planned_dates(tables: Mapping[str, pd.DataFrame], as_of: dt.date, plan, what: str) -> list[dt.date]:
    """:func:`snapshot_dates` from the first disbursement; a clear error when none fits."""
    first_day = tables["loans"]["disbursed_on"].min().date()
    dates = snapshot_dates(first_day, as_of, plan)
    if not dates:
        raise ValueError(
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
    on_snapshot=None,
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


def out_of_time_split(snapshots: pd.DataFrame, plan: SnapshotPlan) -> dict[str, pd.DataFrame]:
    """Split snapshots by date into train, validation and test blocks, newest last.

    Test holds the newest ``test_days`` of snapshots, validation the ``validation_days`` before;
    a snapshot enters an earlier block only if its label window ends by the start of the next
    block (an embargo), so no label of one block overlaps the features of a later one.
    """
    dates = pd.Series(sorted(snapshots["as_of"].unique()))
    newest = dates.max()
    test_dates = dates[dates > newest - pd.Timedelta(days=plan.test_days)]
    window = pd.Timedelta(days=plan.window_days)
    valid_dates = dates[
        (dates > newest - pd.Timedelta(days=plan.test_days + plan.validation_days))
        & (dates + window <= test_dates.min())
    ]
    if valid_dates.empty:
        raise ValueError("history too short for an out-of-time validation block")
    train_dates = dates[dates + window <= valid_dates.min()]
    if train_dates.empty:
        raise ValueError("history too short for a training block before validation")
    return {
        name: snapshots[snapshots["as_of"].isin(block)].reset_index(drop=True)
        for name, block in (("train", train_dates), ("valid", valid_dates), ("test", test_dates))
    }
