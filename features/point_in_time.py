"""As-of semantics shared by every feature: a run for date D knows events strictly before D.

D is a calendar date; its cut-off instant is 00:00 UTC of D for timestamps (payments,
interactions) and the date itself for calendar dates (due dates, flags).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd


def as_of_date(as_of: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    """The as-of date as a naive midnight timestamp, for comparing calendar-date columns."""
    stamp = pd.Timestamp(as_of)
    return (stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp).normalize()


def as_of_instant(as_of: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    """The as-of cut-off as a UTC instant, for comparing timestamp columns."""
    return as_of_date(as_of).tz_localize("UTC")


def events_before(frame: pd.DataFrame, column: str, as_of: dt.date | str | pd.Timestamp) -> pd.DataFrame:
    """Rows of ``frame`` whose ``column`` lies strictly before the as-of cut-off."""
    values = frame[column]
    cutoff = as_of_instant(as_of) if isinstance(values.dtype, pd.DatetimeTZDtype) else as_of_date(as_of)
    return frame[values < cutoff]


def active_flags(account_flags: pd.DataFrame, as_of: dt.date | str | pd.Timestamp) -> pd.DataFrame:
    """The flag rows in force on the as-of date: started before it and not ended before it."""
    day = as_of_date(as_of)
    started = account_flags["starts_on"] < day
    not_ended = account_flags["ends_on"].isna() | (account_flags["ends_on"] >= day)
    return account_flags[started & not_ended]
