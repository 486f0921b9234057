"""As-of semantics shared by every feature: a run for work day D knows events before D's cut-off.

D is a calendar date. Its cut-off is the start of D on the lender's clock: 00:00 of D in the
lender's time zone (a :class:`~data_contracts.cutoff.Cutoff`), so a call made at 19:02 in Chicago
the evening before (00:02 UTC on D) is history for D, not a future event. A plain date means a
UTC clock. Timestamps (payments, interactions) are compared with the cut-off instant; calendar
dates (due dates, flags) with D itself.
"""

from __future__ import annotations

import pandas as pd

from data_contracts.cutoff import (
    UTC,
    AsOf,
    Cutoff,
    as_of_date,
    as_of_instant,
    business_dates,
    cutoff_timezone,
    local_midnight,
    local_midnights,
)

__all__ = [
    "UTC",
    "AsOf",
    "Cutoff",
    "active_flags",
    "as_of_date",
    "as_of_instant",
    "business_dates",
    "cutoff_timezone",
    "events_before",
    "local_midnight",
    "local_midnights",
]


def events_before(frame: pd.DataFrame, column: str, as_of: AsOf) -> pd.DataFrame:
    """Rows of ``frame`` whose ``column`` lies strictly before the as-of cut-off."""
    values = frame[column]
    cutoff = as_of_instant(as_of) if isinstance(values.dtype, pd.DatetimeTZDtype) else as_of_date(as_of)
    return frame[values < cutoff]


def active_flags(account_flags: pd.DataFrame, as_of: AsOf) -> pd.DataFrame:
    """The flag rows in force on the as-of date: started before it and not ended before it."""
    day = as_of_date(as_of)
    started = account_flags["starts_on"] < day
    not_ended = account_flags["ends_on"].isna() | (account_flags["ends_on"] >= day)
    return account_flags[started & not_ended]
