"""The night's data cut-off: a run for work day D knows the events before 00:00 of D on the
lender's clock (a :class:`Cutoff`). Part of the input contract: validation holds later events
for a later night, and every point-in-time feature reads only what came before it.

A plain date means a UTC clock. Timestamps (payments, interactions) are compared with the
cut-off instant; calendar dates (due dates, flags) with D itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

UTC = "UTC"


@dataclass(frozen=True)
class Cutoff:
    """The data cut-off of work day ``day``: 00:00 of that day on the lender's clock ``timezone``.

    Every point-in-time function accepts one wherever it accepts an as-of date; a plain date is
    the same as ``Cutoff(day, "UTC")``.
    """

    day: dt.date
    timezone: str = UTC

    def __post_init__(self) -> None:
        object.__setattr__(self, "day", pd.Timestamp(self.day).date())
        iana_zone(self.timezone, "the cut-off")

    @property
    def instant(self) -> pd.Timestamp:
        """The cut-off as a UTC instant."""
        return local_midnight(pd.Timestamp(self.day), self.timezone)

    def next(self) -> Cutoff:
        """The cut-off of the following work day (the end of this one)."""
        return Cutoff(self.day + dt.timedelta(days=1), self.timezone)

    def __str__(self) -> str:
        return f"{self.day} 00:00 {self.timezone} ({self.instant.isoformat()})"


AsOf = dt.date | str | pd.Timestamp | Cutoff


def iana_zone(value: str, what: str) -> str:
    """``value`` when it names an IANA time zone, else a ValueError naming ``what`` it is for
    (config fields, rule packs and cut-offs share this one check)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} for {what}: give an IANA zone name such as 'America/New_York'"
        ) from None
    return value


def local_midnight(day: pd.Timestamp, timezone: str) -> pd.Timestamp:
    """00:00 of the calendar date ``day`` in ``timezone``, as a UTC instant. Where a DST change
    skips midnight (e.g. America/Havana) the day starts at the first instant that exists."""
    naive = pd.Timestamp(day).normalize()
    if naive.tzinfo is not None:
        naive = naive.tz_localize(None)
    local = naive.tz_localize(timezone, nonexistent="shift_forward", ambiguous=True)
    return local.tz_convert(UTC).as_unit("ns")


def local_midnights(days: pd.Series, timezone: str) -> pd.Series:
    """:func:`local_midnight` of every date in ``days`` (naive midnights), vectorised."""
    naive = pd.to_datetime(days).dt.normalize()
    local = naive.dt.tz_localize(timezone, nonexistent="shift_forward", ambiguous=True)
    return local.dt.tz_convert(UTC)


def cutoff_timezone(as_of: AsOf) -> str:
    """The clock of an as-of value: a Cutoff's own time zone, UTC for a plain date."""
    return as_of.timezone if isinstance(as_of, Cutoff) else UTC


def as_of_date(as_of: AsOf) -> pd.Timestamp:
    """The as-of work day as a naive midnight timestamp, for comparing calendar-date columns."""
    if isinstance(as_of, Cutoff):
        return pd.Timestamp(as_of.day)
    stamp = pd.Timestamp(as_of)
    return (stamp.tz_convert(UTC).tz_localize(None) if stamp.tzinfo else stamp).normalize()


def as_of_instant(as_of: AsOf) -> pd.Timestamp:
    """The as-of cut-off as a UTC instant, for comparing timestamp columns."""
    if isinstance(as_of, Cutoff):
        return as_of.instant
    return as_of_date(as_of).tz_localize(UTC)


def business_dates(instants: pd.Series[pd.Timestamp], timezone: str) -> pd.Series:
    """The work day (naive midnight) each UTC instant belongs to on the lender's clock: the day
    whose cut-off it follows, so events of one work day are those between two cut-offs."""
    return instants.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
